// dsim run explorer: draws the run embedded in #explorer-data on #ex-canvas.
// Hand-written, no framework, no network. State is exposed as window.dsimExplorer so
// that tests (and curious readers, from the console) can query what is visible.
(function () {
  "use strict";
  var root = document.getElementById("explorer");
  var data = JSON.parse(document.getElementById("explorer-data").textContent);
  var canvas = document.getElementById("ex-canvas");
  var minimap = document.getElementById("ex-minimap");
  var statusLine = document.getElementById("ex-status");
  var details = document.getElementById("ex-details");
  var ctx = canvas.getContext("2d");
  var mctx = minimap.getContext("2d");

  // ---- decode the columnar encoding -------------------------------------------------
  function sums(deltas) {
    var out = new Array(deltas.length), total = 0;
    for (var i = 0; i < deltas.length; i++) { total += deltas[i]; out[i] = total; }
    return out;
  }
  var FATES = ["delivered", "lost: link drop", "lost: partition", "lost: target down", "in flight at the end", "lost: arrival queue full"];
  var m = data.m, msgCount = m.s.length;
  var msgSent = sums(m.at);
  var msgEnd = new Array(msgCount);
  for (var i = 0; i < msgCount; i++) msgEnd[i] = m.d[i] < 0 ? data.span : msgSent[i] + m.d[i];
  var msgDup = {};
  m.dup.forEach(function (index) { msgDup[index] = true; });
  var o = data.o, opCount = o.c.length;
  var opId = sums(o.id), opStart = sums(o.at);
  var opEnd = new Array(opCount);
  for (i = 0; i < opCount; i++) opEnd[i] = o.d[i] < 0 ? data.span : opStart[i] + o.d[i];

  var clients = {};
  for (i = 0; i < opCount; i++) clients[o.c[i]] = true;

  // ---- state ----------------------------------------------------------------------------
  var full = { from: data.from, to: Math.max(data.to, data.from + 1) };
  var view = { from: full.from, to: full.to };
  var nodeOn = [], kindOn = [];
  for (i = 0; i < data.nodes; i++) nodeOn.push(true);
  for (i = 0; i < data.kinds.length; i++) kindOn.push(true);
  var selected = null; // {type: "m"|"o", index}
  var highlight = null; // the violation jumped to
  var drawn = { messages: 0, ops: 0, labels: 0 };

  var LEFT = 48, RIGHT = 12, TOP = 8, BOTTOM = 26;
  var COLORS = {
    message: "#2b6cb0", lost: "#c53030", inflight: "#888", dup: "#805ad5",
    ok: "#38a169", fail: "#dd6b20", unfinished: "#a0aec0",
    crash: "#c53030", pause: "#d69e2e", partition: "#805ad5", cut: "#b83280",
    isolate: "#4a5568", degrade: "#319795", highlight: "#d53f8c", selected: "#000"
  };

  // ---- formatting ---------------------------------------------------------------------
  function fmt(ns) {
    var a = Math.abs(ns);
    if (a >= 1e9) return (ns / 1e9).toFixed(a >= 1e10 ? 2 : 3) + " s";
    if (a >= 1e6) return (ns / 1e6).toFixed(a >= 1e7 ? 2 : 3) + " ms";
    if (a >= 1e3) return (ns / 1e3).toFixed(a >= 1e4 ? 2 : 3) + " µs";
    return Math.round(ns) + " ns";
  }

  // ---- geometry -----------------------------------------------------------------------
  function lanes() {
    var out = [];
    for (var n = 0; n < data.nodes; n++) if (nodeOn[n]) out.push(n);
    return out;
  }
  var laneIndex = [];
  var laneHeight = 24;
  function layout() {
    var shown = lanes();
    laneIndex = new Array(data.nodes);
    for (var n = 0; n < data.nodes; n++) laneIndex[n] = -1;
    shown.forEach(function (node, index) { laneIndex[node] = index; });
    // At most 600 pixels of lanes: a thousand nodes get thin lanes, not a canvas taller
    // than the browser can draw; filter nodes to see them apart.
    laneHeight = Math.min(28, 600 / Math.max(1, shown.length));
    var height = Math.ceil(TOP + BOTTOM + laneHeight * Math.max(1, shown.length));
    if (canvas.height !== height) canvas.height = height;
    return shown;
  }
  function x(t) { return LEFT + (t - view.from) / (view.to - view.from) * (canvas.width - LEFT - RIGHT); }
  function timeAt(px) { return view.from + (px - LEFT) / (canvas.width - LEFT - RIGHT) * (view.to - view.from); }
  function y(node) { return TOP + laneIndex[node] * laneHeight + laneHeight / 2; }
  function messageVisible(i) {
    return nodeOn[m.s[i]] && nodeOn[m.t[i]] && kindOn[m.k[i]] &&
      msgEnd[i] >= view.from && msgSent[i] <= view.to;
  }
  function opVisible(i) { return nodeOn[o.c[i]] && opEnd[i] >= view.from && opStart[i] <= view.to; }
  function opColor(i) {
    var word = data.outcomes[o.r[i]];
    return word === "ok" ? COLORS.ok : word === "unfinished" ? COLORS.unfinished : COLORS.fail;
  }
  // Message end point: lost messages stop half way, in-flight ones at the view's edge.
  function messageEnd(i) {
    var y0 = y(m.s[i]), y1 = y(m.t[i]);
    if (m.f[i] === 4) return [x(Math.min(view.to, data.span)), (y0 + y1) / 2];
    if (m.f[i] !== 0) return [x(msgEnd[i]), (y0 + y1) / 2];
    return [x(msgEnd[i]), y1];
  }
  function opBar(i) {
    var yy = y(o.c[i]) + laneHeight * 0.12;
    return [x(opStart[i]), yy, Math.max(2, x(opEnd[i]) - x(opStart[i])), Math.max(2, laneHeight * 0.3)];
  }

  // ---- drawing ------------------------------------------------------------------------
  function bandColor(kind) { return COLORS[kind] || "#718096"; }
  function draw() {
    var shown = layout();
    var w = canvas.width, h = canvas.height, plotBottom = h - BOTTOM;
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, w, h);
    ctx.save();
    ctx.beginPath();
    ctx.rect(LEFT, 0, w - LEFT - RIGHT, h);
    ctx.clip();
    ctx.font = "11px 'DejaVu Sans', Verdana, sans-serif";

    // Fault windows: on a lane when they name one node, across all lanes otherwise.
    data.windows.forEach(function (win) {
      if (win.end < view.from || win.start > view.to) return;
      var x0 = x(win.start), x1 = Math.max(x(win.end), x0 + 2);
      ctx.globalAlpha = 0.18;
      ctx.fillStyle = bandColor(win.kind);
      if (win.nodes.length === 1) {
        if (laneIndex[win.nodes[0]] < 0) return;
        var yy = y(win.nodes[0]);
        ctx.fillRect(x0, yy - laneHeight / 2 + 1, x1 - x0, laneHeight - 2);
        ctx.globalAlpha = 1;
        ctx.fillStyle = bandColor(win.kind);
        if (laneHeight >= 14) ctx.fillText(win.label, Math.max(x0, LEFT) + 3, yy - laneHeight / 2 + 11);
      } else {
        ctx.fillRect(x0, TOP, x1 - x0, plotBottom - TOP);
        ctx.globalAlpha = 1;
        ctx.fillStyle = bandColor(win.kind);
        ctx.fillText(win.label, Math.max(x0, LEFT) + 3, plotBottom - 4);
      }
      ctx.globalAlpha = 1;
    });

    // Lanes (unless they are too thin to tell apart).
    ctx.strokeStyle = "#bbb";
    ctx.lineWidth = 1;
    if (laneHeight >= 3) shown.forEach(function (node) {
      ctx.beginPath();
      ctx.moveTo(LEFT, y(node));
      ctx.lineTo(w - RIGHT, y(node));
      ctx.stroke();
    });

    // Fault instants (crash, restart, clock steps, ...): a tick on the node's lane.
    data.faults.forEach(function (fault) {
      if (fault.at < view.from || fault.at > view.to) return;
      var xx = x(fault.at);
      ctx.strokeStyle = bandColor(fault.word);
      ctx.lineWidth = 2;
      var onLanes = fault.nodes.filter(function (n) { return laneIndex[n] >= 0; });
      ctx.beginPath();
      if (onLanes.length === 1) {
        ctx.moveTo(xx, y(onLanes[0]) - laneHeight / 2);
        ctx.lineTo(xx, y(onLanes[0]) + laneHeight / 2);
      } else {
        ctx.moveTo(xx, TOP);
        ctx.lineTo(xx, plotBottom);
      }
      ctx.stroke();
    });

    var hl = highlight || { m: [], o: [] };
    var hlM = {}, hlO = {};
    hl.m.forEach(function (index) { hlM[index] = true; });
    hl.o.forEach(function (index) { hlO[index] = true; });

    // Operations: bars under their client's lane.
    drawn.ops = 0;
    for (var i = 0; i < opCount; i++) {
      if (!opVisible(i)) continue;
      drawn.ops++;
      var bar = opBar(i);
      ctx.fillStyle = opColor(i);
      ctx.fillRect(bar[0], bar[1], bar[2], bar[3]);
      if (hlO[i]) {
        ctx.strokeStyle = COLORS.highlight;
        ctx.lineWidth = 2;
        ctx.strokeRect(bar[0] - 1, bar[1] - 1, bar[2] + 2, bar[3] + 2);
      }
    }

    // Messages: arrows from sender to receiver, labelled when few are visible.
    drawn.messages = 0;
    var visible = [];
    for (i = 0; i < msgCount; i++) if (messageVisible(i)) visible.push(i);
    drawn.messages = visible.length;
    var label = visible.length <= 250;
    drawn.labels = label ? visible.length : 0;
    // Thousands of arrows: draw them faint, so density and fault bands still show.
    var faint = visible.length > 2000 ? 0.3 : 1;
    visible.forEach(function (i) {
      var x0 = x(msgSent[i]), y0 = y(m.s[i]);
      var end = messageEnd(i);
      var color = m.f[i] === 0 ? (msgDup[i] ? COLORS.dup : COLORS.message) :
        m.f[i] === 4 ? COLORS.inflight : COLORS.lost;
      if (hlM[i]) color = COLORS.highlight;
      ctx.strokeStyle = color;
      ctx.fillStyle = color;
      ctx.lineWidth = hlM[i] ? 2.5 : 1;
      ctx.globalAlpha = hlM[i] ? 1 : faint;
      ctx.setLineDash(m.f[i] === 0 ? (msgDup[i] ? [2, 2] : []) : [4, 3]);
      ctx.beginPath();
      ctx.moveTo(x0, y0);
      ctx.lineTo(end[0], end[1]);
      ctx.stroke();
      ctx.setLineDash([]);
      if (m.f[i] === 0) {
        var angle = Math.atan2(end[1] - y0, end[0] - x0);
        ctx.beginPath();
        ctx.moveTo(end[0], end[1]);
        ctx.lineTo(end[0] - 7 * Math.cos(angle - 0.4), end[1] - 7 * Math.sin(angle - 0.4));
        ctx.lineTo(end[0] - 7 * Math.cos(angle + 0.4), end[1] - 7 * Math.sin(angle + 0.4));
        ctx.closePath();
        ctx.fill();
      } else if (m.f[i] !== 4) {
        ctx.beginPath();
        ctx.moveTo(end[0] - 4, end[1] - 4); ctx.lineTo(end[0] + 4, end[1] + 4);
        ctx.moveTo(end[0] + 4, end[1] - 4); ctx.lineTo(end[0] - 4, end[1] + 4);
        ctx.stroke();
      }
      if (label) {
        ctx.fillText(data.kinds[m.k[i]] + (msgDup[i] ? " (copy)" : ""),
          x0 + (end[0] - x0) / 4 + 3, y0 + (end[1] - y0) / 4);
      }
    });
    ctx.globalAlpha = 1;

    // The violation jumped to: a vertical line at its time.
    if (highlight) {
      var vx = x(highlight.at);
      ctx.strokeStyle = COLORS.highlight;
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(vx, TOP);
      ctx.lineTo(vx, plotBottom);
      ctx.stroke();
      ctx.fillStyle = COLORS.highlight;
      ctx.fillText("violation: " + highlight.check, vx + 4, TOP + 10);
    }

    // The selected message or operation.
    if (selected) {
      ctx.strokeStyle = COLORS.selected;
      ctx.lineWidth = 3;
      ctx.beginPath();
      if (selected.type === "m" && messageVisible(selected.index)) {
        var e = messageEnd(selected.index);
        ctx.moveTo(x(msgSent[selected.index]), y(m.s[selected.index]));
        ctx.lineTo(e[0], e[1]);
        ctx.stroke();
      } else if (selected.type === "o" && opVisible(selected.index)) {
        var b = opBar(selected.index);
        ctx.strokeRect(b[0] - 2, b[1] - 2, b[2] + 4, b[3] + 4);
      }
    }
    ctx.restore();

    // Lane names and the time axis.
    ctx.fillStyle = "#222";
    ctx.font = "12px 'DejaVu Sans', Verdana, sans-serif";
    if (laneHeight >= 10) {
      shown.forEach(function (node) {
        ctx.fillText("n" + node + (clients[node] ? "*" : ""), 4, y(node) + 4);
      });
    }
    ctx.strokeStyle = "#444";
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(LEFT, plotBottom);
    ctx.lineTo(w - RIGHT, plotBottom);
    ctx.stroke();
    for (var tick = 0; tick <= 8; tick++) {
      var tx = LEFT + tick / 8 * (w - LEFT - RIGHT);
      ctx.beginPath();
      ctx.moveTo(tx, plotBottom);
      ctx.lineTo(tx, plotBottom + 4);
      ctx.stroke();
      var text = fmt(timeAt(tx));
      ctx.fillText(text, Math.min(tx - ctx.measureText(text).width / 2, w - ctx.measureText(text).width), plotBottom + 17);
    }
    drawMinimap();
    statusLine.textContent = "Showing " + fmt(view.from) + " – " + fmt(view.to) + " of " +
      fmt(data.span) + ": " + drawn.messages + " message" + (drawn.messages === 1 ? "" : "s") +
      ", " + drawn.ops + " operation" + (drawn.ops === 1 ? "" : "s") + " on " + shown.length +
      " node" + (shown.length === 1 ? "" : "s") + " (* marks clients)." +
      (highlight ? " Highlighted: " + highlightSummary(highlight) + " of the " + highlight.check +
        " violation at " + fmt(highlight.at) + "." : "");
  }

  // Minimap: message density over the whole embedded run, fault windows, violations,
  // and the current view as a frame.
  var minimapCounts = null;
  function drawMinimap() {
    var w = minimap.width, h = minimap.height;
    var span = full.to - full.from;
    function mx(t) { return (t - full.from) / span * w; }
    if (!minimapCounts) {
      minimapCounts = new Array(w);
      for (var c = 0; c < w; c++) minimapCounts[c] = 0;
      for (var i = 0; i < msgCount; i++) {
        var column = Math.min(w - 1, Math.max(0, Math.floor(mx(msgSent[i]))));
        minimapCounts[column]++;
      }
    }
    var top = 1;
    minimapCounts.forEach(function (count) { if (count > top) top = count; });
    mctx.fillStyle = "#f7f7f7";
    mctx.fillRect(0, 0, w, h);
    data.windows.forEach(function (win) {
      mctx.globalAlpha = 0.25;
      mctx.fillStyle = bandColor(win.kind);
      mctx.fillRect(mx(win.start), 0, Math.max(1, mx(win.end) - mx(win.start)), h);
    });
    mctx.globalAlpha = 1;
    mctx.fillStyle = COLORS.message;
    // Logarithmic heights: a burst of thousands at one instant must not flatten the rest.
    for (var col = 0; col < w; col++) {
      var bar = Math.log(1 + minimapCounts[col]) / Math.log(1 + top) * (h - 4);
      if (bar > 0) mctx.fillRect(col, h - bar, 1, bar);
    }
    mctx.fillStyle = COLORS.highlight;
    data.violations.forEach(function (v) { mctx.fillRect(mx(v.at) - 1, 0, 2, h); });
    mctx.strokeStyle = "#000";
    mctx.lineWidth = 2;
    mctx.strokeRect(mx(view.from), 1, Math.max(3, mx(view.to) - mx(view.from)), h - 2);
  }

  // ---- view changes -------------------------------------------------------------------
  var MIN_SPAN = 1000; // 1 µs
  function setView(from, to) {
    var width = Math.max(MIN_SPAN, Math.min(to - from, full.to - full.from));
    if (from < full.from) from = full.from;
    if (from + width > full.to) from = full.to - width;
    view.from = from;
    view.to = from + width;
    draw();
  }
  function zoom(factor, centre) {
    if (centre === undefined) centre = (view.from + view.to) / 2;
    var width = (view.to - view.from) * factor;
    var share = (centre - view.from) / (view.to - view.from);
    setView(centre - share * width, centre - share * width + width);
  }
  function pan(share) {
    var width = view.to - view.from;
    setView(view.from + share * width, view.to + share * width);
  }
  // What a violation's highlight shows, in words: the operations its checker named (by
  // op id, as in ops.csv) and their clients' messages, else its nodes' operations and
  // messages around its time.
  function highlightSummary(v) {
    if (v.ids.length > 0) {
      return v.o.length + " operation" + (v.o.length === 1 ? "" : "s") + " named by the checker (op " +
        v.o.map(function (i) { return opId[i]; }).join(", op ") + ") and " + v.m.length +
        " messages of their clients while they were open";
    }
    return v.m.length + " messages and " + v.o.length + " operations involving n" +
      v.nodes.join(", n") + " before the violation";
  }
  function jumpToViolation(index) {
    var v = data.violations[index || 0];
    if (!v) return false;
    highlight = v;
    setView(v.from, Math.max(v.to, v.from + MIN_SPAN));
    details.textContent = "Violation " + v.check + " at " + fmt(v.at) + " (" + v.at + " ns)\n" +
      "nodes: n" + v.nodes.join(", n") + "\n" + v.details + "\n\nHighlighted: " +
      highlightSummary(v) + "." +
      (v.ids.length > v.o.length ? " (" + (v.ids.length - v.o.length) +
        " named operation(s) fall outside the embedded window.)" : "");
    return true;
  }

  // ---- hit testing and details ----------------------------------------------------------
  function distanceToSegment(px, py, ax, ay, bx, by) {
    var dx = bx - ax, dy = by - ay, len = dx * dx + dy * dy;
    var t = len === 0 ? 0 : Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / len));
    var cx = ax + t * dx - px, cy = ay + t * dy - py;
    return Math.sqrt(cx * cx + cy * cy);
  }
  function hit(px, py) {
    for (var i = opCount - 1; i >= 0; i--) {
      if (!opVisible(i)) continue;
      var b = opBar(i);
      if (px >= b[0] - 1 && px <= b[0] + b[2] + 1 && py >= b[1] - 2 && py <= b[1] + b[3] + 2) {
        return { type: "o", index: i };
      }
    }
    var best = null, bestDistance = 5;
    for (i = 0; i < msgCount; i++) {
      if (!messageVisible(i)) continue;
      var e = messageEnd(i);
      var d = distanceToSegment(px, py, x(msgSent[i]), y(m.s[i]), e[0], e[1]);
      if (d < bestDistance) { best = { type: "m", index: i }; bestDistance = d; }
    }
    return best;
  }
  function describe(item) {
    var i = item.index, lines;
    if (item.type === "m") {
      lines = [
        "message " + data.kinds[m.k[i]] + (msgDup[i] ? " (a duplicate copy made by the network)" : ""),
        "fields: " + data.labels[m.l[i]],
        "from n" + m.s[i] + " to n" + m.t[i],
        "sent at " + fmt(msgSent[i]) + " (" + msgSent[i] + " ns)"
      ];
      if (m.f[i] === 0) {
        lines.push("received at " + fmt(msgEnd[i]) + " (" + msgEnd[i] + " ns), after " + fmt(m.d[i]));
      } else if (m.f[i] === 4) {
        lines.push("still in flight when the run ended");
      } else {
        lines.push(FATES[m.f[i]] + " at " + fmt(msgEnd[i]) + " (" + msgEnd[i] + " ns)");
      }
    } else {
      lines = [
        "operation " + opId[i] + ": " + data.opKinds[o.k[i]] + " by client n" + o.c[i] +
          " (its op " + o.n[i] + ")",
        "invoked at " + fmt(opStart[i]) + " (" + opStart[i] + " ns)",
        o.d[i] < 0 ? "not completed when the run ended" :
          "completed at " + fmt(opEnd[i]) + " (" + opEnd[i] + " ns), after " + fmt(o.d[i]),
        "outcome: " + data.outcomes[o.r[i]]
      ];
      var extra = o.extra[i] || [];
      o.extraHeader.forEach(function (name, column) {
        if (extra[column] !== undefined && extra[column] !== "") lines.push(name + ": " + extra[column]);
      });
    }
    return lines.join("\n");
  }
  function select(item) {
    selected = item;
    if (item) details.textContent = describe(item);
    draw();
    return item ? describe(item) : null;
  }

  // ---- controls ----------------------------------------------------------------------------
  function on(id, handler) { document.getElementById(id).addEventListener("click", handler); }
  on("ex-zoom-in", function () { zoom(0.5); });
  on("ex-zoom-out", function () { zoom(2); });
  on("ex-pan-left", function () { pan(-0.25); });
  on("ex-pan-right", function () { pan(0.25); });
  on("ex-reset", function () { highlight = null; setView(full.from, full.to); });
  on("ex-violation", function () { jumpToViolation(0); });

  function checkbox(parent, id, text, handler) {
    var labelElement = document.createElement("label");
    var box = document.createElement("input");
    box.type = "checkbox";
    box.checked = true;
    box.id = id;
    box.addEventListener("change", function () { handler(box.checked); draw(); });
    labelElement.appendChild(box);
    labelElement.appendChild(document.createTextNode(text));
    parent.appendChild(labelElement);
  }
  var nodeFilter = document.getElementById("ex-node-filter");
  if (data.nodes <= 64) {
    for (var n = 0; n < data.nodes; n++) {
      (function (node) {
        checkbox(nodeFilter, "ex-node-" + node, "n" + node + (clients[node] ? "*" : ""),
          function (checked) { nodeOn[node] = checked; });
      })(n);
    }
  } else {
    // Too many nodes for a row of boxes: a list of ids and ranges, e.g. "0-4 7".
    var field = document.createElement("input");
    field.id = "ex-node-list";
    field.size = 30;
    field.placeholder = "all " + data.nodes + " nodes; e.g. 0-4 7";
    field.addEventListener("change", function () {
      var wanted = field.value.trim();
      for (var k = 0; k < data.nodes; k++) nodeOn[k] = wanted === "";
      wanted.split(/[\s,]+/).forEach(function (part) {
        var range = part.split("-").map(Number);
        var lo = range[0], hi = range.length > 1 ? range[1] : range[0];
        for (var k = lo; k <= hi && k < data.nodes; k++) if (k >= 0) nodeOn[k] = true;
      });
      draw();
    });
    nodeFilter.appendChild(field);
  }
  var kindFilter = document.getElementById("ex-kind-filter");
  data.kinds.forEach(function (kind, index) {
    checkbox(kindFilter, "ex-kind-" + index, kind, function (checked) { kindOn[index] = checked; });
  });
  if (data.kinds.length === 0) kindFilter.appendChild(document.createTextNode("(no messages)"));

  // Wheel zooms around the pointer; drag pans; a click without a drag selects.
  canvas.addEventListener("wheel", function (event) {
    event.preventDefault();
    var rect = canvas.getBoundingClientRect();
    var px = (event.clientX - rect.left) * canvas.width / rect.width;
    zoom(event.deltaY > 0 ? 1.25 : 0.8, timeAt(px));
  }, { passive: false });
  var drag = null;
  function canvasPoint(event) {
    var rect = canvas.getBoundingClientRect();
    return [(event.clientX - rect.left) * canvas.width / rect.width,
      (event.clientY - rect.top) * canvas.height / rect.height];
  }
  canvas.addEventListener("mousedown", function (event) {
    drag = { start: canvasPoint(event), from: view.from, to: view.to, moved: false };
  });
  window.addEventListener("mousemove", function (event) {
    if (!drag) return;
    var p = canvasPoint(event);
    if (Math.abs(p[0] - drag.start[0]) > 3) drag.moved = true;
    if (drag.moved) {
      var shift = (p[0] - drag.start[0]) / (canvas.width - LEFT - RIGHT) * (drag.to - drag.from);
      setView(drag.from - shift, drag.to - shift);
    }
  });
  window.addEventListener("mouseup", function (event) {
    if (!drag) return;
    var wasDrag = drag.moved;
    drag = null;
    if (!wasDrag && event.target === canvas) {
      var p = canvasPoint(event);
      select(hit(p[0], p[1]));
    }
  });
  // Clicking or dragging on the minimap centres the view there.
  var minimapDrag = false;
  function minimapMove(event) {
    var rect = minimap.getBoundingClientRect();
    var t = full.from + (event.clientX - rect.left) / rect.width * (full.to - full.from);
    var width = view.to - view.from;
    setView(t - width / 2, t + width / 2);
  }
  minimap.addEventListener("mousedown", function (event) { minimapDrag = true; minimapMove(event); });
  window.addEventListener("mousemove", function (event) { if (minimapDrag) minimapMove(event); });
  window.addEventListener("mouseup", function () { minimapDrag = false; });

  // ---- what tests and the console can ask -------------------------------------------------
  window.dsimExplorer = {
    state: function () {
      return {
        from: view.from, to: view.to, span: data.span,
        embeddedFrom: full.from, embeddedTo: full.to,
        messages: msgCount, ops: opCount,
        visibleMessages: drawn.messages, visibleOps: drawn.ops, labels: drawn.labels,
        lanes: lanes(), kinds: data.kinds.filter(function (_, k) { return kindOn[k]; }),
        highlighted: highlight ? { check: highlight.check, at: highlight.at,
          messages: highlight.m.length, ops: highlight.o.length,
          opIds: highlight.o.map(function (i) { return opId[i]; }), named: highlight.ids } : null,
        selected: selected, note: data.note
      };
    },
    // Canvas pixel position (relative to the canvas' box) of an operation's bar or a
    // message's midpoint, so a test can click it like a reader.
    position: function (type, index) {
      var rect = canvas.getBoundingClientRect(), sx = rect.width / canvas.width, sy = rect.height / canvas.height;
      var p;
      if (type === "o") { var b = opBar(index); p = [b[0] + b[2] / 2, b[1] + b[3] / 2]; }
      else { var e = messageEnd(index); p = [(x(msgSent[index]) + e[0]) / 2, (y(m.s[index]) + e[1]) / 2]; }
      return { x: rect.left + p[0] * sx, y: rect.top + p[1] * sy };
    },
    zoom: zoom, pan: pan, setView: setView, jumpToViolation: jumpToViolation, select: select,
    describe: describe
  };
  draw();
  // Milliseconds from the start of navigation to the first drawing (the performance
  // note quotes it).
  window.dsimExplorer.firstDrawMs = performance.now();
  root.setAttribute("data-ready", "true");
})();
