import { describe, expect, it } from "vitest";
import {
  chooseEngine, type LiveAnswer, liveError, type LiveState, playerError, playlistUrl, RETRY_MAX_MS, RETRY_MIN_MS,
  retryAfterMs, waitForPlaylist,
} from "./liveview";
import type { Clock } from "./playback";

/** A clock whose timers run only when told. */
function fakeClock() {
  let next = 1;
  const timers = new Map<number, { fn: () => void; ms: number }>();
  const clock: Clock = {
    setTimeout: (fn, ms) => { const id = next++; timers.set(id, { fn, ms }); return id; },
    clearTimeout: (id) => { timers.delete(id as number); },
  };
  return {
    clock,
    pending: () => [...timers.values()].map((t) => t.ms),
    fire() { const [id, t] = [...timers.entries()][0]; timers.delete(id); t.fn(); },
  };
}

const flush = () => new Promise((r) => setTimeout(r, 0));
const answer = (status: number, retryAfter: string | null = null, body: unknown = null): LiveAnswer =>
  ({ status, retryAfter, body });
const starting = () => answer(202, "1", { status: "starting" });

function harness(answers: (LiveAnswer | Error)[], timeoutMs?: number) {
  const c = fakeClock();
  const states: LiveState[] = [];
  const asked: string[] = [];
  const w = waitForPlaylist({
    url: playlistUrl(3, false),
    load: async (url) => {
      asked.push(url);
      const a = answers.shift();
      if (!a) throw new Error("no more answers");
      if (a instanceof Error) throw a;
      return a;
    },
    onState: (s) => states.push(s),
    clock: c.clock,
    timeoutMs,
  });
  return { ...c, states, asked, w };
}

describe("live view URLs and messages", () => {
  it("asks for the camera's playlist, unmasked with ?unmask=1", () => {
    expect(playlistUrl(3, false)).toBe("/api/v1/cameras/3/live/index.m3u8");
    expect(playlistUrl(3, true)).toBe("/api/v1/cameras/3/live/index.m3u8?unmask=1");
  });
  it("waits as Retry-After says, within bounds", () => {
    expect(retryAfterMs("2")).toBe(2000);
    expect(retryAfterMs(null)).toBe(1000);
    expect(retryAfterMs("soon")).toBe(1000);
    expect(retryAfterMs("0")).toBe(RETRY_MIN_MS);
    expect(retryAfterMs("3600")).toBe(RETRY_MAX_MS);
    const now = Date.parse("2024-05-01T10:00:00Z");
    expect(retryAfterMs("Wed, 01 May 2024 10:00:03 GMT", now)).toBe(3000);
  });
  it("says why the server refuses", () => {
    expect(liveError(409, { detail: "this camera does not stream: it has no live view" }))
      .toBe("This camera does not stream: it has no live view.");
    expect(liveError(409, { detail: "live view is turned off on this site" }))
      .toBe("Live view is turned off on this site.");
    expect(liveError(409, null)).toBe("This camera has no live view.");
    expect(liveError(403, { detail: "You do not have permission to perform this action." }))
      .toBe("You may not watch this camera unmasked.");
    expect(liveError(404)).toBe("No such camera (or not one you may see).");
    expect(liveError(500)).toBe("The live view could not be loaded (500).");
    expect(playerError(409, "levelLoadError")).toBe("This camera has no live view.");
    expect(playerError(undefined, "bufferStalledError")).toBe("The live view stopped (bufferStalledError).");
    expect(playerError(502, "levelLoadError")).toBe("The live view stopped (levelLoadError, 502).");
  });
  it("plays with hls.js where it works, natively only with a session cookie", () => {
    expect(chooseEngine(true, true, "blob")).toBe("hls.js");
    expect(chooseEngine(false, true, "session")).toBe("native");
    expect(chooseEngine(false, true, "blob")).toBeNull();
    expect(chooseEngine(false, false, "session")).toBeNull();
  });
});

describe("waiting for the playlist", () => {
  it("polls while the view starts, as Retry-After says, until the playlist is there", async () => {
    const h = harness([starting(), answer(202, "2"), answer(200)]);
    await flush();
    expect(h.states).toEqual([{ phase: "starting" }]);
    expect(h.pending()).toEqual([1000]);
    h.fire(); await flush();
    expect(h.pending()).toEqual([2000]);
    h.fire(); await flush();
    expect(h.states.at(-1)).toEqual({ phase: "ready", url: "/api/v1/cameras/3/live/index.m3u8" });
    expect(h.asked).toHaveLength(3);
    expect(h.pending()).toEqual([]);
  });
  it("maps a refusal to its message at once", async () => {
    const h = harness([answer(409, null, { detail: "this camera does not stream: it has no live view" })]);
    await flush();
    expect(h.states.at(-1)).toEqual({ phase: "failed", error: "This camera does not stream: it has no live view." });
    expect(h.pending()).toEqual([]);
  });
  it("tolerates a few network errors and 5xx, then fails", async () => {
    const h = harness([new Error("offline"), answer(503), answer(502)]);
    await flush();
    h.fire(); await flush();
    expect(h.states).toEqual([{ phase: "starting" }]);
    h.fire(); await flush();
    expect(h.states.at(-1)).toEqual({ phase: "failed", error: "The live view could not be loaded (502)." });
    expect(h.asked).toHaveLength(3);
  });
  it("gives up when the view takes too long to start", async () => {
    const h = harness(Array.from({ length: 10 }, starting), 3000);
    await flush();
    for (let i = 0; i < 3; i++) { h.fire(); await flush(); }
    expect(h.asked).toHaveLength(4);
    expect(h.states.at(-1)).toMatchObject({ phase: "failed", error: expect.stringContaining("did not start") });
    expect(h.pending()).toEqual([]);
  });
  it("asks nothing and says nothing once stopped", async () => {
    const h = harness([starting(), answer(200)]);
    await flush();
    h.w.stop();
    expect(h.pending()).toEqual([]);
    expect(h.asked).toHaveLength(1);
    const late = harness([answer(200)]);
    late.w.stop();
    await flush();
    expect(late.states).toEqual([{ phase: "starting" }]);
  });
});
