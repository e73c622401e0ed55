"""The HTML export in a real headless Chromium: offline, complete, interactive, and inert against hostile prompts.

Needs the system Chromium (``.ci/run`` installs it with apt) and the ``playwright`` package (the test extra); no
``playwright install``. Where either is missing these tests fail, saying what to install: they never skip.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import babelgraph as bg
from babelgraph import AttributionGraph, Node
from babelgraph.formats import export

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
        assert page.evaluate("Object.keys(network.body.edges).length") == graph.n_edges

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
        page.fill("#bg-min-weight", "1000")  # threshold = max |weight|: only the strongest edge(s) stay
        shown = page.evaluate("edges.get({filter: e => !e.hidden}).length")
        assert 1 <= shown < graph.n_edges
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
