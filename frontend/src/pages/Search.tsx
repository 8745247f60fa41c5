import { useEffect, useRef, useState } from "preact/hooks";
import { api, type Facets, type Sighting } from "../api/client";
import { AuthImg } from "../components/Media";
import { Histogram } from "../components/Histogram";
import { errorMessage, formatConfidence, formatTime, zoneLabel } from "../lib/format";
import {
  decodeStateChecked, emptyState, encodeState, isoToLocalInput, localInputToIso, type SearchState, type Sort, toApiParams, toggle,
} from "../lib/query";
import { linkClick, navigate } from "../lib/router";

const PAGE = 48;

export function SearchPage({ search }: { search: string }) {
  const { state, issues } = decodeStateChecked(search);
  const key = encodeState(state);
  // Parameters of the link that were ignored: shown above the results until the search is changed.
  const [notices, setNotices] = useState<string[]>(issues);
  const normalised = useRef<string | null>(null);
  const [camNames, setCamNames] = useState<Record<number, string>>({});
  const camsFetched = useRef(false);
  const [results, setResults] = useState<Sighting[]>([]);
  const [facets, setFacets] = useState<Facets | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
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
      params: { query: toApiParams(state, { cursor: after, pageSize: PAGE, facets: first }) },
    });
    if (mine !== gen.current) return;
    setLoading(false);
    if (!data) { setError(errorMessage(err, `Search failed (${response.status})`)); return; }
    setResults((r) => (first ? data.results : [...r, ...data.results]));
    if (first) setFacets(data.facets as unknown as Facets | null);
    setCursor(data.next_cursor);
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

  useEffect(() => { setMinConf(state.minConfidence); setResults([]); setCursor(null); load(true, null); }, [key]);

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
  // The number of sightings matching every filter: the histogram counts exactly those (the tag and camera facets
  // each leave their own filter out, so their sums are not it).
  const total = facets ? facets.histogram.buckets.reduce((a, b) => a + b.count, 0) : null;
  const filtered = key !== "" && key !== encodeState({ ...emptyState(), sort: state.sort });
  const clearFilters = () => {
    setNotices([]);
    const q = encodeState({ ...emptyState(), sort: state.sort });
    navigate(q ? `/?${q}` : "/");
  };

  return (
    <div class="search-layout">
      <aside class="filters panel" aria-label="Filters">
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
        <h1 id="results-h">Sightings <span class="muted" aria-live="polite">{total !== null ? `(${total})` : ""}</span></h1>
        {notices.length > 0 && (
          <div class="notice" role="alert" data-testid="url-issues">
            <p>This link had parameters that could not be used:</p>
            <ul>{notices.map((n) => <li>{n}</li>)}</ul>
          </div>
        )}
        {facets && total !== null && total > 0 && (
          <Histogram buckets={facets.histogram.buckets} intervalS={facets.histogram.interval_s} start={state.start}
            end={state.end} onRange={(r) => update(r)} />
        )}
        {error && <p class="error" role="alert">{error}</p>}
        <ul class="grid" data-testid="results">
          {results.map((s) => (
            <li key={s.id}>
              <a class="card" href={`/sightings/${s.id}${key ? `?${key}` : ""}`} onClick={linkClick}
                data-confidence={s.confidence} data-testid="result">
                <div class="thumb"><AuthImg src={s.thumbnail_url} alt={`${s.tag} on ${s.camera.name}`} /></div>
                <div class="meta">
                  <CardTime iso={s.best_time} />
                  <span>{s.tag}</span><span class="conf">{formatConfidence(s.confidence)}</span>
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

/** The sighting's time, whole: date, time (tabular digits) and the browser's zone name. */
function CardTime({ iso }: { iso: string }) {
  const [date, time] = formatTime(iso).split(" ");
  return (
    <time class="when" dateTime={iso} data-testid="result-time">
      <span>{date}</span> <span>{time}</span> <span class="tz">{zoneLabel(iso)}</span>
    </time>
  );
}
