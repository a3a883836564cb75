// The tablet's gallery (#/photos): every photo delivered to the resident, newest first, from
// GET /api/v1/photos, as a grid of thumbnails that open the full-screen viewer on the whole
// list. Viewing is free and unlimited; the grid follows new deliveries while it is open.

import { ApiError, get } from "./api.js";
import { el, setStatus } from "./forms.js";
import { formatWhen } from "./money.js";
import { photoCount, thumbnail } from "./photo-strip.js";
import { openViewer } from "./photo-viewer.js";

const TITLE = "Your photos";
const REFRESH_DELAY_MS = 150;

/**
 * Build the gallery inside `section`. backHref: the home view; nameOf(contactId): who sent
 * the photos on that contact ("" when unknown); sessionEnded(): the session is gone.
 */
export function setupGallery({ section, backHref, nameOf, sessionEnded }) {
  const heading = el("h1", { id: "photos-heading", tabindex: "-1" }, "Photos");
  const status = el("p", { class: "form-status", id: "photos-status", role: "status", "aria-live": "polite" });
  const grid = el("ul", { class: "photo-grid", id: "photo-grid", "aria-labelledby": "photos-heading" });
  const empty = el("p", { class: "empty", id: "photos-empty", hidden: true }, "No photos yet.");
  section.setAttribute("aria-labelledby", "photos-heading");
  section.replaceChildren(
    el("div", { class: "toolbar" }, heading, el("div", { class: "actions" }, el("a", { href: backHref }, "Back to contacts"))),
    status,
    grid,
    empty,
  );

  let generation = 0;
  let timer = null;

  function tile(photo, index, photos) {
    const from = nameOf(photo.contact_id);
    const when = formatWhen(photo.sent_at);
    const open = el(
      "button",
      {
        type: "button",
        class: "photo-open",
        "aria-label": `Open photo ${index + 1} of ${photos.length}${from ? `, from ${from}` : ""}, ${when}`,
        dataset: { photoId: photo.id },
      },
      thumbnail(photo),
    );
    const again = () => grid.querySelector(`[data-photo-id="${CSS.escape(String(photo.id))}"]`);
    open.addEventListener("click", () =>
      openViewer(photos, { index, title: TITLE, returnFocus: again }),
    );
    return el(
      "li",
      {},
      open,
      el("span", { class: "meta", "aria-hidden": "true" }, from ? `${from}, ${when}` : when),
    );
  }

  async function load() {
    const asked = ++generation;
    grid.setAttribute("aria-busy", "true");
    try {
      const { photos } = await get("/api/v1/photos");
      if (asked !== generation) return;
      // The same photo in place keeps its element, so the focus stays on it across a refresh.
      const focused = document.activeElement?.closest?.("[data-photo-id]")?.dataset.photoId;
      grid.replaceChildren(...photos.map(tile));
      if (focused) grid.querySelector(`[data-photo-id="${CSS.escape(focused)}"]`)?.focus();
      empty.hidden = photos.length > 0;
      setStatus(status, photos.length ? `${photoCount(photos.length)}.` : "", "info");
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return sessionEnded();
      setStatus(status, error.message, "error");
    } finally {
      grid.removeAttribute("aria-busy");
    }
  }

  return {
    heading,
    open: load,
    /** A message arrived or changed: the grid is read again if it is shown. */
    refreshSoon() {
      if (section.hidden) return;
      clearTimeout(timer);
      timer = setTimeout(load, REFRESH_DELAY_MS);
    },
    /** Signed out (a shared tablet): nothing of this person stays in the page. */
    reset() {
      generation += 1;
      grid.replaceChildren();
      empty.hidden = true;
      setStatus(status, "");
    },
  };
}
