"""A comparison on disk: per-language graphs, the comparison graph in every format, features.json/.csv, and one
offline page (graphs side by side, comparison graph, overlap plot, sortable feature table)."""

from __future__ import annotations

import base64
import csv
import io
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from babelgraph.errors import BabelgraphError
from babelgraph.files import atomic_path, write_json
from babelgraph.formats import export
from babelgraph.formats.common import TAG_COLOURS, clean_float, escape, hex_colour
from babelgraph.formats.html import html_page
from babelgraph.languages.compare import Comparison
from babelgraph.languages.overlap import feature_overlap, save_overlap_plot
from babelgraph.languages.tags import TAGS
from babelgraph.model.replacement import ReplacementModel


def overlap_png(model: ReplacementModel) -> tuple[bytes | None, str]:
    """The feature-overlap plot on the shipped parallel texts as PNG bytes, or ``None`` and the reason."""
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
def _asset(name: str) -> str:
    """A page asset shipped beside this module (CSS or JavaScript), read as text to inline into the page."""
    return resources.files("babelgraph.formats").joinpath("assets", name).read_text(encoding="utf-8")


def _embedded(page: str, title: str, wide: bool = False) -> str:
    """A full page inside an ``iframe srcdoc``: escaped once, so its markup cannot leak into ours."""
    css = ' class="bg-wide"' if wide else ""
    return f'<iframe{css} title="{escape(title)}" sandbox="allow-scripts" srcdoc="{escape(page)}"></iframe>'


def _context_markup(contexts: list[dict[str, Any]]) -> str:
    items = []
    for c in contexts[:3]:
        token, text = escape(c.get("token", "")), escape(c.get("text", ""))
        items.append(f"<mark>{token}</mark> {clean_float(c.get('activation')):.3g}: {text}")
    return "<br>".join(items)


def comparison_page(comparison: Comparison, overlap: bytes | None = None, overlap_note: str = "") -> str:
    """The comparison as one offline HTML page: graphs side by side, comparison graph, overlap plot, feature table.

    Each graph is a full pyvis page embedded with ``iframe srcdoc`` (escaped), so the page needs no other file.
    """
    languages = comparison.languages
    prompts = "".join(
        f"<tr><th>{escape(lang)}</th><td><code>{escape(prompt)}</code></td>"
        f"<td>{escape(', '.join(repr(n.token) for n in comparison.graphs[lang].logit_nodes[:3]))}</td></tr>"
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
        f"<figure><figcaption>{escape(lang)}</figcaption>{_embedded(html_page(g), f'{lang} graph')}</figure>"
        for lang, g in comparison.graphs.items()
    )
    if overlap is not None:
        overlap_markup = f'<img class="bg-plot" alt="feature overlap by layer" src="{png_data_uri(overlap)}">'
    else:
        overlap_markup = f"<p>Not shown: {escape(overlap_note or 'no overlap plot was computed')}.</p>"

    head = ["tag", "languages", "layer", "feature"]
    head += [f"act {lang}" for lang in languages] + [f"mono {lang}" for lang in languages] + ["top contexts"]
    rows = []
    for info in sorted(comparison.features.values(), key=lambda i: (i.layer, i.key)):
        colour = hex_colour(TAG_COLOURS[info.tag])
        mono = info.monolinguality or {}
        contexts = info.top_contexts or {}
        cells = [
            f'<td><span class="bg-tag" style="background:{colour}">{escape(info.tag)}</span></td>',
            f"<td>{escape(','.join(info.languages))}</td>",
            f'<td class="num">{info.layer}</td>',
            f'<td class="num" data-sort="{info.feature}" title="{escape(info.dictionary)}">{info.feature}</td>',
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
        ctx = "".join(f"<div><b>{escape(lang)}</b> {_context_markup(c)}</div>" for lang, c in contexts.items() if c)
        cells.append(f'<td class="bg-ctx">{ctx or "-"}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    notes = "".join(f"<p><i>{escape(note)}</i></p>" for note in comparison.notes)
    settings = ", ".join(
        f"{escape(k)} = {escape(v)}" for k, v in comparison.settings.items() if k != "seconds" and v is not None
    )
    title = " / ".join(comparison.prompts.values())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>babelgraph comparison: {escape(title)}</title><style>
{_asset("comparison.css")}</style></head>
<body>
<h1>babelgraph: comparing {escape(", ".join(languages))}</h1>
<table><tr><th>language</th><th>prompt</th><th>top logits</th></tr>{prompts}</table>
<p>{settings}</p>
<p><b>multilingual</b>: in the pruned graphs of at least two languages; <b>language-specific</b>: in one graph and
below the activity threshold on every other prompt; <b>mixed</b>: in one graph but active on another language's
prompt. Activations are the max over the prompt's positions; bold ones are at or above the threshold.</p>
<h2>Features by layer and tag</h2>
<table><tr><th></th>{"".join(f"<th>{escape(tag)}</th>" for tag in TAGS)}</tr>{layer_rows}</table>
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
<table id="bg-features"><thead><tr>{"".join(f"<th>{escape(h)}</th>" for h in head)}</tr></thead>
<tbody>{"".join(rows)}</tbody></table>
<script>
{_asset("comparison.js")}</script>
</body></html>
"""


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
