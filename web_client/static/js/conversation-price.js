// The price line above Send, from GET /api/v1/messages/quote: what the next message costs and
// who pays. With photos the sender alone pays (no recipient fallback), each photo at the
// facility's photo price; the text part keeps the message rules and is free when the message
// has no text, so the total shown is photos_cents + (text ? text_cents : 0).

import { el } from "./forms.js";
import { formatPrice } from "./conversation-view.js";

const photos = (n) => (n === 1 ? "1 photo" : `${n} photos`);

function textQuote(quote, { name, addMoneyHref }) {
  const each = formatPrice(quote.message_price_cents ?? quote.price_cents);
  if (!quote.can_send && (!quote.price_cents || quote.payer)) {
    return ["error", ["Messages cannot be sent on this contact now."]];
  }
  if (!quote.can_send) {
    const why = `You cannot send a message now: neither you nor ${name} has enough money for one (${each}).`;
    return addMoneyHref
      ? ["error", [why, " ", el("a", { href: addMoneyHref }, "Add money to your wallet"), "."]]
      : ["error", [why, ` Money added to your account, or to ${name}'s, makes it possible.`]];
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
      `Price: ${formatPrice(quote.price_cents)}, the recipient pays (${name}): your wallet has too little.`,
    ],
  ];
}

function photoQuote(quote, { addMoneyHref, count, hasText }) {
  // A quote asked for another number of photos (the answer to the next one is on its way).
  const photoCents =
    Number(quote.photos) === count && quote.photos_cents !== undefined
      ? Number(quote.photos_cents)
      : count * (Number(quote.photo_price_cents) || 0);
  const textCents = hasText ? Number(quote.text_cents) || 0 : 0;
  const total = photoCents + textCents;
  const each = `${photos(count)} at ${formatPrice(quote.photo_price_cents)} each`;
  const text = !hasText ? "no text, so nothing for text" : textCents ? `text ${formatPrice(textCents)}` : "text free";
  if (!quote.can_send) {
    // The server's sentence (the one a send would answer); a wallet too low gets the way out.
    const why =
      quote.why_not ||
      `You cannot send this now: it costs ${formatPrice(total)} (${each}; ${text}), paid from your wallet only.`;
    const short = quote.payer === null && Number(quote.price_cents) > 0;
    return short && addMoneyHref
      ? ["error", [why, " ", el("a", { href: addMoneyHref }, "Add money to your wallet"), "."]]
      : ["error", [why]];
  }
  if (!total) return ["free", [`Price: free (${each}; ${text})`]];
  return ["", [`Price: ${formatPrice(total)} from your wallet (${each}; ${text})`]];
}

/**
 * The price line as [kind, parts] (parts: text and links). name: the other party's;
 * addMoneyHref: where to add money, or null; count: photos attached; hasText: the message has
 * text (not only spaces).
 */
export function quoteParts(quote, { name, addMoneyHref, count = 0, hasText = true }) {
  return count > 0
    ? photoQuote(quote, { addMoneyHref, count, hasText })
    : textQuote(quote, { name, addMoneyHref });
}
