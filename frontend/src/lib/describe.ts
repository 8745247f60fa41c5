/**
 * The Search page's "Describe" box: what an officer types ("person in a red top and blue jeans", "white van")
 * read into the page's own filters (tags, `upper_color`, `lower_color`, `color`), so the URL still holds the
 * whole search and the chips show what was understood. Pure: no DOM, no API.
 *
 * Rules:
 * - **Colours**: the analysis palette (`PALETTE`), plus gray, silver → grey; violet, lilac, lavender → purple;
 *   navy → blue; maroon, burgundy → red; tan, cream, khaki → beige. "dark", "light", "pale", "bright", "deep"
 *   are ignored before a colour ("dark red" is searched as red); one with no colour is not understood.
 * - **Garments** take the colours right before them (only "and"/"or", commas and those modifiers between):
 *   jacket, coat, shirt, t-shirt, top, hoodie, sweater, jumper, vest, blouse, cardigan… → `upper_color`;
 *   trousers, pants, jeans, shorts, skirt, leggings… → `lower_color`; a dress → `upper_color` (its skirt may
 *   end above the lower-body region); a suit or tracksuit → both. Any garment means a person.
 * - **Objects**: person, people, man, woman, child… → `person`; car, taxi → `car`; van → `car` and `truck`
 *   (COCO has no van; the detector calls one either, and several tags match any of them); truck, lorry →
 *   `truck`; bus, coach → `bus`; motorbike, motorcycle, moped → `motorcycle`; bike, bicycle, cyclist → `bicycle`;
 *   vehicle → the four vehicle labels. A colour right before a vehicle → `color`; before a person → `upper_color`.
 * - **A colour not before a garment or object** ("man in red") belongs to the nearest object before it, else
 *   the one after it, else a person: a person's colour with no garment is `upper_color`.
 * - **Not used** (reported, never a filter): a bicycle's colour (only people and cars, trucks, buses and
 *   motorcycles have colours); a vehicle's colour together with a person's (one sighting never has both, so
 *   the colours of the kind named first are kept).
 * - **Not understood**: any other word, with the colours right before it ("red cap"); its colours are not used.
 *   Small words ("a", "in", "with", "wearing"…) carry nothing and are skipped. Plurals are read as singulars.
 */
import { type Colour, PALETTE, type SearchState } from "./query";

type Attr = "upperColors" | "lowerColors" | "colors";
type Kind = "person" | "vehicle" | "bicycle";

export interface Described {
  tags: string[];
  upperColors: Colour[];
  lowerColors: Colour[];
  colors: Colour[];
  /** Words (or phrases: "red cap") that were not understood, as typed, in order. */
  unknown: string[];
  /** What was understood but cannot be a filter, and why ("red bicycle: bicycles have no colour to search"). */
  unused: string[];
}

const SYNONYMS: Record<string, Colour> = {
  gray: "grey", silver: "grey", violet: "purple", lilac: "purple", lavender: "purple", navy: "blue",
  maroon: "red", burgundy: "red", tan: "beige", cream: "beige", khaki: "beige",
};
const COLOURS: Record<string, Colour> = { ...Object.fromEntries(PALETTE.map((c) => [c, c])), ...SYNONYMS };
const MODIFIERS = new Set(["dark", "light", "pale", "bright", "deep"]);
const CONNECTORS = new Set(["and", "or"]);
const FILLERS = new Set(["a", "an", "the", "in", "with", "wearing", "wears", "wore", "dressed", "on", "of", "some",
  "is", "was", "are", "were", "who", "that", "has", "had", "having", "at", "by", "riding", "driving", "colour",
  "color", "coloured", "colored", "looking", "for", "find", "show", "me", "any", "all", "his", "her", "their"]);
const GARMENTS: Record<string, Attr[]> = {};
for (const w of ["jacket", "coat", "shirt", "tshirt", "top", "hoodie", "hoody", "sweater", "sweatshirt", "jumper",
  "vest", "blouse", "cardigan", "fleece", "blazer", "anorak", "parka", "gilet", "jersey", "polo", "dress"]) {
  GARMENTS[w] = ["upperColors"];
}
for (const w of ["trousers", "pants", "jeans", "shorts", "skirt", "leggings", "joggers", "chinos", "slacks",
  "bottoms"]) GARMENTS[w] = ["lowerColors"];
for (const w of ["suit", "tracksuit"]) GARMENTS[w] = ["upperColors", "lowerColors"];
const VEHICLES = ["car", "truck", "bus", "motorcycle"];
const OBJECTS: Record<string, { kind: Kind; tags: string[] }> = {};
const obj = (kind: Kind, tags: string[], words: string[]) => { for (const w of words) OBJECTS[w] = { kind, tags }; };
obj("person", ["person"], ["person", "people", "man", "men", "woman", "women", "pedestrian", "child", "children",
  "kid", "boy", "girl", "guy", "lady", "male", "female", "someone", "somebody"]);
obj("vehicle", ["car"], ["car", "taxi", "cab", "suv"]);
obj("vehicle", ["car", "truck"], ["van"]);
obj("vehicle", ["truck"], ["truck", "lorry", "pickup", "hgv"]);
obj("vehicle", ["bus"], ["bus", "coach"]);
obj("vehicle", ["motorcycle"], ["motorbike", "motorcycle", "moped"]);
obj("vehicle", VEHICLES, ["vehicle"]);
obj("bicycle", ["bicycle"], ["bike", "bicycle", "cyclist", "pushbike"]);

const known = (w: string) => w in COLOURS || MODIFIERS.has(w) || CONNECTORS.has(w) || FILLERS.has(w)
  || w in GARMENTS || w in OBJECTS;
/** The word as the tables have it: itself, else its singular ("lorries" → "lorry", "buses" → "bus"). */
function lemma(w: string): string {
  if (known(w)) return w;
  for (const s of [w.endsWith("ies") ? `${w.slice(0, -3)}y` : "", w.endsWith("es") ? w.slice(0, -2) : "",
    w.endsWith("s") ? w.slice(0, -1) : ""]) if (s && known(s)) return s;
  return w;
}

/** Lower-cased words; "t-shirt", "t shirt" and "tee" become "tshirt", a possessive "'s" goes. */
export function words(text: string): string[] {
  return text.toLowerCase().replace(/\bt[\s-]?shirts?\b|\btees?\b/g, "tshirt").replace(/['’]s\b/g, "")
    .split(/[^\p{L}\p{N}]+/u).filter(Boolean);
}

interface Binding { attrs: Attr[]; kind: Kind; colours: Colour[]; said: string; at: number }

export function describe(text: string): Described {
  const tags: string[] = [];
  const unknown: string[] = [];
  const unused: string[] = [];
  const subjects: { kind: Kind; tags: string[]; word: string; at: number }[] = [];
  const bound: Binding[] = [];
  const loose: { colours: Colour[]; said: string; at: number }[] = [];
  let run: string[] = []; // the colours and modifiers since the last word of another kind, as typed
  let lastUnknown = -2;
  const runColours = () => [...new Set(run.filter((w) => w in COLOURS).map((w) => COLOURS[w]))];
  const bindTo = (attrs: Attr[], kind: Kind, noun: string, at: number) => {
    const colours = runColours();
    if (colours.length) bound.push({ attrs, kind, colours, said: `${run.join(" ")} ${noun}`, at });
    else if (run.length) unknown.push(run.join(" "));
    run = [];
  };
  const flush = (at: number) => {
    const colours = runColours();
    if (colours.length) loose.push({ colours, said: run.join(" "), at });
    else if (run.length) unknown.push(run.join(" "));
    run = [];
  };
  const ws = words(text);
  ws.forEach((raw, i) => {
    const w = lemma(raw);
    if (w in COLOURS || MODIFIERS.has(w)) run.push(raw);
    else if (CONNECTORS.has(w)) { /* "red and white": the run goes on */ }
    else if (w in GARMENTS) {
      subjects.push({ kind: "person", tags: ["person"], word: raw, at: i });
      bindTo(GARMENTS[w], "person", raw, i);
    } else if (w in OBJECTS) {
      const o = OBJECTS[w];
      subjects.push({ ...o, word: raw, at: i });
      bindTo(o.kind === "vehicle" ? ["colors"] : ["upperColors"], o.kind, raw, i);
    } else if (FILLERS.has(w)) flush(i);
    else {
      const phrase = [...run, raw].join(" ");
      if (lastUnknown === i - 1 && !run.length) unknown[unknown.length - 1] += ` ${raw}`;
      else unknown.push(phrase);
      lastUnknown = i;
      run = [];
    }
  });
  flush(ws.length);
  for (const l of loose) {
    const before = subjects.filter((s) => s.at < l.at).pop();
    const s = before ?? subjects.find((x) => x.at > l.at);
    if (!s) subjects.push({ kind: "person", tags: ["person"], word: "person", at: ws.length });
    const kind = s?.kind ?? "person";
    bound.push({ attrs: kind === "vehicle" ? ["colors"] : ["upperColors"], kind, colours: l.colours,
      said: s ? `${l.said} (${s.word})` : l.said, at: l.at });
  }
  for (const s of subjects) tags.push(...s.tags);
  const out: Described = { tags: [...new Set(tags)], upperColors: [], lowerColors: [], colors: [], unknown, unused };
  // One sighting has a person's colours or a vehicle's, never both: the kind whose colour was named first wins.
  const first = [...bound].sort((a, b) => a.at - b.at).find((b) => b.kind !== "bicycle")?.kind;
  for (const b of bound) {
    if (b.kind === "bicycle") unused.push(`${b.said}: bicycles have no colour to search`);
    else if (b.kind !== first) {
      unused.push(`${b.said}: a ${b.kind}'s colour cannot be searched with a ${first}'s`);
    } else for (const a of b.attrs) out[a] = [...new Set([...out[a], ...b.colours])];
  }
  return out;
}

/** Anything to search for: a tag or a colour (a box of only unknown words, or an empty one, changes nothing). */
export const understoodAnything = (d: Described) =>
  d.tags.length + d.upperColors.length + d.lowerColors.length + d.colors.length > 0;

/** The search with its label and colour filters replaced by the description's, every other filter kept. */
export function withDescription(state: SearchState, d: Described): SearchState {
  return { ...state, tags: d.tags, upperColors: d.upperColors, lowerColors: d.lowerColors, colors: d.colors };
}

/** What was understood, in words: "person; upper body red; lower body blue". */
export function summary(d: Described): string {
  const parts = [d.tags.join(" or ")];
  if (d.upperColors.length) parts.push(`upper body ${d.upperColors.join(" or ")}`);
  if (d.lowerColors.length) parts.push(`lower body ${d.lowerColors.join(" or ")}`);
  if (d.colors.length) parts.push(`colour ${d.colors.join(" or ")}`);
  return parts.filter(Boolean).join("; ");
}
