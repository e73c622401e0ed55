"""Sparse dictionaries as attribution sees them: one interface, one adapter per library, a registry.

Attribution needs four things of a dictionary (docs/method.md, "Nodes and edges"): where it reads, where it
writes (one hook, or several for a cross-layer transcoder), its feature pre-activations as an affine map of what
it reads, and each feature's write direction at every write hook. :class:`Dictionary` is that interface;
:class:`SaeLensDictionary` adapts every sae_lens SAE and transcoder to it. A new dictionary type is one subclass
plus :func:`register_dictionary`, and nothing in attribution changes.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import torch

from babelgraph.errors import BabelgraphError


class Dictionary(ABC):
    """A sparse dictionary placed in a model.

    Its features read the (flattened) activation at ``read_hook``; their pre-activations are
    ``x @ encoder + encoder_bias``, checked against :meth:`activations` on real inputs during attribution. At the
    ``w``-th write hook it writes ``acts @ decoder(w) + decoder_bias(w) (+ x @ skip(w).T)``, and the model's own
    activation there becomes that plus a constant error. ``replaced_mlps`` lists the layers whose MLP output it
    stands for (a transcoder's own layer): those MLPs are not linearised, gradient crosses them only through the
    features.
    """

    layer: int
    read_hook: str
    write_hooks: tuple[str, ...]

    # ---- identity
    @property
    def name(self) -> str:
        """A unique, readable name (graph nodes carry it)."""
        return self.write_hooks[0] if self.replaced_mlps else self.read_hook

    @property
    @abstractmethod
    def architecture(self) -> str: ...

    @property
    def kind(self) -> str:
        """What exports call it: ``sae``, ``transcoder`` or ``cross-layer transcoder``."""
        if len(self.write_hooks) > 1:
            return "cross-layer transcoder"
        return "transcoder" if self.replaced_mlps else "sae"

    @property
    def replaced_mlps(self) -> tuple[int, ...]:
        return ()

    @property
    @abstractmethod
    def width(self) -> int: ...

    @property
    @abstractmethod
    def d_in(self) -> int: ...

    # ---- the linear pieces
    @property
    @abstractmethod
    def encoder(self) -> torch.Tensor:
        """``[d_in, width]``."""

    @property
    @abstractmethod
    def encoder_bias(self) -> torch.Tensor:
        """``[width]``."""

    @abstractmethod
    def decoder(self, write: int = 0) -> torch.Tensor:
        """``[width, d_out]``: each feature's write direction at write hook ``write``, per unit of activation."""

    @abstractmethod
    def decoder_bias(self, write: int = 0) -> torch.Tensor:
        """``[d_out]``."""

    def skip(self, write: int = 0) -> torch.Tensor | None:
        """``[d_out, d_in]`` linear skip from the read activation (skip transcoders), else ``None``."""
        return None

    @abstractmethod
    def activations(self, x: torch.Tensor) -> torch.Tensor:
        """Feature activations of flattened inputs ``[..., d_in]``, by the dictionary's own nonlinearity."""

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.encoder + self.encoder_bias

    def reconstruct(self, acts: torch.Tensor, x: torch.Tensor, write: int = 0) -> torch.Tensor:
        """What the dictionary writes at write hook ``write`` (without the error)."""
        out = acts @ self.decoder(write) + self.decoder_bias(write)
        skip = self.skip(write)
        return out if skip is None else out + x @ skip.T

    # ---- housekeeping
    @abstractmethod
    def to(self, device: torch.device, dtype: torch.dtype) -> Dictionary:
        """Move to the model's device and dtype, with gradients off; returns self."""

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "layer": self.layer,
            "read_hook": self.read_hook,
            "write_hook": self.write_hooks[0],
            "write_hooks": list(self.write_hooks),
            "architecture": self.architecture,
            "kind": self.kind,
            "width": self.width,
        }


# ---- registry ---------------------------------------------------------------------------------------------------
Placer = Callable[[Any, Any, "str | int | None"], Dictionary]
_ADAPTERS: list[tuple[Callable[[Any], bool], Placer]] = []


def register_dictionary(accepts: Callable[[Any], bool], place: Placer) -> None:
    """Teach :func:`babelgraph.load_model` a dictionary type.

    ``accepts(obj)`` says whether ``obj`` is of the type; ``place(obj, model, key)`` returns a :class:`Dictionary`
    for it in ``model`` (a HookedTransformer; ``key`` is the mapping key the user gave, a hook name or layer, or
    ``None``). Later registrations win, so a user can override a built-in adapter.
    """
    _ADAPTERS.insert(0, (accepts, place))


def adapt(obj: Any, model: Any, key: str | int | None) -> Dictionary:
    """The registered :class:`Dictionary` for ``obj`` (a Dictionary passes through)."""
    if isinstance(obj, Dictionary):
        return obj
    for accepts, place in _ADAPTERS:
        if accepts(obj):
            return place(obj, model, key)
    raise BabelgraphError(
        f"cannot use {type(obj).__name__} as a dictionary: give a sae_lens SAE, folder or release id "
        "(or register the type with babelgraph.model.dictionaries.register_dictionary)"
    )


def is_dictionary_object(obj: Any) -> bool:
    """Whether ``obj`` is a dictionary itself (rather than a name, folder or collection of them)."""
    return isinstance(obj, Dictionary) or any(accepts(obj) for accepts, _ in _ADAPTERS)


# ---- the sae_lens adapter ---------------------------------------------------------------------------------------
class SaeLensDictionary(Dictionary):
    """Any sae_lens SAE (standard, TopK, JumpReLU, gated) or transcoder (plain, skip, JumpReLU)."""

    def __init__(
        self,
        sae: Any,
        layer: int,
        read_hook: str,
        write_hook: str,
        input_scale: torch.Tensor | None = None,
        input_shift: torch.Tensor | None = None,
    ) -> None:
        """``input_scale`` / ``input_shift`` (``[d_in]``): the dictionary was trained on ``x * scale + shift`` of
        what ``read_hook`` carries (a norm's gain and bias that no hook of the model applies on its own); they
        are folded into the encoder (and a skip), so attribution still sees an affine map of the hook."""
        from sae_lens import Transcoder

        self.sae = sae
        self.layer = layer
        self.read_hook = read_hook
        self.write_hooks = (write_hook,)
        self._transcoder = isinstance(sae, Transcoder)
        self.input_scale = input_scale
        self.input_shift = input_shift

    @property
    def architecture(self) -> str:
        return str(self.sae.cfg.architecture())

    @property
    def replaced_mlps(self) -> tuple[int, ...]:
        return (self.layer,) if self._transcoder else ()

    @property
    def width(self) -> int:
        return int(self.sae.cfg.d_sae)

    @property
    def d_in(self) -> int:
        return int(self.sae.cfg.d_in)

    @property
    def _rescaled(self) -> bool:
        return bool(getattr(self.sae.cfg, "rescale_acts_by_decoder_norm", False))

    def _trained_input(self, x: torch.Tensor) -> torch.Tensor:
        """What the dictionary was trained on, from what its read hook carries."""
        if self.input_scale is not None:
            x = x * self.input_scale
        return x if self.input_shift is None else x + self.input_shift

    @property
    def encoder(self) -> torch.Tensor:
        weight = self._trained_encoder
        return weight if self.input_scale is None else self.input_scale[:, None] * weight

    @property
    def _trained_encoder(self) -> torch.Tensor:
        from sae_lens import GatedSAE

        weight = self.sae.W_enc
        if isinstance(self.sae, GatedSAE):
            weight = weight * self.sae.r_mag.exp()
        if self._rescaled:
            weight = weight * self.sae.W_dec.norm(dim=-1)
        return weight

    @property
    def encoder_bias(self) -> torch.Tensor:
        from sae_lens import GatedSAE

        sae = self.sae
        bias = sae.b_mag if isinstance(sae, GatedSAE) else sae.b_enc
        if self._rescaled:
            bias = bias * sae.W_dec.norm(dim=-1)
        if sae.cfg.apply_b_dec_to_input and not self._transcoder:
            bias = bias - sae.b_dec @ self._trained_encoder
        if self.input_shift is not None:
            bias = bias + self.input_shift @ self._trained_encoder
        return bias

    def decoder(self, write: int = 0) -> torch.Tensor:
        w_dec = self.sae.W_dec
        return w_dec / w_dec.norm(dim=-1, keepdim=True) if self._rescaled else w_dec

    def decoder_bias(self, write: int = 0) -> torch.Tensor:
        skip = self._trained_skip()
        if skip is None or self.input_shift is None:
            return self.sae.b_dec
        return self.sae.b_dec + self.input_shift @ skip.T

    def _trained_skip(self) -> torch.Tensor | None:
        from sae_lens import SkipTranscoder

        return self.sae.W_skip if isinstance(self.sae, SkipTranscoder) else None

    def skip(self, write: int = 0) -> torch.Tensor | None:
        skip = self._trained_skip()
        if skip is None or self.input_scale is None:
            return skip
        return skip * self.input_scale[None, :]

    def activations(self, x: torch.Tensor) -> torch.Tensor:
        return self.sae.encode(self._trained_input(x))

    def to(self, device: torch.device, dtype: torch.dtype) -> SaeLensDictionary:
        if self.input_scale is not None:
            self.input_scale = self.input_scale.detach().to(device=device, dtype=dtype)
        if self.input_shift is not None:
            self.input_shift = self.input_shift.detach().to(device=device, dtype=dtype)
        self.sae = self.sae.to(device=device, dtype=dtype)
        for parameter in self.sae.parameters():
            parameter.requires_grad_(False)
        self.sae.eval()
        return self


def _place_sae_lens(sae: Any, model: Any, key: str | int | None) -> SaeLensDictionary:
    """Work out where a sae_lens dictionary reads and writes, and check it fits the model."""
    from sae_lens import Transcoder

    from babelgraph.model.replacement import hook_width, layer_of

    is_transcoder = isinstance(sae, Transcoder)
    meta = sae.cfg.metadata
    read_hook = meta.hook_name
    if isinstance(key, str) and key in model.hook_dict:
        read_hook = key
    elif isinstance(key, int) and read_hook is None:
        read_hook = f"blocks.{key}.ln2.hook_normalized" if is_transcoder else None
    if read_hook is None:
        raise BabelgraphError(
            "a dictionary has no hook in its metadata: pass a mapping {hook_name: sae} to say where it reads"
        )
    read_hook, scale, shift = translate_read_hook(model, read_hook)
    if read_hook not in model.hook_dict:
        raise BabelgraphError(f"dictionary hook {read_hook!r} does not exist in model {model.cfg.model_name!r}")
    layer = layer_of(read_hook)
    if is_transcoder:
        write_hook = translate_write_hook(model, meta.hook_name_out or f"blocks.{layer}.hook_mlp_out")
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
    expected_in, expected_out = hook_width(model, read_hook), hook_width(model, write_hook)
    d_out = int(getattr(sae.cfg, "d_out", sae.cfg.d_in))
    if int(sae.cfg.d_in) != expected_in or d_out != expected_out:
        raise BabelgraphError(
            f"dictionary at {read_hook} has width {sae.cfg.d_in}->{d_out} but the model's activations there are "
            f"{expected_in}->{expected_out} wide: it belongs to another model"
        )
    return SaeLensDictionary(sae, layer, read_hook, write_hook, scale, shift)


# ---- hook names other libraries use -------------------------------------------------------------------------
_MLP_HOOK = re.compile(r"^blocks\.(\d+)\.mlp\.hook_(in|out)$")


def translate_read_hook(model: Any, hook: str) -> tuple[str, torch.Tensor | None, torch.Tensor | None]:
    """A read hook named the way circuit-tracer names it, as the HookedTransformer hook with the same tensor.

    ``blocks.L.mlp.hook_in`` (the ``mwhanna-qwen3-*`` transcoders) is the MLP's input: the output of the norm
    before the MLP, gain (and bias) included. A HookedTransformer loaded without folding norms has no hook on
    that tensor: ``blocks.L.ln2.hook_normalized`` carries it before the gain. So the dictionary reads that hook,
    with the norm's gain and bias as an input scale and shift (folded into its encoder: exact).
    Returns ``(hook, scale, shift)``.
    """
    match = _MLP_HOOK.match(hook)
    if hook in model.hook_dict or not match or match.group(2) != "in":
        return hook, None, None
    layer = int(match.group(1))
    if layer >= model.cfg.n_layers or model.cfg.attn_only:
        return hook, None, None
    norm = model.blocks[layer].ln2
    scale, shift = getattr(norm, "w", None), getattr(norm, "b", None)
    if scale is None and model.cfg.normalization_type in ("LNPre", "RMSPre"):
        raise BabelgraphError(
            f"a dictionary reads {hook} (after the norm's gain), but this model was loaded with its norms folded "
            "into the next weights: load it with fold_ln=False"
        )
    return f"blocks.{layer}.ln2.hook_normalized", scale, shift


def translate_write_hook(model: Any, hook: str) -> str:
    """``blocks.L.mlp.hook_out`` (circuit-tracer's name for the MLP's output) as ``blocks.L.hook_mlp_out``, which
    carries the same tensor unless a norm follows the MLP (Gemma-2/3), where there is no HookedTransformer hook
    on it."""
    match = _MLP_HOOK.match(hook)
    if hook in model.hook_dict or not match or match.group(2) != "out":
        return hook
    if model.cfg.use_normalization_before_and_after:
        raise BabelgraphError(
            f"a transcoder writes {hook}, the MLP output before its post-norm, which this model has no hook for"
        )
    return f"blocks.{match.group(1)}.hook_mlp_out"


def _is_sae_lens(obj: Any) -> bool:
    from sae_lens import SAE

    return isinstance(obj, SAE)


register_dictionary(_is_sae_lens, _place_sae_lens)
