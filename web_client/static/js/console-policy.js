// The message policy (#/policy): how messages in each direction and photos are delivered
// (instant, after a delay, held for review, held when a rule matches), the word, phrase and
// pattern rules, restrictions on single residents, the reasons reviewers pick when rejecting,
// visiting hours and the time zone; below it the history of versions. The facility's
// administrators edit it (the whole document is replaced, with an optional reason for the
// history and the audit log); other staff read it. A 422 puts each sentence next to its field.
//
// The page shows the parts the server's document has, and sends back exactly those parts, so
// it works with a server that knows fewer of them. The delivery modes, visiting hours and time
// zone are in console-policy-delivery.js; the editable lists (rules, restrictions, rejection
// reasons) in console-policy-lists.js.

import { ApiError, get, put } from "./api.js";
import { bindForm, clearErrors, el, fieldError, setStatus, statusOf } from "./forms.js";
import { formatWhen } from "./money.js";
import { ender, fillFacilities, forgetFacilities, isGlobal, may, plural } from "./console-common.js";
import { DIRECTIONS, MODE_LABELS, setupPolicyDelivery } from "./console-policy-delivery.js";
import { setupPolicyLists } from "./console-policy-lists.js";

const $ = (selector) => document.querySelector(selector);

const SECTION_LABELS = {
  incoming: "Family to resident",
  outgoing: "Resident to family",
  photos: "Photos",
  rules: "Rules",
  restrictions: "Restrictions",
  rejection_reasons: "Rejection reasons",
  visiting_hours: "Visiting hours",
  timezone: "Time zone",
};

/** One line that says what a version of the policy does. */
function summarise(policy) {
  const parts = DIRECTIONS.filter(([d]) => policy[d]).map(([d, label]) => {
    const rule = policy[d];
    const mode = MODE_LABELS[rule.mode] || rule.mode;
    return `${label}: ${mode.toLowerCase()}${rule.mode === "delay" ? ` ${rule.delay_minutes} min` : ""}`;
  });
  if (Array.isArray(policy.rules)) parts.push(plural(policy.rules.length, "rule", "rules"));
  if (Array.isArray(policy.restrictions)) {
    parts.push(plural(policy.restrictions.length, "restriction", "restrictions"));
  }
  if (policy.timezone) parts.push(policy.timezone);
  return parts.join(" · ");
}

export function setupPolicy({ sessionEnded, me }) {
  const form = $("#policy-form");
  const state = {
    facilityId: null,
    data: null,
    editable: false,
    dirty: false,
    loading: 0,
    names: new Map(), // resident id -> "Name · #number", from searches
  };
  const ended = ender(sessionEnded);
  const url = (id) => `/api/v1/staff/facilities/${id}/policy`;
  const has = (key) => Boolean(state.data && key in state.data.policy);
  const delivery = setupPolicyDelivery({ form, state });
  const lists = setupPolicyLists({ state, ended });

  // ---- loading ---------------------------------------------------------------------------

  async function load(facilityId) {
    const token = ++state.loading;
    const status = $("#policy-status");
    if (state.facilityId !== facilityId) $("#policy-body").hidden = true;
    setStatus(status, "Loading the policy…", "info");
    let data;
    try {
      data = await get(url(facilityId));
    } catch (error) {
      if (token !== state.loading || ended(error)) return;
      $("#policy-body").hidden = true;
      state.facilityId = null;
      setStatus(status, error.message, "error");
      return;
    }
    await learnNames(data.policy, data.residents);
    if (token !== state.loading) return;
    setStatus(status, "");
    clearErrors(form);
    setStatus(statusOf(form), "");
    render(data);
    $("#policy-body").hidden = false;
  }

  /** Residents' names for the restrictions: the policy GET names the restricted residents;
   *  others found by search are added as they are picked. */
  async function learnNames(policy, residents = {}) {
    for (const [id, r] of Object.entries(residents)) state.names.set(Number(id), `${r.name} · #${r.number}`);
    const restrictions = policy?.restrictions || [];
    if (!restrictions.some((r) => !state.names.has(Number(r.resident_id)))) return;
    try {
      const { contacts } = await get("/api/v1/contacts");
      for (const c of contacts) {
        if (c.resident) state.names.set(c.resident.id, `${c.resident.name} · #${c.resident.resident_number}`);
      }
    } catch {
      // Names are a courtesy; the ids still say who.
    }
  }

  async function show() {
    const principal = me();
    if (!principal) return;
    const global = isGlobal(principal);
    $("#policy-facility-form").hidden = !global;
    let facilityId = principal.facility_id;
    if (global) {
      try {
        if (!(await fillFacilities($("#policy-facility")))) {
          setStatus($("#policy-status"), "There is no facility yet.", "info");
          return;
        }
      } catch (error) {
        if (!ended(error)) setStatus($("#policy-status"), error.message, "error");
        return;
      }
      facilityId = state.facilityId ?? Number($("#policy-facility").value);
    }
    if (state.dirty && state.facilityId === facilityId) return; // keep unsaved edits
    await load(facilityId);
  }

  $("#policy-facility-form").addEventListener("submit", (event) => {
    event.preventDefault();
    load(Number($("#policy-facility").value));
  });
  $("#policy-facility").addEventListener("change", () => load(Number($("#policy-facility").value)));

  // ---- showing ---------------------------------------------------------------------------

  function render(data) {
    const principal = me();
    const policy = data.policy || {};
    state.data = data;
    state.facilityId = data.facility_id;
    state.dirty = false;
    state.editable =
      may(principal, "policy.change") &&
      (isGlobal(principal) || principal.facility_id === data.facility_id);
    if (!$("#policy-facility-form").hidden) $("#policy-facility").value = String(data.facility_id);
    const who = (c) => (c.changed_by_staff_id === principal?.id ? " by you" : ` by ${c.changed_by}`);
    const latest = (data.history || [])[0];
    $("#policy-meta").textContent = data.version
      ? `Facility ${data.facility_id}. Version ${data.version}, changed ${formatWhen(data.updated_at)}` +
        `${latest && latest.version === data.version ? who(latest) : ""}.`
      : `Facility ${data.facility_id}. The default policy: no administrator has changed it yet.`;
    $("#policy-readonly").hidden = state.editable;

    delivery.fill(policy);
    $("#pf-rules").hidden = !("rules" in policy);
    $("#pf-restrictions").hidden = !("restrictions" in policy);
    $("#pf-reasons").hidden = !("rejection_reasons" in policy);
    // Read only for all but the facility's admins; a part the server does not have is not sent.
    for (const control of form.querySelectorAll("input, select, textarea")) {
      control.disabled = !state.editable || Boolean(control.closest("fieldset[hidden]"));
    }
    delivery.syncModes();
    for (const node of form.querySelectorAll(".edit-only")) node.hidden = !state.editable;
    $("#policy-save").hidden = !state.editable;
    lists.fill(policy);
    renderHistory(data);
  }

  function renderHistory(data) {
    const principal = me();
    const history = data.history || [];
    $("#policy-history").replaceChildren(
      ...history.map((c) =>
        el(
          "li",
          { dataset: { version: c.version } },
          el(
            "div",
            { class: "who" },
            el(
              "span",
              { class: "name" },
              `Version ${c.version} · ${formatWhen(c.changed_at)} · ` +
                (c.changed_by_staff_id === principal?.id ? "by you" : `by ${c.changed_by}`),
            ),
            el("span", { class: "meta" }, summarise(c.policy || {})),
            c.reason ? el("span", { class: "reason" }, `Reason: ${c.reason}`) : null,
          ),
        ),
      ),
    );
    $("#policy-history-empty").hidden = history.length > 0;
  }

  // ---- saving ----------------------------------------------------------------------------

  /** The policy as typed: the document to send, or the fields to fix first. */
  function readPolicy() {
    const problems = {};
    const policy = {};
    const value = (name) => form.elements.namedItem(name)?.value ?? "";
    delivery.readModes(policy, problems, has);
    if (has("rules")) {
      policy.rules = [...$("#policy-rules tbody").rows].map((_, i) => {
        const rule = { kind: value(`rules.${i}.kind`), pattern: value(`rules.${i}.pattern`) };
        if (!rule.pattern.trim())
          problems[`rules.${i}.pattern`] = "Enter a word, phrase or pattern, or remove the rule.";
        const note = value(`rules.${i}.note`).trim();
        if (note) rule.note = note;
        return rule;
      });
    }
    if (has("restrictions")) {
      policy.restrictions = [...$("#policy-restrictions tbody").rows].map((row, i) => {
        const r = {
          resident_id: Number(row.dataset.residentId),
          kind: value(`restrictions.${i}.kind`),
          until: value(`restrictions.${i}.until`) || null,
        };
        const reason = value(`restrictions.${i}.reason`).trim();
        if (reason) r.reason = reason;
        return r;
      });
    }
    if (has("rejection_reasons")) {
      policy.rejection_reasons = [...$("#policy-reasons").children].map((_, i) => {
        const text = value(`rejection_reasons.${i}`).trim();
        if (!text) problems[`rejection_reasons.${i}`] = "Write the reason, or remove it.";
        return text;
      });
    }
    delivery.readSchedule(policy, problems, has);
    return { policy, problems };
  }

  /** The control a server field name belongs to: "visiting_hours.mon.0.1" is the Monday
   *  input; what has no control here is said in the form's status, named. */
  function placed(error) {
    if (!(error instanceof ApiError) || !error.fields) return error;
    const fields = {};
    const elsewhere = [];
    for (const [name, sentence] of Object.entries(error.fields)) {
      let key = name;
      while (key && !(form.elements.namedItem(key) instanceof HTMLElement)) {
        key = key.includes(".") ? key.slice(0, key.lastIndexOf(".")) : "";
      }
      if (key && !form.elements.namedItem(key).disabled) {
        fields[key] = fields[key] ? `${fields[key]} ${sentence}` : sentence;
      } else {
        const [section, index] = name.split(".");
        const label = SECTION_LABELS[section] || section;
        elsewhere.push(`${label}${/^\d+$/.test(index || "") ? ` ${Number(index) + 1}` : ""}: ${sentence}`);
      }
    }
    return new ApiError(
      error.status,
      error.code,
      [error.message, ...elsewhere].join(" "),
      fields,
      error.retryAfter,
    );
  }

  form.addEventListener("input", () => (state.dirty = true));
  form.addEventListener("change", () => (state.dirty = true));

  bindForm(form, async (values) => {
    if (!state.editable || !state.data) return null;
    const { policy, problems } = readPolicy();
    if (Object.keys(problems).length) throw fieldError(problems);
    const reason = (values.reason || "").trim();
    const before = state.data.version;
    let answer;
    try {
      answer = await put(url(state.facilityId), reason ? { ...policy, reason } : policy);
    } catch (error) {
      if (ended(error)) return null;
      throw placed(error);
    }
    render(answer);
    form.elements.namedItem("reason").value = "";
    if (answer.version === before) return "Nothing has changed, so there is nothing to save.";
    return `Saved: version ${answer.version}. It applies to the next message sent.`;
  });

  return {
    show,
    reset() {
      state.loading += 1;
      state.facilityId = null;
      state.data = null;
      state.dirty = false;
      state.names.clear();
      $("#policy-body").hidden = true;
      forgetFacilities($("#policy-facility"));
      clearErrors(form);
      setStatus(statusOf(form), "");
      setStatus($("#policy-status"), "");
    },
  };
}
