import { zoneLabel } from "../lib/format";
import { sightingTime } from "../lib/sightingTime";

/** A result card's time, whole: date, start time (tabular digits), the span when it began before the
 * window, and the browser's zone name. */
export function CardTime({ start, end, windowStart }: { start: string; end: string; windowStart: string | null }) {
  const t = sightingTime(start, end, windowStart);
  const zone = <span class="tz">{zoneLabel(start)}</span>;
  if (!t.beganBefore) {
    return (
      <time class="when" dateTime={start} data-testid="result-time">
        <span>{t.date}</span> <span>{t.time}</span> {zone}
      </time>
    );
  }
  return (
    <span class="when span" data-testid="result-time" data-began-before=""
      title="Seen from before the start of the time range until the time after the dash">
      <time dateTime={start}><span>{t.date}</span> <span>{t.time}</span></time>
      {" – "}
      <time dateTime={end}>{t.untilDate && <span>{t.untilDate} </span>}<span>{t.until}</span></time> {zone}
      <span class="earlier"> began earlier</span>
    </span>
  );
}
