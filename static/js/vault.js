// Vault page: the NAV per share series (from the vault API) drawn as a line on a canvas. Exact decimal strings
// become numbers only for drawing; every figure shown as text stays the API's exact string.
(function () {
  "use strict";
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

  fetch(canvas.dataset.apiUrl, { headers: { Accept: "application/json" } })
    .then((response) => response.json())
    .then((vault) => {
      draw(vault.nav_series);
      document.getElementById("vault-nav").textContent = vault.nav_per_share;
    })
    .catch(() => { document.getElementById("vault-nav-empty").hidden = false; });
})();
