// Custody pages: request a withdrawal (POST /api/v1/custody/withdrawals/), then on the proposal page show exactly
// what is signed, sign it with a browser wallet (EIP-1193 window.ethereum, eth_signTypedData_v4) from one linked
// wallet and then the other, and follow the proposal to execution. Every figure stays the server's exact text.
(function () {
  "use strict";
  const CLOSED = ["executed", "failed", "cancelled"];
  const POLL_MS = 3000;

  function csrfToken() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  async function api(url, method, body) {
    const response = await fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(function () { return null; });
    if (!response.ok) {
      throw new Error(data && data.error ? data.error.message : "The server answered " + response.status + ".");
    }
    return data;
  }

  // Base units as decimal text in asset units, without floating point: "1500000" with 6 decimals is "1.5".
  function assetUnits(baseUnits, decimals) {
    const digits = String(baseUnits).padStart(decimals + 1, "0");
    const whole = digits.slice(0, digits.length - decimals);
    const fraction = digits.slice(digits.length - decimals).replace(/0+$/, "");
    return fraction ? whole + "." + fraction : whole;
  }

  // ---- request a withdrawal ------------------------------------------------------------------------------
  const form = document.getElementById("withdraw-form");
  if (form) {
    const error = document.getElementById("withdraw-error");
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      error.hidden = true;
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      const quantity = form.elements.quantity.value.trim();
      const minutes = Number(form.elements.minutes.value || "60");
      const body = {
        vault: form.dataset.vault,
        destination: form.elements.destination.value,
        deadline: new Date(Date.now() + minutes * 60000).toISOString(),
      };
      body[form.elements.what.value] = quantity;
      try {
        const proposal = await api(form.dataset.createUrl, "POST", body);
        window.location.assign("/vaults/proposals/" + proposal.id + "/");
      } catch (failure) {
        error.textContent = failure.message;
        error.hidden = false;
        button.disabled = false;
      }
    });
  }

  // ---- one proposal --------------------------------------------------------------------------------------
  const root = document.getElementById("proposal");
  if (!root) return;
  const signButton = document.getElementById("proposal-sign");
  const cancelButton = document.getElementById("proposal-cancel");
  const walletStatus = document.getElementById("proposal-wallet-status");
  const decimals = Number(root.dataset.assetDecimals);
  const hasWallet = Boolean(window.ethereum && typeof window.ethereum.request === "function");
  let current = null;

  function text(id, value) {
    const element = document.getElementById(id);
    if (element) element.textContent = value;
  }

  function render(proposal) {
    current = proposal;
    const state = document.getElementById("proposal-state");
    state.textContent = proposal.state_label;
    state.dataset.state = proposal.state;
    text("proposal-reason", proposal.state_reason || "");
    text("proposal-safe-tx-hash", proposal.safe_tx_hash);
    text("proposal-tx", proposal.submission_tx_hash || "—");
    const request = proposal.request;
    if (request) {
      const message = request.typed_data.message;
      text("request-amount", request.amount + " base units = " + assetUnits(request.amount, decimals));
      text("request-destination", request.destination);
      text("request-vault", message.vault);
      text("request-chain", message.chainId);
      text("request-nonce", request.nonce);
      text("request-deadline", request.deadline);
      text("request-hash", request.hash);
      text("request-typed-data", JSON.stringify(request.typed_data, null, 2));
    }
    const list = document.getElementById("proposal-signatures");
    if (list) {
      list.replaceChildren();
      proposal.signatures.forEach(function (signature) {
        const item = document.createElement("li");
        item.dataset.signer = signature.signer;
        item.textContent = (signature.kind === "depositor" ? "Your wallet " : "Safe owner ") + signature.signer;
        list.appendChild(item);
      });
    }
    const open = proposal.state === "proposed";
    if (signButton) signButton.disabled = !(open && hasWallet);
    if (cancelButton) cancelButton.hidden = CLOSED.includes(proposal.state) || proposal.state === "submitted";
    if (signButton && !hasWallet && open) walletStatus.textContent = "No browser wallet detected.";
  }

  async function refresh() {
    try {
      render(await api(root.dataset.apiUrl, "GET"));
    } catch (failure) {
      walletStatus.textContent = failure.message;
    }
    if (!current || !CLOSED.includes(current.state)) setTimeout(refresh, POLL_MS);
  }

  if (signButton) {
    signButton.addEventListener("click", async function () {
      signButton.disabled = true;
      try {
        walletStatus.textContent = "Asking your wallet for an account…";
        const accounts = await window.ethereum.request({ method: "eth_requestAccounts" });
        if (!accounts || !accounts.length) throw new Error("The wallet shared no account.");
        const address = accounts[0];
        const signed = current.signatures.some(function (s) {
          return s.kind === "depositor" && s.signer.toLowerCase() === address.toLowerCase();
        });
        if (signed) {
          throw new Error(address + " has signed already: switch your wallet to your other linked account.");
        }
        walletStatus.textContent = "Sign the withdrawal request in your wallet (" + address + ").";
        const signature = await window.ethereum.request({
          method: "eth_signTypedData_v4",
          params: [address, JSON.stringify(current.request.typed_data)],
        });
        walletStatus.textContent = "Checking the signature…";
        render(await api(root.dataset.signaturesUrl, "POST", { signature: signature }));
        walletStatus.textContent = current.state === "proposed"
          ? "Signed by " + address + ". Now switch your wallet to your other linked account and sign again."
          : "Signed by both wallets: the Safe owners sign next.";
      } catch (failure) {
        walletStatus.textContent = (failure && failure.message) || String(failure);
        if (current) render(current);
      }
    });
  }
  if (cancelButton) {
    cancelButton.addEventListener("click", async function () {
      if (!window.confirm("Cancel this proposal? The withdrawal stays reserved and can be signed again.")) return;
      try {
        render(await api(root.dataset.cancelUrl, "POST"));
      } catch (failure) {
        walletStatus.textContent = failure.message;
      }
    });
  }
  refresh();
})();
