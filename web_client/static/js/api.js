// The JSON API client shared by the three apps.
//
// Sends and receives JSON, always with the session cookie, and echoes the CSRF cookie in the
// X-CSRF-Token header on unsafe methods (the server refuses cookie-authenticated writes
// without it). The contract's error shape {"error": {code, message, fields}} becomes an ApiError.

const CSRF_COOKIE = "homeline_csrf";
const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

export class ApiError extends Error {
  constructor(status, code, message, fields = {}, retryAfter = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.fields = fields || {};
    this.retryAfter = retryAfter;
  }
}

export function readCookie(name) {
  for (const part of document.cookie.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return "";
}

function withQuery(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

export async function api(method, path, { body, query } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (!SAFE.has(method)) {
    const csrf = readCookie(CSRF_COOKIE);
    if (csrf) headers["X-CSRF-Token"] = csrf;
  }
  let response;
  try {
    response = await fetch(withQuery(path, query), {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network", "Cannot reach the server. Check your connection and try again.");
  }
  if (response.status === 204) return null;
  let data = null;
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("application/json")) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(
      response.status,
      error.code || "http_" + response.status,
      error.message || `The server answered ${response.status}. Please try again.`,
      error.fields,
      response.headers.get("Retry-After"),
    );
  }
  return data;
}

export const get = (path, query) => api("GET", path, { query });
export const post = (path, body = {}) => api("POST", path, { body });
export const put = (path, body = {}) => api("PUT", path, { body });
export const del = (path) => api("DELETE", path);

/** Who is signed in with this browser's cookie, or null. */
export async function currentPrincipal() {
  try {
    const data = await get("/api/v1/sessions/current");
    return data.principal;
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) return null;
    throw error;
  }
}

/** Sign out; an already-ended session counts as signed out. */
export async function signOut() {
  try {
    await del("/api/v1/sessions/current");
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
  }
}
