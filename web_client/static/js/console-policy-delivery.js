// The policy page's delivery and schedule parts (#/policy, with console-policy.js): how
// messages in each direction and photos are delivered (instant, after a delay, held for
// review, held when a rule matches), with the delay's field only for the delay mode; visiting
// hours per day, typed as "09:00-12:00, 13:00-17:00"; and the facility's time zone. Each part
// is built only when the server's document has it, and read back only then.

import { el } from "./forms.js";

const $ = (selector) => document.querySelector(selector);

export const DIRECTIONS = [
  ["incoming", "Family to resident"],
  ["outgoing", "Resident to family"],
  ["photos", "Photos"],
];
const MODES = [
  ["instant", "Instant"],
  ["delay", "Delay"],
  ["review_all", "Review all"],
  ["review_flagged", "Review flagged"],
];
export const MODE_LABELS = Object.fromEntries(MODES);
const DAYS = [
  ["mon", "Monday"],
  ["tue", "Tuesday"],
  ["wed", "Wednesday"],
  ["thu", "Thursday"],
  ["fri", "Friday"],
  ["sat", "Saturday"],
  ["sun", "Sunday"],
];
const MAX_DELAY = 7 * 24 * 60;

/** "09:00-12:00, 13:00-17:00" <-> [["09:00","12:00"],["13:00","17:00"]]. */
function hoursText(windows) {
  return (Array.isArray(windows) ? windows : []).map((w) => `${w[0]}-${w[1]}`).join(", ");
}

function parseHours(text) {
  const windows = [];
  for (const part of text
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)) {
    const match = /^(\d{1,2}):(\d{2})\s*[-–—]\s*(\d{1,2}):(\d{2})$/.exec(part);
    if (!match) return null;
    const [h1, m1, h2, m2] = match.slice(1).map(Number);
    if (h1 > 24 || h2 > 24 || m1 > 59 || m2 > 59) return null;
    const pad = (n) => String(n).padStart(2, "0");
    windows.push([`${pad(h1)}:${pad(m1)}`, `${pad(h2)}:${pad(m2)}`]);
  }
  return windows;
}

function timeZones() {
  try {
    return Intl.supportedValuesOf("timeZone");
  } catch {
    return ["UTC", "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"];
  }
}

/** `state` is the policy page's: `editable`. */
export function setupPolicyDelivery({ form, state }) {
  /** Build the delivery modes, visiting hours and time zone from `policy`. */
  function fill(policy) {
    $("#pf-delivery").hidden = !DIRECTIONS.some(([d]) => d in policy);
    $("#policy-modes").replaceChildren(
      ...DIRECTIONS.filter(([d]) => d in policy).map(([d, label]) => modeGroup(d, label, policy[d])),
    );
    $("#pf-hours").hidden = !("visiting_hours" in policy);
    $("#policy-hours").replaceChildren(
      ...DAYS.map(([day, label]) =>
        el(
          "div",
          { class: "field" },
          el("label", { for: `policy-hours-${day}` }, label),
          el("input", {
            id: `policy-hours-${day}`,
            name: `visiting_hours.${day}`,
            type: "text",
            maxlength: 200,
            autocomplete: "off",
            spellcheck: "false",
            "aria-describedby": "pf-hours-hint",
            value: hoursText(policy.visiting_hours?.[day]),
          }),
        ),
      ),
    );
    $("#pf-timezone").hidden = !("timezone" in policy);
    const zone = $("#policy-timezone");
    if (!zone.options.length) {
      // "Not set" sends nothing, so the facility keeps whatever zone it has.
      zone.replaceChildren(
        el("option", { value: "" }, "Not set"),
        ...timeZones().map((z) => el("option", { value: z }, z)),
      );
    }
    if (policy.timezone && ![...zone.options].some((o) => o.value === policy.timezone)) {
      zone.append(el("option", { value: policy.timezone }, policy.timezone));
    }
    zone.value = policy.timezone || "";
  }

  function modeGroup(direction, label, rule) {
    const select = el(
      "select",
      { id: `policy-${direction}-mode`, name: `${direction}.mode` },
      MODES.map(([value, text]) => el("option", { value }, text)),
    );
    if (![...select.options].some((o) => o.value === rule.mode))
      select.append(el("option", { value: rule.mode }, rule.mode));
    select.value = rule.mode;
    const delay = el("input", {
      id: `policy-${direction}-delay`,
      name: `${direction}.delay_minutes`,
      type: "text",
      inputmode: "numeric",
      maxlength: 6,
      autocomplete: "off",
      spellcheck: "false",
      "aria-describedby": `policy-${direction}-delay-hint`,
      value: String(rule.delay_minutes ?? 0),
    });
    select.addEventListener("change", () => {
      syncMode(direction);
      if (select.value === "delay") delay.focus();
    });
    return el(
      "fieldset",
      { class: "mode-group", dataset: { direction } },
      el("legend", {}, label),
      el("div", { class: "field" }, el("label", { for: select.id }, "Delivery"), select),
      el(
        "div",
        { class: "field delay-field" },
        el("label", { for: delay.id }, "Delay in minutes"),
        el(
          "span",
          { class: "hint", id: `policy-${direction}-delay-hint` },
          `1 to ${MAX_DELAY.toLocaleString()} (a week).`,
        ),
        delay,
      ),
    );
  }

  /** The delay's field is there only for the delay mode (and then it is sent). */
  function syncMode(direction) {
    const select = form.elements.namedItem(`${direction}.mode`);
    if (!(select instanceof HTMLSelectElement)) return;
    const delay = form.elements.namedItem(`${direction}.delay_minutes`);
    const on = select.value === "delay";
    delay.closest(".field").hidden = !on;
    delay.disabled = !on || !state.editable;
  }

  const value = (name) => form.elements.namedItem(name)?.value ?? "";

  return {
    fill,

    /** After the form's controls are enabled or not: each delay field follows its mode. */
    syncModes() {
      for (const [direction] of DIRECTIONS) syncMode(direction);
    },

    /** The delivery modes as typed, into `policy`; sentences for `problems` by field name.
     *  has(part): the server's document has that part. */
    readModes(policy, problems, has) {
      for (const [direction] of DIRECTIONS) {
        if (!has(direction)) continue;
        const mode = value(`${direction}.mode`);
        let delay = 0;
        if (mode === "delay") {
          const text = value(`${direction}.delay_minutes`).trim().replace(/,/g, "");
          if (/^\d{1,6}$/.test(text)) delay = Number(text);
          else problems[`${direction}.delay_minutes`] = "Enter a whole number of minutes, such as 30.";
        }
        policy[direction] = { mode, delay_minutes: delay };
      }
    },

    /** Visiting hours and the time zone as typed, as readModes. */
    readSchedule(policy, problems, has) {
      if (has("visiting_hours")) {
        policy.visiting_hours = Object.fromEntries(
          DAYS.map(([day]) => {
            const windows = parseHours(value(`visiting_hours.${day}`));
            if (windows === null)
              problems[`visiting_hours.${day}`] = "Write times like 09:00-12:00, 13:00-17:00.";
            return [day, windows || []];
          }),
        );
      }
      if (has("timezone") && value("timezone")) policy.timezone = value("timezone");
    },
  };
}
