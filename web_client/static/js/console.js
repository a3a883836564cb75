// The staff console at /console: staff sign in, the facility's contacts, and blocking a
// contact with a reason (the server writes it to the audit log); customer care (#/care, in
// care.js) for support staff and facility admins; the tariff and its rate-cap check
// (#/tariff, in tariff.js) for all staff, editable by the facility's admins.

import { ApiError, get, post, signOut } from "./api.js";
import { CARE_ROLES, setupCare } from "./care.js";
import { bindForm, clearErrors, el, fieldError, setStatus, statusOf } from "./forms.js";
import { connectLive } from "./live.js";
import { bindSignOut, startApp } from "./session.js";
import { setupTariff } from "./tariff.js";

const $ = (selector) => document.querySelector(selector);
const state = { principal: null, otherSession: false, live: null, blocking: null, opener: null };

const STATUS_LABELS = {
  pending: "Pending",
  approved: "Approved",
  denied: "Denied",
  removed: "Removed",
  blocked: "Blocked",
};

const VIEWS = { contacts: "Contacts", care: "Customer care", tariff: "Tariff" };

function mayCare(principal) {
  return Boolean(principal && CARE_ROLES.has(principal.role));
}

function show(principal, message = "", kind = "ok") {
  const was = state.principal;
  state.principal = principal;
  $("#view-login").hidden = Boolean(principal);
  $("#nav-in").hidden = !principal;
  $("#nav-care").hidden = !mayCare(principal);
  $("#whoami").textContent = principal
    ? `${principal.display_name}${principal.role ? ` (${principal.role.replaceAll("_", " ")})` : ""}`
    : "";
  setStatus($("#page-status"), message, kind);
  if (principal) {
    if (!state.live) {
      state.live = connectLive($("#live"), {
        onEvent: (event) => {
          const type = String(event?.type || "");
          if (type.startsWith("contact.")) loadContacts();
          if (type.startsWith("wallet.") || type.startsWith("refund.")) care.refreshMoney();
        },
        onReconnect: () => {
          loadContacts();
          if (!$("#view-care").hidden) care.refreshMoney();
        },
      });
    }
  } else if (state.live) {
    state.live.close();
    state.live = null;
  }
  if (!principal || (was && was.id !== principal.id)) {
    care.reset();
    tariff.reset();
  }
  route();
}

/** #/contacts (the default), #/care or #/tariff; nothing but the sign-in form when signed out. */
function route() {
  const principal = state.principal;
  let name = location.hash.replace(/^#\/?/, "") || "contacts";
  if (!(name in VIEWS) || (name === "care" && !mayCare(principal))) name = "contacts";
  $("#view-contacts").hidden = !principal || name !== "contacts";
  $("#view-care").hidden = !principal || name !== "care";
  $("#view-tariff").hidden = !principal || name !== "tariff";
  for (const link of document.querySelectorAll("#nav-in a")) {
    if (link.getAttribute("href") === `#/${name}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = principal ? `${VIEWS[name]} · Homeline console` : "Sign in · Homeline console";
  if (!principal) return;
  if (name === "contacts") loadContacts();
  if (name === "care") care.show();
  if (name === "tariff") tariff.show();
}

window.addEventListener("hashchange", () => {
  route();
  const view = state.principal && document.querySelector("main > section:not([hidden]) h1");
  if (view) view.focus();
});

function sessionEnded() {
  show(null, "Your session has ended. Please sign in again.", "info");
}

async function loadContacts() {
  const status = $("#contacts-status");
  const filter = $("#filter-status").value;
  try {
    const { contacts } = await get("/api/v1/contacts", { status: filter });
    $("#contacts-list").replaceChildren(...contacts.map(contactItem));
    $("#contacts-empty").hidden = contacts.length > 0;
    if (status.dataset.kind === "error") setStatus(status, "");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return sessionEnded();
    setStatus(status, error.message, "error");
  }
}

function describe(contact) {
  return `${contact.family.name} and ${contact.resident.name} (#${contact.resident.resident_number})`;
}

function contactItem(contact) {
  const item = el(
    "li",
    { dataset: { contactId: contact.id, status: contact.status } },
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
      contact.status_reason
        ? el("span", { class: "reason" }, `Reason: ${contact.status_reason}`)
        : null,
    ),
    el("span", { class: "badge", dataset: { status: contact.status } },
      STATUS_LABELS[contact.status] || contact.status),
  );
  if (contact.status !== "blocked") {
    const block = el("button", { type: "button", class: "danger", "aria-label": `Block ${describe(contact)}` },
      "Block");
    block.addEventListener("click", () => openBlock(contact, block));
    item.append(el("div", { class: "actions" }, block));
  }
  return item;
}

function openBlock(contact, opener) {
  state.blocking = contact;
  state.opener = opener;
  const form = $("#block-form");
  form.reset();
  clearErrors(form);
  setStatus(statusOf(form), "");
  $("#block-who").textContent = `Block the contact between ${describe(contact)}.`;
  $("#block-dialog").showModal();
  $("#block-reason").focus();
}

$("#block-cancel").addEventListener("click", () => $("#block-dialog").close());
$("#block-dialog").addEventListener("close", () => {
  state.blocking = null;
  if (state.opener?.isConnected) state.opener.focus();
  else $("#contacts-heading").focus();
});

bindForm($("#block-form"), async (values) => {
  const contact = state.blocking;
  const reason = values.reason.trim();
  if (reason.length < 3) throw fieldError({ reason: "Give a reason of at least 3 characters." });
  try {
    await post(`/api/v1/contacts/${contact.id}/block`, { reason });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      $("#block-dialog").close();
      return sessionEnded();
    }
    throw error;
  }
  state.opener = null;
  $("#block-dialog").close();
  setStatus($("#contacts-status"), `Blocked: ${describe(contact)}.`, "ok");
  await loadContacts();
  return "";
});

$("#filter-form").addEventListener("submit", (event) => {
  event.preventDefault();
  loadContacts();
});
$("#filter-status").addEventListener("change", () => loadContacts());

bindForm($("#login-form"), async (values, form) => {
  if (state.otherSession) {
    await signOut();
    state.otherSession = false;
  }
  const answer = await post("/api/v1/staff/sessions", {
    username: values.username,
    password: values.password,
  });
  form.reset();
  show(answer.principal);
  document.querySelector("main > section:not([hidden]) h1")?.focus();
  return "";
});

const care = setupCare({ sessionEnded: () => sessionEnded(), me: () => state.principal });
const tariff = setupTariff({ sessionEnded: () => sessionEnded(), me: () => state.principal });

bindSignOut(show);
startApp("staff", show, state);
