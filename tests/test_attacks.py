"""Replays of the attack classes of issue 14 that concern graph files, CLI arguments, outputs and plots.

Every CLI case must end with exit status 2, exactly one stderr line starting ``babelgraph: error:``, no
traceback, and no new file in the output folder. Cases that must be refused before the slow work run with a
model loader that fails the test if it is called.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
from _tiny import gpt2_style, make_transcoder
from safetensors.torch import save_file

import babelgraph as bg
from babelgraph import AttributionGraph, BabelgraphError, Node
from babelgraph.cli import main
from babelgraph.files import atomic_path, output_group, remove_stale_temporaries

SRC = str(Path(__file__).resolve().parents[1] / "src")


# ---- fixtures and helpers ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model():
    return bg.load_model(gpt2_style(), [make_transcoder("skip_transcoder", layer) for layer in range(3)])


@pytest.fixture
def tiny(monkeypatch, tiny_model):
    monkeypatch.setattr(bg, "load_model", lambda *args, **kwargs: tiny_model)
    return tiny_model


@pytest.fixture
def no_model(monkeypatch):
    """The case must be refused before any model is loaded (before the slow work)."""

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(bg, "load_model", refuse)


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")} if folder.exists() else set()


def refused(args: list[str], folder: Path, capsys, message: str = "") -> str:
    """Run the CLI; assert the promise (status 2, one error line, no traceback, nothing written); return it."""
    before = files_under(folder)
    code = main(args)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert code == 2, (code, captured.err)
    assert len(lines) == 1 and lines[0].startswith("babelgraph: error:"), captured.err
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
    assert files_under(folder) == before, "a refused command left files behind"
    assert message in lines[0], lines[0]
    return lines[0]


def small_graph() -> AttributionGraph:
    nodes = [
        Node("0_3_1", "feature", 0, 1, 1.5, "small", feature=3, dictionary="blocks.0.hook_mlp_out"),
        Node("E_7_1", "embedding", -1, 1, 2.0, "small", token_id=7),
        Node("1_9_1", "logit", 1, 1, 3.0, "big", token_id=9, probability=0.9),
    ]
    adjacency = torch.zeros(3, 3)
    adjacency[0, 1], adjacency[2, 0], adjacency[2, 1] = 0.5, 1.0, 0.25
    return AttributionGraph("p small", [1, 7], ["<bos>", "small"], nodes, adjacency, {"pruned": True})


def header_of(graph: AttributionGraph) -> dict:
    return {
        "format": "babelgraph-graph",
        "version": 1,
        "prompt": graph.prompt,
        "tokens": graph.tokens,
        "token_strings": graph.token_strings,
        "nodes": [n.to_dict() for n in graph.nodes],
        "metadata": graph.metadata,
    }


def write_raw(path: Path, header: dict | str | None, tensors: dict | None = None) -> Path:
    tensors = {"adjacency": small_graph().adjacency} if tensors is None else tensors
    metadata = None if header is None else {"babelgraph": header if isinstance(header, str) else json.dumps(header)}
    save_file(tensors, str(path), metadata=metadata)
    return path


def mutated(change) -> dict:  # noqa: ANN001 - a function editing the header in place
    header = header_of(small_graph())
    change(header)
    return header


# ---- graph files: one corrupt file per class of the issue ----------------------------------------------------
def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _truncated(path: Path) -> Path:
    small_graph().save(path)
    path.write_bytes(path.read_bytes()[:-7])
    return path


CORRUPT = {
    "not safetensors": (lambda p: _bytes(p, b"hello, not a graph"), "not a babelgraph graph"),
    "empty file": (lambda p: _bytes(p, b""), "not a babelgraph graph"),
    "huge header length": (lambda p: _bytes(p, (2**62).to_bytes(8, "little") + b"{}"), "not a babelgraph graph"),
    "truncated": (_truncated, "not a babelgraph graph"),
    "no babelgraph header": (lambda p: write_raw(p, None), "not a babelgraph graph"),
    "invalid JSON": (lambda p: write_raw(p, '{"version": 1, "nodes": ['), "not valid JSON"),
    "header is a list": (lambda p: write_raw(p, "[1, 2]"), "not an object"),
    "missing nodes": (lambda p: write_raw(p, mutated(lambda h: h.pop("nodes"))), "no 'nodes'"),
    "missing prompt": (lambda p: write_raw(p, mutated(lambda h: h.pop("prompt"))), "no 'prompt'"),
    "missing metadata": (lambda p: write_raw(p, mutated(lambda h: h.pop("metadata"))), "no 'metadata'"),
    "nodes is a dict": (lambda p: write_raw(p, mutated(lambda h: h.update(nodes={}))), "expected list"),
    "tokens are strings": (lambda p: write_raw(p, mutated(lambda h: h.update(tokens=["a", "b"]))), "integers"),
    "token strings missing one": (
        lambda p: write_raw(p, mutated(lambda h: h.update(token_strings=["x"]))),
        "different number",
    ),
    "string version": (lambda p: write_raw(p, mutated(lambda h: h.update(version="1"))), "version"),
    "bool version": (lambda p: write_raw(p, mutated(lambda h: h.update(version=True))), "version"),
    "newer version": (lambda p: write_raw(p, mutated(lambda h: h.update(version=99))), "newer babelgraph"),
    "other format": (lambda p: write_raw(p, mutated(lambda h: h.update(format="other"))), "not 'babelgraph-graph'"),
    "unknown kind": (
        lambda p: write_raw(p, mutated(lambda h: h["nodes"][0].update(kind="bogus"))),
        "kind 'bogus'",
    ),
    "node without id": (lambda p: write_raw(p, mutated(lambda h: h["nodes"][1].pop("id"))), "no 'id'"),
    "node is a string": (lambda p: write_raw(p, mutated(lambda h: h["nodes"].__setitem__(0, "n"))), "not an object"),
    "node layer is a string": (
        lambda p: write_raw(p, mutated(lambda h: h["nodes"][0].update(layer="3"))),
        "'layer'",
    ),
    "node activation is a list": (
        lambda p: write_raw(p, mutated(lambda h: h["nodes"][0].update(activation=[1]))),
        "'activation'",
    ),
    "feature node without feature": (
        lambda p: write_raw(p, mutated(lambda h: h["nodes"][0].update(feature=None))),
        "without a feature index",
    ),
    "duplicate node ids": (
        lambda p: write_raw(p, mutated(lambda h: h["nodes"][1].update(id="0_3_1"))),
        "appears twice",
    ),
    "NaN literal": (
        lambda p: write_raw(p, json.dumps(mutated(lambda h: h["nodes"][0].update(activation=math_nan())))),
        "NaN",
    ),
    "Infinity literal": (
        lambda p: write_raw(p, json.dumps(header_of(small_graph())).replace("0.9", "Infinity")),
        "Infinity",
    ),
    "overflowing float": (
        lambda p: write_raw(p, json.dumps(header_of(small_graph())).replace("0.9", "1e999")),
        "overflows",
    ),
    "100k-deep JSON": (
        lambda p: write_raw(
            p, json.dumps(header_of(small_graph()))[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
        ),
        "nested too deeply",
    ),
    "no adjacency tensor": (
        lambda p: write_raw(p, header_of(small_graph()), {"other": torch.zeros(3, 3)}),
        "no adjacency",
    ),
    "adjacency shape mismatch": (
        lambda p: write_raw(p, header_of(small_graph()), {"adjacency": torch.zeros(4, 4)}),
        "expected [3, 3]",
    ),
    "adjacency not square": (
        lambda p: write_raw(p, header_of(small_graph()), {"adjacency": torch.zeros(3, 2)}),
        "shape [3, 2]",
    ),
    "dense U8 adjacency": (
        lambda p: write_raw(p, header_of(small_graph()), {"adjacency": torch.ones(3, 3, dtype=torch.uint8)}),
        "stored as U8",
    ),
    "float64 adjacency": (
        lambda p: write_raw(p, header_of(small_graph()), {"adjacency": torch.zeros(3, 3, dtype=torch.float64)}),
        "stored as F64",
    ),
    "NaN in adjacency": (
        lambda p: write_raw(p, header_of(small_graph()), {"adjacency": torch.full((3, 3), float("nan"))}),
        "NaN or infinite",
    ),
    "infinity in adjacency": (
        lambda p: write_raw(
            p, header_of(small_graph()), {"adjacency": torch.tensor([[0, 0, 0], [0, 0, 0], [float("inf"), 0, 0]])}
        ),
        "NaN or infinite",
    ),
}


def math_nan() -> float:
    return float("nan")


@pytest.mark.parametrize("case", list(CORRUPT))
def test_corrupt_graph_files_are_one_error(case, tmp_path, capsys):
    make, message = CORRUPT[case]
    path = make(tmp_path / "g.safetensors")
    with pytest.raises(BabelgraphError, match=None) as raised:
        AttributionGraph.load(path)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    refused(["export", str(path), "--format", "html,json,graphml"], tmp_path, capsys, message)


def test_a_valid_graph_still_loads_and_exports(tmp_path, capsys):
    path = small_graph().save(tmp_path / "g.safetensors")
    loaded = AttributionGraph.load(path)
    assert loaded.nodes == small_graph().nodes and torch.equal(loaded.adjacency, small_graph().adjacency)
    assert main(["export", str(path), "--format", "html,json"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.html", "g.json", "g.safetensors", "graph-metadata.json"]


def test_node_limit_is_checked_before_the_adjacency_is_read(tmp_path, capsys, monkeypatch):
    path = small_graph().save(tmp_path / "g.safetensors")
    with pytest.raises(BabelgraphError, match="more than the limit of 2"):
        AttributionGraph.load(path, max_nodes=2)
    refused(["export", str(path), "--max-nodes", "2"], tmp_path, capsys, "--max-nodes")
    monkeypatch.setenv("BABELGRAPH_MAX_NODES", "2")
    refused(["export", str(path)], tmp_path, capsys, "limit of 2")
    monkeypatch.setenv("BABELGRAPH_MAX_NODES", "lots")
    refused(["export", str(path)], tmp_path, capsys, "BABELGRAPH_MAX_NODES")


def test_a_header_claiming_many_nodes_allocates_nothing_large(tmp_path):
    """40,000 listed nodes over a 3x3 adjacency: refused by the limit or the shape, peak memory stays small."""
    header = header_of(small_graph())
    node = header["nodes"][1]
    header["nodes"] = [{**node, "id": f"E_{i}"} for i in range(40_000)]
    path = write_raw(tmp_path / "claims.safetensors", header)
    code = (
        "import resource, sys; from babelgraph.cli import main; codes = [main(['export', sys.argv[1]]),"
        " main(['export', sys.argv[1], '--max-nodes', '100000'])];"
        " print(codes, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": SRC}
    )
    codes, peak_kib = done.stdout.rsplit("]", 1)
    assert codes.strip() == "[2, 2" and "Traceback" not in done.stderr
    assert "limit of 32768" in done.stderr and "expected [40000, 40000]" in done.stderr
    assert int(peak_kib) < 3_000_000  # imports take ~2 GB; an adjacency of 40,000^2 float32 would add 6.4 GB


def test_saving_refuses_what_loading_would_refuse(tmp_path):
    graph = small_graph()
    graph.adjacency[0, 1] = float("nan")
    with pytest.raises(BabelgraphError, match="NaN"):
        graph.save(tmp_path / "g.safetensors")
    graph = small_graph()
    graph.nodes[0].activation = float("inf")
    with pytest.raises(BabelgraphError, match="NaN or infinity"):
        graph.save(tmp_path / "g.safetensors")
    assert list(tmp_path.iterdir()) == []


# ---- misleading messages: NaN weights / empty graph are not "a cycle" -----------------------------------------
def test_pruning_names_nan_and_empty_graphs():
    graph = small_graph()
    graph.adjacency[2, 0] = float("nan")
    with pytest.raises(BabelgraphError, match="NaN or infinite") as raised:
        bg.prune(graph)
    assert "cycle" not in str(raised.value)
    empty = AttributionGraph("p", [], [], [], torch.zeros(0, 0))
    with pytest.raises(BabelgraphError, match="no nodes"):
        bg.prune(empty)
    nan_probability = small_graph()
    nan_probability.nodes[2].probability = float("nan")
    with pytest.raises(BabelgraphError, match="NaN"):
        bg.graph_scores(nan_probability)


# ---- CLI arguments, refused before the slow work ---------------------------------------------------------------
BAD_ARGUMENTS = {
    "build format typo": (["build", "small", "--format", "pdf"], "unknown export format"),
    "build format empty": (["build", "small", "--format", ","], "unknown export format"),
    "export format typo": (["export", "g.safetensors", "--format", "html,pdf"], "unknown export format"),
    "scale nan": (["intervene", "small", "--scale", "L1:3@-1=nan"], "finite"),
    "scale inf": (["intervene", "small", "--scale", "L1:3@-1=inf"], "finite"),
    "scale 1e999": (["intervene", "small", "--scale", "L1:3@-1=1e999"], "finite"),
    "set -inf": (["intervene", "small", "--set", "L1:3=-inf"], "finite"),
    "edit syntax": (["intervene", "small", "--add", "L1:x=2"], "cannot read edit"),
    "sweep start nan": (["intervene", "small", "--scale", "L1:3=1", "--sweep", "nan:1:3", "--answer", "big"], "finite"),
    "sweep stop inf": (
        ["intervene", "small", "--scale", "L1:3=1", "--sweep", "0:1e999:3", "--answer", "big"],
        "finite",
    ),
    "sweep N zero": (["intervene", "small", "--scale", "L1:3=1", "--sweep", "0:1:0", "--answer", "big"], "N must"),
    "sweep N huge": (["intervene", "small", "--scale", "L1:3=1", "--sweep", "0:1:100000000", "--answer", "big"], "N"),
    "sweep garbage": (["intervene", "small", "--scale", "L1:3=1", "--sweep", "a:b", "--answer", "big"], "--sweep"),
    "sweep without answer": (["intervene", "small", "--scale", "L1:3=1", "--sweep", "0:1:3"], "--answer"),
    "no edit": (["intervene", "small"], "at least one edit"),
    "threads 100000": (["build", "small", "--threads", "100000"], "--threads"),
    "threads 0": (["build", "small", "--threads", "0"], "--threads"),
    "threads text": (["lens", "small", "--answer", "a=b", "--threads", "many"], "--threads"),
    "node threshold nan": (["build", "small", "--node-threshold", "nan"], "--node-threshold"),
    "edge threshold 2": (["build", "small", "--edge-threshold", "2"], "--edge-threshold"),
    "logit prob inf": (["build", "small", "--desired-logit-prob", "inf"], "--desired-logit-prob"),
    "unknown option": (["build", "small", "--colour", "red"], "unrecognized arguments"),
    "missing prompt": (["build"], "required"),
    "no command": ([], "required"),
    "unknown command": (["bulid", "small"], "invalid choice"),
    "bad choice": (["lens", "--task", "poetry"], "invalid choice"),
    "negative demos": (["lens", "--task", "antonym", "--n-demos", "-1"], "--n-demos"),
    "lens unknown language": (["lens", "--task", "translation", "--from", "xx"], "--from"),
    "lens answer syntax": (["lens", "small", "--answer", "big"], "LABEL=WORD"),
    "name with a folder": (["build", "small", "--name", "../escape"], "not a file name"),
    "empty name": (["build", "small", "--name", ""], "not a file name"),
    "overlap language path": (["overlap", "--languages", "en,../../x"], "not a language code"),
    "overlap one language": (["overlap", "--languages", "en"], "at least two"),
    "invalid UTF-8 prompt": (["build", "small \udcff\udcfe"], "byte 0xff"),
    "lone surrogate prompt": (["lens", "\ud800 small", "--answer", "zh=雪"], "U+D800"),
    "invalid UTF-8 target": (["build", "small", "--target", "b\udce9g"], "--target"),
    "invalid UTF-8 answer": (["lens", "small", "--answer", "zh=\udcff"], "--answer"),
    "surrogate in sweep answer": (
        ["intervene", "small", "--scale", "L1:3=1", "--sweep", "0:1:3", "--answer", "\udfff"],
        "--answer",
    ),
    "surrogate in out": (["build", "small", "--out", "out\udcff"], "--out"),
    "device garbage": (["build", "small", "--device", "quantum"], "--device"),
    "device meta": (["build", "small", "--device", "meta"], "--device"),
}
if not torch.cuda.is_available():
    BAD_ARGUMENTS["device cuda without CUDA"] = (["build", "small", "--device", "cuda"], "--device cuda")
    BAD_ARGUMENTS["device cuda:1 without CUDA"] = (
        ["intervene", "s", "--scale", "L1:3=1", "--device", "cuda:1"],
        "cuda",
    )


@pytest.mark.parametrize("case", list(BAD_ARGUMENTS))
def test_bad_arguments_are_one_line_before_the_slow_work(case, no_model, tmp_path, capsys, monkeypatch):
    args, message = BAD_ARGUMENTS[case]
    monkeypatch.chdir(tmp_path)
    extra = ["--out", str(tmp_path / "out")] if args and args[0] in ("build", "lens", "intervene", "overlap") else []
    if "--out" in args:
        extra = []
    refused([*args, *extra], tmp_path, capsys, message)


# ---- unusable outputs ---------------------------------------------------------------------------------------
def test_out_that_is_a_file_or_under_a_file(no_model, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for command in (["build", "small"], ["lens", "small", "--answer", "a=b"], ["overlap"]):
        refused([*command, "--out", str(blocker)], tmp_path, capsys, "it is a file")
        refused([*command, "--out", str(blocker / "sub")], tmp_path, capsys, "is a file, not a folder")
    sweep = ["intervene", "small", "--scale", "L1:3=1", "--sweep", "0:1:2", "--answer", "big"]
    refused([*sweep, "--out", str(blocker)], tmp_path, capsys, "it is a file")
    graph = small_graph().save(tmp_path / "g.safetensors")
    refused(["export", str(graph), "--out", str(blocker)], tmp_path, capsys, "it is a file")


def test_unwritable_out(no_model, tmp_path, capsys):
    # /proc refuses new folders even to root (CI runs as root, so a chmod'ed folder would prove nothing)
    refused(["build", "small", "--out", "/proc/babelgraph-cannot-write"], tmp_path, capsys, "cannot write")


def test_final_paths_that_are_folders(no_model, tmp_path, capsys):
    (tmp_path / "g.safetensors").mkdir()
    refused(["build", "small", "--name", "g", "--out", str(tmp_path)], tmp_path, capsys, "is a folder")
    (tmp_path / "h.json").mkdir()
    refused(["build", "small", "--name", "h", "--format", "json", "--out", str(tmp_path)], tmp_path, capsys, "folder")
    graph = small_graph().save(tmp_path / "k.safetensors")
    (tmp_path / "k.html").mkdir()
    refused(["export", str(graph), "--format", "json,html"], tmp_path, capsys, "is a folder")
    refused(["export", str(tmp_path / "g.safetensors")], tmp_path, capsys, "is a folder, not a graph file")
    (tmp_path / "overlap-en-fr.csv").mkdir()
    refused(["overlap", "--languages", "en,fr", "--out", str(tmp_path)], tmp_path, capsys, "is a folder")


def test_text_files_that_are_not_utf8(no_model, tmp_path, capsys):
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "en.txt").write_text("hello\nworld\n", encoding="utf-8")
    (texts / "fr.txt").write_bytes(b"bonjour\nle \xe9t\xe9\n")  # Latin-1, not UTF-8
    refused(["overlap", "--languages", "en,fr", "--texts-dir", str(texts)], tmp_path, capsys, "not UTF-8 text")


def test_invalid_utf8_bytes_on_a_real_command_line(tmp_path):
    """Through the OS: undecodable bytes in argv become lone surrogates, and must not traceback anywhere."""
    for args in ([b"build", b"small \xff"], [b"lens", b"x", b"--answer", b"zh=\xe9"], [b"bulid", b"\xff"]):
        done = subprocess.run(
            [sys.executable.encode(), b"-c", b"import sys; from babelgraph.cli import main; sys.exit(main())", *args],
            capture_output=True,
            env={**os.environ, "PYTHONPATH": SRC},
            cwd=tmp_path,
        )
        err = done.stderr.decode("utf-8", "replace")
        assert done.returncode == 2 and len(err.splitlines()) == 1 and err.startswith("babelgraph: error:"), err
    assert list(tmp_path.iterdir()) == []


def test_threads_100000_does_not_abort(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from babelgraph.cli import main; sys.exit(main())", "build", "x"]
        + ["--threads", "100000"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
        cwd=tmp_path,
    )
    assert done.returncode == 2 and done.stderr.startswith("babelgraph: error: build: argument --threads")


def test_help_and_version_are_fast_and_import_no_torch():
    code = (
        "import sys, contextlib, io; from babelgraph.cli import main\n"
        "for argv in (['--help'], ['--version'], ['build', '--help'], ['intervene', '--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        assert main(argv) == 0, argv\n"
        "heavy = [m for m in ('torch', 'transformer_lens', 'sae_lens', 'matplotlib') if m in sys.modules]\n"
        "print(heavy)"
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": SRC}
    )
    seconds = time.perf_counter() - started
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr
    assert seconds < 5  # under a second on an idle machine; generous for a shared CI box


# ---- outputs appear together or not at all ---------------------------------------------------------------------
def test_build_writes_nothing_when_a_late_export_fails(tiny, tmp_path, capsys, monkeypatch):
    from babelgraph import formats

    def broken(graph, path):
        with atomic_path(path) as tmp:
            tmp.write_text("half")
            raise BabelgraphError("the json writer failed")

    monkeypatch.setitem(formats.WRITERS, "json", (broken, (".json",), "broken"))
    args = ["build", "the opposite of small is", "--name", "g", "--format", "html,json", "--keep-unpruned"]
    refused([*args, "--out", str(tmp_path), "--quiet"], tmp_path, capsys, "json writer failed")
    assert list(tmp_path.iterdir()) == []


def test_export_writes_all_formats_or_none(tmp_path, capsys, monkeypatch):
    from babelgraph import formats

    graph = small_graph().save(tmp_path / "g.safetensors")

    def broken(graph, path):
        raise BabelgraphError("graphml failed")

    monkeypatch.setitem(formats.WRITERS, "graphml", (broken, (".graphml",), "broken"))
    refused(["export", str(graph), "--format", "html,json,graphml"], tmp_path, capsys, "graphml failed")
    assert [p.name for p in tmp_path.iterdir()] == ["g.safetensors"]


def test_output_group_removes_staged_files_on_interrupt(tmp_path):
    with pytest.raises(KeyboardInterrupt), output_group():
        small_graph().save(tmp_path / "a.safetensors")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    with output_group():
        small_graph().save(tmp_path / "a.safetensors")
        assert list(tmp_path.glob("a.safetensors")) == []  # staged, not yet at its final path
    assert [p.name for p in tmp_path.iterdir()] == ["a.safetensors"]


def test_a_full_disk_is_one_error_and_leaves_nothing(tmp_path, monkeypatch):
    import errno

    import babelgraph.graph as graph_module

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(graph_module, "save_file", full)
    with pytest.raises(BabelgraphError, match="No space left"):
        small_graph().save(tmp_path / "g.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_stale_temporary_files_are_cleaned_on_the_next_write(tmp_path):
    stale = tmp_path / ".g.safetensors.a1b2c3d4.tmp"
    fresh = tmp_path / ".h.html.zzzzzzzz.tmp"
    mine = tmp_path / ".notes.tmp"  # not a name babelgraph makes: never touched
    for path in (stale, fresh, mine):
        path.write_text("left by kill -9")
    hour_ago = time.time() - 7200
    os.utime(stale, (hour_ago, hour_ago))
    os.utime(mine, (hour_ago, hour_ago))
    small_graph().save(tmp_path / "g.safetensors")
    assert not stale.exists() and fresh.exists() and mine.exists()
    assert remove_stale_temporaries(tmp_path, older_than=-1) == [fresh]


# ---- plots render Chinese ----------------------------------------------------------------------------------------
def test_plots_render_chinese_without_missing_glyph_warnings(tmp_path):
    from babelgraph.analysis.intervene import SweepResult, save_sweep_plot
    from babelgraph.analysis.lens import LensResult, save_lens_plot
    from babelgraph.plotting import cjk_font

    if cjk_font() is None:
        pytest.skip("no CJK font installed (Debian: apt install fonts-noto-cjk)")
    layers = [0, 1, 2]
    probs = {"zh": [0.1, 0.5, 0.9], "en": [0.2, 0.1, 0.0]}
    lens = LensResult(layers, probs, [3.0, 2.0, 1.0], probs, probs, [3.0] * 3, [1.0] * 3, ["中文"], [{"zh": "雪"}])
    lens.title = '"小"的反义词是"'
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        save_lens_plot(lens, tmp_path / "lens.png")
        save_sweep_plot(SweepResult([0.0, 1.0], {"大": [0.1, 0.2], "雪": [0.3, 0.1]}, ["大", "雪"]), tmp_path / "s.png")
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert missing == []
    assert (tmp_path / "lens.png").read_bytes()[:4] == b"\x89PNG"
