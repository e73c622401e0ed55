"""Logit lens and interventions: on tiny random models (exact checks) and on the demo model (task mode, CLI)."""

from __future__ import annotations

import functools
import math

import pytest
import torch
from _frozen import target_values, trace_of
from _tiny import MODELS, make_transcoder

import babelgraph as bg
from babelgraph.analysis.intervene import Edit, intervene, parse_edit, sweep
from babelgraph.analysis.lens import lens_task, logit_lens, save_lens_plot, save_lens_table
from babelgraph.cli import main
from babelgraph.model.replacement import frozen_forward, pre_activations, tokenize, trace

PROMPT = "the opposite of small is"


@functools.cache
def tiny(name: str) -> bg.ReplacementModel:
    hooked = MODELS[name]()
    return bg.load_model(hooked, [make_transcoder("transcoder", layer) for layer in range(3)])


@functools.lru_cache(maxsize=1)
def demo() -> bg.ReplacementModel:
    return bg.load_model("demo")


@pytest.mark.parametrize("name", list(MODELS))
def test_lens_last_layer_is_the_model_and_entropy_is_bounded(name):
    model = tiny(name)
    result = logit_lens(model, PROMPT, {"a": "big", "b": "small"})
    assert result.layers == list(range(model.n_layers + 1))
    probs = torch.softmax(model.model(PROMPT)[0, -1].double(), -1)
    vocab = model.model.tokenizer.get_vocab()
    assert math.isclose(result.probabilities["a"][-1], float(probs[vocab["big"]]), rel_tol=1e-9)
    assert math.isclose(result.probabilities["b"][-1], float(probs[vocab["small"]]), rel_tol=1e-9)
    expected_entropy = float(torch.special.entr(probs).sum() / math.log(2))
    assert math.isclose(result.entropy[-1], expected_entropy, rel_tol=1e-9)
    assert all(0 <= h <= math.log2(model.model.cfg.d_vocab) + 1e-9 for h in result.entropy)
    # earlier layers are not the model's answer: the lens really reads intermediate residual streams
    assert result.entropy[0] != pytest.approx(result.entropy[-1])


def test_lens_rejects_bad_answers():
    model = tiny("gpt2")
    with pytest.raises(bg.BabelgraphError, match="empty"):
        logit_lens(model, PROMPT, {"zh": ""})
    with pytest.raises(bg.BabelgraphError, match="no token"):
        logit_lens(model, PROMPT, {"zh": "雪"})


@pytest.mark.parametrize("freeze", [True, False])
def test_setting_a_feature_to_its_value_changes_nothing(freeze):
    model = tiny("llama")
    tr = trace(model, *tokenize(model, PROMPT))
    pos, feat = (int(i) for i in torch.nonzero(tr.activations[1][1:])[0])
    value = float(tr.activations[1][pos + 1, feat])
    result = intervene(model, PROMPT, [Edit(1, feat, value, "set", [pos + 1])], freeze_attention=freeze)
    assert torch.allclose(result.probs_after, result.probs_before, atol=1e-10, rtol=0)
    moved = intervene(model, PROMPT, [Edit(1, feat, value + 5, "set", [pos + 1])], freeze_attention=freeze)
    assert not torch.allclose(moved.probs_after, moved.probs_before, atol=1e-10, rtol=0)


def test_doubling_a_feature_moves_targets_by_its_graph_column():
    model = tiny("gpt2")
    graph = bg.attribute(model, PROMPT, progress=False)
    tr = trace_of(model, graph)
    base = target_values(model, graph, tr)
    column = graph.indices("feature")[0]
    node = graph.nodes[column]
    from babelgraph.analysis.intervene import edited_activations

    acts = edited_activations(model, tr, [Edit(node.layer, node.feature, 2.0, "scale", [node.position])])
    moved = target_values(model, graph, tr, activations=acts)
    rows = [i for i, n in enumerate(graph.nodes) if n.kind == "feature"]
    expected = graph.adjacency[:, column].double()
    assert expected[rows].abs().max() > 0
    assert torch.allclose((moved - base)[rows], expected[rows], atol=1e-6 * float(expected.abs().max()), rtol=0)
    # and the pre-activations seen through frozen_forward move the same way
    before = pre_activations(model, frozen_forward(model, tr, 1, requires_grad=False))
    after = pre_activations(model, frozen_forward(model, tr, 1, activations=acts, requires_grad=False))
    later = [i for i in rows if graph.nodes[i].layer > node.layer]
    for i in later:
        n = graph.nodes[i]
        j = [d.name for d in model.dictionaries].index(n.dictionary)
        delta = after[j][0, n.position, n.feature] - before[j][0, n.position, n.feature]
        assert float(delta) == pytest.approx(float(expected[i]), abs=1e-6)


def test_bad_edits_are_one_line_errors():
    model = tiny("gpt2")
    n = len(tokenize(model, PROMPT)[0])
    cases = [
        (Edit(0, 10_000, 1.0), "out of range"),
        (Edit(0, 1, 1.0, positions=[n]), "outside the prompt"),
        (Edit(0, 1, 1.0, positions=[-n - 1]), "outside the prompt"),
        (Edit(7, 1, 1.0), "no dictionary at layer 7"),
    ]
    for edit, message in cases:
        with pytest.raises(bg.BabelgraphError, match=message) as info:
            intervene(model, PROMPT, [edit])
        assert "\n" not in str(info.value)
    for text in ["3:12=1", "L3:x=1", "L3:12@=1", "L3:12=big", "L3:12"]:
        with pytest.raises(bg.BabelgraphError):
            parse_edit(text, "scale")
    assert parse_edit("L3:12,14@-1,2=-2.5", "set") == Edit(3, [12, 14], -2.5, "set", [-1, 2])


def test_cli_bad_syntax_exits_2_with_one_line(capsys):
    assert main(["intervene", "x", "--scale", "L3-12=2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("babelgraph: error:") and "\n" not in err
    assert main(["lens", "x", "--answer", "zh"]) == 2
    assert "\n" not in capsys.readouterr().err.strip()


def test_demo_translation_task_is_finite(tmp_path):
    result = lens_task(demo(), "translation", "fr", "zh", max_words=12)
    assert result.n_prompts == 12 and set(result.probabilities) == {"zh", "en", "en_control"}
    for words in result.answers:  # the control is another prompt's English word, never this one's
        assert words["en_control"] != words["en"] and words["en_control"] in {w["en"] for w in result.answers}
    values = [v for series in result.probabilities.values() for v in series] + result.entropy
    assert all(math.isfinite(v) for v in values)
    assert all(lo <= m + 1e-12 for lo, m in zip(result.low["zh"], result.probabilities["zh"]))
    assert result.prompts[0].count("\n") == 4 and result.prompts[0].endswith('中文: "')
    # the demo model translates: by the last layer the Chinese answer dominates
    assert result.probabilities["zh"][-1] > 0.5 > result.probabilities["en"][-1]
    png, csv, js = save_lens_plot(result, tmp_path / "l.png"), tmp_path / "l.csv", tmp_path / "l.json"
    save_lens_table(result, csv)
    save_lens_table(result, js)
    assert png.read_bytes()[:4] == b"\x89PNG" and csv.read_text().startswith("layer,p_zh")
    assert '"layers"' in js.read_text(encoding="utf-8")


def test_demo_cli_lens_and_intervene(tmp_path, capsys):
    prompt = 'The opposite of "small" is "'
    assert main(["lens", prompt, "--answer", "en=big", "--out", str(tmp_path), "--quiet"]) == 0
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".csv", ".png"]
    capsys.readouterr()
    model = bg.load_model("demo")
    graph = bg.attribute(model, prompt, progress=False)
    top = graph.logit_nodes[0]
    row = graph.adjacency[graph.nodes.index(top)]
    last = len(graph.tokens) - 1
    # the feature at the answer position with the strongest direct push on the top logit: suppressing it must matter
    weight, node = max(
        (float(row[i]), n) for i, n in enumerate(graph.nodes) if n.kind == "feature" and n.position == last
    )
    assert weight > 0.1
    edit = f"L{node.layer}:{node.feature}@-1=-4"
    assert main(["intervene", prompt, "--scale", edit, "--quiet"]) == 0
    printed = capsys.readouterr().out
    result = intervene(model, prompt, [Edit(node.layer, node.feature, -4.0, positions=[-1])])
    assert printed.strip() == result.format().strip()

    def log_odds(p: torch.Tensor) -> float:
        return math.log(float(p[top.token_id]) / (1 - float(p[top.token_id])))

    assert log_odds(result.probs_before) - log_odds(result.probs_after) > 0.5
    assert result.warnings == [] and capsys.readouterr().err == ""


def test_edit_of_an_inactive_feature_warns(capsys):
    model = tiny("gpt2")
    tokens, has_bos = tokenize(model, PROMPT)
    acts = trace(model, tokens, has_bos).activations[1]
    inactive = int((acts[1:] == 0).all(0).nonzero()[0])  # zero at every non-BOS position
    active = int(acts[-1].argmax())
    result = intervene(model, PROMPT, [Edit(1, [inactive, active], 2.0, positions=[-1])])
    assert len(result.warnings) == 1 and f"--scale L1:{inactive}@-1: inactive" in result.warnings[0]
    assert "changes nothing" in result.warnings[0] and str(active) not in result.warnings[0].split(" inactive")[0]
    assert intervene(model, PROMPT, [Edit(1, active, 2.0, positions=[-1])]).warnings == []
    switched = intervene(model, PROMPT, [Edit(1, inactive, 3.0, "set", positions=[-1])])
    assert "switches them on" in switched.warnings[0]
    swept = sweep(model, PROMPT, lambda v: [Edit(1, inactive, v)], [0.0, 1.0], ["big"])
    assert len(swept.warnings) == 1


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999"])
def test_non_finite_edit_values_are_refused(value):
    with pytest.raises(bg.BabelgraphError, match="finite"):
        parse_edit(f"L1:3@-1={value}", "scale")
    with pytest.raises(bg.BabelgraphError, match="finite"):
        intervene(tiny("gpt2"), PROMPT, [Edit(1, 3, float(value))])
