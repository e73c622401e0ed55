"""Multilingual comparison: tagging rules, the comparison graph, its exports and page, and the `compare` command."""

from __future__ import annotations

import json
import re
import sys

import networkx as nx
import pytest
import torch

import babelgraph as bg
from babelgraph import AttributionGraph, BabelgraphError, Node
from babelgraph.cli import main
from babelgraph.formats import export
from babelgraph.formats.common import TAG_COLOURS
from babelgraph.formats.comparison import comparison_page
from babelgraph.languages.compare import compare
from babelgraph.languages.comparison_graph import comparison_graph
from babelgraph.languages.tags import TAGS, FeatureInfo

SMALL = {
    "en": 'The opposite of "small" is "',
    "fr": 'Le contraire de "petit" est "',
    "zh": '"小"的反义词是"',
}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: on a shared 2-core CPU, two OpenMP threads wait on the busy core (docs/benchmarks.md)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---- the comparison graph on hand-built graphs ----------------------------------------------------------------
def _graph(prompt: str, features: list[tuple[int, int, int, float]], edges: list[tuple[int, int, float]]):
    """Features (dictionary index, feature, position, activation), two embeddings, one logit; edges (t, s, w)."""
    nodes = [
        Node(f"feat_{k}_{f}_{p}", "feature", k, p, a, f"t{p}", feature=f, dictionary=f"blocks.{k}.hook_mlp_out")
        for k, f, p, a in features
    ]
    nodes += [Node(f"emb_{p}", "embedding", -1, p, 1.0, f"t{p}", token_id=p) for p in range(2)]
    nodes.append(Node("logit_9", "logit", 2, 1, 3.0, "big", token_id=9, probability=0.9))
    adjacency = torch.zeros(len(nodes), len(nodes))
    for t, s, w in edges:
        adjacency[t, s] = w
    model = {"n_layers": 2, "dictionaries": [{"name": f"blocks.{k}.hook_mlp_out"} for k in range(2)]}
    return AttributionGraph(prompt, [0, 1], ["t0", "t1"], nodes, adjacency, {"model": model})


@pytest.fixture
def two_graphs():
    # en: feature (0,5) at positions 0 and 1, (1,7) at 1; fr: (0,5) at 1, (1,8) at 1
    en = _graph("small", [(0, 5, 0, 1.0), (0, 5, 1, 2.0), (1, 7, 1, 1.5)], [(2, 0, 0.5), (2, 1, 0.25), (5, 2, 1.0)])
    fr = _graph("petit", [(0, 5, 1, 3.0), (1, 8, 1, 1.0)], [(1, 0, 2.0), (4, 1, 1.0), (0, 3, 0.5)])
    return {"en": en, "fr": fr}


def test_comparison_graph_collapses_positions_and_keeps_each_language(two_graphs, tmp_path):
    graph = comparison_graph(two_graphs)
    ids = [n.id for n in graph.nodes]
    assert ids[:3] == ["feat_0_5", "feat_1_7", "feat_1_8"]
    assert {"en:emb_0", "en:emb_1", "en:logit_9", "fr:emb_0", "fr:emb_1", "fr:logit_9"} <= set(ids)
    # graphs alone carry no control prompts: every tag says so rather than guessing
    infos = {k: FeatureInfo.from_dict(v) for k, v in graph.metadata["features"].items()}
    assert {i.tag.tag for i in infos.values()} == {"unclear"} and "no control prompts" in infos["feat_0_5"].tag.reason
    assert infos["feat_0_5"].graph_languages == ["en", "fr"] and infos["feat_1_8"].graph_languages == ["fr"]
    assert infos["feat_0_5"].activations == {"en": 2.0, "fr": 3.0}
    assert infos["feat_0_5"].evidence["en"].positions == [0, 1]
    # drawn where it fires most strongly (fr, position 1 -> after en's two tokens), not at an average position
    assert graph.nodes[0].position == 3 and graph.nodes[0].token == "fr:t1"

    at = {node_id: i for i, node_id in enumerate(ids)}
    # en: both positions of feat_0_5 feed feat_1_7: summed (0.75); fr: feat_0_5 -> feat_1_8 = 2.0
    weights = {lang: {(t, s): w for t, s, w in e} for lang, e in graph.metadata["edge_weights"].items()}
    assert weights["en"][(at["feat_1_7"], at["feat_0_5"])] == pytest.approx(0.75)
    assert weights["fr"][(at["feat_1_8"], at["feat_0_5"])] == pytest.approx(2.0)
    # the logit edge from feat_1_x exists per language; feat_0_5 <- emb_1 exists only in fr (0.5)
    assert graph.adjacency[at["en:logit_9"], at["feat_1_7"]] == pytest.approx(1.0)
    assert graph.adjacency[at["feat_0_5"], at["fr:emb_1"]] == pytest.approx(0.5)
    # token rows side by side: fr's nodes sit after en's two tokens
    assert graph.nodes[at["fr:emb_1"]].position == 3 and graph.token_strings == ["en:t0", "en:t1", "fr:t0", "fr:t1"]

    shared = comparison_graph({"en": two_graphs["en"], "de": two_graphs["en"]})  # same edge in both: mean = it
    k = {n.id: i for i, n in enumerate(shared.nodes)}
    assert shared.adjacency[k["feat_1_7"], k["feat_0_5"]] == pytest.approx(0.75)

    loaded = AttributionGraph.load(graph.save(tmp_path / "c.safetensors"))
    assert [n.id for n in loaded.nodes] == ids and loaded.metadata == json.loads(json.dumps(graph.metadata))
    assert torch.equal(loaded.adjacency, graph.adjacency)
    with pytest.raises(BabelgraphError, match="at least two"):
        comparison_graph({"en": two_graphs["en"]})


def test_comparison_graph_exports_tags_in_every_format(two_graphs, tmp_path):
    graph = comparison_graph(two_graphs)
    paths = {fmt: export(graph, tmp_path / f"c.{fmt}") for fmt in ("html", "graphml", "gexf", "json")}
    read = nx.read_graphml(paths["graphml"])
    assert read.nodes["feat_0_5"]["tag"] == "unclear" and read.nodes["feat_0_5"]["languages"] == "en,fr"
    assert read.nodes["fr:emb_0"]["tag"] == "" and read.nodes["fr:emb_0"]["languages"] == "fr"
    expected = TAG_COLOURS["unclear"]
    assert (read.nodes["feat_0_5"]["r"], read.nodes["feat_0_5"]["g"], read.nodes["feat_0_5"]["b"]) == expected
    edge = read.edges["feat_0_5", "feat_1_7"]
    assert edge["weight_en"] == pytest.approx(0.75) and edge["weight_fr"] == 0.0
    gexf = nx.read_gexf(paths["gexf"])
    assert {d["tag"] for _, d in gexf.nodes(data=True)} == {"unclear", ""}
    assert len(json.loads(paths["json"].read_text(encoding="utf-8"))["nodes"]) == len(graph.nodes)
    page = paths["html"].read_text(encoding="utf-8")
    assert "unclear" in page and "no controls" in page and "no control prompts in en, fr" in page


# ---- end to end on the demo model -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo():
    return bg.load_model("demo", device="cpu")


@pytest.fixture
def patched(demo, monkeypatch):
    monkeypatch.setattr(bg, "load_model", lambda *args, **kwargs: demo)
    return demo


def _check_tags_agree(rows, max_rate=0.25):
    """Every tag in features.json agrees with the evidence written beside it (the rule re-derived by hand)."""
    for row in rows:
        active = {
            lang: e["activation"] >= row["threshold"] and e["activation"] > 0 for lang, e in row["evidence"].items()
        }
        rates = row["control_rates"]
        selective = [lang for lang, a in active.items() if a and rates[lang] is not None and rates[lang] <= max_rate]
        generic = [lang for lang in active if rates[lang] is not None and rates[lang] > max_rate]
        assert row["selective"] == selective and row["generic"] == generic
        expected = {
            (True, False): "shared-concept" if len(selective) >= 2 else "specific-concept",
            (False, True): "shared-task" if len(generic) >= 2 else "specific-task",
        }.get((bool(selective), bool(generic)), "unclear")
        assert row["tag"] == expected, row
        assert any(e["in_graph"] for e in row["evidence"].values())
        assert all(0 not in e["positions"] for e in row["evidence"].values())  # BOS never counts


def test_compare_concept_small_end_to_end(patched, tmp_path, capsys):
    code = main(["compare", "--concept", "small", "--out", str(tmp_path), "--no-statistics", "--no-overlap"])
    out = capsys.readouterr().out
    assert code == 0, out
    folder = tmp_path / "small"
    for name in ("en", "fr", "zh", "comparison"):
        assert (folder / f"{name}.safetensors").is_file()
    for fmt in ("html", "graphml", "gexf", "json"):
        assert (folder / f"comparison.{fmt}").stat().st_size > 0
    data = json.loads((folder / "features.json").read_text(encoding="utf-8"))
    assert data["prompts"] == SMALL and sum(data["counts"].values()) == len(data["features"]) > 0
    _check_tags_agree(data["features"])
    assert data["counts"]["shared-task"] > 0 and "shared-task" in out and "over thresholds" in out
    assert re.search(r"^  L\d+: ", out, re.M)  # the per-layer counts
    assert len(data["robustness"]) == 12 and data["controls"]["en"] and data["tag_meanings"]
    graph = AttributionGraph.load(folder / "comparison.safetensors")
    assert {n.id for n in graph.nodes if n.kind == "feature"} == {row["id"] for row in data["features"]}
    page = (folder / "page.html").read_text(encoding="utf-8")
    assert page.count("<iframe") == 4 and 'id="bg-features"' in page and "https://" not in page.split("srcdoc")[0]
    assert not (tmp_path / "summary.json").exists()  # a single comparison writes its folder, never a batch summary


@pytest.mark.filterwarnings("ignore")
def test_end_to_end_with_reference_statistics_and_overlap(demo):
    from babelgraph.formats.comparison import overlap_png

    comparison = compare(demo, SMALL, progress=False)
    assert not comparison.notes
    monos = [info.monolinguality for info in comparison.features.values()]
    assert all(m is not None and 0 <= m.score <= 1 for m in monos)
    # a feature that fires on the reference text splits its activation over the languages; one that never fires
    # there (some fire only at antonym answers) has no split and is never trusted
    fired = [m for m in monos if sum(m.active_positions.values()) > 0]
    assert len(fired) > len(monos) // 2
    assert all(abs(sum(m.share.values()) - 1) < 1e-6 for m in fired)
    assert all(not any(m.share.values()) and not m.enough for m in monos if m not in fired)
    png, note = overlap_png(demo)
    assert png is not None, note
    page = comparison_page(comparison, png)
    assert "data:image/png;base64," in page and "median monolinguality" in page and "control prompts" in page


def test_languages_without_reference_text_still_compare(demo):
    comparison = compare(demo, {"en": SMALL["en"], "de": 'Das Gegenteil von "klein" ist "'}, progress=False)
    assert comparison.languages == ["en", "de"] and comparison.features
    assert any("no control prompts for de" in n for n in comparison.notes)
    assert any("reference statistics need text in two languages" in n for n in comparison.notes)
    assert comparison.controls["de"] == [] and len(comparison.controls["en"]) == 16


def test_page_escapes_prompts(demo):
    comparison = compare(demo, {"en": '<script>alert("x")</script> is "', "fr": SMALL["fr"]}, statistics=False)
    page = comparison_page(comparison, None, "not computed <here>")
    assert "<script>alert" not in page and "not computed &lt;here&gt;" in page
    assert set(TAGS) >= {info.tag.tag for info in comparison.features.values()}


# ---- bad input ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--en", "The opposite"], "at least two languages"),
        (["--en", "The opposite", "--fr", "  "], "the fr prompt is empty"),
        (["--concept", "enormous"], "unknown concept 'enormous'"),
        (["--lang", "de"], "XX=TEXT"),
        ([], "nothing to compare"),
    ],
)
def test_bad_input_is_one_line(patched, tmp_path, capsys, args, message):
    assert main(["compare", *args, "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("babelgraph: error:")
    if "concept" in message:
        assert "small" in err


def test_a_prompt_tokenizing_to_nothing_names_its_language(demo, monkeypatch):
    compare_module = sys.modules["babelgraph.languages.compare"]
    real = compare_module.tokenize

    def fake(model, prompt):
        if prompt == "\u200b":
            raise BabelgraphError("the prompt tokenizes to nothing: give some text to attribute")
        return real(model, prompt)

    monkeypatch.setattr(compare_module, "tokenize", fake)
    with pytest.raises(BabelgraphError, match="the zh prompt: the prompt tokenizes to nothing"):
        compare(demo, {"en": SMALL["en"], "zh": "\u200b"}, progress=False)


# ---- batch ----------------------------------------------------------------------------------------------------
def test_batch_survives_a_bad_line_and_resumes(patched, tmp_path, capsys):
    batch = tmp_path / "triples.jsonl"
    lines = [
        json.dumps({"concept": "small"}),
        "{not json",
        json.dumps({"concept": "enormous"}),
        json.dumps({"en": SMALL["en"], "fr": SMALL["fr"], "name": "small-en-fr"}),
    ]
    batch.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    base = ["compare", "--file", str(batch), "--out", str(out), "--no-statistics", "--no-overlap", "--format", "json"]
    assert main(base) == 0
    captured = capsys.readouterr()
    assert "warning: line 2: not JSON" in captured.err and "warning: line 3: unknown concept" in captured.err
    assert (out / "small" / "page.html").is_file() and (out / "small-en-fr" / "page.html").is_file()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert set(summary["concepts"]) == {"small", "small-en-fr"}
    assert all(sum(f[t] for t in TAGS) == f["concepts"] >= 1 for f in summary["features"])
    assert (out / "summary.csv").read_text(encoding="utf-8").startswith("id,dictionary,layer,feature")

    stamp = (out / "small" / "page.html").stat().st_mtime_ns
    assert main(base) == 0
    assert capsys.readouterr().out.count("done before with these settings, skipped") == 2
    assert (out / "small" / "page.html").stat().st_mtime_ns == stamp
    # another setting is another result: recomputed, not silently kept
    assert main([*base, "--node-threshold", "0.5"]) == 0
    assert "done before" not in capsys.readouterr().out
    assert (out / "small" / "page.html").stat().st_mtime_ns != stamp

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"concept": "enormous"}\n[1]\n', encoding="utf-8")
    assert main(["compare", "--file", str(bad), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert sum(line.startswith("babelgraph: warning: line") for line in err) == 2  # skipped lines: warnings
    assert err[-1].startswith("babelgraph: error: no line of") and len(err) == 3  # nothing worked: one error


def test_batch_summary_has_a_band_and_a_mismatched_baseline(patched, tmp_path, capsys):
    batch = tmp_path / "three.jsonl"
    lines = [{"concept": c} for c in ("small", "hot", "long")] + [{"concept": "small"}]
    batch.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["compare", "--file", str(batch), "--out", str(out), "--no-statistics", "--no-overlap", "--format", "json"]
    assert main([*args, "--n-controls", "8"]) == 0
    captured = capsys.readouterr()
    assert "line 4: name 'small' is taken by line 1" in captured.err
    assert "across 3 concepts" in captured.out and "baseline (mismatched concepts)" in captured.out
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert set(summary["concepts"]) == {"small", "hot", "long"} and summary["baseline_layers"]
    for row in summary["layers"].values():
        share = row["share_shared"]
        assert share is None or row["low"] <= share <= row["high"]
    baseline = json.loads((out / "baseline" / "small" / "features.json").read_text(encoding="utf-8"))
    assert baseline["prompts"]["en"] == SMALL["en"] and "hot" not in baseline["prompts"]["en"]
    assert baseline["prompts"]["fr"] != SMALL["fr"]
    rows = (out / "layers.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0].startswith("which,layer,") and {r.split(",")[0] for r in rows[1:]} == {"concepts", "baseline"}
    assert (out / "layers.png").read_bytes()[:4] == b"\x89PNG"


def test_reserved_language_codes_are_refused(patched, tmp_path, capsys):
    code = main(["compare", "--en", SMALL["en"], "--lang", f"comparison={SMALL['fr']}", "--out", str(tmp_path)])
    assert code == 2 and "cannot be a language code" in capsys.readouterr().err


def test_batch_to_an_fsspec_url_uploads_each_concept_and_resumes(patched, tmp_path, capsys):
    import fsspec

    batch = tmp_path / "two.jsonl"
    batch.write_text('{"concept": "small"}\n{"concept": "hot"}\n', encoding="utf-8")
    url = "memory://babelgraph-test/run"
    args = ["compare", "--file", str(batch), "--out", url, "--no-statistics", "--no-overlap", "--format", "json"]
    assert main([*args, "--no-baseline", "--n-controls", "4"]) == 0
    printed = capsys.readouterr().out
    assert f"{url}/small" in printed and f"{url}/summary.json" in printed
    fs = fsspec.filesystem("memory")
    for name in ("small", "hot"):
        files = {p.rsplit("/", 1)[1] for p in fs.find(f"/babelgraph-test/run/{name}")}
        assert {"job.json", "page.html", "features.json", "comparison.safetensors"} <= files
    summary = json.loads(fs.cat_file("/babelgraph-test/run/summary.json"))
    assert set(summary["concepts"]) == {"small", "hot"}
    # a rerun with the same settings reads the remote done markers and recomputes nothing
    assert main([*args, "--no-baseline", "--n-controls", "4"]) == 0
    assert capsys.readouterr().out.count("done before with these settings, skipped") == 2
    assert main([*args, "--no-baseline", "--n-controls", "4", "--ray", "auto"]) == 2
    assert "give a folder every worker shares" in capsys.readouterr().err
