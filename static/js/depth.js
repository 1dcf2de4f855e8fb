// Depth chart of one market's consolidated book: cumulative bids and asks on a canvas, live from
// /ws/orderbook/<BASE-QUOTE>/ (the first message is the last published snapshot). Reconnects with backoff.
// Prices and sizes arrive as exact decimal strings; they become numbers only to place pixels.
(function () {
  "use strict";
  const canvas = document.getElementById("depth-chart");
  if (!canvas) return;
  const badge = document.getElementById("depth-connection");
  const context = canvas.getContext("2d");
  let updates = 0;
  let delay = 1000;

  function setState(state, text) {
    badge.dataset.state = state;
    badge.textContent = text;
  }

  function cumulative(levels) {
    let total = 0;
    return levels.map(function (level) {
      total += Number(level.size);
      return { price: Number(level.price), total: total };
    });
  }

  function draw(snapshot) {
    const bids = cumulative(snapshot.bids);
    const asks = cumulative(snapshot.asks);
    const width = canvas.width;
    const height = canvas.height;
    const pad = 40;
    context.clearRect(0, 0, width, height);
    const prices = bids.map(function (p) { return p.price; }).concat(asks.map(function (p) { return p.price; }));
    if (prices.length === 0) return;
    const low = Math.min.apply(null, prices);
    const high = Math.max.apply(null, prices);
    const span = high - low || 1;
    const top = Math.max(bids.length ? bids[bids.length - 1].total : 0, asks.length ? asks[asks.length - 1].total : 0) || 1;
    const x = function (price) { return pad + ((price - low) / span) * (width - 2 * pad); };
    const y = function (total) { return height - pad - (total / top) * (height - 2 * pad); };

    function side(points, fill, stroke) {
      if (points.length === 0) return;
      context.beginPath();
      context.moveTo(x(points[0].price), y(0));
      points.forEach(function (point) { context.lineTo(x(point.price), y(point.total)); });
      context.lineTo(x(points[points.length - 1].price), y(0));
      context.closePath();
      context.fillStyle = fill;
      context.fill();
      context.strokeStyle = stroke;
      context.stroke();
    }
    side(bids, "rgba(22, 163, 74, 0.35)", "rgb(22, 163, 74)");
    side(asks, "rgba(220, 38, 38, 0.35)", "rgb(220, 38, 38)");
    context.fillStyle = "#555";
    context.font = "12px sans-serif";
    context.fillText(String(low), pad, height - 12);
    context.fillText(String(high), width - pad - 60, height - 12);

    canvas.dataset.bids = String(bids.length);
    canvas.dataset.asks = String(asks.length);
    canvas.dataset.bestBid = snapshot.bids.length ? snapshot.bids[0].price : "";
    canvas.dataset.bestAsk = snapshot.asks.length ? snapshot.asks[0].price : "";
    canvas.dataset.state = "drawn";
  }

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function venues(snapshot) {
    const body = document.getElementById("depth-venues");
    body.replaceChildren();
    snapshot.venues.forEach(function (venue) {
      const row = document.createElement("tr");
      row.dataset.venue = venue.venue;
      const resyncs = Object.values(venue.resyncs).reduce(function (a, b) { return a + b; }, 0);
      [venue.venue, venue.state, venue.bid ? venue.bid.size + " @ " + venue.bid.price : "—",
        venue.ask ? venue.ask.price + " x " + venue.ask.size : "—", String(resyncs)].forEach(function (text) {
        row.appendChild(cell(text));
      });
      body.appendChild(row);
    });
    document.getElementById("depth-time").textContent = snapshot.time;
    document.getElementById("depth-signals").textContent = snapshot.signals.length
      ? snapshot.signals.map(function (s) {
        return "buy " + s.buy_venue + " " + s.buy_price + " / sell " + s.sell_venue + " " + s.sell_price;
      }).join("; ")
      : "none";
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + canvas.dataset.wsPath);
    socket.onopen = function () { delay = 1000; setState("live", "live"); };
    socket.onmessage = function (event) {
      const message = JSON.parse(event.data);
      if (message.type !== "orderbook") return;
      draw(message.snapshot);
      venues(message.snapshot);
      updates += 1;
      canvas.dataset.updates = String(updates);
    };
    socket.onclose = function (event) {
      if (event.code === 4400) { setState("closed", "not a market"); return; }
      setState("reconnecting", "reconnecting…");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();
