/** Search query state <-> URL query string (shareable links) <-> API parameters. */

export type Sort = "-confidence" | "-time" | "time";
export const SORTS: readonly Sort[] = ["-confidence", "-time", "time"];
export const DEFAULT_MIN_CONFIDENCE = 0.5;
const TAG_RE = /^[a-z][a-z0-9 _-]{0,31}$/;

/** The named colours analysis gives people (upper, lower body) and vehicles (body): the API's palette. */
export const PALETTE = ["black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink",
  "brown", "beige"] as const;
export type Colour = (typeof PALETTE)[number];
/** The colour attributes, their URL/API parameter names and what the page calls them. */
export const COLOUR_ATTRIBUTES = [["upperColors", "upper_color", "Upper body"], ["lowerColors", "lower_color", "Lower body"],
  ["colors", "color", "Vehicle"]] as const;
export type ColourKey = (typeof COLOUR_ATTRIBUTES)[number][0];

export interface SearchState {
  tags: string[];
  cameras: number[];
  upperColors: Colour[];
  lowerColors: Colour[];
  colors: Colour[];
  start: string | null; // ISO 8601 (UTC, "Z")
  end: string | null;
  minConfidence: number;
  sort: Sort;
}

export const emptyState = (): SearchState => ({
  tags: [], cameras: [], upperColors: [], lowerColors: [], colors: [], start: null, end: null,
  minConfidence: DEFAULT_MIN_CONFIDENCE, sort: "-confidence",
});

function isoOrNull(value: string | null): string | null {
  if (!value) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

const uniq = <T,>(xs: T[]): T[] => [...new Set(xs)];

/** Reads the state from a query string; anything invalid falls back to its default instead of failing. */
export function decodeState(search: string | URLSearchParams): SearchState {
  return decodeStateChecked(search).state;
}

/** Like {@link decodeState}, with one message for each parameter that was ignored (or partly ignored). */
export function decodeStateChecked(search: string | URLSearchParams): { state: SearchState; issues: string[] } {
  const p = typeof search === "string" ? new URLSearchParams(search) : search;
  const s = emptyState();
  const issues: string[] = [];
  const rawTags = p.getAll("tag").map((t) => t.trim().toLowerCase());
  const badTags = rawTags.filter((t) => !TAG_RE.test(t));
  if (badTags.length) {
    issues.push(`tag must be a lower-case label such as person or car: ${badTags.map((t) => `"${t}"`).join(", ")} ignored`);
  }
  s.tags = uniq(rawTags.filter((t) => TAG_RE.test(t)));
  const rawCams = p.getAll("camera");
  const camOk = (c: string) => /^\d+$/.test(c.trim()) && Number(c) >= 1;
  const badCams = rawCams.filter((c) => !camOk(c));
  if (badCams.length) {
    issues.push(`camera must be a camera number (1 or more): ${badCams.map((c) => `"${c}"`).join(", ")} ignored`);
  }
  s.cameras = uniq(rawCams.filter(camOk).map(Number));
  for (const [key, param] of COLOUR_ATTRIBUTES) {
    const raw = p.getAll(param).map((c) => c.trim().toLowerCase());
    const bad = raw.filter((c) => !(PALETTE as readonly string[]).includes(c));
    if (bad.length) issues.push(`${param} must be one of ${PALETTE.join(", ")}: ${bad.map((c) => `"${c}"`).join(", ")} ignored`);
    s[key] = uniq(raw.filter((c): c is Colour => (PALETTE as readonly string[]).includes(c)));
  }
  for (const key of ["start", "end"] as const) {
    const raw = p.get(key);
    s[key] = isoOrNull(raw);
    if (raw !== null && raw.trim() !== "" && s[key] === null) {
      issues.push(`${key} must be a date and time such as 2024-05-01T12:00:00Z: ignored`);
    }
  }
  if (s.start && s.end && Date.parse(s.end) <= Date.parse(s.start)) {
    issues.push("end must be after start: end ignored");
    s.end = null;
  }
  const mc = p.get("min_confidence");
  if (mc !== null) {
    const n = Number(mc);
    if (mc.trim() !== "" && Number.isFinite(n) && n >= 0 && n <= 1) s.minConfidence = n;
    else issues.push("min_confidence must be a number between 0 and 1: ignored");
  }
  const sort = p.get("sort");
  if (sort !== null) {
    if ((SORTS as readonly string[]).includes(sort)) s.sort = sort as Sort;
    else issues.push(`sort must be one of ${SORTS.join(", ")}: ignored`);
  }
  return { state: s, issues };
}

/** Query string for the UI's URL: defaults are left out so links stay short; order is stable. */
export function encodeState(s: SearchState): string {
  const p = new URLSearchParams();
  for (const t of s.tags) p.append("tag", t);
  for (const c of s.cameras) p.append("camera", String(c));
  for (const [key, param] of COLOUR_ATTRIBUTES) for (const c of s[key]) p.append(param, c);
  if (s.start) p.set("start", s.start);
  if (s.end) p.set("end", s.end);
  if (s.minConfidence !== DEFAULT_MIN_CONFIDENCE) p.set("min_confidence", String(s.minConfidence));
  if (s.sort !== "-confidence") p.set("sort", s.sort);
  return p.toString();
}

export interface SearchParams {
  tag?: string[];
  camera?: number[];
  upper_color?: Colour[];
  lower_color?: Colour[];
  color?: Colour[];
  start?: string;
  end?: string;
  min_confidence: number;
  sort: Sort;
  cursor?: string;
  page_size?: number;
  facets?: boolean;
}

/** Parameters for GET /api/v1/search/ (min_confidence is always sent: the API's default is 0). */
export function toApiParams(s: SearchState, extra: { cursor?: string | null; pageSize?: number; facets?: boolean } = {}):
SearchParams {
  const q: SearchParams = { min_confidence: s.minConfidence, sort: s.sort };
  if (s.tags.length) q.tag = s.tags;
  if (s.cameras.length) q.camera = s.cameras;
  for (const [key, param] of COLOUR_ATTRIBUTES) if (s[key].length) q[param] = s[key];
  if (s.start) q.start = s.start;
  if (s.end) q.end = s.end;
  if (extra.cursor) q.cursor = extra.cursor;
  if (extra.pageSize) q.page_size = extra.pageSize;
  if (extra.facets === false) q.facets = false;
  return q;
}

export function toggle<T>(xs: T[], x: T): T[] {
  return xs.includes(x) ? xs.filter((y) => y !== x) : [...xs, x];
}

/** `<input type="datetime-local">` value (local wall time) for an ISO instant, and back. */
export function isoToLocalInput(iso: string | null): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`
    + (d.getSeconds() ? `:${pad(d.getSeconds())}` : "");
}

export function localInputToIso(value: string): string | null {
  if (!value) return null;
  const d = new Date(value); // no zone designator: parsed as local time
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}
