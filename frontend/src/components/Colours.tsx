import { COLOUR_ATTRIBUTES, type Colour, type ColourKey, PALETTE, type SearchState, toggle } from "../lib/query";

/** Swatch colours (what the name looks like, not what the camera recorded). */
const SWATCH: Record<Colour, string> = {
  black: "#111", white: "#f4f4f4", grey: "#8a8a8a", red: "#d33", orange: "#f08a24", yellow: "#f2d230",
  green: "#3a9d4a", blue: "#2f64d6", purple: "#8a4cc2", pink: "#f29ac0", brown: "#7a4b23", beige: "#d9c39a",
};

const NOUN: Record<string, string> = { upper_color: "upper body", lower_color: "lower body", color: "body" };

/** A sighting's named colours in words: "upper body red, lower body blue". */
export function colourWords(colors: Record<string, string> | undefined): string {
  return Object.entries(colors ?? {}).filter(([, c]) => (PALETTE as readonly string[]).includes(c))
    .map(([a, c]) => `${NOUN[a] ?? a} ${c}`).join(", ");
}

/**
 * Colour filters: for each attribute (upper body, lower body, vehicle), a chip per palette colour that this
 * search's results have (with its count) or that is chosen. An attribute nothing has is not shown.
 */
export function ColourFilters({ state, counts, onChange }: {
  state: SearchState; counts: Record<string, Record<string, number>> | undefined;
  onChange(patch: Partial<SearchState>): void;
}) {
  const groups = COLOUR_ATTRIBUTES.map(([key, param, label]) => {
    const n = counts?.[param] ?? {};
    const shown = PALETTE.filter((c) => (n[c] ?? 0) > 0 || state[key].includes(c));
    return { key, param, label, n, shown };
  }).filter((g) => g.shown.length > 0);
  if (!groups.length) return null;
  return (
    <>
      {groups.map(({ key, param, label, n, shown }) => (
        <fieldset data-testid={`colours-${param}`}>
          <legend>{label} colour</legend>
          <div class="chips">
            {shown.map((c) => (
              <button type="button" class="chip" aria-pressed={state[key].includes(c)} data-testid={`${param}-${c}`}
                onClick={() => onChange({ [key]: toggle(state[key as ColourKey], c) } as Partial<SearchState>)}>
                <span class="swatch" style={{ background: SWATCH[c] }} aria-hidden="true" />
                {c}<span class="count" aria-label={`${n[c] ?? 0} sightings`}>{n[c] ?? 0}</span>
              </button>
            ))}
          </div>
        </fieldset>
      ))}
    </>
  );
}

/** A card's colours, as small swatches whose names are read out ("upper body red, lower body blue"). */
export function ColourDots({ colors }: { colors: Record<string, string> | undefined }) {
  const named = Object.entries(colors ?? {}).filter(([, c]) => (PALETTE as readonly string[]).includes(c));
  if (!named.length) return null;
  const words = colourWords(colors);
  return (
    <span class="dots" title={words} data-testid="result-colours">
      {named.map(([a, c]) => <span class="swatch" style={{ background: SWATCH[c as Colour] }} data-attr={a} />)}
      <span class="sr-only">{words}</span>
    </span>
  );
}
