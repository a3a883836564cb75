// The photos attached to the message being written (family app only: photos go family to
// resident): added by the file picker, by dropping files on the composer or by pasting; each
// uploads at once (photo-upload.js) and shows as a tile with its preview, a progress bar while
// it uploads, the server's sentence when it was refused, and "Remove photo N". At most
// MAX_PHOTOS per message, as the server allows. Removing an uploaded photo deletes it on the
// server (an unsent photo is the sender's alone; unremoved ones expire there after a day).

import { ApiError, del } from "./api.js";
import { el, setStatus } from "./forms.js";
import { uploadPhoto } from "./photo-upload.js";

export const MAX_PHOTOS = 5;
const ACCEPT = "image/jpeg,image/png,image/webp";

const photos = (n) => (n === 1 ? "1 photo" : `${n} photos`);

/**
 * Build the attach button and the tiles. onChange(): the photos to send (their number, or
 * whether some still upload) changed; sessionEnded(): an upload was answered 401.
 */
export function setupPhotoTray({ onChange, sessionEnded }) {
  const input = el("input", {
    type: "file",
    id: "conv-photos-input",
    name: "photos",
    accept: ACCEPT,
    multiple: true,
    hidden: true,
    tabindex: "-1",
    "aria-label": "Photos to attach",
  });
  const add = el(
    "button",
    { type: "button", class: "secondary", id: "conv-photos-add", "aria-describedby": "conv-photos-hint" },
    "Add photos",
  );
  const hint = el(
    "span",
    { class: "hint", id: "conv-photos-hint" },
    `Up to ${MAX_PHOTOS} photos per message (JPEG, PNG or WebP). You can also drop photos here or paste them.`,
  );
  const list = el("ul", { class: "photo-tray", id: "conv-photos", "aria-label": "Photos to send", hidden: true });
  const note = el("p", { class: "form-status", id: "conv-photos-status", role: "status", "aria-live": "polite" });
  const root = el("div", { class: "field photo-attach" }, el("div", { class: "actions" }, add), hint, input, list, note);

  let contactId = null;
  let held = false; // a send with these photos is on its way: they are not deleted
  let items = []; // {file, state: "uploading" | "ready" | "failed", progress, photo, error, upload, preview, node}

  add.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    addFiles(input.files);
    input.value = ""; // the same file may be picked again after removing it
  });

  function paint(item) {
    const n = items.indexOf(item) + 1;
    const { node } = item;
    node.dataset.state = item.state;
    node.querySelector(".photo-remove").setAttribute("aria-label", `Remove photo ${n}`);
    const bar = node.querySelector("[role=progressbar]");
    bar.setAttribute("aria-label", `Photo ${n} upload`);
    bar.setAttribute("aria-valuenow", String(item.progress));
    bar.firstElementChild.style.width = `${item.progress}%`;
    bar.hidden = item.state === "failed";
    const state = node.querySelector(".photo-state");
    state.textContent =
      item.state === "uploading"
        ? `Photo ${n}: uploading, ${item.progress}%`
        : item.state === "ready"
          ? `Photo ${n}: ready`
          : `Photo ${n}: ${item.error}`;
    state.dataset.kind = item.state === "failed" ? "error" : "";
  }

  function tile(item) {
    const preview = item.preview
      ? el("img", { class: "photo-preview", src: item.preview, alt: "" })
      : el("span", { class: "photo-preview none" });
    const bar = el(
      "div",
      { class: "photo-progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100" },
      el("span", {}),
    );
    const remove = el("button", { type: "button", class: "secondary photo-remove" }, "Remove");
    remove.addEventListener("click", () => removeItem(item));
    return el("li", { class: "photo-tile" }, preview, bar, el("p", { class: "photo-state" }), remove);
  }

  function failed(item, message) {
    item.state = "failed";
    item.error = message;
    paint(item);
    setStatus(note, `Photo ${items.indexOf(item) + 1} could not be added: ${message}`, "error");
  }

  function start(file) {
    const item = { file, state: "uploading", progress: 0, photo: null, error: "", upload: null };
    const image = !file.type || file.type.startsWith("image/");
    item.preview = image ? URL.createObjectURL(file) : null;
    item.node = tile(item);
    items.push(item);
    list.append(item.node);
    list.hidden = false;
    paint(item);
    if (!image) return failed(item, "Only photos can be sent (JPEG, PNG or WebP).");
    item.upload = uploadPhoto({
      contactId,
      file,
      onProgress: (percent) => {
        if (item.state !== "uploading") return;
        item.progress = percent;
        paint(item);
      },
    });
    item.upload.promise.then(
      (photo) => {
        if (!items.includes(item)) return;
        item.state = "ready";
        item.photo = photo;
        item.node.dataset.photoId = photo.id;
        item.progress = 100;
        paint(item);
        onChange();
      },
      (error) => {
        if (!items.includes(item) || error.code === "aborted") return;
        if (error instanceof ApiError && error.status === 401) sessionEnded();
        failed(item, error.message);
        onChange();
      },
    );
  }

  function addFiles(files) {
    const chosen = [...(files || [])];
    if (!chosen.length || contactId === null) return;
    const taken = chosen.slice(0, Math.max(0, MAX_PHOTOS - items.length));
    for (const file of taken) start(file);
    const left = chosen.length - taken.length;
    if (left) {
      setStatus(
        note,
        `A message can carry at most ${MAX_PHOTOS} photos: ${photos(left)} ${left === 1 ? "was" : "were"} not added.`,
        "error",
      );
    } else if (!items.some((item) => item.state === "failed")) {
      setStatus(note, `${photos(taken.length)} added.`, "info");
    }
    onChange();
  }

  function discard(item) {
    if (item.state === "uploading") item.upload?.abort();
    if (item.state === "ready") {
      // A delete that fails (signed out meanwhile, offline) leaves the photo unsent on the
      // server, which deletes it after a day: nothing to tell the user.
      del(`/api/v1/photos/${item.photo.id}`).catch(() => {});
    }
    if (item.preview) URL.revokeObjectURL(item.preview);
  }

  function removeItem(item) {
    const at = items.indexOf(item);
    if (at < 0) return;
    discard(item);
    items = items.filter((other) => other !== item);
    item.node.remove();
    items.forEach(paint);
    list.hidden = items.length === 0;
    setStatus(note, `Photo ${at + 1} removed.`, "info");
    // Focus stays in the tiles (the next one, else the one before), or goes back to the button.
    const next = items[at] || items[at - 1];
    (next ? next.node.querySelector(".photo-remove") : add).focus();
    onChange();
  }

  return {
    root,

    /** Drops and pastes anywhere on `target` (the composer) attach their files. */
    bind(target) {
      const hasFiles = (event) => [...(event.dataTransfer?.types || [])].includes("Files");
      target.addEventListener("dragover", (event) => {
        if (!hasFiles(event)) return;
        event.preventDefault();
        event.dataTransfer.dropEffect = "copy";
        target.classList.add("dropping");
      });
      target.addEventListener("dragleave", (event) => {
        if (!target.contains(event.relatedTarget)) target.classList.remove("dropping");
      });
      target.addEventListener("drop", (event) => {
        target.classList.remove("dropping");
        if (!hasFiles(event)) return;
        event.preventDefault();
        addFiles(event.dataTransfer.files);
      });
      target.addEventListener("paste", (event) => {
        const files = [...(event.clipboardData?.files || [])];
        if (!files.length) return;
        event.preventDefault(); // the files, not their names as text
        addFiles(files);
      });
    },

    /** The conversation open: photos are uploaded for this contact; another one's go. */
    setContact(id) {
      if (id !== contactId) this.clear({ discard: !held });
      contactId = id;
    },

    /** While a send carries the photos, leaving the conversation does not delete them. */
    hold(on) {
      held = on;
    },

    /** The uploaded photos' ids, in the order shown. */
    ids: () => items.filter((item) => item.state === "ready").map((item) => item.photo.id),
    /** Photos that will go with the message (uploaded or uploading). */
    count: () => items.filter((item) => item.state !== "failed").length,
    busy: () => items.some((item) => item.state === "uploading"),
    failures: () => items.filter((item) => item.state === "failed").length,

    /** Empty the tiles; `discard`: the photos were not sent, so they are deleted on the server. */
    clear({ discard: unsent = false } = {}) {
      for (const item of items) {
        if (unsent && !held) discard(item);
        else if (item.preview) URL.revokeObjectURL(item.preview);
      }
      items = [];
      list.replaceChildren();
      list.hidden = true;
      setStatus(note, "");
    },
  };
}
