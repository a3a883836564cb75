// One conversation over an approved contact, the same for the family app and the tablet:
// history paged by cursor ("Older messages"), live arrivals and status changes, the price
// before sending, sending without ever sending twice, marking read, delete-for-me, and the
// unread counts shown next to each contact. This module talks to the server and wires the
// parts: the messages as state in conversation-store.js (merged by id, so nothing shows
// twice), the page and its bubbles in conversation-view.js, the composer with its counter and
// price in conversation-composer.js, and (family app) the photos attached in photo-tray.js.
//
// A send uses socket.io `message:send` (plain HTTP when the socket is down) with a client_id
// made once per draft: a retry after an unknown outcome reuses it and the server answers with
// the first send, so a message is never stored or charged twice. The id is renewed only when
// the server has definitely refused the draft, or has definitely stored it. Photos go as
// photo_ids (uploaded first, by photo-tray.js), either way.

import { ApiError, del, get, post } from "./api.js";
import { setStatus } from "./forms.js";
import { newClientId } from "./money.js";
import { MAX_CHARS, charCount, sentSentence, setupComposer } from "./conversation-composer.js";
import { ConversationStore } from "./conversation-store.js";
import { setupPhotoTray } from "./photo-tray.js";
import {
  confirmDelete,
  conversationLink,
  conversationPage,
  formatPrice,
  gist,
  messageItem,
  paintUnread,
  stateLabel,
} from "./conversation-view.js";

export { MAX_CHARS, charCount, conversationLink, formatPrice };

const PAGE = 30;
const UNREAD_DELAY_MS = 120;

/**
 * Build the conversation view inside `section` and return its controller.
 *
 * contactName(contact): the other party's name; backHref: the contact list; addMoneyHref:
 * where to add money (null on the tablet); live(): the connection from live.js, or null;
 * sessionEnded(): the session is gone; photos: photos may be attached (family to resident).
 */
export function setupConversation({
  section,
  contactName,
  backHref,
  addMoneyHref,
  live,
  sessionEnded,
  photos = false,
}) {
  const store = new ConversationStore();
  let sending = false;
  let unreadTimer = null;
  let quoteAsked = 0; // only the answer to the latest quote asked is shown

  const tray = photos
    ? setupPhotoTray({
        onChange: () => {
          composer.photosChanged();
          loadQuote();
        },
        sessionEnded,
      })
    : null;
  const composer = setupComposer({
    addMoneyHref,
    onInput: (text) => {
      if (store.contactId !== null) store.draft().text = text;
    },
    tray,
  });
  const page = conversationPage(section, { backHref, composer });
  const { heading, status, older, list, empty } = page;

  const visible = () => !section.hidden && document.visibilityState === "visible";

  function failed(error, region) {
    if (error instanceof ApiError && error.status === 401) {
      sessionEnded();
      return true;
    }
    setStatus(region, error.message, "error");
    return false;
  }

  // ---- one message ------------------------------------------------------------------------

  function itemFor(m) {
    return messageItem(m, { mine: store.isMine(m), name: store.name, onDelete: askToDelete });
  }

  /** Show `incoming` (a message, or a status change of one): added once, merged after. */
  function merge(incoming, { announceIt = false } = {}) {
    const merged = store.merge(incoming);
    if (!merged?.changed) return;
    const { message, previous } = merged;
    page.put(message.id, itemFor(message), store.idAfter(message.id));
    if (announceIt) {
      if (!previous && !store.isMine(message))
        page.announce(`New message from ${store.name}: ${gist(message, 140)}`);
      else if (previous && store.isMine(message))
        page.announce(`Your message “${gist(message, 40)}”: ${stateLabel(message)}.`);
    }
  }

  function askToDelete(id, button) {
    confirmDelete(button, store.name, {
      async remove() {
        try {
          await del(`/api/v1/messages/${id}`);
        } catch (error) {
          if (!(error instanceof ApiError && error.status === 404)) throw error;
        }
      },
      removed() {
        // Focus moves to the next message's delete button (or the heading) so the keyboard
        // user is not left on nothing.
        const next = store.neighbourOf(id);
        store.forget(id);
        page.remove(id);
        empty.hidden = page.count() > 0 || store.nextBefore !== null;
        setStatus(status, "Message deleted for you.", "ok");
        const target = next ? page.item(next)?.querySelector(".msg-delete") : null;
        (target || heading).focus();
      },
      failed: (error) => failed(error, status),
    });
  }

  // ---- history ----------------------------------------------------------------------------

  async function loadPage({ before = null } = {}) {
    const generation = store.generation;
    const answer = await get("/api/v1/messages", {
      contact_id: store.contactId,
      before: before ?? undefined,
      limit: PAGE,
    });
    if (generation !== store.generation) return null;
    // Oldest first, so each one lands after what it follows.
    for (const m of [...answer.messages].reverse()) merge(m);
    store.pageLoaded(answer, { before });
    older.hidden = store.nextBefore === null;
    empty.hidden = page.count() > 0;
    return answer;
  }

  older.addEventListener("click", async () => {
    if (store.nextBefore === null) return;
    older.disabled = true;
    const height = list.scrollHeight;
    try {
      const answer = await loadPage({ before: store.nextBefore });
      if (answer) {
        list.scrollTop += list.scrollHeight - height; // keep what was on screen in place
        const n = answer.messages.length;
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
    const generation = store.generation;
    const asked = ++quoteAsked;
    try {
      const quote = await get("/api/v1/messages/quote", {
        contact_id: store.contactId,
        photos: tray?.count() || undefined,
      });
      if (generation !== store.generation || asked !== quoteAsked) return;
      composer.showQuote(quote, store.name);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return sessionEnded();
      composer.quoteFailed(error.message);
    }
  }

  // ---- sending ----------------------------------------------------------------------------

  async function deliver(payload) {
    const socket = live();
    if (socket?.connected) return socket.request("message:send", payload);
    return post("/api/v1/messages", payload);
  }

  composer.form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (sending || store.contactId === null) return;
    const text = composer.checked();
    if (text === null) return;
    const d = store.draft();
    const contactId = store.contactId;
    d.clientId = d.clientId || newClientId();
    sending = true;
    tray?.hold(true);
    composer.sending(true);
    try {
      const payload = { contact_id: contactId, body: text, client_id: d.clientId };
      if (tray?.ids().length) payload.photo_ids = tray.ids();
      const sent = await deliver(payload);
      store.drafts.delete(contactId);
      if (store.contactId === contactId) {
        merge(sent);
        composer.sent(sentSentence(sent, store.name));
        page.scrollToEnd();
        loadQuote();
      }
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return sessionEnded();
      const outcome = composer.failed(error);
      // Refused (nothing stored), or an earlier version stored: the next attempt is a new
      // message with a new key. Unknown: the same key, so a retry is answered with the first.
      if (outcome !== "unknown") d.clientId = null;
      if (outcome === "reused") refreshNewest();
      if (error.code === "insufficient_funds") loadQuote();
    } finally {
      sending = false;
      tray?.hold(false);
      composer.sending(false);
    }
  });

  // ---- read and unread --------------------------------------------------------------------

  async function markRead() {
    if (!visible() || store.contactId === null || !store.loaded) return;
    const upTo = store.readMark();
    if (!upTo) return;
    const before = store.markedUpTo;
    const contactId = store.contactId;
    store.markedUpTo = upTo;
    try {
      const answer = await post("/api/v1/messages/read", { contact_id: contactId, up_to_id: upTo });
      setUnread(contactId, Number(answer?.unread) || 0);
      if (store.contactId === contactId) {
        for (const m of store.deliveredTheirs(upTo)) merge({ ...m, status: "read" });
      }
    } catch (error) {
      if (store.contactId === contactId) store.markedUpTo = before;
      if (error instanceof ApiError && error.status === 401) sessionEnded();
    }
  }

  document.addEventListener("visibilitychange", () => markRead());

  function setUnread(contactId, count) {
    store.setUnread(contactId, count);
    paintBadges();
  }

  function paintBadges() {
    paintUnread(store.unread);
  }

  async function loadUnread() {
    try {
      const answer = await get("/api/v1/messages/unread");
      store.replaceUnread(answer.contacts);
      paintBadges();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) sessionEnded();
    }
  }

  function refreshUnreadSoon() {
    clearTimeout(unreadTimer);
    unreadTimer = setTimeout(() => loadUnread(), UNREAD_DELAY_MS);
  }

  // ---- opening and closing ----------------------------------------------------------------

  function clearView() {
    page.clear();
    setStatus(status, "");
    composer.say("");
  }

  async function refreshNewest() {
    if (store.contactId === null) return;
    try {
      await loadPage();
      markRead();
    } catch (error) {
      failed(error, status);
    }
  }

  async function open(contactId, principal) {
    store.principal = principal;
    tray?.setContact(contactId); // photos stay with their conversation's draft
    if (store.open(contactId)) {
      clearView();
      composer.load(store.draft().text);
      heading.textContent = "Messages";
      page.exportsFor(contactId);
    }
    const generation = store.generation;
    list.setAttribute("aria-busy", "true");
    try {
      await live()?.ready;
      const contact = await get(`/api/v1/contacts/${contactId}`);
      if (generation !== store.generation) return;
      store.contact = contact;
      store.name = contactName(contact);
      heading.textContent = `Messages with ${store.name}`;
      document.title = `Messages with ${store.name} · ${document.title.split(" · ").pop()}`;
      composer.label.textContent = `Your message to ${store.name}`;
      empty.textContent = `No messages yet.${contact.status === "approved" ? " Write the first one below." : ""}`;
      const canWrite = contact.status === "approved";
      composer.form.hidden = !canWrite;
      page.closedNote.hidden = canWrite;
      page.closedNote.textContent = canWrite
        ? ""
        : `Messages cannot be sent: this contact is ${contact.status}.`;
      // Re-render what was already shown under the real name.
      for (const m of store.messages.values()) page.redraw(m.id, itemFor(m));
      await loadPage();
      if (generation !== store.generation) return;
      store.loaded = true;
      page.scrollToEnd();
      if (canWrite) loadQuote();
      markRead();
    } catch (error) {
      if (generation === store.generation) {
        if (error instanceof ApiError && error.status === 404) {
          composer.form.hidden = true;
          setStatus(status, "No such contact.", "error");
        } else failed(error, status);
      }
    } finally {
      list.removeAttribute("aria-busy");
    }
  }

  function close() {
    if (store.contactId === null) return;
    store.close();
    clearView();
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
        if (store.contactId !== null && Number(data.contact_id) === store.contactId) {
          merge(data, { announceIt: store.loaded });
          if (type === "message.new") markRead();
          if (store.isMine(data) && type === "message.new") loadQuote();
        }
        refreshUnreadSoon();
      } else if (type.startsWith("wallet.") && store.contactId !== null && store.loaded) {
        loadQuote();
      }
    },
    /** After a reconnect's sync: the newest page and the counts again (both merge by id). */
    resync() {
      loadUnread();
      if (store.contactId !== null && store.loaded) {
        refreshNewest();
        loadQuote();
      }
    },
    /** Signed out (perhaps on a shared tablet): nothing of this person stays in the page. */
    reset() {
      close();
      composer.reset();
      heading.textContent = "Messages";
      store.reset();
      paintBadges();
    },
  };
}
