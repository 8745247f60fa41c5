import { describe, expect, it } from "vitest";
import type { Facets, Sighting } from "../api/client";
import { appendPage, placeIn, type Results, resultsCache, stepKey, totalOf } from "./results";

const sighting = (id: number) => ({ id }) as Sighting;
const facets = (...counts: number[]) => ({
  tags: {}, cameras: [], histogram: { interval_s: 60, buckets: counts.map((count) => ({ start: "", count })) },
}) as Facets;
const entry = (ids: number[], extra: Partial<Results> = {}): Results => ({
  items: ids.map(sighting), cursor: null, facets: null, scrollY: 0, opened: null, focus: null, restore: false, ...extra,
});

/** A Storage of plain strings that, like sessionStorage, may refuse to take more. */
class MemoryStore {
  data = new Map<string, string>();
  constructor(private limit = Infinity) {}
  getItem(k: string) { return this.data.get(k) ?? null; }
  setItem(k: string, v: string) {
    const size = [...this.data].reduce((n, [key, val]) => n + (key === k ? 0 : val.length), 0);
    if (size + v.length > this.limit) throw new DOMException("full", "QuotaExceededError");
    this.data.set(k, v);
  }
  removeItem(k: string) { this.data.delete(k); }
}

describe("the results cache", () => {
  it("keeps a search's results across a reload (a new cache over the same storage)", () => {
    const store = new MemoryStore();
    resultsCache(store).put("tag=person", entry([3, 1, 2], { cursor: "c1", scrollY: 640, focus: 1 }));
    const again = resultsCache(store).get("tag=person");
    expect(again?.items.map((s) => s.id)).toEqual([3, 1, 2]);
    expect(again).toMatchObject({ cursor: "c1", scrollY: 640, focus: 1 });
    expect(resultsCache(store).get("tag=car")).toBeUndefined();
  });

  it("hands the grid back once after a sighting was opened from it", () => {
    const cache = resultsCache(new MemoryStore());
    cache.put("", entry([1, 2]));
    expect(cache.takeRestore("")).toBeUndefined();
    cache.patch("", { restore: true, focus: 2, scrollY: 300 });
    expect(cache.takeRestore("")).toMatchObject({ focus: 2, scrollY: 300 });
    expect(cache.takeRestore("")).toBeUndefined();
    cache.patch("tag=car", { restore: true });
    expect(cache.get("tag=car")).toBeUndefined();
  });

  it("keeps only the most recently used searches", () => {
    const store = new MemoryStore();
    const cache = resultsCache(store, 2);
    cache.put("a", entry([1]));
    cache.put("b", entry([2]));
    cache.patch("a", { focus: 1 }); // used: b is now the oldest
    cache.put("c", entry([3]));
    expect(cache.get("b")).toBeUndefined();
    expect(store.getItem("sightline.results:b")).toBeNull();
    expect(resultsCache(store, 2).get("a")?.focus).toBe(1);
    expect(resultsCache(store, 2).get("c")?.items).toHaveLength(1);
  });

  it("makes room by dropping other searches when the storage is full, and still serves this page", () => {
    const store = new MemoryStore(1_200);
    const cache = resultsCache(store);
    cache.put("old", entry(Array.from({ length: 60 }, (_, i) => i)));
    cache.put("new", entry(Array.from({ length: 60 }, (_, i) => 100 + i)));
    expect(store.getItem("sightline.results:old")).toBeNull();
    expect(resultsCache(store).get("new")?.items).toHaveLength(60);
    cache.put("huge", entry(Array.from({ length: 400 }, (_, i) => i)));
    expect(store.getItem("sightline.results:huge")).toBeNull();
    expect(cache.get("huge")?.items).toHaveLength(400);
  });

  it("ignores what it cannot read", () => {
    const store = new MemoryStore();
    store.setItem("sightline.results", "{not json");
    store.setItem("sightline.results:x", "[]");
    const cache = resultsCache(store);
    expect(cache.get("x")).toBeUndefined();
    cache.put("y", entry([1]));
    expect(resultsCache(store).get("y")?.items).toHaveLength(1);
  });
});

describe("a sighting's place in its list", () => {
  it("names its neighbours in the list's order and its position", () => {
    const r = entry([30, 10, 20], { facets: facets(2, 5) });
    expect(placeIn(r, 10)).toMatchObject({ index: 1, label: "2 of 7", more: false });
    expect(placeIn(r, 10)?.prev?.id).toBe(30);
    expect(placeIn(r, 10)?.next?.id).toBe(20);
    expect(placeIn(r, 30)?.prev).toBeNull();
    expect(placeIn(r, 99)).toBeNull();
  });

  it("says when the next page is to be fetched, and counts what is loaded without a total", () => {
    const r = entry([1, 2], { cursor: "c" });
    expect(placeIn(r, 2)).toMatchObject({ next: null, more: true, label: "2 of 2+" });
    expect(placeIn(r, 1)?.more).toBe(false);
    expect(placeIn({ ...r, cursor: null }, 2)).toMatchObject({ more: false, label: "2 of 2" });
  });

  it("appends a page once per sighting", () => {
    const r = appendPage(entry([1, 2], { cursor: "c" }), [sighting(2), sighting(3)], null);
    expect(r.items.map((s) => s.id)).toEqual([1, 2, 3]);
    expect(r.cursor).toBeNull();
  });

  it("totals the histogram, which applies every filter", () => {
    expect(totalOf(facets(1, 2, 3))).toBe(6);
    expect(totalOf(null)).toBeNull();
  });
});

describe("step keys", () => {
  const press = (key: string, extra: Partial<Parameters<typeof stepKey>[0]> = {}) => stepKey({
    key, altKey: false, ctrlKey: false, metaKey: false, shiftKey: false, defaultPrevented: false,
    target: { tagName: "BODY" } as unknown as EventTarget, ...extra,
  });

  it("steps with J/K and the arrows", () => {
    expect([press("j"), press("J"), press("ArrowRight")]).toEqual([1, 1, 1]);
    expect([press("k"), press("K"), press("ArrowLeft")]).toEqual([-1, -1, -1]);
    expect(press("l")).toBe(0);
  });

  it("leaves modified keys, fields, media controls and editable text alone", () => {
    for (const mod of ["altKey", "ctrlKey", "metaKey", "shiftKey", "defaultPrevented"] as const) {
      expect(press("j", { [mod]: true })).toBe(0);
    }
    for (const tagName of ["INPUT", "TEXTAREA", "SELECT", "VIDEO", "AUDIO"]) {
      expect(press("ArrowRight", { target: { tagName } as unknown as EventTarget })).toBe(0);
    }
    expect(press("k", { target: { tagName: "DIV", isContentEditable: true } as unknown as EventTarget })).toBe(0);
    expect(press("k", { target: null })).toBe(-1);
  });
});
