/**
 * Live view of a camera: `GET /api/v1/cameras/{id}/live/index.m3u8`, HLS, masked as the camera says (with
 * `?unmask=1` unmasked, for users who may). While the view starts the playlist answers 202 with Retry-After:
 * it is polled until 200 before a player gets it (players do not retry a 202); the player then keeps fetching
 * it, which keeps the view running. Everything here is pure or takes its clock, so it is tested without a server.
 */
import { errorMessage } from "./format";
import { type Clock, realClock, TRANSIENT_TRIES, withUnmask } from "./playback";

export type LiveState =
  | { phase: "starting" }
  | { phase: "ready"; url: string }
  | { phase: "failed"; error: string };

/** One playlist request's outcome: its status, its Retry-After header, its body (parsed JSON if it was). */
export interface LiveAnswer { status: number; retryAfter: string | null; body: unknown }

/** Waits between two polls are kept within these, whatever Retry-After says. */
export const RETRY_MIN_MS = 500;
export const RETRY_MAX_MS = 5000;
/** How long the view may take to start (the sum of the waits) before the page gives up. */
export const START_TIMEOUT_MS = 30_000;

export const playlistUrl = (cameraId: number, unmask: boolean): string =>
  withUnmask(`/api/v1/cameras/${cameraId}/live/index.m3u8`, unmask);

/** Milliseconds to wait as a Retry-After header says (seconds or an HTTP date; 1 s if absent), bounded. */
export function retryAfterMs(header: string | null, now = Date.now()): number {
  const v = header?.trim() ?? "";
  let ms = 1000;
  if (/^\d+(\.\d+)?$/.test(v)) ms = Number(v) * 1000;
  else if (v && !Number.isNaN(Date.parse(v))) ms = Date.parse(v) - now;
  return Math.min(Math.max(ms, RETRY_MIN_MS), RETRY_MAX_MS);
}

const sentence = (s: string) => {
  const t = s.trim();
  return t ? `${t[0].toUpperCase()}${t.slice(1)}${/[.!?]$/.test(t) ? "" : "."}` : t;
};

/** What the page says when the server refuses the live view (`body`: its answer, when there is one). */
export function liveError(status: number, body?: unknown): string {
  switch (status) {
    case 0: return "The live view could not be loaded: the server did not answer.";
    case 401: return "You are signed out: sign in again.";
    case 403: return "You may not watch this camera unmasked.";
    case 404: return "No such camera (or not one you may see).";
    // "this camera does not stream: it has no live view", "live view is turned off on this site"
    case 409: return sentence(errorMessage(body, "this camera has no live view"));
    default: return `The live view could not be loaded (${status}).`;
  }
}

/** What a fatal player error says: the server's refusal when a request was refused, else that it stopped. */
export function playerError(code: number | undefined, details: string): string {
  if (code && [401, 403, 404, 409].includes(code)) return liveError(code);
  return `The live view stopped (${details}${code ? `, ${code}` : ""}).`;
}

export type Engine = "hls.js" | "native" | null;

/**
 * hls.js wherever it works (Media Source Extensions; it sends the token on every request); the browser's own
 * HLS (Safari on iOS) only with a session cookie, since a <video> cannot send the token; else none.
 */
export function chooseEngine(hlsSupported: boolean, nativeHls: boolean, mediaMode: "session" | "blob"): Engine {
  if (hlsSupported) return "hls.js";
  return nativeHls && mediaMode === "session" ? "native" : null;
}

const transient = (a: LiveAnswer) => a.status === 0 || a.status >= 500;

/**
 * Ask for the playlist until it is there (200: `ready`), waiting as Retry-After says while it starts (202),
 * tolerating a few network errors and 5xx in a row; a refusal, too many errors or `timeoutMs` of waiting end
 * it (`failed`). `stop()` ends it all: no request or state comes after it.
 */
export function waitForPlaylist(opts: {
  url: string;
  load(url: string): Promise<LiveAnswer>;
  onState(state: LiveState): void;
  clock?: Clock;
  timeoutMs?: number;
}): { stop(): void } {
  const clock = opts.clock ?? realClock;
  const timeout = opts.timeoutMs ?? START_TIMEOUT_MS;
  let stopped = false;
  let timer: unknown = null;
  let waited = 0;
  let errors = 0;

  const ask = async () => {
    let a: LiveAnswer;
    try {
      a = await opts.load(opts.url);
    } catch {
      a = { status: 0, retryAfter: null, body: null };
    }
    if (stopped) return;
    if (a.status === 200) { opts.onState({ phase: "ready", url: opts.url }); return; }
    const again = a.status === 202 || (transient(a) && ++errors < TRANSIENT_TRIES);
    if (!again) { opts.onState({ phase: "failed", error: liveError(a.status, a.body) }); return; }
    if (a.status === 202) errors = 0;
    const ms = retryAfterMs(a.retryAfter);
    if (waited + ms > timeout) {
      opts.onState({ phase: "failed", error: "The live view did not start in time (is the camera online?)." });
      return;
    }
    waited += ms;
    timer = clock.setTimeout(() => { timer = null; void ask(); }, ms);
  };

  opts.onState({ phase: "starting" });
  void ask();
  return {
    stop() {
      stopped = true;
      if (timer !== null) clock.clearTimeout(timer);
      timer = null;
    },
  };
}
