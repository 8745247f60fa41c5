import { describe, expect, it } from "vitest";
import { boxToPixels, contentRect, errorMessage, formatAgo, formatBytes, formatConfidence, formatDuration, zoneLabel } from "./format";

describe("formatting", () => {
  it("confidence as a percentage", () => {
    expect(formatConfidence(0.876)).toBe("88%");
    expect(formatConfidence(1)).toBe("100%");
  });
  it("time zone labels", () => {
    expect(zoneLabel("2026-11-02T08:00:00Z", "UTC")).toBe("UTC");
    expect(zoneLabel("2026-01-02T08:00:00Z", "Etc/GMT-1")).toMatch(/^(GMT\+1|\+01)$/);
    expect(zoneLabel("not a time")).toBe("");
  });
  it("durations", () => {
    expect(formatDuration(3.25)).toBe("3.3 s");
    expect(formatDuration(75)).toBe("1 min 15 s");
    expect(formatDuration(3 * 3600 + 120)).toBe("3 h 2 min");
    expect(formatDuration(null)).toBe("—");
  });
  it("bytes", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1_500_000)).toBe("1.5 MB");
  });
  it("relative times", () => {
    const now = Date.parse("2026-11-02T08:10:00Z");
    expect(formatAgo("2026-11-02T08:09:30Z", now)).toBe("30 s ago");
    expect(formatAgo("2026-11-02T06:10:00Z", now)).toBe("2 h ago");
    expect(formatAgo(null, now)).toBe("never");
  });
  it("DRF error bodies as one line", () => {
    expect(errorMessage({ detail: "Not found." })).toBe("Not found.");
    expect(errorMessage({ file: ["not a video: invalid data"] })).toBe("file: not a video: invalid data");
    expect(errorMessage({ non_field_errors: ["bad"], camera: ["unknown camera 9"] })).toBe("bad; camera: unknown camera 9");
    expect(errorMessage(null, "x")).toBe("x");
  });
});

describe("box overlay geometry", () => {
  it("letterboxes a 4:3 video in a 16:9 element", () => {
    expect(contentRect(1600, 900, 640, 480)).toEqual({ x: 200, y: 0, w: 1200, h: 900 });
  });
  it("pillarboxes vertically when the element is taller", () => {
    expect(contentRect(800, 800, 800, 400)).toEqual({ x: 0, y: 200, w: 800, h: 400 });
  });
  it("scales a normalised box to the rendered picture", () => {
    const r = contentRect(1600, 900, 640, 480);
    expect(boxToPixels([0.1, 0.2, 0.3, 0.6], r)).toEqual({ left: 320, top: 180, width: 240, height: 360 });
  });
  it("clamps boxes to the picture", () => {
    expect(boxToPixels([-0.5, 0, 1.5, 1], { x: 0, y: 0, w: 100, h: 100 })).toEqual({ left: 0, top: 0, width: 100, height: 100 });
  });
});
