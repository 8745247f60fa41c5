import { describe, expect, it } from "vitest";
import {
  chosenCase, defaultExportForm, drfMessage, exportRequestBody, exportStatusLabel, isActive, maskingName, mayExport,
  rangeLabel, shortHash, validateExportForm,
} from "./exports";

const exp = (over: Record<string, unknown>) => ({
  status: "queued", progress: 0, error: "", start: "2026-11-02T08:10:00Z", end: "2026-11-02T08:10:15Z", sha256: "", ...over,
});

describe("the export form", () => {
  it("defaults to 5 s either side, the camera's masking, no boxes, no case", () => {
    const f = defaultExportForm();
    expect(exportRequestBody(12, f, null)).toEqual({ sighting: 12, before_s: 5, after_s: 5, burn_boxes: false });
  });
  it("sends the masking, boxes and case chosen", () => {
    const f = { ...defaultExportForm(), beforeS: "2.5", afterS: "0", masking: "faces" as const, burnBoxes: true, caseChoice: "4" };
    expect(chosenCase(f)).toBe(4);
    expect(exportRequestBody(12, f, chosenCase(f))).toEqual({
      sighting: 12, before_s: 2.5, after_s: 0, masking: "faces", burn_boxes: true, case: 4,
    });
  });
  it("names a new case only once it is created", () => {
    const f = { ...defaultExportForm(), caseChoice: "new", newCaseTitle: "Bike theft" };
    expect(chosenCase(f)).toBeNull();
    expect(exportRequestBody(1, f, 9).case).toBe(9);
    expect(chosenCase({ ...f, caseChoice: "" })).toBeNull();
  });
  it("checks the margins and a new case's title before sending", () => {
    expect(validateExportForm(defaultExportForm())).toBeNull();
    expect(validateExportForm({ ...defaultExportForm(), beforeS: "" })).toMatch(/^Seconds before/);
    expect(validateExportForm({ ...defaultExportForm(), afterS: "-1" })).toMatch(/^Seconds after/);
    expect(validateExportForm({ ...defaultExportForm(), afterS: "x" })).toMatch(/^Seconds after/);
    expect(validateExportForm({ ...defaultExportForm(), caseChoice: "new", newCaseTitle: "  " })).toMatch(/title/);
  });
});

describe("the server's messages", () => {
  it("uses the detail, the non-field errors and the fields by their labels", () => {
    expect(drfMessage({ detail: "you may not export this camera with less masking than its own (faces)" }, 403))
      .toBe("you may not export this camera with less masking than its own (faces)");
    expect(drfMessage({ non_field_errors: ["no footage of camera 1 is stored between a and b"] }, 400))
      .toBe("no footage of camera 1 is stored between a and b");
    expect(drfMessage({ before_s: ["at most 60 seconds"] }, 400)).toBe("Seconds before: at most 60 seconds");
    expect(drfMessage({ case: ["case 3 is closed: reopen it to add exports"] }, 400))
      .toBe("Case: case 3 is closed: reopen it to add exports");
    expect(drfMessage({ end: "an export is at most 600 seconds long" }, 400)).toBe("End: an export is at most 600 seconds long");
  });
  it("falls back on the status when the body says nothing", () => {
    expect(drfMessage(null, 403)).toBe("Only operators and admins may export footage and manage cases.");
    expect(drfMessage(undefined, 500)).toBe("Request failed (500)");
    expect(drfMessage({}, 0)).toBe("Network error: the server did not answer.");
  });
});

describe("an export's state", () => {
  it("reads as words with its progress", () => {
    expect(exportStatusLabel(exp({}))).toBe("Queued");
    expect(exportStatusLabel(exp({ status: "rendering", progress: 0.374 }))).toBe("Rendering 37 %");
    expect(exportStatusLabel(exp({ status: "done", progress: 1 }))).toBe("Done");
    expect(exportStatusLabel(exp({ status: "failed", error: "no footage" }))).toBe("Failed: no footage");
    expect(isActive(exp({}))).toBe(true);
    expect(isActive(exp({ status: "rendering" }))).toBe(true);
    expect(isActive(exp({ status: "done" }))).toBe(false);
  });
  it("shortens hashes and names maskings", () => {
    expect(shortHash("a".repeat(64))).toBe(`${"a".repeat(12)}…`);
    expect(shortHash("")).toBe("—");
    expect(maskingName("faces_plates")).toBe("Faces and licence plates");
    expect(maskingName("weird")).toBe("weird");
  });
  it("gives the range and its length", () => {
    expect(rangeLabel("2026-11-02T08:10:00Z", "2026-11-02T08:10:15Z")).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:00 – \d\d:\d\d:15 \(15 s\)$/);
  });
  it("is for operators and admins", () => {
    expect(mayExport("operator")).toBe(true);
    expect(mayExport("admin")).toBe(true);
    expect(mayExport("viewer")).toBe(false);
    expect(mayExport(undefined)).toBe(false);
  });
});
