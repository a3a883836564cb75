// Contacts in the console (#/contacts): the facility's contacts with their status. Those the
// permission table lets block (facility administrators; global support) block a contact (with
// a reason and an optional last day), reinstate it and go to blocking the family account for
// the whole facility; facility administrators also mark one as privileged (legal counsel with
// a bar number, or an abuse reporting line) and revoke that. Everyone else reads the list.
// Every change is audited by the server with the reason given here.

import { api, get, post } from "./api.js";
import { bindForm, clearErrors, el, fieldError, setStatus, statusOf } from "./forms.js";
import { checkReason, checkUntil, ender, formatDay, may } from "./console-common.js";

const $ = (selector) => document.querySelector(selector);

const STATUS_LABELS = {
  pending: "Pending",
  approved: "Approved",
  denied: "Denied",
  removed: "Removed",
  blocked: "Blocked",
};

export function describeContact(contact) {
  return `${contact.family.name} and ${contact.resident.name} (#${contact.resident.resident_number})`;
}

/** What staff see of a privileged contact's credentials, never its messages. */
function privilegeSummary(contact) {
  if (typeof contact.privilege_summary === "string") return contact.privilege_summary;
  const p = contact.privilege || contact.credentials;
  if (p && typeof p === "object") {
    if (p.summary) return String(p.summary);
    if (p.kind === "legal_counsel") {
      return `Legal counsel${p.bar_number ? `, bar number ${p.bar_number}` : ""}${p.bar_state ? ` (${p.bar_state})` : ""}`;
    }
    if (p.kind === "abuse_line") return `Abuse reporting line${p.organisation ? `: ${p.organisation}` : ""}`;
  }
  return "Privileged";
}

export function setupContacts({ sessionEnded, me, reasonDialog }) {
  const state = { blocking: null, opener: null, privileging: null };
  const ended = ender(sessionEnded);
  const status = $("#contacts-status");

  async function load() {
    const filter = $("#filter-status").value;
    try {
      const { contacts } = await get("/api/v1/contacts", { status: filter });
      $("#contacts-list").replaceChildren(...contacts.map(contactItem));
      $("#contacts-empty").hidden = contacts.length > 0;
      if (status.dataset.kind === "error") setStatus(status, "");
    } catch (error) {
      if (!ended(error)) setStatus(status, error.message, "error");
    }
  }

  function contactItem(contact) {
    const until = contact.blocked_until || contact.until || null;
    const item = el(
      "li",
      {
        dataset: {
          contactId: contact.id,
          status: contact.status,
          privileged: contact.privileged ? "true" : null,
        },
      },
      el(
        "div",
        { class: "who" },
        el("span", { class: "name" }, `${contact.resident.name} · #${contact.resident.resident_number}`),
        el(
          "span",
          { class: "meta" },
          `${contact.family.name} (account ${contact.family.id}), ${contact.relationship}, ` +
            `asked ${new Date(contact.requested_at).toLocaleDateString()}`,
        ),
        contact.privileged ? el("span", { class: "privilege" }, privilegeSummary(contact)) : null,
        contact.status_reason ? el("span", { class: "reason" }, `Reason: ${contact.status_reason}`) : null,
        contact.status === "blocked" && until
          ? el("span", { class: "reason" }, `Blocked until ${formatDay(until)}`)
          : null,
      ),
      el(
        "div",
        { class: "badges" },
        contact.privileged
          ? el("span", { class: "badge", dataset: { status: "privileged" } }, "Privileged")
          : null,
        el(
          "span",
          { class: "badge", dataset: { status: contact.status } },
          STATUS_LABELS[contact.status] || contact.status,
        ),
      ),
    );
    const principal = me();
    const blocks = may(principal, "contact.block");
    const privileges = may(principal, "privilege.manage");
    if (!blocks && !privileges) return item; // read only
    const who = describeContact(contact);
    const buttons = [];
    const button = (text, label, kind, action) => {
      const b = el("button", { type: "button", class: kind, "aria-label": `${label} ${who}` }, text);
      b.addEventListener("click", () => action(b));
      buttons.push(b);
    };
    // No other button's name says "block": "Block" alone names the one that blocks.
    if (blocks && contact.status === "blocked")
      button("Reinstate…", "Reinstate", "secondary", (b) => openUnblock(contact, b));
    else if (blocks) button("Block", "Block", "danger", (b) => openBlock(contact, b));
    if (privileges && contact.privileged)
      button("Revoke privilege…", "Revoke the privilege of", "secondary", (b) => openRevoke(contact, b));
    else if (privileges && (contact.status === "approved" || contact.status === "pending")) {
      button("Mark privileged…", "Mark as privileged:", "secondary", (b) => openPrivilege(contact, b));
    }
    const facility = contact.facility?.id ?? contact.facility_id;
    const family = may(principal, "family.block")
      ? el(
          "a",
          { href: `#/blocks/${contact.family.id}/${facility}`, class: "button secondary" },
          `Block family account ${contact.family.id}…`,
        )
      : null;
    item.append(el("div", { class: "actions" }, buttons, family));
    return item;
  }

  function refocus(contact, fallback) {
    const again = $(`#contacts-list [data-contact-id="${contact.id}"] button`);
    (again || fallback || $("#contacts-heading")).focus();
  }

  // ---- block, with an optional last day --------------------------------------------------

  function openBlock(contact, opener) {
    state.blocking = contact;
    state.opener = opener;
    const form = $("#block-form");
    form.reset();
    clearErrors(form);
    setStatus(statusOf(form), "");
    $("#block-who").textContent = `Block the contact between ${describeContact(contact)}.`;
    $("#block-dialog").showModal();
    $("#block-reason").focus();
  }

  $("#block-cancel").addEventListener("click", () => $("#block-dialog").close());
  $("#block-dialog").addEventListener("close", () => {
    const contact = state.blocking;
    state.blocking = null;
    if (state.opener?.isConnected) state.opener.focus();
    else if (contact) refocus(contact);
  });

  bindForm($("#block-form"), async (values) => {
    const contact = state.blocking;
    const problems = {};
    const reason = checkReason(values.reason, problems);
    const until = checkUntil(values.until, problems);
    if (Object.keys(problems).length) throw fieldError(problems);
    try {
      await post(`/api/v1/contacts/${contact.id}/block`, until ? { reason, until } : { reason });
    } catch (error) {
      if (ended(error)) {
        $("#block-dialog").close();
        return null;
      }
      throw error;
    }
    state.opener = null;
    $("#block-dialog").close();
    setStatus(
      status,
      `Blocked: ${describeContact(contact)}${until ? ` until ${formatDay(until)}` : ""}.`,
      "ok",
    );
    await load();
    refocus(contact);
    return "";
  });

  function openUnblock(contact, opener) {
    reasonDialog.open({
      title: "Reinstate contact",
      what: `Lift the block on the contact between ${describeContact(contact)}. They can write to each other again.`,
      submit: "Reinstate",
      opener,
      fallback: $("#contacts-heading"),
      onSubmit: async ({ reason }) => {
        await post(`/api/v1/contacts/${contact.id}/unblock`, { reason });
        setStatus(status, `Reinstated: ${describeContact(contact)}.`, "ok");
        await load();
      },
    });
  }

  // ---- privilege -------------------------------------------------------------------------

  function syncKind() {
    const counsel = $("#pv-kind-counsel").checked;
    $("#pv-counsel-fields").hidden = !counsel;
    $("#pv-abuse-fields").hidden = counsel;
    for (const id of ["#pv-bar-number", "#pv-bar-state"]) $(id).disabled = !counsel;
    $("#pv-organisation").disabled = counsel;
  }
  for (const radio of document.querySelectorAll('#privilege-form input[name="kind"]')) {
    radio.addEventListener("change", syncKind);
  }

  function openPrivilege(contact, opener) {
    state.privileging = contact;
    state.opener = opener;
    const form = $("#privilege-form");
    form.reset();
    clearErrors(form);
    setStatus(statusOf(form), "");
    syncKind();
    $("#privilege-who").textContent = `The contact between ${describeContact(contact)}.`;
    $("#privilege-dialog").showModal();
    $("#pv-kind-counsel").focus();
  }

  $("#privilege-cancel").addEventListener("click", () => $("#privilege-dialog").close());
  $("#privilege-dialog").addEventListener("close", () => {
    const contact = state.privileging;
    state.privileging = null;
    if (state.opener?.isConnected) state.opener.focus();
    else if (contact) refocus(contact);
  });

  bindForm($("#privilege-form"), async (values) => {
    const contact = state.privileging;
    const problems = {};
    const body = { kind: values.kind };
    const kind = values.kind;
    if (kind === "legal_counsel") {
      body.bar_number = (values.bar_number || "").trim();
      body.bar_state = (values.bar_state || "").trim().toUpperCase();
      if (!body.bar_number) problems.bar_number = "Enter the bar number.";
      if (!/^[A-Z]{2}$/.test(body.bar_state))
        problems.bar_state = "Enter the state's two letters, such as NY.";
    } else {
      body.organisation = (values.organisation || "").trim();
      if (!body.organisation) problems.organisation = "Enter the organisation.";
    }
    const note = (values.note || "").trim();
    if (note) body.note = note;
    if (Object.keys(problems).length) throw fieldError(problems);
    try {
      await post(`/api/v1/staff/contacts/${contact.id}/privilege`, body);
    } catch (error) {
      if (ended(error)) {
        $("#privilege-dialog").close();
        return null;
      }
      throw error;
    }
    state.opener = null;
    $("#privilege-dialog").close();
    setStatus(
      status,
      `Marked as privileged: ${describeContact(contact)}. Staff no longer see its messages.`,
      "ok",
    );
    await load();
    refocus(contact);
    return "";
  });

  function openRevoke(contact, opener) {
    reasonDialog.open({
      title: "Revoke privilege",
      what: `The contact between ${describeContact(contact)} becomes an ordinary contact: its new messages follow the facility's policy.`,
      submit: "Revoke",
      danger: true,
      opener,
      fallback: $("#contacts-heading"),
      onSubmit: async ({ reason }) => {
        await api("DELETE", `/api/v1/staff/contacts/${contact.id}/privilege`, { body: { reason } });
        setStatus(status, `Privilege revoked: ${describeContact(contact)}.`, "ok");
        await load();
      },
    });
  }

  $("#filter-form").addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  $("#filter-status").addEventListener("change", () => load());

  return {
    show: load,
    load,
    reset() {
      $("#contacts-list").replaceChildren();
      setStatus(status, "");
    },
  };
}
