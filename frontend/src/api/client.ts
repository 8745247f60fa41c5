/**
 * The typed API client (openapi-fetch over the schema generated from /api/v1/schema/) and the login state.
 *
 * Auth: `POST /api/v1/auth/token/` gives a token, kept in sessionStorage (gone when the tab closes) and sent as
 * `Authorization: Token …`. Images and video cannot send that header, so after login the SPA also opens a
 * Django session with `POST /api/v1/auth/session/` (token-authenticated) and lets <img>/<video> use the
 * cookie; where that endpoint is absent, thumbnails and clips are fetched as blobs with the token instead.
 *
 * Other tabs: a tab with no token of its own (a card opened in a new tab) resumes from the session cookie: if
 * `GET /api/v1/me/` answers with the cookie alone (SessionAuthentication), the tab is signed in and sends no token,
 * only the cookie and the CSRF token Django requires of unsafe requests on a session. The session cookie is
 * HttpOnly (no script reads it) and ends with the session (12 hours, or sign-out); nothing of the login goes to
 * localStorage, which any script of the origin could read long after the tabs are closed. Signing out (or in) in
 * one tab tells the others over a BroadcastChannel: they revoke their own token and show the login form (or
 * resume the new session). A tab whose session or token has ended finds out from the first refusal: a 401, or a
 * 403 that `GET /api/v1/me/` confirms (DRF answers 403 to the unauthenticated when the session comes first).
 */
import createClient, { type Middleware } from "openapi-fetch";
import { errorMessage } from "../lib/format";
import type { components, paths } from "./schema";

export type Sighting = components["schemas"]["Sighting"];
export type Camera = components["schemas"]["Camera"];
export type Clip = components["schemas"]["Clip"];
export type Gap = components["schemas"]["Gap"];
export type Me = components["schemas"]["Me"];
export type Track = components["schemas"]["Track"];
export type TrackPoint = components["schemas"]["TrackPoint"];
export type AnalysisQueue = components["schemas"]["Queue"];
export interface CameraFacet { id: number; name: string; count: number }
export interface Facets {
  tags: Record<string, number>;
  cameras: CameraFacet[];
  histogram: { interval_s: number; buckets: { start: string; count: number }[] };
  /** Counts per colour of upper_color, lower_color and color (each ignoring its own filter). */
  colors?: Record<string, Record<string, number>>;
}

const TOKEN_KEY = "sightline.token";
const MEDIA_KEY = "sightline.media";

export const auth = {
  get token(): string | null { return sessionStorage.getItem(TOKEN_KEY); },
  /** "session": <img>/<video> send the session cookie; "blob": fetch media with the token. */
  get mediaMode(): "session" | "blob" { return sessionStorage.getItem(MEDIA_KEY) === "session" ? "session" : "blob"; },
  set(token: string, mediaMode: "session" | "blob"): void {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(MEDIA_KEY, mediaMode);
  },
  clear(): void { sessionStorage.removeItem(TOKEN_KEY); sessionStorage.removeItem(MEDIA_KEY); },
};

export function csrfToken(): string | null {
  const m = /(?:^|;\s*)csrftoken=([^;]+)/.exec(document.cookie);
  return m ? decodeURIComponent(m[1]) : null;
}

/** Headers every API request carries (token, and the CSRF token for when a session cookie is also sent). */
export function authHeaders(): Record<string, string> {
  const h: Record<string, string> = { Accept: "application/json" };
  const t = auth.token;
  if (t) h.Authorization = `Token ${t}`;
  const c = csrfToken();
  if (c) h["X-CSRFToken"] = c;
  return h;
}

const unauthorized = new Set<() => void>();
export const onUnauthorized = (fn: () => void) => { unauthorized.add(fn); return () => unauthorized.delete(fn); };
const signedOut = () => { auth.clear(); unauthorized.forEach((f) => f()); };

const ME = "/api/v1/me/";
const isMe = (url: string) => new URL(url, location.origin).pathname === ME;

/** A 403 is either a permission this user lacks or no user at all: ask who we are to tell which. */
async function checkSignedIn(): Promise<void> {
  const r = await fetch(ME, { headers: authHeaders(), credentials: "same-origin" }).catch(() => null);
  if (r && (r.status === 401 || r.status === 403)) signedOut();
}

const authMiddleware: Middleware = {
  onRequest({ request }) {
    for (const [k, v] of Object.entries(authHeaders())) request.headers.set(k, v);
    return request;
  },
  onResponse({ request, response }) {
    if (response.status === 401 || (response.status === 403 && isMe(request.url))) signedOut();
    else if (response.status === 403) void checkSignedIn();
    return response;
  },
};

type AuthMessage = "signed-in" | "signed-out";
const channel = typeof BroadcastChannel === "undefined" ? null : new BroadcastChannel("sightline.auth");
const signedIn = new Set<() => void>();
/** Called when another tab signs in (a tab showing the login form may resume the new session). */
export const onSignedInElsewhere = (fn: () => void) => { signedIn.add(fn); return () => signedIn.delete(fn); };
channel?.addEventListener("message", (e: MessageEvent<AuthMessage>) => {
  if (e.data === "signed-in") signedIn.forEach((f) => f());
  else if (e.data === "signed-out") void signOutHere();
});

/** Another tab signed out: revoke this tab's own token too (the session is gone already), then show the login. */
async function signOutHere(): Promise<void> {
  const t = auth.token;
  signedOut();
  if (t) {
    await fetch("/api/v1/auth/token/", { method: "DELETE", headers: { Authorization: `Token ${t}` },
      credentials: "same-origin" }).catch(() => undefined);
  }
}

export const api = createClient<paths>({ baseUrl: location.origin, credentials: "same-origin" });
api.use(authMiddleware);

export async function login(username: string, password: string): Promise<void> {
  const body = new URLSearchParams({ username, password });
  const headers: Record<string, string> = { Accept: "application/json" };
  const c = csrfToken();
  if (c) headers["X-CSRFToken"] = c;
  const r = await fetch("/api/v1/auth/token/", { method: "POST", body, headers, credentials: "same-origin" });
  const data = await r.json().catch(() => null);
  if (!r.ok || !data?.token) {
    throw new Error(r.status === 400 ? "Wrong user name or password." : errorMessage(data, `Login failed (${r.status})`));
  }
  let media: "session" | "blob" = "blob";
  try {
    const s = await fetch("/api/v1/auth/session/", {
      method: "POST", headers: { Authorization: `Token ${data.token}`, Accept: "application/json" },
      credentials: "same-origin",
    });
    if (s.ok) media = "session";
  } catch { /* no session endpoint: blob mode */ }
  auth.set(data.token, media);
  channel?.postMessage("signed-in" satisfies AuthMessage);
}

/**
 * Resume in a tab without a token: signed in if the session cookie is (the user, else null). Such a tab sends
 * the cookie on every request, so its media use it too.
 */
export async function resume(): Promise<Me | null> {
  const r = await fetch(ME, { headers: { Accept: "application/json" }, credentials: "same-origin" }).catch(() => null);
  if (!r?.ok) return null;
  const me = (await r.json().catch(() => null)) as Me | null;
  if (me) sessionStorage.setItem(MEDIA_KEY, "session");
  return me;
}

/** Sign out: the session ends and this tab's token is revoked (a tab on the session alone has none), then every
 * other tab is told. `keepalive`: leaving or reloading the page at once must not cancel it. */
export async function logout(): Promise<void> {
  const t = auth.token;
  auth.clear();
  await fetch("/api/v1/auth/session/", { method: "DELETE", headers: t ? { Authorization: `Token ${t}` } : {},
    credentials: "same-origin", keepalive: true }).catch(() => undefined);
  channel?.postMessage("signed-out" satisfies AuthMessage);
}

/** A URL an <img>/<video> can load: the API URL itself with a session, else an object URL of a fetched blob. */
export async function mediaUrl(url: string, signal?: AbortSignal): Promise<{ url: string; revoke(): void }> {
  if (auth.mediaMode === "session") return { url, revoke() {} };
  const [path, hash] = url.split("#");
  const r = await fetch(path, { headers: authHeaders(), signal, credentials: "same-origin" });
  if (!r.ok) throw new Error(`could not load ${path} (${r.status})`);
  const obj = URL.createObjectURL(await r.blob());
  return { url: hash ? `${obj}#${hash}` : obj, revoke: () => URL.revokeObjectURL(obj) };
}

export function wsBase(): string {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/detections/`;
}

export type Playback = components["schemas"]["Playback"];
export type Export = components["schemas"]["Export"];
export type Case = components["schemas"]["Case"];
export type ExportRequestBody = components["schemas"]["ExportRequestRequest"];
