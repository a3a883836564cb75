// The resident's tablet at /tablet: sign in with facility, resident number and PIN, then
// approve or deny requests to connect, see the approved contacts with their unread counts and
// the balances, read and answer messages (#/messages/<contact id>, in conversation.js), and see
// every photo received (#/photos, in photo-gallery.js).

import { ApiError, get, post, signOut } from "./api.js";
import { conversationLink, setupConversation } from "./conversation.js";
import { bindForm, el, setStatus, statusOf } from "./forms.js";
import { connectLive } from "./live.js";
import { formatCents } from "./money.js";
import { setupGallery } from "./photo-gallery.js";
import { bindSignOut, startApp } from "./session.js";

const $ = (selector) => document.querySelector(selector);
const state = {
  principal: null,
  otherSession: false,
  live: null,
  routed: false,
  fromConversation: false,
  names: new Map(), // contact id -> the family member's name, for the gallery
};

const conversation = setupConversation({
  section: $("#view-messages"),
  contactName: (contact) => contact.family.name,
  backHref: "#/",
  addMoneyHref: null,
  live: () => state.live,
  sessionEnded: () => sessionEnded(),
});

const gallery = setupGallery({
  section: $("#view-photos"),
  backHref: "#/",
  nameOf: (contactId) => state.names.get(Number(contactId)) || "",
  sessionEnded: () => sessionEnded(),
});

function show(principal, message = "", kind = "ok") {
  state.principal = principal;
  $("#view-login").hidden = Boolean(principal);
  $("#nav-in").hidden = !principal;
  $("#whoami").textContent = principal ? principal.display_name : "";
  setStatus($("#page-status"), message, kind);
  if (principal) {
    if (!state.live) {
      state.live = connectLive($("#live"), {
        onEvent: (event) => {
          const type = String(event?.type || "");
          if (type.startsWith("contact.")) loadContacts();
          if (type.startsWith("wallet.")) loadMoney();
          if (type.startsWith("message.") || type.startsWith("wallet.")) conversation.handleEvent(event);
          if (type.startsWith("message.")) gallery.refreshSoon();
        },
        onSync: ({ reconnected }) => {
          if (reconnected) conversation.resync();
        },
        onReconnect: () => {
          loadContacts();
          loadMoney();
        },
        onSessionEnded: (message) => show(null, message, "info"),
      });
      state.live.ready.then(() => conversation.loadUnread());
    }
    loadContacts();
    loadMoney();
  } else {
    if (state.live) state.live.close();
    state.live = null;
    conversation.reset();
    gallery.reset();
    state.names.clear();
    // A shared device: the next person starts on the home view, not in this conversation.
    if (location.hash) history.replaceState(null, "", location.pathname);
    loadFacilities();
  }
  route();
}

/** #/messages/<contact id>: one conversation; #/photos: the gallery; anything else: home. */
function route() {
  const principal = state.principal;
  const match = /^#\/messages\/([1-9]\d{0,15})$/.exec(location.hash);
  const contactId = principal && match ? Number(match[1]) : null;
  const photos = Boolean(principal) && location.hash === "#/photos";
  $("#view-home").hidden = !principal || contactId !== null || photos;
  $("#view-messages").hidden = contactId === null;
  $("#view-photos").hidden = !photos;
  if (!principal) {
    document.title = "Sign in · Homeline tablet";
    return;
  }
  if (photos) {
    document.title = "Photos · Homeline tablet";
    conversation.close();
    gallery.open();
    if (state.routed) gallery.heading.focus();
  } else if (contactId !== null) {
    document.title = "Messages · Homeline tablet";
    conversation.open(contactId, principal);
    if (state.routed) $("#conv-heading").focus();
  } else {
    document.title = "My contacts · Homeline tablet";
    conversation.close();
    if (state.routed && match === null && state.fromConversation) $("#approved-heading").focus();
  }
  state.fromConversation = contactId !== null || photos; // back home: focus on the contacts
  state.routed = true;
}

window.addEventListener("hashchange", route);

async function loadFacilities() {
  const select = $("#t-facility");
  if (select.options.length) return;
  try {
    const { facilities } = await get("/api/v1/facilities");
    select.replaceChildren(...facilities.map((f) => el("option", { value: f.id }, f.name)));
  } catch (error) {
    setStatus(statusOf($("#login-form")), error.message, "error");
  }
}

function sessionEnded() {
  show(null, "Your session has ended. Please sign in again.", "info");
}

async function loadContacts() {
  const status = $("#home-status");
  try {
    const { contacts } = await get("/api/v1/contacts");
    const pending = contacts.filter((c) => c.status === "pending");
    const approved = contacts.filter((c) => c.status === "approved");
    state.names = new Map(contacts.map((c) => [Number(c.id), c.family.name]));
    gallery.refreshSoon(); // the senders' names, if the gallery was drawn without them
    $("#pending-list").replaceChildren(...pending.map(pendingItem));
    $("#approved-list").replaceChildren(...approved.map(approvedItem));
    conversation.paintBadges();
    $("#pending-empty").hidden = pending.length > 0;
    $("#approved-empty").hidden = approved.length > 0;
    if (status.dataset.kind === "error") setStatus(status, "");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return sessionEnded();
    setStatus(status, error.message, "error");
  }
}

async function loadMoney() {
  const status = $("#money-status");
  const box = $("#money");
  box.setAttribute("aria-busy", "true");
  try {
    const data = await get("/api/v1/wallet");
    $("#money-wallet").textContent = formatCents(data.wallet.balance_cents);
    $("#money-held").textContent = formatCents(data.wallet.held_cents);
    $("#money-held-box").hidden = !data.wallet.held_cents;
    for (const [name, account] of [["pin", data.pin_debit], ["trust", data.trust]]) {
      $(`#money-${name}-box`).hidden = !account;
      if (account) $(`#money-${name}`).textContent = formatCents(account.balance_cents);
    }
    if (status.dataset.kind === "error") setStatus(status, "");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return sessionEnded();
    setStatus(status, error.message, "error");
  } finally {
    box.removeAttribute("aria-busy");
  }
}

function who(contact) {
  return el(
    "div",
    { class: "who" },
    el("span", { class: "name" }, contact.family.name),
    el("span", { class: "meta" }, `Relationship: ${contact.relationship}`),
  );
}

function pendingItem(contact) {
  const name = contact.family.name;
  const approve = el("button", { type: "button", class: "ok", "aria-label": `Approve ${name}` },
    "Approve");
  const deny = el("button", { type: "button", class: "danger", "aria-label": `Deny ${name}` },
    "Deny");
  approve.addEventListener("click", () => decide(contact, "approve", [approve, deny]));
  deny.addEventListener("click", () => decide(contact, "deny", [approve, deny]));
  return el("li", { dataset: { contactId: contact.id, status: contact.status } },
    who(contact), el("div", { class: "actions" }, approve, deny));
}

function approvedItem(contact) {
  return el("li", { dataset: { contactId: contact.id, status: contact.status } }, who(contact),
    el("span", { class: "badge", dataset: { status: contact.status } }, "Approved"),
    el("div", { class: "actions" },
      conversationLink(contact.id, contact.family.name, `#/messages/${contact.id}`)));
}

async function decide(contact, action, buttons) {
  buttons.forEach((b) => (b.disabled = true));
  const status = $("#home-status");
  try {
    await post(`/api/v1/contacts/${contact.id}/${action}`);
    setStatus(status,
      action === "approve" ? `${contact.family.name} is now a contact.`
        : `You denied the request from ${contact.family.name}.`, "ok");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return sessionEnded();
    setStatus(status, error.message, "error");
  }
  await loadContacts();
  $("#pending-heading").focus();
}

bindForm($("#login-form"), async (values, form) => {
  if (state.otherSession) {
    await signOut();
    state.otherSession = false;
  }
  const answer = await post("/api/v1/tablet/sessions", {
    facility_id: Number(values.facility_id),
    resident_number: values.resident_number.trim(),
    pin: values.pin,
    session: "cookie",
  });
  form.reset();
  show(answer.principal);
  $("#pending-heading").focus();
  return "";
});

$("#refresh").addEventListener("click", () => {
  loadContacts();
  loadMoney();
});

bindSignOut(show);
startApp("resident", show, state);
