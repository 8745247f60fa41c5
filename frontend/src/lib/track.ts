/**
 * The pure math of following a tracked object: where its box is at a moment of the clip (interpolated between
 * the analysed detections), the path of its feet, and where the picture lies inside a letterboxed element.
 * Boxes are normalised [x1, y1, x2, y2] in [0, 1] of the frame, times in milliseconds of clip position.
 */

export type Box = [number, number, number, number];
export interface Rect { x: number; y: number; w: number; h: number }

/** A detection as `GET /api/v1/sightings/{id}/track/` gives it (the fields used here). */
export interface TrackPointLike {
  clip: number | null;
  offset_ms: number | null;
  x1: number; y1: number; x2: number; y2: number;
}

/** One detection of a clip: its position in the clip and its box. */
export interface Sample { t: number; box: Box }

/** The analysis rate when a clip has a single detection (2 frames/s, the cameras' default). */
export const DEFAULT_INTERVAL_MS = 500;

/** The detections of `clip`, sorted by position, one per position (the first of duplicates). */
export function clipSamples(points: readonly TrackPointLike[], clip: number): Sample[] {
  const out = points
    .filter((p) => p.clip === clip && p.offset_ms != null && Number.isFinite(p.offset_ms))
    .map((p) => ({ t: p.offset_ms as number, box: [p.x1, p.y1, p.x2, p.y2] as Box }))
    .sort((a, b) => a.t - b.t);
  return out.filter((s, i) => i === 0 || s.t !== out[i - 1].t);
}

/** The usual gap between consecutive detections (median), i.e. the analysis interval. */
export function analysisInterval(samples: readonly Sample[], fallback = DEFAULT_INTERVAL_MS): number {
  const gaps: number[] = [];
  for (let i = 1; i < samples.length; i++) gaps.push(samples[i].t - samples[i - 1].t);
  if (!gaps.length) return fallback;
  gaps.sort((a, b) => a - b);
  const mid = gaps.length >> 1;
  return gaps.length % 2 ? gaps[mid] : (gaps[mid - 1] + gaps[mid]) / 2;
}

const lerp = (a: number, b: number, f: number) => a + (b - a) * f;

/**
 * The box at clip position `t` (ms): linear between the detections around it, the first/last box within
 * `toleranceMs` before/after the span, null outside (the object is not known to be there).
 */
export function boxAt(samples: readonly Sample[], t: number, toleranceMs: number): Box | null {
  const n = samples.length;
  if (!n || !Number.isFinite(t)) return null;
  const first = samples[0];
  const last = samples[n - 1];
  if (t < first.t - toleranceMs || t > last.t + toleranceMs) return null;
  if (t <= first.t) return [...first.box];
  if (t >= last.t) return [...last.box];
  let lo = 0;
  let hi = n - 1; // invariant: samples[lo].t <= t < samples[hi].t
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (samples[mid].t <= t) lo = mid; else hi = mid;
  }
  const a = samples[lo];
  const b = samples[hi];
  const f = (t - a.t) / (b.t - a.t);
  return [lerp(a.box[0], b.box[0], f), lerp(a.box[1], b.box[1], f), lerp(a.box[2], b.box[2], f),
    lerp(a.box[3], b.box[3], f)];
}

/** Follows one clip of a track: `at(ms)` is the box to draw then, or null to hide it. */
export function follower(points: readonly TrackPointLike[], clip: number): { samples: Sample[]; toleranceMs: number;
  at(t: number): Box | null; } {
  const samples = clipSamples(points, clip);
  const toleranceMs = analysisInterval(samples) / 2;
  return { samples, toleranceMs, at: (t: number) => boxAt(samples, t, toleranceMs) };
}

/** Where the picture lies inside its element under object-fit: contain (letterboxed, centred). */
export function displayedRect(elW: number, elH: number, vidW: number, vidH: number): Rect {
  if (!vidW || !vidH || !elW || !elH) return { x: 0, y: 0, w: elW, h: elH };
  const scale = Math.min(elW / vidW, elH / vidH);
  const w = vidW * scale;
  const h = vidH * scale;
  return { x: (elW - w) / 2, y: (elH - h) / 2, w, h };
}

/** A normalised box in pixels of the element (to 0.01 px), given the displayed picture's rectangle (clamped to it). */
export function boxInRect(box: Box, r: Rect): { left: number; top: number; width: number; height: number } {
  const [x1, y1, x2, y2] = box.map((v) => Math.min(1, Math.max(0, v)));
  const px = (v: number) => Math.round(v * 100) / 100;
  return { left: px(r.x + x1 * r.w), top: px(r.y + y1 * r.h), width: px(Math.max(0, x2 - x1) * r.w),
    height: px(Math.max(0, y2 - y1) * r.h) };
}

/** The path of the object's feet: the bottom centre of each box in time order, repeats dropped. */
export function footPath(points: readonly TrackPointLike[]): [number, number][] {
  const out: [number, number][] = [];
  for (const p of points) {
    const q: [number, number] = [(p.x1 + p.x2) / 2, p.y2];
    const prev = out[out.length - 1];
    if (!prev || prev[0] !== q[0] || prev[1] !== q[1]) out.push(q);
  }
  return out;
}

/** The part of the frame a thumbnail shows: the box grown by `margin` of its size, clipped to the frame
 * (as analysis/thumbnails.py crops it). */
export function cropOf(box: Box, margin = 0.15): Box {
  const [x1, y1, x2, y2] = box;
  const mx = (x2 - x1) * margin;
  const my = (y2 - y1) * margin;
  return [Math.max(0, x1 - mx), Math.max(0, y1 - my), Math.min(1, x2 + mx), Math.min(1, y2 + my)];
}

/** Normalised frame points into pixels of an image `w`×`h` that shows the frame's `view` (whole frame or crop). */
export function toImage(path: readonly [number, number][], view: Box, w: number, h: number): [number, number][] {
  const [vx1, vy1, vx2, vy2] = view;
  const sx = w / (vx2 - vx1 || 1);
  const sy = h / (vy2 - vy1 || 1);
  return path.map(([x, y]) => [(x - vx1) * sx, (y - vy1) * sy]);
}

/** An SVG `points` attribute, rounded to 0.1 px. */
export function svgPoints(path: readonly [number, number][]): string {
  const r = (v: number) => Math.round(v * 10) / 10;
  return path.map(([x, y]) => `${r(x)},${r(y)}`).join(" ");
}
