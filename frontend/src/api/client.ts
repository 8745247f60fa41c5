/**
 * The typed API client (openapi-fetch over the schema generated from /api/v1/schema/) and the login state.
 *
 * Auth: `POST /api/v1/auth/token/` gives a token, kept in sessionStorage (gone when the tab closes) and sent as
 * `Authorization: Token …`. Images and video cannot send that header, so after login the SPA also opens a
 * Django session with `POST /api/v1/auth/session/` (token-authenticated) and lets <img>/<video> use the
 * cookie; where that endpoint is absent, thumbnails and clips are fetched as blobs with the token instead.
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

const authMiddleware: Middleware = {
  onRequest({ request }) {
    for (const [k, v] of Object.entries(authHeaders())) request.headers.set(k, v);
    return request;
  },
  onResponse({ response }) {
    if (response.status === 401) { auth.clear(); unauthorized.forEach((f) => f()); }
    return response;
  },
};

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
}

export async function logout(): Promise<void> {
  const t = auth.token;
  auth.clear();
  if (t) {
    await fetch("/api/v1/auth/session/", { method: "DELETE", headers: { Authorization: `Token ${t}` },
      credentials: "same-origin" }).catch(() => undefined);
  }
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
