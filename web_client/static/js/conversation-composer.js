// The composer under a conversation, as DOM: the text box with its counter in code points (as
// the server counts: an emoji is one), read to screen readers when typing pauses; the photos
// attached (family app: photo-tray.js); the price of the next message and who pays
// (conversation-price.js); the Send button and the sentences said about a send. Sending itself
// is conversation.js's.

import { ApiError } from "./api.js";
import { el, setStatus } from "./forms.js";
import { clock } from "./conversation-view.js";
import { quoteParts } from "./conversation-price.js";

export const MAX_CHARS = 30000;
const NUMBER = new Intl.NumberFormat("en-US");

/** Characters as the server counts them: Unicode code points (an emoji is one). */
export const charCount = (text) => [...text].length;

/** What happens next to a message just sent, in words. */
export function sentSentence(m, name) {
  if (m.status === "pending_review") return `Sent. Staff review it before ${name} sees it.`;
  if (m.status === "scheduled") return `Sent. It will be delivered at ${clock(m.deliver_at)}.`;
  return "Sent.";
}

/**
 * Build the composer's form and return it with its operations. addMoneyHref: where to add
 * money (null on the tablet); onInput(text): the text was edited; tray: the photo tray
 * (photo-tray.js), or null where no photos are sent.
 */
export function setupComposer({ addMoneyHref, onInput, tray = null }) {
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
    tray?.root,
    price,
    el("div", { class: "actions" }, sendButton),
    formStatus,
  );
  form.noValidate = true;
  tray?.bind(form);

  let sendingNow = false;
  let lastQuote = null; // [quote, name]: redrawn when the text becomes empty or not
  const paintSend = () => {
    sendButton.disabled = sendingNow || Boolean(tray?.busy());
  };
  function paintQuote() {
    if (!lastQuote) return;
    const [quote, name] = lastQuote;
    const [kind, parts] = quoteParts(quote, {
      name,
      addMoneyHref,
      count: tray?.count() || 0,
      hasText: Boolean(textarea.value.trim()),
    });
    const text = parts.map((part) => (typeof part === "string" ? part : part.textContent)).join("");
    // Unchanged after a send: left alone, so the live region does not repeat itself.
    if (price.textContent === text && (price.dataset.kind || "") === kind) return;
    if (kind) price.dataset.kind = kind;
    else delete price.dataset.kind;
    price.replaceChildren(...parts);
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

  function refuse(message) {
    setStatus(formStatus, message, "error");
    textarea.setAttribute("aria-invalid", "true");
    textarea.focus();
  }

  textarea.addEventListener("input", () => {
    onInput(textarea.value);
    updateCounter();
    if (tray?.count()) paintQuote();
    if (formStatus.dataset.kind === "error" && charCount(textarea.value) <= MAX_CHARS)
      setStatus(formStatus, "");
  });
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  return {
    form,
    label,

    /** Start on `text` (the draft of the conversation opened). */
    load(text) {
      textarea.value = text;
      updateCounter();
      label.textContent = "Your message";
      price.replaceChildren("Price: …");
      delete price.dataset.kind;
      lastQuote = null;
    },

    /** The text to send, or null after saying why it cannot be (empty without photos, too
     *  long, photos still uploading or refused). Only spaces with photos is no text: "". */
    checked() {
      const text = textarea.value;
      const n = charCount(text);
      if (tray?.busy()) {
        setStatus(formStatus, "Wait until the photos have uploaded, then send.", "error");
        return null;
      }
      if (tray?.failures()) {
        setStatus(formStatus, "Remove the photos that could not be added, then send.", "error");
        return null;
      }
      if (!text.trim() && tray?.count()) return "";
      if (!text.trim()) {
        refuse(tray ? "Write something or add a photo before sending." : "Write something before sending.");
        return null;
      }
      if (n > MAX_CHARS) {
        refuse(
          `A message can be at most ${NUMBER.format(MAX_CHARS)} characters; this one has ${NUMBER.format(n)}. ` +
            `Remove ${NUMBER.format(n - MAX_CHARS)} to send it.`,
        );
        return null;
      }
      return text;
    },

    sending(on) {
      sendingNow = on;
      paintSend();
      if (on) setStatus(formStatus, "Sending…", "info");
    },

    /** The photos changed: Send waits for uploads, and the price counts them. */
    photosChanged() {
      paintSend();
      paintQuote();
    },

    /** Sent: the box and the photos empty, and `sentence` says what happens next. */
    sent(sentence) {
      textarea.value = "";
      tray?.clear();
      paintSend();
      updateCounter();
      setStatus(formStatus, sentence, "ok");
    },

    say(message, kind) {
      setStatus(formStatus, message, kind);
    },

    /**
     * A send failed: say so, and return what happened: "unknown" (it may have been stored),
     * "reused" (an earlier version of this draft was stored) or "refused" (nothing stored).
     */
    failed(error) {
      if (error.unanswered || (error instanceof ApiError && (error.status === 0 || error.status >= 500))) {
        setStatus(
          formStatus,
          `${error.message} Your message may not have been sent. Press Send again: it will not be sent twice.`,
          "error",
        );
        return "unknown";
      }
      if (error.code === "idempotency_key_reused") {
        setStatus(
          formStatus,
          "An earlier version of this message was already sent. Press Send to send this text as a new message.",
          "error",
        );
        return "reused";
      }
      this.refused(error);
      return "refused";
    },

    /** The server refused the message (nothing was stored). */
    refused(error) {
      setStatus(formStatus, error.message, "error");
      if (error.code === "insufficient_funds" && addMoneyHref) {
        formStatus.append(" ", el("a", { href: addMoneyHref }, "Add money to your wallet"), ".");
      }
      if (error.fields?.body) textarea.setAttribute("aria-invalid", "true");
    },

    showQuote(quote, name) {
      lastQuote = [quote, name];
      paintQuote();
    },

    quoteFailed(message) {
      price.dataset.kind = "error";
      price.replaceChildren(`The price could not be loaded: ${message}`);
    },

    /** Signed out (perhaps on a shared tablet): this person's text goes. */
    reset() {
      textarea.value = "";
      tray?.clear({ discard: true });
      paintSend();
      label.textContent = "Your message";
    },
  };
}
