"""Load a transformer and its sparse dictionaries into a replacement model.

The model comes from ``transformer_lens`` and the dictionaries from ``sae_lens``; this module only checks that
they fit together and puts each dictionary's linear pieces (encoder directions, decoder rows, skip) in one
place, in the form attribution needs. It never reads a weight file itself: sae_lens does that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from sae_lens import SAE, GatedSAE, SkipTranscoder, Transcoder
from transformer_lens import HookedTransformer

from babelgraph.errors import BabelgraphError

DictionarySpec = Any  # an SAE, a folder, a release id, or a list/mapping of those


@dataclass
class Dictionary:
    """A sae_lens SAE or transcoder, placed in the model.

    Reads ``read_hook`` and writes ``write_hook`` (the same hook for a sparse autoencoder; ``hook_mlp_out`` for
    a transcoder). In the forms attribution needs, the feature pre-activations are the affine map
    ``x @ encoder + encoder_bias`` of the (flattened) read activation ``x``, and the output is
    ``acts @ decoder + decoder_bias (+ x @ skip.T)``. These identities are checked on real activations during
    attribution, so an architecture that breaks them fails loudly instead of giving wrong graphs.
    """

    sae: SAE
    layer: int
    read_hook: str
    write_hook: str

    @property
    def is_transcoder(self) -> bool:
        return isinstance(self.sae, Transcoder)

    @property
    def name(self) -> str:
        return self.write_hook if self.is_transcoder else self.read_hook

    @property
    def width(self) -> int:
        return int(self.sae.cfg.d_sae)

    @property
    def d_in(self) -> int:
        return int(self.sae.cfg.d_in)

    @property
    def skip(self) -> torch.Tensor | None:
        """The linear skip ``[d_out, d_in]`` of a skip transcoder (output += x @ skip.T), else ``None``."""
        return self.sae.W_skip if isinstance(self.sae, SkipTranscoder) else None

    @property
    def encoder(self) -> torch.Tensor:
        """``[d_in, d_sae]``: the pre-activation's linear part (after sae_lens' own input processing)."""
        sae = self.sae
        weight = sae.W_enc
        if isinstance(sae, GatedSAE):
            weight = weight * sae.r_mag.exp()
        if getattr(sae.cfg, "rescale_acts_by_decoder_norm", False):
            weight = weight * sae.W_dec.norm(dim=-1)
        return weight

    @property
    def encoder_bias(self) -> torch.Tensor:
        """``[d_sae]``: the pre-activation's constant part, with ``b_dec`` subtracted from inputs if configured."""
        sae = self.sae
        bias = sae.b_mag if isinstance(sae, GatedSAE) else sae.b_enc
        if getattr(sae.cfg, "rescale_acts_by_decoder_norm", False):
            bias = bias * sae.W_dec.norm(dim=-1)
        if sae.cfg.apply_b_dec_to_input and not self.is_transcoder:
            bias = bias - sae.b_dec @ self.encoder
        return bias

    @property
    def decoder(self) -> torch.Tensor:
        """``[d_sae, d_out]``: each feature's write direction per unit of activation."""
        sae = self.sae
        if getattr(sae.cfg, "rescale_acts_by_decoder_norm", False):
            return sae.W_dec / sae.W_dec.norm(dim=-1, keepdim=True)
        return sae.W_dec

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """Affine pre-activations of flattened inputs ``x`` (``[..., d_in]``)."""
        return x @ self.encoder + self.encoder_bias

    def activations(self, x: torch.Tensor) -> torch.Tensor:
        """Feature activations from sae_lens' own ``encode`` (its TopK, JumpReLU, gate...)."""
        return self.sae.encode(x)

    def reconstruct(self, acts: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Dictionary output from activations, including a transcoder's skip term."""
        out = acts @ self.decoder + self.sae.b_dec
        if self.skip is not None:
            out = out + x @ self.skip.T
        return out


@dataclass
class ReplacementModel:
    """A ``HookedTransformer`` with its dictionaries, ordered by where they read in the forward pass."""

    model: HookedTransformer
    dictionaries: list[Dictionary]
    name: str

    @property
    def n_layers(self) -> int:
        return int(self.model.cfg.n_layers)

    @property
    def device(self) -> torch.device:
        return self.model.W_U.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.W_U.dtype

    @property
    def uses_transcoders(self) -> bool:
        return any(d.is_transcoder for d in self.dictionaries)

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "n_layers": self.n_layers,
            "d_model": int(self.model.cfg.d_model),
            "dictionaries": [
                {
                    "name": d.name,
                    "layer": d.layer,
                    "read_hook": d.read_hook,
                    "write_hook": d.write_hook,
                    "architecture": d.sae.cfg.architecture(),
                    "width": d.width,
                }
                for d in self.dictionaries
            ],
        }


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
        _place(sae.to(device=target_device, dtype=target_dtype), hooked, key)
        for key, sae in _collect_saes(dictionaries, str(target_device))
    ]
    if not placed:
        raise BabelgraphError("the dictionary list is empty: give at least one sae_lens dictionary")
    order = _hook_order(hooked)
    for d in placed:
        if d.read_hook not in order or d.write_hook not in order:
            raise BabelgraphError(f"hook {d.read_hook!r} exists but this model's forward pass never runs it")
    placed.sort(key=lambda d: order[d.read_hook])
    seen: set[str] = set()
    for d in placed:
        if d.write_hook in seen:
            raise BabelgraphError(f"two dictionaries write {d.write_hook}: keep one per hook")
        seen.add(d.write_hook)
        for parameter in d.sae.parameters():
            parameter.requires_grad_(False)
        d.sae.eval()
    return ReplacementModel(hooked, placed, name)


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


def _collect_saes(spec: DictionarySpec, device: str) -> list[tuple[str | int | None, SAE]]:
    """Flatten every accepted way of naming dictionaries into (key, SAE) pairs; key is the mapping key."""
    if isinstance(spec, SAE):
        return [(None, spec)]
    if isinstance(spec, Mapping):
        pairs: list[tuple[str | int | None, SAE]] = []
        for key, value in spec.items():
            pairs.extend((key, sae) for _, sae in _collect_saes(value, device))
        return pairs
    if isinstance(spec, (str, Path)):
        return [(None, sae) for sae in _load_named(spec, device)]
    if isinstance(spec, Sequence):
        return [pair for item in spec for pair in _collect_saes(item, device)]
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


def _hook_order(model: HookedTransformer) -> dict[str, int]:
    """Each hook's rank in the forward pass, from a one-token run (registration order is not execution order:
    a block registers ``hook_resid_pre`` after ``hook_mlp_out``)."""
    order: dict[str, int] = {}

    def record(activation: torch.Tensor, hook) -> None:
        order.setdefault(hook.name, len(order))

    with torch.no_grad():
        token = torch.zeros(1, 1, dtype=torch.long, device=model.W_U.device)
        model.run_with_hooks(token, fwd_hooks=[(lambda name: True, record)], return_type=None)
    return order


def _place(sae: SAE, model: HookedTransformer, key: str | int | None) -> Dictionary:
    """Work out where a dictionary reads and writes, and check it fits the model."""
    meta = sae.cfg.metadata
    read_hook = meta.hook_name
    if isinstance(key, str) and key in model.hook_dict:
        read_hook = key
    elif isinstance(key, int) and read_hook is None:
        read_hook = f"blocks.{key}.ln2.hook_normalized" if isinstance(sae, Transcoder) else None
    if read_hook is None:
        raise BabelgraphError(
            "a dictionary has no hook in its metadata: pass a mapping {hook_name: sae} to say where it reads"
        )
    if read_hook not in model.hook_dict:
        raise BabelgraphError(f"dictionary hook {read_hook!r} does not exist in model {model.cfg.model_name!r}")
    layer = _layer_of(read_hook)
    if isinstance(sae, Transcoder):
        write_hook = meta.hook_name_out or f"blocks.{layer}.hook_mlp_out"
        if write_hook != f"blocks.{layer}.hook_mlp_out":
            raise BabelgraphError(
                f"transcoder reading {read_hook} writes {write_hook}; babelgraph supports transcoders that "
                f"write blocks.{layer}.hook_mlp_out"
            )
    else:
        write_hook = read_hook
    if sae.cfg.normalize_activations not in ("none", "expected_average_only_in"):
        raise BabelgraphError(
            f"dictionary at {read_hook} normalises inputs with {sae.cfg.normalize_activations!r}, which is not "
            "linear; fold the normalisation into its weights first"
        )
    if getattr(sae, "hook_z_reshaping_mode", False):
        sae.turn_off_forward_pass_hook_z_reshaping()  # babelgraph flattens heads itself
    expected_in = _hook_width(model, read_hook)
    expected_out = _hook_width(model, write_hook)
    d_out = int(getattr(sae.cfg, "d_out", sae.cfg.d_in))
    if int(sae.cfg.d_in) != expected_in or d_out != expected_out:
        raise BabelgraphError(
            f"dictionary at {read_hook} has width {sae.cfg.d_in}->{d_out} but the model's activations there are "
            f"{expected_in}->{expected_out} wide: it belongs to another model"
        )
    return Dictionary(sae=sae, layer=layer, read_hook=read_hook, write_hook=write_hook)


def _layer_of(hook: str) -> int:
    parts = hook.split(".")
    if parts[0] == "blocks" and len(parts) > 1 and parts[1].isdigit():
        return int(parts[1])
    raise BabelgraphError(f"hook {hook!r} is not inside a block; dictionaries must sit in blocks.N")


def _hook_width(model: HookedTransformer, hook: str) -> int:
    """Flattened width of a hook's activation (``hook_z`` is heads x d_head)."""
    cfg = model.cfg
    leaf = hook.split(".")[-1]
    if leaf in ("hook_z", "hook_q", "hook_v", "hook_k"):
        return int(cfg.n_heads * cfg.d_head)
    if leaf in ("hook_pre", "hook_post", "hook_pre_linear"):
        return int(cfg.d_mlp)
    return int(cfg.d_model)
