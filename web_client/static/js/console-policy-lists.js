// The policy page's editable lists (#/policy, with console-policy.js): word, phrase and
// pattern rules, restrictions on single residents (found by name or number), and the reasons
// reviewers pick from. Each row's controls are named by position ("rules.2.pattern"), as the
// server names its 422 errors, and renamed whenever a row comes or goes; focus follows the
// keyboard user through adding and removing.

import { get } from "./api.js";
import { el, setStatus } from "./forms.js";
import { plural } from "./console-common.js";

const $ = (selector) => document.querySelector(selector);

const RULE_KINDS = [
  ["word", "Word"],
  ["phrase", "Phrase"],
  ["regex", "Pattern (regular expression)"],
];
const RESTRICTION_KINDS = [
  ["review_all", "Review all messages"],
  ["no_messaging", "No messaging"],
];
const MAX_RULES = 200;
const MAX_RESTRICTIONS = 500;
const MAX_REASONS = 50;

/**
 * `state` is the policy page's: `editable`, `dirty` (set here on every change), `names`
 * (resident id -> "Name · #number") and `facilityId` (for the resident search).
 */
export function setupPolicyLists({ state, ended }) {
  function labelled(control, text) {
    const id = `pc-${Math.random().toString(36).slice(2, 10)}`;
    control.id = id;
    return el(
      "div",
      { class: "field" },
      el("label", { for: id, class: "visually-hidden", dataset: { text } }),
      control,
    );
  }

  function removeButton(row, what) {
    const button = el(
      "button",
      { type: "button", class: "secondary remove edit-only", hidden: !state.editable },
      "Remove",
    );
    button.addEventListener("click", () => {
      // Focus goes to the row that takes its place, or after the last one to the Add button
      // (the resident search, for restrictions).
      const next = row.nextElementSibling?.querySelector("button.remove");
      row.remove();
      state.dirty = true;
      renumber();
      (next || document.getElementById(what)).focus();
    });
    return button;
  }

  function ruleRow(rule) {
    const kind = el(
      "select",
      { dataset: { part: "kind" } },
      RULE_KINDS.map(([v, t]) => el("option", { value: v }, t)),
    );
    kind.value = rule?.kind || "word";
    const pattern = el("input", {
      type: "text",
      maxlength: 200,
      autocomplete: "off",
      spellcheck: "false",
      dataset: { part: "pattern" },
    });
    pattern.value = rule?.pattern || "";
    const note = el("input", {
      type: "text",
      maxlength: 200,
      autocomplete: "off",
      dataset: { part: "note" },
    });
    note.value = rule?.note || "";
    const row = el(
      "tr",
      {},
      el("td", {}, labelled(kind, "kind")),
      el("td", {}, labelled(pattern, "word, phrase or pattern")),
      el("td", {}, labelled(note, "note")),
    );
    row.append(el("td", { class: "col-remove" }, removeButton(row, "policy-add-rule")));
    return row;
  }

  function residentLabel(id, fallback) {
    return state.names.get(id) || fallback || `Resident ${id}`;
  }

  function restrictionRow(r) {
    const id = Number(r.resident_id);
    const known = r.resident_name || r.resident?.name;
    const number = r.resident_number || r.resident?.resident_number;
    if (known) state.names.set(id, `${known}${number ? ` · #${number}` : ""}`);
    const kind = el(
      "select",
      { dataset: { part: "kind" } },
      RESTRICTION_KINDS.map(([v, t]) => el("option", { value: v }, t)),
    );
    kind.value = r.kind || "review_all";
    const until = el("input", { type: "date", dataset: { part: "until" } });
    until.value = r.until || "";
    const reason = el("input", {
      type: "text",
      maxlength: 500,
      autocomplete: "off",
      dataset: { part: "reason" },
    });
    reason.value = r.reason || "";
    const row = el(
      "tr",
      { dataset: { residentId: id } },
      el("th", { scope: "row", class: "resident" }, residentLabel(id)),
      el("td", {}, labelled(kind, "restriction")),
      el("td", {}, labelled(until, "until (optional)")),
      el("td", {}, labelled(reason, "reason")),
    );
    row.append(el("td", { class: "col-remove" }, removeButton(row, "policy-resident-q")));
    return row;
  }

  function reasonItem(text) {
    const input = el("input", {
      type: "text",
      maxlength: 200,
      autocomplete: "off",
      dataset: { part: "reason" },
    });
    input.value = text || "";
    const item = el("li", {}, labelled(input, "reason"));
    item.append(removeButton(item, "policy-add-reason"));
    return item;
  }

  /** Names, ids and labels follow each row's position, as the server's errors do
   *  ("rules.2.pattern"). */
  function renumber() {
    const rules = [...$("#policy-rules tbody").rows];
    rules.forEach((row, i) => {
      for (const label of row.querySelectorAll("label[data-text]")) {
        const control = document.getElementById(label.htmlFor);
        control.name = `rules.${i}.${control.dataset.part}`;
        label.textContent = `Rule ${i + 1}: ${label.dataset.text}`;
      }
      row.querySelector("button.remove").setAttribute("aria-label", `Remove rule ${i + 1}`);
    });
    $("#policy-rules-empty").hidden = rules.length > 0;
    $("#policy-add-rule").hidden = !state.editable || rules.length >= MAX_RULES;

    const restrictions = [...$("#policy-restrictions tbody").rows];
    restrictions.forEach((row, i) => {
      const who = residentLabel(Number(row.dataset.residentId));
      for (const label of row.querySelectorAll("label[data-text]")) {
        const control = document.getElementById(label.htmlFor);
        control.name = `restrictions.${i}.${control.dataset.part}`;
        label.textContent = `${who}: ${label.dataset.text}`;
      }
      row.querySelector("button.remove").setAttribute("aria-label", `Remove the restriction on ${who}`);
    });
    $("#policy-restrictions-empty").hidden = restrictions.length > 0;

    const reasons = [...$("#policy-reasons").children];
    reasons.forEach((item, i) => {
      const label = item.querySelector("label[data-text]");
      const control = document.getElementById(label.htmlFor);
      control.name = `rejection_reasons.${i}`;
      label.textContent = `Rejection reason ${i + 1}`;
      item.querySelector("button.remove").setAttribute("aria-label", `Remove rejection reason ${i + 1}`);
    });
    $("#policy-add-reason").hidden = !state.editable || reasons.length >= MAX_REASONS;
  }

  // ---- adding rows -----------------------------------------------------------------------

  $("#policy-add-rule").addEventListener("click", () => {
    const row = ruleRow(null);
    $("#policy-rules tbody").append(row);
    state.dirty = true;
    renumber();
    row.querySelector("select").focus();
  });

  $("#policy-add-reason").addEventListener("click", () => {
    const item = reasonItem("");
    $("#policy-reasons").append(item);
    state.dirty = true;
    renumber();
    item.querySelector("input").focus();
  });

  async function searchResidents() {
    const status = $("#policy-resident-status");
    const q = $("#policy-resident-q").value.trim();
    if (q.length < 2) {
      setStatus(status, "Type at least 2 characters of a name or number.", "error");
      $("#policy-resident-q").focus();
      return;
    }
    let residents;
    try {
      ({ residents } = await get("/api/v1/residents", { facility_id: state.facilityId, q }));
    } catch (error) {
      if (!ended(error)) setStatus(status, error.message, "error");
      return;
    }
    $("#policy-resident-results").replaceChildren(
      ...residents.map((r) => {
        const name = `${r.first_name} ${r.last_name}`;
        state.names.set(r.id, `${name} · #${r.resident_number}`);
        const add = el(
          "button",
          { type: "button", class: "secondary", "aria-label": `Restrict ${name} (#${r.resident_number})` },
          "Restrict",
        );
        add.addEventListener("click", () => addRestriction(r.id));
        return el("li", {}, el("span", { class: "name" }, `${name} · #${r.resident_number}`), add);
      }),
    );
    setStatus(
      status,
      residents.length ? `${plural(residents.length, "resident", "residents")} found.` : "Nobody found.",
      residents.length ? "info" : "error",
    );
  }

  function addRestriction(residentId) {
    const body = $("#policy-restrictions tbody");
    if (body.rows.length >= MAX_RESTRICTIONS) {
      setStatus($("#policy-resident-status"), `At most ${MAX_RESTRICTIONS} restrictions.`, "error");
      return;
    }
    const row = restrictionRow({ resident_id: residentId, kind: "review_all", until: null, reason: "" });
    body.append(row);
    state.dirty = true;
    renumber();
    $("#policy-resident-results").replaceChildren();
    setStatus(
      $("#policy-resident-status"),
      `Added ${residentLabel(residentId)}: choose the restriction, then save.`,
      "ok",
    );
    row.querySelector("select").focus();
  }

  $("#policy-resident-search").addEventListener("click", searchResidents);
  $("#policy-resident-q").addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault(); // not the policy's own submit
      searchResidents();
    }
  });

  /** Show the lists of a policy as the server sent it. */
  function fill(policy) {
    $("#policy-rules tbody").replaceChildren(...(policy.rules || []).map((r) => ruleRow(r)));
    $("#policy-restrictions tbody").replaceChildren(
      ...(policy.restrictions || []).map((r) => restrictionRow(r)),
    );
    $("#policy-resident-results").replaceChildren();
    setStatus($("#policy-resident-status"), "");
    $("#policy-reasons").replaceChildren(...(policy.rejection_reasons || []).map((r) => reasonItem(r)));
    renumber();
  }

  return { fill, renumber };
}
