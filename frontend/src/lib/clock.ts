/**
 * The time of day at a point of a clip, and where a sighting lies on the clip's scrubber: the player shows wall
 * time (what an officer writes in a report), not only the clip's 0:47 / 1:19.
 */

/** The clip's first frame (epoch ms), from the sighting's best moment and its offset in the clip. */
export const clipStartMs = (bestTime: string, offsetS: number): number => Date.parse(bestTime) - offsetS * 1000;

/** The seen interval [start, end] as fractions (0–1) of a clip `durationS` long that starts at `startMs`. */
export function seenSpan(clipStart: number, durationS: number, start: string, end: string): { left: number; width: number } | null {
  if (!Number.isFinite(durationS) || durationS <= 0) return null;
  const total = durationS * 1000;
  const clamp = (v: number) => Math.min(1, Math.max(0, v));
  const a = clamp((Date.parse(start) - clipStart) / total);
  const b = clamp((Date.parse(end) - clipStart) / total);
  if (Number.isNaN(a) || Number.isNaN(b)) return null;
  // A sighting of one frame is still a visible mark.
  return { left: a, width: Math.max(b - a, 0.004) };
}
