// Link a wallet from the account page with a browser wallet (EIP-1193 window.ethereum):
// ask for the account, fetch the Sign-In with Ethereum message, have the wallet sign it, post it back.
// Without a browser wallet the page's manual form does the same in three steps.
(function () {
  "use strict";
  const root = document.getElementById("wallet-connect");
  if (!root) return;
  const button = document.getElementById("wallet-connect-button");
  const status = document.getElementById("wallet-connect-status");
  const labelInput = document.getElementById("wallet-connect-label");
  const csrfInput = document.querySelector("input[name=csrfmiddlewaretoken]");

  function say(text) {
    status.textContent = text;
  }

  if (!window.ethereum || typeof window.ethereum.request !== "function") {
    say("No browser wallet detected: use “Link by hand” below.");
    return;
  }
  button.disabled = false;

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": csrfInput ? csrfInput.value : "",
      },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(function () { return null; });
    if (!response.ok) {
      const message = data && data.error ? data.error.message : "The server answered " + response.status + ".";
      const error = new Error(message);
      error.code = data && data.error ? data.error.code : "";
      throw error;
    }
    return data;
  }

  // personal_sign takes the message as hex of its UTF-8 bytes: every wallet reads that the same way.
  function utf8Hex(text) {
    const bytes = new TextEncoder().encode(text);
    return "0x" + Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  button.addEventListener("click", async function () {
    // Linking needs a fresh password (and TOTP) confirmation: the page says where, and brings the user back.
    if (button.dataset.reauthenticateUrl) {
      window.location.href = button.dataset.reauthenticateUrl;
      return;
    }
    button.disabled = true;
    try {
      say("Asking your wallet for an account…");
      const accounts = await window.ethereum.request({ method: "eth_requestAccounts" });
      if (!accounts || !accounts.length) throw new Error("The wallet shared no account.");
      const address = accounts[0];
      const chainId = parseInt(await window.ethereum.request({ method: "eth_chainId" }), 16);
      say("Preparing the message for " + address + "…");
      const challenge = await post(root.dataset.nonceUrl, { address: address, chain_id: chainId });
      say("Sign the message in your wallet.");
      const signature = await window.ethereum.request({
        method: "personal_sign",
        params: [utf8Hex(challenge.message), address],
      });
      say("Checking the signature…");
      const wallet = await post(root.dataset.linkUrl, {
        message: challenge.message,
        signature: signature,
        label: labelInput ? labelInput.value : "",
      });
      say("Linked " + wallet.address + ".");
      window.location.reload();
    } catch (error) {
      if (error && /reauthentication_required$/.test(error.code || "")) {
        window.location.reload();  // the confirmation lapsed: the reloaded page links to it again
        return;
      }
      say((error && error.message) || String(error));
    } finally {
      button.disabled = false;
    }
  });
})();
