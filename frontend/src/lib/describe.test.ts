import { describe as group, expect, it } from "vitest";
import { describe, summary, understoodAnything, withDescription, words } from "./describe";
import { emptyState } from "./query";

/** The filters only (what goes in the URL). */
const filters = (text: string) => {
  const { tags, upperColors, lowerColors, colors } = describe(text);
  return { tags, upperColors, lowerColors, colors };
};
const f = (tags: string[], upperColors: string[] = [], lowerColors: string[] = [], colors: string[] = []) =>
  ({ tags, upperColors, lowerColors, colors });

group("describe: what an officer types, as the search's filters", () => {
  it("reads the issue's examples", () => {
    expect(filters("red jacket")).toEqual(f(["person"], ["red"]));
    expect(filters("person in a red top and blue jeans")).toEqual(f(["person"], ["red"], ["blue"]));
    expect(filters("white van")).toEqual(f(["car", "truck"], [], [], ["white"]));
    expect(filters("black car")).toEqual(f(["car"], [], [], ["black"]));
    expect(filters("bicycle")).toEqual(f(["bicycle"]));
    expect(filters("man in grey trousers")).toEqual(f(["person"], [], ["grey"]));
    for (const t of ["red jacket", "person in a red top and blue jeans", "white van", "bicycle"]) {
      expect(describe(t).unknown).toEqual([]);
      expect(describe(t).unused).toEqual([]);
    }
  });

  it("knows colour synonyms and ignores dark/light", () => {
    expect(filters("gray hoodie")).toEqual(f(["person"], ["grey"]));
    expect(filters("silver car")).toEqual(f(["car"], [], [], ["grey"]));
    expect(filters("navy jumper, tan chinos")).toEqual(f(["person"], ["blue"], ["beige"]));
    expect(filters("dark red coat and light blue jeans")).toEqual(f(["person"], ["red"], ["blue"]));
    expect(filters("violet blouse")).toEqual(f(["person"], ["purple"]));
    expect(describe("dark jacket")).toMatchObject({ tags: ["person"], upperColors: [], unknown: ["dark"] });
  });

  it("binds a garment to the colours right before it, several of them OR", () => {
    expect(filters("red or orange jacket")).toEqual(f(["person"], ["red", "orange"]));
    expect(filters("woman with a black t-shirt and a white skirt")).toEqual(f(["person"], ["black"], ["white"]));
    expect(filters("man in red with blue jeans")).toEqual(f(["person"], ["red"], ["blue"]));
    expect(filters("black suit")).toEqual(f(["person"], ["black"], ["black"]));
    expect(filters("green dress")).toEqual(f(["person"], ["green"]));
  });

  it("gives a person's colour with no garment to the upper body", () => {
    expect(filters("man in red")).toEqual(f(["person"], ["red"]));
    expect(filters("in yellow, a child")).toEqual(f(["person"], ["yellow"]));
    expect(filters("red")).toEqual(f(["person"], ["red"]));
    expect(filters("jeans")).toEqual(f(["person"]));
  });

  it("reads objects, plurals and vehicle colours", () => {
    expect(filters("two men")).toMatchObject(f(["person"]));
    expect(filters("people")).toEqual(f(["person"]));
    expect(filters("Pedestrians")).toEqual(f(["person"]));
    expect(filters("white lorries")).toEqual(f(["truck"], [], [], ["white"]));
    expect(filters("buses")).toEqual(f(["bus"]));
    expect(filters("red motorbike")).toEqual(f(["motorcycle"], [], [], ["red"]));
    expect(filters("a van that is white")).toEqual(f(["car", "truck"], [], [], ["white"]));
    expect(filters("cyclist")).toEqual(f(["bicycle"]));
    expect(filters("blue vehicle")).toEqual(f(["car", "truck", "bus", "motorcycle"], [], [], ["blue"]));
    expect(filters("cars and buses")).toEqual(f(["car", "bus"]));
  });

  it("reports what it does not understand, with the colours that went with it, and never filters on it", () => {
    const d = describe("tall man in a black jacket and red baseball cap");
    expect(d.unknown).toEqual(["tall", "red baseball cap"]);
    expect(filters("tall man in a black jacket and red baseball cap")).toEqual(f(["person"], ["black"]));
    expect(describe("two men").unknown).toEqual(["two"]);
    expect(describe("zebra").unknown).toEqual(["zebra"]);
    expect(understoodAnything(describe("zebra"))).toBe(false);
  });

  it("says which understood colours cannot be searched", () => {
    const bike = describe("red bicycle");
    expect(bike).toMatchObject(f(["bicycle"]));
    expect(bike.unused).toEqual(["red bicycle: bicycles have no colour to search"]);
    // One sighting is never both a person in red and a white van: the first kind named keeps its colours.
    const both = describe("man in a red top near a white van");
    expect(both).toMatchObject(f(["person", "car", "truck"], ["red"]));
    expect(both.unknown).toEqual(["near"]);
    expect(both.unused).toEqual(["white van: a vehicle's colour cannot be searched with a person's"]);
  });

  it("changes nothing for an empty box", () => {
    for (const t of ["", "   ", ",.!"]) {
      expect(describe(t)).toEqual({ ...f([]), unknown: [], unused: [] });
      expect(understoodAnything(describe(t))).toBe(false);
    }
  });

  it("splits words, t-shirts and possessives", () => {
    expect(words("Man's T-Shirt, tee; t shirt")).toEqual(["man", "tshirt", "tshirt", "tshirt"]);
  });
});

group("withDescription", () => {
  it("replaces the label and colour filters and keeps every other one", () => {
    const s = { ...emptyState(), tags: ["car"], cameras: [2], colors: ["red" as const], lowerColors: ["blue" as const],
      start: "2026-01-01T00:00:00.000Z", minConfidence: 0.2, sort: "-time" as const };
    expect(withDescription(s, describe("person in a red top"))).toEqual({ ...s, tags: ["person"], upperColors: ["red"],
      lowerColors: [], colors: [] });
  });

  it("summarises what was understood", () => {
    expect(summary(describe("white van"))).toBe("car or truck; colour white");
    expect(summary(describe("person in a red top and blue jeans"))).toBe("person; upper body red; lower body blue");
  });
});
