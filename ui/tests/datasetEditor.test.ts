import { describe, expect, it } from "vitest";
import type { Row } from "../src/bindings/Row";
import { datasetNameError, newDatasetNameError } from "../src/lib/datasetNames";
import {
  cellAt,
  collectRows,
  datasetReducer,
  describeProblems,
  initialDatasetEditor,
  parseTags,
  variableNameError,
  type DatasetAction,
  type DatasetEditorState,
} from "../src/screens/datasets/datasetEditor";

const rows: Row[] = [
  { vars: { question: "2+2", n: 4 }, expected: "4", tags: ["math", "easy"] },
  { vars: { question: "capital of France", ctx: { lang: "fr" } }, expected: { city: "Paris" }, assert: [{ type: "contains", value: "Paris" }], description: "geo" },
];

function replay(actions: DatasetAction[], from: DatasetEditorState = initialDatasetEditor): DatasetEditorState {
  return actions.reduce(datasetReducer, from);
}

const loaded = (r: Row[] = rows, version = 2, latest = 2) => replay([{ type: "loaded", name: "qa", version, latest, rows: r }]);

describe("dataset editor", () => {
  it("loads rows as columns (the union of variables, in order) and gives them back unchanged", () => {
    const s = loaded();
    expect(s.columns).toEqual(["question", "n", "ctx"]);
    expect([s.dirty, s.readOnly, s.version]).toEqual([false, false, 2]);
    expect(cellAt(s.rows[0], "n")).toMatchObject({ text: "4", json: true });
    expect(cellAt(s.rows[1], "ctx")).toMatchObject({ text: '{"lang":"fr"}', json: true });
    expect(cellAt(s.rows[1], "expected")).toMatchObject({ text: '{"city":"Paris"}', json: true });
    expect(cellAt(s.rows[1], "n")).toMatchObject({ text: "", json: false });
    expect(s.rows[0].tags).toBe("math, easy");
    expect(collectRows(s)).toEqual({ rows, problems: [] });
  });

  it("adds and deletes rows and variables, and marks the document modified", () => {
    let s = loaded();
    s = datasetReducer(s, { type: "addRow" });
    expect(s.rows).toHaveLength(3);
    expect(s.dirty).toBe(true);
    expect(new Set(s.rows.map((r) => r.uid)).size).toBe(3);
    s = datasetReducer(s, { type: "addVariable", name: " tone " });
    expect(s.columns).toEqual(["question", "n", "ctx", "tone"]);
    s = datasetReducer(s, { type: "editCell", row: 2, column: "tone", text: "dry" });
    s = datasetReducer(s, { type: "editCell", row: 2, column: "question", text: "why?" });
    s = datasetReducer(s, { type: "deleteRow", row: 0 });
    s = datasetReducer(s, { type: "removeVariable", name: "ctx" });
    expect(s.columns).toEqual(["question", "n", "tone"]);
    const out = collectRows(s).rows!;
    expect(out).toHaveLength(2);
    expect(out[0]).toEqual({ vars: { question: "capital of France" }, expected: { city: "Paris" }, assert: [{ type: "contains", value: "Paris" }], description: "geo" });
    // A new row's variables follow the column order; empty cells are no value.
    expect(out[1]).toEqual({ vars: { question: "why?", tone: "dry" } });
  });

  it("refuses variable names that are taken or name the other columns", () => {
    const s = loaded();
    expect(variableNameError(s, "question")).toMatch(/already a variable/);
    expect(variableNameError(s, "expected")).toMatch(/expected column/);
    expect(variableNameError(s, "  ")).toMatch(/Type/);
    expect(variableNameError(s, "tone")).toBeNull();
    expect(datasetReducer(s, { type: "addVariable", name: "tags" })).toBe(s);
  });

  it("reads JSON cells as JSON, keeps text cells as text, and blocks saving invalid JSON", () => {
    let s = loaded();
    // A text cell stays a string even when it looks like JSON.
    s = datasetReducer(s, { type: "editCell", row: 0, column: "question", text: "42" });
    // A JSON cell keeps its type.
    s = datasetReducer(s, { type: "editCell", row: 0, column: "n", text: "[1, 2]" });
    s = datasetReducer(s, { type: "editCell", row: 1, column: "ctx", text: "true" });
    let out = collectRows(s).rows!;
    expect(out[0].vars).toEqual({ question: "42", n: [1, 2] });
    expect(out[1].vars.ctx).toBe(true);

    s = datasetReducer(s, { type: "editCell", row: 1, column: "expected", text: "{city: Paris}" });
    expect(cellAt(s.rows[1], "expected").error).toBeNull();
    s = datasetReducer(s, { type: "blurCell", row: 1, column: "expected" });
    expect(cellAt(s.rows[1], "expected").error).toMatch(/not valid JSON/);
    const blocked = collectRows(s);
    expect(blocked.rows).toBeNull();
    expect(blocked.problems).toEqual([{ row: 1, column: "expected", message: expect.stringMatching(/not valid JSON/) }]);
    expect(describeProblems(blocked.problems)).toMatch(/^Fix the invalid JSON before saving: row 2, “expected”: not valid JSON/);

    // Editing clears the mark; a valid value saves with its type.
    s = datasetReducer(s, { type: "editCell", row: 1, column: "expected", text: '{"city": "Lyon"}' });
    expect(cellAt(s.rows[1], "expected").error).toBeNull();
    out = collectRows(s).rows!;
    expect(out[1].expected).toEqual({ city: "Lyon" });

    // An emptied JSON cell is no value.
    s = datasetReducer(s, { type: "editCell", row: 0, column: "n", text: "" });
    expect(collectRows(s).rows![0].vars).toEqual({ question: "42" });
  });

  it("validate marks every invalid JSON cell at once", () => {
    let s = loaded();
    s = datasetReducer(s, { type: "editCell", row: 0, column: "n", text: "four" });
    s = datasetReducer(s, { type: "editCell", row: 1, column: "ctx", text: "{" });
    s = datasetReducer(s, { type: "validate" });
    expect([cellAt(s.rows[0], "n").error, cellAt(s.rows[1], "ctx").error].every((e) => e?.startsWith("not valid JSON"))).toBe(true);
    expect(datasetReducer(s, { type: "validate" })).toBe(s);
  });

  it("parses tags separated by commas", () => {
    expect(parseTags(" a, b ,,c ")).toEqual(["a", "b", "c"]);
    expect(parseTags("  ")).toEqual([]);
    let s = loaded();
    s = datasetReducer(s, { type: "editTags", row: 0, text: "math , hard," });
    s = datasetReducer(s, { type: "editTags", row: 1, text: "" });
    const out = collectRows(s).rows!;
    expect(out[0].tags).toEqual(["math", "hard"]);
    expect("tags" in out[1]).toBe(false);
  });

  it("keeps a text cell emptied on purpose as an empty string", () => {
    let s = loaded();
    s = datasetReducer(s, { type: "editCell", row: 0, column: "question", text: "" });
    s = datasetReducer(s, { type: "editCell", row: 0, column: "expected", text: "" });
    expect(collectRows(s).rows![0]).toMatchObject({ vars: { question: "", n: 4 }, expected: "" });
  });

  it("opens older versions read-only, and can edit from one", () => {
    let s = loaded(rows, 1, 3);
    expect(s.readOnly).toBe(true);
    expect(datasetReducer(s, { type: "editCell", row: 0, column: "question", text: "x" })).toBe(s);
    expect(datasetReducer(s, { type: "addRow" })).toBe(s);
    expect(datasetReducer(s, { type: "deleteRow", row: 0 })).toBe(s);
    s = datasetReducer(s, { type: "editFromHere" });
    expect([s.readOnly, s.version, s.dirty]).toEqual([false, 3, true]);
  });

  it("imports rows after, instead of, or as a new dataset, and saving clears the mark", () => {
    const more: Row[] = [{ vars: { question: "3+3", lang: "en" } }];
    let s = datasetReducer(loaded(), { type: "imported", rows: more, mode: "append" });
    expect([s.rows.length, s.columns, s.dirty]).toEqual([3, ["question", "n", "ctx", "lang"], true]);
    s = datasetReducer(loaded(), { type: "imported", rows: more, mode: "replace" });
    expect([s.rows.length, s.columns]).toEqual([1, ["question", "lang"]]);
    s = datasetReducer(s, { type: "importedNew", name: "fresh", rows: more });
    expect([s.name, s.isNew, s.version, s.dirty, s.rows.length]).toEqual(["fresh", true, null, true, 1]);
    const sent = collectRows(s).rows!;
    s = datasetReducer(s, { type: "saved", version: 1, rows: sent });
    expect([s.isNew, s.version, s.latest, s.dirty]).toEqual([false, 1, 1, false]);
    s = datasetReducer(s, { type: "editCell", row: 0, column: "lang", text: "fr" });
    s = datasetReducer(s, { type: "unchanged", version: 1 });
    expect(s.dirty).toBe(false);
  });

  it("a new dataset starts empty and modified", () => {
    const s = replay([{ type: "created", name: "fresh" }, { type: "addVariable", name: "q" }, { type: "addRow" }]);
    expect([s.name, s.isNew, s.dirty, s.columns, s.rows.length]).toEqual(["fresh", true, true, ["q"], 1]);
    expect(collectRows(s).rows).toEqual([{ vars: {} }]);
  });

  it("checks dataset names against the slug rule", () => {
    expect(newDatasetNameError("support-tickets", [])).toBeNull();
    expect(newDatasetNameError("Support Tickets", [])).toMatch(/^Dataset names use 1-64 characters/);
    expect(newDatasetNameError("qa", ["qa"])).toMatch(/already exists/);
    expect(newDatasetNameError(" ", [])).toMatch(/Type a name/);
    expect(datasetNameError("qa")).toBeNull();
  });
});
