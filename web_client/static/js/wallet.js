// The family's wallet page (#/wallet): balances with holds apart, adding money with the fee shown
// before paying, and the statement with "Older" paging and a CSV download.
//
// A deposit is priced first (POST /api/v1/deposits/quote) and paid only on "Confirm". Each
// confirmed deposit gets a fresh client_id; a retry after a lost answer (network error, 502 from
// the processor) sends the same one again, so the card is never charged twice.

import { ApiError, get, post } from "./api.js";
import { bindForm, el, fieldError, setStatus } from "./forms.js";
import { formatCents, formatWhen, kindPrefix, newClientId, parseDollars } from "./money.js";

const $ = (selector) => document.querySelector(selector);
const WALLET = { type: "wallet" };
const CHANNEL = "online";

export function setupWallet({ sessionEnded }) {
  const state = {
    pending: null, // {amount_cents, payment_token, card, quote, client_id}
    nextBefore: null,
  };

  const failed = (error, region) => {
    if (error instanceof ApiError && error.status === 401) {
      sessionEnded();
      return;
    }
    setStatus(region, error.message, "error");
  };

  // ---- balances --------------------------------------------------------------------------

  async function loadBalances() {
    const box = $("#wallet-balances");
    box.setAttribute("aria-busy", "true");
    try {
      const data = await get("/api/v1/wallet");
      $("#wallet-available").textContent = formatCents(data.wallet.balance_cents);
      $("#wallet-held").textContent = formatCents(data.wallet.held_cents);
      const ppc = data.ppc || [];
      $("#wallet-ppc").replaceChildren(
        ...ppc.map((p) =>
          el(
            "li",
            {},
            el("span", { class: "name" }, `Prepaid Collect for ${p.phone}`),
            el("span", { class: "amount" }, formatCents(p.balance_cents)),
          ),
        ),
      );
      $("#wallet-ppc").hidden = ppc.length === 0;
      const status = $("#wallet-status");
      if (status.dataset.kind === "error") setStatus(status, "");
    } catch (error) {
      failed(error, $("#wallet-status"));
    } finally {
      box.removeAttribute("aria-busy");
    }
  }

  // ---- statement -------------------------------------------------------------------------

  function row(line) {
    const amount = el("td", { class: "num" }, formatCents(line.amount_cents));
    amount.dataset.sign = line.amount_cents < 0 ? "minus" : "plus";
    return el(
      "tr",
      { dataset: { transactionId: line.transaction_id, kind: line.kind } },
      el("td", {}, formatWhen(line.at)),
      el(
        "td",
        {},
        el("span", { class: "kind" }, kindPrefix(line.kind, line.description)),
        " ",
        line.description || "",
      ),
      amount,
      el("td", { class: "num" }, formatCents(line.balance_after_cents)),
    );
  }

  async function loadStatement({ older = false } = {}) {
    const rows = $("#statement-rows");
    const status = $("#statement-status");
    rows.parentElement.setAttribute("aria-busy", "true");
    try {
      const page = await get("/api/v1/wallet/statement", {
        before: older ? state.nextBefore : undefined,
        limit: 20,
      });
      const lines = page.lines.map(row);
      if (older) rows.append(...lines);
      else rows.replaceChildren(...lines);
      state.nextBefore = page.next_before;
      $("#statement-older").hidden = !page.next_before;
      $("#statement-empty").hidden = rows.children.length > 0;
      if (older) {
        setStatus(status, lines.length === 1 ? "1 older line shown." : `${lines.length} older lines shown.`, "info");
      } else if (status.dataset.kind === "error") {
        setStatus(status, "");
      }
    } catch (error) {
      failed(error, status);
    } finally {
      rows.parentElement.removeAttribute("aria-busy");
    }
  }

  $("#statement-older").addEventListener("click", async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    await loadStatement({ older: true });
    button.disabled = false;
    if (button.hidden) $("#statement-heading").focus();
  });
  $("#statement-heading").tabIndex = -1;

  // ---- adding money ----------------------------------------------------------------------

  function showStep(step) {
    $("#deposit-form").hidden = step !== "form";
    $("#deposit-review").hidden = step !== "review";
    $("#deposit-receipt").hidden = step !== "receipt";
  }

  bindForm($("#deposit-form"), async (values, form) => {
    const cents = parseDollars(values.amount);
    if (cents === null || cents <= 0) {
      throw fieldError({ amount: "Enter an amount in dollars, such as 20.00." });
    }
    let quote;
    try {
      quote = await post("/api/v1/deposits/quote", {
        account: WALLET,
        amount_cents: cents,
        channel: CHANNEL,
      });
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return sessionEnded();
      // The server names the field amount_cents; the form calls it amount.
      if (error instanceof ApiError && error.fields?.amount_cents) {
        error.fields = { ...error.fields, amount: error.fields.amount_cents };
        delete error.fields.amount_cents;
      }
      throw error;
    }
    const card = form.elements.namedItem("payment_token");
    state.pending = {
      amount_cents: cents,
      payment_token: values.payment_token,
      card: card.options[card.selectedIndex].text,
      quote,
      client_id: null,
    };
    $("#review-amount").textContent = formatCents(quote.amount_cents);
    $("#review-fee").textContent = formatCents(quote.fee_cents);
    $("#review-total").textContent = formatCents(quote.total_cents);
    $("#review-card").textContent = state.pending.card;
    $("#deposit-confirm").textContent = `Confirm and pay ${formatCents(quote.total_cents)}`;
    setStatus($("#review-status"), "");
    showStep("review");
    $("#review-heading").focus();
    return "";
  });

  $("#deposit-change").addEventListener("click", () => {
    state.pending = null;
    showStep("form");
    $("#deposit-amount").focus();
  });

  $("#deposit-confirm").addEventListener("click", async () => {
    const pending = state.pending;
    if (!pending) return;
    const confirm = $("#deposit-confirm");
    const change = $("#deposit-change");
    const status = $("#review-status");
    // One key per confirmed deposit, kept until the server has answered for it.
    pending.client_id = pending.client_id || newClientId();
    confirm.disabled = change.disabled = true;
    setStatus(status, "Paying…", "info");
    try {
      const receipt = await post("/api/v1/deposits", {
        account: WALLET,
        amount_cents: pending.amount_cents,
        channel: CHANNEL,
        payment_token: pending.payment_token,
        client_id: pending.client_id,
      });
      state.pending = null;
      showReceipt(receipt);
      $("#deposit-form").reset();
      await Promise.all([loadBalances(), loadStatement()]);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return sessionEnded();
      const unanswered = error instanceof ApiError && (error.status === 0 || error.status === 502);
      if (unanswered) {
        const what = error.status === 0 ? error.message : "The payment processor did not answer.";
        setStatus(
          status,
          `${what} Press "Confirm and pay" again to retry: you will not be charged twice.`,
          "error",
        );
      } else {
        // Declined or refused: a new attempt is a new payment, with a new key.
        pending.client_id = null;
        setStatus(status, error.message, "error");
      }
    } finally {
      confirm.disabled = change.disabled = false;
    }
  });

  function showReceipt(receipt) {
    $("#receipt-id").textContent = String(receipt.id);
    $("#receipt-time").textContent = formatWhen(receipt.created_at);
    $("#receipt-amount").textContent = formatCents(receipt.amount_cents);
    $("#receipt-fee").textContent = formatCents(receipt.fee_cents);
    $("#receipt-total").textContent = formatCents(receipt.total_cents);
    $("#receipt-reference").textContent = receipt.reference || "—";
    showStep("receipt");
    setStatus($("#wallet-status"), `${formatCents(receipt.amount_cents)} added to your wallet.`, "ok");
    $("#receipt-heading").focus();
  }

  $("#receipt-done").addEventListener("click", () => {
    showStep("form");
    $("#deposit-amount").focus();
  });

  $("#wallet-refresh").addEventListener("click", () => refresh());

  function refresh() {
    return Promise.all([loadBalances(), loadStatement()]);
  }

  return {
    show() {
      if (!state.pending && $("#deposit-receipt").hidden) showStep("form");
      return refresh();
    },
    refresh,
    reset() {
      state.pending = null;
      state.nextBefore = null;
      showStep("form");
      $("#statement-rows").replaceChildren();
    },
  };
}
