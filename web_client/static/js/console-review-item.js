// How a held message looks in the review queue (console-review.js): who wrote to whom, when,
// what it cost, the rules that held it, its text with the matching passages marked, its photos
// (each opens the zoomable viewer), the buttons, and the conversation before it. Message text is only ever set as text: highlights
// become <mark> elements around text nodes, never markup.

import { el } from "./forms.js";
import { formatCents, formatWhen } from "./money.js";
import { photoStrip } from "./photo-strip.js";

const MESSAGE_STATUS = {
  pending_review: "held for review",
  scheduled: "scheduled",
  delivered: "delivered",
  read: "read",
  rejected: "rejected",
};

export const from = (item) => item.sender_name || "the sender";
export const to = (item) => item.recipient_name || "the recipient";
export const describe = (item) => `the message from ${from(item)} to ${to(item)}`;

/** The message's text with each highlight {start, end, rule} (code point offsets) marked;
 *  overlapping highlights become one mark that names every rule. */
export function highlightedBody(body, highlights) {
  const points = Array.from(String(body ?? ""));
  const spans = (Array.isArray(highlights) ? highlights : [])
    .map((h) => ({ start: Number(h?.start), end: Number(h?.end), rule: String(h?.rule ?? "") }))
    .filter((h) => Number.isInteger(h.start) && Number.isInteger(h.end) && h.start >= 0 && h.end > h.start)
    .map((h) => ({ ...h, end: Math.min(h.end, points.length) }))
    .filter((h) => h.start < points.length)
    .sort((a, b) => a.start - b.start || b.end - a.end);
  const merged = [];
  for (const span of spans) {
    const last = merged[merged.length - 1];
    if (last && span.start < last.end) {
      last.end = Math.max(last.end, span.end);
      if (span.rule && !last.rules.includes(span.rule)) last.rules.push(span.rule);
    } else merged.push({ start: span.start, end: span.end, rules: span.rule ? [span.rule] : [] });
  }
  const nodes = [];
  let at = 0;
  for (const span of merged) {
    if (span.start > at) nodes.push(document.createTextNode(points.slice(at, span.start).join("")));
    const mark = el("mark", { title: span.rules.join("; ") || null });
    mark.textContent = points.slice(span.start, span.end).join("");
    nodes.push(mark);
    at = span.end;
  }
  if (at < points.length) nodes.push(document.createTextNode(points.slice(at).join("")));
  return nodes;
}

/** The queue's <li> for a held message; `onApprove`, `onReject` and `onContext` get the item
 *  and the button pressed. */
export function reviewItemNode(item, { onApprove, onReject, onContext }) {
  const contextId = `review-context-${item.id}`;
  const headingId = `review-item-${item.id}`;
  const metaId = `review-meta-${item.id}`;
  const matched = Array.isArray(item.matched) ? item.matched : [];
  const paid = Number(item.price_cents) > 0 ? ` · ${formatCents(item.price_cents)} paid` : " · free";
  const node = el(
    "li",
    { class: "review-item", dataset: { messageId: item.id }, "aria-labelledby": headingId },
    el(
      "div",
      { class: "who" },
      el("h2", { class: "name", id: headingId }, `${from(item)} → ${to(item)}`),
      el(
        "span",
        { class: "meta", id: metaId },
        `Sent ${formatWhen(item.created_at)}${paid} · contact ${item.contact_id}`,
      ),
      matched.length
        ? el(
            "div",
            { class: "matched" },
            el("strong", {}, "Held because: "),
            el(
              "ul",
              {},
              matched.map((m) => el("li", {}, m)),
            ),
          )
        : null,
      el("p", { class: "review-body" }, highlightedBody(item.body, item.highlights)),
      photoStrip(item.photos, {
        title: `Photos in ${describe(item)}`,
        where: `#review-list > [data-message-id="${Number(item.id)}"] > .who`,
      }),
    ),
  );
  // Several messages between the same two people: the time tells their buttons apart.
  const button = (text, kind, label, handler, extra = {}) => {
    const b = el("button", { type: "button", class: kind, "aria-label": label, ...extra }, text);
    b.addEventListener("click", () => handler(item, b));
    return b;
  };
  node.append(
    el(
      "div",
      { class: "actions" },
      button("Approve", "ok", `Approve ${describe(item)}`, onApprove, { "aria-describedby": metaId }),
      button("Reject…", "danger", `Reject ${describe(item)}`, onReject, { "aria-describedby": metaId }),
      button("Show the conversation", "secondary", null, onContext, {
        "aria-expanded": "false",
        "aria-controls": contextId,
      }),
    ),
    el("div", { class: "review-context", id: contextId, hidden: true }),
  );
  return node;
}

/** The conversation before a held message, oldest first, the held one marked. */
export function contextNodes(item, messages) {
  const family = item.sender?.kind === "family" ? from(item) : to(item);
  const resident = item.sender?.kind === "family" ? to(item) : from(item);
  const who = (party) => (party?.kind === "family" ? family : resident);
  const line = (m) =>
    el(
      "li",
      { dataset: { current: m.id === item.id ? "true" : null } },
      el(
        "span",
        { class: "meta" },
        `${who(m.sender)}, ${formatWhen(m.created_at)}, ${MESSAGE_STATUS[m.status] || m.status}` +
          (m.id === item.id ? " (this message)" : ""),
      ),
      el("span", { class: "context-body" }, m.body ?? ""),
      photoStrip(m.photos, {
        title: `Photos from ${who(m.sender)}, ${formatWhen(m.created_at)}`,
      }),
    );
  return [
    el("h3", {}, "The conversation, latest messages"),
    el("ol", { class: "context-list" }, messages.map(line)),
    messages.length <= 1 ? el("p", { class: "empty" }, "Nothing before this message.") : null,
  ].filter(Boolean);
}
