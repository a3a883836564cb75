// The review queue (#/review), for a facility's reviewers and administrators: held messages,
// oldest first, each with the rules that held it (the matching words marked in the text), the
// conversation before it on request, approve, and reject with one of the facility's reasons
// plus words of one's own. Items come and go live (the "/staff" feed,
// console-staff-live.js); when another reviewer decides first, the page says who and how.
//
// How an item looks is in console-review-item.js.

import { ApiError, get, post } from "./api.js";
import { bindForm, clearErrors, el, fieldError, setStatus, statusOf } from "./forms.js";
import { formatCents, formatWhen } from "./money.js";
import { MAX_REASON, ender, isReviewer, plural } from "./console-common.js";
import { contextNodes, describe, from, reviewItemNode, to } from "./console-review-item.js";

const $ = (selector) => document.querySelector(selector);
const POLL_MS = 15000; // refresh period while the live feed is down
const CONTEXT_SHOWN = 6;
const OTHER = ""; // the "another reason" choice
const STATUS_WORDS = {
  delivered: "approved",
  scheduled: "approved",
  rejected: "rejected",
  read: "approved",
};

export function setupReview({ sessionEnded, me }) {
  const state = {
    items: new Map(), // id -> {item, node}
    reasons: [], // the facility's rejection reasons
    rejecting: null, // the item in the reject dialog
    opener: null,
    deciding: new Set(), // ids this page is deciding: their live echo is not news
    gone: new Set(), // ids decided while a load may have read them still held
    placed: 0, // counts items put on the page
    loaded: false,
    loading: null,
    poll: null,
    feed: "connecting",
  };
  const ended = ender(sessionEnded);
  const list = $("#review-list");
  const status = $("#review-status");

  function announce(text) {
    // A new sentence each time, so screen readers read it even when it repeats.
    const region = $("#review-announce");
    region.textContent = "";
    setTimeout(() => (region.textContent = text), 50);
  }

  function counted() {
    const n = state.items.size;
    $("#review-empty").hidden = !state.loaded || n > 0;
    const badge = $("#nav-review-count");
    badge.textContent = n ? ` (${n})` : "";
    badge.hidden = n === 0;
  }

  // ---- the queue -------------------------------------------------------------------------

  function order(a, b) {
    return String(a.created_at).localeCompare(String(b.created_at)) || a.id - b.id;
  }

  function place(item) {
    if (state.gone.has(item.id)) return false;
    const known = state.items.get(item.id);
    if (known) {
      known.item = item;
      return false;
    }
    const node = itemNode(item);
    const after = [...state.items.values()]
      .filter((x) => order(x.item, item) > 0)
      .sort((a, b) => order(a.item, b.item))[0];
    list.insertBefore(node, after ? after.node : null);
    state.items.set(item.id, { item, node, placed: ++state.placed });
    return true;
  }

  /** A decided message never comes back, even from a load that read it still held. */
  function forget(id) {
    state.gone.add(id);
    if (state.gone.size > 500) state.gone.delete(state.gone.values().next().value);
  }

  /** Take an item off the page; focus moves to the next one's first button (or the
   *  heading) if it was inside. */
  function drop(id) {
    forget(id);
    const known = state.items.get(id);
    if (!known) return null;
    // A button that was disabled while its request ran has lost the focus to the body.
    const active = document.activeElement;
    const hadFocus =
      !$("#view-review").hidden && (known.node.contains(active) || !active || active === document.body);
    const next = known.node.nextElementSibling || known.node.previousElementSibling;
    known.node.remove();
    state.items.delete(id);
    counted();
    if (hadFocus) (next?.querySelector("button") || $("#review-heading")).focus();
    return known.item;
  }

  async function load({ announceNew = false } = {}) {
    if (!isReviewer(me())) return;
    if (state.loading) return state.loading;
    state.loading = (async () => {
      const before = state.placed; // items placed after this (live) are newer than the answer
      let items;
      try {
        ({ items } = await get("/api/v1/staff/review"));
      } catch (error) {
        if (!ended(error)) setStatus(status, error.message, "error");
        return;
      }
      const seen = new Set(items.map((i) => i.id));
      for (const [id, known] of [...state.items]) if (!seen.has(id) && known.placed <= before) drop(id);
      const added = items.filter((item) => place(item)).length;
      const first = !state.loaded;
      state.loaded = true;
      counted();
      if (status.dataset.kind === "error") setStatus(status, "");
      if (announceNew && added && !first) {
        announce(`${plural(added, "new message", "new messages")} held for review.`);
      }
    })();
    try {
      await state.loading;
    } finally {
      state.loading = null;
    }
  }

  function itemNode(item) {
    return reviewItemNode(item, { onApprove: decideApprove, onReject: openReject, onContext: toggleContext });
  }

  /** The messages before this one: those the queue sent with it (delivered ones), or, for an
   *  item that came live without them, the conversation read from the server (audited). */
  async function contextOf(item) {
    if (Array.isArray(item.context)) return [...item.context, item];
    const { messages } = await get("/api/v1/staff/messages", {
      contact_id: item.contact_id,
      limit: CONTEXT_SHOWN,
    });
    return [...messages].reverse();
  }

  async function toggleContext(first, button) {
    const region = document.getElementById(button.getAttribute("aria-controls"));
    if (button.getAttribute("aria-expanded") === "true") {
      region.hidden = true;
      button.setAttribute("aria-expanded", "false");
      button.textContent = "Show the conversation";
      return;
    }
    if (button.getAttribute("aria-busy") === "true") return;
    const item = state.items.get(first.id)?.item || first; // the newest copy
    button.setAttribute("aria-busy", "true"); // not disabled: it keeps the keyboard focus
    try {
      region.replaceChildren(...contextNodes(item, await contextOf(item)));
      region.hidden = false;
      button.setAttribute("aria-expanded", "true");
      button.textContent = "Hide the conversation";
    } catch (error) {
      if (!ended(error)) setStatus(status, error.message, "error");
    } finally {
      button.removeAttribute("aria-busy");
    }
  }

  /** A decision the server refused: someone else decided first (409) or it has gone (404). */
  function lost(item, error) {
    drop(item.id);
    if (error instanceof ApiError && error.status === 409) {
      setStatus(status, `${error.message} It has left the queue; nothing was changed.`, "error");
    } else if (error instanceof ApiError && error.status === 404) {
      setStatus(status, `The message from ${from(item)} to ${to(item)} is no longer in the queue.`, "error");
    } else return false;
    return true;
  }

  async function decideApprove(item, button) {
    button.disabled = true;
    state.deciding.add(item.id);
    let answer;
    try {
      answer = await post(`/api/v1/staff/review/${item.id}/approve`);
    } catch (error) {
      if (!ended(error) && !lost(item, error)) {
        setStatus(status, error.message, "error");
        button.disabled = false;
      }
      return;
    } finally {
      state.deciding.delete(item.id);
    }
    drop(item.id);
    const when =
      answer?.status === "scheduled" && answer.deliver_at
        ? `it will be delivered at ${formatWhen(answer.deliver_at)} (the facility's delay)`
        : "it is delivered";
    setStatus(status, `Approved ${describe(item)}: ${when}.`, "ok");
  }

  // ---- rejecting -------------------------------------------------------------------------

  async function loadReasons() {
    const principal = me();
    if (!isReviewer(principal)) return;
    try {
      const data = await get(`/api/v1/staff/facilities/${principal.facility_id}/policy`);
      const reasons = data?.policy?.rejection_reasons;
      state.reasons = Array.isArray(reasons) ? reasons.filter((r) => typeof r === "string" && r) : [];
    } catch (error) {
      if (!ended(error)) state.reasons = [];
    }
  }

  function openReject(item, opener) {
    state.rejecting = item;
    state.opener = opener;
    const form = $("#review-reject-form");
    form.reset();
    clearErrors(form);
    setStatus(statusOf(form), "");
    const choice = $("#rr-choice");
    choice.replaceChildren(
      ...state.reasons.map((r) => el("option", { value: r }, r)),
      el("option", { value: OTHER }, "Another reason (write it below)"),
    );
    choice.selectedIndex = 0;
    syncChoice();
    $("#review-reject-what").textContent =
      `Reject ${describe(item)}` +
      (Number(item.price_cents) > 0 ? `; ${formatCents(item.price_cents)} goes back to whoever paid.` : ".");
    $("#review-reject-dialog").showModal();
    choice.focus();
  }

  function syncChoice() {
    const other = $("#rr-choice").value === OTHER;
    $("#rr-details-optional").hidden = other;
    $("#rr-details").required = other;
  }
  $("#rr-choice").addEventListener("change", syncChoice);

  $("#review-reject-cancel").addEventListener("click", () => $("#review-reject-dialog").close());
  $("#review-reject-dialog").addEventListener("close", () => {
    state.rejecting = null;
    if (state.opener?.isConnected) state.opener.focus();
    else if (!$("#view-review").hidden) (list.querySelector("button") || $("#review-heading")).focus();
    state.opener = null;
  });

  bindForm($("#review-reject-form"), async (values) => {
    const item = state.rejecting;
    if (!item) return null;
    const choice = values.choice;
    const details = values.details.trim();
    if (choice === OTHER && details.length < 3) {
      throw fieldError({ details: "Write the reason, at least 3 characters: the sender reads it." });
    }
    const reason = choice && details ? `${choice}: ${details}` : choice || details;
    if (reason.length > MAX_REASON) {
      throw fieldError({
        details: `The reason and your words together can be at most ${MAX_REASON} characters.`,
      });
    }
    state.deciding.add(item.id);
    let answer;
    try {
      answer = await post(`/api/v1/staff/review/${item.id}/reject`, { reason });
    } catch (error) {
      if (ended(error)) {
        $("#review-reject-dialog").close();
        return null;
      }
      if (error instanceof ApiError && (error.status === 409 || error.status === 404)) {
        $("#review-reject-dialog").close();
        lost(item, error);
        return null;
      }
      throw error;
    } finally {
      state.deciding.delete(item.id);
    }
    state.opener = null;
    $("#review-reject-dialog").close();
    drop(item.id);
    const refund =
      Number(answer?.price_cents ?? item.price_cents) > 0
        ? ` ${formatCents(answer?.price_cents ?? item.price_cents)} refunded.`
        : "";
    setStatus(status, `Rejected ${describe(item)}. The sender sees: “${reason}”.${refund}`, "ok");
    return "";
  });

  // ---- live ------------------------------------------------------------------------------

  function held(data) {
    const item = data?.item;
    if (!item || !Number.isInteger(item.id) || state.gone.has(item.id)) return;
    if (!state.loaded) {
      // The first load is on its way and may have been read before this message was held.
      state.loading?.then(() => held(data));
      return;
    }
    if (place(item)) {
      counted();
      announce(`New message held for review: from ${from(item)} to ${to(item)}.`);
    }
  }

  function decided(data) {
    const id = Number(data?.id);
    if (state.deciding.has(id)) return; // our own decision: its answer says what happened
    forget(id);
    const item = state.items.get(id)?.item;
    if (!item) return;
    const how = STATUS_WORDS[data.status] || "decided";
    const who = data.by || "Another reviewer";
    if (state.rejecting?.id === id) {
      $("#review-reject-dialog").close();
      setStatus(status, `${who} already ${how} ${describe(item)}; your rejection was not sent.`, "error");
    }
    drop(id);
    announce(`${who} ${how} ${describe(item)}.`);
  }

  function feed(name) {
    state.feed = name;
    const note = $("#review-live-note");
    clearInterval(state.poll);
    state.poll = null;
    if (name === "live") {
      note.textContent = "Live: held messages appear here as they arrive.";
      // What was held before the feed joined (or while it was down): read after any load
      // already on its way, which may have been answered before.
      const again = () => load({ announceNew: state.loaded });
      if (state.loading) state.loading.then(again);
      else again();
    } else if (name === "connecting") {
      note.textContent = "Connecting to live updates…";
    } else {
      note.textContent = `Live updates are unavailable; the queue refreshes every ${POLL_MS / 1000} seconds.`;
      state.poll = setInterval(() => load({ announceNew: true }), POLL_MS);
    }
  }

  $("#review-refresh").addEventListener("click", async () => {
    await load({ announceNew: true });
    setStatus(status, `Refreshed: ${plural(state.items.size, "message", "messages")} waiting.`, "info");
  });

  return {
    async show() {
      await Promise.all([load(), loadReasons()]);
    },
    /** The queue's count in the navigation, from the first moment after sign-in. */
    prime() {
      load();
    },
    held,
    decided,
    feed,
    reset() {
      clearInterval(state.poll);
      state.poll = null;
      state.items.clear();
      state.gone.clear();
      state.loaded = false;
      state.reasons = [];
      list.replaceChildren();
      counted();
      setStatus(status, "");
      $("#review-announce").textContent = "";
      $("#review-live-note").textContent = "";
      if ($("#review-reject-dialog").open) $("#review-reject-dialog").close();
    },
  };
}
