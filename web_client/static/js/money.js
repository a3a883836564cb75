// Money in the browser: integer cents in, text out, and dollars typed by a person parsed back
// to integer cents without ever going through a float.

/** 2050 -> "$20.50"; -50 -> "-$0.50"; 123456 -> "$1,234.56". */
export function formatCents(cents) {
  const value = Number(cents) || 0;
  return `${value < 0 ? "-" : ""}$${formatDollars(Math.abs(value))}`;
}

/** Whole cents >= 0 as dollars for an input, without the sign: 16 -> "0.16", 100000 ->
 *  "1,000.00". Integer arithmetic only; parseDollars reads it back to the same cents. */
export function formatDollars(cents) {
  const abs = Math.abs(Math.trunc(Number(cents) || 0));
  const whole = Math.floor(abs / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${whole}.${String(abs % 100).padStart(2, "0")}`;
}

/** "20", "20.5", "$1,020.50" -> cents; null when it is not an amount of dollars and cents. */
export function parseDollars(text) {
  const cleaned = String(text || "").trim().replace(/^\$\s*/, "").replace(/,(?=\d{3}(\D|$))/g, "");
  const match = /^(\d{1,7})(?:\.(\d{1,2}))?$/.exec(cleaned) || /^()\.(\d{1,2})$/.exec(cleaned);
  if (!match) return null;
  const whole = Number(match[1] || "0");
  const part = Number((match[2] || "").padEnd(2, "0"));
  return whole * 100 + part;
}

/** A fresh idempotency key: a UUID where the browser has one (secure contexts), else 128
 *  random bits in hex. */
export function newClientId() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const KIND_LABELS = {
  deposit: "Deposit",
  charge: "Charge",
  hold: "Set aside for a visit",
  capture: "Visit settled",
  refund: "Refund",
  credit: "Credit",
};

export function kindLabel(kind) {
  return KIND_LABELS[kind] || kind;
}

/** The kind's label, unless the description already says it ("Deposit via online"). */
export function kindPrefix(kind, description) {
  const label = kindLabel(kind);
  return String(description || "").toLowerCase().startsWith(label.toLowerCase()) ? "" : label;
}

/** "Nov 18, 2026, 3:00 PM" in the reader's time zone. */
export function formatWhen(iso) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return iso;
  return when.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}
