/**
 * One definition of a sighting's time, shared by sorting and display: the moment it was first seen (its
 * `start`). "Newest first" and "Oldest first" order by it, the histogram buckets by it and the card shows it,
 * so the order of the cards is the order of the times they show.
 *
 * A time window matches every sighting that overlaps it, so a sighting that began before the window's start
 * is in the results although its start lies outside the window: its card shows the whole span (start – end)
 * and says that it began earlier, instead of a time that seems not to belong.
 */
import { formatTime } from "./format";

export interface SightingTime {
  /** Date of the start, "YYYY-MM-DD". */
  date: string;
  /** Start time of day, "HH:MM:SS". */
  time: string;
  /** End time of day when the span is shown (the sighting began before the window), else null. */
  until: string | null;
  /** The end's date when it differs from the start's (a span across midnight), else null. */
  untilDate: string | null;
  beganBefore: boolean;
}

export function sightingTime(start: string, end: string, windowStart: string | null): SightingTime {
  const [date, time] = formatTime(start).split(" ");
  const beganBefore = windowStart !== null && Date.parse(start) < Date.parse(windowStart);
  if (!beganBefore) return { date, time, until: null, untilDate: null, beganBefore };
  const [endDate, endTime] = formatTime(end).split(" ");
  return { date, time, until: endTime, untilDate: endDate !== date ? endDate : null, beganBefore };
}
