"""A dictionary type babelgraph does not ship: a cross-layer transcoder that reads one MLP input and writes the
outputs of two MLPs. Plugging it in is this one class plus one ``register_dictionary`` call (the house rule for
new dictionary types); the invariant tests then run on it like on any sae_lens dictionary."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from babelgraph.model.dictionaries import Dictionary, register_dictionary


@dataclass
class CrossLayerWeights:
    """Plain tensors, as a user's own training code might hold them."""

    read_layer: int
    write_layers: tuple[int, ...]
    W_enc: torch.Tensor  # [d_model, width]
    b_enc: torch.Tensor  # [width]
    W_dec: torch.Tensor  # [n_writes, width, d_model]
    b_dec: torch.Tensor  # [n_writes, d_model]

    @classmethod
    def random(cls, d_model: int, width: int, read_layer: int, write_layers: tuple[int, ...], seed: int = 0):
        g = torch.Generator().manual_seed(seed)

        def randn(*shape: int) -> torch.Tensor:
            return torch.randn(*shape, generator=g, dtype=torch.float64)

        return cls(
            read_layer,
            write_layers,
            2.0 * randn(d_model, width) / d_model**0.5,
            -0.3 + 0.1 * randn(width),
            randn(len(write_layers), width, d_model) / d_model**0.5,
            0.1 * randn(len(write_layers), d_model),
        )


class CrossLayerTranscoder(Dictionary):
    def __init__(self, weights: CrossLayerWeights) -> None:
        self.w = weights
        self.layer = weights.read_layer
        self.read_hook = f"blocks.{weights.read_layer}.ln2.hook_normalized"
        self.write_hooks = tuple(f"blocks.{layer}.hook_mlp_out" for layer in weights.write_layers)

    architecture = "relu_cross_layer_transcoder"

    @property
    def replaced_mlps(self) -> tuple[int, ...]:
        return tuple(self.w.write_layers)

    @property
    def width(self) -> int:
        return int(self.w.W_enc.shape[1])

    @property
    def d_in(self) -> int:
        return int(self.w.W_enc.shape[0])

    @property
    def encoder(self) -> torch.Tensor:
        return self.w.W_enc

    @property
    def encoder_bias(self) -> torch.Tensor:
        return self.w.b_enc

    def decoder(self, write: int = 0) -> torch.Tensor:
        return self.w.W_dec[write]

    def decoder_bias(self, write: int = 0) -> torch.Tensor:
        return self.w.b_dec[write]

    def activations(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.pre_activations(x))

    def to(self, device: torch.device, dtype: torch.dtype) -> CrossLayerTranscoder:
        for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
            setattr(self.w, name, getattr(self.w, name).to(device=device, dtype=dtype))
        return self


register_dictionary(lambda obj: isinstance(obj, CrossLayerWeights), lambda obj, model, key: CrossLayerTranscoder(obj))
