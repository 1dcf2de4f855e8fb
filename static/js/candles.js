// Candle chart (OHLC + volume) drawn on a canvas, zoomable and pannable, fed by /api/v1/klines/ and kept live
// by /ws/klines/<id>/; on the markets list, the price tiles follow the same sockets.
// Prices arrive as exact decimal strings: they are shown verbatim and turned into numbers only to place pixels.
(function () {
  "use strict";

  const PAGE_SIZE = 1000;
  const LOAD_CANDLES = 2000; // how far back the chart loads from the last stored candle
  const DEFAULT_VISIBLE = 120;
  const MIN_VISIBLE = 10;
  const MAX_TILE_SOCKETS = 24;
  const CLOSE_UNKNOWN_MARKET = 4404; // marketdata.consumers.CLOSE_UNKNOWN_MARKET
  const MONTH_MS = 31 * 24 * 3600 * 1000; // 1M has no fixed length: a month's upper bound is enough to load from

  function socketUrl(path) {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + window.location.host + path;
  }

  // A websocket that reconnects with backoff (not after "no such market") and reports its state.
  function liveSocket(path, onMessage, onState) {
    let delay = 1000;
    function connect() {
      const socket = new WebSocket(socketUrl(path));
      socket.onopen = function () { delay = 1000; onState("live"); };
      socket.onmessage = function (event) { onMessage(JSON.parse(event.data)); };
      socket.onclose = function (event) {
        if (event.code === CLOSE_UNKNOWN_MARKET) { onState("closed"); return; }
        onState("reconnecting");
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      };
    }
    connect();
  }

  // ---- price tiles ---------------------------------------------------------------------------------------
  const tiles = Array.prototype.slice.call(document.querySelectorAll(".price-tile[data-ws-path]"), 0, MAX_TILE_SOCKETS);
  tiles.forEach(function (tile) {
    liveSocket(tile.dataset.wsPath, function (message) {
      if (message.type !== "klines" || message.interval !== tile.dataset.interval || !message.candles.length) return;
      const latest = message.candles[message.candles.length - 1];
      tile.querySelector("[data-role=close]").textContent = latest.close;
      tile.querySelector("[data-role=time]").textContent = latest.open_time + (latest.closed ? "" : " (open)");
      tile.dataset.updates = String(Number(tile.dataset.updates || "0") + 1);
    }, function (state) { tile.dataset.socket = state; });
  });

  // ---- the chart -----------------------------------------------------------------------------------------
  const canvas = document.getElementById("candle-chart");
  if (!canvas) return;
  const badge = document.getElementById("chart-connection");
  const select = document.getElementById("chart-interval");
  const legend = document.getElementById("chart-legend");
  const lastOpen = JSON.parse(document.getElementById("chart-last-open").textContent);
  const lengths = JSON.parse(document.getElementById("chart-interval-lengths").textContent);

  const state = {
    interval: canvas.dataset.interval,
    candles: [], // ascending by open_time_ms, one per open time
    end: 0, // right edge of the view, in candle indices (exclusive; fractional while panning)
    visible: DEFAULT_VISIBLE,
    follow: true, // the view sticks to the newest candle
    hover: null,
    loading: 0, // generation of the current load; a stale response is dropped
    redraws: 0,
  };
  window.candleChart = state;

  // Insert, or replace the candle with the same open time — except that an open candle never replaces a closed
  // one (a late live update must not undo the close).
  function merge(candle) {
    const list = state.candles;
    let lo = 0, hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid].open_time_ms < candle.open_time_ms) lo = mid + 1; else hi = mid;
    }
    if (lo < list.length && list[lo].open_time_ms === candle.open_time_ms) {
      if (list[lo].closed && !candle.closed) return;
      list[lo] = candle;
    } else {
      list.splice(lo, 0, candle);
    }
  }

  function clampView() {
    const n = state.candles.length;
    state.visible = Math.max(MIN_VISIBLE, Math.min(state.visible, Math.max(n, MIN_VISIBLE)));
    if (state.follow) state.end = n;
    state.end = Math.max(Math.min(state.visible, n), Math.min(state.end, n));
    state.follow = state.end >= n;
  }

  function layout() {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || canvas.width;
    const height = canvas.clientHeight || canvas.height;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const axis = 80, bottom = 22, gap = 8;
    const priceHeight = Math.floor((height - bottom - gap) * 0.75);
    return {
      ratio: ratio, width: width, height: height, left: 4, right: width - axis,
      priceTop: 8, priceBottom: priceHeight, volumeTop: priceHeight + gap, volumeBottom: height - bottom,
    };
  }

  function label(value) {
    const text = Math.abs(value) >= 1 ? value.toFixed(2) : value.toPrecision(4);
    return text;
  }

  function draw() {
    clampView();
    const box = layout();
    const ctx = canvas.getContext("2d");
    ctx.setTransform(box.ratio, 0, 0, box.ratio, 0, 0);
    ctx.clearRect(0, 0, box.width, box.height);
    const list = state.candles;
    const slot = (box.right - box.left) / state.visible;
    const first = Math.max(0, Math.floor(state.end - state.visible));
    const last = Math.min(list.length, Math.ceil(state.end)); // exclusive
    const shown = list.slice(first, last);
    canvas.dataset.candles = String(list.length);
    canvas.dataset.visible = String(shown.length); // candles drawn, partly cut ones at the edges included
    canvas.dataset.zoom = String(state.visible); // candle slots across the plot
    state.redraws += 1;
    const newest = list[list.length - 1];
    canvas.dataset.lastClose = newest ? newest.close : "";
    canvas.dataset.lastClosed = newest ? String(newest.closed) : "";
    showLegend(state.hover !== null && list[state.hover] ? list[state.hover] : newest);
    if (!shown.length) {
      ctx.fillStyle = "#888";
      ctx.font = "14px sans-serif";
      ctx.fillText("No candles stored for " + state.interval + ".", box.left + 10, box.priceBottom / 2);
      return;
    }
    let low = Infinity, high = -Infinity, volume = 0;
    shown.forEach(function (c) {
      low = Math.min(low, Number(c.low));
      high = Math.max(high, Number(c.high));
      volume = Math.max(volume, Number(c.volume));
    });
    if (high === low) { high += Math.abs(high) * 0.001 || 1; low -= Math.abs(low) * 0.001 || 1; }
    const pad = (high - low) * 0.05;
    high += pad; low -= pad;
    const y = function (price) {
      return box.priceTop + (high - price) / (high - low) * (box.priceBottom - box.priceTop);
    };
    const vy = function (v) {
      return box.volumeBottom - (volume > 0 ? v / volume : 0) * (box.volumeBottom - box.volumeTop);
    };
    const x0 = box.left + (first - (state.end - state.visible)) * slot;

    // grid and price axis
    ctx.strokeStyle = "rgba(128,128,128,0.2)";
    ctx.fillStyle = "#888";
    ctx.font = "11px sans-serif";
    ctx.lineWidth = 1;
    for (let i = 0; i <= 4; i += 1) {
      const price = low + (high - low) * i / 4;
      const py = Math.round(y(price)) + 0.5;
      ctx.beginPath(); ctx.moveTo(box.left, py); ctx.lineTo(box.right, py); ctx.stroke();
      ctx.fillText(label(price), box.right + 6, py + 4);
    }
    // time axis: a few open times
    const every = Math.max(1, Math.ceil(shown.length / 5));
    for (let i = 0; i < shown.length; i += every) {
      const cx = x0 + (i + 0.5) * slot;
      ctx.fillText(shown[i].open_time.slice(0, 16).replace("T", " "), Math.max(box.left, cx - 45), box.height - 6);
    }

    const body = Math.max(1, slot * 0.7);
    shown.forEach(function (c, i) {
      const cx = x0 + (i + 0.5) * slot;
      const open = Number(c.open), close = Number(c.close);
      const up = close >= open;
      const color = up ? "#1a9850" : "#d73027";
      ctx.globalAlpha = c.closed ? 1 : 0.55; // the still-open candle is drawn faded
      ctx.strokeStyle = color;
      ctx.fillStyle = color;
      ctx.beginPath();
      ctx.moveTo(Math.round(cx) + 0.5, y(Number(c.high)));
      ctx.lineTo(Math.round(cx) + 0.5, y(Number(c.low)));
      ctx.stroke();
      const top = y(Math.max(open, close));
      ctx.fillRect(cx - body / 2, top, body, Math.max(1, y(Math.min(open, close)) - top));
      const vtop = vy(Number(c.volume));
      ctx.globalAlpha = c.closed ? 0.45 : 0.25;
      ctx.fillRect(cx - body / 2, vtop, body, box.volumeBottom - vtop);
    });
    ctx.globalAlpha = 1;
  }

  function showLegend(candle) {
    ["open_time", "open", "high", "low", "close", "volume", "closed"].forEach(function (field) {
      const cell = legend.querySelector("[data-field=" + field + "]");
      if (!candle) { cell.textContent = "—"; return; }
      cell.textContent = field === "closed" ? (candle.closed ? "closed" : "open") : String(candle[field]);
    });
  }

  let scheduled = false;
  function redraw() {
    if (scheduled) return;
    scheduled = true;
    window.requestAnimationFrame(function () { scheduled = false; draw(); });
  }

  async function load(interval) {
    const generation = ++state.loading;
    canvas.dataset.state = "loading";
    const length = lengths[interval] || MONTH_MS;
    const params = new URLSearchParams({
      exchange: canvas.dataset.exchange, symbol: canvas.dataset.symbol, interval: interval,
      page_size: String(PAGE_SIZE),
    });
    if (lastOpen[interval] !== undefined) {
      params.set("start", new Date(Math.max(0, lastOpen[interval] - (LOAD_CANDLES - 1) * length)).toISOString());
    }
    let url = canvas.dataset.api + "?" + params.toString();
    const loaded = [];
    try {
      while (url) {
        const response = await fetch(url, { headers: { Accept: "application/json" } });
        const body = await response.json();
        if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
        if (generation !== state.loading) return;
        Array.prototype.push.apply(loaded, body.results);
        url = body.next;
      }
    } catch (error) {
      if (generation !== state.loading) return;
      canvas.dataset.state = "error";
      canvas.dataset.error = String(error.message || error);
      return;
    }
    if (generation !== state.loading) return;
    const live = state.candles; // updates that arrived while loading are newer than the read: merged last
    state.candles = loaded;
    live.forEach(merge);
    state.follow = true;
    state.visible = DEFAULT_VISIBLE;
    canvas.dataset.state = "ready";
    draw();
  }

  // zoom around the pointer with the wheel, pan by dragging, double-click to follow the newest candle again
  function indexAt(clientX) {
    const box = layout();
    const rect = canvas.getBoundingClientRect();
    const slot = (box.right - box.left) / state.visible;
    return state.end - state.visible + (clientX - rect.left - box.left) / slot;
  }

  canvas.addEventListener("wheel", function (event) {
    event.preventDefault();
    if (!state.candles.length) return;
    const anchor = indexAt(event.clientX);
    const factor = event.deltaY > 0 ? 1.15 : 1 / 1.15;
    const before = state.visible;
    state.visible = Math.max(MIN_VISIBLE, Math.min(Math.round(before * factor), Math.max(state.candles.length, MIN_VISIBLE)));
    state.end = anchor + (state.end - anchor) * state.visible / before;
    state.follow = false;
    redraw();
  }, { passive: false });

  let drag = null;
  canvas.addEventListener("pointerdown", function (event) {
    drag = { x: event.clientX, end: state.end };
    canvas.setPointerCapture(event.pointerId);
    canvas.classList.add("dragging");
  });
  canvas.addEventListener("pointermove", function (event) {
    if (drag) {
      const box = layout();
      const slot = (box.right - box.left) / state.visible;
      state.end = drag.end - (event.clientX - drag.x) / slot;
      state.follow = false;
    } else {
      const index = Math.floor(indexAt(event.clientX));
      state.hover = index >= 0 && index < state.candles.length ? index : null;
    }
    redraw();
  });
  function dragEnd() { drag = null; canvas.classList.remove("dragging"); }
  canvas.addEventListener("pointerup", dragEnd);
  canvas.addEventListener("pointercancel", dragEnd);
  canvas.addEventListener("pointerleave", function () { state.hover = null; redraw(); });
  canvas.addEventListener("dblclick", function () {
    state.follow = true;
    state.visible = DEFAULT_VISIBLE;
    redraw();
  });
  window.addEventListener("resize", redraw);

  select.addEventListener("change", function () {
    state.interval = select.value;
    canvas.dataset.interval = select.value;
    state.candles = [];
    state.hover = null;
    const url = new URL(window.location.href);
    url.searchParams.set("interval", select.value);
    window.history.replaceState(null, "", url.toString());
    draw();
    load(select.value);
  });

  liveSocket(canvas.dataset.wsPath, function (message) {
    if (message.type !== "klines" || message.interval !== state.interval) return;
    message.candles.forEach(merge);
    canvas.dataset.updates = String(Number(canvas.dataset.updates || "0") + 1);
    redraw();
  }, function (socketState) {
    canvas.dataset.socket = socketState;
    badge.dataset.state = socketState;
    badge.textContent = { live: "live", reconnecting: "reconnecting…", closed: "no such market" }[socketState];
  });

  load(state.interval);
})();
