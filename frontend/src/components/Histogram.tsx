import { useRef, useState } from "preact/hooks";
import { type Bucket, domainOf, layoutBars, rangeFromDrag } from "../lib/histogram";
import { formatTime } from "../lib/format";

const W = 1000;
const H = 90;

/** Time histogram (SVG). Drag across it (or click a bar) to narrow the search to that time range. */
export function Histogram({ buckets, intervalS, start, end, onRange }: {
  buckets: Bucket[]; intervalS: number; start: string | null; end: string | null;
  onRange(r: { start: string; end: string }): void;
}) {
  const svg = useRef<SVGSVGElement>(null);
  const [drag, setDrag] = useState<{ x0: number; x1: number } | null>(null);
  const domain = domainOf(buckets, intervalS);
  if (!domain) return <p class="muted">No sightings in this time range.</p>;
  const bars = layoutBars(buckets, intervalS, W, H - 4);
  const total = buckets.reduce((a, b) => a + b.count, 0);
  const sMs = start ? Date.parse(start) : -Infinity;
  const eMs = end ? Date.parse(end) : Infinity;

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
  const move = (e: PointerEvent) => { if (drag) setDrag({ ...drag, x1: toX(e) }); };
  const up = (e: PointerEvent) => {
    if (!drag) return;
    const r = rangeFromDrag(drag.x0, toX(e), W, domain, 3 * (W / svg.current!.getBoundingClientRect().width || 1));
    setDrag(null);
    if (r) onRange(r);
  };
  const label = `Sightings over time: ${total} in ${buckets.length} intervals of ${intervalS} s from `
    + `${formatTime(new Date(domain.startMs).toISOString())} to ${formatTime(new Date(domain.endMs).toISOString())}. `
    + "Drag across the chart to narrow the time range.";
  return (
    <div>
      <svg ref={svg} class="histogram" viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img"
        aria-label={label} data-testid="histogram" onPointerDown={down} onPointerMove={move} onPointerUp={up}
        onPointerCancel={() => setDrag(null)}>
        {bars.map((b) => (
          <rect class={`bar${b.endMs > sMs && b.startMs < eMs ? " in" : ""}`} x={b.x} y={H - b.height} width={b.width}
            height={b.height}>
            <title>{`${formatTime(new Date(b.startMs).toISOString())}: ${b.count}`}</title>
          </rect>
        ))}
        {drag && Math.abs(drag.x1 - drag.x0) > 1 && (
          <rect class="sel" x={Math.min(drag.x0, drag.x1)} y={0} width={Math.abs(drag.x1 - drag.x0)} height={H} />
        )}
      </svg>
      <div class="histo-axis" aria-hidden="true">
        <span>{formatTime(new Date(domain.startMs).toISOString(), { seconds: false })}</span>
        <span>{formatTime(new Date(domain.endMs).toISOString(), { seconds: false })}</span>
      </div>
    </div>
  );
}
