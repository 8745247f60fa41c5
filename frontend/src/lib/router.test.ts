import { describe, expect, it } from "vitest";
import { matchRoute } from "./router";

describe("routes", () => {
  it("matches the SPA's pages", () => {
    expect(matchRoute("/")).toEqual({ name: "search" });
    expect(matchRoute("/sightings/42")).toEqual({ name: "sighting", id: 42 });
    expect(matchRoute("/sightings/42/")).toEqual({ name: "sighting", id: 42 });
    expect(matchRoute("/live")).toEqual({ name: "live" });
    expect(matchRoute("/upload/")).toEqual({ name: "upload" });
    expect(matchRoute("/cameras")).toEqual({ name: "cameras" });
    expect(matchRoute("/cameras/7/live")).toEqual({ name: "camera-live", id: 7 });
    expect(matchRoute("/cameras/7/live/")).toEqual({ name: "camera-live", id: 7 });
    expect(matchRoute("/cameras/7")).toEqual({ name: "notfound" });
    expect(matchRoute("/exports/")).toEqual({ name: "exports" });
    expect(matchRoute("/sightings/x")).toEqual({ name: "notfound" });
  });
});
