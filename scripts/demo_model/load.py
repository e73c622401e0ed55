"""A copy of the package loader's logic (babelgraph.demo), pointed at any folder of demo artefacts."""

from __future__ import annotations

import json
from pathlib import Path

import torch


def load_tokenizer(folder: Path):  # noqa: ANN201
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast.from_pretrained(str(folder))


def load_transformer(folder: Path, device: str = "cpu"):  # noqa: ANN201
    from safetensors.torch import load_file
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    fields = json.loads((Path(folder) / "config.json").read_text())
    cfg = HookedTransformerConfig(**fields, device=device, dtype=torch.float32, init_weights=False)
    model = HookedTransformer(cfg, tokenizer=load_tokenizer(folder), move_to_device=False)
    state = {k: v.float() for k, v in load_file(str(Path(folder) / "model.safetensors")).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    bad = [k for k in missing if not k.endswith(("mask", "IGNORE"))] + list(unexpected)
    if bad:
        raise RuntimeError(f"weights do not match the config: {bad[:5]}")
    model.to(device, print_details=False)
    model.eval()
    return model


def dictionary_dirs(folder: Path, kind: str = "transcoders") -> list[Path]:
    root = Path(folder) / {"transcoders": "transcoders", "residual": "residual_saes"}[kind]
    dirs = [p for p in root.glob("layer_*") if (p / "cfg.json").exists()]
    return sorted(dirs, key=lambda p: int(p.name.split("_")[1]))
