// Lead-lag page: per venue pair the cross-correlation of returns against lag (with its 95 % bands, the peak
// marked), and the rolling information leadership share of every pair, drawn on canvases from the stored report
// (#leadlag-data). Hover shows the values under the pointer; a button saves a chart as PNG. Signed-in visitors
// start a run with the form, which posts to /api/v1/leadlag/ with the CSRF token.
(function () {
  "use strict";

  const COLORS = ["#3f8fd6", "#e08a2c", "#b36ad9", "#1a9850", "#d73027", "#7f8c8d"];
  const PEAK_COLOR = "#d73027";
  const DAY_MS = 86400000;
  const pages = { charts: {}, lastPng: null };
  window.leadlagCharts = pages;

  function cssVar(name, fallback) {
    const value = window.getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  // Size the backing store for the device pixel ratio and paint the panel colour: a saved PNG is not transparent.
  function prepare(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || canvas.width;
    const height = canvas.clientHeight || canvas.height;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.fillStyle = cssVar("--panel", "#ffffff");
    ctx.fillRect(0, 0, width, height);
    ctx.font = "11px sans-serif";
    ctx.lineWidth = 1;
    return { ctx: ctx, width: width, height: height, left: 58, right: width - 16, top: 14, bottom: height - 36 };
  }

  // Round tick values covering [low, high]: steps of 1, 2 or 5 times a power of ten.
  function ticks(low, high, count) {
    const raw = (high - low) / Math.max(1, count);
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map(function (m) { return m * power; }).find(function (s) { return s >= raw; });
    const out = [];
    for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    return out;
  }

  function number(value, digits) {
    return value === null || value === undefined ? "—" : Number(value).toFixed(digits);
  }

  function seconds(value) {
    return Number(value.toFixed(3)).toString() + " s";
  }

  function axes(box, xTicks, x, xLabel, yTicks, y, yLabel) {
    const ctx = box.ctx;
    ctx.strokeStyle = "rgba(128,128,128,0.22)";
    ctx.fillStyle = cssVar("--muted", "#888");
    ctx.textAlign = "right";
    yTicks.forEach(function (v) {
      const py = Math.round(y(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(box.left, py); ctx.lineTo(box.right, py); ctx.stroke();
      ctx.fillText(yLabel(v), box.left - 6, py + 4);
    });
    ctx.textAlign = "center";
    xTicks.forEach(function (v) {
      const px = Math.round(x(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(px, box.top); ctx.lineTo(px, box.bottom); ctx.stroke();
      ctx.fillText(xLabel(v), px, box.bottom + 14);
    });
    ctx.textAlign = "left";
  }

  // The index of the point whose x is nearest the pointer, or null outside the plot.
  function nearest(canvas, box, clientX, xs) {
    const rect = canvas.getBoundingClientRect();
    const px = clientX - rect.left;
    if (px < box.left - 10 || px > box.right + 10 || !xs.length) return null;
    let best = 0;
    xs.forEach(function (x, i) { if (Math.abs(x - px) < Math.abs(xs[best] - px)) best = i; });
    return best;
  }

  // ---- the cross-correlation curve of one pair ----------------------------------------------------------------
  function xcorrChart(canvas, pair) {
    const readout = document.getElementById(canvas.id + "-readout");
    const xc = pair.xcorr;
    const points = []; // lags with a defined correlation, ascending
    xc.lag_seconds.forEach(function (lag, i) {
      if (lag !== null && xc.rho[i] !== null) {
        points.push({ lag: lag, rho: xc.rho[i], band: xc.band[i], pairs: xc.pairs[i] });
      }
    });
    let peak = points.findIndex(function (p) { return p.lag === pair.peak_lag_seconds; });
    if (peak < 0 && points.length) {
      peak = 0;
      points.forEach(function (p, i) { if (Math.abs(p.rho) > Math.abs(points[peak].rho)) peak = i; });
    }
    const state = { hover: null, xs: [], box: null, redraws: 0 };

    function draw() {
      const box = prepare(canvas);
      state.box = box;
      const ctx = box.ctx;
      canvas.dataset.points = String(points.length);
      state.redraws += 1;
      if (!points.length) {
        ctx.fillStyle = cssVar("--muted", "#888");
        ctx.fillText("No lag has enough return pairs.", box.left + 10, box.top + 20);
        state.xs = [];
        canvas.dataset.state = "ready";
        return;
      }
      let lo = 0, hi = 0; // zero always shown: the band is around it
      let first = points[0].lag, last = points[points.length - 1].lag;
      if (first === last) { first -= 1; last += 1; }
      points.forEach(function (p) {
        lo = Math.min(lo, p.rho, p.band === null ? 0 : -p.band);
        hi = Math.max(hi, p.rho, p.band === null ? 0 : p.band);
      });
      const pad = (hi - lo) * 0.08 || 0.1;
      lo -= pad; hi += pad;
      const x = function (lag) { return box.left + (lag - first) / (last - first) * (box.right - box.left); };
      const y = function (rho) { return box.top + (hi - rho) / (hi - lo) * (box.bottom - box.top); };
      state.xs = points.map(function (p) { return x(p.lag); });
      axes(box, ticks(first, last, 8), x, function (v) { return Number(v.toPrecision(6)) + " s"; },
        ticks(lo, hi, 5), y, function (v) { return Number(v.toPrecision(6)).toString(); });
      ctx.fillStyle = cssVar("--muted", "#888");
      ctx.fillText("lag (s); positive: " + pair.labels[0] + " moves first", box.left, box.height - 6);

      // the 95 % band around zero, shaded, and the zero line
      const banded = points.filter(function (p) { return p.band !== null; });
      if (banded.length) {
        ctx.fillStyle = "rgba(128,128,128,0.18)";
        ctx.beginPath();
        banded.forEach(function (p, i) { (i ? ctx.lineTo : ctx.moveTo).call(ctx, x(p.lag), y(p.band)); });
        banded.slice().reverse().forEach(function (p) { ctx.lineTo(x(p.lag), y(-p.band)); });
        ctx.closePath();
        ctx.fill();
      }
      ctx.strokeStyle = "rgba(128,128,128,0.7)";
      ctx.beginPath(); ctx.moveTo(box.left, y(0)); ctx.lineTo(box.right, y(0)); ctx.stroke();

      // the curve and its points
      ctx.strokeStyle = COLORS[0];
      ctx.fillStyle = COLORS[0];
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      points.forEach(function (p, i) { (i ? ctx.lineTo : ctx.moveTo).call(ctx, x(p.lag), y(p.rho)); });
      ctx.stroke();
      const radius = points.length > 200 ? 1.5 : 2.5;
      points.forEach(function (p) { ctx.beginPath(); ctx.arc(x(p.lag), y(p.rho), radius, 0, 2 * Math.PI); ctx.fill(); });

      // the peak
      const top = points[peak];
      ctx.strokeStyle = PEAK_COLOR;
      ctx.fillStyle = PEAK_COLOR;
      ctx.lineWidth = 2;
      ctx.beginPath(); ctx.arc(x(top.lag), y(top.rho), 6, 0, 2 * Math.PI); ctx.stroke();
      const text = "peak " + seconds(top.lag) + ", ρ " + number(top.rho, 3);
      ctx.textAlign = x(top.lag) > (box.left + box.right) / 2 ? "right" : "left";
      ctx.fillText(text, x(top.lag) + (ctx.textAlign === "right" ? -10 : 10), Math.max(box.top + 10, y(top.rho) - 8));
      ctx.textAlign = "left";
      ctx.lineWidth = 1;

      if (state.hover !== null) {
        const p = points[state.hover];
        ctx.strokeStyle = cssVar("--text", "#333");
        ctx.setLineDash([4, 3]);
        ctx.beginPath(); ctx.moveTo(x(p.lag), box.top); ctx.lineTo(x(p.lag), box.bottom); ctx.stroke();
        ctx.setLineDash([]);
        ctx.fillStyle = cssVar("--text", "#333");
        ctx.beginPath(); ctx.arc(x(p.lag), y(p.rho), 4.5, 0, 2 * Math.PI); ctx.fill();
      }
      canvas.dataset.peakLag = String(top.lag);
      canvas.dataset.state = "ready";
    }

    canvas.addEventListener("pointermove", function (event) {
      const index = state.box ? nearest(canvas, state.box, event.clientX, state.xs) : null;
      if (index === state.hover) return;
      state.hover = index;
      if (index === null) {
        delete canvas.dataset.hoverLag;
      } else {
        const p = points[index];
        canvas.dataset.hoverLag = String(p.lag);
        readout.textContent = "lag " + seconds(p.lag) + ": ρ " + number(p.rho, 4) + " (band ±" + number(p.band, 4) +
          ", " + p.pairs + " return pairs)";
      }
      draw();
    });
    canvas.addEventListener("pointerleave", function () { state.hover = null; delete canvas.dataset.hoverLag; draw(); });
    return { draw: draw, state: state, points: points };
  }

  // ---- the rolling leadership share of every pair ---------------------------------------------------------------
  function rollingChart(canvas, pairs) {
    const readout = document.getElementById(canvas.id + "-readout");
    const series = pairs.map(function (pair, i) {
      return {
        label: pair.labels[0] + " vs " + pair.labels[1] + " (" + pair.labels[0] + "'s share)",
        labels: pair.labels,
        venues: pair.venues,
        color: COLORS[i % COLORS.length],
        points: pair.rolling.filter(function (w) { return w.share !== null; }),
      };
    });
    const windows = []; // every window start across pairs, ascending, once
    pairs.forEach(function (pair) { pair.rolling.forEach(function (w) { windows.push(w); }); });
    windows.sort(function (a, b) { return a.start_ms - b.start_ms; });
    const starts = windows.filter(function (w, i) { return i === 0 || w.start_ms !== windows[i - 1].start_ms; });
    const state = { hover: null, xs: [], box: null };
    const daily = windows.every(function (w) { return w.start_ms % DAY_MS === 0 && w.end_ms - w.start_ms <= DAY_MS; });

    function when(ms) {
      const text = new Date(ms).toISOString();
      return daily ? text.slice(0, 10) : text.slice(0, 16).replace("T", " ");
    }

    function draw() {
      const box = prepare(canvas);
      state.box = box;
      const ctx = box.ctx;
      const drawn = series.filter(function (s) { return s.points.length; });
      canvas.dataset.lines = String(drawn.length);
      canvas.dataset.windows = String(drawn.reduce(function (n, s) { return n + s.points.length; }, 0));
      if (!drawn.length) {
        ctx.fillStyle = cssVar("--muted", "#888");
        ctx.fillText("No rolling window has a leadership share (the run is shorter than a window, or windows had " +
          "too few returns).", box.left, box.top + 20);
        state.xs = [];
        canvas.dataset.state = "ready";
        return;
      }
      let first = Infinity, last = -Infinity;
      windows.forEach(function (w) { first = Math.min(first, w.start_ms); last = Math.max(last, w.end_ms); });
      const x = function (ms) { return box.left + (ms - first) / (last - first) * (box.right - box.left); };
      const y = function (share) { return box.top + (1 - share) * (box.bottom - box.top); };
      const middle = function (w) { return (w.start_ms + w.end_ms) / 2; };
      state.xs = starts.map(function (w) { return x(middle(w)); });
      const every = Math.max(1, Math.ceil(starts.length / 6));
      const timeTicks = starts.filter(function (w, i) { return i % every === 0; }).map(middle);
      axes(box, timeTicks, x, when,
        [0, 0.25, 0.5, 0.75, 1], y, function (v) { return v.toFixed(2); });
      ctx.strokeStyle = cssVar("--muted", "#888");
      ctx.setLineDash([5, 4]);
      ctx.beginPath(); ctx.moveTo(box.left, y(0.5)); ctx.lineTo(box.right, y(0.5)); ctx.stroke();
      ctx.setLineDash([]);
      drawn.forEach(function (s) {
        ctx.strokeStyle = s.color;
        ctx.fillStyle = s.color;
        ctx.lineWidth = 1.5;
        ctx.beginPath();
        s.points.forEach(function (w, i) { (i ? ctx.lineTo : ctx.moveTo).call(ctx, x(middle(w)), y(w.share)); });
        ctx.stroke();
        s.points.forEach(function (w) { ctx.beginPath(); ctx.arc(x(middle(w)), y(w.share), 3, 0, 2 * Math.PI); ctx.fill(); });
      });
      ctx.lineWidth = 1;
      // legend
      let lx = box.left + 8;
      drawn.forEach(function (s) {
        ctx.fillStyle = s.color;
        ctx.fillRect(lx, box.top + 4, 10, 10);
        ctx.fillStyle = cssVar("--text", "#333");
        ctx.fillText(s.label, lx + 14, box.top + 13);
        lx += ctx.measureText(s.label).width + 32;
      });
      if (state.hover !== null) {
        const px = state.xs[state.hover];
        ctx.strokeStyle = cssVar("--text", "#333");
        ctx.setLineDash([4, 3]);
        ctx.beginPath(); ctx.moveTo(px, box.top); ctx.lineTo(px, box.bottom); ctx.stroke();
        ctx.setLineDash([]);
      }
      canvas.dataset.state = "ready";
    }

    canvas.addEventListener("pointermove", function (event) {
      const index = state.box ? nearest(canvas, state.box, event.clientX, state.xs) : null;
      if (index === state.hover) return;
      state.hover = index;
      if (index !== null) {
        const start = starts[index].start_ms;
        const parts = series.map(function (s) {
          const w = s.points.find(function (p) { return p.start_ms === start; });
          if (!w) return s.labels[0] + "/" + s.labels[1] + " —";
          return s.labels[0] + "/" + s.labels[1] + " " + number(w.share, 3) + (w.leader ? " (leader " + w.leader + ")" : "");
        });
        canvas.dataset.hoverWindow = String(start);
        readout.textContent = when(start) + ": " + parts.join("; ");
      }
      draw();
    });
    canvas.addEventListener("pointerleave", function () { state.hover = null; draw(); });
    return { draw: draw, state: state, series: series };
  }

  // ---- run and interval choice --------------------------------------------------------------------------------
  const chooser = document.getElementById("leadlag-select");
  if (chooser) {
    const intervalSelect = document.getElementById("leadlag-interval");
    const runSelect = document.getElementById("leadlag-run");
    intervalSelect.addEventListener("change", function () {
      // a new interval lists other runs: show its newest, not the run chosen before
      const url = new URL(window.location.href);
      url.search = intervalSelect.value ? "?interval=" + encodeURIComponent(intervalSelect.value) : "";
      window.location.assign(url.toString());
    });
    if (runSelect) runSelect.addEventListener("change", function () { chooser.submit(); });
  }

  // ---- PNG download ---------------------------------------------------------------------------------------------
  document.querySelectorAll(".leadlag-png").forEach(function (button) {
    button.addEventListener("click", function () {
      const canvas = document.getElementById(button.dataset.canvas);
      const url = canvas.toDataURL("image/png");
      pages.lastPng = url;
      button.dataset.saved = String(Number(button.dataset.saved || "0") + 1);
      const link = document.createElement("a");
      link.href = url;
      link.download = button.dataset.filename;
      document.body.appendChild(link);
      link.click();
      link.remove();
    });
  });

  // ---- the charts -----------------------------------------------------------------------------------------------
  const dataNode = document.getElementById("leadlag-data");
  if (dataNode) {
    const data = JSON.parse(dataNode.textContent);
    pages.data = data;
    data.pairs.forEach(function (pair, i) {
      const canvas = document.getElementById("leadlag-xcorr-" + i);
      if (canvas) pages.charts[canvas.id] = xcorrChart(canvas, pair);
    });
    const rolling = document.getElementById("leadlag-rolling");
    if (rolling) pages.charts[rolling.id] = rollingChart(rolling, data.pairs);
    const drawAll = function () { Object.keys(pages.charts).forEach(function (id) { pages.charts[id].draw(); }); };
    drawAll();
    let scheduled = false;
    window.addEventListener("resize", function () {
      if (scheduled) return;
      scheduled = true;
      window.requestAnimationFrame(function () { scheduled = false; drawAll(); });
    });
  }

  // ---- starting a run (signed-in visitors) ----------------------------------------------------------------------
  const form = document.getElementById("leadlag-run-form");
  if (form) {
    const status = document.getElementById("leadlag-run-status");
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const fields = new FormData(form);
      const body = {
        symbol: fields.get("symbol"),
        exchanges: fields.get("exchanges"),
        interval: fields.get("interval"),
        start: fields.get("start"),
        end: fields.get("end"),
        max_lag: Number(fields.get("max_lag")),
      };
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      status.textContent = "Starting…";
      try {
        const response = await fetch(form.dataset.api, {
          method: "POST",
          credentials: "same-origin",
          headers: {
            "Content-Type": "application/json",
            Accept: "application/json",
            "X-CSRFToken": fields.get("csrfmiddlewaretoken") || "",
          },
          body: JSON.stringify(body),
        });
        const answer = await response.json().catch(function () { return null; });
        if (!response.ok) {
          const error = answer && answer.error;
          const details = error && error.fields ? Object.keys(error.fields).map(function (name) {
            return name + ": " + [].concat(error.fields[name]).join(" ");
          }) : [];
          throw new Error(error ? [error.message].concat(details).join(" ") : "The server answered " + response.status + ".");
        }
        form.dataset.runId = String(answer.id);
        status.textContent = "Run #" + answer.id + " is queued; reload the page when it has finished.";
      } catch (error) {
        status.textContent = String(error.message || error);
      } finally {
        button.disabled = false;
      }
    });
  }
})();
