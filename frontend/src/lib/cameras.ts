/**
 * What the Live and Cameras pages say about cameras: one wording for a camera's status, and the feed's status
 * line, which tells the connection apart from whether anything records.
 *
 * The server decides each camera's `status` from the recorder's state and its lease (backend/cameras/status.py),
 * so "recording" is never a camera nobody records; its `problem` is already in plain words.
 */
import type { Camera } from "../api/client";
import type { FeedStatus } from "./livefeed";

export type CameraStatus = Camera["status"];

export const STATUS_LABEL: Record<CameraStatus, string> = {
  recording: "Recording", reconnecting: "Reconnecting", error: "Error", offline: "Offline", disabled: "Disabled",
  uploads: "Uploads only",
};

/** Cameras with a stream that are switched on: those that ought to be recording. */
export const shouldRecord = (c: Pick<Camera, "status">): boolean => c.status !== "disabled" && c.status !== "uploads";

/** "Connected · 0 of 3 cameras recording": tone `live` (green) only when the feed is up and a camera records. */
export function feedLine(feed: FeedStatus, cameras: Pick<Camera, "status">[] | null):
{ tone: "live" | "idle" | "warn" | "bad"; text: string } {
  if (feed === "connecting") return { tone: "warn", text: "Connecting…" };
  if (feed === "reconnecting") return { tone: "warn", text: "Reconnecting…" };
  if (feed === "closed") return { tone: "bad", text: "Disconnected" };
  if (feed === "failed") return { tone: "bad", text: "Stopped" };
  if (!cameras) return { tone: "idle", text: "Connected" };
  const expected = cameras.filter(shouldRecord).length;
  const recording = cameras.filter((c) => c.status === "recording").length;
  if (expected === 0) return { tone: "idle", text: "Connected · no camera streams (footage is uploaded)" };
  const counted = `${recording} of ${expected} camera${expected === 1 ? "" : "s"} recording`;
  return recording > 0 ? { tone: "live", text: `Live · ${counted}` } : { tone: "idle", text: `Connected · ${counted}` };
}

