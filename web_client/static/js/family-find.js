// Finding a person in custody in the family app (#/find, with family.js): the facilities to
// search in, residents found by name or number, and a request to connect with each, with the
// family member's relationship to them.

import { ApiError, get, post } from "./api.js";
import { bindForm, el, fieldError, setStatus, statusOf } from "./forms.js";

const $ = (selector) => document.querySelector(selector);

const RELATIONSHIPS = [
  ["family", "Family member"],
  ["partner", "Spouse or partner"],
  ["parent", "Parent"],
  ["child", "Child"],
  ["sibling", "Sibling"],
  ["friend", "Friend"],
  ["other", "Other"],
];

/** Wire the find view; sessionEnded(): the session is gone. Returns `show()`, for the route. */
export function setupFind({ sessionEnded }) {
  let facilities = null; // loaded on the first visit, kept after

  async function loadFacilities() {
    const select = $("#find-facility");
    if (facilities) return;
    try {
      const answer = await get("/api/v1/facilities");
      facilities = answer.facilities;
      select.replaceChildren(
        ...facilities.map((f) => el("option", { value: f.id }, `${f.name} (${f.city}, ${f.state})`)),
      );
    } catch (error) {
      setStatus(statusOf($("#find-form")), error.message, "error");
    }
  }

  bindForm($("#find-form"), async (values) => {
    const q = values.q.trim();
    if (q.length < 2) throw fieldError({ q: "Type at least 2 characters." });
    const { residents } = await get("/api/v1/residents", { facility_id: values.facility_id, q });
    const results = $("#find-results");
    results.replaceChildren(...residents.map(resultItem));
    if (!residents.length) return "No one found. Check the spelling, or try the resident number.";
    return residents.length === 1 ? "1 person found." : `${residents.length} people found.`;
  });

  function resultItem(resident) {
    const name = `${resident.first_name} ${resident.last_name}`;
    const selectId = `rel-${resident.id}`;
    const form = el(
      "form",
      { class: "inline-form", id: `connect-${resident.id}`, "aria-label": `Ask to connect with ${name}` },
      el(
        "div",
        { class: "field" },
        el("label", { for: selectId }, `Your relationship to ${resident.first_name}`),
        el(
          "select",
          { id: selectId, name: "relationship" },
          RELATIONSHIPS.map(([value, label]) => el("option", { value }, label)),
        ),
      ),
      el("div", { class: "field submit" }, el("button", { type: "submit" }, "Ask to connect")),
      el("p", { class: "form-status", role: "status", "aria-live": "polite" }),
    );
    bindForm(form, async (values) => {
      try {
        await post("/api/v1/contacts", { resident_id: resident.id, relationship: values.relationship });
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) return sessionEnded();
        throw error;
      }
      return `Request sent. ${name} will see it on their tablet.`;
    });
    return el(
      "li",
      { dataset: { residentId: resident.id } },
      el(
        "div",
        { class: "who" },
        el("span", { class: "name" }, name),
        el("span", { class: "meta" }, `Resident number ${resident.resident_number}`),
      ),
      form,
    );
  }

  return { show: loadFacilities };
}
