import { describe, expect, it } from "vitest";
import { domainOf, layoutBars, rangeFromDrag } from "./histogram";

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

  it("lays out bars proportional to counts", () => {
    const bars = layoutBars(buckets, 60, 400, 100);
    expect(bars.map((b) => b.x)).toEqual([0, 100, 200, 300]);
    expect(bars.map((b) => b.height)).toEqual([50, 0, 100, 25]);
  });

  it("turns a drag into a range snapped outward to whole buckets", () => {
    expect(rangeFromDrag(150, 250, 400, d)).toEqual({ start: "2026-11-02T08:01:00.000Z", end: "2026-11-02T08:03:00.000Z" });
  });

  it("accepts right-to-left drags", () => {
    expect(rangeFromDrag(250, 150, 400, d)).toEqual(rangeFromDrag(150, 250, 400, d));
  });

  it("selects the bucket under a click", () => {
    expect(rangeFromDrag(210, 211, 400, d)).toEqual({ start: "2026-11-02T08:02:00.000Z", end: "2026-11-02T08:03:00.000Z" });
  });

  it("clamps drags that leave the chart", () => {
    expect(rangeFromDrag(-50, 900, 400, d)).toEqual({ start: "2026-11-02T08:00:00.000Z", end: "2026-11-02T08:04:00.000Z" });
    expect(rangeFromDrag(400, 400, 400, d)).toEqual({ start: "2026-11-02T08:03:00.000Z", end: "2026-11-02T08:04:00.000Z" });
  });
});
