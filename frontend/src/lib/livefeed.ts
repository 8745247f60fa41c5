/**
 * The live feed client: `ws /ws/detections/`, resumable without gaps or doubles.
 *
 * - Every server message carries a global `seq`; the client remembers the highest one it processed and
 *   reconnects with `after=<that seq>`, so the server replays what was missed.
 * - Messages whose seq is not above the last processed one are dropped (a replay overlapping what was
 *   already shown, or a duplicate delivery).
 * - Reconnects back off exponentially (1 s, 2 s, 4 s … 30 s, with jitter) and the backoff resets once the
 *   server says `ready`. A silent connection (no message for `staleMs`) is closed and reopened.
 * - Close codes 4400–4499 (bad filter, not authenticated) are final: retrying would fail the same way.
 *
 * Written without a library: reconnecting-websocket knows nothing about `after`/seq resumption, and this is
 * small enough to test fully with a fake socket and fake timers.
 */

export interface LiveFilters { tags: string[]; cameras: number[]; minConfidence: number }

export type ServerMessage =
  // source: where the sighting's best moment was filmed (a camera's recording, or uploaded footage; null: its clip
  // is gone); see backend/live/feed.py.
  | { type: "sighting"; seq: number; source?: SightingSource; sighting: LiveSighting }
  | { type: "progress"; seq: number; clip: number; camera: number; status: string; progress: number; error?: string }
  | { type: "ready"; seq: number }
  | { type: "heartbeat"; seq: number }
  | { type: "error"; field?: string; message: string };

export interface LiveSighting {
  id: number; tag: string; confidence: number; camera: { id: number; name: string };
  start: string; end: string; best_time: string; box: number[]; thumbnail_url: string; clip_url: string;
  offset_s: number; clip: number; detections: number; model: string;
}

export type SightingSource = "recording" | "upload" | null;

/** Whether a sighting passes the filters, as the server would decide: for the list kept when they change. */
export function matchesFilters(f: LiveFilters, s: Pick<LiveSighting, "tag" | "confidence" | "camera">): boolean {
  return (f.tags.length === 0 || f.tags.includes(s.tag)) && (f.cameras.length === 0 || f.cameras.includes(s.camera.id))
    && s.confidence >= f.minConfidence;
}

export type FeedStatus = "connecting" | "live" | "reconnecting" | "closed" | "failed";

export interface SocketLike {
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export interface Clock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
  now(): number;
}

export interface LiveFeedOptions {
  baseUrl: string; // e.g. ws://host/ws/detections/
  token: string | null;
  filters: LiveFilters;
  onSighting(msg: Extract<ServerMessage, { type: "sighting" }>): void;
  onProgress?(msg: Extract<ServerMessage, { type: "progress" }>): void;
  onStatus?(status: FeedStatus, detail?: string): void;
  onServerError?(msg: Extract<ServerMessage, { type: "error" }>): void;
  connect?: (url: string) => SocketLike;
  clock?: Clock;
  random?: () => number;
  pingMs?: number;
  staleMs?: number;
  maxBackoffMs?: number;
}

export function feedUrl(baseUrl: string, f: LiveFilters, after: number | null, token: string | null): string {
  const p = new URLSearchParams();
  for (const t of f.tags) p.append("tag", t);
  for (const c of f.cameras) p.append("camera", String(c));
  if (f.minConfidence > 0) p.set("min_confidence", String(f.minConfidence));
  if (after !== null) p.set("after", String(after));
  if (token) p.set("token", token);
  const q = p.toString();
  return q ? `${baseUrl}?${q}` : baseUrl;
}

/** Backoff before reconnect attempt `attempt` (0-based): 1 s · 2^attempt, capped, with ±20 % jitter. */
export function backoffMs(attempt: number, maxMs = 30_000, random: () => number = Math.random): number {
  const base = Math.min(maxMs, 1000 * 2 ** Math.min(attempt, 20));
  return Math.round(base * (0.8 + 0.4 * random()));
}

const realClock: Clock = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (id) => globalThis.clearTimeout(id as ReturnType<typeof setTimeout>),
  now: () => Date.now(),
};

export class LiveFeed {
  lastSeq: number | null = null;
  status: FeedStatus = "closed";
  private ws: SocketLike | null = null;
  private attempt = 0;
  private stopped = true;
  private retryTimer: unknown = null;
  private pingTimer: unknown = null;
  private staleTimer: unknown = null;
  private readonly o: Required<Pick<LiveFeedOptions, "connect" | "clock" | "random" | "pingMs" | "staleMs" | "maxBackoffMs">>
    & LiveFeedOptions;

  constructor(options: LiveFeedOptions) {
    this.o = {
      connect: (url) => new WebSocket(url) as unknown as SocketLike,
      clock: realClock, random: Math.random, pingMs: 20_000, staleMs: 45_000, maxBackoffMs: 30_000,
      ...options,
    };
  }

  get filters(): LiveFilters { return this.o.filters; }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    if (ws) { ws.onclose = null; ws.onmessage = null; ws.onerror = null; ws.close(1000, "bye"); }
    this.setStatus("closed");
  }

  /** New filters: reconnect, continuing after the last processed seq (nothing new is lost meanwhile). */
  setFilters(filters: LiveFilters): void {
    this.o.filters = filters;
    if (!this.stopped) { this.stop(); this.attempt = 0; this.start(); }
  }

  private setStatus(s: FeedStatus, detail?: string): void {
    this.status = s;
    this.o.onStatus?.(s, detail);
  }

  private clearTimers(): void {
    const c = this.o.clock;
    for (const t of [this.retryTimer, this.pingTimer, this.staleTimer]) if (t !== null) c.clearTimeout(t);
    this.retryTimer = this.pingTimer = this.staleTimer = null;
  }

  private open(): void {
    this.clearTimers();
    this.setStatus(this.attempt === 0 && this.lastSeq === null ? "connecting" : "reconnecting");
    let ws: SocketLike;
    try {
      ws = this.o.connect(feedUrl(this.o.baseUrl, this.o.filters, this.lastSeq, this.o.token));
    } catch (e) {
      this.scheduleReconnect(String(e));
      return;
    }
    this.ws = ws;
    ws.onopen = () => { this.armStale(); this.schedulePing(); };
    ws.onmessage = (ev) => { if (this.ws === ws) this.handle(ev.data); };
    ws.onerror = () => { /* onclose follows */ };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.clearTimers();
      if (this.stopped) return;
      if (ev.code >= 4400 && ev.code < 4500) {
        this.stopped = true;
        this.setStatus("failed", ev.reason || `closed by the server (${ev.code})`);
        return;
      }
      this.scheduleReconnect(ev.reason);
    };
  }

  private scheduleReconnect(detail?: string): void {
    const delay = backoffMs(this.attempt, this.o.maxBackoffMs, this.o.random);
    this.attempt += 1;
    this.setStatus("reconnecting", detail || `retrying in ${Math.round(delay / 1000)} s`);
    this.retryTimer = this.o.clock.setTimeout(() => { this.retryTimer = null; if (!this.stopped) this.open(); }, delay);
  }

  private schedulePing(): void {
    this.pingTimer = this.o.clock.setTimeout(() => {
      this.pingTimer = null;
      try { this.ws?.send(JSON.stringify({ type: "ping" })); } catch { /* closing */ }
      if (this.ws) this.schedulePing();
    }, this.o.pingMs);
  }

  private armStale(): void {
    if (this.staleTimer !== null) this.o.clock.clearTimeout(this.staleTimer);
    this.staleTimer = this.o.clock.setTimeout(() => {
      this.staleTimer = null;
      const ws = this.ws;
      if (!ws) return;
      // Treat a silent socket as dead: drop it and reconnect from lastSeq.
      this.ws = null;
      ws.onclose = null;
      try { ws.close(4000, "stale"); } catch { /* already closed */ }
      this.clearTimers();
      if (!this.stopped) this.scheduleReconnect("no heartbeat");
    }, this.o.staleMs);
  }

  /** Processes one raw message; returns whether it was new (not a duplicate, not malformed). */
  handle(raw: unknown): boolean {
    this.armStale();
    let msg: ServerMessage;
    try {
      msg = JSON.parse(typeof raw === "string" ? raw : String(raw)) as ServerMessage;
    } catch {
      return false;
    }
    if (!msg || typeof msg !== "object") return false;
    if (msg.type === "error") { this.o.onServerError?.(msg); return true; }
    if (typeof msg.seq !== "number") return false;
    if (msg.type === "ready") {
      this.attempt = 0;
      // First connection: the feed starts here. On a resume, replayed events may still follow `ready`,
      // so only real events and heartbeats advance lastSeq.
      if (this.lastSeq === null) this.lastSeq = msg.seq;
      this.setStatus("live");
      return true;
    }
    if (msg.type === "heartbeat") {
      // A heartbeat says "nothing after seq": it may advance lastSeq past filtered-out events.
      this.lastSeq = this.lastSeq === null ? msg.seq : Math.max(this.lastSeq, msg.seq);
      return true;
    }
    if (this.lastSeq !== null && msg.seq <= this.lastSeq) return false; // already processed
    this.lastSeq = msg.seq;
    if (msg.type === "sighting") this.o.onSighting(msg);
    else if (msg.type === "progress") this.o.onProgress?.(msg);
    return true;
  }
}
