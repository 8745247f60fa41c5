import { describe, expect, it } from "vitest";
import { clipStartMs, seenSpan } from "./clock";

describe("player clock", () => {
  it("finds the clip's start from the best moment", () => {
    expect(new Date(clipStartMs("2026-11-02T08:00:47.500Z", 47.5)).toISOString()).toBe("2026-11-02T08:00:00.000Z");
  });
  it("places the seen interval on the scrubber", () => {
    const start = Date.parse("2026-11-02T08:00:00Z");
    expect(seenSpan(start, 80, "2026-11-02T08:00:20Z", "2026-11-02T08:01:00Z")).toEqual({ left: 0.25, width: 0.5 });
    expect(seenSpan(start, 80, "2026-11-02T07:59:00Z", "2026-11-02T08:00:08Z")).toEqual({ left: 0, width: 0.1 });
    expect(seenSpan(start, 80, "2026-11-02T08:00:40Z", "2026-11-02T08:00:40Z")?.width).toBeGreaterThan(0);
    expect(seenSpan(start, NaN, "2026-11-02T08:00:40Z", "2026-11-02T08:00:40Z")).toBeNull();
  });
});
