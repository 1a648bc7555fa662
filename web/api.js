// The page's only way to the server: the public REST API (/api/v1). Tokens live in this module's
// memory only (never in storage or cookies): a reload signs the investor out. The access token
// is refreshed shortly before it expires, and once on a 401; refreshes are single-flight,
// because the API revokes the whole session when an old refresh token is used twice.

const BASE = "/api/v1";

let session = null; // { access, refresh, expiresAt }
let refreshing = null; // the refresh in flight, shared by every caller
let timer = null;
const listeners = new Set();

/** A problem+json answer (RFC 9457) or a network failure, as one error type. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `request failed (${status})`);
    this.status = status;
    this.problem = problem ?? {};
    this.fieldErrors = Array.isArray(problem?.errors) ? problem.errors : [];
    this.retryAfter = problem?.retry_after ?? null;
  }
}

export function signedIn() {
  return session !== null;
}

/** Called with `true`/`false` whenever the investor signs in or out (or the session ends). */
export function onSessionChange(fn) {
  listeners.add(fn);
}

const roleListeners = new Set();

/** Called whenever what `/me` says may have changed (an invitation accepted: a new console). */
export function onRolesChange(fn) {
  roleListeners.add(fn);
}

/** Tells those listening that the caller's roles changed. */
export function rolesChanged() {
  roleListeners.forEach((fn) => fn());
}

function setSession(pair) {
  const was = session !== null;
  clearTimeout(timer);
  session = pair
    ? { access: pair.access_token, refresh: pair.refresh_token, expiresAt: Date.now() + pair.expires_in * 1000 }
    : null;
  if (session) {
    // Refresh a minute early (or half-way through a very short token's life).
    const lead = Math.min(60, pair.expires_in / 2) * 1000;
    timer = setTimeout(() => refresh().catch(() => {}), Math.max(1000, pair.expires_in * 1000 - lead));
  }
  if (was !== (session !== null)) listeners.forEach((fn) => fn(session !== null));
}

async function send(method, path, { body, token, headers = {}, contentType, text: asText = false } = {}) {
  const h = { Accept: `${asText ? "text/plain" : "application/json"}, application/problem+json`, ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    h["Content-Type"] = contentType ?? "application/json";
    payload = typeof body === "string" || body instanceof Blob ? body : JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(BASE + path, { method, headers: h, body: payload, credentials: "omit", cache: "no-store" });
  } catch {
    throw new ApiError(0, { title: "Network error", detail: "We could not reach the server. Check your connection and try again." });
  }
  const text = await response.text();
  if (asText && response.ok) return text;
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const problem = data && typeof data === "object" ? data : { title: response.statusText };
    const retryAfter = response.headers.get("Retry-After");
    if (retryAfter) problem.retry_after = retryAfter;
    if (response.status === 429 && !problem.detail) {
      problem.detail = `Too many attempts; try again in ${response.headers.get("Retry-After") ?? "a few"} seconds.`;
    }
    throw new ApiError(response.status, problem);
  }
  return data;
}

function refresh() {
  if (!session) return Promise.reject(new ApiError(401, { detail: "Please sign in." }));
  if (!refreshing) {
    const token = session.refresh;
    refreshing = send("POST", "/auth/refresh", { body: { refresh_token: token } })
      .then((pair) => {
        setSession(pair);
      })
      .catch((err) => {
        // Only a refusal ends the session; a network blip leaves it for the next attempt.
        if (err.status === 401 || err.status === 400) setSession(null);
        throw err;
      })
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

/** An API call. `auth: true` sends the access token (refreshing it once if it was refused). */
export async function call(method, path, options = {}) {
  if (!options.auth) return send(method, path, options);
  if (!session) throw new ApiError(401, { title: "Sign in needed", detail: "Please sign in." });
  if (refreshing) await refreshing.catch(() => {});
  if (session && session.expiresAt - Date.now() < 5000) await refresh().catch(() => {});
  if (!session) throw new ApiError(401, { title: "Sign in needed", detail: "Your session has ended; please sign in again." });
  try {
    return await send(method, path, { ...options, token: session.access });
  } catch (err) {
    if (err.status !== 401 || !session) throw err;
    await refresh();
    return send(method, path, { ...options, token: session.access });
  }
}

export const get = (path, options) => call("GET", path, options);
/** A public plain-text answer (e.g. the transparency checkpoint). */
export const getText = (path) => call("GET", path, { text: true });
export const post = (path, body, options = {}) => call("POST", path, { ...options, body });
export const put = (path, body, options = {}) => call("PUT", path, { ...options, body });
export const patch = (path, body, options = {}) => call("PATCH", path, { ...options, body });

export async function signIn(email, password) {
  setSession(await send("POST", "/auth/login", { body: { email, password } }));
}

export async function signOut() {
  if (session) {
    await call("POST", "/auth/logout", { auth: true }).catch(() => {});
  }
  setSession(null);
}

/** A fresh Idempotency-Key (128 random bits; works outside secure contexts too). */
export function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
