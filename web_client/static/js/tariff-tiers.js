// The tariff form's amounts (#/tariff, with tariff.js): the server's payment channels, the
// dollar inputs, and the trust-account deposit fee tiers, a table per channel where rows are
// added and removed. Each row's inputs are named by position
// ("trust_deposit_fee_tiers.online.1.up_to_cents"), as the server names its 422 errors, and
// renamed whenever a row comes or goes; focus follows the keyboard user through both.

import { el } from "./forms.js";
import { formatDollars } from "./money.js";

// The server's channels, in its order (server/domain/tariff.py, Channel).
export const CHANNELS = [
  ["online", "Online payment"],
  ["kiosk", "Kiosk"],
  ["phone", "Automated phone"],
  ["operator", "Live operator"],
  ["mail", "Mail"],
];
export const CHANNEL_LABELS = Object.fromEntries(CHANNELS);
const MAX_TIERS = 20; // MAX_TRUST_TIERS on the server

/** A text input for dollars, with a "$" in front that is not read out (the hint says so). */
export function moneyInput(id, name, cents) {
  const input = el("input", {
    id,
    name,
    type: "text",
    inputmode: "decimal",
    maxlength: 13,
    autocomplete: "off",
    spellcheck: "false",
    "data-money": true,
    "aria-describedby": "tariff-dollars-hint",
  });
  input.value = cents === undefined || cents === null ? "" : formatDollars(cents);
  return el("span", { class: "money" }, el("span", { class: "unit", "aria-hidden": "true" }, "$"), input);
}

/**
 * `state` is the tariff page's: `editable` (rows can be added and removed) and `dirty` (set
 * here on every change). Returns `table(channel, label, tiers)`: one channel's tier table.
 */
export function setupTariffTiers({ state }) {
  function tierTable(channel, label, tiers) {
    const captionId = `tiers-${channel}-caption`;
    const body = el("tbody", {}, tiers.map((tier) => tierRow(channel, tier)));
    const add = el(
      "button",
      { type: "button", class: "secondary", "aria-label": `Add a tier: ${label.toLowerCase()}` },
      "Add a tier",
    );
    add.hidden = !state.editable;
    add.addEventListener("click", () => {
      const row = tierRow(channel, null);
      body.append(row);
      renumber(body, channel);
      state.dirty = true;
      row.querySelector("input").focus();
    });
    renumber(body, channel, add);
    return el(
      "div",
      { class: "tier-table", dataset: { channel } },
      el(
        "table",
        { class: "tiers", "aria-labelledby": captionId },
        el("caption", { id: captionId }, label),
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            el("th", { scope: "col" }, "Up to"),
            el("th", { scope: "col" }, "Fee"),
            state.editable ? el("th", { scope: "col" }, el("span", { class: "visually-hidden" }, "Remove")) : null,
          ),
        ),
        body,
      ),
      el("div", { class: "actions" }, add),
    );
  }

  function tierRow(channel, tier) {
    const cell = (part, cents) =>
      el(
        "td",
        {},
        el(
          "div",
          { class: "field" },
          el("label", { class: "visually-hidden", dataset: { part } }),
          moneyInput(null, null, cents),
        ),
      );
    const row = el("tr", {}, cell("up_to_cents", tier?.up_to_cents), cell("fee_cents", tier?.fee_cents));
    if (state.editable) {
      const remove = el("button", { type: "button", class: "secondary remove" }, "Remove");
      remove.addEventListener("click", () => removeTier(row, channel));
      row.append(el("td", {}, remove));
    }
    return row;
  }

  function removeTier(row, channel) {
    const body = row.parentElement;
    const rows = [...body.rows];
    const at = rows.indexOf(row);
    row.remove();
    renumber(body, channel);
    state.dirty = true;
    const left = [...body.rows];
    const next = left[Math.min(at, left.length - 1)]?.querySelector("button.remove");
    (next && !next.hidden ? next : body.closest(".tier-table").querySelector(".actions button")).focus();
  }

  /** Names, ids and labels follow the row's position, as the server's errors do
   *  ("trust_deposit_fee_tiers.online.1.up_to_cents"). */
  function renumber(body, channel, add) {
    const rows = [...body.rows];
    const what = CHANNEL_LABELS[channel].toLowerCase();
    rows.forEach((row, i) => {
      for (const label of row.querySelectorAll("label[data-part]")) {
        const part = label.dataset.part;
        const input = label.parentElement.querySelector("input");
        input.name = `trust_deposit_fee_tiers.${channel}.${i}.${part}`;
        input.id = `t-tier-${channel}-${i}-${part === "up_to_cents" ? "up-to" : "fee"}`;
        label.htmlFor = input.id;
        label.textContent = `${CHANNEL_LABELS[channel]}, tier ${i + 1}: ${part === "up_to_cents" ? "up to" : "fee"}`;
      }
      const remove = row.querySelector("button.remove");
      if (remove) {
        remove.setAttribute("aria-label", `Remove tier ${i + 1}: ${what}`);
        remove.hidden = rows.length <= 1; // a channel keeps at least one tier
      }
    });
    const adder = add || body.closest(".tier-table")?.querySelector(".actions button");
    if (adder) adder.hidden = !state.editable || rows.length >= MAX_TIERS;
  }

  return { table: tierTable };
}
