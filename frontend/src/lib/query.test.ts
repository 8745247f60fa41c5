import { describe, expect, it } from "vitest";
import { decodeState, decodeStateChecked, emptyState, encodeState, localInputToIso, isoToLocalInput, toApiParams, toggle } from "./query";

describe("search state in the URL", () => {
  it("round-trips every field and leaves defaults out", () => {
    const s = { tags: ["person", "car"], cameras: [3, 1], upperColors: ["red" as const], lowerColors: [],
      colors: ["white" as const, "grey" as const], start: "2026-11-02T08:00:00.000Z",
      end: "2026-11-02T09:00:00.000Z", minConfidence: 0.7, sort: "-time" as const };
    const q = encodeState(s);
    expect(q).toBe("tag=person&tag=car&camera=3&camera=1&upper_color=red&color=white&color=grey"
      + "&start=2026-11-02T08%3A00%3A00.000Z&end=2026-11-02T09%3A00%3A00.000Z&min_confidence=0.7&sort=-time");
    expect(decodeState(q)).toEqual(s);
    expect(encodeState(emptyState())).toBe("");
  });

  it("defaults min confidence to 0.5 and sort to confidence", () => {
    expect(decodeState("")).toEqual(emptyState());
    expect(emptyState().minConfidence).toBe(0.5);
  });

  it("ignores invalid values instead of failing", () => {
    const s = decodeState("tag=Person&tag=%20car&tag=1bad&camera=x&camera=0&camera=2&min_confidence=7&sort=evil"
      + "&start=yesterday&end=2026-11-02T08:00:00Z");
    expect(s.tags).toEqual(["person", "car"]);
    expect(s.cameras).toEqual([2]);
    expect(s.minConfidence).toBe(0.5); // out of range: ignored, not clamped to 1 (which matches nothing)
    expect(s.sort).toBe("-confidence");
    expect(s.start).toBeNull();
    expect(s.end).toBe("2026-11-02T08:00:00.000Z");
  });

  it("keeps palette colours and names the others", () => {
    const { state, issues } = decodeStateChecked("upper_color=Red&upper_color=crimson&lower_color=blue");
    expect(state.upperColors).toEqual(["red"]);
    expect(state.lowerColors).toEqual(["blue"]);
    expect(issues).toEqual([expect.stringMatching(/^upper_color must be one of black, .*"crimson" ignored$/)]);
    expect(toApiParams(state).upper_color).toEqual(["red"]);
    expect(toApiParams(state).color).toBeUndefined();
  });

  it("drops an end that is not after the start", () => {
    const s = decodeState("start=2026-11-02T09:00:00Z&end=2026-11-02T08:00:00Z");
    expect(s.start).toBe("2026-11-02T09:00:00.000Z");
    expect(s.end).toBeNull();
  });

  it("names every ignored parameter", () => {
    const { state, issues } = decodeStateChecked("tag=1bad&camera=x&min_confidence=abc&sort=evil&start=yesterday"
      + "&end=2026-11-02T08:00:00Z");
    expect(state).toEqual({ ...emptyState(), end: "2026-11-02T08:00:00.000Z" });
    expect(issues).toEqual([
      'tag must be a lower-case label such as person or car: "1bad" ignored',
      'camera must be a camera number (1 or more): "x" ignored',
      "start must be a date and time such as 2024-05-01T12:00:00Z: ignored",
      "min_confidence must be a number between 0 and 1: ignored",
      "sort must be one of -confidence, -time, time: ignored",
    ]);
    expect(decodeStateChecked("min_confidence=5").issues).toEqual(["min_confidence must be a number between 0 and 1: ignored"]);
    expect(decodeStateChecked("start=2026-11-02T09:00:00Z&end=2026-11-02T08:00:00Z").issues)
      .toEqual(["end must be after start: end ignored"]);
    expect(decodeStateChecked("tag=person&min_confidence=0.7&sort=time").issues).toEqual([]);
    expect(decodeStateChecked("min_confidence=0").state.minConfidence).toBe(0);
  });

  it("de-duplicates repeated tags and cameras", () => {
    expect(decodeState("tag=car&tag=car&camera=2&camera=2")).toMatchObject({ tags: ["car"], cameras: [2] });
  });

  it("builds API parameters, always sending min_confidence", () => {
    expect(toApiParams(emptyState())).toEqual({ min_confidence: 0.5, sort: "-confidence" });
    expect(toApiParams({ ...emptyState(), tags: ["person"], cameras: [4] }, { cursor: "abc", pageSize: 10, facets: false }))
      .toEqual({ tag: ["person"], camera: [4], min_confidence: 0.5, sort: "-confidence", cursor: "abc", page_size: 10,
        facets: false });
  });

  it("toggles chips", () => {
    expect(toggle(["a"], "b")).toEqual(["a", "b"]);
    expect(toggle(["a", "b"], "a")).toEqual(["b"]);
  });

  it("converts datetime-local input values to UTC and back", () => {
    const iso = localInputToIso("2026-11-02T08:30");
    expect(iso).not.toBeNull();
    expect(isoToLocalInput(iso)).toBe("2026-11-02T08:30");
    expect(localInputToIso("")).toBeNull();
    expect(isoToLocalInput("nonsense")).toBe("");
  });
});
