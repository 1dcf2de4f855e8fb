// Strategy pages: the run page's equity, drawdown and price charts (trades marked), drawn on canvases from the
// page's JSON (#strategy-chart-data); two runs' equity on the compare page (#strategy-compare-data); live progress
// from /ws/strategies/runs/<id>/ while a run is queued or running (the page reloads when it ends); the backtest form,
// which posts to /api/v1/strategy-runs/ with the CSRF token, and the runs list's compare button.
(function () {
  "use strict";

  const COLORS = ["#3f8fd6", "#e08a2c", "#b36ad9", "#1a9850"];
  const BUY = "#1a9850";
  const SELL = "#d73027";

  function cssVar(name, fallback) {
    const value = window.getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function prepare(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || canvas.width;
    const height = canvas.clientHeight || canvas.height;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.fillStyle = cssVar("--panel", "#ffffff");
    ctx.fillRect(0, 0, width, height);
    ctx.font = "11px sans-serif";
    return { ctx: ctx, width: width, height: height, left: 70, right: width - 12, top: 10, bottom: height - 24 };
  }

  function dateLabel(ms) {
    return new Date(ms).toISOString().slice(0, 16).replace("T", " ");
  }

  // Lines (and markers) over a shared time axis; yLabel formats the vertical axis.
  function draw(canvas, lines, markers, yLabel) {
    const box = prepare(canvas);
    const ctx = box.ctx;
    const xs = [], ys = [];
    lines.forEach(function (line) { line.points.forEach(function (p) { xs.push(p[0]); ys.push(p[1]); }); });
    (markers || []).forEach(function (m) { xs.push(m.x); ys.push(m.y); });
    if (!xs.length) { canvas.dataset.state = "empty"; return; }
    let x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs);
    let y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
    if (x1 === x0) x1 = x0 + 1;
    if (y1 === y0) { y1 += Math.abs(y1) * 0.01 || 1; y0 -= Math.abs(y0) * 0.01 || 1; }
    const pad = (y1 - y0) * 0.05;
    y0 -= pad; y1 += pad;
    const x = function (v) { return box.left + (v - x0) / (x1 - x0) * (box.right - box.left); };
    const y = function (v) { return box.bottom - (v - y0) / (y1 - y0) * (box.bottom - box.top); };
    ctx.strokeStyle = "rgba(128,128,128,0.22)";
    ctx.fillStyle = cssVar("--muted", "#888");
    for (let i = 0; i <= 4; i++) {
      const v = y0 + (y1 - y0) * i / 4;
      const py = Math.round(y(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(box.left, py); ctx.lineTo(box.right, py); ctx.stroke();
      ctx.textAlign = "right"; ctx.fillText(yLabel(v), box.left - 6, py + 4);
    }
    ctx.textAlign = "left"; ctx.fillText(dateLabel(x0), box.left, box.bottom + 16);
    ctx.textAlign = "right"; ctx.fillText(dateLabel(x1), box.right, box.bottom + 16);
    lines.forEach(function (line, i) {
      ctx.strokeStyle = line.color || COLORS[i % COLORS.length];
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      line.points.forEach(function (p, k) { if (k === 0) ctx.moveTo(x(p[0]), y(p[1])); else ctx.lineTo(x(p[0]), y(p[1])); });
      ctx.stroke();
    });
    (markers || []).forEach(function (m) {
      const px = x(m.x), py = y(m.y), up = m.side === "buy";
      ctx.fillStyle = up ? BUY : SELL;
      ctx.beginPath();
      ctx.moveTo(px, up ? py - 2 : py + 2);
      ctx.lineTo(px - 4, up ? py + 6 : py - 6);
      ctx.lineTo(px + 4, up ? py + 6 : py - 6);
      ctx.closePath();
      ctx.fill();
    });
    lines.forEach(function (line, i) {
      if (!line.label) return;
      ctx.fillStyle = line.color || COLORS[i % COLORS.length];
      ctx.textAlign = "left";
      ctx.fillText(line.label, box.left + 8 + i * 160, box.top + 12);
    });
    canvas.dataset.state = "drawn";
    canvas.dataset.points = String(xs.length);
  }

  function json(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function runCharts() {
    const chart = json("strategy-chart-data");
    if (!chart) return;
    const money = function (v) { return v.toFixed(2); };
    const percent = function (v) { return (v * 100).toFixed(1) + " %"; };
    const equity = document.getElementById("strategy-equity");
    if (equity) draw(equity, [{ points: chart.nav.map(function (p) { return [p[0], p[1]]; }) }], [], money);
    const drawdown = document.getElementById("strategy-drawdown");
    if (drawdown) draw(drawdown, [{ points: chart.nav.map(function (p) { return [p[0], p[2]]; }), color: SELL }], [], percent);
    const price = document.getElementById("strategy-price");
    if (price && chart.price) {
      const markers = chart.trades
        .filter(function (t) { return t[1] === chart.price.market; })
        .map(function (t) { return { x: t[0], y: t[3], side: t[2] }; });
      draw(price, [{ points: chart.price.points, label: chart.price.market }], markers, money);
      price.dataset.markers = String(markers.length);
    }
  }

  function compareCharts() {
    const charts = json("strategy-compare-data");
    const canvas = document.getElementById("strategy-compare-equity");
    if (!charts || !canvas) return;
    const lines = charts.map(function (c) {
      return { label: "#" + c.run, points: c.nav.map(function (p) { return [p[0], p[1] / c.cash]; }) };
    });
    draw(canvas, lines, [], function (v) { return v.toFixed(3); });
  }

  function progress() {
    const panel = document.getElementById("strategy-progress");
    if (!panel || ["queued", "running"].indexOf(panel.dataset.status) < 0) return;
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + panel.dataset.socket);
    socket.onmessage = function (message) {
      const event = JSON.parse(message.data);
      const status = document.getElementById("strategy-status");
      if (status) status.textContent = event.status;
      const percent = event.total ? Math.floor(100 * event.done / event.total) : 0;
      const bar = document.getElementById("strategy-progress-bar");
      if (bar) bar.value = percent;
      const text = document.getElementById("strategy-progress-text");
      if (text) text.textContent = percent + " %";
      if (event.status === "done" || event.status === "failed") { socket.close(); window.location.reload(); }
    };
  }

  function csrfToken(form) {
    const field = form.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function runForm() {
    const form = document.getElementById("strategy-run-form");
    if (!form) return;
    const message = document.getElementById("strategy-run-message");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const data = new FormData(form);
      const parameters = {};
      String(data.get("parameters") || "").split("\n").forEach(function (line) {
        const at = line.indexOf("=");
        if (at > 0) parameters[line.slice(0, at).trim()] = line.slice(at + 1).trim();
      });
      const body = {
        strategy: data.get("strategy"),
        exchanges: String(data.get("exchanges")).split(",").map(function (v) { return v.trim(); }).filter(Boolean),
        symbol: data.get("symbol"), interval: data.get("interval"), start: data.get("start"), end: data.get("end"),
        parameters: parameters, cash: data.get("cash"), fee_model: data.get("fee_model"),
        slippage_bps: data.get("slippage_bps"),
      };
      message.textContent = "Starting…";
      fetch(form.dataset.api, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(form) },
        body: JSON.stringify(body),
      }).then(function (response) {
        return response.json().then(function (payload) { return { ok: response.ok, payload: payload }; });
      }).then(function (result) {
        if (result.ok) { window.location.href = "runs/" + result.payload.id + "/"; return; }
        message.textContent = result.payload.error ? result.payload.error.message : "The backtest could not start.";
      }).catch(function () { message.textContent = "The backtest could not start (network)."; });
    });
  }

  function compareForm() {
    const form = document.getElementById("strategy-compare");
    if (!form) return;
    form.addEventListener("submit", function (event) {
      const picked = Array.prototype.slice.call(form.querySelectorAll("input[name=pick]:checked"));
      if (picked.length !== 2) { event.preventDefault(); window.alert("Tick exactly two finished runs."); return; }
      form.querySelector("input[name=a]").value = picked[0].value;
      form.querySelector("input[name=b]").value = picked[1].value;
      picked.forEach(function (box) { box.disabled = true; });
    });
  }

  runCharts();
  compareCharts();
  progress();
  runForm();
  compareForm();
})();
