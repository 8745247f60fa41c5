/**
 * Where a sighting stands in the results of the search it was opened from, for Previous/Next: the list the grid
 * loaded (``results.ts``), else the search run here until the sighting is found; its place ("n of N"), the next
 * page fetched when the last loaded result is reached, and the keyboard (J/K, arrows) stepping through it.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { api, type Facets, type Sighting } from "../api/client";
import { decodeState, toApiParams } from "./query";
import { appendPage, PAGE_SIZE, placeIn, results as kept, type Results, stepKey } from "./results";
import { navigate } from "./router";

/** Pages of its search looked through for a sighting opened without its list (a shared link, a new tab). */
const FIND_PAGES = 4;

/** One more page of the search `qs` after what `r` holds (kept for the grid too); null when it failed. */
async function nextPage(qs: string, r: Results, facets: boolean): Promise<Results | null> {
  const { data } = await api.GET("/api/v1/search/", {
    params: { query: toApiParams(decodeState(qs), { cursor: r.cursor, pageSize: PAGE_SIZE, facets }) },
  });
  if (!data) return null;
  const now = facets ? { ...r, facets: data.facets as unknown as Facets | null } : r;
  return appendPage(now, data.results, data.next_cursor);
}

/**
 * The list sighting `id` is stepped through in: the search of the page's URL (the default search without one),
 * as its grid loaded it; opened without it, the search is run here, page after page, until the sighting is found
 * (null when it is not among the first {@link FIND_PAGES} pages: no Previous/Next then).
 */
async function listFor(qs: string, id: number): Promise<Results | null> {
  let r: Results | null = {
    items: [], cursor: null, facets: null, scrollY: 0, opened: null, focus: id, restore: false,
  };
  for (let page = 0; page < FIND_PAGES && r && (page === 0 || r.cursor); page++) {
    r = await nextPage(qs, r, page === 0);
    if (r && placeIn(r, id)) { kept.put(qs, r); return r; }
  }
  return null;
}


export function useResultsPlace(id: number, qs: string, linkTo: (s: Sighting) => string) {
  // The search's list, this sighting's place in it (null: not found, undefined: still looking).
  const [list, setList] = useState<Results | null | undefined>(undefined);
  const prevEl = useRef<HTMLAnchorElement>(null);
  const nextEl = useRef<HTMLAnchorElement>(null);
  const place = list ? placeIn(list, id) : null;
  const placeNow = useRef(place);
  placeNow.current = place;

  // Where this sighting is in its search's list: the grid's, else looked up (a step keeps the list it has).
  useEffect(() => {
    const r = kept.get(qs);
    if (r && placeIn(r, id)) { setList(r); return; }
    if (list && placeIn(list, id)) return;
    let live = true;
    setList(undefined);
    listFor(qs, id).then((x) => { if (live) setList(x); }).catch(() => { if (live) setList(null); });
    return () => { live = false; };
  }, [id, qs]);

  // The grid, when it comes back, shows the pages loaded here and this card focused.
  useEffect(() => { if (place) kept.patch(qs, { focus: id, restore: true }); }, [id, qs, !!place]);

  // At the last loaded result, fetch the next page so that Next has somewhere to go (once per cursor; kept for the
  // grid even if the officer has stepped back meanwhile).
  const extending = useRef<string | null>(null);
  const qsNow = useRef(qs);
  qsNow.current = qs;
  useEffect(() => {
    if (!list || !place?.more || extending.current === list.cursor) return;
    const forQs = qs;
    extending.current = list.cursor;
    nextPage(forQs, list, false).then((x) => {
      if (!x) return;
      const had = kept.get(forQs);
      const now = had ? { ...had, items: x.items, cursor: x.cursor } : x;
      kept.put(forQs, now);
      if (qsNow.current === forQs) setList(now);
    }).catch(() => undefined).finally(() => { extending.current = null; });
  }, [list, place?.more]);

  /** Show the previous (-1) or next (1) result in place of this one: the history entry is replaced (Back goes to
   * the grid, not through every step) and the scroll position kept, so the control stays where the eye is. */
  const step = (d: 1 | -1): boolean => {
    const to = d > 0 ? placeNow.current?.next : placeNow.current?.prev;
    if (!to) return false;
    navigate(linkTo(to), { replace: true, state: history.state, scroll: false });
    return true;
  };

  // J/K and the arrows step too, and then focus the control, so Enter goes on in the same direction.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const d = stepKey(e);
      if (!d || !step(d)) return;
      e.preventDefault();
      (d > 0 ? nextEl : prevEl).current?.focus();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [qs]);

  return { list, place, prevEl, nextEl };
}
