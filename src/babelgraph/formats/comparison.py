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
from babelgraph.files import write_json, write_text
from babelgraph.formats import export
from babelgraph.formats.common import TAG_COLOURS, clean_float, escape, hex_colour
from babelgraph.formats.html import html_page
from babelgraph.languages.compare import Comparison
from babelgraph.languages.overlap import feature_overlap, save_overlap_plot
from babelgraph.languages.tags import TAG_MEANINGS, TAGS
from babelgraph.model.replacement import ReplacementModel


def overlap_png(model: ReplacementModel) -> tuple[bytes | None, str]:
    """The feature-overlap plot on the shipped parallel texts as PNG bytes, or ``None`` and the reason."""
    try:
        result = feature_overlap(model, per_feature=False)  # the plot only
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
    paths.append(write_text(comparison_page(comparison, overlap, overlap_note), folder / "page.html"))
    return paths


def write_features_csv(comparison: Comparison, path: Path) -> Path:
    """One row per feature: identity, tag with its reason and margin, and per language the activation, where it
    fires, its control rate and whether it is in that language's graph; then the reference monolinguality."""
    languages = comparison.languages
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    per_lang = ["activation", "fires_at", "control_rate", "in_graph"]
    writer.writerow(
        ["id", "dictionary", "layer", "feature", "tag", "languages", "reason", "margin"]
        + [f"{field}_{lang}" for lang in languages for field in per_lang]
        + ["monolinguality", "monolinguality_top", "monolinguality_enough"]
    )
    for info in sorted(comparison.features.values(), key=lambda i: (i.layer, i.key)):
        row = [info.node_id, info.dictionary, info.layer, info.feature, info.tag.tag, ",".join(info.tag.languages)]
        row += [info.tag.reason, f"{info.tag.margin:.4g}"]
        for lang in languages:
            e, rate = info.evidence[lang], info.tag.control_rates.get(lang)
            row += [f"{e.activation:.6g}", info.where(lang), "" if rate is None else f"{rate:.3g}", int(e.in_graph)]
        mono = info.monolinguality
        row += [f"{mono.score:.4g}", mono.top_language, int(mono.enough)] if mono else ["", "", ""]
        writer.writerow(row)
    return write_text(buffer.getvalue(), path)


def _tag_badge(tag: str) -> str:
    """A tag as a coloured badge, with dark text on light colours so every tag stays readable."""
    rgb = TAG_COLOURS.get(tag, (0, 0, 0))
    text = "#000" if 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] > 150 else "#fff"
    return f'<span class="bg-tag" style="background:{hex_colour(rgb)};color:{text}">{escape(tag)}</span>'


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

    head = ["tag", "languages", "margin", "layer", "feature"]
    head += [f"{lang}: where it fires" for lang in languages] + [f"{lang} controls" for lang in languages]
    head += ["monolinguality", "top contexts (reference text)"]
    rows = []
    for info in sorted(comparison.features.values(), key=lambda i: (i.layer, i.key)):
        contexts = info.top_contexts or {}
        cells = [
            f'<td title="{escape(info.tag.reason)}">{_tag_badge(info.tag.tag)}</td>',
            f"<td>{escape(','.join(info.tag.languages))}</td>",
            f'<td class="num" data-sort="{info.tag.margin!r}">{info.tag.margin:.2g}</td>',
            f'<td class="num">{info.layer}</td>',
            f'<td class="num" data-sort="{info.feature}" title="{escape(info.dictionary)}">{info.feature}</td>',
        ]
        for lang in languages:
            e = info.evidence[lang]
            strong = e.activation >= info.tag.threshold and e.activation > 0
            text = escape(info.where(lang)) + (" <b>(graph)</b>" if e.in_graph else "")
            cells.append(f'<td class="bg-ctx{" bg-strong" if strong else ""}" data-sort="{e.activation!r}">{text}</td>')
        for lang in languages:
            rate = info.tag.control_rates.get(lang)
            cells.append(
                f'<td class="num" data-sort="{rate!r}">{rate:.2f}</td>'
                if rate is not None
                else '<td class="num" data-sort="">-</td>'
            )
        mono = info.monolinguality
        if mono is None:
            cells.append('<td class="num" data-sort="">-</td>')
        else:
            flag = "" if mono.enough else " (little evidence)"
            title = ", ".join(f"{lang} {mono.active_positions.get(lang, 0)} positions" for lang in mono.share)
            cells.append(
                f'<td class="num" data-sort="{mono.score!r}" title="{escape(title)}">'
                f"{mono.score:.2f} {escape(mono.top_language)}{escape(flag)}</td>"
            )
        ctx = "".join(f"<div><b>{escape(lang)}</b> {_context_markup(c)}</div>" for lang, c in contexts.items() if c)
        cells.append(f'<td class="bg-ctx">{ctx or "-"}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    meanings = "".join(
        f"<tr><td>{_tag_badge(tag)}</td><td>{escape(meaning)}</td></tr>" for tag, meaning in TAG_MEANINGS.items()
    )
    sweep = comparison.robustness()
    sweep_rows = "".join(
        f"<tr><td>{r['active_fraction']}</td><td>{r['max_control_rate']}</td>"
        + "".join(f'<td class="num">{r[tag]}</td>' for tag in TAGS)
        + "</tr>"
        for r in sweep
    )
    by_tag = comparison.monolinguality_by_tag()
    mono_rows = "".join(
        f"<tr><td>{escape(tag)}</td><td class='num'>{v['n']}</td><td class='num'>{v['median']:.2f}</td></tr>"
        for tag, v in by_tag.items()
    )
    controls = "".join(
        f"<tr><th>{escape(lang)}</th><td>{len(c)}</td><td><code>{escape(c[0]) if c else '-'}</code> ...</td></tr>"
        for lang, c in comparison.controls.items()
    )
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
<h2>Tags</h2>
<p>Every feature in at least one language's pruned graph is tagged from its evidence, BOS excluded: its activation
on each language's prompt (active: at least the activity threshold, a fraction of its strongest activation) and
the share of that language's <b>control prompts</b> (the same wording about other concepts) on which it is
active. Concept-selective: active here, on few controls. The margin is how far the deciding statistics sit from
their thresholds (near 0: a small change of a knob flips the tag).</p>
<table>{meanings}</table>
<table><tr><th>language</th><th>control prompts</th><th>first one</th></tr>{controls}</table>
<h2>Features by layer and tag</h2>
<table><tr><th></th>{"".join(f"<th>{escape(tag)}</th>" for tag in TAGS)}</tr>{layer_rows}</table>
<h3>Do the counts depend on the thresholds?</h3>
<table><tr><th>active fraction</th><th>max control rate</th>{"".join(f"<th>{escape(t)}</th>" for t in TAGS)}</tr>
{sweep_rows}</table>
<h3>Check against reference text</h3>
<p>Median monolinguality on the reference text (0: the same mean activation in every language, 1: one language
only), features with enough evidence: language-specific tags should sit above shared ones.</p>
<table><tr><th>tag</th><th>features</th><th>median monolinguality</th></tr>{mono_rows}</table>
<h2>Per-language graphs</h2>
<div class="bg-row">{side_by_side}</div>
<h2>Comparison graph</h2>
<p>One node per feature (coloured by tag), drawn at a position where it fires; each language's embeddings,
errors and logits side by side; edge weight = mean over the languages that have the edge.</p>
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
