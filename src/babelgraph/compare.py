"""Multilingual comparison: one pruned graph per language, features aligned across them, and tagged.

A feature is identified by ``(dictionary index, feature index)``; its positions differ across languages, so
alignment ignores positions (DESIGN.md, "Multilingual tagging"). Tags, decided by :func:`tag_features`:

- ``multilingual``: in the pruned graphs of at least two languages (``languages`` lists them);
- ``language-specific``: in exactly one pruned graph, and its activation on every other language's prompt
  (max over all positions) stays below the activity threshold;
- ``mixed``: in exactly one pruned graph but active at or above the threshold on another language's prompt:
  it fires there but is not part of that language's circuit (DESIGN.md's "shared-inactive" evidence).

The activity threshold is ``active_threshold`` when given (absolute), else ``active_fraction`` (default 0.1) of
the feature's activation in its own language: "near zero" relative to how strongly the feature fires where it
matters, which works whatever the dictionaries' activation scale.

The comparison graph (:func:`comparison_graph`) has one node per feature (collapsed over positions) and each
language's error, embedding and logit nodes with ids prefixed by the language (``en:emb_3``). Each language's
edges are kept in ``metadata["edge_weights"]`` as ``{lang: [[target, source, weight], ...]}`` (weights summed over
collapsed positions); the adjacency is their mean over the languages where the edge exists. Node x positions are
laid out with the languages' token rows side by side (``token_strings`` concatenated), a feature at the mean of
its positions there, so every exported format (and Neuronpedia ids) stays unambiguous.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from tqdm.auto import tqdm

from babelgraph.attribute import attribute, tokenize, trace
from babelgraph.errors import BabelgraphError
from babelgraph.export import clean_float
from babelgraph.graph import AttributionGraph, Node, atomic_path
from babelgraph.load import ReplacementModel
from babelgraph.prune import prune

Tag = Literal["multilingual", "language-specific", "mixed"]
TAGS: tuple[Tag, ...] = ("multilingual", "language-specific", "mixed")
FeatureKey = tuple[int, int]  # (dictionary index, feature index)
DEFAULT_ACTIVE_FRACTION = 0.1
TEMPLATES = {
    "en": 'The opposite of "{}" is "',
    "fr": 'Le contraire de "{}" est "',
    "zh": '"{}"的反义词是"',
}


# ---- tagging (pure) -------------------------------------------------------------------------------------------
@dataclass
class FeatureTag:
    """A feature's tag, the languages behind it, and the activity threshold it was judged against."""

    tag: Tag
    languages: tuple[str, ...]  # multilingual: the graphs it is in; otherwise its one graph's language
    active_elsewhere: tuple[str, ...]  # other languages whose prompt activates it at or above the threshold
    threshold: float


def tag_features(
    in_graph: Mapping[str, set[FeatureKey]],
    activations: Mapping[FeatureKey, Mapping[str, float]],
    *,
    active_fraction: float = DEFAULT_ACTIVE_FRACTION,
    active_threshold: float | None = None,
) -> dict[FeatureKey, FeatureTag]:
    """Tag every feature in at least one language's pruned graph (see the module docstring for the rules).

    ``in_graph`` maps language -> features in its pruned graph; ``activations`` maps feature -> language -> max
    activation over that language's prompt (a missing language counts as 0). Language order follows ``in_graph``.
    """
    languages = list(in_graph)
    keys = sorted(set().union(*in_graph.values())) if in_graph else []
    tags: dict[FeatureKey, FeatureTag] = {}
    for key in keys:
        acts = activations.get(key, {})
        present = tuple(lang for lang in languages if key in in_graph[lang])
        own = float(acts.get(present[0], 0.0))
        threshold = float(active_threshold) if active_threshold is not None else active_fraction * abs(own)
        elsewhere = tuple(
            lang
            for lang in languages
            if lang not in present and float(acts.get(lang, 0.0)) >= threshold and float(acts.get(lang, 0.0)) > 0
        )
        if len(present) >= 2:
            tag: Tag = "multilingual"
        else:
            tag = "mixed" if elsewhere else "language-specific"
        tags[key] = FeatureTag(tag, present, elsewhere, threshold)
    return tags


# ---- the comparison -------------------------------------------------------------------------------------------
@dataclass
class FeatureInfo:
    """Everything the page and the summary show about one aligned feature."""

    dictionary_index: int
    feature: int
    dictionary: str
    layer: int
    tag: Tag
    languages: list[str]
    active_elsewhere: list[str]
    threshold: float
    activations: dict[str, float]  # language -> max activation over that language's prompt
    positions: dict[str, list[int]]  # language -> positions where it is in that language's pruned graph
    monolinguality: dict[str, float] | None = None
    top_contexts: dict[str, list[dict[str, Any]]] | None = None

    @property
    def key(self) -> FeatureKey:
        return (self.dictionary_index, self.feature)

    @property
    def node_id(self) -> str:
        return f"feat_{self.dictionary_index}_{self.feature}"

    @property
    def label(self) -> str:
        return f"L{self.layer} #{self.feature}"


@dataclass
class Comparison:
    """Per-language pruned graphs, the aligned and tagged features, and the comparison graph."""

    prompts: dict[str, str]
    graphs: dict[str, AttributionGraph]
    features: dict[FeatureKey, FeatureInfo]
    graph: AttributionGraph
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # e.g. why reference statistics are missing

    @property
    def languages(self) -> list[str]:
        return list(self.prompts)

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(TAGS, 0)
        for info in self.features.values():
            counts[info.tag] += 1
        return counts

    def counts_by_layer(self) -> dict[int, dict[str, int]]:
        """layer -> tag -> number of features, over every layer that has one."""
        table: dict[int, dict[str, int]] = {}
        for info in self.features.values():
            table.setdefault(info.layer, dict.fromkeys(TAGS, 0))[info.tag] += 1
        return dict(sorted(table.items()))

    def feature_rows(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per feature, sorted by layer then feature index."""
        rows = []
        for info in sorted(self.features.values(), key=lambda i: (i.layer, i.dictionary_index, i.feature)):
            row = asdict(info)
            row["id"] = info.node_id
            rows.append(row)
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompts": self.prompts,
            "settings": self.settings,
            "counts": self.counts(),
            "counts_by_layer": {str(k): v for k, v in self.counts_by_layer().items()},
            "features": self.feature_rows(),
            "notes": self.notes,
        }


def _validate_prompts(prompts: Mapping[str, str]) -> dict[str, str]:
    if len(prompts) < 2:
        have = ", ".join(prompts) or "none"
        raise BabelgraphError(f"a comparison needs prompts in at least two languages (got {have})")
    clean = {}
    for lang, prompt in prompts.items():
        if not isinstance(lang, str) or not re.fullmatch(r"[A-Za-z][\w-]{0,15}", lang):
            raise BabelgraphError(f"bad language code {lang!r}: use letters, digits, '-' or '_', e.g. en or pt-BR")
        if not isinstance(prompt, str) or not prompt.strip():
            raise BabelgraphError(f"the {lang} prompt is empty: give some text for {lang}")
        clean[lang] = prompt
    return clean


def compare(
    model: ReplacementModel,
    prompts: Mapping[str, str],
    *,
    node_threshold: float = 0.8,
    edge_threshold: float = 0.98,
    active_fraction: float = DEFAULT_ACTIVE_FRACTION,
    active_threshold: float | None = None,
    max_feature_nodes: int | None = None,
    statistics: bool = True,
    progress: bool = True,
) -> Comparison:
    """Attribute and prune one graph per language, align the features, tag them, build the comparison graph.

    ``prompts`` maps language codes (any, at least two) to prompts. With ``statistics`` and the reference module
    installed, each feature also gets its monolinguality and top contexts on the reference text. Each language
    is traced once more besides its attribution (cheap) to read every feature's activation at every position.
    """
    started = time.perf_counter()
    if active_fraction < 0 or (active_threshold is not None and active_threshold < 0):
        raise BabelgraphError("active_fraction and active_threshold must be at least 0")
    prompts = _validate_prompts(prompts)
    tokenized = {}
    for lang, prompt in prompts.items():  # every prompt checked before the slow part
        try:
            tokenized[lang] = tokenize(model, prompt)
        except BabelgraphError as exc:
            raise BabelgraphError(f"the {lang} prompt: {exc}") from None
    names = [d.name for d in model.dictionaries]
    graphs: dict[str, AttributionGraph] = {}
    traces = {}
    for lang in tqdm(prompts, desc="languages", unit="graph", disable=not progress):
        tokens, has_bos = tokenized[lang]
        traces[lang] = trace(model, tokens, has_bos)
        graph = attribute(model, prompts[lang], max_feature_nodes=max_feature_nodes, progress=False)
        graphs[lang] = prune(graph, node_threshold=node_threshold, edge_threshold=edge_threshold)
        graphs[lang].metadata["language"] = lang

    positions = {lang: _feature_positions(g, names) for lang, g in graphs.items()}
    in_graph = {lang: set(found) for lang, found in positions.items()}
    keys = sorted(set().union(*in_graph.values()))
    activations = {
        key: {lang: float(traces[lang].activations[key[0]][:, key[1]].max()) for lang in prompts} for key in keys
    }
    tags = tag_features(in_graph, activations, active_fraction=active_fraction, active_threshold=active_threshold)
    features: dict[FeatureKey, FeatureInfo] = {}
    for key in keys:
        t = tags[key]
        features[key] = FeatureInfo(
            dictionary_index=key[0],
            feature=key[1],
            dictionary=names[key[0]],
            layer=int(model.dictionaries[key[0]].layer),
            tag=t.tag,
            languages=list(t.languages),
            active_elsewhere=list(t.active_elsewhere),
            threshold=t.threshold,
            activations=activations[key],
            positions={lang: positions[lang][key] for lang in prompts if key in positions[lang]},
        )
    notes = _add_statistics(model, features, list(prompts)) if statistics and features else []
    settings = {
        "node_threshold": node_threshold,
        "edge_threshold": edge_threshold,
        "active_fraction": active_fraction,
        "active_threshold": active_threshold,
        "max_feature_nodes": max_feature_nodes,
    }
    comparison = Comparison(prompts, graphs, features, comparison_graph(graphs, features), settings, notes)
    comparison.settings["seconds"] = time.perf_counter() - started
    return comparison


def _add_statistics(
    model: ReplacementModel, features: dict[FeatureKey, FeatureInfo], languages: list[str]
) -> list[str]:
    """Monolinguality and top contexts from the reference module when it is installed; a note when not."""
    try:
        from babelgraph.reference import feature_statistics
    except ImportError:
        return ["reference statistics unavailable: babelgraph.reference is not installed"]
    notes: list[str] = []
    try:
        stats = feature_statistics(model, list(features), languages=tuple(languages))
    except (BabelgraphError, KeyError, ValueError) as exc:  # e.g. no reference text for a language: use the rest
        known = [lang for lang in languages if lang in ("en", "fr", "zh")]
        if len(known) < 2 or len(known) == len(languages):
            return [f"reference statistics unavailable: {exc}"]
        try:
            stats = feature_statistics(model, list(features), languages=tuple(known))
        except (BabelgraphError, KeyError, ValueError) as again:
            return [f"reference statistics unavailable: {again}"]
        notes.append(f"reference statistics for {', '.join(known)} only: {exc}")
    for key, info in features.items():
        s = stats.get(key)
        if s is None:
            continue
        info.monolinguality = {k: float(v) for k, v in s.monolinguality.items()}
        info.top_contexts = {
            lang: [
                {"text": c.text, "token": c.token, "position": int(c.position), "activation": float(c.activation)}
                for c in contexts
            ]
            for lang, contexts in s.top_contexts.items()
        }
    return notes


def _dictionary_indices(graph: AttributionGraph) -> dict[str, int]:
    """Dictionary name -> index: from the model description in the metadata, else the feature node ids."""
    described = (graph.metadata.get("model") or {}).get("dictionaries") or []
    if described:
        return {d["name"]: i for i, d in enumerate(described)}
    indices: dict[str, int] = {}
    for node in graph.nodes:
        match = re.fullmatch(r"feat_(\d+)_\d+_\d+", node.id)
        if node.kind == "feature" and match and node.dictionary is not None:
            indices.setdefault(node.dictionary, int(match.group(1)))
    return indices


def _node_keys(graph: AttributionGraph, names: Sequence[str] | None = None) -> list[FeatureKey | None]:
    """Per node: its (dictionary index, feature) if it is a feature node, else ``None``."""
    index = {name: i for i, name in enumerate(names)} if names is not None else _dictionary_indices(graph)
    keys: list[FeatureKey | None] = []
    for node in graph.nodes:
        if node.kind != "feature" or node.feature is None:
            keys.append(None)
        elif node.dictionary not in index:
            raise BabelgraphError(f"feature node {node.id!r} names an unknown dictionary {node.dictionary!r}")
        else:
            keys.append((index[node.dictionary], int(node.feature)))
    return keys


def _feature_positions(graph: AttributionGraph, names: Sequence[str] | None = None) -> dict[FeatureKey, list[int]]:
    """(dictionary index, feature) -> sorted positions of that feature's nodes in ``graph``."""
    found: dict[FeatureKey, list[int]] = {}
    for node, key in zip(graph.nodes, _node_keys(graph, names)):
        if key is not None:
            found.setdefault(key, []).append(node.position)
    return {key: sorted(p) for key, p in found.items()}


# ---- the comparison graph -------------------------------------------------------------------------------------
def comparison_graph(
    graphs: Mapping[str, AttributionGraph], features: Mapping[FeatureKey, FeatureInfo] | None = None
) -> AttributionGraph:
    """One graph over every language: features collapsed over positions, other nodes kept per language.

    Without ``features`` (e.g. hand-built graphs) they are derived from the graphs alone: a feature's activation
    in a language is the max over its nodes there, 0 where it is not in that graph.
    """
    languages = list(graphs)
    if len(languages) < 2:
        raise BabelgraphError("a comparison graph needs graphs in at least two languages")
    node_keys = {lang: _node_keys(g) for lang, g in graphs.items()}
    if features is None:
        features = _features_from_graphs(graphs, node_keys)
    offsets: dict[str, int] = {}
    tokens: list[int] = []
    strings: list[str] = []
    for lang, g in graphs.items():
        offsets[lang] = len(strings)
        tokens += list(g.tokens)
        strings += [f"{lang}:{s}" for s in g.token_strings]
    influences: dict[FeatureKey, float] = {}
    for lang, g in graphs.items():
        for node, key in zip(g.nodes, node_keys[lang]):
            if key is not None and node.influence is not None:
                influences[key] = max(influences.get(key, node.influence), node.influence)

    nodes: list[Node] = []
    node_index: dict[str, int] = {}
    meta_features: dict[str, dict[str, Any]] = {}
    for info in sorted(features.values(), key=lambda i: (i.layer, i.key)):
        spots = [offsets[lang] + p for lang, ps in info.positions.items() for p in ps]
        first_tokens = [f"{lang}:{graphs[lang].token_strings[ps[0]]}" for lang, ps in info.positions.items() if ps]
        node_index[info.node_id] = len(nodes)
        nodes.append(
            Node(
                id=info.node_id,
                kind="feature",
                layer=info.layer,
                position=round(sum(spots) / len(spots)) if spots else 0,
                activation=max(info.activations.values(), default=0.0),
                token=" | ".join(first_tokens),
                feature=info.feature,
                dictionary=info.dictionary,
                influence=influences.get(info.key),
            )
        )
        meta_features[info.node_id] = {
            "tag": info.tag,
            "languages": list(info.languages),
            "active_elsewhere": list(info.active_elsewhere),
            "activations": dict(info.activations),
            "positions": {lang: list(p) for lang, p in info.positions.items()},
            "monolinguality": info.monolinguality,
            "top_contexts": info.top_contexts,
            "threshold": info.threshold,
        }
    node_language: dict[str, str] = {}
    for kind in ("error", "embedding", "logit"):
        for lang, g in graphs.items():
            for node in g.nodes:
                if node.kind == kind:
                    new_id = f"{lang}:{node.id}"
                    node_index[new_id] = len(nodes)
                    node_language[new_id] = lang
                    nodes.append(Node(**{**node.to_dict(), "id": new_id, "position": offsets[lang] + node.position}))

    n = len(nodes)
    total = torch.zeros(n, n, dtype=torch.float64)
    count = torch.zeros(n, n, dtype=torch.float64)
    edge_weights: dict[str, list[list[float]]] = {}
    for lang, g in graphs.items():
        ids = [
            f"feat_{key[0]}_{key[1]}" if key is not None else f"{lang}:{node.id}"
            for node, key in zip(g.nodes, node_keys[lang])
        ]
        mapping = torch.tensor([node_index[i] for i in ids], dtype=torch.long)
        adjacency = g.adjacency.detach().to("cpu", torch.float64)
        targets, sources = torch.nonzero(adjacency, as_tuple=True)
        weights = torch.zeros(n * n, dtype=torch.float64)
        weights.index_add_(0, mapping[targets] * n + mapping[sources], adjacency[targets, sources])
        weights = weights.view(n, n)
        weights.fill_diagonal_(0.0)  # a feature feeding itself at a later position is no edge between nodes
        present = weights != 0
        total += weights
        count += present
        t_idx, s_idx = torch.nonzero(present, as_tuple=True)
        values = weights[t_idx, s_idx].tolist()
        edge_weights[lang] = [[t, s, w] for t, s, w in zip(t_idx.tolist(), s_idx.tolist(), values)]
    metadata = {
        "model": graphs[languages[0]].metadata.get("model"),
        "pruned": True,
        "comparison": {
            "languages": languages,
            "prompts": {lang: g.prompt for lang, g in graphs.items()},
            "offsets": offsets,
        },
        "features": meta_features,
        "node_language": node_language,
        "edge_weights": edge_weights,
    }
    prompt = " | ".join(f"{lang}: {g.prompt}" for lang, g in graphs.items())
    adjacency = (total / count.clamp_min(1.0)).float()
    return AttributionGraph(prompt, tokens, strings, nodes, adjacency, metadata)


def _features_from_graphs(
    graphs: Mapping[str, AttributionGraph], node_keys: Mapping[str, list[FeatureKey | None]]
) -> dict[FeatureKey, FeatureInfo]:
    """Feature infos from graphs alone (activation: max over a language's nodes of the feature, else 0)."""
    described: dict[int, tuple[str, int]] = {}
    activations: dict[FeatureKey, dict[str, float]] = {}
    positions: dict[str, dict[FeatureKey, list[int]]] = {lang: {} for lang in graphs}
    for lang, g in graphs.items():
        for node, key in zip(g.nodes, node_keys[lang]):
            if key is None:
                continue
            described[key[0]] = (node.dictionary or "", node.layer)
            acts = activations.setdefault(key, dict.fromkeys(graphs, 0.0))
            acts[lang] = max(acts[lang], float(node.activation))
            positions[lang].setdefault(key, []).append(node.position)
    tags = tag_features({lang: set(p) for lang, p in positions.items()}, activations)
    return {
        key: FeatureInfo(
            dictionary_index=key[0],
            feature=key[1],
            dictionary=described[key[0]][0],
            layer=described[key[0]][1],
            tag=t.tag,
            languages=list(t.languages),
            active_elsewhere=list(t.active_elsewhere),
            threshold=t.threshold,
            activations=activations[key],
            positions={lang: sorted(positions[lang][key]) for lang in graphs if key in positions[lang]},
        )
        for key, t in tags.items()
    }


# ---- files ----------------------------------------------------------------------------------------------------
def write_json(data: Any, path: Path) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1, allow_nan=False), encoding="utf-8")
    return path


def overlap_png(model: ReplacementModel) -> tuple[bytes | None, str]:
    """The feature-overlap plot on the shipped parallel texts as PNG bytes, or ``None`` and the reason."""
    try:
        from babelgraph.overlap import feature_overlap, save_overlap_plot
    except ImportError:
        return None, "babelgraph.overlap is not installed"
    try:
        result = feature_overlap(model)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "overlap.png"
            save_overlap_plot(result, path)
            return path.read_bytes(), ""
    except (BabelgraphError, OSError, TypeError, ValueError) as exc:
        return None, f"overlap plot failed: {exc}"


def save_comparison(
    comparison: Comparison,
    folder: str | Path,
    formats: Sequence[str] = ("html", "graphml", "gexf", "json"),
    overlap: bytes | None = None,
    overlap_note: str = "",
) -> list[Path]:
    """Per-language graphs, the comparison graph (``.safetensors`` and each format), ``features.json``,
    ``features.csv`` and ``page.html`` (written last: its presence marks the folder complete)."""
    from babelgraph.export import export

    folder = Path(folder)
    paths = [g.save(folder / f"{lang}.safetensors") for lang, g in comparison.graphs.items()]
    paths.append(comparison.graph.save(folder / "comparison.safetensors"))
    paths += [export(comparison.graph, folder / f"comparison.{fmt}", fmt) for fmt in formats]
    paths.append(write_json(comparison.to_dict(), folder / "features.json"))
    paths.append(write_features_csv(comparison, folder / "features.csv"))
    page = comparison_page(comparison, overlap, overlap_note)
    with atomic_path(folder / "page.html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    paths.append(folder / "page.html")
    return paths


def write_features_csv(comparison: Comparison, path: Path) -> Path:
    languages = comparison.languages
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        ["id", "dictionary", "layer", "feature", "tag", "languages"]
        + [f"activation_{lang}" for lang in languages]
        + [f"monolinguality_{lang}" for lang in languages]
    )
    for row in comparison.feature_rows():
        mono = row["monolinguality"] or {}
        writer.writerow(
            [row["id"], row["dictionary"], row["layer"], row["feature"], row["tag"], ",".join(row["languages"])]
            + [f"{row['activations'].get(lang, 0.0):.6g}" for lang in languages]
            + [f"{mono[lang]:.6g}" if lang in mono else "" for lang in languages]
        )
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue(), encoding="utf-8")
    return path


# ---- the comparison page --------------------------------------------------------------------------------------
_PAGE_STYLE = """
<style>
  body { font-family: "Noto Sans", "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif; margin: 12px; }
  h1 { font-size: 20px; } h2 { font-size: 17px; margin-top: 24px; }
  code { background: #f3f3f3; padding: 1px 4px; white-space: pre-wrap; }
  .bg-row { display: flex; gap: 8px; }
  .bg-row figure { flex: 1; margin: 0; min-width: 0; }
  .bg-row figcaption { font-weight: bold; }
  iframe { width: 100%; height: 1080px; border: 1px solid #ccc; }
  iframe.bg-wide { height: 1100px; }
  table { border-collapse: collapse; font-size: 13px; }
  th, td { border: 1px solid #ddd; padding: 2px 6px; vertical-align: top; }
  #bg-features th { cursor: pointer; background: #f6f6f6; position: sticky; top: 0; }
  #bg-features th:after { content: " \\2195"; color: #aaa; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .bg-tag { border-radius: 3px; padding: 0 4px; color: white; white-space: nowrap; }
  .bg-ctx { font-size: 12px; color: #333; max-width: 420px; }
  .bg-ctx mark { background: #ffe08a; }
  img.bg-plot { max-width: 900px; width: 100%; }
</style>
"""

_SORT_SCRIPT = """
<script>
(function () {
  // Click a header to sort by it; click again to reverse. Cells sort by data-sort when numeric, else by text.
  var table = document.getElementById("bg-features");
  var body = table.tBodies[0];
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
    th.addEventListener("click", function () {
      var ascending = th.getAttribute("data-order") !== "asc";
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute("data-order"); });
      th.setAttribute("data-order", ascending ? "asc" : "desc");
      function key(row) {
        var cell = row.cells[column], raw = cell.getAttribute("data-sort");
        var text = raw === null ? cell.textContent : raw, number = parseFloat(text);
        return isNaN(number) || !/^\\s*-?[0-9.]/.test(text) ? {n: false, v: text.toLowerCase()} : {n: true, v: number};
      }
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = key(a), y = key(b), order;
        if (x.n && y.n) { order = x.v - y.v; } else if (x.n !== y.n) { order = x.n ? -1 : 1; }
        else { order = x.v < y.v ? -1 : x.v > y.v ? 1 : 0; }
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
})();
</script>
"""


def _embedded(page: str, title: str, wide: bool = False) -> str:
    """A full page inside an ``iframe srcdoc``: escaped once, so its markup cannot leak into ours."""
    from babelgraph.export import _e

    css = ' class="bg-wide"' if wide else ""
    return f'<iframe{css} title="{_e(title)}" sandbox="allow-scripts" srcdoc="{_e(page)}"></iframe>'


def _context_markup(contexts: list[dict[str, Any]]) -> str:
    from babelgraph.export import _e

    items = []
    for c in contexts[:3]:
        items.append(
            f"<mark>{_e(c.get('token', ''))}</mark> {clean_float(c.get('activation')):.3g}: {_e(c.get('text', ''))}"
        )
    return "<br>".join(items)


def comparison_page(comparison: Comparison, overlap: bytes | None = None, overlap_note: str = "") -> str:
    """The comparison as one offline HTML page: graphs side by side, comparison graph, overlap plot, feature table.

    Each graph is a full pyvis page embedded with ``iframe srcdoc`` (escaped), so the page needs no other file.
    """
    from babelgraph.export import TAG_COLOURS, _e, _hex, html_page

    languages = comparison.languages
    prompts = "".join(
        f"<tr><th>{_e(lang)}</th><td><code>{_e(prompt)}</code></td>"
        f"<td>{_e(', '.join(repr(n.token) for n in comparison.graphs[lang].logit_nodes[:3]))}</td></tr>"
        for lang, prompt in comparison.prompts.items()
    )
    by_layer = comparison.counts_by_layer()
    layer_rows = "".join(
        f"<tr><th>L{layer}</th>" + "".join(f'<td class="num">{counts[tag]}</td>' for tag in TAGS) + "</tr>"
        for layer, counts in by_layer.items()
    )
    totals = comparison.counts()
    layer_rows += "<tr><th>all</th>" + "".join(f'<td class="num">{totals[tag]}</td>' for tag in TAGS) + "</tr>"
    side_by_side = "".join(
        f"<figure><figcaption>{_e(lang)}</figcaption>{_embedded(html_page(g), f'{lang} graph')}</figure>"
        for lang, g in comparison.graphs.items()
    )
    if overlap is not None:
        overlap_markup = f'<img class="bg-plot" alt="feature overlap by layer" src="{png_data_uri(overlap)}">'
    else:
        overlap_markup = f"<p>Not shown: {_e(overlap_note or 'no overlap plot was computed')}.</p>"

    head = ["tag", "languages", "layer", "feature"]
    head += [f"act {lang}" for lang in languages] + [f"mono {lang}" for lang in languages] + ["top contexts"]
    rows = []
    for info in sorted(comparison.features.values(), key=lambda i: (i.layer, i.key)):
        colour = _hex(TAG_COLOURS[info.tag])
        mono = info.monolinguality or {}
        contexts = info.top_contexts or {}
        cells = [
            f'<td><span class="bg-tag" style="background:{colour}">{_e(info.tag)}</span></td>',
            f"<td>{_e(','.join(info.languages))}</td>",
            f'<td class="num">{info.layer}</td>',
            f'<td class="num" data-sort="{info.feature}" title="{_e(info.dictionary)}">{info.feature}</td>',
        ]
        for lang in languages:
            value = clean_float(info.activations.get(lang))
            strong = value >= info.threshold and value > 0
            text = f"<b>{value:.3g}</b>" if strong else f"{value:.3g}"
            cells.append(f'<td class="num" data-sort="{value!r}">{text}</td>')
        for lang in languages:
            cells.append(
                f'<td class="num" data-sort="{clean_float(mono[lang])!r}">{clean_float(mono[lang]):.3g}</td>'
                if lang in mono
                else '<td class="num" data-sort="">-</td>'
            )
        ctx = "".join(f"<div><b>{_e(lang)}</b> {_context_markup(c)}</div>" for lang, c in contexts.items() if c)
        cells.append(f'<td class="bg-ctx">{ctx or "-"}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    notes = "".join(f"<p><i>{_e(note)}</i></p>" for note in comparison.notes)
    settings = ", ".join(
        f"{_e(k)} = {_e(v)}" for k, v in comparison.settings.items() if k != "seconds" and v is not None
    )
    title = " / ".join(comparison.prompts.values())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>babelgraph comparison: {_e(title)}</title>{_PAGE_STYLE}</head>
<body>
<h1>babelgraph: comparing {_e(", ".join(languages))}</h1>
<table><tr><th>language</th><th>prompt</th><th>top logits</th></tr>{prompts}</table>
<p>{settings}</p>
<p><b>multilingual</b>: in the pruned graphs of at least two languages; <b>language-specific</b>: in one graph and
below the activity threshold on every other prompt; <b>mixed</b>: in one graph but active on another language's
prompt. Activations are the max over the prompt's positions; bold ones are at or above the threshold.</p>
<h2>Features by layer and tag</h2>
<table><tr><th></th>{"".join(f"<th>{_e(tag)}</th>" for tag in TAGS)}</tr>{layer_rows}</table>
<h2>Per-language graphs</h2>
<div class="bg-row">{side_by_side}</div>
<h2>Comparison graph</h2>
<p>One node per feature (collapsed over positions, coloured by tag); each language's embeddings, errors and
logits side by side; edge weight = mean over the languages that have the edge.</p>
{_embedded(html_page(comparison.graph), "comparison graph", wide=True)}
<h2>Feature overlap by layer</h2>
{overlap_markup}
<h2>Features</h2>
{notes}
<table id="bg-features"><thead><tr>{"".join(f"<th>{_e(h)}</th>" for h in head)}</tr></thead>
<tbody>{"".join(rows)}</tbody></table>
{_SORT_SCRIPT}
</body></html>
"""


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
