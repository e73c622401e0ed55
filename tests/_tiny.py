"""Tiny random models and dictionaries, built from configs (no hub), in float64 so invariants hold tightly."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile

import torch
from sae_lens import (
    GatedSAE,
    GatedSAEConfig,
    JumpReLUSAE,
    JumpReLUSAEConfig,
    JumpReLUSkipTranscoder,
    JumpReLUSkipTranscoderConfig,
    JumpReLUTranscoder,
    JumpReLUTranscoderConfig,
    SkipTranscoder,
    SkipTranscoderConfig,
    StandardSAE,
    StandardSAEConfig,
    TopKSAE,
    TopKSAEConfig,
    Transcoder,
    TranscoderConfig,
)
from sae_lens.saes.sae import SAE, SAEMetadata
from tokenizers import Tokenizer, models, pre_tokenizers
from transformer_lens import HookedTransformer, HookedTransformerConfig
from transformers import PreTrainedTokenizerFast

WORDS = ("the opposite of small is big le contraire de petit est grand hot cold chaud froid").split()
D_MODEL = 32
WIDTH = 48


@functools.lru_cache(maxsize=1)
def word_tokenizer() -> PreTrainedTokenizerFast:
    """A whitespace word-level tokenizer with a BOS token, so string prompts and BOS handling get tested.

    Saved and reloaded from a folder because transformer_lens re-creates tokenizers from their path.
    """
    vocab = {"<bos>": 0, "<unk>": 1}
    for word in WORDS:
        vocab.setdefault(word, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", unk_token="<unk>")
    folder = tempfile.mkdtemp(prefix="babelgraph-test-tokenizer-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    fast.save_pretrained(folder)
    return PreTrainedTokenizerFast.from_pretrained(folder)


_SHAPE = {"n_layers": 3, "d_model": D_MODEL, "n_heads": 4, "d_head": 8, "d_mlp": 64, "d_vocab": 40, "n_ctx": 24}
_ROTARY_RMS_GATED = {
    "normalization_type": "RMS",
    "positional_embedding_type": "rotary",
    "rotary_dim": 8,
    "gated_mlp": True,
    "final_rms": True,
}


def gpt2_style(seed: int = 0, with_tokenizer: bool = True) -> HookedTransformer:
    """LayerNorm, GELU MLP, learned positional embeddings."""
    return _build(
        {"act_fn": "gelu_new", "normalization_type": "LN", "positional_embedding_type": "standard"},
        seed,
        "tiny-gpt2",
        with_tokenizer,
    )


def llama_style(seed: int = 1, with_tokenizer: bool = True) -> HookedTransformer:
    """RMSNorm, rotary, gated SiLU MLP, grouped-query attention."""
    return _build({**_ROTARY_RMS_GATED, "act_fn": "silu", "n_key_value_heads": 2}, seed, "tiny-llama", with_tokenizer)


def gemma_style(seed: int = 2, with_tokenizer: bool = True) -> HookedTransformer:
    """RMSNorm before and after each sublayer, gated GELU MLP, attention and logit soft-capping."""
    gemma = {"use_normalization_before_and_after": True, "attn_scores_soft_cap": 50.0, "output_logits_soft_cap": 30.0}
    return _build({**_ROTARY_RMS_GATED, **gemma, "act_fn": "gelu_pytorch_tanh"}, seed, "tiny-gemma", with_tokenizer)


def qwen3_style(seed: int = 3, with_tokenizer: bool = True) -> HookedTransformer:
    """Qwen3: RMSNorm, rotary, gated SiLU MLP, grouped-query attention, RMSNorm on each head's queries and keys."""
    qwen3 = {"act_fn": "silu", "n_key_value_heads": 2, "use_qk_norm": True}
    return _build({**_ROTARY_RMS_GATED, **qwen3}, seed, "tiny-qwen3", with_tokenizer)


def gemma3_style(seed: int = 4, with_tokenizer: bool = True) -> HookedTransformer:
    """Gemma-3: Gemma-2's pre/post norms with QK-norm instead of attention soft-capping, one key/value head,
    sliding-window (local) layers with their own rotary base between global ones."""
    gemma3 = {
        "use_normalization_before_and_after": True,
        "use_qk_norm": True,
        "n_key_value_heads": 1,
        "act_fn": "gelu_pytorch_tanh",
        "use_local_attn": True,
        "window_size": 3,
        "attn_types": ["local", "global", "local"],
        "rotary_base": 1_000_000,
        "rotary_base_local": 10_000,
    }
    return _build({**_ROTARY_RMS_GATED, **gemma3}, seed, "tiny-gemma3", with_tokenizer)


def parallel_style(seed: int = 5, with_tokenizer: bool = True) -> HookedTransformer:
    """GPT-J / Pythia: attention and MLP read the same residual in parallel, partial rotary, LayerNorm."""
    parallel = {
        "act_fn": "gelu",
        "normalization_type": "LN",
        "positional_embedding_type": "rotary",
        "rotary_dim": 4,
        "parallel_attn_mlp": True,
    }
    return _build(parallel, seed, "tiny-parallel", with_tokenizer)


def _build(architecture: dict, seed: int, name: str, with_tokenizer: bool) -> HookedTransformer:
    cfg = HookedTransformerConfig(**_SHAPE, **architecture, dtype=torch.float64, seed=seed, model_name=name)
    model = HookedTransformer(cfg, tokenizer=word_tokenizer() if with_tokenizer else None)
    generator = torch.Generator().manual_seed(cfg.seed or 0)
    with torch.no_grad():  # norms' weights and biases are 1/0 at init; make them matter
        for name, parameter in model.named_parameters():
            if name.endswith(".w") or name.endswith(".b"):
                parameter.add_(0.2 * torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype))
    return model


TRANSCODERS = {
    "transcoder": (Transcoder, TranscoderConfig),
    "skip_transcoder": (SkipTranscoder, SkipTranscoderConfig),
    "jumprelu_transcoder": (JumpReLUTranscoder, JumpReLUTranscoderConfig),
    "jumprelu_skip_transcoder": (JumpReLUSkipTranscoder, JumpReLUSkipTranscoderConfig),
}
SAES = {
    "standard": (StandardSAE, StandardSAEConfig),
    "topk": (TopKSAE, TopKSAEConfig),
    "jumprelu": (JumpReLUSAE, JumpReLUSAEConfig),
    "gated": (GatedSAE, GatedSAEConfig),
}


def randomize(sae: SAE, seed: int) -> SAE:
    """Random weights, with encoder biases pushed down so that only some features fire."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in sae.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype)
            if name == "threshold":
                parameter.copy_(0.1 + 0.1 * noise.abs())
            elif name in ("b_enc", "b_gate", "b_mag"):
                parameter.copy_(-0.3 + 0.1 * noise)
            elif name == "r_mag":
                parameter.copy_(0.1 * noise)
            else:
                parameter.copy_(noise / parameter.shape[-1] ** 0.5 * (2.0 if name.startswith("W_enc") else 1.0))
    return sae


def make_transcoder(kind: str, layer: int, hook: str = "ln2.hook_normalized", seed: int = 0) -> SAE:
    cls, cfg_cls = TRANSCODERS[kind]
    cfg = cfg_cls(
        d_in=D_MODEL,
        d_sae=WIDTH,
        d_out=D_MODEL,
        dtype="float64",
        apply_b_dec_to_input=False,
        metadata=SAEMetadata(hook_name=f"blocks.{layer}.{hook}", hook_name_out=f"blocks.{layer}.hook_mlp_out"),
    )
    return randomize(cls(cfg), seed + 100 * layer)


def make_sae(kind: str, hook: str, seed: int = 0, d_in: int = D_MODEL) -> SAE:
    cls, cfg_cls = SAES[kind]
    extra = {"k": 6} if kind == "topk" else {}
    cfg = cfg_cls(d_in=d_in, d_sae=WIDTH, dtype="float64", metadata=SAEMetadata(hook_name=hook), **extra)
    sae = randomize(cls(cfg), seed + hash(hook) % 1000)
    if hook.endswith("hook_z"):
        sae.turn_on_forward_pass_hook_z_reshaping()
    return sae


MODELS = {
    "gpt2": gpt2_style,
    "llama": llama_style,
    "gemma": gemma_style,
    "qwen3": qwen3_style,
    "gemma3": gemma3_style,
    "parallel": parallel_style,
}
