"""Half precision against a float64 reference, device errors, and broken dictionary folders: one line each."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from _tiny import MODELS, make_transcoder

import babelgraph as bg
from babelgraph import BabelgraphError
from babelgraph.demo import demo_dictionary_dirs

PROMPT = "the opposite of small is"
# Largest edge difference over the nodes both graphs have, relative to the largest edge (measured on these tiny
# models: bfloat16 1.2e-2, float16 2.0e-3; float32 4e-7). Rows are accumulated in float32 (docs/releases.md).
TOLERANCE = {"float32": 1e-5, "bfloat16": 3e-2, "float16": 5e-3}


def _graph(model_name: str, dtype: str | None):
    hooked = MODELS[model_name]()  # float64, same seed every time
    saes = [make_transcoder("skip_transcoder", layer) for layer in range(3)]
    model = bg.load_model(hooked, saes, dtype=dtype, check_fit=False)
    return bg.attribute(model, PROMPT, progress=False)


@pytest.fixture(scope="module", params=["gpt2", "qwen3"])
def reference(request):
    return request.param, _graph(request.param, None)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_half_precision_graph_matches_float64(reference, dtype):
    model_name, ref = reference
    graph = _graph(model_name, dtype)
    ids = {node.id: i for i, node in enumerate(ref.nodes)}
    pairs = [(ids[node.id], j) for j, node in enumerate(graph.nodes) if node.id in ids]
    assert len(pairs) >= 0.95 * len(ref.nodes)  # a few features may switch on or off near their threshold
    r = torch.tensor([a for a, _ in pairs])
    c = torch.tensor([b for _, b in pairs])
    expected = ref.adjacency.double()[r][:, r]
    got = graph.adjacency.double()[c][:, c]
    gap = float((expected - got).abs().max() / expected.abs().max())
    assert gap < TOLERANCE[dtype], gap
    assert graph.logit_nodes[0].token_id == ref.logit_nodes[0].token_id


def test_demo_runs_in_bfloat16():
    model = bg.load_model("demo", dtype="bfloat16")
    graph = bg.attribute(model, "The opposite of small is", progress=False, max_feature_nodes=20)
    assert graph.n_edges > 0 and model.dtype == torch.bfloat16


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without CUDA")
def test_cuda_without_cuda_is_one_line():
    with pytest.raises(BabelgraphError, match="no CUDA GPU"):
        bg.load_model("demo", device="cuda")
    with pytest.raises(BabelgraphError, match="unknown device"):
        bg.load_model("demo", device="gpu0")


# ---- broken dictionary folders ----------------------------------------------------------------------------------
def _folder(tmp_path):
    target = tmp_path / "layer_0"
    shutil.copytree(demo_dictionary_dirs("transcoders")[0], target)
    return target


def _edit_cfg(folder, change):
    cfg = json.loads((folder / "cfg.json").read_text())
    change(cfg)
    (folder / "cfg.json").write_text(json.dumps(cfg))


BREAKAGES = {
    "empty cfg": (lambda f: (f / "cfg.json").write_text(""), "not valid JSON"),
    "invalid cfg": (lambda f: (f / "cfg.json").write_text("{d_in: 3"), "not valid JSON"),
    "cfg not an object": (lambda f: (f / "cfg.json").write_text("[1, 2]"), "JSON object"),
    "missing key": (lambda f: _edit_cfg(f, lambda c: c.pop("d_sae")), "lacks d_sae"),
    "missing hook": (lambda f: _edit_cfg(f, lambda c: c["metadata"].pop("hook_name")), "lacks metadata.hook_name"),
    "unknown architecture": (lambda f: _edit_cfg(f, lambda c: c.update(architecture="bogus")), "no architecture"),
    "width mismatch": (lambda f: _edit_cfg(f, lambda c: c.update(d_sae=999)), "W_enc is"),
    "d_in mismatch": (lambda f: _edit_cfg(f, lambda c: c.update(d_in=7)), "W_enc is"),
    "string width": (lambda f: _edit_cfg(f, lambda c: c.update(d_sae="1024")), "positive integer"),
    "truncated weights": (
        lambda f: (f / "sae_weights.safetensors").write_bytes((f / "sae_weights.safetensors").read_bytes()[:5000]),
        "sae_weights.safetensors",
    ),
    "missing weights": (lambda f: (f / "sae_weights.safetensors").unlink(), "missing"),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_a_broken_dictionary_folder_is_one_line(tmp_path, breakage):
    folder = _folder(tmp_path)
    breaking, message = BREAKAGES[breakage]
    breaking(folder)
    with pytest.raises(BabelgraphError, match=message) as info:
        bg.load_model("demo", [folder])
    assert "\n" not in str(info.value) and str(folder) in str(info.value)


def test_a_good_folder_still_loads(tmp_path):
    model = bg.load_model("demo", [_folder(tmp_path)])
    assert len(model.dictionaries) == 1 and model.fit[model.dictionaries[0].name] < 1
