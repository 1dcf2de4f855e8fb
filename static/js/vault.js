// Vault page: the NAV per share series (from the vault API) drawn as a line on a canvas, kept live by
// /ws/vaults/<id>/nav/; "my holdings": each holding's value refreshed from the holdings API when its vault's NAV
// changes. Exact decimal strings become numbers only for drawing; every figure shown as text stays exact.
(function () {
  "use strict";
  const CLOSE_UNKNOWN_VAULT = 4404; // vaults.consumers.CLOSE_UNKNOWN_VAULT
  const MAX_POINTS = 500; // vaults.api.NAV_POINTS: the page keeps as many points as the API serves

  function socketUrl(path) {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + window.location.host + path;
  }

  // A websocket that reconnects with backoff, except after "no such vault" (nothing will ever arrive).
  // ``element.dataset.socket`` says whether it is open: the server joins the vault's group before accepting, so
  // "open" means every later NAV reaches the page.
  function liveSocket(path, element, onMessage) {
    let delay = 1000;
    function connect() {
      const socket = new WebSocket(socketUrl(path));
      socket.onopen = function () { delay = 1000; element.dataset.socket = "open"; };
      socket.onmessage = function (event) { onMessage(JSON.parse(event.data)); };
      socket.onclose = function (event) {
        element.dataset.socket = "closed";
        if (event.code === CLOSE_UNKNOWN_VAULT) return;
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      };
    }
    connect();
  }

  // ---- my holdings ---------------------------------------------------------------------------------------
  // The holder's value needs their shares and lots (net of the performance fee): the server computes it
  // exactly, so a NAV event only triggers one re-read of the holdings API, never arithmetic in the browser.
  const holdings = document.querySelectorAll("section.holding[data-ws-path]");
  let refreshing = null;
  function holdingsRefresh(url) {
    if (refreshing) return refreshing;
    refreshing = fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((response) => response.json())
      .then((body) => {
        body.results.forEach((h) => {
          const section = document.querySelector('section.holding[data-vault-slug="' + h.vault + '"]');
          if (!section) return;
          section.querySelector("[data-role=value]").textContent = h.value;
          section.querySelector("[data-role=net-value]").textContent = h.net_value;
          section.dataset.updates = String(Number(section.dataset.updates || "0") + 1);
        });
      })
      .catch(() => {})
      .finally(() => { refreshing = null; });
    return refreshing;
  }
  holdings.forEach((section) => {
    liveSocket(section.dataset.wsPath, section, (message) => {
      if (message.type === "nav") holdingsRefresh(section.dataset.holdingsUrl);
    });
  });

  // ---- the vault page ------------------------------------------------------------------------------------
  const canvas = document.getElementById("vault-nav-chart");
  if (!canvas) return;

  function draw(points) {
    const ctx = canvas.getContext("2d");
    const width = canvas.width, height = canvas.height, pad = 40;
    ctx.clearRect(0, 0, width, height);
    if (points.length === 0) {
      document.getElementById("vault-nav-empty").hidden = false;
      return;
    }
    const times = points.map((p) => Date.parse(p.at));
    const values = points.map((p) => Number(p.nav_per_share));
    const t0 = Math.min(...times), t1 = Math.max(...times);
    let v0 = Math.min(...values), v1 = Math.max(...values);
    if (v0 === v1) { v0 -= 0.5 * (Math.abs(v0) || 1) * 0.01; v1 += 0.5 * (Math.abs(v1) || 1) * 0.01; }
    const x = (t) => pad + (t1 === t0 ? 0.5 : (t - t0) / (t1 - t0)) * (width - 2 * pad);
    const y = (v) => height - pad - ((v - v0) / (v1 - v0)) * (height - 2 * pad);
    ctx.strokeStyle = "#888";
    ctx.strokeRect(pad, pad, width - 2 * pad, height - 2 * pad);
    ctx.fillStyle = "#444";
    ctx.font = "12px monospace";
    ctx.fillText(points[points.length - 1].nav_per_share.slice(0, 14), pad, pad - 8);
    ctx.fillText(new Date(t0).toISOString().slice(0, 10), pad, height - pad + 16);
    ctx.fillText(new Date(t1).toISOString().slice(0, 10), width - pad - 80, height - pad + 16);
    ctx.strokeStyle = "#1f6feb";
    ctx.lineWidth = 2;
    ctx.beginPath();
    points.forEach((p, i) => {
      const px = x(times[i]), py = y(values[i]);
      if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
    });
    ctx.stroke();
  }

  let series = [];
  fetch(canvas.dataset.apiUrl, { headers: { Accept: "application/json" } })
    .then((response) => response.json())
    .then((vault) => {
      series = vault.nav_series;
      draw(series);
      document.getElementById("vault-nav").textContent = vault.nav_per_share;
      // Opened after the series is loaded, so a live point is never drawn before the history behind it.
      if (canvas.dataset.wsPath) liveSocket(canvas.dataset.wsPath, canvas, navUpdate);
    })
    .catch(() => { document.getElementById("vault-nav-empty").hidden = false; });

  function navUpdate(message) {
    if (message.type !== "nav") return;
    document.getElementById("vault-nav").textContent = message.nav_per_share;
    const point = { at: message.at, nav_per_share: message.nav_per_share };
    const last = series[series.length - 1];
    // A snapshot older than the chart's last point (a reconnect replay or a late delivery) is not appended.
    if (last && Date.parse(point.at) < Date.parse(last.at)) return;
    series.push(point);
    if (series.length > MAX_POINTS) series.shift();
    document.getElementById("vault-nav-empty").hidden = true;
    draw(series);
    canvas.dataset.updates = String(Number(canvas.dataset.updates || "0") + 1);
  }
})();

