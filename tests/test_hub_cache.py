"""Models and sae_lens releases by name, offline, against a Hugging Face hub cache built here.

The cache holds tiny random models under their real repo names and in the file layouts transformer_lens reads
(config.json, model.safetensors, a tokenizer made with the ``tokenizers`` package), and tiny dictionaries in the
on-disk formats of the releases' loaders in sae_lens (``pretrained_saes.yaml`` / ``pretrained_sae_loaders.py``):

- ``gpt2`` with ``gpt2-small-res-jb`` (repo ``jbloom/GPT2-Small-SAEs-Reformatted``: ``<hook>/cfg.json`` in the
  pre-6.0 cfg format, ``sae_weights.safetensors``, ``sparsity.safetensors``);
- ``Qwen/Qwen3-0.6B`` with ``mwhanna-qwen3-0.6b-transcoders-lowl0`` (repo ``mwhanna/qwen3-0.6b-transcoders-lowl0``:
  ``layer_L.safetensors`` with ``W_enc`` stored transposed, ``wandb-config.yaml``, ``config.yaml``).

Gemma-2 and Llama cannot be tiny under their real names: transformer_lens hard-codes the shapes of every
``google/gemma-2-*`` and ``meta-llama/*`` name it supports instead of reading config.json (docs/releases.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_file

import babelgraph as bg

COMMIT = "0123456789abcdef0123456789abcdef01234567"
TEXT = "The capital of France is Paris . La capitale de la France est Paris . the opposite of small is big"
D = 32
WIDTH = 64


def _snapshot(cache: Path, repo: str) -> Path:
    root = cache / ("models--" + repo.replace("/", "--"))
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(COMMIT)
    snapshot = root / "snapshots" / COMMIT
    snapshot.mkdir(parents=True, exist_ok=True)
    return snapshot


def _tokenizer(folder: Path, bos: str, prepend_bos: bool) -> int:
    """A byte-level BPE tokenizer trained on a few sentences (English, French, Chinese); returns its size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320, special_tokens=[bos], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator([TEXT, "法国的首都是巴黎。", "le contraire de petit est grand"], trainer)
    if prepend_bos:
        tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, 0)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=bos, unk_token=None)
    fast.save_pretrained(folder)
    return tok.get_vocab_size()


def _random(shape: tuple[int, ...], generator: torch.Generator, scale: float = 1.0) -> torch.Tensor:
    return (torch.randn(shape, generator=generator) * scale).contiguous()


def _gpt2(cache: Path) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    folder = _snapshot(cache, "gpt2")
    vocab = _tokenizer(folder, "<|endoftext|>", prepend_bos=False)
    config = GPT2Config(
        n_layer=2, n_embd=D, n_head=4, n_positions=64, n_ctx=64, vocab_size=vocab, bos_token_id=0, eos_token_id=0
    )
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(folder)

    g = torch.Generator().manual_seed(1)
    saes = _snapshot(cache, "jbloom/GPT2-Small-SAEs-Reformatted")
    for layer in range(2):
        hook = f"blocks.{layer}.hook_resid_pre"
        (saes / hook).mkdir()
        cfg = {  # the pre-6.0 cfg format of this repo (hook_point, hook_point_layer, no architecture)
            "model_name": "gpt2-small",
            "hook_point": hook,
            "hook_point_layer": layer,
            "hook_point_head_index": None,
            "d_in": D,
            "d_sae": WIDTH,
            "dtype": "float32",
            "device": "cpu",
            "context_size": 128,
            "prepend_bos": True,
            "apply_b_dec_to_input": True,
            "normalize_activations": False,
            "dataset_path": "Skylion007/openwebtext",
        }
        (saes / hook / "cfg.json").write_text(json.dumps(cfg))
        save_file(
            {
                "W_enc": _random((D, WIDTH), g, 0.3),
                "b_enc": _random((WIDTH,), g, 0.1) - 0.2,
                "W_dec": _random((WIDTH, D), g, 0.1),
                "b_dec": _random((D,), g, 0.1),
            },
            str(saes / hook / "sae_weights.safetensors"),
        )
        save_file({"sparsity": _random((WIDTH,), g) - 4}, str(saes / hook / "sparsity.safetensors"))


def _qwen3(cache: Path) -> None:
    from transformers import Qwen3Config, Qwen3ForCausalLM

    folder = _snapshot(cache, "Qwen/Qwen3-0.6B")
    vocab = _tokenizer(folder, "<|endoftext|>", prepend_bos=False)
    config = Qwen3Config(
        hidden_size=D,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        vocab_size=vocab,
        max_position_embeddings=128,
        tie_word_embeddings=True,
        bos_token_id=0,
        eos_token_id=0,
    )
    torch.manual_seed(2)
    Qwen3ForCausalLM(config).save_pretrained(folder)

    g = torch.Generator().manual_seed(3)
    tcs = _snapshot(cache, "mwhanna/qwen3-0.6b-transcoders-lowl0")
    wandb = {"d_model": {"value": D}, "d_feature": {"value": WIDTH}, "batch_size": {"value": 4096}}
    (tcs / "wandb-config.yaml").write_text(yaml.safe_dump(wandb))
    (tcs / "config.yaml").write_text(yaml.safe_dump({"model_name": "Qwen/Qwen3-0.6B"}))
    for layer in range(2):
        save_file(
            {
                "W_enc": _random((WIDTH, D), g, 0.3),  # stored [d_sae, d_in]; the loader transposes it
                "b_enc": _random((WIDTH,), g, 0.1) - 0.1,
                "W_dec": _random((WIDTH, D), g, 0.05),
                "b_dec": _random((D,), g, 0.05),
            },
            str(tcs / f"layer_{layer}.safetensors"),
        )


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory):
    home = tmp_path_factory.mktemp("hf_home")
    cache = home / "hub"
    cache.mkdir()
    _gpt2(cache)
    _qwen3(cache)
    return home


@pytest.fixture
def offline(hub_cache, monkeypatch):
    """HF_HOME / HF_HUB_CACHE / HF_HUB_OFFLINE=1, in the environment and in huggingface_hub's constants (read
    when it was imported)."""
    from huggingface_hub import constants

    cache = hub_cache / "hub"
    for key, value in {"HF_HOME": hub_cache, "HF_HUB_CACHE": cache, "HF_HUB_OFFLINE": "1"}.items():
        monkeypatch.setenv(key, str(value))
    monkeypatch.setattr(constants, "HF_HOME", str(hub_cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


RANDOM_FIT = "ignore:dictionary .* does not fit:UserWarning"  # random dictionaries on random models


@pytest.mark.filterwarnings(RANDOM_FIT)
def test_gpt2_small_res_jb_loads_as_the_release_declares(offline):
    model = bg.load_model("gpt2-small", "gpt2-small-res-jb:blocks.0.hook_resid_pre,blocks.1.hook_resid_pre")
    assert model.settings == {"center_writing_weights": True}  # the release's model_from_pretrained_kwargs
    # centred writing weights: every embedding the SAEs read has mean zero over d_model
    embed = model.model.W_E
    assert torch.allclose(embed.mean(-1), torch.zeros(embed.shape[0]), atol=1e-5)
    assert [d.read_hook for d in model.dictionaries] == ["blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre"]
    assert set(model.fit) == {"blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre"}
    graph = bg.attribute(model, "The capital of France is", progress=False)
    assert graph.node_counts()["feature"] > 0


def test_qwen3_mwhanna_transcoders_read_the_mlp_input(offline):
    with pytest.warns(UserWarning, match="does not fit"):  # random transcoders on a random model
        model = bg.load_model("Qwen/Qwen3-0.6B", "mwhanna-qwen3-0.6b-transcoders-lowl0:layer_0,layer_1")
    assert [d.read_hook for d in model.dictionaries] == [f"blocks.{i}.ln2.hook_normalized" for i in range(2)]
    assert [d.kind for d in model.dictionaries] == ["transcoder", "transcoder"]
    # what they read is the MLP's input: the norm's output with its gain, as circuit-tracer's mlp.hook_in
    d = model.dictionaries[1]
    seen = {}
    hooked = model.model
    tokens = hooked.to_tokens("The capital of France is")
    hooked.run_with_hooks(
        tokens,
        fwd_hooks=[
            ("blocks.1.ln2.hook_normalized", lambda a, hook: seen.__setitem__("normalized", a)),
            ("blocks.1.mlp.hook_pre", lambda a, hook: None),
        ],
    )
    mlp_input = seen["normalized"] * hooked.blocks[1].ln2.w
    assert torch.allclose(d.activations(seen["normalized"][0]), d.sae.encode(mlp_input[0]), atol=1e-6)
    graph = bg.attribute(model, "The capital of France is", progress=False)
    assert graph.node_counts()["feature"] > 0


@pytest.mark.filterwarnings(RANDOM_FIT)
def test_cli_build_offline(offline, tmp_path, capsys):
    from babelgraph.cli import main

    out = tmp_path / "out"
    status = main(
        [
            "build",
            "The capital of France is",
            "--model",
            "gpt2-small",
            "--dictionaries",
            "gpt2-small-res-jb:blocks.0.hook_resid_pre,blocks.1.hook_resid_pre",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert status == 0, capsys.readouterr().err
    assert list(out.glob("*.safetensors"))


def test_a_model_missing_from_the_cache_fails_at_once_offline(offline, capsys):
    import time

    from babelgraph.cli import main

    started = time.perf_counter()
    dictionaries = "gpt2-small-res-jb:blocks.0.hook_resid_pre"
    status = main(["build", "hello", "--model", "pythia-70m", "--dictionaries", dictionaries, "--quiet"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "HF_HUB_OFFLINE" in err, err
    assert time.perf_counter() - started < 20
