// Forms and small DOM helpers: per-field errors tied to their inputs with aria-describedby and
// aria-invalid, one aria-live status region per form, and a submit wrapper that keeps a form
// from being sent twice.

import { ApiError } from "./api.js";

/** Build an element without innerHTML: attributes by name, children as nodes or text. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** The form's status region, created on demand just before its submit button row. */
export function statusOf(form) {
  let region = form.querySelector(":scope > .form-status");
  if (!region) {
    region = el("p", { class: "form-status", role: "status", "aria-live": "polite" });
    form.append(region);
  }
  return region;
}

export function setStatus(region, message, kind = "info") {
  region.textContent = message || "";
  if (message) region.dataset.kind = kind;
  else delete region.dataset.kind;
}

function describedBy(control) {
  return (control.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
}

export function clearErrors(form) {
  for (const message of form.querySelectorAll(".field-error")) {
    const control = form.querySelector(`[aria-describedby~="${message.id}"]`);
    if (control) {
      const rest = describedBy(control).filter((id) => id !== message.id);
      if (rest.length) control.setAttribute("aria-describedby", rest.join(" "));
      else control.removeAttribute("aria-describedby");
      control.removeAttribute("aria-invalid");
    }
    message.remove();
  }
}

/** Show each field's sentence under its control; returns the messages that matched no control. */
export function showFieldErrors(form, fields) {
  const unmatched = [];
  let first = null;
  for (const [name, sentence] of Object.entries(fields || {})) {
    const control = form.elements.namedItem(name);
    if (!(control instanceof HTMLElement)) {
      unmatched.push(sentence);
      continue;
    }
    const id = `${form.id || "form"}-${name}-error`;
    const message = el("p", { class: "field-error", id }, sentence);
    const wrapper = control.closest(".field") || control.parentElement;
    wrapper.append(message);
    control.setAttribute("aria-invalid", "true");
    control.setAttribute("aria-describedby", [...describedBy(control), id].join(" "));
    first = first || control;
  }
  if (first) first.focus();
  return unmatched;
}

/** The form's values by name; checkboxes become booleans, everything else stays text. */
export function readForm(form) {
  const values = {};
  for (const control of form.elements) {
    if (!control.name || control.disabled) continue;
    if (control.type === "checkbox") values[control.name] = control.checked;
    else if (control.type === "radio") {
      if (control.checked) values[control.name] = control.value;
    } else if (control.type !== "submit" && control.type !== "button") values[control.name] = control.value;
  }
  return values;
}

/**
 * Run `handler(values, form)` on submit. A returned string is shown as success (null leaves the
 * status alone); an ApiError's field errors go next to their fields and its message into the
 * status region.
 */
export function bindForm(form, handler) {
  form.noValidate = true;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (form.dataset.busy) return;
    form.dataset.busy = "1";
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => (b.disabled = true));
    const region = statusOf(form);
    clearErrors(form);
    setStatus(region, "Working…", "info");
    try {
      const message = await handler(readForm(form), form);
      // null: the handler has written the status itself.
      if (message !== null) setStatus(region, typeof message === "string" ? message : "", "ok");
    } catch (error) {
      reportError(form, error);
    } finally {
      delete form.dataset.busy;
      buttons.forEach((b) => (b.disabled = false));
    }
  });
}

export function reportError(form, error) {
  const region = statusOf(form);
  if (error instanceof ApiError) {
    const extra = showFieldErrors(form, error.fields);
    const text = [error.message, ...extra].join(" ");
    setStatus(region, text, "error");
  } else {
    console.error(error);
    setStatus(region, "Something went wrong in this page. Reload it and try again.", "error");
  }
}

/** A client-side check that looks exactly like a server's field error. */
export function fieldError(fields, message = "Some fields need attention.") {
  return new ApiError(422, "invalid_fields", message, fields);
}
