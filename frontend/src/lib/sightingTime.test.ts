import { describe, expect, it } from "vitest";
import { formatTime } from "./format";
import { sightingTime } from "./sightingTime";

const START = "2026-11-02T10:25:40Z";
const END = "2026-11-02T10:26:05Z";

describe("a sighting's time", () => {
  it("is its start, without a span, when no window starts after it", () => {
    const t = sightingTime(START, END, null);
    expect(`${t.date} ${t.time}`).toBe(formatTime(START));
    expect(t.beganBefore).toBe(false);
    expect(t.until).toBeNull();
    expect(sightingTime(START, END, "2026-11-02T10:25:40Z").beganBefore).toBe(false);
  });
  it("shows the span when it began before the window's start", () => {
    const t = sightingTime(START, END, "2026-11-02T10:25:50Z");
    expect(t.beganBefore).toBe(true);
    expect(`${t.date} ${t.time}`).toBe(formatTime(START));
    expect(t.until).toBe(formatTime(END).split(" ")[1]);
    expect(t.untilDate).toBeNull();
  });
  it("names the end's date when the span crosses a day", () => {
    const t = sightingTime("2026-11-02T10:00:00Z", "2026-11-04T10:00:00Z", "2026-11-03T00:00:00Z");
    expect(t.untilDate).toBe(formatTime("2026-11-04T10:00:00Z").split(" ")[0]);
  });
});
