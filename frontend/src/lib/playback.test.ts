import { describe, expect, it } from "vitest";
import {
  type Clock, type Fetched, maskedBadge, type PlaybackInfo, playbackQuery, type PlaybackState, preparingLabel, stateOf,
  TRANSIENT_TRIES, watchPlayback, withParam, withStart, withUnmask,
} from "./playback";

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

const info = (over: Partial<PlaybackInfo>): PlaybackInfo => ({
  masked: true, masking: "faces", status: "ready", progress: 1, error: "", video_url: "/api/v1/clips/7/video/", ...over,
});
const ok = (body: PlaybackInfo): Fetched => ({ ok: true, status: 200, body });

function harness(answers: (Fetched | Error)[]) {
  const c = fakeClock();
  const states: PlaybackState[] = [];
  const asked: boolean[] = [];
  const w = watchPlayback({
    load: async (retry) => {
      asked.push(retry);
      const a = answers.shift();
      if (!a) throw new Error("no more answers");
      if (a instanceof Error) throw a;
      return a;
    },
    onState: (s) => states.push(s),
    clock: c.clock,
    intervalMs: 1500,
  });
  return { ...c, states, asked, w };
}

describe("playback URLs", () => {
  it("starts the video at the best moment, replacing any fragment", () => {
    expect(withStart("/api/v1/clips/7/video/", 3.2)).toBe("/api/v1/clips/7/video/#t=3.2");
    expect(withStart("/api/v1/clips/7/video/?unmask=1", 1.5)).toBe("/api/v1/clips/7/video/?unmask=1#t=1.5");
    expect(withStart("/api/v1/clips/7/video/#t=9", 2)).toBe("/api/v1/clips/7/video/#t=2");
    expect(withStart("/v/", 0)).toBe("/v/");
  });
  it("asks for unmasked media with ?unmask=1, keeping the rest of the URL", () => {
    expect(withUnmask("/api/v1/sightings/5/thumbnail/", true)).toBe("/api/v1/sightings/5/thumbnail/?unmask=1");
    expect(withUnmask("/api/v1/sightings/5/thumbnail/", false)).toBe("/api/v1/sightings/5/thumbnail/");
    expect(withUnmask("/v/?a=b#t=2", true)).toBe("/v/?a=b&unmask=1#t=2");
    expect(withUnmask("/v/?unmask=1#t=2", false)).toBe("/v/#t=2");
    expect(withParam("/v/?unmask=0", "unmask", "1")).toBe("/v/?unmask=1");
  });
  it("builds the playback query", () => {
    expect(playbackQuery(false, false)).toEqual({});
    expect(playbackQuery(true, false)).toEqual({ unmask: "1" });
    expect(playbackQuery(false, true)).toEqual({ retry: "1" });
  });
  it("says what is masked and how far the preparation is", () => {
    expect(maskedBadge("faces")).toBe("Faces masked");
    expect(maskedBadge("faces_plates")).toBe("Faces and plates masked");
    expect(maskedBadge("persons")).toBe("Persons masked");
    expect(maskedBadge("none")).toBe("");
    expect(preparingLabel(0.425)).toBe("Preparing the masked video… 43 %");
    expect(preparingLabel(NaN)).toBe("Preparing the masked video… 0 %");
    expect(preparingLabel(1.2)).toBe("Preparing the masked video… 100 %");
  });
  it("maps the server's answer to a state", () => {
    expect(stateOf(info({}))).toEqual({ phase: "ready", url: "/api/v1/clips/7/video/", masked: true, masking: "faces" });
    expect(stateOf(info({ status: "preparing", progress: 0.3 }))).toEqual({ phase: "preparing", progress: 0.3, masking: "faces" });
    expect(stateOf(info({ status: "failed", error: "decoder broke" }))).toEqual({ phase: "failed", error: "decoder broke" });
    expect(stateOf(info({ status: "failed", error: "" }))).toEqual({ phase: "failed", error: "The masked video could not be made." });
  });
});

describe("watchPlayback", () => {
  it("polls while preparing, then reports ready and stops polling", async () => {
    const h = harness([ok(info({ status: "preparing", progress: 0 })), ok(info({ status: "preparing", progress: 0.5 })),
      ok(info({}))]);
    await flush();
    expect(h.states.map((s) => s.phase)).toEqual(["loading", "preparing"]);
    expect(h.pending()).toEqual([1500]);
    h.fire(); await flush();
    expect(h.states[2]).toEqual({ phase: "preparing", progress: 0.5, masking: "faces" });
    h.fire(); await flush();
    expect(h.states[3].phase).toBe("ready");
    expect(h.pending()).toEqual([]);
    expect(h.asked).toEqual([false, false, false]);
  });

  it("plays at once what needs no preparation", async () => {
    const h = harness([ok(info({ masked: false, masking: "none", video_url: "/v/?unmask=1" }))]);
    await flush();
    expect(h.states).toEqual([{ phase: "loading" }, { phase: "ready", url: "/v/?unmask=1", masked: false, masking: "none" }]);
    expect(h.pending()).toEqual([]);
  });

  it("reports a failure and retries with retry=1 when asked", async () => {
    const h = harness([ok(info({ status: "failed", error: "no frames" })), ok(info({ status: "preparing", progress: 0 })),
      ok(info({}))]);
    await flush();
    expect(h.states.at(-1)).toEqual({ phase: "failed", error: "no frames" });
    expect(h.pending()).toEqual([]);
    h.w.retry(); await flush();
    expect(h.asked).toEqual([false, true]);
    expect(h.states.slice(-2).map((s) => s.phase)).toEqual(["loading", "preparing"]);
    h.fire(); await flush();
    expect(h.asked).toEqual([false, true, false]); // the polls after a retry are plain asks
    expect(h.states.at(-1)?.phase).toBe("ready");
  });

  it("stops polling and reporting when stopped (the page was left)", async () => {
    const h = harness([ok(info({ status: "preparing", progress: 0.1 })), ok(info({}))]);
    await flush();
    expect(h.pending()).toEqual([1500]);
    h.w.stop();
    expect(h.pending()).toEqual([]);
    const n = h.states.length;
    h.w.retry(); await flush();
    expect(h.states.length).toBe(n);
    expect(h.asked).toEqual([false]);
  });

  it("drops an answer that arrives after stop", async () => {
    const h = harness([ok(info({}))]);
    h.w.stop();
    await flush();
    expect(h.states).toEqual([{ phase: "loading" }]);
  });

  it("shows the server's refusal", async () => {
    const h = harness([{ ok: false, status: 403, body: { detail: "you may not see this camera's footage unmasked" } }]);
    await flush();
    expect(h.states.at(-1)).toEqual({ phase: "failed", error: "you may not see this camera's footage unmasked" });
    const g = harness([{ ok: false, status: 404, body: undefined }]);
    await flush();
    expect(g.states.at(-1)).toEqual({ phase: "failed", error: "The video could not be loaded (404)." });
  });

  it("rides out a few network errors and 5xx while polling, then gives up", async () => {
    const h = harness([ok(info({ status: "preparing", progress: 0.2 })), new Error("offline"),
      { ok: false, status: 502, body: null }, ok(info({ status: "preparing", progress: 0.6 }))]);
    await flush();
    h.fire(); await flush();
    h.fire(); await flush();
    expect(h.states.at(-1)).toEqual({ phase: "preparing", progress: 0.2, masking: "faces" });
    h.fire(); await flush();
    expect(h.states.at(-1)).toEqual({ phase: "preparing", progress: 0.6, masking: "faces" });

    const errors = Array.from({ length: TRANSIENT_TRIES }, () => new Error("offline"));
    const g = harness(errors);
    for (let i = 0; i < TRANSIENT_TRIES; i++) { await flush(); if (g.pending().length) g.fire(); }
    await flush();
    expect(g.states.at(-1)).toEqual({ phase: "failed", error: "Network error: offline" });
    expect(g.pending()).toEqual([]);
  });
});
