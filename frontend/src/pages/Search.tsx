import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { api, type Facets, type Sighting } from "../api/client";
import { AuthImg } from "../components/Media";
import { CardTime } from "../components/CardTime";
import { ColourDots, ColourFilters } from "../components/Colours";
import { DescribeBox } from "../components/DescribeBox";
import { Histogram } from "../components/Histogram";
import { errorMessage, formatConfidence } from "../lib/format";
import {
  decodeStateChecked, emptyState, encodeState, isoToLocalInput, localInputToIso, type SearchState, type Sort, toApiParams, toggle,
} from "../lib/query";
import { results as kept, appendPage, PAGE_SIZE, totalOf } from "../lib/results";
import { linkClickWith, navigate } from "../lib/router";

/** The results' heading: "Skip to results" lands there when there is no result card to focus. */
const RESULTS_HEADING = "results-h";

/** What a sighting page opened from the grid finds in its history entry (Back to results then goes back). */
export interface FromResults { fromResults: string }

export function SearchPage({ search }: { search: string }) {
  const { state, issues } = decodeStateChecked(search);
  const key = encodeState(state);
  // Parameters of the link that were ignored: shown above the results until the search is changed.
  const [notices, setNotices] = useState<string[]>(issues);
  const normalised = useRef<string | null>(null);
  const [camNames, setCamNames] = useState<Record<number, string>>({});
  const camsFetched = useRef(false);
  // Back from a sighting opened here (the link or the browser's): the grid as it was left, its pages loaded,
  // scrolled where it was, the card opened (or stepped to) focused. Anything else is a new search.
  const [back] = useState(() => kept.takeRestore(key));
  const shown = useRef(back ? key : null);
  const [results, setResults] = useState<Sighting[]>(back?.items ?? []);
  const [facets, setFacets] = useState<Facets | null>(back?.facets ?? null);
  const [cursor, setCursor] = useState<string | null>(back?.cursor ?? null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [filtersOpen, setFiltersOpen] = useState(false);
  const [minConf, setMinConf] = useState(state.minConfidence);
  const gen = useRef(0);
  const sentinel = useRef<HTMLDivElement>(null);

  const update = (patch: Partial<SearchState>) => {
    setNotices([]);
    const q = encodeState({ ...state, ...patch });
    navigate(q ? `/?${q}` : "/", { replace: false });
  };

  async function load(first: boolean, after: string | null) {
    const mine = first ? ++gen.current : gen.current;
    setLoading(true);
    setError(null);
    const { data, error: err, response } = await api.GET("/api/v1/search/", {
      params: { query: toApiParams(state, { cursor: after, pageSize: PAGE_SIZE, facets: first }) },
    });
    if (mine !== gen.current) return;
    setLoading(false);
    if (!data) { setError(errorMessage(err, `Search failed (${response.status})`)); return; }
    // Kept for the sighting pages opened from here (Previous/Next) and for coming back (Back).
    const had = kept.get(key);
    const now = first || !had
      ? { items: data.results, cursor: data.next_cursor, facets: data.facets as unknown as Facets | null, scrollY: 0,
        opened: null, focus: null, restore: false }
      : appendPage(had, data.results, data.next_cursor);
    kept.put(key, now);
    setResults(now.items);
    if (first) setFacets(now.facets);
    setCursor(now.cursor);
  }

  // A link with bad parameters: say which were ignored and show the URL of the search actually run.
  useEffect(() => {
    if (issues.length) {
      setNotices(issues);
      normalised.current = key;
      navigate(key ? `/?${key}` : "/", { replace: true });
    } else if (normalised.current !== key) {
      setNotices([]);
      normalised.current = null;
    }
  }, [search]);

  useEffect(() => {
    setMinConf(state.minConfidence);
    if (shown.current === key) return;
    shown.current = key;
    setResults([]); setCursor(null); load(true, null);
  }, [key]);

  // Put the grid back where it was, before it is painted (the app has just scrolled to the top). The card stepped
  // to from the one opened, or found for a sighting opened on its own, is scrolled into view if need be.
  useLayoutEffect(() => {
    if (!back) return;
    window.scrollTo(0, back.scrollY);
    const card = back.focus == null ? null
      : document.querySelector<HTMLElement>(`[data-testid=result][data-id="${back.focus}"]`);
    if (!card) return;
    card.focus({ preventScroll: true });
    if (back.focus === back.opened) return;
    const r = card.getBoundingClientRect();
    const top = document.querySelector("header.top")?.getBoundingClientRect().bottom ?? 0; // sticky
    if (r.top < top - 1 || r.bottom > window.innerHeight + 1) card.scrollIntoView({ block: "nearest" });
  }, []);

  /** A card opened here: remember where the grid was (read before the navigation scrolls to the top). */
  const open = (id: number) => (e: MouseEvent) => {
    const scrollY = window.scrollY;
    linkClickWith({ state: { fromResults: key } satisfies FromResults })(e);
    if (e.defaultPrevented) kept.patch(key, { restore: true, opened: id, focus: id, scrollY });
  };

  // Infinite scroll: load the next page when the sentinel below the grid comes into view.
  useEffect(() => {
    const el = sentinel.current;
    if (!el || !cursor || loading) return;
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) { io.disconnect(); load(false, cursor); }
    }, { rootMargin: "600px" });
    io.observe(el);
    return () => io.disconnect();
  }, [cursor, loading, key]);

  const tagCounts = facets?.tags ?? {};
  const tags = [...new Set([...Object.keys(tagCounts), ...state.tags])];
  const facetCams = facets?.cameras ?? [];
  const camIds = new Set(facetCams.map((c) => c.id));
  const missingCams = state.cameras.filter((id) => !camIds.has(id));
  // Selected cameras stay in the list at 0 (the facets name only cameras with results): their names come from
  // the cameras API, fetched once when needed.
  useEffect(() => {
    if (camsFetched.current || !missingCams.some((id) => !camNames[id])) return;
    camsFetched.current = true;
    api.GET("/api/v1/cameras/").then(({ data }) => {
      if (data) setCamNames(Object.fromEntries(data.map((c) => [c.id, c.name])));
    });
  }, [missingCams.join(",")]);
  const cams = [...facetCams, ...missingCams.map((id) => ({ id, name: camNames[id] ?? "", count: 0 }))];
  const total = totalOf(facets);
  const activeFilters = state.tags.length + state.cameras.length + state.upperColors.length + state.lowerColors.length
    + state.colors.length + (state.start || state.end ? 1 : 0) + (state.minConfidence !== emptyState().minConfidence ? 1 : 0);
  const filtered = key !== "" && key !== encodeState({ ...emptyState(), sort: state.sort });
  const clearFilters = () => {
    setNotices([]);
    const q = encodeState({ ...emptyState(), sort: state.sort });
    navigate(q ? `/?${q}` : "/");
  };

  return (
    <div class="search-layout">
      {/* First in the page (after the app's own "Skip to content"): past the filters and the histogram's controls
          to the first card (the heading when there is none), without a history entry for the fragment. */}
      <a class="skip" href={`#${RESULTS_HEADING}`} onClick={(e) => {
        e.preventDefault();
        const first = document.querySelector<HTMLElement>("[data-testid=result]");
        (first ?? document.getElementById(RESULTS_HEADING))?.focus();
      }}>Skip to results</a>
      <aside class="filters panel" aria-label="Filters" id="filters" data-open={filtersOpen ? "" : undefined}>
        <fieldset>
          <legend>Objects</legend>
          <div class="chips">
            {tags.length === 0 && <span class="muted">none found</span>}
            {tags.map((t) => (
              <button type="button" class="chip" aria-pressed={state.tags.includes(t)}
                onClick={() => update({ tags: toggle(state.tags, t) })} data-testid={`tag-${t}`}>
                {t}<span class="count" aria-label={`${tagCounts[t] ?? 0} sightings`}>{tagCounts[t] ?? 0}</span>
              </button>
            ))}
          </div>
        </fieldset>
        <fieldset>
          <legend>Cameras</legend>
          <ul class="camlist">
            {cams.map((c) => (
              <li><label>
                <input type="checkbox" checked={state.cameras.includes(c.id)}
                  onChange={() => update({ cameras: toggle(state.cameras, c.id) })} />
                {c.name || `Camera ${c.id}`}<span class="count">{c.count}</span>
              </label></li>
            ))}
            {cams.length === 0 && state.cameras.length === 0 && <li class="muted">none</li>}
          </ul>
        </fieldset>
        <ColourFilters state={state} counts={facets?.colors} onChange={update} />
        <div class="field">
          <label for="f-start">From</label>
          <input id="f-start" type="datetime-local" step="1" value={isoToLocalInput(state.start)}
            onChange={(e) => update({ start: localInputToIso(e.currentTarget.value) })} />
        </div>
        <div class="field">
          <label for="f-end">Until</label>
          <input id="f-end" type="datetime-local" step="1" value={isoToLocalInput(state.end)}
            onChange={(e) => update({ end: localInputToIso(e.currentTarget.value) })} />
        </div>
        {(state.start || state.end) && (
          <button type="button" onClick={() => update({ start: null, end: null })}>Clear time range</button>
        )}
        <div class="field">
          <label for="f-conf">Minimum confidence: <output for="f-conf">{formatConfidence(minConf)}</output></label>
          <input id="f-conf" type="range" min="0" max="1" step="0.05" value={minConf}
            onInput={(e) => setMinConf(Number(e.currentTarget.value))}
            onChange={(e) => update({ minConfidence: Number(e.currentTarget.value) })} />
        </div>
        <div class="field">
          <label for="f-sort">Order</label>
          <select id="f-sort" value={state.sort} onChange={(e) => update({ sort: e.currentTarget.value as Sort })}>
            <option value="-confidence">Most confident first</option>
            <option value="-time">Newest first</option>
            <option value="time">Oldest first</option>
          </select>
        </div>
      </aside>
      <section aria-labelledby="results-h">
        <DescribeBox state={state} onApply={(next) => update(next)} />
        <div class="results-head">
          <h1 id={RESULTS_HEADING} tabIndex={-1}>Sightings <span class="muted" aria-live="polite">{total !== null ? `(${total})` : ""}</span></h1>
          {/* Narrow screens: the filters are a drawer opened from here, so the results get the screen. */}
          <button type="button" class="filters-toggle" aria-expanded={filtersOpen} aria-controls="filters"
            onClick={() => setFiltersOpen(!filtersOpen)} data-testid="filters-toggle">
            {filtersOpen ? "Hide filters" : `Filters${activeFilters ? ` (${activeFilters})` : ""}`}
          </button>
        </div>
        {notices.length > 0 && (
          <div class="notice" role="alert" data-testid="url-issues">
            <p>This link had parameters that could not be used:</p>
            <ul>{notices.map((n) => <li>{n}</li>)}</ul>
          </div>
        )}
        {facets && total !== null && (total > 0 || state.start || state.end) && (
          <Histogram buckets={facets.histogram.buckets} intervalS={facets.histogram.interval_s} start={state.start}
            end={state.end} onRange={(r) => update(r)} />
        )}
        {error && <p class="error" role="alert">{error}</p>}
        <ul class="grid" data-testid="results">
          {results.map((s) => (
            <li key={s.id}>
              <a class="card" href={`/sightings/${s.id}${key ? `?${key}` : ""}`} onClick={open(s.id)}
                data-confidence={s.confidence} data-id={s.id} data-testid="result">
                <div class="thumb"><AuthImg src={s.thumbnail_url} alt={`${s.tag} on ${s.camera.name}`} /></div>
                <div class="meta">
                  <CardTime start={s.start} end={s.end} windowStart={state.start} />
                  <span>{s.tag}<ColourDots colors={s.colors} /></span><span class="conf">{formatConfidence(s.confidence)}</span>
                  <span class="cam" title={s.camera.name} data-testid="result-camera">{s.camera.name}</span>
                </div>
              </a>
            </li>
          ))}
        </ul>
        {!loading && !error && results.length === 0 && (
          <div class="empty" data-testid="empty">
            <p class="muted">No sightings match these filters.</p>
            {filtered && <button type="button" onClick={clearFilters}>Clear filters</button>}
          </div>
        )}
        {loading && <p class="muted" aria-live="polite">Loading…</p>}
        <div ref={sentinel} class="sentinel" />
      </section>
    </div>
  );
}
