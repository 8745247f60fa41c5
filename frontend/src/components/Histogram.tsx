import { useEffect, useRef, useState } from "preact/hooks";
import {
  type Bar, barAt, type Bucket, domainOf, handleStep, layoutBars, moveHandle, needsSeconds, preset, PRESETS, type Range,
  rangeFromDrag, zoomOut,
} from "../lib/histogram";
import { formatDuration, formatTime } from "../lib/format";

const W = 1000;
const H = 90;
/** A keyboard handle's moves are applied once the keys pause this long (or at once with Enter). */
const HANDLE_SETTLE_MS = 700;

const isoOf = (ms: number) => new Date(ms).toISOString();

/**
 * Time histogram (SVG) and the ways to choose a time range with it: drag across it (or click a bar), move its
 * two handles with the keyboard (arrows: one bar; Page Up/Down: ten; Enter applies at once), a preset window
 * ending now, or zoom out. Hovering a bar tells its interval and count.
 */
export function Histogram({ buckets, intervalS, start, end, onRange }: {
  buckets: Bucket[]; intervalS: number; start: string | null; end: string | null;
  onRange(r: Range): void;
}) {
  const svg = useRef<SVGSVGElement>(null);
  const [drag, setDrag] = useState<{ x0: number; x1: number } | null>(null);
  const [hover, setHover] = useState<Bar | null>(null);
  const [pending, setPending] = useState<Range | null>(null);
  const settle = useRef<number | undefined>(undefined);
  useEffect(() => { setPending(null); }, [start, end]);
  useEffect(() => () => window.clearTimeout(settle.current), []);

  const domain = domainOf(buckets, intervalS, { start, end });
  const tools = (
    <div class="histo-tools" role="group" aria-label="Time range">
      <span class="muted">Last</span>
      {PRESETS.map(([label, ms]) => (
        <button type="button" class="chip" onClick={() => onRange(preset(ms))} data-testid={`preset-${label.replace(" ", "")}`}>
          {label}
        </button>
      ))}
      {domain && <button type="button" onClick={() => onRange(zoomOut(domain))} data-testid="zoom-out">Zoom out</button>}
    </div>
  );
  // Nothing to chart: the page says so once; the presets and zoom out stay, to widen the search again.
  if (!domain || !buckets.length) return <div class="histo">{tools}</div>;
  const bars = layoutBars(buckets, intervalS, W, H - 4, domain);
  const total = buckets.reduce((a, b) => a + b.count, 0);
  const span = domain.endMs - domain.startMs;
  const seconds = needsSeconds(domain);
  const fmt = (ms: number) => formatTime(isoOf(ms), { seconds });
  const timeOnly = (ms: number) => fmt(ms).split(" ")[1];
  const sMs = start ? Date.parse(start) : -Infinity;
  const eMs = end ? Date.parse(end) : Infinity;
  const xOf = (ms: number) => ((ms - domain.startMs) / span) * W;

  // Pointer positions in SVG units (the viewBox is W wide whatever the rendered width).
  const toX = (e: PointerEvent) => {
    const r = svg.current!.getBoundingClientRect();
    return ((e.clientX - r.left) / r.width) * W;
  };
  const down = (e: PointerEvent) => {
    (e.currentTarget as Element).setPointerCapture?.(e.pointerId);
    const x = toX(e);
    setDrag({ x0: x, x1: x });
  };
  const move = (e: PointerEvent) => {
    const x = toX(e);
    if (drag) setDrag({ ...drag, x1: x });
    setHover(barAt(bars, x) ?? null);
  };
  const up = (e: PointerEvent) => {
    if (!drag) return;
    const r = rangeFromDrag(drag.x0, toX(e), W, domain, 3 * (W / svg.current!.getBoundingClientRect().width || 1));
    setDrag(null);
    if (r) onRange(r);
  };

  // The two handles: at the search's range, or at the chart's ends when it has none.
  const cur = pending ?? { start: isoOf(domain.startMs), end: isoOf(domain.endMs) };
  const curS = Date.parse(cur.start);
  const curE = Date.parse(cur.end);
  const apply = (r: Range | null) => {
    window.clearTimeout(settle.current);
    if (r) onRange(r);
  };
  const key = (which: "start" | "end") => (e: KeyboardEvent) => {
    if (e.key === "Enter") { e.preventDefault(); apply(pending); return; }
    let next: Range | null = null;
    if (e.key === "Home") next = which === "start" ? { start: isoOf(domain.startMs), end: cur.end } : { start: cur.start, end: cur.start };
    else if (e.key === "End") next = which === "end" ? { start: cur.start, end: isoOf(domain.endMs) } : { start: cur.end, end: cur.end };
    else {
      const step = handleStep(e.key, domain);
      if (step !== null) next = moveHandle(which, curS, curE, step);
    }
    if (!next) return;
    e.preventDefault();
    if (Date.parse(next.end) <= Date.parse(next.start)) next = moveHandle(which, curS, curE, 0);
    setPending(next);
    window.clearTimeout(settle.current);
    const chosen = next;
    settle.current = window.setTimeout(() => onRange(chosen), HANDLE_SETTLE_MS);
  };
  const handle = (which: "start" | "end", ms: number) => (
    <div class="histo-handle" role="slider" tabIndex={0} data-testid={`handle-${which}`}
      aria-label={which === "start" ? "Start of the time range" : "End of the time range"}
      aria-valuemin={Math.floor((domain.startMs - span) / 1000)} aria-valuemax={Math.ceil((domain.endMs + span) / 1000)}
      aria-valuenow={Math.round(ms / 1000)} aria-valuetext={fmt(ms)}
      style={{ left: `${Math.min(100, Math.max(0, (xOf(ms) / W) * 100))}%` }}
      onKeyDown={key(which)} onBlur={() => pending && apply(pending)} />
  );
  const label = `Sightings over time: ${total} in ${buckets.length} intervals of ${formatDuration(intervalS)} from `
    + `${fmt(domain.startMs)} to ${fmt(domain.endMs)}. Drag across the chart, or move its handles with the arrow keys, `
    + "to narrow the time range.";
  const endDiffers = formatTime(isoOf(domain.endMs)).split(" ")[0] !== formatTime(isoOf(domain.startMs)).split(" ")[0];
  const sel = drag && Math.abs(drag.x1 - drag.x0) > 1 ? { x: Math.min(drag.x0, drag.x1), w: Math.abs(drag.x1 - drag.x0) }
    : pending ? { x: xOf(curS), w: xOf(curE) - xOf(curS) } : null;
  return (
    <div class="histo">
      {tools}
      <div class="histo-chart">
        <svg ref={svg} class="histogram" viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img"
          aria-label={label} data-testid="histogram" onPointerDown={down} onPointerMove={move} onPointerUp={up}
          onPointerLeave={() => setHover(null)} onPointerCancel={() => setDrag(null)}>
          {bars.map((b) => (
            <rect class={`bar${b.endMs > sMs && b.startMs < eMs ? " in" : ""}${hover === b ? " hover" : ""}`} x={b.x}
              y={H - b.height} width={b.width} height={b.height}>
              <title>{`${fmt(b.startMs)}: ${b.count}`}</title>
            </rect>
          ))}
          {sel && <rect class="sel" x={sel.x} y={0} width={Math.max(sel.w, 1)} height={H} />}
        </svg>
        {handle("start", curS)}
        {handle("end", curE)}
        {hover && !drag && (
          <div class="histo-tip" role="status" data-testid="histogram-tip"
            style={{ left: `${Math.min(85, Math.max(0, ((hover.x + hover.width / 2) / W) * 100))}%` }}>
            {`${fmt(hover.startMs)} – ${timeOnly(hover.endMs)}: ${hover.count} sighting${hover.count === 1 ? "" : "s"}`}
          </div>
        )}
      </div>
      <div class="histo-axis" aria-hidden="true" data-testid="histogram-axis">
        <span>{fmt(domain.startMs)}</span>
        <span>{timeOnly(domain.startMs + span / 2)}</span>
        <span>{endDiffers ? fmt(domain.endMs) : timeOnly(domain.endMs)}</span>
      </div>
    </div>
  );
}
