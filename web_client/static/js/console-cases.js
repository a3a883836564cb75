// Two pages of cases: appeals (#/appeals), where a sender's request to look again at a
// rejected message is upheld or overturned with a reason by a facility admin (overturning
// delivers it, free; support staff read the list), and blocked family accounts (#/blocks),
// where a family account is blocked for the whole facility with a reason and an optional last
// day, and a block is lifted with a reason (facility admins; global support, who choose the
// facility). Who may is the server's permission table, carried by the principal (`may`).

import { ApiError, api, get, post } from "./api.js";
import { bindForm, el, fieldError, setStatus } from "./forms.js";
import { formatWhen } from "./money.js";
import {
  checkReason,
  checkUntil,
  ender,
  fillFacilities,
  forgetFacilities,
  formatDay,
  isGlobal,
  may,
} from "./console-common.js";

const $ = (selector) => document.querySelector(selector);

function nameOf(value, fallback) {
  if (!value) return fallback;
  if (typeof value === "string") return value;
  return value.name || value.display_name || fallback;
}

export function setupAppeals({ sessionEnded, me, reasonDialog }) {
  const ended = ender(sessionEnded);
  const status = $("#appeals-status");
  const state = { loaded: false, count: 0 };

  function counted(n) {
    state.count = n;
    const badge = $("#nav-appeals-count");
    badge.textContent = n ? ` (${n})` : "";
    badge.hidden = n === 0;
  }

  async function load() {
    if (!may(me(), "appeal.read")) return;
    try {
      const { items } = await get("/api/v1/staff/appeals");
      $("#appeals-list").replaceChildren(...items.map(appealItem));
      state.loaded = true;
      $("#appeals-empty").hidden = items.length > 0;
      counted(items.length);
      if (status.dataset.kind === "error") setStatus(status, "");
    } catch (error) {
      if (ended(error)) return;
      if (error instanceof ApiError && error.status === 404 && !state.loaded) {
        setStatus(status, "This server does not take appeals yet.", "info");
        $("#appeals-list").replaceChildren();
        return;
      }
      setStatus(status, error.message, "error");
    }
  }

  function appealItem(appeal) {
    const m = appeal.message || {};
    const from = appeal.sender_name || m.sender_name || "the sender";
    const to = appeal.recipient_name || m.recipient_name || "the recipient";
    const what = `the appeal from ${from} about the message to ${to}`;
    const headingId = `appeal-${appeal.id}`;
    const item = el(
      "li",
      { class: "appeal", dataset: { appealId: appeal.id }, "aria-labelledby": headingId },
      el(
        "div",
        { class: "who" },
        el("h2", { class: "name", id: headingId }, `${from} → ${to}`),
        el(
          "span",
          { class: "meta" },
          `Message sent ${formatWhen(m.created_at)}; rejected by ${nameOf(appeal.rejected_by, "staff")}; ` +
            `appealed ${formatWhen(appeal.created_at)}`,
        ),
        el("p", { class: "review-body" }, m.body ?? ""),
        el(
          "p",
          { class: "reason" },
          `Rejected because: ${appeal.rejection_reason || m.rejection_reason || "no reason given"}`,
        ),
        el("p", { class: "appeal-text" }, el("strong", {}, "The sender says: "), appeal.text ?? ""),
      ),
    );
    const overturn = el(
      "button",
      { type: "button", class: "ok", "aria-label": `Overturn: ${what}` },
      "Overturn…",
    );
    const uphold = el(
      "button",
      { type: "button", class: "secondary", "aria-label": `Uphold: ${what}` },
      "Uphold…",
    );
    overturn.addEventListener("click", () => decide(appeal, "overturn", overturn, from, to));
    uphold.addEventListener("click", () => decide(appeal, "uphold", uphold, from, to));
    if (may(me(), "appeal.decide")) item.append(el("div", { class: "actions" }, overturn, uphold));
    return item;
  }

  function decide(appeal, decision, opener, from, to) {
    const overturn = decision === "overturn";
    reasonDialog.open({
      title: overturn ? "Overturn the rejection" : "Uphold the rejection",
      what: overturn
        ? `The message from ${from} to ${to} is delivered now, free of charge. ${from} sees your reason.`
        : `The message from ${from} to ${to} stays rejected. ${from} sees your reason.`,
      submit: overturn ? "Overturn and deliver" : "Uphold",
      opener,
      fallback: $("#appeals-heading"),
      onSubmit: async ({ reason }) => {
        try {
          await post(`/api/v1/staff/appeals/${appeal.id}/decide`, { decision, reason });
          setStatus(
            status,
            overturn
              ? `Overturned: the message from ${from} is delivered.`
              : `Upheld: the message from ${from} stays rejected.`,
            "ok",
          );
        } catch (error) {
          if (!(error instanceof ApiError) || (error.status !== 409 && error.status !== 404)) throw error;
          setStatus(status, `${error.message} The appeal has left the list.`, "error");
        }
        await load();
      },
    });
  }

  $("#appeals-refresh").addEventListener("click", load);

  return {
    show: load,
    prime: load,
    changed() {
      load();
    },
    reset() {
      state.loaded = false;
      $("#appeals-list").replaceChildren();
      counted(0);
      setStatus(status, "");
    },
  };
}

export function setupBlocks({ sessionEnded, me, reasonDialog }) {
  const ended = ender(sessionEnded);
  const status = $("#blocks-status");
  const form = $("#blocks-form");
  const picker = $("#blocks-facility");
  const facilityId = () => (isGlobal(me()) ? Number(picker.value) : me().facility_id);
  const url = () => `/api/v1/staff/facilities/${facilityId()}/blocks`;

  /** Global support choose the facility (`facility`: one to pick); false: none to choose. */
  async function prepare(facility) {
    const global = isGlobal(me());
    $("#blocks-facility-form").hidden = !global;
    picker.disabled = !global;
    if (!global) return true;
    if (!(await fillFacilities(picker))) {
      setStatus(status, "There is no facility yet.", "info");
      return false;
    }
    if (facility && [...picker.options].some((o) => o.value === String(facility))) {
      picker.value = String(facility);
    }
    return true;
  }

  async function load() {
    if (!may(me(), "family.block")) return;
    try {
      const data = await get(url());
      const blocks = data.items || data.blocks || [];
      $("#blocks-list").replaceChildren(...blocks.map(blockItem));
      $("#blocks-empty").hidden = blocks.length > 0;
      if (status.dataset.kind === "error") setStatus(status, "");
    } catch (error) {
      if (!ended(error)) setStatus(status, error.message, "error");
    }
  }

  function blockItem(block) {
    const account = block.family || block.family_account || { id: block.family_account_id };
    const who = account.name ? `${account.name} (account ${account.id})` : `Family account ${account.id}`;
    const by = nameOf(block.created_by || block.blocked_by, null);
    const item = el(
      "li",
      { dataset: { blockId: block.id, accountId: account.id } },
      el(
        "div",
        { class: "who" },
        el("span", { class: "name" }, who),
        el(
          "span",
          { class: "meta" },
          `Since ${formatWhen(block.created_at)}${by ? ` by ${by}` : ""} · ` +
            (block.until ? `until ${formatDay(block.until)} (the last day)` : "no end date"),
        ),
        block.reason ? el("span", { class: "reason" }, `Reason: ${block.reason}`) : null,
      ),
    );
    const lift = el(
      "button",
      { type: "button", class: "secondary", "aria-label": `Lift the block on ${who}` },
      "Lift…",
    );
    lift.addEventListener("click", () =>
      reasonDialog.open({
        title: "Lift the block",
        what: `${who} can write to and hear from residents of this facility again.`,
        submit: "Lift the block",
        opener: lift,
        fallback: $("#blocks-list-heading"),
        onSubmit: async ({ reason }) => {
          await api("DELETE", `${url()}/${block.id}`, { body: { reason } });
          setStatus(status, `Lifted the block on ${who}.`, "ok");
          await load();
        },
      }),
    );
    item.append(el("div", { class: "actions" }, lift));
    return item;
  }

  bindForm(form, async (values) => {
    const problems = {};
    const account = values.family_account_id.trim();
    if (!/^\d{1,12}$/.test(account) || Number(account) < 1) {
      problems.family_account_id = "Enter the account's number, such as 12.";
    }
    const reason = checkReason(values.reason, problems);
    const until = checkUntil(values.until, problems);
    if (Object.keys(problems).length) throw fieldError(problems);
    const body = { family_account_id: Number(account), reason };
    if (until) body.until = until;
    try {
      await post(url(), body);
    } catch (error) {
      if (ended(error)) return null;
      throw error;
    }
    form.reset();
    await load();
    return `Blocked family account ${account}${until ? ` until ${formatDay(until)}` : ""}.`;
  });

  $("#blocks-refresh").addEventListener("click", load);
  picker.addEventListener("change", load);
  $("#blocks-facility-form").addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });

  return {
    /** `account`: a family account number to fill in (from a contact's link); `facility`:
     *  the contact's facility, for global support. */
    async show(account, facility) {
      try {
        if (!(await prepare(facility))) return;
      } catch (error) {
        if (!ended(error)) setStatus(status, error.message, "error");
        return;
      }
      if (account) {
        form.reset();
        form.elements.namedItem("family_account_id").value = account;
      }
      await load();
      if (account) $("#fb-reason").focus();
    },
    reset() {
      form.reset();
      forgetFacilities(picker);
      $("#blocks-list").replaceChildren();
      setStatus(status, "");
    },
  };
}
