import { describe, expect, it } from "vitest";
import { feedLine, shouldRecord } from "./cameras";

const cams = (...s: string[]) => s.map((status) => ({ status })) as { status: "recording" }[];

describe("feedLine", () => {
  it("is never green while nothing records", () => {
    expect(feedLine("live", cams("offline", "error", "reconnecting"))).toEqual(
      { tone: "idle", text: "Connected · 0 of 3 cameras recording" });
  });
  it("is live once a camera records, counting only cameras that ought to", () => {
    expect(feedLine("live", cams("recording", "offline", "disabled", "uploads"))).toEqual(
      { tone: "live", text: "Live · 1 of 2 cameras recording" });
    expect(feedLine("live", cams("recording")).text).toBe("Live · 1 of 1 camera recording");
  });
  it("says when no camera streams at all", () => {
    expect(feedLine("live", cams("uploads", "disabled")).text).toBe("Connected · no camera streams (footage is uploaded)");
  });
  it("puts the connection first when it is not up", () => {
    expect(feedLine("reconnecting", cams("recording"))).toEqual({ tone: "warn", text: "Reconnecting…" });
    expect(feedLine("failed", cams("recording")).tone).toBe("bad");
    expect(feedLine("live", null)).toEqual({ tone: "idle", text: "Connected" });
  });
});

describe("shouldRecord", () => {
  it("leaves out disabled cameras and those whose footage is uploaded", () => {
    expect(shouldRecord({ status: "uploads" })).toBe(false);
    expect(shouldRecord({ status: "disabled" })).toBe(false);
    expect(shouldRecord({ status: "error" })).toBe(true);
  });
});
