import { describe, expect, it } from "vitest";
import { barAt, domainOf, handleStep, layoutBars, moveHandle, needsSeconds, preset, rangeFromDrag, zoomOut } from "./histogram";

const buckets = [
  { start: "2026-11-02T08:00:00Z", count: 4 },
  { start: "2026-11-02T08:01:00Z", count: 0 },
  { start: "2026-11-02T08:02:00Z", count: 8 },
  { start: "2026-11-02T08:03:00Z", count: 2 },
];
const d = domainOf(buckets, 60)!;

describe("histogram", () => {
  it("spans first bucket start to last bucket end", () => {
    expect(new Date(d.startMs).toISOString()).toBe("2026-11-02T08:00:00.000Z");
    expect(new Date(d.endMs).toISOString()).toBe("2026-11-02T08:04:00.000Z");
    expect(domainOf([], 60)).toBeNull();
  });

  it("is the chosen range even with nothing in it", () => {
    const w = domainOf([], 10, { start: "2026-11-02T08:00:00Z", end: "2026-11-02T08:00:20Z" })!;
    expect(w.endMs - w.startMs).toBe(20_000);
    expect(zoomOut(w)).toEqual({ start: "2026-11-02T07:59:40.000Z", end: "2026-11-02T08:00:40.000Z" });
  });

  it("spans the search's time range when it has one", () => {
    const w = domainOf(buckets, 60, { start: "2026-11-02T08:00:30Z", end: "2026-11-02T08:03:30Z" })!;
    expect(new Date(w.startMs).toISOString()).toBe("2026-11-02T08:00:30.000Z");
    expect(new Date(w.endMs).toISOString()).toBe("2026-11-02T08:03:30.000Z");
    // The first and last bars are cut at the range's edges.
    const bars = layoutBars(buckets, 60, 360, 100, w);
    expect(bars[0].x).toBe(0);
    expect(bars[0].width).toBeCloseTo(59);
    expect(bars.at(-1)!.x + bars.at(-1)!.width).toBeLessThanOrEqual(360);
  });

  it("lays out bars proportional to counts", () => {
    const bars = layoutBars(buckets, 60, 400, 100);
    expect(bars.map((b) => b.x)).toEqual([0, 100, 200, 300]);
    expect(bars.map((b) => b.height)).toEqual([50, 0, 100, 25]);
    expect(barAt(bars, 250)?.count).toBe(8);
  });

  it("turns a drag into a range outward to whole seconds", () => {
    expect(rangeFromDrag(150, 250, 400, d)).toEqual({ start: "2026-11-02T08:01:30.000Z", end: "2026-11-02T08:02:30.000Z" });
    // 20 seconds from a four-minute chart in one drag.
    expect(rangeFromDrag(100, 100 + 400 / 12, 400, d)).toEqual({ start: "2026-11-02T08:01:00.000Z", end: "2026-11-02T08:01:20.000Z" });
  });

  it("accepts right-to-left drags", () => {
    expect(rangeFromDrag(250, 150, 400, d)).toEqual(rangeFromDrag(150, 250, 400, d));
  });

  it("selects the bar under a click", () => {
    expect(rangeFromDrag(210, 211, 400, d)).toEqual({ start: "2026-11-02T08:02:00.000Z", end: "2026-11-02T08:03:00.000Z" });
  });

  it("clamps drags that leave the chart", () => {
    expect(rangeFromDrag(-50, 900, 400, d)).toEqual({ start: "2026-11-02T08:00:00.000Z", end: "2026-11-02T08:04:00.000Z" });
    expect(rangeFromDrag(400, 400, 400, d)).toEqual({ start: "2026-11-02T08:03:00.000Z", end: "2026-11-02T08:04:00.000Z" });
  });

  it("zooms out three times around the middle", () => {
    expect(zoomOut(d)).toEqual({ start: "2026-11-02T07:56:00.000Z", end: "2026-11-02T08:08:00.000Z" });
  });

  it("presets end now, on a whole second", () => {
    expect(preset(15 * 60_000, Date.parse("2026-11-02T08:00:00.400Z")))
      .toEqual({ start: "2026-11-02T07:45:01.000Z", end: "2026-11-02T08:00:01.000Z" });
  });

  it("moves a handle by a bar per arrow key and ten per page key, never past the other", () => {
    expect(handleStep("ArrowRight", d)).toBe(60_000);
    expect(handleStep("PageDown", d)).toBe(-600_000);
    expect(handleStep("a", d)).toBeNull();
    expect(moveHandle("start", d.startMs, d.endMs, 60_000).start).toBe("2026-11-02T08:01:00.000Z");
    expect(moveHandle("start", d.startMs, d.endMs, 3_600_000).start).toBe("2026-11-02T08:03:59.000Z");
    expect(moveHandle("end", d.startMs, d.endMs, -60_000).end).toBe("2026-11-02T08:03:00.000Z");
  });

  it("labels need seconds under an hour", () => {
    expect(needsSeconds(d)).toBe(true);
    expect(needsSeconds({ startMs: 0, endMs: 7_200_000, intervalMs: 60_000 })).toBe(false);
  });
});
