// The fee calculator page: posts the scenario to the fee API and shows the exact result. Numbers stay strings
// (no float arithmetic): base units are shown in asset units by moving the decimal point.
(function () {
  "use strict";
  const form = document.getElementById("fee-calculator");
  if (!form) return;
  const input = document.getElementById("fee-scenario");
  const error = document.getElementById("fee-error");
  const result = document.getElementById("fee-result");

  function showError(text) {
    error.textContent = text;
    error.hidden = false;
    result.hidden = true;
  }

  // "1125488" with 6 decimals -> "1.125488"
  function assetUnits(baseUnits, decimals) {
    if (!decimals) return baseUnits;
    const digits = baseUnits.padStart(decimals + 1, "0");
    return digits.slice(0, -decimals) + "." + digits.slice(-decimals);
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    td.className = "mono";
    row.appendChild(td);
  }

  function render(data, decimals) {
    document.getElementById("fee-nav").textContent = data.nav_per_share;
    document.getElementById("fee-management-total").textContent = data.management_fee_total;
    document.getElementById("fee-performance-total").textContent = data.performance_fee_total;
    const body = document.querySelector("#fee-depositors tbody");
    body.replaceChildren();
    for (const [name, d] of Object.entries(data.depositors)) {
      const row = document.createElement("tr");
      row.dataset.depositor = name;
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = name;
      row.appendChild(th);
      cell(row, d.shares);
      cell(row, d.value);
      cell(row, d.net_value);
      cell(row, typeof decimals === "number" ? assetUnits(d.net_value, decimals) : "");
      cell(row, d.management_fee);
      cell(row, d.performance_fee);
      cell(row, d.paid_out);
      body.appendChild(row);
    }
    document.getElementById("fee-result-json").textContent = JSON.stringify(data, null, 2);
    error.hidden = true;
    result.hidden = false;
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    let scenario;
    try {
      scenario = JSON.parse(input.value);
    } catch (e) {
      showError("The scenario is not valid JSON: " + e.message);
      return;
    }
    let response;
    try {
      response = await fetch(form.dataset.apiUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: input.value,
      });
    } catch (e) {
      showError("The calculator could not reach the server.");
      return;
    }
    const data = await response.json().catch(() => null);
    if (!response.ok || !data) {
      showError(data && data.error ? data.error.message : "The server answered " + response.status + ".");
      return;
    }
    render(data, scenario && scenario.asset_decimals);
  });
})();
