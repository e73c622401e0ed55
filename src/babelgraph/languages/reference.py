"""Feature statistics on per-language reference text: mean activation, monolinguality and top contexts.

A tag is checked against text the graph never saw: a feature's mean activation per language, each language's share
of the sum of those means, and a normalised monolinguality score in [0, 1] (:class:`babelgraph.languages.tags.
Monolinguality`), with the number of positions where it fires as the evidence behind them. BOS positions never
count. Every dictionary's activations are computed once per (model, texts) with batched forward passes and
reduced to sparse statistics, cached on disk as safetensors so a second call costs a file read.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from babelgraph.errors import BabelgraphError
from babelgraph.files import atomic_path
from babelgraph.languages.tags import FeatureKey
from babelgraph.languages.tasks import LANGUAGES
from babelgraph.model.replacement import ReplacementModel, dictionary_activations, starts_with_bos

REFERENCE_LANGUAGES = tuple(LANGUAGES)
CACHE_VERSION = 2
MIN_ACTIVE_POSITIONS = 5  # fewer active positions (all languages together): the monolinguality is not trusted
MIN_CACHED_CONTEXTS = 32  # positions kept per feature and language; deduplicated to (text, token) pairs on read


@dataclass(frozen=True)
class Context:
    """One activating token: the text, the token's string, its position (0 is BOS when the model uses one)."""

    text: str
    token: str
    position: int
    activation: float


@dataclass
class FeatureStats:
    """Per-language numbers for one feature, measured on non-BOS positions of the reference text."""

    mean_activation: dict[str, float]
    share: dict[str, float]  # each language's share of the sum of the means (0 everywhere if it never fires)
    score: float  # normalised monolinguality in [0, 1]: (n * max share - 1) / (n - 1)
    top_language: str
    active_positions: dict[str, int]
    enough: bool  # at least MIN_ACTIVE_POSITIONS active positions over all languages
    top_contexts: dict[str, list[Context]]


def monolinguality(means: dict[str, float]) -> tuple[dict[str, float], float, str]:
    """(share per language, normalised score, top language) from per-language mean activations (negative means,
    which ReLU-type features never have, count as 0)."""
    clipped = {lang: max(0.0, m) for lang, m in means.items()}
    total = sum(clipped.values())
    top = max(clipped, key=lambda lang: clipped[lang])
    if total <= 0:
        return dict.fromkeys(means, 0.0), 0.0, top
    share = {lang: m / total for lang, m in clipped.items()}
    n = len(means)
    return share, (n * share[top] - 1) / (n - 1), top


# ---- the shipped text ---------------------------------------------------------------------------------------
def reference_texts(languages: Sequence[str] | None = None) -> dict[str, list[str]]:
    """The shipped reference lines per language (aligned line by line, so also a parallel text set)."""
    languages = list(REFERENCE_LANGUAGES if languages is None else languages)
    folder = resources.files("babelgraph").joinpath("data", "reference")
    out = {}
    for lang in languages:
        if lang not in REFERENCE_LANGUAGES:
            raise BabelgraphError(
                f"no reference text for language {lang!r}: choose from {', '.join(REFERENCE_LANGUAGES)}"
            )
        text = folder.joinpath(f"{lang}.txt").read_text(encoding="utf-8")
        out[lang] = [line for line in text.splitlines() if line.strip()]
    return out


# ---- activations, batched -----------------------------------------------------------------------------------
def encode_line(model: ReplacementModel, text: str) -> tuple[torch.Tensor, int] | None:
    """Tokens of one line (truncated to the context) and the first non-BOS position; ``None`` if it is empty."""
    if model.tokenizer is None:
        raise BabelgraphError("this model has no tokenizer: reference text needs one")
    if not text.strip():
        return None
    tokens = model.model.to_tokens(text, truncate=False)[0][: model.model.cfg.n_ctx]
    start = int(starts_with_bos(model, tokens, from_text=True))
    return (tokens, start) if len(tokens) > start else None


def line_activations(
    model: ReplacementModel, lines: Sequence[str], batch_size: int = 64
) -> Iterator[tuple[int, torch.Tensor, int, list[torch.Tensor]]]:
    """Yield ``(line index, tokens, start, [acts [pos, width] per dictionary])`` for every non-empty line.

    Lines are sorted by length and right-padded into batches: the model is causal, so padding after a line
    cannot change its activations.
    """
    encoded = [(i, e) for i, e in ((i, encode_line(model, line)) for i, line in enumerate(lines)) if e is not None]
    encoded.sort(key=lambda item: len(item[1][0]))
    for begin in range(0, len(encoded), batch_size):
        chunk = encoded[begin : begin + batch_size]
        width = max(len(tokens) for _, (tokens, _) in chunk)
        batch = torch.zeros(len(chunk), width, dtype=torch.long, device=model.device)
        for row, (_, (tokens, _)) in enumerate(chunk):
            batch[row, : len(tokens)] = tokens
        acts = dictionary_activations(model, batch)
        for row, (index, (tokens, start)) in enumerate(chunk):
            yield index, tokens, start, [a[row, : len(tokens)] for a in acts]


# ---- statistics ---------------------------------------------------------------------------------------------
def cache_dir() -> Path:
    """``$BABELGRAPH_CACHE/reference`` if set, else ``~/.cache/babelgraph/reference``."""
    root = os.environ.get("BABELGRAPH_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "babelgraph") / "reference"


def _cache_key(model: ReplacementModel, texts: Mapping[str, Sequence[str]]) -> str:
    text_hash = hashlib.sha256(json.dumps(texts, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()
    identity = {
        "version": CACHE_VERSION,
        "model": model.name,
        "dictionaries": [[d.name, d.read_hook, d.width] for d in model.dictionaries],
        "texts": text_hash,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()[:24]


def _compute(model: ReplacementModel, texts: Mapping[str, Sequence[str]], n_keep: int) -> dict[str, torch.Tensor]:
    """Per language and dictionary: activation sums, the position count, and the ``n_keep`` top positions."""
    out: dict[str, torch.Tensor] = {}
    for lang, lines in texts.items():
        per_dict: list[list[torch.Tensor]] = [[] for _ in model.dictionaries]
        where: list[tuple[int, int, int]] = []  # (line, position, token id) per kept row
        for index, tokens, start, acts in line_activations(model, lines):
            for k, a in enumerate(acts):
                per_dict[k].append(a[start:].float().cpu())
            where += [(index, pos, int(tokens[pos])) for pos in range(start, len(tokens))]
        locations = torch.tensor(where, dtype=torch.int64).reshape(-1, 3)
        out[f"{lang}.count"] = torch.tensor([len(where)], dtype=torch.int64)
        for k, d in enumerate(model.dictionaries):
            acts = torch.cat(per_dict[k]) if per_dict[k] else torch.zeros(0, d.width)
            out[f"{lang}.{k}.sum"] = acts.double().sum(dim=0)
            out[f"{lang}.{k}.n_active"] = (acts > 0).sum(dim=0).to(torch.int64)
            n = min(n_keep, acts.shape[0])
            values, rows = acts.topk(n, dim=0) if n else (torch.zeros(0, d.width), torch.zeros(0, d.width).long())
            out[f"{lang}.{k}.top_values"] = values.T.contiguous()  # [width, n]
            out[f"{lang}.{k}.top_where"] = locations[rows.T].contiguous()  # [width, n, 3]
    return out


def _statistics(model: ReplacementModel, texts: Mapping[str, Sequence[str]], n_keep: int) -> dict[str, torch.Tensor]:
    """Load the cached statistics, or compute and cache them."""
    path = cache_dir() / f"{_cache_key(model, texts)}.safetensors"
    if path.exists():
        try:
            stats = load_file(str(path))
            if int(stats["n_keep"][0]) >= n_keep:
                return stats
        except Exception:  # noqa: BLE001 - a damaged cache file is recomputed, never trusted
            pass
    stats = _compute(model, texts, n_keep)
    stats["n_keep"] = torch.tensor([n_keep], dtype=torch.int64)
    with atomic_path(path) as tmp:
        save_file(stats, str(tmp), metadata={"model": model.name, "languages": ",".join(texts)})
    return stats


def feature_statistics(
    model: ReplacementModel,
    features: Sequence[FeatureKey],
    languages: Sequence[str] = REFERENCE_LANGUAGES,
    texts: Mapping[str, Sequence[str]] | None = None,
    top_k: int = 5,
) -> dict[FeatureKey, FeatureStats]:
    """Mean activation, monolinguality and top ``(text, token)`` contexts per language for each feature.

    ``texts`` maps each language to its lines (default: the shipped reference text). The means are over all
    non-BOS token positions of that language's text.
    """
    languages = list(languages)
    if len(languages) < 2:
        raise BabelgraphError("monolinguality compares languages: give at least two")
    if top_k < 0:
        raise BabelgraphError("top_k must be at least 0")
    if texts is None:
        texts = reference_texts(languages)
    missing = [lang for lang in languages if lang not in texts]
    if missing:
        raise BabelgraphError(f"no text given for language(s) {', '.join(missing)}")
    chosen = {lang: list(texts[lang]) for lang in languages}
    for f in features:
        k, i = f
        if not 0 <= k < len(model.dictionaries) or not 0 <= i < model.dictionaries[k].width:
            raise BabelgraphError(f"feature {f} does not exist: (dictionary index, feature index) out of range")
    stats = _statistics(model, chosen, max(MIN_CACHED_CONTEXTS, 4 * top_k))
    tokenizer = model.model.tokenizer
    out: dict[FeatureKey, FeatureStats] = {}
    for k, i in features:
        means = {}
        for lang in languages:
            count = int(stats[f"{lang}.count"][0])
            means[lang] = float(stats[f"{lang}.{k}.sum"][i]) / count if count else 0.0
        share, score, top = monolinguality(means)
        active = {lang: int(stats[f"{lang}.{k}.n_active"][i]) for lang in languages}
        contexts: dict[str, list[Context]] = {}
        for lang in languages:
            seen: set[tuple[int, int]] = set()
            found: list[Context] = []
            values, where = stats[f"{lang}.{k}.top_values"][i], stats[f"{lang}.{k}.top_where"][i]
            for value, (line, pos, token) in zip(values.tolist(), where.tolist()):
                if len(found) >= top_k or value <= 0:
                    break
                if (line, token) in seen:  # one entry per (text, token) pair: its strongest position
                    continue
                seen.add((line, token))
                found.append(Context(chosen[lang][line], tokenizer.decode([token]), pos, float(value)))
            contexts[lang] = found
        enough = sum(active.values()) >= MIN_ACTIVE_POSITIONS
        out[(k, i)] = FeatureStats(means, share, score, top, active, enough, contexts)
    return out
