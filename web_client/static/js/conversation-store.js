// The messages of one conversation as plain state, with no DOM (conversation.js wires it to
// the views). Every message is kept by id and every change is merged into it, so an event that
// arrives twice (a push and the sync after a reconnect), a history page that overlaps what
// events brought, or the send's own answer racing its event, all leave the message once. A
// status never moves backwards (a late "delivered" does not undo "read").
//
// Also here: the history cursor, how far this side has marked the other's messages read, the
// drafts per contact with the client id that makes a retried send answer with the first one,
// and the unread counts shown next to each contact. The event stream's own seq and acks are
// kept by live.js; what reaches this store is already in order and without gaps, and may
// still repeat what a page or a send's answer brought.

// How far along a message is. A change to a lower rank is stale and dropped; "read" and
// "rejected" are both last. A status the page does not know ranks first.
const RANK = { pending_review: 0, scheduled: 1, delivered: 2, read: 3, rejected: 3 };
const rank = (status) => RANK[status] ?? 0;

export class ConversationStore {
  principal = null; // who is signed in: which messages are "mine"
  contactId = null; // the conversation open, or null
  contact = null;
  name = ""; // the other party's name
  messages = new Map(); // id -> message JSON, merged
  deleted = new Set(); // ids deleted for me in this page: never shown again
  nextBefore = null; // the cursor of the next older page, or null at the start
  loaded = false; // the first page is in
  markedUpTo = 0; // the newest of their messages this side has marked read
  drafts = new Map(); // contact id -> {text, clientId}
  unread = new Map(); // contact id -> count
  generation = 0; // bumped on every open/close, so late answers for another view are dropped

  /** Open `contactId`: whether it is another conversation than the one open (then cleared). */
  open(contactId) {
    if (this.contactId === contactId) return false;
    this.clear();
    this.contactId = contactId;
    return true;
  }

  close() {
    this.clear();
    this.contactId = null;
  }

  clear() {
    this.generation += 1;
    this.messages = new Map();
    this.nextBefore = null;
    this.loaded = false;
    this.markedUpTo = 0;
  }

  /** Signed out: drafts, deletions and counts of this person go too. */
  reset() {
    this.drafts.clear();
    this.deleted.clear();
    this.unread.clear();
  }

  isMine(m) {
    if (typeof m.mine === "boolean") return m.mine;
    return Boolean(
      this.principal && m.sender?.kind === this.principal.kind && m.sender?.id === this.principal.id,
    );
  }

  /**
   * Merge `incoming` (a message, or a status change of one) into the conversation.
   *
   * Returns null when it is not for this conversation (another contact, deleted for me, or a
   * status change of a message not loaded); otherwise `{message, previous, changed}`, where
   * `changed` says whether what is shown of it (new, status, rejection reason) is different.
   */
  merge(incoming) {
    const id = Number(incoming?.id);
    if (!id || this.deleted.has(id) || Number(incoming.contact_id) !== this.contactId) return null;
    const current = this.messages.get(id);
    if (!current && incoming.body === undefined) return null;
    if (current && rank(incoming.status) < rank(current.status)) {
      return { message: current, previous: current, changed: false };
    }
    const merged = { ...current };
    for (const [key, value] of Object.entries(incoming)) {
      if (value !== undefined) merged[key] = value;
    }
    if (typeof incoming.refunded_cents === "number") merged.refunded = incoming.refunded_cents > 0;
    this.messages.set(id, merged);
    const changed =
      !current ||
      current.status !== merged.status ||
      current.rejection_reason !== merged.rejection_reason;
    return { message: merged, previous: current, changed };
  }

  /** Deleted for me: gone now, and dropped if a page or an event brings it again. */
  forget(id) {
    this.deleted.add(id);
    this.messages.delete(id);
  }

  /** The id of the message that follows `id`, or undefined if it is the newest. */
  idAfter(id) {
    return [...this.messages.keys()].filter((other) => other > id).sort((a, b) => a - b)[0];
  }

  /** The message next to `id`: the one after it, else the one before it, else undefined. */
  neighbourOf(id) {
    const ids = [...this.messages.keys()].sort((a, b) => a - b);
    return ids.find((other) => other > id) ?? ids.reverse().find((other) => other < id);
  }

  /** After a history page: the cursor moves on an older page, or with the first page. */
  pageLoaded(page, { before }) {
    if (before !== null || !this.loaded) this.nextBefore = page.next_before;
  }

  /** The draft of the conversation open, made on first use. */
  draft() {
    let d = this.drafts.get(this.contactId);
    if (!d) {
      d = { text: "", clientId: null };
      this.drafts.set(this.contactId, d);
    }
    return d;
  }

  /** Up to which id their messages should be marked read now, or 0 when there is nothing to
   *  mark (none of theirs waits as delivered, and the contact shows no unread count). */
  readMark() {
    let upTo = 0;
    let waiting = false;
    for (const m of this.messages.values()) {
      if (this.isMine(m)) continue;
      upTo = Math.max(upTo, m.id);
      if (m.status === "delivered") waiting = true;
    }
    if (!upTo || upTo <= this.markedUpTo) return 0;
    if (!waiting && !(this.unread.get(this.contactId) > 0)) return 0;
    return upTo;
  }

  /** Their messages up to `upTo` still shown as delivered (to be shown as read). */
  deliveredTheirs(upTo) {
    return [...this.messages.values()].filter(
      (m) => !this.isMine(m) && m.id <= upTo && m.status === "delivered",
    );
  }

  setUnread(contactId, count) {
    if (count > 0) this.unread.set(contactId, count);
    else this.unread.delete(contactId);
  }

  /** The counts from GET /api/v1/messages/unread, replacing all. */
  replaceUnread(contacts) {
    this.unread = new Map(
      (contacts || [])
        .filter((c) => c.unread > 0)
        .map((c) => [Number(c.contact_id), Number(c.unread)]),
    );
  }
}
