// A message's photos as a row of thumbnails, each a button that opens the full-screen viewer
// (photo-viewer.js) on that photo; used in conversations (family app and tablet) and in the
// console's review queue. The thumbnails load by cookie from the photo's thumbnail_url.

import { el } from "./forms.js";
import { openViewer } from "./photo-viewer.js";

/** "1 photo" / "3 photos". */
export const photoCount = (n) => (n === 1 ? "1 photo" : `${n} photos`);

/** A thumbnail <img> of `photo`, sized from the photo's own figures so nothing jumps. */
export function thumbnail(photo) {
  return el("img", {
    class: "photo-thumb",
    src: photo.thumbnail_url,
    alt: "",
    loading: "lazy",
    width: photo.thumbnail_width || null,
    height: photo.thumbnail_height || null,
  });
}

/**
 * The row of `photos` (possibly empty: then null). title: the viewer's name and the buttons'
 * context ("Photos from Casey Lane"); where: a selector for the strip's place, by which the
 * viewer finds the button again to give it the focus back if the row was drawn anew
 * meanwhile (a message whose status changed while its photo was open).
 */
export function photoStrip(photos, { title, where = "" }) {
  if (!Array.isArray(photos) || photos.length === 0) return null;
  const n = photos.length;
  return el(
    "ul",
    { class: "photo-strip", "aria-label": title },
    photos.map((photo, index) => {
      const open = el(
        "button",
        {
          type: "button",
          class: "photo-open",
          "aria-label": `Open photo ${index + 1} of ${n}, full screen`,
          dataset: { photoId: photo.id },
        },
        thumbnail(photo),
      );
      const again = () =>
        where
          ? document.querySelector(`${where} .photo-open[data-photo-id="${CSS.escape(String(photo.id))}"]`)
          : null;
      open.addEventListener("click", () => openViewer(photos, { index, title, returnFocus: again }));
      return el("li", {}, open);
    }),
  );
}
