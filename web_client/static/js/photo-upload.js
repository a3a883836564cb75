// One photo's upload to POST /api/v1/photos, over XMLHttpRequest rather than fetch because only
// XHR reports upload progress (xhr.upload.onprogress), which drives the progress bar of each
// photo. Same cookie, CSRF header and error shape as api.js; an Idempotency-Key per photo so a
// retried request does not store the photo twice.

import { ApiError, readCookie } from "./api.js";
import { newClientId } from "./money.js";

const CSRF_COOKIE = "homeline_csrf";

function errorOf(xhr) {
  let error = {};
  try {
    error = JSON.parse(xhr.responseText)?.error || {};
  } catch {
    error = {};
  }
  const fallback =
    xhr.status === 413
      ? "This photo is too large to send."
      : `The server answered ${xhr.status}. Please try again.`;
  return new ApiError(
    xhr.status,
    error.code || `http_${xhr.status}`,
    error.message || fallback,
    error.fields,
    xhr.getResponseHeader("Retry-After"),
  );
}

/**
 * Upload `file` for the contact `contactId`. onProgress(percent) is called as bytes leave
 * (0 to 100). Returns {promise, abort}: the promise resolves with the stored photo's JSON, or
 * rejects with an ApiError (code "aborted" after abort()).
 */
export function uploadPhoto({ contactId, file, onProgress }) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    // contact_id first: the server checks the contact before it reads the file's bytes.
    const body = new FormData();
    body.append("contact_id", String(contactId));
    body.append("file", file, file.name || "photo");
    xhr.open("POST", "/api/v1/photos");
    xhr.withCredentials = true;
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("Idempotency-Key", newClientId());
    const csrf = readCookie(CSRF_COOKIE);
    if (csrf) xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable && event.total > 0) {
        onProgress(Math.min(100, Math.round((event.loaded / event.total) * 100)));
      }
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(100);
        try {
          resolve(JSON.parse(xhr.responseText));
        } catch {
          reject(new ApiError(xhr.status, "bad_answer", "The server's answer could not be read."));
        }
      } else reject(errorOf(xhr));
    };
    xhr.onerror = () =>
      reject(
        new ApiError(0, "network", "Cannot reach the server. Check your connection and try again."),
      );
    xhr.onabort = () => reject(new ApiError(0, "aborted", "Upload cancelled."));
    xhr.send(body);
  });
  return { promise, abort: () => xhr.abort() };
}
