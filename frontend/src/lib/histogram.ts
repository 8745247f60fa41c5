/**
 * Histogram geometry: bars from facet buckets, the axis, and the ways to choose a time range on it — a pointer
 * drag, a keyboard handle, a preset or "zoom out".
 *
 * The chart spans the search's time range when it has one (so its axis says which range is searched) and the
 * buckets' extent otherwise. A drag selects to the second, not to whole bars: from an hour-wide view one drag
 * reaches a 20-second window. A click (a drag under a few pixels) selects the bar under it.
 */

export interface Bucket { start: string; count: number }
export interface Bar { x: number; width: number; height: number; startMs: number; endMs: number; count: number }

export interface Domain { startMs: number; endMs: number; intervalMs: number }

export interface Range { start: string; end: string }

const SECOND = 1000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Presets: a window of this length ending now. */
export const PRESETS = [["15 min", 15 * 60_000], ["1 h", HOUR], ["24 h", DAY]] as const;

export function domainOf(buckets: Bucket[], intervalS: number, window: { start?: string | null; end?: string | null } = {}):
Domain | null {
  const intervalMs = Math.max(intervalS, 1) * 1000;
  const ws = window.start ? Date.parse(window.start) : NaN;
  const we = window.end ? Date.parse(window.end) : NaN;
  // A whole range chosen: the chart is that range, even with nothing in it (zoom out still has a middle).
  if (!Number.isNaN(ws) && !Number.isNaN(we) && we > ws) return { startMs: ws, endMs: we, intervalMs };
  const starts = buckets.map((b) => Date.parse(b.start)).filter((t) => !Number.isNaN(t));
  if (!starts.length || intervalS <= 0) return null;
  const lo = Math.min(...starts);
  const hi = Math.max(...starts) + intervalMs;
  const startMs = Number.isNaN(ws) || ws >= hi ? lo : ws;
  const endMs = Number.isNaN(we) || we <= startMs ? hi : we;
  return { startMs, endMs, intervalMs };
}

/** Bars inside `d` (a bucket that began before the window is cut at its edge). */
export function layoutBars(buckets: Bucket[], intervalS: number, width: number, height: number, d = domainOf(buckets, intervalS)):
Bar[] {
  if (!d) return [];
  const span = d.endMs - d.startMs;
  const max = Math.max(1, ...buckets.map((b) => b.count));
  const bars: Bar[] = [];
  for (const b of buckets) {
    const startMs = Date.parse(b.start);
    const endMs = startMs + d.intervalMs;
    const lo = Math.max(startMs, d.startMs);
    const hi = Math.min(endMs, d.endMs);
    if (hi <= lo) continue;
    const x = ((lo - d.startMs) / span) * width;
    const w = ((hi - lo) / span) * width;
    bars.push({ x, width: Math.max(1, w - (w > 3 ? 1 : 0)), height: (b.count / max) * height, startMs, endMs, count: b.count });
  }
  return bars;
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
const iso = (ms: number) => new Date(ms).toISOString();

/** The bar under x (chart units), if any. */
export function barAt(bars: Bar[], x: number): Bar | undefined {
  return bars.find((b) => x >= b.x && x < b.x + Math.max(b.width, 1) + 1);
}

/**
 * The time range selected by dragging from x0 to x1 (pixels, in either direction) over a histogram `width`
 * pixels wide, outwards to whole seconds; a click (under `clickPx` of movement) selects its bar's interval.
 */
export function rangeFromDrag(x0: number, x1: number, width: number, d: Domain, clickPx = 3): Range | null {
  if (width <= 0) return null;
  const span = d.endMs - d.startMs;
  const toMs = (x: number) => d.startMs + (clamp(x, 0, width) / width) * span;
  const lo = Math.min(x0, x1);
  const hi = Math.max(x0, x1);
  if (hi - lo < clickPx) {
    const startMs = Math.floor(Math.min(toMs(lo), d.endMs - 1) / d.intervalMs) * d.intervalMs;
    return { start: iso(Math.max(startMs, d.startMs)), end: iso(Math.min(startMs + d.intervalMs, d.endMs)) };
  }
  const startMs = Math.floor(toMs(lo) / SECOND) * SECOND;
  const endMs = Math.max(Math.ceil(toMs(hi) / SECOND) * SECOND, startMs + SECOND);
  return { start: iso(startMs), end: iso(endMs) };
}

/** Three times wider, around the same middle. */
export function zoomOut(d: Domain): Range {
  const span = d.endMs - d.startMs;
  return { start: iso(d.startMs - span), end: iso(d.endMs + span) };
}

export function preset(lengthMs: number, nowMs: number = Date.now()): Range {
  const end = Math.ceil(nowMs / SECOND) * SECOND;
  return { start: iso(end - lengthMs), end: iso(end) };
}

/** A keyboard step for a handle: one bar, or ten with PageUp/PageDown; null for other keys. */
export function handleStep(key: string, d: Domain): number | null {
  switch (key) {
    case "ArrowLeft": case "ArrowDown": return -d.intervalMs;
    case "ArrowRight": case "ArrowUp": return d.intervalMs;
    case "PageDown": return -10 * d.intervalMs;
    case "PageUp": return 10 * d.intervalMs;
    default: return null;
  }
}

/** Moves one end of [startMs, endMs] by `delta`, keeping at least a second between them. */
export function moveHandle(which: "start" | "end", startMs: number, endMs: number, delta: number): Range {
  if (which === "start") return { start: iso(Math.min(startMs + delta, endMs - SECOND)), end: iso(endMs) };
  return { start: iso(startMs), end: iso(Math.max(endMs + delta, startMs + SECOND)) };
}

/** Whether labels on this chart need seconds: under an hour, minutes alone would repeat. */
export const needsSeconds = (d: Domain): boolean => d.endMs - d.startMs < HOUR;
