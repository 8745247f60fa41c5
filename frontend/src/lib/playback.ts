/**
 * Masked playback: the Sighting page asks `GET /api/v1/clips/{id}/playback/` how it may play a clip before it
 * points a <video> at anything. A masked rendition not made yet is `preparing` (asking starts its job): the
 * page polls until it is `ready` (then plays `video_url`) or `failed` (then offers to try again with
 * `retry=1`). Everything here is pure or takes its clock, so the state machine is tested without a server.
 */
import { errorMessage } from "./format";

export type Masking = "none" | "faces" | "faces_plates" | "persons";

/** The answer of `playback/` (the `Playback` schema). */
export interface PlaybackInfo {
  masked: boolean;
  masking: string;
  status: "ready" | "preparing" | "failed";
  progress: number;
  error: string;
  video_url: string;
}

export type PlaybackState =
  | { phase: "loading" }
  | { phase: "preparing"; progress: number; masking: string }
  | { phase: "ready"; url: string; masked: boolean; masking: string }
  | { phase: "failed"; error: string };

/** One `playback/` request's outcome, as the page's fetcher reports it. */
export interface Fetched { ok: boolean; status: number; body: unknown }

export interface Clock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

export const realClock: Clock = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (id) => globalThis.clearTimeout(id as ReturnType<typeof setTimeout>),
};

export const POLL_MS = 1500;
/** Network errors and 5xx answers tolerated in a row while polling before the page says it failed. */
export const TRANSIENT_TRIES = 3;

/** What the badge says about the picture shown ("" when nothing is masked). */
export function maskedBadge(masking: string): string {
  switch (masking) {
    case "faces": return "Faces masked";
    case "faces_plates": return "Faces and plates masked";
    case "persons": return "Persons masked";
    default: return "";
  }
}

/** "Preparing the masked video… 42 %" */
export function preparingLabel(progress: number): string {
  const p = Number.isFinite(progress) ? Math.round(Math.min(Math.max(progress, 0), 1) * 100) : 0;
  return `Preparing the masked video… ${p} %`;
}

/** `url` with `name=value` in its query (before any #fragment), replacing an earlier value of `name`. */
export function withParam(url: string, name: string, value: string | null): string {
  const [beforeHash, ...hash] = url.split("#");
  const [path, query = ""] = beforeHash.split("?");
  const params = new URLSearchParams(query);
  if (value === null) params.delete(name);
  else params.set(name, value);
  const qs = params.toString();
  return `${path}${qs ? `?${qs}` : ""}${hash.length ? `#${hash.join("#")}` : ""}`;
}

/** A media URL asked for unmasked (`?unmask=1`) or as the camera masks it. */
export const withUnmask = (url: string, unmask: boolean): string => withParam(url, "unmask", unmask ? "1" : null);

/** The video URL starting at `offsetS` seconds (a media fragment `#t=`), replacing any fragment it had. */
export function withStart(url: string, offsetS: number): string {
  const base = url.split("#")[0];
  return Number.isFinite(offsetS) && offsetS > 0 ? `${base}#t=${offsetS}` : base;
}

/** The query of a `playback/` request. */
export function playbackQuery(unmask: boolean, retry: boolean): Record<string, string> {
  const q: Record<string, string> = {};
  if (unmask) q.unmask = "1";
  if (retry) q.retry = "1";
  return q;
}

/** The state a `playback/` answer puts the page in. */
export function stateOf(info: PlaybackInfo): PlaybackState {
  if (info.status === "ready") return { phase: "ready", url: info.video_url, masked: info.masked, masking: info.masking };
  if (info.status === "failed") {
    return { phase: "failed", error: info.error || "The masked video could not be made." };
  }
  return { phase: "preparing", progress: info.progress ?? 0, masking: info.masking };
}

const transient = (f: Fetched) => f.status === 0 || f.status >= 500;

/**
 * Ask `playback/` and keep asking every `intervalMs` while the rendition is being prepared; report each
 * state. `retry()` asks again with `retry=1` (a failed rendition is tried once more); `stop()` ends it all
 * (the page is left): no request or state comes after it.
 */
export function watchPlayback(opts: {
  load(retry: boolean): Promise<Fetched>;
  onState(state: PlaybackState): void;
  clock?: Clock;
  intervalMs?: number;
}): { stop(): void; retry(): void } {
  const clock = opts.clock ?? realClock;
  const interval = opts.intervalMs ?? POLL_MS;
  let stopped = false;
  let timer: unknown = null;
  let run = 0; // a retry supersedes the requests in flight
  let errors = 0;

  const schedule = (mine: number) => {
    timer = clock.setTimeout(() => { timer = null; ask(false, mine); }, interval);
  };

  const ask = async (retry: boolean, mine: number) => {
    let got: Fetched;
    try {
      got = await opts.load(retry);
    } catch (e) {
      got = { ok: false, status: 0, body: `Network error: ${(e as Error)?.message || "the server did not answer"}` };
    }
    if (stopped || mine !== run) return;
    if (!got.ok) {
      if (transient(got) && ++errors < TRANSIENT_TRIES) { schedule(mine); return; }
      const fallback = got.status === 403 ? "You may not play this clip." : `The video could not be loaded (${got.status || "network error"}).`;
      opts.onState({ phase: "failed", error: errorMessage(got.body, fallback) });
      return;
    }
    errors = 0;
    const state = stateOf(got.body as PlaybackInfo);
    opts.onState(state);
    if (state.phase === "preparing") schedule(mine);
  };

  const start = (retry: boolean) => {
    if (timer !== null) { clock.clearTimeout(timer); timer = null; }
    const mine = ++run;
    errors = 0;
    opts.onState({ phase: "loading" });
    void ask(retry, mine);
  };

  start(false);
  return {
    stop() {
      stopped = true;
      if (timer !== null) clock.clearTimeout(timer);
      timer = null;
    },
    retry() { if (!stopped) start(true); },
  };
}
