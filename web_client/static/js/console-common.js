// Small pieces the console's pages share: who may do what, picking a facility (global support
// staff work for every facility), dates typed in the reader's time zone, and one dialog that
// asks for a reason (lifting a block, revoking a privilege, deciding an appeal).

import { ApiError, get } from "./api.js";
import { bindForm, clearErrors, el, fieldError, setStatus, statusOf } from "./forms.js";

const $ = (selector) => document.querySelector(selector);

export const MIN_REASON = 3;
export const MAX_REASON = 500;

/**
 * Whether the server's permission table (server/domain/permissions.py) lets this person take
 * `action` ("review", "family.block", ...): the principal carries its actions in `may`, so the
 * console never keeps a second copy of who may do what.
 */
export function may(principal, action) {
  return Boolean(principal && Array.isArray(principal.may) && principal.may.includes(action));
}

/** Works a facility's review queue (and so hears its live feed). */
export function isReviewer(principal) {
  return may(principal, "review") && principal.facility_id != null;
}

/** Staff whose work is not tied to one facility (global support). */
export function isGlobal(principal) {
  return Boolean(principal && (principal.facility_id === null || principal.facility_id === undefined));
}

/** `error` was a 401: the session has ended; the console shows the sign-in form. */
export function ender(sessionEnded) {
  return (error) => error instanceof ApiError && error.status === 401 && (sessionEnded(), true);
}

export function plural(n, one, many) {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

/** Fill a facility <select> once from the public list; false when there is none. */
export async function fillFacilities(select, { any = null } = {}) {
  if (select.dataset.filled) return select.options.length > (any ? 1 : 0);
  const { facilities } = await get("/api/v1/facilities");
  select.replaceChildren(
    ...(any ? [el("option", { value: "" }, any)] : []),
    ...facilities.map((f) => el("option", { value: f.id }, `${f.name} (facility ${f.id})`)),
  );
  select.dataset.filled = "1";
  return facilities.length > 0;
}

export function forgetFacilities(select, { keepFirst = false } = {}) {
  delete select.dataset.filled;
  if (keepFirst && select.options.length) select.replaceChildren(select.options[0]);
  else select.replaceChildren();
}

/** "2026-11-18" in the reader's calendar for a Date. */
export function isoDay(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** The instant a day typed as YYYY-MM-DD starts in the reader's time zone (ISO, UTC), or
 *  the next day's start with `after`: the end of a range that includes the day. */
export function dayStart(day, { after = false } = {}) {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day || "");
  if (!match) return null;
  const date = new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3]) + (after ? 1 : 0));
  return date.toISOString();
}

/** "18 Nov 2026" for a YYYY-MM-DD day, read as a calendar day (no time zone shift). */
export function formatDay(day, options = { dateStyle: "medium" }) {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day || "");
  if (!match) return day || "";
  const date = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
  return date.toLocaleDateString(undefined, { ...options, timeZone: "UTC" });
}

/** Check an optional end date: a YYYY-MM-DD day, today or later. */
export function checkUntil(until, problems, name = "until") {
  if (!until) return null;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(until)) problems[name] = "Enter a date, such as 2026-12-31.";
  else if (until < isoDay(new Date())) problems[name] = "The end date has passed; choose today or later.";
  return until;
}

export function checkReason(reason, problems, name = "reason") {
  const text = (reason || "").trim();
  if (text.length < MIN_REASON) problems[name] = `Give a reason of at least ${MIN_REASON} characters.`;
  else if (text.length > MAX_REASON) problems[name] = `At most ${MAX_REASON} characters.`;
  return text;
}

/**
 * The reason dialog: `open({title, what, submit, danger, until, onSubmit, opener, fallback})`.
 * `onSubmit({reason, until})` makes the call and says how it went on the page; a thrown
 * ApiError stays in the dialog, next to its field. Focus goes back to the opener, or to
 * `fallback` when the opener has left the page.
 */
export function setupReasonDialog({ ended }) {
  const dialog = $("#reason-dialog");
  const form = $("#reason-form");
  let current = null;

  function open(options) {
    current = options;
    form.reset();
    clearErrors(form);
    setStatus(statusOf(form), "");
    $("#reason-heading").textContent = options.title;
    $("#reason-what").textContent = options.what || "";
    $("#reason-until-field").hidden = !options.until;
    $("#reason-until").disabled = !options.until;
    const submit = $("#reason-submit");
    submit.textContent = options.submit;
    submit.className = options.danger ? "danger" : "";
    dialog.showModal();
    $("#reason-text").focus();
  }

  $("#reason-cancel").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    const was = current;
    current = null;
    if (was?.opener?.isConnected) was.opener.focus();
    else was?.fallback?.focus();
  });

  bindForm(form, async (values) => {
    const options = current;
    if (!options) return null;
    const problems = {};
    const reason = checkReason(values.reason, problems);
    const until = options.until ? checkUntil(values.until, problems) : null;
    if (Object.keys(problems).length) throw fieldError(problems);
    try {
      await options.onSubmit({ reason, until });
    } catch (error) {
      if (ended(error)) {
        dialog.close();
        return null;
      }
      throw error;
    }
    dialog.close();
    return "";
  });

  return { open, close: () => dialog.open && dialog.close() };
}
