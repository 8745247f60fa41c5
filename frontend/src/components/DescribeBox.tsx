import { useState } from "preact/hooks";
import { type Described, describe, summary, understoodAnything, withDescription } from "../lib/describe";
import { emptyState, encodeState, type SearchState } from "../lib/query";

/** The label and colour filters of a search, as a key (what the box replaces). */
const filterKey = ({ tags, upperColors, lowerColors, colors }: SearchState) =>
  encodeState({ ...emptyState(), tags, upperColors, lowerColors, colors });

/**
 * "Describe": free text ("person in a red top", "white van") read into the label and colour filters, which then
 * hold the search (the URL, the chips); every other filter stays. The text stays in the box. What was understood,
 * what was not and what could not be used is said under it (a live region) while the filters are those it set.
 */
export function DescribeBox({ state, onApply }: { state: SearchState; onApply(next: SearchState): void }) {
  const [text, setText] = useState("");
  const [read, setRead] = useState<{ d: Described; key: string } | null>(null);
  const submit = (e: Event) => {
    e.preventDefault();
    if (!text.trim()) { setRead(null); return; }
    const d = describe(text);
    const next = understoodAnything(d) ? withDescription(state, d) : state;
    setRead({ d, key: filterKey(next) });
    if (filterKey(next) !== filterKey(state)) onApply(next);
  };
  const shown = read && read.key === filterKey(state) ? read.d : null;
  return (
    <form class="describe" role="search" aria-label="Describe what was seen" onSubmit={submit} data-testid="describe">
      <label for="describe-text">Describe</label>
      <div class="row">
        <input id="describe-text" type="search" enterkeyhint="search" autocomplete="off" value={text}
          placeholder="e.g. person in a red top and blue jeans, white van" aria-describedby="describe-said"
          onInput={(e) => setText(e.currentTarget.value)} />
        <button type="submit">Find</button>
      </div>
      <div id="describe-said" class="describe-said" aria-live="polite" data-testid="describe-said">
        {shown && (understoodAnything(shown)
          ? <p data-testid="describe-understood">Searching for: {summary(shown)}</p>
          : <p>Nothing understood: the filters are unchanged.</p>)}
        {shown && shown.unknown.length > 0 && (
          <p class="warn" data-testid="describe-unknown">Not understood: {shown.unknown.join(", ")}</p>
        )}
        {shown && shown.unused.length > 0 && (
          <p class="warn" data-testid="describe-unused">Not used: {shown.unused.join("; ")}</p>
        )}
      </div>
    </form>
  );
}
