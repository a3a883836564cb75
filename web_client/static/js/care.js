// Customer care in the console (#/care), for support staff and facility admins: find a family
// account, see its balances, contacts and wallet statement, refund a charge or credit the wallet
// with a reason, and approve or reject other staff members' requests above the facility's limit.
// The server audits every step; this page only asks.

import { ApiError, get, post } from "./api.js";
import { bindForm, clearErrors, el, fieldError, setStatus, statusOf } from "./forms.js";
import { formatCents, formatWhen, kindLabel, kindPrefix, newClientId, parseDollars } from "./money.js";

const $ = (selector) => document.querySelector(selector);

export function setupCare({ sessionEnded, me }) {
  const state = {
    account: null, // the family account on screen
    nextBefore: null,
    lines: [], // statement lines loaded so far (for the charge picker)
    issue: null, // {fingerprint, key, unanswered}: the last issue attempt
    rejecting: null,
    opener: null,
  };

  const ended = (error) => error instanceof ApiError && error.status === 401 && (sessionEnded(), true);

  // ---- search ----------------------------------------------------------------------------

  bindForm($("#care-search-form"), async (values) => {
    const q = values.q.trim();
    if (q.length < 2) throw fieldError({ q: "Type at least 2 characters." });
    let accounts;
    try {
      ({ accounts } = await get("/api/v1/staff/accounts", { q }));
    } catch (error) {
      if (ended(error)) return null;
      throw error;
    }
    $("#care-results").replaceChildren(...accounts.map(resultItem));
    if (!accounts.length) return "No family account found.";
    return accounts.length === 1 ? "1 account found." : `${accounts.length} accounts found.`;
  });

  function resultItem(account) {
    const open = el(
      "button",
      { type: "button", class: "secondary", "aria-label": `Open ${account.name}'s account` },
      "Open",
    );
    open.addEventListener("click", () => openAccount(account.id));
    return el(
      "li",
      { dataset: { accountId: account.id } },
      el(
        "div",
        { class: "who" },
        el("span", { class: "name" }, `${account.name} · account ${account.id}`),
        el("span", { class: "meta" }, `${account.username} · ${account.email} · ${account.status}`),
      ),
      el("div", { class: "actions" }, open),
    );
  }

  // ---- one account -----------------------------------------------------------------------

  async function openAccount(id) {
    try {
      const account = await get(`/api/v1/staff/accounts/${id}`);
      state.account = account;
      renderAccount(account);
      $("#care-account").hidden = false;
      resetIssueForm();
      await loadStatement();
      $("#account-heading").focus();
    } catch (error) {
      if (ended(error)) return;
      setStatus(statusOf($("#care-search-form")), error.message, "error");
    }
  }

  function renderAccount(account) {
    $("#account-heading").textContent = `${account.name} (account ${account.id})`;
    $("#account-meta").textContent =
      `${account.username} · ${account.email} · ${account.status} · ` +
      `since ${new Date(account.created_at).toLocaleDateString()}`;
    const wallet = account.balances.find((b) => b.kind === "family_wallet");
    $("#account-available").textContent = formatCents(wallet ? wallet.balance_cents : 0);
    $("#account-held").textContent = formatCents(wallet ? wallet.held_cents : 0);
    $("#account-contacts").replaceChildren(
      ...account.contacts.map((c) =>
        el(
          "li",
          {},
          el(
            "div",
            { class: "who" },
            el("span", { class: "name" }, `${c.resident.name} · #${c.resident.resident_number}`),
            el("span", { class: "meta" }, `${c.facility.name}, ${c.relationship}`),
          ),
          el("span", { class: "badge", dataset: { status: c.status } }, c.status),
        ),
      ),
    );
    $("#account-contacts-empty").hidden = account.contacts.length > 0;
  }

  async function refreshAccount() {
    if (!state.account) return;
    try {
      state.account = await get(`/api/v1/staff/accounts/${state.account.id}`);
      renderAccount(state.account);
      await loadStatement();
    } catch (error) {
      if (!ended(error)) setStatus($("#queue-status"), error.message, "error");
    }
  }

  function statementRow(line) {
    const amount = el("td", { class: "num" }, formatCents(line.amount_cents));
    amount.dataset.sign = line.amount_cents < 0 ? "minus" : "plus";
    const actions = el("td", {});
    if (line.refundable_cents > 0) {
      const refund = el(
        "button",
        {
          type: "button",
          class: "secondary",
          "aria-label": `Refund charge ${line.transaction_id} (${formatCents(-line.amount_cents)})`,
        },
        "Refund…",
      );
      refund.addEventListener("click", () => startRefund(line));
      actions.append(refund);
    }
    return el(
      "tr",
      { dataset: { transactionId: line.transaction_id, kind: line.kind } },
      el("td", {}, formatWhen(line.at)),
      el(
        "td",
        {},
        el("span", { class: "kind" }, kindPrefix(line.kind, line.description)),
        ` #${line.transaction_id} `,
        el("span", { class: line.redacted ? "redacted" : null }, line.description),
      ),
      amount,
      el("td", { class: "num" }, formatCents(line.balance_after_cents)),
      actions,
    );
  }

  async function loadStatement({ older = false } = {}) {
    const rows = $("#care-statement-rows");
    const page = await get(`/api/v1/staff/accounts/${state.account.id}/statement`, {
      before: older ? state.nextBefore : undefined,
      limit: 20,
    });
    state.lines = older ? [...state.lines, ...page.lines] : page.lines;
    const made = page.lines.map(statementRow);
    if (older) rows.append(...made);
    else rows.replaceChildren(...made);
    state.nextBefore = page.next_before;
    $("#care-older").hidden = !page.next_before;
    $("#care-statement-empty").hidden = rows.children.length > 0;
    fillCharges();
  }

  $("#care-older").addEventListener("click", async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    try {
      await loadStatement({ older: true });
    } catch (error) {
      if (!ended(error)) setStatus($("#queue-status"), error.message, "error");
    }
    button.disabled = false;
    if (button.hidden) $("#care-statement-heading").focus();
  });

  // ---- refund or credit ------------------------------------------------------------------

  function fillCharges(selected) {
    const select = $("#issue-charge");
    const keep = selected ?? select.value;
    const charges = state.lines.filter((l) => l.refundable_cents > 0);
    select.replaceChildren(
      ...charges.map((l) =>
        el(
          "option",
          { value: l.transaction_id },
          `#${l.transaction_id} · ${formatWhen(l.at)} · ${l.description} · ` +
            `${formatCents(l.refundable_cents)} refundable`,
        ),
      ),
    );
    if (keep && charges.some((l) => String(l.transaction_id) === String(keep))) select.value = keep;
  }

  function syncKind() {
    $("#issue-charge-field").hidden = $("#issue-kind").value !== "refund";
  }
  $("#issue-kind").addEventListener("change", syncKind);

  function resetIssueForm() {
    const form = $("#issue-form");
    form.reset();
    clearErrors(form);
    setStatus(statusOf(form), "");
    state.issue = null;
    syncKind();
  }

  function startRefund(line) {
    $("#issue-kind").value = "refund";
    syncKind();
    fillCharges(String(line.transaction_id));
    $("#issue-amount").value = (line.refundable_cents / 100).toFixed(2);
    $("#issue-amount").focus();
  }

  bindForm($("#issue-form"), async (values, form) => {
    const cents = parseDollars(values.amount);
    const reason = values.reason.trim();
    const problems = {};
    if (cents === null || cents <= 0) problems.amount = "Enter an amount in dollars, such as 3.00.";
    if (reason.length < 3) problems.reason = "Give a reason of at least 3 characters.";
    if (values.kind === "refund" && !values.charge_id) {
      problems.charge_id = "There is no charge left to refund on the statement shown.";
    }
    if (Object.keys(problems).length) throw fieldError(problems);
    const body = {
      family_account_id: state.account.id,
      kind: values.kind,
      amount_cents: cents,
      reason,
    };
    if (values.kind === "refund") body.charge_id = Number(values.charge_id);
    // The same request after a lost answer keeps its key, so it can never be issued twice.
    const fingerprint = JSON.stringify(body);
    if (!(state.issue && state.issue.unanswered && state.issue.fingerprint === fingerprint)) {
      state.issue = { fingerprint, key: newClientId(), unanswered: false };
    }
    let answer;
    try {
      answer = await post("/api/v1/staff/refunds", { ...body, client_id: state.issue.key });
    } catch (error) {
      if (ended(error)) return null;
      state.issue.unanswered = error instanceof ApiError && (error.status === 0 || error.status >= 500);
      if (error instanceof ApiError && error.fields?.amount_cents) {
        error.fields = { ...error.fields, amount: error.fields.amount_cents };
        delete error.fields.amount_cents;
      }
      throw error;
    }
    state.issue = null;
    const what = `${formatCents(answer.amount_cents)} ${values.kind === "refund" ? "refund" : "credit"}`;
    form.reset();
    syncKind();
    await Promise.all([refreshAccount(), loadQueue()]);
    if (answer.status === "done") return `Done: ${what} for ${state.account.name}.`;
    return (
      `Pending approval: the ${what} is above the limit of ${formatCents(answer.threshold_cents)}. ` +
      "Another staff member must approve it."
    );
  });

  // ---- approvals -------------------------------------------------------------------------

  async function loadQueue() {
    const status = $("#queue-status");
    try {
      const { requests } = await get("/api/v1/staff/refunds", { status: "pending" });
      $("#care-queue").replaceChildren(...requests.map(queueItem));
      $("#care-queue-empty").hidden = requests.length > 0;
      if (status.dataset.kind === "error") setStatus(status, "");
    } catch (error) {
      if (!ended(error)) setStatus(status, error.message, "error");
    }
  }

  function describe(r) {
    return `${kindLabel(r.kind)} of ${formatCents(r.amount_cents)} for ${r.family_account.name}`;
  }

  function queueItem(r) {
    const mine = r.requested_by.id === me()?.id;
    const item = el(
      "li",
      { dataset: { requestId: r.id, status: r.status } },
      el(
        "div",
        { class: "who" },
        el("span", { class: "name" }, describe(r)),
        el(
          "span",
          { class: "meta" },
          `Account ${r.family_account.id}${r.charge_id ? ` · charge #${r.charge_id}` : ""} · ` +
            `asked by ${r.requested_by.name}, ${formatWhen(r.requested_at)}`,
        ),
        el("span", { class: "reason" }, `Reason: ${r.reason}`),
        mine ? el("span", { class: "mine" }, "Your request: another staff member must approve it.") : null,
      ),
    );
    const buttons = [];
    if (!mine) {
      const approve = el("button", { type: "button", class: "ok", "aria-label": `Approve: ${describe(r)}` },
        "Approve");
      approve.addEventListener("click", () => confirmApprove(item, r));
      buttons.push(approve);
    }
    const reject = el(
      "button",
      { type: "button", class: "danger", "aria-label": `${mine ? "Withdraw" : "Reject"}: ${describe(r)}` },
      mine ? "Withdraw" : "Reject",
    );
    reject.addEventListener("click", () => openReject(r, reject));
    buttons.push(reject);
    item.append(el("div", { class: "actions" }, buttons));
    return item;
  }

  function confirmApprove(item, r) {
    const yes = el("button", { type: "button", class: "ok" }, "Yes, approve");
    const no = el("button", { type: "button", class: "secondary" }, "Cancel");
    const row = el("div", { class: "confirm-row", role: "group", "aria-label": `Approve ${describe(r)}?` },
      el("span", {}, `Approve and pay ${formatCents(r.amount_cents)}?`), yes, no);
    item.querySelector(".actions").replaceWith(row);
    yes.focus();
    no.addEventListener("click", async () => {
      await loadQueue();
      const again = $(`#care-queue [data-request-id="${r.id}"] button`);
      (again || $("#queue-heading")).focus();
    });
    yes.addEventListener("click", async () => {
      yes.disabled = no.disabled = true;
      const status = $("#queue-status");
      try {
        await post(`/api/v1/staff/refunds/${r.id}/approve`);
        setStatus(status, `Approved: ${describe(r)}. The money has moved.`, "ok");
      } catch (error) {
        if (ended(error)) return;
        setStatus(status, error.message, "error");
      }
      await Promise.all([loadQueue(), state.account?.id === r.family_account.id ? refreshAccount() : null]);
      $("#queue-heading").focus();
    });
  }

  function openReject(r, opener) {
    state.rejecting = r;
    state.opener = opener;
    const form = $("#reject-form");
    form.reset();
    clearErrors(form);
    setStatus(statusOf(form), "");
    $("#reject-what").textContent = `${describe(r)}, asked by ${r.requested_by.name}.`;
    $("#reject-dialog").showModal();
    $("#reject-reason").focus();
  }

  $("#reject-cancel").addEventListener("click", () => $("#reject-dialog").close());
  $("#reject-dialog").addEventListener("close", () => {
    state.rejecting = null;
    if (state.opener?.isConnected) state.opener.focus();
    else $("#queue-heading").focus();
  });

  bindForm($("#reject-form"), async (values) => {
    const r = state.rejecting;
    const reason = values.reason.trim();
    if (reason.length < 3) throw fieldError({ reason: "Give a reason of at least 3 characters." });
    try {
      await post(`/api/v1/staff/refunds/${r.id}/reject`, { reason });
    } catch (error) {
      if (ended(error)) {
        $("#reject-dialog").close();
        return null;
      }
      throw error;
    }
    state.opener = null;
    $("#reject-dialog").close();
    setStatus($("#queue-status"), `Rejected: ${describe(r)}.`, "ok");
    await loadQueue();
    return "";
  });

  $("#queue-refresh").addEventListener("click", () => loadQueue());

  return {
    show() {
      loadQueue();
      if (state.account) refreshAccount();
    },
    refreshMoney() {
      loadQueue();
      if (state.account) refreshAccount();
    },
    reset() {
      state.account = null;
      state.lines = [];
      $("#care-account").hidden = true;
      $("#care-results").replaceChildren();
      $("#care-queue").replaceChildren();
    },
  };
}
