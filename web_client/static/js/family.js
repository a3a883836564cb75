// The family app at /: sign up, activate, sign in, reset a password, find a person in custody
// and ask to connect (in family-find.js), follow the contact list, the conversations (in
// conversation.js) and the wallet (in wallet.js). Hash routes (#/login, #/contacts,
// #/messages/<contact id>, #/wallet, ...), except the password-reset link from the e-mail,
// which arrives at /reset-password?token=...

import { ApiError, currentPrincipal, get, post, signOut } from "./api.js";
import { bindForm, el, fieldError, reportError, setStatus, statusOf } from "./forms.js";
import { conversationLink, setupConversation } from "./conversation.js";
import { connectLive } from "./live.js";
import { setupFind } from "./family-find.js";
import { setupWallet } from "./wallet.js";

const $ = (selector) => document.querySelector(selector);

const PRIVATE = new Set(["contacts", "find", "wallet", "messages"]);
const SIGNED_OUT_ONLY = new Set(["login", "signup"]);
const STATUS_LABELS = {
  pending: "Pending: waiting for approval",
  approved: "Approved",
  denied: "Denied",
  removed: "Removed",
  blocked: "Blocked by the facility",
};

const state = {
  principal: null, // the signed-in family member
  otherSession: false, // this browser is signed in to the tablet or console app
  live: null,
  flash: null,
  started: false,
};

// ---- routing ---------------------------------------------------------------------------------

function go(name) {
  if (location.pathname !== "/") {
    history.replaceState(null, "", `/#/${name}`);
    route();
  } else if (location.hash === `#/${name}`) {
    route();
  } else {
    location.hash = `#/${name}`;
  }
}

function flash(message, kind = "ok") {
  state.flash = { message, kind };
}

/** The view's name and its one parameter (#/messages/12 -> ["messages", 12]). */
function currentView() {
  if (location.pathname === "/reset-password") {
    if (!location.hash) return ["reset", null];
    history.replaceState(null, "", "/" + location.hash);
  }
  const [name, param] = location.hash.replace(/^#\/?/, "").split("/");
  if (name === "messages") {
    if (/^[1-9]\d{0,15}$/.test(param || "")) return [name, Number(param)];
  } else if (name && !param && document.getElementById(`view-${name}`)) {
    return [name, null];
  }
  return [state.principal ? "contacts" : "login", null];
}

function route() {
  let [name, param] = currentView();
  if (PRIVATE.has(name) && !state.principal) {
    flash(state.flash?.message || "Please sign in first.", state.flash?.kind || "info");
    name = "login";
  } else if (SIGNED_OUT_ONLY.has(name) && state.principal) {
    name = "contacts";
  }
  for (const view of document.querySelectorAll("main > section")) {
    view.hidden = view.id !== `view-${name}`;
  }
  const view = document.getElementById(`view-${name}`);
  document.title = `${view.dataset.title} · Homeline`;
  for (const link of document.querySelectorAll("nav a")) {
    if (link.getAttribute("href") === `#/${name}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const pageStatus = $("#page-status");
  setStatus(pageStatus, state.flash?.message || "", state.flash?.kind);
  state.flash = null;
  // Move focus to the new view's heading so screen readers announce the change; not on the
  // first load, where the browser's own focus handling is right.
  if (state.started) view.querySelector("h1").focus();
  state.started = true;

  if (name === "contacts") loadContacts();
  if (name === "find") find.show();
  if (name === "wallet") wallet.show();
  if (name === "reset") prepareReset();
  if (name === "messages") conversation.open(param, state.principal);
  else conversation.close();
}

// ---- signed in or not --------------------------------------------------------------------------

function setPrincipal(principal) {
  state.principal = principal;
  $("#nav-in").hidden = !principal;
  $("#nav-out").hidden = Boolean(principal);
  $("#whoami").textContent = principal ? `Signed in as ${principal.display_name}` : "";
  if (principal && !state.live) {
    state.live = connectLive($("#live"), {
      onEvent: (event) => {
        const type = String(event?.type || "");
        if (type.startsWith("contact.")) refreshVisibleList();
        if (type.startsWith("wallet.") && !$("#view-wallet").hidden) wallet.refresh();
        if (type.startsWith("message.") || type.startsWith("wallet.")) conversation.handleEvent(event);
      },
      onSync: ({ reconnected }) => {
        if (reconnected) conversation.resync();
      },
      onReconnect: () => {
        refreshVisibleList();
        if (!$("#view-wallet").hidden) wallet.refresh();
      },
      onSessionEnded: (message) => sessionEnded(message),
    });
    state.live.ready.then(() => conversation.loadUnread());
  } else if (!principal && state.live) {
    state.live.close();
    state.live = null;
  }
  if (!principal) {
    wallet.reset();
    conversation.reset();
  }
}

function refreshVisibleList() {
  if (!$("#view-contacts").hidden) loadContacts();
}

function sessionEnded(message = "Your session has ended. Please sign in again.") {
  setPrincipal(null);
  flash(message, "info");
  go("login");
}

// ---- accounts ----------------------------------------------------------------------------------

bindForm($("#signup-form"), async (values, form) => {
  const answer = await post("/api/v1/accounts", values);
  $("#act-email").value = values.email;
  $("#resend-email").value = values.email;
  form.reset();
  flash(`${answer.message} Enter the code from the e-mail below.`, "ok");
  go("activate");
  return "";
});

bindForm($("#activate-form"), async (values, form) => {
  const answer = await post("/api/v1/accounts/activate", values);
  form.reset();
  flash(`${answer.message} You can sign in now.`, "ok");
  go("login");
  return "";
});

bindForm($("#resend-form"), async (values) => {
  const answer = await post("/api/v1/accounts/activation/resend", values);
  $("#act-email").value = values.email;
  return answer.message;
});

bindForm($("#forgot-form"), async (values) => {
  const answer = await post("/api/v1/password-resets", values);
  return answer.message;
});

function resetToken() {
  return new URLSearchParams(location.search).get("token") || "";
}

function prepareReset() {
  if (!resetToken()) {
    setStatus(
      statusOf($("#reset-form")),
      "This link is incomplete. Open the link from the e-mail again, or ask for a new one.",
      "error",
    );
  }
}

bindForm($("#reset-form"), async (values, form) => {
  if (values.password !== values.password_confirm) {
    throw fieldError({ password_confirm: "The passwords do not match." });
  }
  const answer = await post("/api/v1/password-resets/confirm", {
    token: resetToken(),
    password: values.password,
  });
  form.reset();
  flash(answer.message, "ok");
  go("login");
  return "";
});

bindForm($("#login-form"), async (values, form) => {
  if (state.otherSession) {
    // One browser holds one session: end the tablet or console session first.
    await signOut();
    state.otherSession = false;
  }
  try {
    const answer = await post("/api/v1/sessions", {
      username: values.username,
      password: values.password,
    });
    form.reset();
    setPrincipal(answer.principal);
    go("contacts");
    return "";
  } catch (error) {
    if (!(error instanceof ApiError) || error.code !== "not_activated") throw error;
    reportError(form, error);
    const region = statusOf(form);
    region.append(" ", el("a", { href: "#/activate" }, "Enter your code"), " or ",
      el("a", { href: "#/resend" }, "get a new one"), ".");
    return null;
  }
});

$("#sign-out").addEventListener("click", async () => {
  try {
    await signOut();
  } catch (error) {
    setStatus($("#page-status"), error.message, "error");
    return;
  }
  setPrincipal(null);
  flash("You are signed out.", "ok");
  go("login");
});

// ---- contacts ----------------------------------------------------------------------------------

async function loadContacts() {
  const status = $("#contacts-status");
  const list = $("#contacts-list");
  list.setAttribute("aria-busy", "true");
  try {
    const { contacts } = await get("/api/v1/contacts");
    list.replaceChildren(...contacts.map(contactItem));
    conversation.paintBadges();
    $("#contacts-empty").hidden = contacts.length > 0;
    if (status.dataset.kind === "error") setStatus(status, "");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return sessionEnded();
    setStatus(status, error.message, "error");
  } finally {
    list.removeAttribute("aria-busy");
  }
}

function contactItem(contact) {
  const name = contact.resident.name;
  const item = el(
    "li",
    { dataset: { contactId: contact.id, status: contact.status } },
    el(
      "div",
      { class: "who" },
      el("span", { class: "name" }, name),
      el(
        "span",
        { class: "meta" },
        `#${contact.resident.resident_number} · ${contact.facility.name} · ${contact.relationship}`,
      ),
    ),
    el("span", { class: "badge", dataset: { status: contact.status } },
      STATUS_LABELS[contact.status] || contact.status),
  );
  const actions = el("div", { class: "actions" });
  if (contact.status === "approved") {
    actions.append(conversationLink(contact.id, name, `#/messages/${contact.id}`));
  }
  if (contact.status === "pending" || contact.status === "approved") {
    const remove = el("button", { type: "button", class: "secondary", "aria-label": `Remove ${name}` },
      "Remove");
    remove.addEventListener("click", () => confirmRemove(item, remove, contact));
    actions.append(remove);
  }
  if (actions.childElementCount) item.append(actions);
  return item;
}

function confirmRemove(item, button, contact) {
  const name = contact.resident.name;
  const yes = el("button", { type: "button", class: "danger" }, "Yes, remove");
  const no = el("button", { type: "button", class: "secondary" }, "Keep");
  const row = el("div", { class: "confirm-row", role: "group", "aria-label": `Remove ${name}?` },
    el("span", {}, `Remove ${name}?`), yes, no);
  button.parentElement.replaceWith(row);
  yes.focus();
  // The list is redrawn afterwards: put focus back where the keyboard user was.
  const refocus = async () => {
    await loadContacts();
    const again = $(`#contacts-list [data-contact-id="${contact.id}"] button`);
    (again || $("#view-contacts h1")).focus();
  };
  no.addEventListener("click", refocus);
  yes.addEventListener("click", async () => {
    yes.disabled = no.disabled = true;
    try {
      await post(`/api/v1/contacts/${contact.id}/remove`);
      setStatus($("#contacts-status"), `${name} is removed from your contacts.`, "ok");
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return sessionEnded();
      setStatus($("#contacts-status"), error.message, "error");
    }
    await refocus();
  });
}

$("#contacts-refresh").addEventListener("click", () => loadContacts());

// ---- finding a person, the wallet and the conversations -----------------------------------------

const find = setupFind({ sessionEnded: () => sessionEnded() });
const wallet = setupWallet({ sessionEnded: () => sessionEnded() });
const conversation = setupConversation({
  section: $("#view-messages"),
  contactName: (contact) => contact.resident.name,
  backHref: "#/contacts",
  addMoneyHref: "#/wallet",
  live: () => state.live,
  sessionEnded: () => sessionEnded(),
  photos: true,
});

// ---- start -------------------------------------------------------------------------------------

async function start() {
  try {
    const principal = await currentPrincipal();
    if (principal && principal.kind === "family") setPrincipal(principal);
    else state.otherSession = Boolean(principal);
  } catch (error) {
    flash(error.message, "error");
  }
  window.addEventListener("hashchange", route);
  route();
}

start();
