"""Can a text's translation be picked out from the model's residual stream? A dictionary-free check for overlap.

:func:`babelgraph.languages.overlap.feature_overlap` asks whether translations share dictionary features. When it
finds nothing, the model may not represent them alike, or the dictionaries may miss what it shares. This asks the
residual stream directly: per layer, each text is the mean of its non-BOS residual vectors after the block, centred
over the texts of its language (so the language's own direction drops out), and a text of A "retrieves" the text of
B with the highest cosine. Reported per pair: top-1 accuracy by layer, beside chance (1 / texts) and a length-only
retriever (nearest log token count, centred the same way), since translations of long texts are long and mean
vectors can carry length.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from babelgraph.errors import BabelgraphError
from babelgraph.languages.overlap import parallel_line_count
from babelgraph.model.replacement import ReplacementModel


@dataclass
class RetrievalResult:
    """Top-1 retrieval of the aligned translation, per language pair (``"en-zh"``): by layer and by length alone."""

    model: str
    n_texts: int
    by_layer: dict[str, list[float]]
    length_only: dict[str, float]

    @property
    def chance(self) -> float:
        return 1 / self.n_texts

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "n_texts": self.n_texts,
            "chance": self.chance,
            "pairs": {
                pair: {"length_only": self.length_only[pair], "by_layer": layers}
                for pair, layers in self.by_layer.items()
            },
        }

    def format_table(self) -> str:
        lines = [
            f"top-1 retrieval of the translation among {self.n_texts} texts (chance {self.chance:.3f}); "
            "residual stream by layer"
        ]
        for pair, layers in self.by_layer.items():
            shown = " ".join(f"{v:.2f}" for v in layers)
            lines.append(f"{pair}: length only {self.length_only[pair]:.3f}; layers {shown}")
        return "\n".join(lines)


def mean_residuals(model: ReplacementModel, lines: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """``[texts, layers, d_model]`` mean non-BOS residual stream after each block, centred over the texts; and each
    text's non-BOS token count."""
    from babelgraph.languages.reference import encode_line

    rows, counts = [], []
    n_layers = model.model.cfg.n_layers
    names = {f"blocks.{k}.hook_resid_post" for k in range(n_layers)}
    for i, line in enumerate(lines):
        encoded = encode_line(model, line)
        if encoded is None:
            raise BabelgraphError(f"text {i + 1} tokenizes to nothing: retrieval needs every aligned text non-empty")
        tokens, start = encoded
        with torch.no_grad():
            _, cache = model.model.run_with_cache(tokens[None], names_filter=lambda name: name in names)
        rows.append(torch.stack([cache[f"blocks.{k}.hook_resid_post"][0, start:].mean(0) for k in range(n_layers)]))
        counts.append(len(tokens) - start)
    means = torch.stack(rows).float()
    return means - means.mean(0, keepdim=True), torch.tensor(counts, dtype=torch.float)


def top1(similarity: torch.Tensor) -> float:
    """Share of rows whose highest-scoring column is their own index (the aligned translation)."""
    return (similarity.argmax(1) == torch.arange(len(similarity))).float().mean().item()


def translation_retrieval(model: ReplacementModel, texts: Mapping[str, Sequence[str]]) -> RetrievalResult:
    """For every language pair (in the order given), how often the text of the first language finds its aligned
    translation in the second among all of them, by layer, against length alone."""
    languages = list(texts)
    n = parallel_line_count(texts, "retrieval", "retrieval picks one among them")
    encoded = {lang: mean_residuals(model, texts[lang]) for lang in languages}
    by_layer: dict[str, list[float]] = {}
    length_only: dict[str, float] = {}
    for x, a in enumerate(languages):
        for b in languages[x + 1 :]:
            (means_a, count_a), (means_b, count_b) = encoded[a], encoded[b]
            log_a, log_b = count_a.log() - count_a.log().mean(), count_b.log() - count_b.log().mean()
            length_only[f"{a}-{b}"] = top1(-(log_a[:, None] - log_b[None, :]).abs())
            unit_a = torch.nn.functional.normalize(means_a, dim=-1)
            unit_b = torch.nn.functional.normalize(means_b, dim=-1)
            by_layer[f"{a}-{b}"] = [top1(unit_a[:, k] @ unit_b[:, k].T) for k in range(means_a.shape[1])]
    return RetrievalResult(model=model.name, n_texts=n, by_layer=by_layer, length_only=length_only)
