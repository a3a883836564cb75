// The full-screen photo viewer of the tablet, the family app and the console: a modal dialog
// (aria-modal, the focus kept inside, Escape closes and gives the focus back to what opened it)
// showing one photo of a list with "3 of 7"; Previous/Next by buttons, the left and right arrow
// keys or a swipe; zoom by the + and − buttons (or keys), the mouse wheel or a pinch, and a
// zoomed photo is moved by dragging. Pointer events throughout, so mouse, pen and touch all work.

import { el } from "./forms.js";

const MIN_SCALE = 1;
const MAX_SCALE = 5;
const STEP = 1.5;
const SWIPE_PX = 50; // a shorter horizontal move is a tap or a wobble, not a swipe

let current = null; // the viewer open, if any: one at a time

const clamp = (value, low, high) => Math.min(high, Math.max(low, value));
const distance = (a, b) => Math.hypot(a.x - b.x, a.y - b.y);

function button(text, attrs) {
  return el("button", { type: "button", class: "secondary", ...attrs }, text);
}

/**
 * Open the viewer on `photos` ({url, width, height, ...}, in order) at `index`. title: the
 * dialog's name ("Photos from Casey Lane"). The element focused now gets the focus back, or,
 * if it has left the page meanwhile (a list drawn again), the one returnFocus() finds.
 */
export function openViewer(photos, { index = 0, title = "Photos", returnFocus = null } = {}) {
  if (!photos?.length) return null;
  current?.close();
  const opener = document.activeElement;
  const heading = el("h2", { id: "photo-viewer-title" }, title);
  const count = el("p", { class: "pv-count", id: "photo-viewer-count", "aria-live": "polite" });
  const close = button("Close", { class: "secondary pv-close", "aria-label": "Close the photo viewer" });
  const image = el("img", { class: "pv-image", draggable: "false", alt: "" });
  const stage = el("div", { class: "pv-stage" }, image);
  const prev = button("Previous", { class: "secondary pv-prev", "aria-label": "Previous photo" });
  const next = button("Next", { class: "secondary pv-next", "aria-label": "Next photo" });
  const zoomOut = button("−", { class: "secondary pv-zoom-out", "aria-label": "Zoom out" });
  const zoomIn = button("+", { class: "secondary pv-zoom-in", "aria-label": "Zoom in" });
  const zoomLevel = el("span", { class: "pv-zoom", "aria-live": "polite" });
  const help = el(
    "p",
    { class: "visually-hidden", id: "photo-viewer-help" },
    "Left and right arrow keys or a swipe move between photos; plus and minus, the wheel or a pinch zoom; Escape closes.",
  );
  const dialog = el(
    "dialog",
    {
      class: "photo-viewer",
      "aria-modal": "true",
      "aria-labelledby": "photo-viewer-title",
      "aria-describedby": "photo-viewer-count photo-viewer-help",
    },
    el("div", { class: "pv-bar" }, heading, count, close),
    stage,
    el("div", { class: "pv-controls" }, prev, zoomOut, zoomLevel, zoomIn, next),
    help,
  );

  let at = clamp(index, 0, photos.length - 1);
  let scale = 1;
  let tx = 0;
  let ty = 0;

  function applyTransform() {
    // Keep a zoomed photo on screen: it may move by at most the part that overflows.
    const maxX = ((scale - 1) * image.clientWidth) / 2;
    const maxY = ((scale - 1) * image.clientHeight) / 2;
    if (scale > 1) {
      tx = clamp(tx, -maxX, maxX);
      ty = clamp(ty, -maxY, maxY);
    }
    image.style.transform = `translate(${tx}px, ${ty}px) scale(${scale})`;
    zoomLevel.textContent = `${Math.round(scale * 100)}%`;
    zoomOut.setAttribute("aria-disabled", String(scale <= MIN_SCALE));
    zoomIn.setAttribute("aria-disabled", String(scale >= MAX_SCALE));
    stage.dataset.zoomed = String(scale > 1);
  }

  function zoomTo(value) {
    scale = clamp(value, MIN_SCALE, MAX_SCALE);
    if (scale === 1) tx = ty = 0;
    applyTransform();
  }

  function show(i) {
    at = clamp(i, 0, photos.length - 1);
    const photo = photos[at];
    const label = `Photo ${at + 1} of ${photos.length}`;
    image.src = photo.url;
    image.alt = label;
    if (photo.width && photo.height) {
      image.width = photo.width;
      image.height = photo.height;
    }
    count.textContent = `${at + 1} of ${photos.length}`;
    // aria-disabled, not disabled: a disabled button would drop the keyboard focus.
    prev.setAttribute("aria-disabled", String(at === 0));
    next.setAttribute("aria-disabled", String(at === photos.length - 1));
    scale = 1;
    tx = ty = 0;
    applyTransform();
  }

  const step = (by) => {
    const to = at + by;
    if (to >= 0 && to < photos.length) show(to);
  };

  function finish() {
    if (current !== viewer) return;
    current = null;
    if (dialog.open) dialog.close();
    dialog.remove();
    const back = opener?.isConnected ? opener : returnFocus?.();
    back?.focus();
  }

  prev.addEventListener("click", () => step(-1));
  next.addEventListener("click", () => step(1));
  zoomIn.addEventListener("click", () => zoomTo(scale * STEP));
  zoomOut.addEventListener("click", () => zoomTo(scale / STEP));
  close.addEventListener("click", finish);
  dialog.addEventListener("cancel", (event) => {
    event.preventDefault(); // Escape: closed here, so the focus goes back to the opener
    finish();
  });

  dialog.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const keys = {
      ArrowLeft: () => step(-1),
      ArrowRight: () => step(1),
      "+": () => zoomTo(scale * STEP),
      "=": () => zoomTo(scale * STEP),
      "-": () => zoomTo(scale / STEP),
      0: () => zoomTo(1),
      Escape: finish,
    };
    if (event.key === "Tab") return trapTab(event);
    const action = keys[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  });

  function trapTab(event) {
    const stops = [...dialog.querySelectorAll("button")].filter((b) => !b.hidden);
    const first = stops[0];
    const last = stops[stops.length - 1];
    if (event.shiftKey && (document.activeElement === first || !dialog.contains(document.activeElement))) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  }

  stage.addEventListener(
    "wheel",
    (event) => {
      event.preventDefault();
      zoomTo(scale * Math.exp(-event.deltaY * 0.002));
    },
    { passive: false },
  );
  stage.addEventListener("dblclick", () => zoomTo(scale > 1 ? 1 : 2));

  // Pointers down on the stage: one drags (a swipe, or moving a zoomed photo), two pinch.
  const pointers = new Map();
  let drag = null; // {x, y, tx, ty}
  let pinch = null; // {distance, scale}

  function startGesture() {
    const [a, b] = [...pointers.values()];
    if (b) {
      pinch = { distance: distance(a, b) || 1, scale };
      drag = null;
    } else if (a) {
      drag = { x: a.x, y: a.y, tx, ty };
      pinch = null;
    }
  }

  stage.addEventListener("pointerdown", (event) => {
    stage.setPointerCapture(event.pointerId);
    pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    startGesture();
  });
  stage.addEventListener("pointermove", (event) => {
    if (!pointers.has(event.pointerId)) return;
    pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    const [a, b] = [...pointers.values()];
    if (pinch && b) {
      zoomTo(pinch.scale * (distance(a, b) / pinch.distance));
    } else if (drag) {
      tx = drag.tx + (a.x - drag.x);
      ty = scale > 1 ? drag.ty + (a.y - drag.y) : 0;
      applyTransform();
    }
  });
  function pointerEnd(event) {
    if (!pointers.has(event.pointerId)) return;
    const last = pointers.get(event.pointerId);
    pointers.delete(event.pointerId);
    if (drag && pointers.size === 0 && scale === 1) {
      const dx = last.x - drag.x;
      const dy = last.y - drag.y;
      tx = 0;
      applyTransform();
      if (event.type === "pointerup" && Math.abs(dx) > SWIPE_PX && Math.abs(dx) > Math.abs(dy)) {
        step(dx < 0 ? 1 : -1);
      }
    }
    startGesture();
  }
  stage.addEventListener("pointerup", pointerEnd);
  stage.addEventListener("pointercancel", pointerEnd);

  const viewer = { close: finish, dialog };
  current = viewer;
  document.body.append(dialog);
  prev.hidden = next.hidden = photos.length === 1;
  show(at);
  dialog.showModal();
  close.focus();
  return viewer;
}
