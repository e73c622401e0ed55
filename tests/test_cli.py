"""The CLI layer: output files, summary, quiet mode and one-line errors (tiny model patched in for the demo)."""

from __future__ import annotations

import pytest
from _tiny import gpt2_style, make_transcoder

import babelgraph as bg
from babelgraph import AttributionGraph
from babelgraph.cli import main
from babelgraph.cli.options import graph_stem


@pytest.fixture
def tiny(monkeypatch):
    model = bg.load_model(gpt2_style(), [make_transcoder("skip_transcoder", layer) for layer in range(3)])
    monkeypatch.setattr(bg, "load_model", lambda *args, **kwargs: model)
    return model


def test_build_writes_a_pruned_graph_and_prints_a_summary(tiny, tmp_path, capsys):
    code = main(["build", "the opposite of small is", "--out", str(tmp_path), "--keep-unpruned", "--quiet"])
    assert code == 0
    out = capsys.readouterr().out.split()
    assert len(out) == 2 and all(p.endswith(".safetensors") for p in out)
    pruned, unpruned = (AttributionGraph.load(p) for p in out)
    assert pruned.metadata["pruned"] and not unpruned.metadata["pruned"]
    assert len(pruned.nodes) < len(unpruned.nodes)

    code = main(["build", "the opposite of small is", "--out", str(tmp_path), "--name", "g"])
    captured = capsys.readouterr()
    assert code == 0 and (tmp_path / "g.safetensors").is_file()
    assert "top logits" in captured.out and "replacement" in captured.out and "edges" in captured.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["build", ""], "prompt is empty"),
        (["build", "small " * 40], "context is 24"),
        (["build", "small", "--target", "big grand"], "not one"),
    ],
)
def test_bad_input_is_one_line(tiny, tmp_path, capsys, args, message):
    assert main([*args, "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("babelgraph: error:") and message in err and "\n" not in err
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_is_one_line(tiny, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["build", "small", "--out", str(blocker / "sub"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot write" in err and "is a file" in err and "\n" not in err


def test_unknown_model_is_one_line(capsys):
    assert main(["build", "hello", "--model", "no-such-model-xyz", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown model 'no-such-model-xyz'" in err and "\n" not in err


def test_graph_stem_is_safe_and_distinct():
    assert graph_stem('The opposite of "small" is "').startswith("the-opposite-of-small-is-")
    assert graph_stem('"小"的反义词是"').startswith("小-的反义词是-")
    assert graph_stem("a/b") != graph_stem("a\\b") and "/" not in graph_stem("a/b")
