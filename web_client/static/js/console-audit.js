// The audit log (#/audit), for facility admins and support staff: every staff action with who,
// what, when and why, newest first. Search by words (action, reason, target, staff name), by
// action (exact, or a family such as "review.*"), by staff member and by days; page back with
// "Older entries"; download what the search finds as CSV (the same query, format=csv).

import { get } from "./api.js";
import { bindForm, el, fieldError, setStatus, statusOf } from "./forms.js";
import { formatWhen } from "./money.js";
import { dayStart, ender, fillFacilities, forgetFacilities, isGlobal, plural } from "./console-common.js";

const $ = (selector) => document.querySelector(selector);
const PAGE = 50;
const KNOWN_ACTIONS = [
  "review.*",
  "review.approve",
  "review.reject",
  "appeal.*",
  "policy.update",
  "tariff.update",
  "contact.*",
  "contact.block",
  "contact.unblock",
  "contact.privilege",
  "contact.unprivilege",
  "family.block",
  "family.unblock",
  "messages.view",
  "photo.view",
  "refund.*",
];

function detailsText(details) {
  try {
    return JSON.stringify(details, null, 2);
  } catch {
    return String(details);
  }
}

export function setupAudit({ sessionEnded, me }) {
  const form = $("#audit-form");
  const ended = ender(sessionEnded);
  const state = {
    query: null,
    nextBefore: null,
    staff: new Map(),
    actions: new Set(KNOWN_ACTIONS),
    shown: 0,
    token: 0, // the newest search; older answers are dropped
  };

  /** The search as query parameters, or the fields to fix. */
  function readQuery(values) {
    const problems = {};
    const query = {};
    const q = values.q.trim();
    if (q) query.q = q;
    const action = values.action.trim();
    if (action) {
      if (!/^[a-z_]+(\.[a-z_]+)*(\.\*)?$/.test(action)) {
        problems.action = "An action looks like review.reject, or review.* for all of its kind.";
      } else query.action = action;
    }
    if (values.staff_id) query.staff_id = values.staff_id;
    if (values.from) query.from = dayStart(values.from);
    if (values.to) query.to = dayStart(values.to, { after: true });
    if (values.from && values.to && values.to < values.from)
      problems.to = "The last day comes before the first.";
    if (values.facility_id) query.facility_id = values.facility_id;
    return { query, problems };
  }

  function csvLink(query) {
    const params = new URLSearchParams({ ...query, format: "csv" });
    $("#audit-csv").href = `/api/v1/staff/audit?${params}`;
  }

  function row(entry) {
    if (entry.staff?.id) state.staff.set(entry.staff.id, entry.staff.name);
    if (entry.action) state.actions.add(entry.action);
    const details =
      entry.details && Object.keys(entry.details).length
        ? el("details", {}, el("summary", {}, "Details"), el("pre", {}, detailsText(entry.details)))
        : "";
    return el(
      "tr",
      { dataset: { auditId: entry.id, action: entry.action } },
      el("td", {}, formatWhen(entry.at)),
      el(
        "td",
        {},
        `${entry.staff?.name ?? "?"}`,
        el("span", { class: "meta" }, ` (${String(entry.staff?.role ?? "").replaceAll("_", " ")})`),
      ),
      el("td", { class: "kind" }, entry.action),
      el("td", {}, entry.target_type ? `${entry.target_type} ${entry.target_id ?? ""}`.trim() : ""),
      el("td", {}, entry.reason ?? ""),
      el("td", {}, details),
    );
  }

  function refreshChoices() {
    const select = $("#audit-staff");
    const keep = select.value;
    select.replaceChildren(
      el("option", { value: "" }, "Anyone"),
      ...[...state.staff]
        .sort((a, b) => a[1].localeCompare(b[1]))
        .map(([id, name]) => el("option", { value: id }, name)),
    );
    select.value = keep && state.staff.has(Number(keep)) ? keep : "";
    $("#audit-actions").replaceChildren(...[...state.actions].sort().map((a) => el("option", { value: a })));
  }

  /** Show a page of entries; null when a newer search has started meanwhile (its answer wins). */
  async function search(query, { older = false } = {}) {
    const token = ++state.token;
    const page = await get("/api/v1/staff/audit", {
      ...query,
      limit: PAGE,
      before: older ? state.nextBefore : undefined,
    });
    if (token !== state.token) return null;
    const rows = page.entries.map(row);
    if (older) $("#audit-rows").append(...rows);
    else $("#audit-rows").replaceChildren(...rows);
    state.query = query;
    state.nextBefore = page.next_before;
    state.shown = $("#audit-rows").children.length;
    $("#audit-older").hidden = !page.next_before;
    $("#audit-empty").hidden = state.shown > 0;
    csvLink(query);
    refreshChoices();
    return page.entries.length;
  }

  bindForm(form, async (values) => {
    const { query, problems } = readQuery(values);
    if (Object.keys(problems).length) throw fieldError(problems);
    try {
      if ((await search(query)) === null) return null;
    } catch (error) {
      if (ended(error)) return null;
      throw error;
    }
    return state.shown
      ? `${plural(state.shown, "entry", "entries")} shown${state.nextBefore ? "; older ones follow" : ""}.`
      : "No entries match.";
  });

  $("#audit-older").addEventListener("click", async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    try {
      const n = await search(state.query || {}, { older: true });
      if (n !== null)
        setStatus(statusOf(form), `${plural(n, "older entry", "older entries")} shown.`, "info");
    } catch (error) {
      if (!ended(error)) setStatus(statusOf(form), error.message, "error");
    }
    button.disabled = false;
    if (button.hidden) $("#audit-heading").focus();
  });

  $("#audit-clear").addEventListener("click", () => {
    form.reset();
    form.requestSubmit();
  });

  return {
    async show() {
      const principal = me();
      if (!principal) return;
      const global = isGlobal(principal);
      $("#audit-facility-field").hidden = !global;
      $("#audit-facility").disabled = !global;
      try {
        if (global) await fillFacilities($("#audit-facility"), { any: "All facilities" });
        await search(state.query || {});
      } catch (error) {
        if (!ended(error)) setStatus(statusOf(form), error.message, "error");
      }
    },
    reset() {
      state.token += 1;
      state.query = null;
      state.nextBefore = null;
      state.staff.clear();
      form.reset();
      forgetFacilities($("#audit-facility"), { keepFirst: true });
      $("#audit-rows").replaceChildren();
      setStatus(statusOf(form), "");
      csvLink({});
    },
  };
}
