// Live platform status over the /ws/status/ websocket; reconnects with backoff.
(function () {
  "use strict";
  const root = document.getElementById("platform-status");
  if (!root) return;
  const badge = document.getElementById("status-connection");
  const updates = document.getElementById("status-updates");
  let received = 0;
  let delay = 1000;

  function setState(state, text) {
    badge.dataset.state = state;
    badge.textContent = text;
  }

  // "2026-11-24T04:38:29.846869+00:00" -> "2026-11-24 04:38:29 UTC"; the server sends UTC only.
  function utc(iso) {
    return iso.slice(0, 19).replace("T", " ") + " UTC";
  }

  function describe(entry, key) {
    return entry ? entry[key] + " at " + utc(entry.at) : null;
  }

  function render(status) {
    document.getElementById("status-server-time").textContent = utc(status.server_time);
    document.getElementById("status-worker").textContent = describe(status.worker, "hostname") || "no heartbeat yet";
    document.getElementById("status-beat").textContent = describe(status.beat, "task") || "no beat run yet";
    received += 1;
    updates.textContent = String(received);
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + root.dataset.wsPath);
    socket.onopen = function () { delay = 1000; setState("live", "live"); };
    socket.onmessage = function (event) {
      const message = JSON.parse(event.data);
      if (message.type === "status") render(message.status);
    };
    socket.onclose = function (event) {
      if (event.code === 4401) { setState("closed", "sign in again"); return; }
      setState("reconnecting", "reconnecting…");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();
