// The tariff in the console (#/tariff): a facility's prices and fees with what the rate-cap
// check says about them (the same warnings as `homeline tariff check`). Staff of the facility
// and global support staff (who choose the facility) read it; only the facility's own
// administrators change it, with an optional reason for the audit log. Amounts are whole cents
// on the wire and dollars on screen, converted by string parsing (money.js), never by floats.
// The channels, the dollar inputs and the trust-account fee tiers are in tariff-tiers.js.

import { ApiError, get, put } from "./api.js";
import { bindForm, clearErrors, el, fieldError, setStatus, statusOf } from "./forms.js";
import { formatDollars, formatWhen, parseDollars } from "./money.js";
import { isGlobal, may } from "./console-common.js";
import { CHANNELS, CHANNEL_LABELS, moneyInput, setupTariffTiers } from "./tariff-tiers.js";

const $ = (selector) => document.querySelector(selector);

// Whole cents shown as dollars; free_saturday_messages is a count.
const MONEY_FIELDS = [
  "message_cents",
  "photo_cents",
  "remote_visit_cents_per_minute",
  "onsite_visit_cents_per_minute",
  "wallet_deposit_min_cents",
  "wallet_deposit_fee_cents",
  "refund_approval_threshold_cents",
];

const FIELD_LABELS = {
  message_cents: "Message",
  free_saturday_messages: "Free Saturday messages",
  photo_cents: "Photo",
  remote_visit_cents_per_minute: "Remote video visit, per minute",
  onsite_visit_cents_per_minute: "On-site video visit, per minute",
  wallet_deposit_min_cents: "Smallest wallet deposit",
  wallet_deposit_fee_cents: "Wallet deposit fee",
  calling_deposit_fee_cents: "Calling-account deposit fee",
  trust_deposit_fee_tiers: "Trust-account deposit fee",
  refund_approval_threshold_cents: "Refund approval threshold",
  size_class: "Size class",
};

const SEVERITY_LABELS = { error: "Error", warning: "Warning" };
const WARNING_ID = "ratecap-warning-";

/** "calling_deposit_fee_cents.kiosk" -> "Calling-account deposit fee, kiosk". */
function fieldLabel(field) {
  const [name, channel, tier, part] = String(field).split(".");
  let text = FIELD_LABELS[name] || name;
  if (channel) text += `, ${(CHANNEL_LABELS[channel] || channel).toLowerCase()}`;
  if (tier !== undefined) text += `, tier ${Number(tier) + 1}`;
  if (part) text += part === "up_to_cents" ? ", up to" : ", fee";
  return text;
}

function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

/** "2 problems: 1 error, 1 warning." */
function summary(warnings) {
  if (!warnings.length) return "No problems: the tariff is within the rate caps.";
  const errors = warnings.filter((w) => w.severity === "error").length;
  const parts = [];
  if (errors) parts.push(plural(errors, "error", "errors"));
  if (warnings.length - errors) parts.push(plural(warnings.length - errors, "warning", "warnings"));
  return `${plural(warnings.length, "problem", "problems")} with the rate caps: ${parts.join(", ")}.`;
}

/** The tariff's JSON with its keys in one order, to tell whether anything changed. */
function canonical(t) {
  return JSON.stringify([
    ...MONEY_FIELDS.map((k) => t[k]),
    t.free_saturday_messages,
    t.size_class,
    CHANNELS.map(([c]) => t.calling_deposit_fee_cents[c]),
    CHANNELS.map(([c]) => (t.trust_deposit_fee_tiers[c] || []).map((x) => [x.up_to_cents, x.fee_cents])),
  ]);
}

export function setupTariff({ sessionEnded, me }) {
  const form = $("#tariff-form");
  const state = {
    facilityId: null, // the facility on screen
    data: null, // the last answer of GET or PUT
    editable: false,
    dirty: false, // edited since the last load or save
    loading: 0, // the newest load; older answers are dropped
  };
  const tierTables = setupTariffTiers({ state });

  const ended = (error) => error instanceof ApiError && error.status === 401 && (sessionEnded(), true);
  const url = (id) => `/api/v1/staff/facilities/${id}/tariff`;

  // ---- loading ---------------------------------------------------------------------------

  async function load(facilityId) {
    const token = ++state.loading;
    const status = $("#tariff-status");
    if (state.facilityId !== facilityId) $("#tariff-body").hidden = true;
    setStatus(status, "Loading the tariff…", "info");
    let data;
    try {
      data = await get(url(facilityId));
    } catch (error) {
      if (token !== state.loading || ended(error)) return;
      $("#tariff-body").hidden = true;
      state.facilityId = null;
      setStatus(status, error.message, "error");
      return;
    }
    if (token !== state.loading) return;
    setStatus(status, "");
    clearErrors(form);
    setStatus(statusOf(form), "");
    render(data);
    $("#tariff-body").hidden = false;
  }

  async function fillFacilities() {
    const select = $("#tariff-facility");
    if (select.options.length) return true;
    const { facilities } = await get("/api/v1/facilities");
    select.replaceChildren(
      ...facilities.map((f) => el("option", { value: f.id }, `${f.name} (facility ${f.id})`)),
    );
    if (!facilities.length) setStatus($("#tariff-status"), "There is no facility yet.", "info");
    return facilities.length > 0;
  }

  async function show() {
    const principal = me();
    if (!principal) return;
    const global = principal.facility_id === null || principal.facility_id === undefined;
    $("#tariff-facility-form").hidden = !global;
    let facilityId = principal.facility_id;
    if (global) {
      try {
        if (!(await fillFacilities())) return;
      } catch (error) {
        if (!ended(error)) setStatus($("#tariff-status"), error.message, "error");
        return;
      }
      facilityId = state.facilityId ?? Number($("#tariff-facility").value);
    }
    // Coming back to the view keeps unsaved edits.
    if (state.dirty && state.facilityId === facilityId) return;
    await load(facilityId);
  }

  const picker = $("#tariff-facility-form");
  picker.addEventListener("submit", (event) => {
    event.preventDefault();
    load(Number($("#tariff-facility").value));
  });
  $("#tariff-facility").addEventListener("change", () => load(Number($("#tariff-facility").value)));

  // ---- showing ---------------------------------------------------------------------------

  function render(data) {
    const principal = me();
    const t = data.tariff;
    state.data = data;
    state.facilityId = data.facility.id;
    state.dirty = false;
    state.editable =
      may(principal, "tariff.change") &&
      (isGlobal(principal) || principal.facility_id === data.facility.id);
    if (!$("#tariff-facility-form").hidden) $("#tariff-facility").value = String(data.facility.id);

    let changed = "The default tariff: no administrator has changed it yet.";
    if (!data.is_default && data.updated_at) {
      const who =
        data.updated_by_staff_id === principal?.id
          ? " by you"
          : data.updated_by_staff_id
            ? ` by staff member ${data.updated_by_staff_id}`
            : "";
      changed = `Last changed ${formatWhen(data.updated_at)}${who}.`;
    }
    $("#tariff-meta").textContent = `${data.facility.name} (facility ${data.facility.id}). ${changed}`;
    $("#tariff-readonly").hidden = state.editable;

    for (const name of MONEY_FIELDS) form.elements.namedItem(name).value = formatDollars(t[name]);
    form.elements.namedItem("free_saturday_messages").value = String(t.free_saturday_messages);
    const size = form.elements.namedItem("size_class");
    if (![...size.options].some((o) => o.value === t.size_class)) {
      size.append(el("option", { value: t.size_class }, t.size_class));
    }
    size.value = t.size_class;

    $("#calling-fees").replaceChildren(
      ...CHANNELS.map(([channel, label]) =>
        el(
          "div",
          { class: "field" },
          el("label", { for: `t-calling-${channel}` }, label),
          moneyInput(
            `t-calling-${channel}`,
            `calling_deposit_fee_cents.${channel}`,
            t.calling_deposit_fee_cents[channel],
          ),
        ),
      ),
    );
    $("#trust-tiers").replaceChildren(
      ...CHANNELS.map(([channel, label]) => tierTables.table(channel, label, t.trust_deposit_fee_tiers[channel] || [])),
    );

    for (const control of form.querySelectorAll("input, select, textarea")) {
      control.disabled = !state.editable;
    }
    $("#tariff-save").hidden = !state.editable;
    renderWarnings(data);
  }

  function renderWarnings(data) {
    const warnings = data.warnings || [];
    for (const control of form.querySelectorAll("[aria-describedby]")) {
      const ids = control
        .getAttribute("aria-describedby")
        .split(/\s+/)
        .filter((id) => id && !id.startsWith(WARNING_ID));
      if (ids.length) control.setAttribute("aria-describedby", ids.join(" "));
      else control.removeAttribute("aria-describedby");
    }
    for (const field of form.querySelectorAll(".field[data-warned]")) delete field.dataset.warned;

    $("#tariff-warnings").replaceChildren(
      ...warnings.map((w, i) => {
        const id = `${WARNING_ID}${i}`;
        const control = form.elements.namedItem(w.field);
        const label = fieldLabel(w.field);
        let name = el("span", { class: "field-name" }, label);
        if (control instanceof HTMLElement) {
          control.setAttribute(
            "aria-describedby",
            [control.getAttribute("aria-describedby"), id].filter(Boolean).join(" "),
          );
          const wrapper = control.closest(".field");
          if (wrapper && wrapper.dataset.warned !== "error") wrapper.dataset.warned = w.severity;
          if (state.editable) {
            name = el("button", { type: "button", class: "linklike field-name" }, label);
            name.addEventListener("click", () => {
              control.focus();
              control.select?.();
            });
          }
        }
        return el(
          "li",
          { dataset: { severity: w.severity, field: w.field } },
          el("span", { class: "badge", dataset: { status: w.severity } }, SEVERITY_LABELS[w.severity] || w.severity),
          el("div", { class: "what" }, name, el("p", { id, class: "message" }, w.message)),
        );
      }),
    );
    const summaryLine = $("#ratecap-summary");
    summaryLine.textContent = summary(warnings);
    summaryLine.dataset.kind = warnings.some((w) => w.severity === "error")
      ? "error"
      : warnings.length
        ? "warning"
        : "ok";
    const caps = data.rate_caps || {};
    $("#ratecap-profile").textContent =
      `Checked against ${caps.title} (${caps.profile}). An error breaks a rule of the profile as ` +
      `written; a warning probably does, depending on how the money is used. ${caps.notice || ""}`;
  }

  // ---- saving ----------------------------------------------------------------------------

  /** The tariff as typed, in cents, or the fields that are not amounts. */
  function readTariff() {
    const problems = {};
    const money = (name) => {
      const control = form.elements.namedItem(name);
      const cents = parseDollars(control.value);
      if (cents === null) problems[name] = "Enter dollars and cents, such as 0.16.";
      return cents;
    };
    const tariff = {};
    for (const name of MONEY_FIELDS) tariff[name] = money(name);
    const count = form.elements.namedItem("free_saturday_messages").value.trim();
    if (/^\d{1,3}$/.test(count)) tariff.free_saturday_messages = Number(count);
    else problems.free_saturday_messages = "Enter a whole number, such as 2.";
    tariff.calling_deposit_fee_cents = Object.fromEntries(
      CHANNELS.map(([c]) => [c, money(`calling_deposit_fee_cents.${c}`)]),
    );
    tariff.trust_deposit_fee_tiers = Object.fromEntries(
      CHANNELS.map(([c]) => {
        const rows = [...form.querySelectorAll(`.tier-table[data-channel="${c}"] tbody tr`)];
        let previous = null;
        const tiers = rows.map((_, i) => {
          const name = `trust_deposit_fee_tiers.${c}.${i}.up_to_cents`;
          const tier = { up_to_cents: money(name), fee_cents: money(`trust_deposit_fee_tiers.${c}.${i}.fee_cents`) };
          // The server's rule too, said here in dollars rather than its cents.
          if (tier.up_to_cents !== null && previous !== null && tier.up_to_cents <= previous) {
            problems[name] = `Must be more than $${formatDollars(previous)}, the tier before: tiers rise.`;
          } else if (tier.up_to_cents !== null) previous = tier.up_to_cents;
          return tier;
        });
        return [c, tiers];
      }),
    );
    tariff.size_class = form.elements.namedItem("size_class").value;
    return { tariff, problems };
  }

  /** Server errors on a field with no input here (a whole channel) go to the status, named. */
  function placed(error) {
    if (!(error instanceof ApiError) || !error.fields) return error;
    const fields = {};
    const elsewhere = [];
    for (const [name, sentence] of Object.entries(error.fields)) {
      if (form.elements.namedItem(name) instanceof HTMLElement) fields[name] = sentence;
      else elsewhere.push(`${fieldLabel(name)}: ${sentence}`);
    }
    const message = [error.message, ...elsewhere].join(" ");
    return new ApiError(error.status, error.code, message, fields, error.retryAfter);
  }

  form.addEventListener("input", () => (state.dirty = true));
  form.addEventListener("change", () => (state.dirty = true));

  bindForm(form, async (values) => {
    if (!state.editable || !state.data) return null;
    const { tariff, problems } = readTariff();
    if (Object.keys(problems).length) throw fieldError(problems);
    if (canonical(tariff) === canonical(state.data.tariff)) {
      return "Nothing has changed, so there is nothing to save.";
    }
    const reason = (values.reason || "").trim();
    let answer;
    try {
      answer = await put(url(state.facilityId), reason ? { ...tariff, reason } : tariff);
    } catch (error) {
      if (ended(error)) return null;
      throw placed(error);
    }
    render(answer);
    form.elements.namedItem("reason").value = "";
    return `Saved. ${summary(answer.warnings || [])}`;
  });

  return {
    show,
    reset() {
      state.loading += 1;
      state.facilityId = null;
      state.data = null;
      state.dirty = false;
      $("#tariff-body").hidden = true;
      $("#tariff-facility").replaceChildren();
      $("#tariff-warnings").replaceChildren();
      clearErrors(form);
      setStatus(statusOf(form), "");
      setStatus($("#tariff-status"), "");
    },
  };
}
