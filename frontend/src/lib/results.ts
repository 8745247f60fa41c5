/**
 * The results a search has loaded, kept so that the sighting page can step through them in the grid's own order
 * (Previous/Next) and Back can bring the grid back as the officer left it: the same pages loaded, the same scroll
 * position, the opened card focused.
 *
 * One entry per search, keyed by its encoded state (the query string of its URL, which holds the whole search:
 * tags, cameras, time window, confidence floor, order), so a sighting page finds its list from its own URL. Kept
 * in sessionStorage: a reload keeps the place, nothing outlives the tab, and another tab (whose sessionStorage is
 * its own) starts from its URL alone. Only the few most recent searches are kept; a full storage costs only what
 * a reload would have kept, since the copy in memory still serves this page.
 */
import type { Facets, Sighting } from "../api/client";

/** Results per page, in the grid and when the sighting page fetches the next page of its list. */
export const PAGE_SIZE = 48;
/** Searches kept (most recently used first); an entry of a few pages is some 100 KB. */
export const MAX_SEARCHES = 5;
const PREFIX = "sightline.results:";
const INDEX = "sightline.results";

export interface Results {
  /** What the search has loaded so far, in its order. */
  items: Sighting[];
  /** The next page's cursor; null when everything is loaded. */
  cursor: string | null;
  /** The facets shown beside the grid when it was loaded (counts, histogram). */
  facets: Facets | null;
  /** The grid's scroll position when card `opened` was opened from it. */
  scrollY: number;
  opened: number | null;
  /** The sighting last opened from the list (or stepped to): focused when the grid comes back. */
  focus: number | null;
  /** A sighting of the list was opened since the grid was last shown: the next visit puts the grid back as it
   * was. Taken by that visit, so a reload of the grid itself is a new search. */
  restore: boolean;
}

type Store = Pick<Storage, "getItem" | "setItem" | "removeItem">;

export interface ResultsCache {
  get(key: string): Results | undefined;
  /** Store (or replace) the entry of `key`, making it the most recently used. */
  put(key: string, r: Results): void;
  /** Change part of an existing entry (nothing when there is none). */
  patch(key: string, p: Partial<Results>): void;
  /** The entry of `key` if the grid is to be put back as it was, clearing the mark. */
  takeRestore(key: string): Results | undefined;
}

export function resultsCache(store: Store | null, max = MAX_SEARCHES): ResultsCache {
  const mem = new Map<string, Results>();
  const read = <T,>(k: string): T | undefined => {
    try {
      const raw = store?.getItem(k);
      return raw ? (JSON.parse(raw) as T) : undefined;
    } catch { return undefined; }
  };
  /** Most recently used last. */
  let order: string[] = read<string[]>(INDEX) ?? [];
  const write = (key: string, r: Results) => {
    if (!store) return;
    for (let tries = 0; tries < 2; tries++) {
      try {
        store.setItem(PREFIX + key, JSON.stringify(r));
        store.setItem(INDEX, JSON.stringify(order));
        return;
      } catch {
        // Full: the other searches go first, then this one is simply not kept across a reload.
        for (const k of order.filter((k) => k !== key)) store.removeItem(PREFIX + k);
        order = order.filter((k) => k === key);
      }
    }
    store.removeItem(PREFIX + key);
  };
  const get = (key: string): Results | undefined => {
    let r = mem.get(key);
    if (!r) {
      r = read<Results>(PREFIX + key);
      if (r && Array.isArray(r.items)) mem.set(key, r);
      else r = undefined;
    }
    return r;
  };
  const put = (key: string, r: Results) => {
    mem.set(key, r);
    order = [...order.filter((k) => k !== key), key];
    for (const old of order.splice(0, Math.max(0, order.length - max))) {
      mem.delete(old);
      store?.removeItem(PREFIX + old);
    }
    write(key, r);
  };
  const patch = (key: string, p: Partial<Results>) => {
    const r = get(key);
    if (r) put(key, { ...r, ...p });
  };
  return {
    get, put, patch,
    takeRestore(key) {
      const r = get(key);
      if (!r?.restore) return undefined;
      patch(key, { restore: false });
      return r;
    },
  };
}

export const results = resultsCache(typeof sessionStorage === "undefined" ? null : sessionStorage);

/** The number of sightings matching every filter: the histogram counts exactly those (the tag and camera facets
 * each leave their own filter out, so their sums are not it). */
export function totalOf(facets: Facets | null | undefined): number | null {
  return facets ? facets.histogram.buckets.reduce((a, b) => a + b.count, 0) : null;
}

export interface Place {
  /** 0-based position in the list. */
  index: number;
  prev: Sighting | null;
  /** null at the end of what is loaded (see `more`). */
  next: Sighting | null;
  /** A next page can be fetched (the sighting is the last loaded one and the cursor says there is more). */
  more: boolean;
  /** "n of N": N is the search's total when known, else the number loaded (with "+" when there is more). */
  label: string;
}

/** Where sighting `id` is in a search's list; null when it is not among the loaded results. */
export function placeIn(r: Results, id: number): Place | null {
  const index = r.items.findIndex((s) => s.id === id);
  if (index < 0) return null;
  const total = totalOf(r.facets);
  const known = total !== null && total >= r.items.length ? String(total) : `${r.items.length}${r.cursor ? "+" : ""}`;
  return {
    index,
    prev: r.items[index - 1] ?? null,
    next: r.items[index + 1] ?? null,
    more: index === r.items.length - 1 && r.cursor !== null,
    label: `${index + 1} of ${known}`,
  };
}

/** Results with a further page appended (a sighting seen twice, as a page boundary may shift, is kept once). */
export function appendPage(r: Results, items: Sighting[], cursor: string | null): Results {
  const seen = new Set(r.items.map((s) => s.id));
  return { ...r, items: [...r.items, ...items.filter((s) => !seen.has(s.id))], cursor };
}

interface KeyLike {
  key: string;
  altKey: boolean;
  ctrlKey: boolean;
  metaKey: boolean;
  shiftKey: boolean;
  defaultPrevented: boolean;
  target: EventTarget | null;
}

/** Elements whose keys are their own: fields take text and arrows, media controls seek with the arrows. */
const OWN_KEYS = new Set(["INPUT", "TEXTAREA", "SELECT", "VIDEO", "AUDIO"]);

/**
 * The step a key press asks for on a sighting page: J or → the next result, K or ← the previous; none with a
 * modifier (the browser's and the system's shortcuts), when something handled it already, or when the focus is
 * in a field, a media element or editable text.
 */
export function stepKey(e: KeyLike): 1 | -1 | 0 {
  if (e.altKey || e.ctrlKey || e.metaKey || e.shiftKey || e.defaultPrevented) return 0;
  const t = e.target as (Partial<HTMLElement> & { tagName?: string }) | null;
  if (t && ((t.tagName && OWN_KEYS.has(t.tagName)) || t.isContentEditable)) return 0;
  switch (e.key) {
    case "j": case "J": case "ArrowRight": return 1;
    case "k": case "K": case "ArrowLeft": return -1;
    default: return 0;
  }
}
