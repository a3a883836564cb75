// One conversation over an approved contact, the same for the family app and the tablet:
// history paged by cursor ("Older messages"), live arrivals and status changes, the price
// before sending, a character counter, sending without ever sending twice, marking read,
// delete-for-me, downloads, and the unread counts shown next to each contact.
//
// Every message is kept by id and every change is merged into it, so an event that arrives
// twice (a push and the sync after a reconnect), a history page that overlaps what events
// brought, or the send's own answer racing its event, all show the message once. A status
// never moves backwards (a late "delivered" does not undo "read").
//
// A send uses socket.io `message:send` (plain HTTP when the socket is down) with a client_id
// made once per draft: a retry after an unknown outcome reuses it and the server answers with
// the first send, so a message is never stored or charged twice. The id is renewed only when
// the server has definitely refused the draft, or has definitely stored it.

import { ApiError, del, get, post } from "./api.js";
import { el, setStatus } from "./forms.js";
import { formatCents, formatWhen, newClientId } from "./money.js";

export const MAX_CHARS = 30000;
const PAGE = 30;
const NUMBER = new Intl.NumberFormat("en-US");
const RANK = { pending_review: 0, scheduled: 1, delivered: 2, read: 3, rejected: 3 };
const UNREAD_DELAY_MS = 120;

/** Characters as the server counts them: Unicode code points (an emoji is one). */
export const charCount = (text) => [...text].length;

/** 50 -> "50¢", 150 -> "$1.50". */
export function formatPrice(cents) {
  const value = Number(cents) || 0;
  return value > 0 && value < 100 ? `${value}¢` : formatCents(value);
}

function clock(iso) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return String(iso || "");
  const time = when.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  if (when.toDateString() === new Date().toDateString()) return time;
  return `${when.toLocaleDateString(undefined, { month: "short", day: "numeric" })}, ${time}`;
}

function snippet(text, length = 60) {
  const chars = [
    ...String(text || "")
      .replace(/\s+/g, " ")
      .trim(),
  ];
  return chars.length > length ? `${chars.slice(0, length).join("")}…` : chars.join("");
}

/** The link to a conversation, with its unread count, for a contact list. */
export function conversationLink(contactId, name, href) {
  return el(
    "a",
    { class: "button secondary conversation-link", href, dataset: { conversationFor: contactId } },
    "Messages",
    el("span", { class: "visually-hidden" }, ` with ${name}`),
    el("span", { class: "unread-count", dataset: { unreadFor: contactId }, hidden: true }),
  );
}

/**
 * Build the conversation view inside `section` and return its controller.
 *
 * contactName(contact): the other party's name; backHref: the contact list; addMoneyHref:
 * where to add money (null on the tablet); live(): the connection from live.js, or null;
 * sessionEnded(): the session is gone.
 */
export function setupConversation({
  section,
  contactName,
  backHref,
  addMoneyHref,
  live,
  sessionEnded,
}) {
  const state = {
    principal: null,
    contactId: null,
    contact: null,
    name: "",
    messages: new Map(), // id -> message JSON, merged
    items: new Map(), // id -> <li>
    deleted: new Set(), // ids deleted for me in this page: never shown again
    nextBefore: null,
    loaded: false,
    drafts: new Map(), // contact id -> {text, clientId}
    sending: false,
    markedUpTo: 0,
    unread: new Map(), // contact id -> count
    unreadTimer: null,
    generation: 0, // bumped on every open/close, so late answers for another view are dropped
  };

  // ---- the view's markup -------------------------------------------------------------------

  const heading = el("h1", { id: "conv-heading", tabindex: "-1" }, "Messages");
  const back = el("a", { href: backHref }, "Back to contacts");
  const exportTxt = el("a", { class: "button secondary", download: true }, "Download as text");
  const exportJson = el("a", { class: "button secondary", download: true }, "Download as JSON");
  const status = el("p", {
    class: "form-status",
    id: "conv-status",
    role: "status",
    "aria-live": "polite",
  });
  const announcer = el("p", {
    class: "visually-hidden",
    id: "conv-announce",
    "aria-live": "polite",
  });
  const older = el(
    "button",
    { type: "button", class: "secondary", id: "conv-older", hidden: true },
    "Older messages",
  );
  const list = el("ol", {
    class: "messages",
    id: "conv-list",
    tabindex: "0",
    "aria-labelledby": "conv-heading",
  });
  const empty = el("p", { class: "empty", id: "conv-empty", hidden: true }, "No messages yet.");
  const closedNote = el("p", { class: "note", id: "conv-closed", hidden: true });

  const textarea = el("textarea", {
    id: "conv-body",
    name: "body",
    rows: "5",
    spellcheck: "true",
    "aria-describedby": "conv-body-hint conv-count conv-price",
  });
  const label = el("label", { for: "conv-body" }, "Your message");
  const hint = el(
    "span",
    { class: "hint", id: "conv-body-hint" },
    `Up to ${NUMBER.format(MAX_CHARS)} characters. Press Ctrl+Enter to send.`,
  );
  const counter = el("p", { class: "counter", id: "conv-count" });
  const counterLive = el("p", {
    class: "visually-hidden",
    "aria-live": "polite",
    id: "conv-count-live",
  });
  const price = el("p", { class: "price", id: "conv-price", "aria-live": "polite" }, "Price: …");
  const sendButton = el("button", { type: "submit", id: "conv-send" }, "Send");
  const formStatus = el("p", {
    class: "form-status",
    id: "conv-form-status",
    role: "status",
    "aria-live": "polite",
  });
  const form = el(
    "form",
    { id: "conv-form", "aria-labelledby": "conv-form-heading" },
    el("h2", { id: "conv-form-heading", class: "visually-hidden" }, "Write a message"),
    el("div", { class: "field" }, label, hint, textarea, counter, counterLive),
    price,
    el("div", { class: "actions" }, sendButton),
    formStatus,
  );
  form.noValidate = true;

  section.classList.add("conversation");
  section.setAttribute("aria-labelledby", "conv-heading");
  section.replaceChildren(
    el(
      "div",
      { class: "toolbar" },
      heading,
      el("div", { class: "actions" }, back, exportTxt, exportJson),
    ),
    status,
    el("div", { class: "actions older-row" }, older),
    list,
    empty,
    announcer,
    closedNote,
    form,
  );

  // ---- helpers ----------------------------------------------------------------------------

  const visible = () => !section.hidden && document.visibilityState === "visible";
  const isMine = (m) =>
    typeof m.mine === "boolean"
      ? m.mine
      : Boolean(
          state.principal &&
          m.sender?.kind === state.principal.kind &&
          m.sender?.id === state.principal.id,
        );

  function failed(error, region) {
    if (error instanceof ApiError && error.status === 401) {
      sessionEnded();
      return true;
    }
    setStatus(region, error.message, "error");
    return false;
  }

  let announceTimer = null;
  function announce(text) {
    // Cleared first so the same sentence twice is read twice.
    announcer.textContent = "";
    clearTimeout(announceTimer);
    announceTimer = setTimeout(() => (announcer.textContent = text), 50);
  }

  // ---- one message ------------------------------------------------------------------------

  function stateLabel(m) {
    switch (m.status) {
      case "pending_review":
        return "Pending review by staff";
      case "scheduled":
        return m.deliver_at ? `Scheduled for ${clock(m.deliver_at)}` : "Scheduled";
      case "delivered":
        return "Delivered";
      case "read":
        return "Read";
      case "rejected":
        return "Rejected by staff";
      default:
        return m.status;
    }
  }

  function paidLabel(m) {
    if (!m.price_cents || !m.paid_by) return "Free";
    const amount = formatPrice(m.price_cents);
    return m.paid_by === "you" ? `You paid ${amount}` : `${state.name} paid ${amount}`;
  }

  function refundLabel(m) {
    if (m.status !== "rejected" || !m.price_cents || !m.paid_by) return null;
    if (m.refunded === false) return null;
    const amount = formatPrice(m.refunded_cents || m.price_cents);
    return m.paid_by === "you"
      ? `${amount} refunded to you`
      : `${amount} refunded to ${state.name}`;
  }

  function messageItem(m) {
    const mine = isMine(m);
    const from = mine ? "You" : state.name;
    const item = el(
      "li",
      { class: "message", dataset: { messageId: m.id, mine: String(mine), status: m.status } },
      el(
        "p",
        { class: "msg-meta" },
        el("span", { class: "msg-from" }, from),
        " · ",
        el("time", { datetime: m.created_at }, formatWhen(m.created_at)),
      ),
      el("p", { class: "msg-body", dir: "auto" }, m.body),
    );
    const facts = el("p", { class: "msg-state" });
    if (mine) {
      facts.append(el("span", { class: "badge", dataset: { status: m.status } }, stateLabel(m)));
    }
    facts.append(el("span", { class: "msg-paid" }, paidLabel(m)));
    const refund = refundLabel(m);
    if (refund) facts.append(el("span", { class: "msg-refund" }, refund));
    item.append(facts);
    if (m.status === "rejected" && m.rejection_reason) {
      item.append(el("p", { class: "msg-reason" }, `Reason: ${m.rejection_reason}`));
    }
    const remove = el(
      "button",
      {
        type: "button",
        class: "linklike msg-delete",
        "aria-label": `Delete for me: ${from}, “${snippet(m.body, 40)}”`,
      },
      "Delete for me",
    );
    remove.addEventListener("click", () => confirmDelete(m.id, remove));
    item.append(el("div", { class: "msg-actions" }, remove));
    return item;
  }

  /** Show `incoming` (a message, or a status change of one): added once, merged after. */
  function merge(incoming, { announceIt = false } = {}) {
    const id = Number(incoming?.id);
    if (!id || state.deleted.has(id) || Number(incoming.contact_id) !== state.contactId)
      return null;
    const current = state.messages.get(id);
    if (!current && incoming.body === undefined) return null; // a status change of one not loaded
    if (current && (RANK[incoming.status] ?? 0) < (RANK[current.status] ?? 0)) return current;
    const merged = { ...current };
    for (const [key, value] of Object.entries(incoming))
      if (value !== undefined) merged[key] = value;
    if (typeof incoming.refunded_cents === "number") merged.refunded = incoming.refunded_cents > 0;
    const changed =
      !current ||
      current.status !== merged.status ||
      current.rejection_reason !== merged.rejection_reason;
    state.messages.set(id, merged);
    if (!changed && current) return merged;
    const item = messageItem(merged);
    const old = state.items.get(id);
    if (old) {
      const hadFocus = old.contains(document.activeElement);
      old.replaceWith(item);
      if (hadFocus) item.querySelector("button")?.focus();
    } else {
      const stick = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
      const after = [...state.items.keys()].filter((other) => other > id).sort((a, b) => a - b)[0];
      list.insertBefore(item, after ? state.items.get(after) : null);
      if (stick && !after) list.scrollTop = list.scrollHeight;
    }
    state.items.set(id, item);
    empty.hidden = true;
    if (announceIt) {
      if (!current && !isMine(merged))
        announce(`New message from ${state.name}: ${snippet(merged.body, 140)}`);
      else if (current && isMine(merged))
        announce(`Your message “${snippet(merged.body, 40)}”: ${stateLabel(merged)}.`);
    }
    return merged;
  }

  function forget(id) {
    state.deleted.add(id);
    state.messages.delete(id);
    state.items.get(id)?.remove();
    state.items.delete(id);
    empty.hidden = state.items.size > 0 || state.nextBefore !== null;
  }

  function confirmDelete(id, button) {
    const row = button.parentElement;
    const yes = el("button", { type: "button", class: "danger" }, "Yes, delete");
    const no = el("button", { type: "button", class: "secondary" }, "Keep");
    const confirm = el(
      "div",
      {
        class: "confirm-row msg-actions",
        role: "group",
        "aria-label": "Delete this message for you?",
      },
      el("span", {}, `Delete this message for you? ${state.name} keeps it.`),
      yes,
      no,
    );
    row.replaceWith(confirm);
    yes.focus();
    no.addEventListener("click", () => {
      confirm.replaceWith(row);
      button.focus();
    });
    yes.addEventListener("click", async () => {
      yes.disabled = no.disabled = true;
      try {
        await del(`/api/v1/messages/${id}`);
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 404)) {
          confirm.replaceWith(row);
          button.focus();
          failed(error, status);
          return;
        }
      }
      // Focus moves to the next message's delete button (or the heading) so the keyboard
      // user is not left on nothing.
      const ids = [...state.items.keys()].sort((a, b) => a - b);
      const next = ids.find((other) => other > id) ?? ids.reverse().find((other) => other < id);
      forget(id);
      setStatus(status, "Message deleted for you.", "ok");
      const target = next ? state.items.get(next)?.querySelector(".msg-delete") : null;
      (target || heading).focus();
    });
  }

  // ---- history ----------------------------------------------------------------------------

  async function loadPage({ before = null } = {}) {
    const generation = state.generation;
    const page = await get("/api/v1/messages", {
      contact_id: state.contactId,
      before: before ?? undefined,
      limit: PAGE,
    });
    if (generation !== state.generation) return null;
    // Oldest first, so each one lands after what it follows.
    for (const m of [...page.messages].reverse()) merge(m);
    if (before !== null || !state.loaded) state.nextBefore = page.next_before;
    older.hidden = state.nextBefore === null;
    empty.hidden = state.items.size > 0;
    return page;
  }

  older.addEventListener("click", async () => {
    if (state.nextBefore === null) return;
    older.disabled = true;
    const height = list.scrollHeight;
    try {
      const page = await loadPage({ before: state.nextBefore });
      if (page) {
        list.scrollTop += list.scrollHeight - height; // keep what was on screen in place
        const n = page.messages.length;
        setStatus(
          status,
          n === 1 ? "1 older message shown." : `${n} older messages shown.`,
          "info",
        );
      }
    } catch (error) {
      failed(error, status);
    } finally {
      older.disabled = false;
      if (older.hidden) heading.focus();
    }
  });

  // ---- price ------------------------------------------------------------------------------

  async function loadQuote() {
    const generation = state.generation;
    try {
      const quote = await get("/api/v1/messages/quote", { contact_id: state.contactId });
      if (generation !== state.generation) return;
      showQuote(quote);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return sessionEnded();
      price.dataset.kind = "error";
      price.replaceChildren(`The price could not be loaded: ${error.message}`);
    }
  }

  /** What the next message costs and who pays, as a sentence (and its kind for styling). */
  function quoteParts(quote) {
    const each = formatPrice(quote.message_price_cents ?? quote.price_cents);
    if (!quote.can_send && (!quote.price_cents || quote.payer)) {
      return ["error", ["Messages cannot be sent on this contact now."]];
    }
    if (!quote.can_send) {
      const why = `You cannot send a message now: neither you nor ${state.name} has enough money for one (${each}).`;
      return addMoneyHref
        ? ["error", [why, " ", el("a", { href: addMoneyHref }, "Add money to your wallet"), "."]]
        : [
            "error",
            [why, ` Money added to your account, or to ${state.name}'s, makes it possible.`],
          ];
    }
    if (!quote.message_price_cents && !quote.price_cents) {
      return ["free", ["Price: free (messages with this contact cost nothing)"]];
    }
    if (!quote.price_cents || quote.payer === null) {
      return ["free", [`Price: free today (${Number(quote.free_remaining_today) || 0} free left)`]];
    }
    if (quote.payer === "you")
      return ["", [`Price: ${formatPrice(quote.price_cents)} from your wallet`]];
    return [
      "",
      [
        `Price: ${formatPrice(quote.price_cents)}, the recipient pays (${state.name}): your wallet has too little.`,
      ],
    ];
  }

  function showQuote(quote) {
    const [kind, parts] = quoteParts(quote);
    const text = parts.map((part) => (typeof part === "string" ? part : part.textContent)).join("");
    // Unchanged after a send: left alone, so the live region does not repeat itself.
    if (price.textContent === text && (price.dataset.kind || "") === kind) return;
    if (kind) price.dataset.kind = kind;
    else delete price.dataset.kind;
    price.replaceChildren(...parts);
  }

  // ---- writing and sending ----------------------------------------------------------------

  function draft() {
    let d = state.drafts.get(state.contactId);
    if (!d) {
      d = { text: "", clientId: null };
      state.drafts.set(state.contactId, d);
    }
    return d;
  }

  let countTimer = null;
  function updateCounter() {
    const n = charCount(textarea.value);
    const over = n > MAX_CHARS;
    counter.textContent = over
      ? `${NUMBER.format(n)} / ${NUMBER.format(MAX_CHARS)} characters: ${NUMBER.format(n - MAX_CHARS)} too many`
      : `${NUMBER.format(n)} / ${NUMBER.format(MAX_CHARS)} characters`;
    if (over) {
      counter.dataset.over = "true";
      textarea.setAttribute("aria-invalid", "true");
    } else {
      delete counter.dataset.over;
      textarea.removeAttribute("aria-invalid");
    }
    // Screen readers hear the count when typing pauses, not at every key.
    clearTimeout(countTimer);
    countTimer = setTimeout(() => {
      counterLive.textContent = over
        ? `${NUMBER.format(n - MAX_CHARS)} characters too many.`
        : n > MAX_CHARS * 0.9
          ? `${NUMBER.format(MAX_CHARS - n)} characters left.`
          : "";
    }, 900);
  }

  textarea.addEventListener("input", () => {
    if (state.contactId !== null) draft().text = textarea.value;
    updateCounter();
    if (formStatus.dataset.kind === "error" && charCount(textarea.value) <= MAX_CHARS)
      setStatus(formStatus, "");
  });
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  function refuse(message) {
    setStatus(formStatus, message, "error");
    textarea.setAttribute("aria-invalid", "true");
    textarea.focus();
  }

  async function deliver(payload) {
    const socket = live();
    if (socket?.connected) return socket.request("message:send", payload);
    return post("/api/v1/messages", payload);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (state.sending || state.contactId === null) return;
    const text = textarea.value;
    const n = charCount(text);
    if (!text.trim()) return refuse("Write something before sending.");
    if (n > MAX_CHARS) {
      return refuse(
        `A message can be at most ${NUMBER.format(MAX_CHARS)} characters; this one has ${NUMBER.format(n)}. ` +
          `Remove ${NUMBER.format(n - MAX_CHARS)} to send it.`,
      );
    }
    const d = draft();
    const contactId = state.contactId;
    d.clientId = d.clientId || newClientId();
    state.sending = true;
    sendButton.disabled = true;
    setStatus(formStatus, "Sending…", "info");
    try {
      const sent = await deliver({ contact_id: contactId, body: text, client_id: d.clientId });
      state.drafts.delete(contactId);
      if (state.contactId === contactId) {
        merge(sent);
        textarea.value = "";
        updateCounter();
        list.scrollTop = list.scrollHeight;
        setStatus(formStatus, sentSentence(sent), "ok");
        loadQuote();
      }
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return sessionEnded();
      const unknown =
        error.unanswered ||
        (error instanceof ApiError && (error.status === 0 || error.status >= 500));
      if (unknown) {
        setStatus(
          formStatus,
          `${error.message} Your message may not have been sent. Press Send again: it will not be sent twice.`,
          "error",
        );
      } else if (error.code === "idempotency_key_reused") {
        // The first version of this draft was stored (it shows in the conversation); what is
        // in the box now is new text, so it gets a new key.
        d.clientId = null;
        setStatus(
          formStatus,
          "An earlier version of this message was already sent. Press Send to send this text as a new message.",
          "error",
        );
        refreshNewest();
      } else {
        d.clientId = null; // refused: nothing was stored, the next attempt is a new message
        setStatus(formStatus, error.message, "error");
        if (error.code === "insufficient_funds" && addMoneyHref) {
          formStatus.append(" ", el("a", { href: addMoneyHref }, "Add money to your wallet"), ".");
        }
        if (error.fields?.body) textarea.setAttribute("aria-invalid", "true");
        if (error.code === "insufficient_funds") loadQuote();
      }
    } finally {
      state.sending = false;
      sendButton.disabled = false;
    }
  });

  function sentSentence(m) {
    if (m.status === "pending_review") return `Sent. Staff review it before ${state.name} sees it.`;
    if (m.status === "scheduled") return `Sent. It will be delivered at ${clock(m.deliver_at)}.`;
    return "Sent.";
  }

  // ---- read and unread --------------------------------------------------------------------

  async function markRead() {
    if (!visible() || state.contactId === null || !state.loaded) return;
    let upTo = 0;
    let waiting = false;
    for (const m of state.messages.values()) {
      if (isMine(m)) continue;
      upTo = Math.max(upTo, m.id);
      if (m.status === "delivered") waiting = true;
    }
    if (!upTo || upTo <= state.markedUpTo || (!waiting && !(state.unread.get(state.contactId) > 0)))
      return;
    const before = state.markedUpTo;
    const contactId = state.contactId;
    state.markedUpTo = upTo;
    try {
      const answer = await post("/api/v1/messages/read", { contact_id: contactId, up_to_id: upTo });
      setUnread(contactId, Number(answer?.unread) || 0);
      if (state.contactId === contactId) {
        for (const m of [...state.messages.values()]) {
          if (!isMine(m) && m.id <= upTo && m.status === "delivered")
            merge({ ...m, status: "read" });
        }
      }
    } catch (error) {
      if (state.contactId === contactId) state.markedUpTo = before;
      if (error instanceof ApiError && error.status === 401) sessionEnded();
    }
  }

  document.addEventListener("visibilitychange", () => markRead());

  function setUnread(contactId, count) {
    if (count > 0) state.unread.set(contactId, count);
    else state.unread.delete(contactId);
    paintBadges();
  }

  function paintBadges() {
    for (const badge of document.querySelectorAll("[data-unread-for]")) {
      const count = state.unread.get(Number(badge.dataset.unreadFor)) || 0;
      badge.hidden = count === 0;
      badge.textContent = count ? ` ${count} unread` : "";
    }
  }

  async function loadUnread() {
    try {
      const answer = await get("/api/v1/messages/unread");
      state.unread = new Map(
        (answer.contacts || [])
          .filter((c) => c.unread > 0)
          .map((c) => [Number(c.contact_id), Number(c.unread)]),
      );
      paintBadges();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) sessionEnded();
    }
  }

  function refreshUnreadSoon() {
    clearTimeout(state.unreadTimer);
    state.unreadTimer = setTimeout(() => loadUnread(), UNREAD_DELAY_MS);
  }

  // ---- opening and closing ----------------------------------------------------------------

  function clearView() {
    state.generation += 1;
    state.messages = new Map();
    state.items = new Map();
    state.nextBefore = null;
    state.loaded = false;
    state.markedUpTo = 0;
    list.replaceChildren();
    older.hidden = true;
    empty.hidden = true;
    setStatus(status, "");
    setStatus(formStatus, "");
  }

  async function refreshNewest() {
    if (state.contactId === null) return;
    try {
      await loadPage();
      markRead();
    } catch (error) {
      failed(error, status);
    }
  }

  async function open(contactId, principal) {
    state.principal = principal;
    if (state.contactId !== contactId) {
      clearView();
      state.contactId = contactId;
      const d = draft();
      textarea.value = d.text;
      updateCounter();
      heading.textContent = "Messages";
      label.textContent = "Your message";
      price.replaceChildren("Price: …");
      delete price.dataset.kind;
      const base = `/api/v1/messages/export?contact_id=${contactId}`;
      exportTxt.href = `${base}&format=txt`;
      exportJson.href = `${base}&format=json`;
    }
    const generation = state.generation;
    list.setAttribute("aria-busy", "true");
    try {
      await live()?.ready;
      const contact = await get(`/api/v1/contacts/${contactId}`);
      if (generation !== state.generation) return;
      state.contact = contact;
      state.name = contactName(contact);
      heading.textContent = `Messages with ${state.name}`;
      document.title = `Messages with ${state.name} · ${document.title.split(" · ").pop()}`;
      label.textContent = `Your message to ${state.name}`;
      empty.textContent = `No messages yet.${contact.status === "approved" ? " Write the first one below." : ""}`;
      const canWrite = contact.status === "approved";
      form.hidden = !canWrite;
      closedNote.hidden = canWrite;
      closedNote.textContent = canWrite
        ? ""
        : `Messages cannot be sent: this contact is ${contact.status}.`;
      // Re-render what was already shown under the real name.
      for (const m of state.messages.values()) {
        const item = messageItem(m);
        state.items.get(m.id).replaceWith(item);
        state.items.set(m.id, item);
      }
      await loadPage();
      if (generation !== state.generation) return;
      state.loaded = true;
      list.scrollTop = list.scrollHeight;
      if (canWrite) loadQuote();
      markRead();
    } catch (error) {
      if (generation === state.generation) {
        if (error instanceof ApiError && error.status === 404) {
          form.hidden = true;
          setStatus(status, "No such contact.", "error");
        } else failed(error, status);
      }
    } finally {
      list.removeAttribute("aria-busy");
    }
  }

  function close() {
    if (state.contactId === null) return;
    clearView();
    state.contactId = null;
  }

  return {
    open,
    close,
    loadUnread,
    paintBadges,
    /** A stream event (message.*, wallet.*), applied idempotently. */
    handleEvent(event) {
      const type = String(event?.type || "");
      const data = event?.data || {};
      if (type === "message.new" || type === "message.status") {
        if (state.contactId !== null && Number(data.contact_id) === state.contactId) {
          merge(data, { announceIt: state.loaded });
          if (type === "message.new") markRead();
          if (isMine(data) && type === "message.new") loadQuote();
        }
        refreshUnreadSoon();
      } else if (type.startsWith("wallet.") && state.contactId !== null && state.loaded) {
        loadQuote();
      }
    },
    /** After a reconnect's sync: the newest page and the counts again (both merge by id). */
    resync() {
      loadUnread();
      if (state.contactId !== null && state.loaded) {
        refreshNewest();
        loadQuote();
      }
    },
    /** Signed out (perhaps on a shared tablet): nothing of this person stays in the page. */
    reset() {
      close();
      textarea.value = "";
      heading.textContent = "Messages";
      label.textContent = "Your message";
      state.drafts.clear();
      state.deleted.clear();
      state.unread.clear();
      paintBadges();
    },
  };
}
