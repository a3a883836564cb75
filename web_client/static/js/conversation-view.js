// The conversation's page as DOM, for the family app and the tablet: the toolbar with the
// downloads, the message list with one bubble per message (who, when, the text, its delivery
// state, who paid and any refund, its photos as thumbnails that open the viewer), "Delete for me" with its confirmation, the announcer that
// reads arrivals and status changes to screen readers, and the unread counts next to each
// contact. Elements are built and updated here; what to show comes from conversation-store.js
// and conversation.js decides when. Message text is only ever set as text.

import { el } from "./forms.js";
import { formatCents, formatWhen } from "./money.js";
import { photoCount, photoStrip } from "./photo-strip.js";

/** 50 -> "50¢", 150 -> "$1.50". */
export function formatPrice(cents) {
  const value = Number(cents) || 0;
  return value > 0 && value < 100 ? `${value}¢` : formatCents(value);
}

/** A message in a few words: the start of its text, or its photos when it has none. */
export function gist(m, length = 60) {
  const photos = Array.isArray(m.photos) ? m.photos.length : 0;
  if (!String(m.body || "").trim() && photos) return photoCount(photos);
  return snippet(m.body, length) + (photos ? ` (+ ${photoCount(photos)})` : "");
}

/** A time of day, with the date when it is not today. */
export function clock(iso) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return String(iso || "");
  const time = when.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  if (when.toDateString() === new Date().toDateString()) return time;
  return `${when.toLocaleDateString(undefined, { month: "short", day: "numeric" })}, ${time}`;
}

/** The start of a message on one line, cut at `length` code points. */
export function snippet(text, length = 60) {
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

/** Every unread badge on the page (conversationLink's) from `unread`: contact id -> count. */
export function paintUnread(unread) {
  for (const badge of document.querySelectorAll("[data-unread-for]")) {
    const count = unread.get(Number(badge.dataset.unreadFor)) || 0;
    badge.hidden = count === 0;
    badge.textContent = count ? ` ${count} unread` : "";
  }
}

// ---- one message ---------------------------------------------------------------------------

/** Where a message of mine is, in words. */
export function stateLabel(m) {
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

function paidLabel(m, name) {
  if (!m.price_cents || !m.paid_by) return "Free";
  const amount = formatPrice(m.price_cents);
  return m.paid_by === "you" ? `You paid ${amount}` : `${name} paid ${amount}`;
}

function refundLabel(m, name) {
  if (m.status !== "rejected" || !m.price_cents || !m.paid_by) return null;
  if (m.refunded === false) return null;
  const amount = formatPrice(m.refunded_cents || m.price_cents);
  return m.paid_by === "you" ? `${amount} refunded to you` : `${amount} refunded to ${name}`;
}

/**
 * One message as a list item. `mine`: sent by this side (then its delivery state shows);
 * `name`: the other party's; `onDelete(id, button)`: its "Delete for me" was pressed.
 */
export function messageItem(m, { mine, name, onDelete }) {
  const from = mine ? "You" : name;
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
    String(m.body || "") || !m.photos?.length ? el("p", { class: "msg-body", dir: "auto" }, m.body) : null,
    photoStrip(m.photos, {
      title: `Photos from ${mine ? "you" : name}`,
      where: `#conv-list > [data-message-id="${Number(m.id)}"]`,
    }),
  );
  const facts = el("p", { class: "msg-state" });
  if (mine) {
    facts.append(el("span", { class: "badge", dataset: { status: m.status } }, stateLabel(m)));
  }
  facts.append(el("span", { class: "msg-paid" }, paidLabel(m, name)));
  const refund = refundLabel(m, name);
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
      "aria-label": `Delete for me: ${from}, “${gist(m, 40)}”`,
    },
    "Delete for me",
  );
  remove.addEventListener("click", () => onDelete(m.id, remove));
  item.append(el("div", { class: "msg-actions" }, remove));
  return item;
}

/**
 * Swap a message's "Delete for me" `button` for "Yes, delete" / "Keep". On yes, `remove()`
 * deletes it on the server: when it throws, the button comes back and `failed(error)` is
 * told; otherwise `removed()` takes the message away.
 */
export function confirmDelete(button, name, { remove, removed, failed }) {
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
    el("span", {}, `Delete this message for you? ${name} keeps it.`),
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
      await remove();
    } catch (error) {
      confirm.replaceWith(row);
      button.focus();
      failed(error);
      return;
    }
    removed();
  });
}

// ---- the page ------------------------------------------------------------------------------

/**
 * Build the conversation's page inside `section`, with the `composer`'s form at the bottom,
 * and return its parts and the list's operations. backHref: the contact list.
 */
export function conversationPage(section, { backHref, composer }) {
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
    composer.form,
  );

  const items = new Map(); // message id -> <li>
  let announceTimer = null;

  return {
    heading,
    status,
    older,
    list,
    empty,
    closedNote,
    item: (id) => items.get(id),
    count: () => items.size,

    /** The downloads of the conversation with `contactId`. */
    exportsFor(contactId) {
      const base = `/api/v1/messages/export?contact_id=${contactId}`;
      exportTxt.href = `${base}&format=txt`;
      exportJson.href = `${base}&format=json`;
    },

    /** Show `item` for message `id`: in place of the one shown (keeping focus in it), or new
     *  before the item of `afterId` (the newest at the bottom, followed if it was in view). */
    put(id, item, afterId) {
      const old = items.get(id);
      if (old) {
        const hadFocus = old.contains(document.activeElement);
        old.replaceWith(item);
        if (hadFocus) item.querySelector("button")?.focus();
      } else {
        const stick = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
        list.insertBefore(item, afterId ? items.get(afterId) : null);
        if (stick && !afterId) list.scrollTop = list.scrollHeight;
      }
      items.set(id, item);
      empty.hidden = true;
    },

    /** Draw message `id` again (under the other party's real name, once it is known). */
    redraw(id, item) {
      items.get(id).replaceWith(item);
      items.set(id, item);
    },

    remove(id) {
      items.get(id)?.remove();
      items.delete(id);
    },

    clear() {
      items.clear();
      list.replaceChildren();
      older.hidden = true;
      empty.hidden = true;
    },

    scrollToEnd() {
      list.scrollTop = list.scrollHeight;
    },

    announce(text) {
      // Cleared first so the same sentence twice is read twice.
      announcer.textContent = "";
      clearTimeout(announceTimer);
      announceTimer = setTimeout(() => (announcer.textContent = text), 50);
    },
  };
}
