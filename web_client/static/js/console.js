// The staff console at /console: staff sign in and see the pages their role may use. Which
// those are comes from the server's permission table (server/domain/permissions.py, the
// README's "Who may do what"): the principal carries the actions its role may take, and each
// page shows when the person may take the action that opens it (VIEW_ACTIONS). So:
//
//   reviewer        review queue, contacts (read only), the policy (read only), reports, tariff
//   facility admin  all of the facility's pages: contacts, review, policy, appeals, blocks,
//                   audit, reports, customer care, tariff
//   support         customer care, contacts and appeals (read only), audit, reports, and the
//                   policy and tariff (read only); global support also blocks (any facility)
//
// Each page lives in its own module (console-*.js, care.js, tariff.js); this one signs in,
// routes by the address's hash (#/review, #/policy, ...), keeps the navigation to what the
// role may use, and connects the two live feeds: the person's event stream (live.js) and the
// facility's "/staff" feed of held and decided messages and appeals (console-staff-live.js).

import { post, signOut } from "./api.js";
import { setupCare } from "./care.js";
import { setupAudit } from "./console-audit.js";
import { setupAppeals, setupBlocks } from "./console-cases.js";
import { isReviewer, may, setupReasonDialog } from "./console-common.js";
import { setupContacts } from "./console-contacts.js";
import { setupPolicy } from "./console-policy.js";
import { setupReports } from "./console-reports.js";
import { setupReview } from "./console-review.js";
import { connectStaff } from "./console-staff-live.js";
import { bindForm, setStatus } from "./forms.js";
import { connectLive } from "./live.js";
import { bindSignOut, startApp } from "./session.js";
import { setupTariff } from "./tariff.js";

const $ = (selector) => document.querySelector(selector);
const state = { principal: null, otherSession: false, live: null, staffLive: null };

const VIEWS = {
  review: "Review queue",
  contacts: "Contacts",
  care: "Customer care",
  policy: "Message policy",
  appeals: "Appeals",
  blocks: "Blocked family accounts",
  audit: "Audit log",
  reports: "Message reports",
  tariff: "Tariff",
};

// Each page, and the action of the permission table that opens it.
const VIEW_ACTIONS = {
  review: "review",
  contacts: "contact.read",
  care: "care.read",
  policy: "policy.read",
  appeals: "appeal.read",
  blocks: "family.block",
  audit: "audit.read",
  reports: "report.read",
  tariff: "tariff.read",
};

// Where each role lands after signing in.
const LANDING = { facility_admin: "contacts", reviewer: "review", support: "care" };

/** The views this person may open; the first is where they land. */
function viewsOf(principal) {
  if (!principal) return [];
  const views = Object.keys(VIEWS).filter((v) => v !== "review" || isReviewer(principal))
    .filter((v) => may(principal, VIEW_ACTIONS[v]));
  const first = LANDING[principal.role];
  return views.includes(first) ? [first, ...views.filter((v) => v !== first)] : views;
}

function show(principal, message = "", kind = "ok") {
  const was = state.principal;
  state.principal = principal;
  $("#view-login").hidden = Boolean(principal);
  $("#nav-in").hidden = !principal;
  const allowed = new Set(viewsOf(principal));
  for (const item of document.querySelectorAll("#nav-in li[data-view]")) {
    item.hidden = !allowed.has(item.dataset.view);
  }
  $("#whoami").textContent = principal
    ? `${principal.display_name}${principal.role ? ` (${principal.role.replaceAll("_", " ")})` : ""}`
    : "";
  setStatus($("#page-status"), message, kind);
  if (!principal || (was && was.id !== principal.id)) {
    for (const page of Object.values(pages)) page.reset?.();
    closeFeeds();
  }
  if (principal) openFeeds(principal);
  route();
}

function openFeeds(principal) {
  if (!state.live) {
    state.live = connectLive($("#live"), {
      onEvent: (event) => {
        const type = String(event?.type || "");
        if (type.startsWith("contact.") && !$("#view-contacts").hidden) pages.contacts.load();
        if (type.startsWith("wallet.") || type.startsWith("refund.")) care.refreshMoney();
      },
      onReconnect: () => {
        if (!$("#view-contacts").hidden) pages.contacts.load();
        if (!$("#view-care").hidden) care.refreshMoney();
      },
      onSessionEnded: (message) => show(null, message, "info"),
    });
  }
  if (!state.staffLive && isReviewer(principal)) {
    review.prime();
    if (may(principal, "appeal.read")) appeals.prime();
    state.staffLive = connectStaff({
      onEvent: (name, data) => {
        if (name === "review.held") review.held(data);
        else if (name === "review.decided") review.decided(data);
        else if (name.startsWith("appeal.") && may(state.principal, "appeal.read")) appeals.changed();
      },
      onState: (feed) => {
        review.feed(feed);
        if (feed === "live" && may(state.principal, "appeal.read")) appeals.changed();
      },
    });
  }
}

function closeFeeds() {
  state.live?.close();
  state.live = null;
  state.staffLive?.close();
  state.staffLive = null;
}

/** "#/blocks/12/3" -> ["blocks", "12", "3"]; a view the person may not use becomes their first. */
function route() {
  const principal = state.principal;
  const allowed = viewsOf(principal);
  const [asked, ...args] = location.hash.replace(/^#\/?/, "").split("/");
  const name = allowed.includes(asked) ? asked : allowed[0] || "contacts";
  for (const view of Object.keys(VIEWS)) $(`#view-${view}`).hidden = !principal || name !== view;
  for (const link of document.querySelectorAll("#nav-in a")) {
    if (link.getAttribute("href") === `#/${name}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = principal ? `${VIEWS[name]} · Homeline console` : "Sign in · Homeline console";
  if (!principal) return;
  pages[name].show(...args);
}

window.addEventListener("hashchange", () => {
  route();
  const view = state.principal && document.querySelector("main > section:not([hidden]) h1");
  if (view && !view.closest("section").contains(document.activeElement)) view.focus();
});

function sessionEnded() {
  show(null, "Your session has ended. Please sign in again.", "info");
}

bindForm($("#login-form"), async (values, form) => {
  if (state.otherSession) {
    await signOut();
    state.otherSession = false;
  }
  const answer = await post("/api/v1/staff/sessions", {
    username: values.username,
    password: values.password,
  });
  form.reset();
  show(answer.principal);
  document.querySelector("main > section:not([hidden]) h1")?.focus();
  return "";
});

const me = () => state.principal;
const common = { sessionEnded: () => sessionEnded(), me };
const reasonDialog = setupReasonDialog({
  ended: (error) => error?.status === 401 && (sessionEnded(), true),
});
const care = setupCare(common);
const tariff = setupTariff(common);
const review = setupReview(common);
const appeals = setupAppeals({ ...common, reasonDialog });
const pages = {
  review,
  contacts: setupContacts({ ...common, reasonDialog }),
  care,
  policy: setupPolicy(common),
  appeals,
  blocks: setupBlocks({ ...common, reasonDialog }),
  audit: setupAudit(common),
  reports: setupReports(common),
  tariff,
};

bindSignOut(show);
startApp("staff", show, state);
