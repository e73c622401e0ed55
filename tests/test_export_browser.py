"""The HTML export in a real headless Chromium: offline, complete, interactive, and inert against hostile prompts.

Needs the system Chromium (``.ci/run`` installs it with apt) and the ``playwright`` package (the test extra); no
``playwright install``. Where either is missing these tests fail, saying what to install: they never skip.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import babelgraph as bg
from babelgraph import AttributionGraph, Node
from babelgraph.formats import export
from babelgraph.formats.html import EDGE_BUDGET

CHROMIUM = os.environ.get("BABELGRAPH_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
try:
    from playwright import sync_api
except ImportError:  # pragma: no cover - a broken environment, reported as a failure below
    sync_api = None


@pytest.fixture(autouse=True)
def _browser_available() -> None:
    if sync_api is None or CHROMIUM is None:
        pytest.fail(
            "browser tests need Debian's chromium and playwright: apt-get install chromium; pip install -e '.[test]'"
        )


ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>"><svg onload="window.__xss=3">'


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


def open_page(browser, path: Path) -> tuple[object, list[str]]:
    """Load ``path`` with every request intercepted: file:// is served, anything else is recorded and aborted."""
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    requests: list[str] = []

    def route(request_route) -> None:
        url = request_route.request.url
        requests.append(url)
        if url.startswith("file://"):
            request_route.continue_()
        else:
            request_route.abort()

    page.route("**/*", route)
    page.goto(path.resolve().as_uri())
    page.wait_for_function("window.bgNetwork !== undefined", timeout=15000)
    return page, requests


def hover(page, node_id: int) -> str:
    """Move the mouse onto a node and return the tooltip's text ('' when none shows)."""
    point = page.evaluate(f"network.canvasToDOM(network.getPositions([{node_id}])[{node_id}])")
    box = page.locator("#mynetwork canvas").bounding_box()
    page.mouse.move(box["x"] + point["x"], box["y"] + point["y"])
    page.wait_for_timeout(400)
    return page.evaluate(
        "(() => { const t = document.querySelector('div.vis-tooltip');"
        " return t && t.style.visibility === 'visible' ? t.innerText : ''; })()"
    )


def test_chinese_demo_page_offline_complete_and_interactive(browser, tmp_path):
    model = bg.load_model("demo")
    graph = bg.prune(bg.attribute(model, '"小"的反义词是"', progress=False))
    path = export(graph, tmp_path / "zh.html")
    page, requests = open_page(browser, path)
    try:
        assert requests == [path.resolve().as_uri()]  # nothing but the file itself
        assert page.evaluate("network.body.data.nodes.length") == len(graph.nodes)
        # every edge up to the first-draw budget (strongest first); the rest one click away
        assert page.evaluate("bgView.data.edges.w.length") == graph.n_edges  # every edge is in the page
        drawn = page.evaluate("Object.keys(network.body.edges).length")
        assert drawn == min(graph.n_edges, EDGE_BUDGET)
        assert page.is_visible("#bg-more-edges") == (graph.n_edges > EDGE_BUDGET)

        feature = graph.indices("feature")[0]
        text = hover(page, feature)
        node = graph.nodes[feature]
        for expected in ("layer", "position", "feature", "activation", "influence", str(node.feature)):
            assert expected in text
        assert "<table" not in text  # rendered as markup, not shown as raw text

        assert "小" in page.inner_text("#bg-header")
        shot = tmp_path / "zh.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
        if os.environ.get("BABELGRAPH_SCREENSHOT"):
            shutil.copy(shot, os.environ["BABELGRAPH_SCREENSHOT"])

        n_errors = len(graph.indices("error"))
        page.check("#bg-hide-errors")
        assert page.evaluate("nodes.get({filter: n => n.hidden}).length") == n_errors
        page.uncheck("#bg-hide-errors")
        assert page.evaluate("nodes.get({filter: n => n.hidden}).length") == 0
    finally:
        page.close()


def test_hostile_prompt_runs_nothing(browser, tmp_path):
    nodes = [
        Node("f0", "feature", 0, 1, 1.0, XSS, feature=3, dictionary=XSS, influence=0.5),
        Node("e0", "embedding", -1, 1, 1.0, XSS, token_id=1, influence=1.0),
        Node("l0", "logit", 1, 1, 2.0, XSS, token_id=2, probability=0.9),
    ]
    adjacency = torch.zeros(3, 3)
    adjacency[0, 1], adjacency[2, 0] = 1.0, -2.0
    graph = AttributionGraph(XSS, [0, 1], ["<bos>", XSS], nodes, adjacency, {"model": {"model": XSS, "n_layers": 1}})
    page, requests = open_page(browser, export(graph, tmp_path / "xss.html"))
    try:
        assert all(url.startswith("file://") for url in requests)  # no image fetched from src=x
        assert XSS in page.inner_text("#bg-prompt")  # shown as text
        for node_id in range(3):
            assert "onerror" in hover(page, node_id)  # the tooltip shows the string...
        assert page.evaluate("typeof window.__xss") == "undefined"  # ...and runs nothing
        assert page.evaluate("document.querySelectorAll('img, svg').length") == 0
    finally:
        page.close()


# ---- tracing: panel, paths, slider, labels, fit -----------------------------------------------------------------
@pytest.fixture(scope="module")
def demo():
    from babelgraph.languages.labels import label_features

    model = bg.load_model("demo")
    # capped so the unpruned graph stays under the HTML export's edge bound (the full one has about 2.9M edges)
    unpruned = bg.attribute(model, 'The opposite of "small" is "', max_feature_nodes=600, progress=False)
    pruned = label_features(bg.prune(unpruned), model)
    return model, unpruned, pruned


def click_node(page, node_id: int) -> None:
    point = page.evaluate(f"network.canvasToDOM(network.getPositions([{node_id}])[{node_id}])")
    box = page.locator("#mynetwork canvas").bounding_box()
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    page.wait_for_timeout(150)


def top_links(graph: AttributionGraph, i: int, inputs: bool, k: int = 12) -> list[str]:
    from babelgraph.formats.common import node_label

    row = graph.adjacency[i] if inputs else graph.adjacency[:, i]
    order = sorted((j for j in range(len(graph.nodes)) if float(row[j]) != 0), key=lambda j: -abs(float(row[j])))
    return [node_label(graph.nodes[j]) for j in order[:k]]


def test_click_opens_panel_with_top_inputs_and_outputs_and_walks(browser, demo, tmp_path):
    _, _, graph = demo
    page, _ = open_page(browser, export(graph, tmp_path / "g.html"))
    try:
        assert page.locator("#bg-panel").is_hidden()
        feature = max(graph.indices("feature"), key=lambda i: graph.nodes[i].influence)  # has inputs and outputs
        click_node(page, feature)
        assert page.locator("#bg-panel").is_visible()
        assert page.inner_text("#bg-panel-title") == graph.nodes[feature].label
        inputs = page.eval_on_selector_all("#bg-inputs a", "els => els.map(e => e.textContent)")
        outputs = page.eval_on_selector_all("#bg-outputs a", "els => els.map(e => e.textContent)")
        assert inputs == top_links(graph, feature, inputs=True) and inputs
        assert outputs == top_links(graph, feature, inputs=False) and outputs
        target = int(page.get_attribute("#bg-outputs a", "data-node"))
        page.click("#bg-outputs a")  # walk downstream
        assert page.evaluate("bgView.state.selected") == target
        assert page.inner_text("#bg-panel-title") == outputs[0]
        page.click("#bg-panel-close")
        assert page.locator("#bg-panel").is_hidden() and page.evaluate("bgView.state.selected") is None
    finally:
        page.close()


def test_selection_highlights_upstream_and_downstream_paths(browser, demo, tmp_path):
    import networkx as nx

    _, unpruned, _ = demo
    # the loosest edge pruning small enough that every edge is drawn
    prunings = (bg.prune(unpruned, edge_threshold=t) for t in (0.9, 0.85, 0.8, 0.7))
    graph = next(g for g in prunings if g.n_edges <= EDGE_BUDGET)
    page, _ = open_page(browser, export(graph, tmp_path / "g.html"))
    try:
        assert graph.n_edges <= EDGE_BUDGET and page.evaluate("bgView.state.drawn.length") == graph.n_edges
        digraph = nx.DiGraph()
        digraph.add_nodes_from(range(len(graph.nodes)))
        t, s = torch.nonzero(graph.adjacency, as_tuple=True)
        digraph.add_edges_from(zip(s.tolist(), t.tolist()))
        feature = max(graph.indices("feature"), key=lambda i: graph.nodes[i].influence)
        click_node(page, feature)
        up = set(page.evaluate("bgView.state.upstream"))
        down = set(page.evaluate("bgView.state.downstream"))
        assert up == nx.ancestors(digraph, feature) and down == nx.descendants(digraph, feature)
        assert down & set(graph.indices("logit"))
        colours = page.evaluate("nodes.get().map(n => n.color.background)")
        off = set(range(len(graph.nodes))) - up - down - {feature}
        assert off and all(colours[i] == "#e4e4e4" for i in off)  # dimmed
        assert all(colours[i] != "#e4e4e4" for i in up | down | {feature})
        page.mouse.click(5, page.locator("#mynetwork canvas").bounding_box()["y"] + 5)  # empty canvas: clear
        page.wait_for_timeout(150)
        assert page.evaluate("bgView.state.selected") is None
        assert "#e4e4e4" not in page.evaluate("nodes.get().map(n => n.color.background)")
    finally:
        page.close()


def test_pruning_slider_keeps_the_most_influential_by_cumulative_influence(browser, demo, tmp_path):
    from babelgraph.formats.common import cumulative_influence, node_influences

    _, unpruned, _ = demo
    page, _ = open_page(browser, export(unpruned, tmp_path / "u.html"))
    try:
        influence = node_influences(unpruned)
        cumulative = cumulative_influence(influence)
        prunable = [i for i, n in enumerate(unpruned.nodes) if n.kind in ("feature", "error")]
        # a slider position (in hundredths) that keeps about a quarter of them
        percent = min(99, math.ceil(100 * sorted(cumulative[i] for i in prunable)[len(prunable) // 4]))
        page.fill("#bg-prune", str(percent))
        visible = set(page.evaluate("bgView.state.visible"))
        expected = {i for i in prunable if cumulative[i] <= percent / 100}
        assert {i for i in visible if i in set(prunable)} == expected and expected
        assert min(influence[i] for i in expected) >= max(influence[i] for i in set(prunable) - expected)
        assert set(unpruned.indices("embedding")) | set(unpruned.indices("logit")) <= visible  # always kept
        assert page.inner_text("#bg-prune-value") == f"{percent / 100:.2f}"
        hidden = page.evaluate("nodes.get({filter: n => n.hidden}).map(n => n.id)")
        assert set(hidden) == set(range(len(unpruned.nodes))) - visible
        page.fill("#bg-prune", "100")
        assert len(page.evaluate("bgView.state.visible")) == len(unpruned.nodes)
    finally:
        page.close()


def test_big_graph_draws_strongest_edges_first_with_a_note_and_more(browser, demo, tmp_path):
    _, unpruned, _ = demo
    page, _ = open_page(browser, export(unpruned, tmp_path / "u.html"))
    try:
        page.fill("#bg-prune", "100")
        drawn = page.evaluate("bgView.state.drawn.length")
        assert drawn < unpruned.n_edges and page.is_visible("#bg-more-edges")
        assert f"of {unpruned.n_edges}" in page.inner_text("#bg-edge-note")
        weights = page.evaluate("bgView.state.drawn.map(e => Math.abs(bgView.data.edges.w[e]))")
        rest = page.evaluate(
            "(() => { const d = new Set(bgView.state.drawn); const w = bgView.data.edges.w;"
            " let m = 0; for (let e = 0; e < w.length; e++) { if (!d.has(e)) m = Math.max(m, Math.abs(w[e])); }"
            " return m; })()"
        )
        assert min(weights) >= rest  # the strongest ones
        page.click("#bg-more-edges")
        assert page.evaluate("bgView.state.drawn.length") > drawn
    finally:
        page.close()


def test_labels_and_layer_axis_are_on_the_canvas(browser, demo, tmp_path):
    from babelgraph.languages.labels import label_features

    # a graph the page opens at a readable scale (the default-pruned demo graph, ~180 nodes, opens below the
    # label threshold: its labels show once zoomed in)
    model, unpruned, _ = demo
    graph = label_features(bg.prune(unpruned, node_threshold=0.6, edge_threshold=0.9), model)
    page, _ = open_page(browser, export(graph, tmp_path / "g.html"))
    try:
        labels = page.evaluate("nodes.get().map(n => n.label)")
        for i in graph.indices("feature"):
            node = graph.nodes[i]
            assert labels[i].startswith(f"L{node.layer} #{node.feature}") and "·" not in labels[i]
            assert labels[i].replace("\n", " · ", 1) == node.label  # the label, on two lines
        # drawn: vis-network skips labels whose on-screen font is under its drawThreshold
        scale = page.evaluate("network.getScale()")
        assert 11 * scale >= page.evaluate("network.body.nodes[0].options.scaling.label.drawThreshold")
        rows = page.evaluate("bgView.data.rows.map(r => r.label)")
        # one row per layer that has nodes, in order (a layer the pruning emptied has none)
        layers_with_nodes = sorted({n.layer for n in graph.nodes if n.kind in ("feature", "error")})
        assert rows[0] == "emb" and rows[-1] == "logits" and rows[1:-1] == [f"L{k}" for k in layers_with_nodes]
        drawn = page.evaluate(
            "(() => { const seen = []; const c = document.querySelector('#mynetwork canvas').getContext('2d');"
            " const f = c.fillText;"
            " c.fillText = function (t) { seen.push(String(t)); return f.apply(this, arguments); };"
            " network.redraw(); c.fillText = f; return seen; })()"
        )
        assert {"emb", "L0", rows[-2], "logits"} <= set(drawn)
        layers = {graph.nodes[i].layer for i in graph.indices("feature")}
        assert any(text.startswith(tuple(f"L{k} #" for k in layers)) for text in drawn)  # feature labels drawn
    finally:
        page.close()


def _in_frame(frame) -> dict:
    return frame.evaluate(
        "(() => { const c = document.querySelector('#mynetwork canvas').getBoundingClientRect();"
        " const pos = network.getPositions(bgView.state.visible); let inside = 0, n = 0;"
        " for (const id in pos) { const p = network.canvasToDOM(pos[id]); n += 1;"
        "  if (p.x >= -1 && p.y >= -1 && p.x <= c.width + 1 && p.y <= c.height + 1) inside += 1; }"
        " return {inside: inside, n: n, width: c.width, height: c.height, scale: network.getScale()}; })()"
    )


def test_frame_fits_its_graph_on_every_load_and_when_shown(browser, demo, tmp_path):
    from babelgraph.formats.common import escape
    from babelgraph.formats.html import html_page

    _, _, graph = demo
    host = tmp_path / "host.html"
    host.write_text(
        '<!DOCTYPE html><html><body><iframe id="a" style="width:700px;height:500px" sandbox="allow-scripts"'
        f' srcdoc="{escape(html_page(graph))}"></iframe>'
        '<div id="later" style="display:none"><iframe id="b" style="width:600px;height:450px" sandbox="allow-scripts"'
        f' srcdoc="{escape(html_page(graph))}"></iframe></div></body></html>',
        encoding="utf-8",
    )
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    try:
        for _ in range(10):
            page.goto(host.resolve().as_uri())
            frame = page.frame_locator("#a")
            inner = page.query_selector("#a").content_frame()
            inner.wait_for_function("window.bgView !== undefined && bgView.state.fits > 0", timeout=15000)
            box = _in_frame(inner)
            assert box["n"] == len(graph.nodes) and box["inside"] == box["n"], box
            assert box["scale"] > 0.15 and box["width"] > 300 and box["height"] > 150, box
            assert frame.locator("#mynetwork canvas").is_visible()
        hidden = page.query_selector("#b").content_frame()
        hidden.wait_for_function("window.bgView !== undefined", timeout=15000)
        page.evaluate("document.getElementById('later').style.display = 'block'")
        hidden.wait_for_function("bgView.state.lastFit && bgView.state.lastFit.width > 300", timeout=5000)
        box = _in_frame(hidden)
        assert box["inside"] == box["n"] == len(graph.nodes) and box["scale"] > 0.1, box
        page.evaluate("document.getElementById('b').style.width = '900px'")  # resized: fitted again
        hidden.wait_for_function("bgView.state.lastFit.width > 850", timeout=5000)
        assert _in_frame(hidden)["inside"] == len(graph.nodes)
    finally:
        page.close()
