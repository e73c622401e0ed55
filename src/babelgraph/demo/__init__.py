"""The bundled demo model: a small English/French/Chinese transformer with its dictionaries.

Everything is read from this folder, so it works offline: `config.json` (HookedTransformerConfig
fields), `model.safetensors` (float16, upcast on load), the tokenizer files, and one sae_lens folder
per dictionary under `transcoders/layer_{l}/` and `residual_saes/layer_{l}/`. See MODEL_CARD.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig

DEMO_DIR: Path = Path(__file__).resolve().parent
_DICT_SUBDIRS = {"transcoders": "transcoders", "residual": "residual_saes"}


def load_demo_tokenizer(folder: Path = DEMO_DIR):  # noqa: ANN201 - a transformers fast tokenizer
    """The demo tokenizer (byte-level BPE, prepends `<|bos|>`)."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast.from_pretrained(str(folder))


def load_demo_transformer(
    device: str | None = None, dtype: torch.dtype | None = None, folder: Path = DEMO_DIR
) -> HookedTransformer:
    """Build the demo HookedTransformer from the packaged config and weights (or those of another demo build in
    ``folder``, laid out the same way).

    `device` defaults to CUDA when available, else CPU; `dtype` defaults to float32 (the weights are
    stored in float16 to keep the package small).
    """
    from safetensors.torch import load_file

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = dtype or torch.float32
    folder = Path(folder)
    fields = json.loads((folder / "config.json").read_text())
    cfg = HookedTransformerConfig(**fields, device=device, dtype=dtype, init_weights=False)
    model = HookedTransformer(cfg, tokenizer=load_demo_tokenizer(folder), move_to_device=False)
    state = {k: v.to(dtype) for k, v in load_file(str(folder / "model.safetensors")).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    # Only transformer_lens' constant buffers (causal masks, IGNORE) may be absent from the file.
    bad = [k for k in missing if not k.endswith(("mask", "IGNORE"))] + list(unexpected)
    if bad:
        raise RuntimeError(f"demo weights do not match the config: {bad[:5]}")
    model.to(device, print_details=False)
    model.eval()
    return model


def demo_dictionary_dirs(kind: str = "transcoders", folder: Path = DEMO_DIR) -> list[Path]:
    """sae_lens folders of the demo dictionaries of `kind` ("transcoders" or "residual"), ordered by layer."""
    if kind not in _DICT_SUBDIRS:
        raise ValueError(f"kind must be one of {sorted(_DICT_SUBDIRS)}, got {kind!r}")
    root = Path(folder) / _DICT_SUBDIRS[kind]
    dirs = [p for p in root.glob("layer_*") if (p / "cfg.json").exists()]
    return sorted(dirs, key=lambda p: int(p.name.split("_")[1]))


__all__ = ["DEMO_DIR", "demo_dictionary_dirs", "load_demo_tokenizer", "load_demo_transformer"]
