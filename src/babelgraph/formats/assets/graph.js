// babelgraph single-graph page: a vis-network canvas built from BG_DATA (written by babelgraph.formats.html).
// Every string from the graph reaches the page as text (textContent) or as markup escaped in Python (tooltips).
(function () {
  "use strict";
  var data = BG_DATA;
  var N = data.nodes.length;
  var src = data.edges.s, dst = data.edges.t, wt = data.edges.w; // sorted by |weight|, strongest first
  var E = src.length;
  var container = document.getElementById("mynetwork");
  var shapes = {feature: "dot", error: "square", embedding: "triangle", logit: "diamond"};

  // adjacency lists (edge indices, strongest first since edges are sorted)
  var inEdges = [], outEdges = [];
  for (var i = 0; i < N; i++) { inEdges.push([]); outEdges.push([]); }
  for (var e = 0; e < E; e++) { outEdges[src[e]].push(e); inEdges[dst[e]].push(e); }

  function tipElement(markup) {
    var div = document.createElement("div");
    div.className = "bg-tip";
    div.innerHTML = markup; // built in Python, every user string html-escaped
    return div;
  }
  function baseNode(n) {
    return {
      id: n.id, label: n.label, x: n.x, y: n.y, fixed: true, physics: false, shape: shapes[n.kind],
      size: n.size, color: {background: n.color, border: n.color, highlight: {background: n.color, border: "#000"}},
      font: {size: n.kind === "feature" ? 11 : 14, vadjust: n.kind === "feature" ? 0 : 4, color: "#222"},
      title: tipElement(n.tip), hidden: false
    };
  }
  var nodes = new vis.DataSet(data.nodes.map(baseNode));
  var edges = new vis.DataSet([]);
  var maxW = E ? Math.abs(wt[0]) : 1;
  var options = {
    physics: {enabled: false},
    interaction: {hover: true, tooltipDelay: 80, hideEdgesOnDrag: true, hideEdgesOnZoom: E > 5000},
    edges: {smooth: false, arrows: {to: {scaleFactor: 0.35}}},
    nodes: {scaling: {label: {drawThreshold: 5}}},  // labels still drawn on a 6-layer graph fitted to a laptop screen
    layout: {improvedLayout: false}
  };
  var network = new vis.Network(container, {nodes: nodes, edges: edges}, options);

  var state = {threshold: data.defaultThreshold, hideErrors: false, budget: data.edgeBudget, selected: null,
               visible: [], drawn: [], upstream: [], downstream: [], fits: 0, lastFit: null};
  var prune = document.getElementById("bg-prune");
  var hideErrors = document.getElementById("bg-hide-errors");
  prune.value = Math.round(state.threshold * 100);

  function edgeItem(e, emphasis) {
    var strength = Math.abs(wt[e]) / maxW, positive = wt[e] > 0;
    var alpha = emphasis === false ? 0.06 : 0.2 + 0.8 * Math.sqrt(strength);
    var rgb = positive ? data.positive : data.negative;
    return {id: e, from: src[e], to: dst[e], width: 0.4 + 5.6 * strength,
            color: {color: "rgba(" + rgb + "," + alpha.toFixed(2) + ")", highlight: "rgba(" + rgb + ",1)"},
            title: data.nodes[src[e]].name + " \u2192 " + data.nodes[dst[e]].name + ": " + wt[e].toPrecision(4)};
  }

  // Which nodes are kept: embeddings and logits always; others when cumulative influence <= threshold (as in
  // circuit-tracer's viewer), minus error nodes when hidden.
  function keptNodes() {
    var keep = new Uint8Array(N);
    for (var i = 0; i < N; i++) {
      var n = data.nodes[i];
      var always = n.kind === "embedding" || n.kind === "logit";
      keep[i] = (always || n.cum <= state.threshold + 1e-12) && !(state.hideErrors && n.kind === "error") ? 1 : 0;
    }
    return keep;
  }

  function refresh() {
    var keep = keptNodes(), visible = [], updates = [];
    for (var i = 0; i < N; i++) {
      if (keep[i]) { visible.push(i); }
      updates.push({id: i, hidden: !keep[i]});
    }
    var drawn = [], total = 0;
    for (var e = 0; e < E; e++) {
      if (keep[src[e]] && keep[dst[e]]) {
        total += 1;
        if (drawn.length < state.budget) { drawn.push(e); }
      }
    }
    state.visible = visible; state.drawn = drawn; state.keep = keep; state.edgesAvailable = total;
    nodes.update(updates);
    edges.clear();
    edges.add(drawn.map(function (e) { return edgeItem(e); }));
    document.getElementById("bg-prune-value").textContent = state.threshold.toFixed(2);
    document.getElementById("bg-nodes-shown").textContent = visible.length;
    document.getElementById("bg-edges-shown").textContent = drawn.length;
    var note = document.getElementById("bg-edge-note");
    var more = document.getElementById("bg-more-edges");
    if (drawn.length < total) {
      note.textContent = "showing the " + drawn.length + " strongest of " + total + " edges";
      more.hidden = false;
    } else {
      note.textContent = "";
      more.hidden = true;
    }
    if (state.selected !== null && !keep[state.selected]) { select(null); } else { highlight(); }
  }

  // Upstream / downstream of the selected node along the drawn edges.
  function reach(start, forward) {
    var drawnSet = {}, seen = {}, stack = [start], out = [];
    state.drawn.forEach(function (e) { drawnSet[e] = true; });
    seen[start] = true;
    while (stack.length) {
      var v = stack.pop(), list = forward ? outEdges[v] : inEdges[v];
      for (var k = 0; k < list.length; k++) {
        var e = list[k];
        if (!drawnSet[e]) { continue; }
        var w = forward ? dst[e] : src[e];
        if (!seen[w]) { seen[w] = true; out.push(w); stack.push(w); }
      }
    }
    return out;
  }

  function highlight() {
    var sel = state.selected;
    if (sel === null) {
      state.upstream = []; state.downstream = [];
      nodes.update(data.nodes.map(function (n) {
        return {id: n.id, color: {background: n.color, border: n.color}, font: {color: "#222"}};
      }));
      edges.update(state.drawn.map(function (e) { return edgeItem(e); }));
      return;
    }
    state.upstream = reach(sel, false);
    state.downstream = reach(sel, true);
    var on = {};
    on[sel] = true;
    state.upstream.concat(state.downstream).forEach(function (v) { on[v] = true; });
    var up = {}, down = {};
    state.upstream.forEach(function (v) { up[v] = true; });
    state.downstream.forEach(function (v) { down[v] = true; });
    nodes.update(data.nodes.map(function (n) {
      var c = on[n.id] ? n.color : "#e4e4e4";
      return {id: n.id, color: {background: c, border: n.id === sel ? "#000" : c},
              font: {color: on[n.id] ? "#111" : "#bbb"}};
    }));
    edges.update(state.drawn.map(function (e) {
      // on a path: both ends upstream of (or equal to) the selection, or both downstream of (or equal to) it
      var a = src[e], b = dst[e];
      var onPath = (up[a] && (up[b] || b === sel)) || ((down[a] || a === sel) && down[b]);
      return edgeItem(e, onPath ? true : false);
    }));
  }

  function link(i, weight) {
    var li = document.createElement("li");
    var a = document.createElement("a");
    a.href = "#";
    a.className = "bg-walk";
    a.setAttribute("data-node", String(i));
    a.textContent = data.nodes[i].name;
    a.addEventListener("click", function (ev) { ev.preventDefault(); select(i, true); });
    var w = document.createElement("span");
    w.className = weight > 0 ? "bg-pos" : "bg-neg";
    w.textContent = " " + (weight > 0 ? "+" : "") + weight.toPrecision(3);
    li.appendChild(a);
    li.appendChild(w);
    return li;
  }

  function fillList(id, list, other) {
    var ul = document.getElementById(id);
    ul.textContent = "";
    var shown = 0;
    for (var k = 0; k < list.length && shown < data.panelSize; k++) {
      var e = list[k], j = other(e);
      if (!state.keep[j]) { continue; }
      ul.appendChild(link(j, wt[e]));
      shown += 1;
    }
    if (!shown) {
      var li = document.createElement("li");
      li.textContent = "none shown";
      ul.appendChild(li);
    }
  }

  function select(i, focus) {
    state.selected = i === null || i === undefined ? null : i;
    var panel = document.getElementById("bg-panel");
    if (state.selected === null) {
      panel.hidden = true;
      network.unselectAll();
      highlight();
      return;
    }
    var n = data.nodes[i];
    panel.hidden = false;
    document.getElementById("bg-panel-title").textContent = n.name;
    document.getElementById("bg-panel-details").innerHTML = n.tip; // escaped in Python
    fillList("bg-inputs", inEdges[i], function (e) { return src[e]; });
    fillList("bg-outputs", outEdges[i], function (e) { return dst[e]; });
    network.selectNodes([i]);
    highlight();
    if (focus) { network.focus(i, {scale: Math.max(network.getScale(), 0.6), animation: false}); }
  }

  network.on("click", function (params) {
    if (params.nodes.length) { select(params.nodes[0]); } else if (!params.edges.length) { select(null); }
  });
  document.getElementById("bg-panel-close").addEventListener("click", function () { select(null); });
  prune.addEventListener("input", function () { state.threshold = prune.value / 100; refresh(); });
  hideErrors.addEventListener("change", function () { state.hideErrors = hideErrors.checked; refresh(); });
  document.getElementById("bg-more-edges").addEventListener("click", function () {
    state.budget *= 4;
    refresh();
  });

  // Layer axis: a label per row, left of the graph, drawn in graph coordinates so it pans and zooms with it.
  network.on("beforeDrawing", function (ctx) {
    ctx.save();
    ctx.font = "bold 22px sans-serif";
    ctx.fillStyle = "#666";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    data.rows.forEach(function (row) {
      ctx.fillText(row.label, data.axisX, row.y);
      ctx.strokeStyle = "rgba(0,0,0,0.06)";
      ctx.beginPath();
      ctx.moveTo(data.axisX + 10, row.y + data.rowHeight / 2);
      ctx.lineTo(data.maxX + 60, row.y + data.rowHeight / 2);
      ctx.stroke();
    });
    ctx.restore();
  });

  // Fit the graph to the frame on load, on every resize, and whenever the page or frame becomes visible, so an
  // embedded frame never opens blank or cropped.
  function fit() {
    var w = container.clientWidth, h = container.clientHeight;
    if (!w || !h) { return false; }
    network.setSize(w + "px", h + "px");
    network.redraw();
    network.fit({animation: false, minZoomLevel: 0.02, maxZoomLevel: 2});
    state.fits += 1;
    state.lastFit = {width: w, height: h, scale: network.getScale()};
    return true;
  }
  var pending = null;
  function fitSoon() {
    if (pending !== null) { return; }
    pending = window.requestAnimationFrame(function () { pending = null; fit(); });
  }
  if (window.ResizeObserver) { new ResizeObserver(fitSoon).observe(container); }
  if (window.IntersectionObserver) {
    new IntersectionObserver(function (entries) {
      if (entries.some(function (en) { return en.isIntersecting; })) { fitSoon(); }
    }).observe(container);
  }
  window.addEventListener("resize", fitSoon);
  window.addEventListener("load", fitSoon);
  window.addEventListener("pageshow", fitSoon);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { fitSoon(); } });

  refresh();
  fit();
  window.network = network;
  window.nodes = nodes;
  window.edges = edges;
  window.bgView = {
    state: state, data: data, select: select, fit: fit, refresh: refresh,
    setThreshold: function (t) { state.threshold = t; prune.value = Math.round(t * 100); refresh(); }
  };
  window.bgNetwork = network;
})();
