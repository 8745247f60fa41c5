import { describe, expect, it } from "vitest";
import { backoffMs, feedUrl, LiveFeed, matchesFilters, type SocketLike } from "./livefeed";

class FakeSocket implements SocketLike {
  onopen: SocketLike["onopen"] = null;
  onmessage: SocketLike["onmessage"] = null;
  onclose: SocketLike["onclose"] = null;
  onerror: SocketLike["onerror"] = null;
  sent: string[] = [];
  closed: number | null = null;
  constructor(public url: string) {}
  send(d: string) { this.sent.push(d); }
  close(code = 1000) { this.closed = code; }
  // test helpers
  open() { this.onopen?.({}); }
  msg(m: object) { this.onmessage?.({ data: JSON.stringify(m) }); }
  drop(code = 1006) { this.onclose?.({ code }); }
}

class FakeClock {
  t = 0;
  timers = new Map<number, { at: number; fn: () => void }>();
  next = 1;
  setTimeout = (fn: () => void, ms: number) => { const id = this.next++; this.timers.set(id, { at: this.t + ms, fn }); return id; };
  clearTimeout = (id: unknown) => { this.timers.delete(id as number); };
  now = () => this.t;
  advance(ms: number) {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, v]) => v.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
    }
    this.t = end;
  }
}

const sighting = (seq: number, id = seq) => ({ type: "sighting", seq, sighting: { id, tag: "person" } });

function setup(filters = { tags: ["person"], cameras: [2], minConfidence: 0.5 }) {
  const sockets: FakeSocket[] = [];
  const clock = new FakeClock();
  const got: number[] = [];
  const statuses: string[] = [];
  const feed = new LiveFeed({
    baseUrl: "ws://h/ws/detections/", token: "tok", filters,
    onSighting: (m) => got.push(m.seq), onStatus: (s) => statuses.push(s),
    connect: (url) => { const s = new FakeSocket(url); sockets.push(s); return s; },
    clock, random: () => 0.5, pingMs: 20_000, staleMs: 45_000,
  });
  return { feed, sockets, clock, got, statuses };
}

describe("live feed", () => {
  it("builds the URL with filters, after and token", () => {
    expect(feedUrl("ws://h/ws/detections/", { tags: ["person", "car"], cameras: [3], minConfidence: 0.6 }, 41, "t"))
      .toBe("ws://h/ws/detections/?tag=person&tag=car&camera=3&min_confidence=0.6&after=41&token=t");
    expect(feedUrl("ws://h/ws/detections/", { tags: [], cameras: [], minConfidence: 0 }, null, null)).toBe("ws://h/ws/detections/");
  });

  it("backs off exponentially up to a cap", () => {
    expect([0, 1, 2, 3, 10].map((a) => backoffMs(a, 30_000, () => 0.5))).toEqual([1000, 2000, 4000, 8000, 30000]);
    expect(backoffMs(0, 30_000, () => 0)).toBe(800);
    expect(backoffMs(0, 30_000, () => 1)).toBe(1200);
  });

  it("delivers sightings once, dropping replayed or duplicated seqs", () => {
    const { feed, sockets, got } = setup();
    feed.start();
    sockets[0].open();
    sockets[0].msg({ type: "ready", seq: 10 });
    sockets[0].msg(sighting(11));
    sockets[0].msg(sighting(11));
    sockets[0].msg(sighting(9));
    sockets[0].msg(sighting(12));
    expect(got).toEqual([11, 12]);
    expect(feed.lastSeq).toBe(12);
  });

  it("reconnects after a drop with after=<last seq> and skips overlap", () => {
    const { feed, sockets, clock, got, statuses } = setup();
    feed.start();
    expect(sockets[0].url).not.toContain("after=");
    sockets[0].open();
    sockets[0].msg({ type: "ready", seq: 5 });
    sockets[0].msg(sighting(6));
    sockets[0].drop();
    expect(statuses.at(-1)).toBe("reconnecting");
    clock.advance(999);
    expect(sockets).toHaveLength(1);
    clock.advance(1);
    expect(sockets).toHaveLength(2);
    expect(sockets[1].url).toContain("after=6");
    expect(sockets[1].url).toContain("tag=person");
    sockets[1].open();
    sockets[1].msg(sighting(6)); // overlap from the server's replay
    sockets[1].msg(sighting(7));
    sockets[1].msg({ type: "ready", seq: 7 });
    sockets[1].msg(sighting(8));
    expect(got).toEqual([6, 7, 8]);
    expect(statuses.at(-1)).toBe("live");
  });

  it("does not let `ready` skip events still being replayed on a resume", () => {
    const { feed, sockets, clock, got } = setup();
    feed.start();
    sockets[0].open();
    sockets[0].msg({ type: "ready", seq: 1 });
    sockets[0].msg(sighting(2));
    sockets[0].drop();
    clock.advance(1000);
    sockets[1].open();
    sockets[1].msg({ type: "ready", seq: 9 });
    sockets[1].msg(sighting(3));
    expect(got).toEqual([2, 3]);
  });

  it("grows the backoff while failing and resets it once ready", () => {
    const { feed, sockets, clock } = setup();
    feed.start();
    sockets[0].drop();
    clock.advance(1000);
    expect(sockets).toHaveLength(2);
    sockets[1].drop();
    clock.advance(1999);
    expect(sockets).toHaveLength(2);
    clock.advance(1);
    expect(sockets).toHaveLength(3);
    sockets[2].open();
    sockets[2].msg({ type: "ready", seq: 1 });
    sockets[2].drop();
    clock.advance(1000);
    expect(sockets).toHaveLength(4);
  });

  it("heartbeats advance the resume point; pings are sent", () => {
    const { feed, sockets, clock } = setup();
    feed.start();
    sockets[0].open();
    sockets[0].msg({ type: "ready", seq: 3 });
    sockets[0].msg({ type: "heartbeat", seq: 30 });
    expect(feed.lastSeq).toBe(30);
    clock.advance(20_000);
    expect(sockets[0].sent).toEqual([JSON.stringify({ type: "ping" })]);
  });

  it("reconnects a silent connection", () => {
    const { feed, sockets, clock } = setup();
    feed.start();
    sockets[0].open();
    sockets[0].msg({ type: "ready", seq: 3 });
    clock.advance(45_000);
    expect(sockets[0].closed).toBe(4000);
    clock.advance(1000);
    expect(sockets).toHaveLength(2);
    expect(sockets[1].url).toContain("after=3");
  });

  it("stops on a 44xx close and reports server errors", () => {
    const errors: string[] = [];
    const sockets: FakeSocket[] = [];
    const clock = new FakeClock();
    const feed = new LiveFeed({
      baseUrl: "ws://h/", token: null, filters: { tags: [], cameras: [], minConfidence: 0 }, onSighting: () => {},
      onServerError: (m) => errors.push(`${m.field}: ${m.message}`),
      connect: (url) => { const s = new FakeSocket(url); sockets.push(s); return s; }, clock,
    });
    feed.start();
    sockets[0].open();
    sockets[0].msg({ type: "error", field: "min_confidence", message: "must be between 0 and 1" });
    sockets[0].drop(4400);
    clock.advance(60_000);
    expect(errors).toEqual(["min_confidence: must be between 0 and 1"]);
    expect(sockets).toHaveLength(1);
    expect(feed.status).toBe("failed");
  });

  it("changing filters reconnects from the last seq; stop closes for good", () => {
    const { feed, sockets, clock } = setup();
    feed.start();
    sockets[0].open();
    sockets[0].msg({ type: "ready", seq: 4 });
    feed.setFilters({ tags: ["car"], cameras: [], minConfidence: 0.8 });
    expect(sockets[0].closed).toBe(1000);
    expect(sockets[1].url).toBe("ws://h/ws/detections/?tag=car&min_confidence=0.8&after=4&token=tok");
    feed.stop();
    clock.advance(120_000);
    expect(sockets).toHaveLength(2);
  });

  it("ignores malformed messages", () => {
    const { feed, sockets, got } = setup();
    feed.start();
    sockets[0].open();
    sockets[0].onmessage?.({ data: "not json" });
    sockets[0].msg({ type: "sighting" });
    expect(got).toEqual([]);
    expect(feed.lastSeq).toBeNull();
  });
});

describe("matchesFilters", () => {
  const s = { tag: "person", confidence: 0.7, camera: { id: 3, name: "Gate" } };
  it("applies tags, cameras and the confidence floor like the server", () => {
    expect(matchesFilters({ tags: [], cameras: [], minConfidence: 0.5 }, s)).toBe(true);
    expect(matchesFilters({ tags: ["car"], cameras: [], minConfidence: 0 }, s)).toBe(false);
    expect(matchesFilters({ tags: ["car", "person"], cameras: [3], minConfidence: 0.7 }, s)).toBe(true);
    expect(matchesFilters({ tags: [], cameras: [4], minConfidence: 0 }, s)).toBe(false);
    expect(matchesFilters({ tags: [], cameras: [], minConfidence: 0.75 }, s)).toBe(false);
  });
});
