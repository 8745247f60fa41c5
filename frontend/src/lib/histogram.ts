/** Histogram geometry: bars from facet buckets, and a pointer drag across it -> a time range. */

export interface Bucket { start: string; count: number }
export interface Bar { x: number; width: number; height: number; startMs: number; endMs: number; count: number }

export interface Domain { startMs: number; endMs: number; intervalMs: number }

export function domainOf(buckets: Bucket[], intervalS: number): Domain | null {
  if (!buckets.length || intervalS <= 0) return null;
  const starts = buckets.map((b) => Date.parse(b.start)).filter((t) => !Number.isNaN(t));
  if (!starts.length) return null;
  const intervalMs = intervalS * 1000;
  return { startMs: Math.min(...starts), endMs: Math.max(...starts) + intervalMs, intervalMs };
}

export function layoutBars(buckets: Bucket[], intervalS: number, width: number, height: number): Bar[] {
  const d = domainOf(buckets, intervalS);
  if (!d) return [];
  const span = d.endMs - d.startMs;
  const max = Math.max(1, ...buckets.map((b) => b.count));
  return buckets.map((b) => {
    const startMs = Date.parse(b.start);
    const x = ((startMs - d.startMs) / span) * width;
    const w = (d.intervalMs / span) * width;
    return { x, width: Math.max(1, w - (w > 3 ? 1 : 0)), height: (b.count / max) * height, startMs,
      endMs: startMs + d.intervalMs, count: b.count };
  });
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/**
 * The time range selected by dragging from x0 to x1 (pixels, in either direction) over a histogram `width`
 * pixels wide. Snapped outwards to whole buckets; a click (under `clickPx` of movement) selects its bucket.
 */
export function rangeFromDrag(x0: number, x1: number, width: number, d: Domain, clickPx = 3):
{ start: string; end: string } | null {
  if (width <= 0) return null;
  const span = d.endMs - d.startMs;
  const toMs = (x: number) => d.startMs + (clamp(x, 0, width) / width) * span;
  const lo = Math.min(x0, x1);
  const hi = Math.max(x0, x1);
  let startMs = d.startMs + Math.floor((toMs(lo) - d.startMs) / d.intervalMs) * d.intervalMs;
  let endMs = d.startMs + Math.ceil((toMs(hi) - d.startMs) / d.intervalMs) * d.intervalMs;
  if (hi - lo < clickPx || endMs <= startMs) endMs = startMs + d.intervalMs;
  startMs = clamp(startMs, d.startMs, d.endMs - d.intervalMs);
  endMs = clamp(endMs, startMs + d.intervalMs, d.endMs);
  return { start: new Date(startMs).toISOString(), end: new Date(endMs).toISOString() };
}
