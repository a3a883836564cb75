// Message reports (#/reports): for each day in the facility's time zone, messages sent, held
// for review, approved, rejected and the median time a held message waited for its decision.
// A table holds the figures; above it a bar chart (inline SVG built with DOM calls, styled
// from app.css) shows the same four counts, with a text summary as its accessible name.

import { get } from "./api.js";
import { bindForm, el, fieldError, setStatus, statusOf } from "./forms.js";
import { ender, fillFacilities, formatDay, isGlobal, plural } from "./console-common.js";

const $ = (selector) => document.querySelector(selector);
const SVG = "http://www.w3.org/2000/svg";
const MAX_DAYS = 92;
const SERIES = [
  ["sent", "Sent"],
  ["held", "Held"],
  ["approved", "Approved"],
  ["rejected", "Rejected"],
];

/** 200 -> "3 min 20 s"; 5400 -> "1 h 30 min"; null -> "none reviewed". */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(Number(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
  const h = Math.floor(s / 3600);
  const m = Math.round((s % 3600) / 60);
  return `${h} h${m ? ` ${m} min` : ""}`;
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  for (const child of children) node.append(child);
  return node;
}

function daysBetween(from, to) {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86400000) + 1;
}

export function setupReports({ sessionEnded, me }) {
  const form = $("#reports-form");
  const ended = ender(sessionEnded);
  const state = { token: 0 };

  function facilityId() {
    const principal = me();
    return isGlobal(principal) ? Number($("#reports-facility").value) : principal.facility_id;
  }

  /** Without days, the server's default: the last 14 days of the facility's calendar. */
  async function load(from, to) {
    const token = ++state.token;
    const data = await get(`/api/v1/staff/facilities/${facilityId()}/reports/messages`, { from, to });
    if (token !== state.token) return null; // a newer request is on its way
    const days = data.days || [];
    if (days.length) {
      form.elements.namedItem("from").value = days[0].date;
      form.elements.namedItem("to").value = days[days.length - 1].date;
    }
    render(data);
    return data;
  }

  function totals(days) {
    const sum = Object.fromEntries(SERIES.map(([k]) => [k, 0]));
    for (const day of days) for (const [k] of SERIES) sum[k] += Number(day[k]) || 0;
    return sum;
  }

  function render(data) {
    const days = data.days || [];
    const sum = totals(days);
    const range = days.length ? `${formatDay(days[0].date)} to ${formatDay(days[days.length - 1].date)}` : "";
    $("#reports-rows").replaceChildren(
      ...days.map((d) =>
        el(
          "tr",
          { dataset: { date: d.date } },
          el(
            "th",
            { scope: "row" },
            formatDay(d.date, { weekday: "short", day: "numeric", month: "short", year: "numeric" }),
          ),
          ...SERIES.map(([k]) => el("td", { class: "num" }, (Number(d[k]) || 0).toLocaleString())),
          el("td", { class: "num" }, formatDuration(d.median_review_seconds)),
        ),
      ),
    );
    $("#reports-total").replaceChildren(
      el(
        "tr",
        {},
        el("th", { scope: "row" }, "Total"),
        ...SERIES.map(([k]) => el("td", { class: "num" }, sum[k].toLocaleString())),
        el("td", {}),
      ),
    );
    $("#reports-table-caption").textContent =
      `Messages by day, ${range} (${data.timezone || "facility time"})`;
    const summary =
      `${range}: ${plural(sum.sent, "message", "messages")} sent, ${sum.held.toLocaleString()} held for review, ` +
      `${sum.approved.toLocaleString()} approved, ${sum.rejected.toLocaleString()} rejected.`;
    $("#reports-caption").textContent = `${summary} Each day's figures are in the table below.`;
    $("#reports-chart").replaceChildren(chart(days, summary));
    $("#reports-legend").replaceChildren(
      ...SERIES.map(([k, label]) =>
        el("span", { class: "legend-item" }, el("span", { class: `swatch series-${k}` }), label),
      ),
    );
    $("#reports-body").hidden = false;
  }

  function chart(days, summary) {
    const bar = 6;
    const group = bar * SERIES.length + 6;
    const left = 40;
    const top = 10;
    const height = 160;
    const bottom = 24;
    const width = left + Math.max(days.length, 1) * group + 10;
    const max = Math.max(1, ...days.flatMap((d) => SERIES.map(([k]) => Number(d[k]) || 0)));
    const y = (v) => top + height - (v / max) * height;
    const titleId = "reports-chart-title";
    const root = svg("svg", {
      viewBox: `0 0 ${width} ${top + height + bottom}`,
      role: "img",
      "aria-labelledby": titleId,
      class: "bar-chart",
      preserveAspectRatio: "xMinYMin meet",
    });
    const title = svg("title", { id: titleId });
    title.textContent = `Bar chart of messages by day. ${summary}`;
    root.append(title);
    const axis = svg("g", { class: "axis", "aria-hidden": "true" });
    for (const value of [0, max]) {
      axis.append(
        svg("line", { x1: left - 4, x2: width, y1: y(value), y2: y(value), class: value ? "grid" : "base" }),
      );
      const label = svg("text", { x: left - 8, y: y(value) + 4, "text-anchor": "end" });
      label.textContent = value.toLocaleString();
      axis.append(label);
    }
    const every = Math.max(1, Math.ceil(days.length / 14));
    days.forEach((d, i) => {
      const x0 = left + i * group + 3;
      const g = svg("g", { class: "day" });
      SERIES.forEach(([k, label], j) => {
        const value = Number(d[k]) || 0;
        const rect = svg("rect", {
          x: x0 + j * bar,
          y: y(value),
          width: bar - 1,
          height: Math.max(0, top + height - y(value)),
          class: `series-${k}`,
        });
        const tip = svg("title");
        tip.textContent = `${formatDay(d.date)}: ${value.toLocaleString()} ${label.toLowerCase()}`;
        rect.append(tip);
        g.append(rect);
      });
      if (i % every === 0) {
        const label = svg("text", {
          x: x0 + (bar * SERIES.length) / 2,
          y: top + height + 16,
          "text-anchor": "middle",
        });
        label.textContent = d.date.slice(8);
        axis.append(label);
      }
      root.append(g);
    });
    root.append(axis);
    return root;
  }

  bindForm(form, async (values) => {
    const problems = {};
    const { from, to } = values;
    if (!from) problems.from = "Choose the first day.";
    if (!to) problems.to = "Choose the last day.";
    if (from && to && to < from) problems.to = "The last day comes before the first.";
    else if (from && to && daysBetween(from, to) > MAX_DAYS)
      problems.to = `At most ${MAX_DAYS} days at a time.`;
    if (Object.keys(problems).length) throw fieldError(problems);
    let data;
    try {
      data = await load(from, to);
    } catch (error) {
      if (ended(error)) return null;
      throw error;
    }
    if (data === null) return null;
    return `${plural((data.days || []).length, "day", "days")} shown.`;
  });

  return {
    async show() {
      const principal = me();
      if (!principal) return;
      const global = isGlobal(principal);
      $("#reports-facility-field").hidden = !global;
      $("#reports-facility").disabled = !global;
      try {
        if (global && !(await fillFacilities($("#reports-facility")))) return;
        await load(
          form.elements.namedItem("from").value || undefined,
          form.elements.namedItem("to").value || undefined,
        );
      } catch (error) {
        if (!ended(error)) setStatus(statusOf(form), error.message, "error");
      }
    },
    reset() {
      state.token += 1;
      form.reset();
      $("#reports-body").hidden = true;
      setStatus(statusOf(form), "");
    },
  };
}
