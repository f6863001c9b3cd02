import type { Row } from "../../bindings/Row";
import type { JsonValue } from "../../bindings/serde_json/JsonValue";

/**
 * The dataset editor's document: which dataset and version is open, its variable columns and its
 * rows as the text the cells show, changed only through `datasetReducer` so every edit (a cell, a
 * row, a column, an import, a save) is one action a test can replay.
 *
 * A cell holding a string is edited as plain text and stays a string. A cell holding any other
 * JSON (a number, a list, an object, true/false, null) is shown as JSON and edited as JSON: on blur
 * and on save its text is parsed, valid JSON keeps its type, invalid JSON marks the cell and blocks
 * saving. A cell left as it was loaded gives back exactly the value it was loaded with.
 */
export interface Cell {
  text: string;
  /** Edited as JSON (the loaded value was not a string). */
  json: boolean;
  /** The loaded value (undefined: the row had none), returned while the text is unchanged. */
  orig: JsonValue | undefined;
  origText: string;
  /** Why the text is not valid JSON (set on blur and on save). */
  error: string | null;
}

export interface EditorRow {
  /** Stable identity for React keys across inserts and deletes. */
  uid: number;
  vars: Record<string, Cell>;
  /** The loaded row's variable names in their order, so an untouched row saves byte-identical. */
  keys: string[];
  expected: Cell;
  /** Comma-separated. */
  tags: string;
  /** Kept as loaded (the table does not edit them). */
  assert: JsonValue[];
  description: string | null;
}

export interface DatasetEditorState {
  /** The open dataset, or null when none is. */
  name: string | null;
  /** Not saved yet: Save creates it. */
  isNew: boolean;
  /** The version the rows were loaded from (null for a new dataset). */
  version: number | null;
  latest: number | null;
  /** An older version is open: nothing can be edited. */
  readOnly: boolean;
  /** Variable names, in order of first appearance. */
  columns: string[];
  rows: EditorRow[];
  /** Changed since loaded or saved. */
  dirty: boolean;
  nextUid: number;
}

export type DatasetAction =
  | { type: "loaded"; name: string; version: number; latest: number; rows: Row[] }
  /** A new, empty dataset (saved only when Save is pressed). */
  | { type: "created"; name: string }
  /** Rows read from a file into the open dataset, after its rows or instead of them. */
  | { type: "imported"; rows: Row[]; mode: "append" | "replace" }
  /** Rows read from a file as a new dataset. */
  | { type: "importedNew"; name: string; rows: Row[] }
  | { type: "editCell"; row: number; column: string; text: string }
  /** The cell lost focus: a JSON cell's text is checked. */
  | { type: "blurCell"; row: number; column: string }
  | { type: "editTags"; row: number; text: string }
  | { type: "addRow" }
  | { type: "deleteRow"; row: number }
  | { type: "addVariable"; name: string }
  | { type: "removeVariable"; name: string }
  /** Marks every JSON cell whose text does not parse (before a save). */
  | { type: "validate" }
  /** The older version open read-only becomes the starting point of the next version. */
  | { type: "editFromHere" }
  /** Saved as `version` (the rows are those sent). */
  | { type: "saved"; version: number; rows: Row[] }
  /** The save changed nothing: the rows were those of `version`. */
  | { type: "unchanged"; version: number }
  | { type: "close" };

/** The columns that are not variables (and the names a variable may not take). */
export const EXPECTED = "expected";
export const TAGS = "tags";

export const initialDatasetEditor: DatasetEditorState = {
  name: null,
  isNew: false,
  version: null,
  latest: null,
  readOnly: false,
  columns: [],
  rows: [],
  dirty: false,
  nextUid: 1,
};

/** A cell for a loaded value (undefined: the row has none). */
export function cellOf(value: JsonValue | undefined): Cell {
  const json = value !== undefined && typeof value !== "string";
  const text = value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value);
  return { text, json, orig: value, origText: text, error: null };
}

const EMPTY_CELL: Cell = cellOf(undefined);

export function cellAt(row: EditorRow, column: string): Cell {
  if (column === EXPECTED) return row.expected;
  return row.vars[column] ?? EMPTY_CELL;
}

/** Tags typed as `a, b ,c` → ["a", "b", "c"]. */
export function parseTags(text: string): string[] {
  return text
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "");
}

export function tagsText(tags: readonly string[] | undefined): string {
  return (tags ?? []).join(", ");
}

/** Why a JSON cell's text is not valid JSON, or null when it is (an empty JSON cell is no value). */
export function jsonError(cell: Cell): string | null {
  if (!cell.json || cell.text === cell.origText || cell.text.trim() === "") return null;
  try {
    JSON.parse(cell.text);
    return null;
  } catch (e) {
    return `not valid JSON (${e instanceof Error ? e.message : String(e)})`;
  }
}

/**
 * The value a cell saves: the loaded value while unchanged; else a JSON cell's parsed text (empty:
 * no value) or a text cell's text (emptied: "" when the row had a value, else no value).
 */
export function cellValue(cell: Cell): JsonValue | undefined {
  if (cell.text === cell.origText) return cell.orig;
  if (cell.json) return cell.text.trim() === "" ? undefined : (JSON.parse(cell.text) as JsonValue);
  if (cell.text === "") return cell.orig === undefined ? undefined : "";
  return cell.text;
}

function editorRow(uid: number, r: Row): EditorRow {
  const vars: Record<string, Cell> = {};
  for (const [k, v] of Object.entries(r.vars)) vars[k] = cellOf(v);
  return {
    uid,
    vars,
    keys: Object.keys(r.vars),
    expected: cellOf(r.expected === null ? undefined : r.expected),
    tags: tagsText(r.tags),
    assert: r.assert ?? [],
    description: r.description ?? null,
  };
}

function blankRow(uid: number): EditorRow {
  return { uid, vars: {}, keys: [], expected: EMPTY_CELL, tags: "", assert: [], description: null };
}

/** Variable names across rows, in order of first appearance, after `start`. */
function unionColumns(start: readonly string[], rows: readonly Row[]): string[] {
  const seen = new Set(start);
  const out = [...start];
  for (const r of rows)
    for (const k of Object.keys(r.vars))
      if (!seen.has(k)) {
        seen.add(k);
        out.push(k);
      }
  return out;
}

function withRows(s: DatasetEditorState, rows: readonly Row[]): { rows: EditorRow[]; nextUid: number } {
  let uid = s.nextUid;
  return { rows: rows.map((r) => editorRow(uid++, r)), nextUid: uid };
}

/** Why `name` cannot be added as a variable column, or null when it can. */
export function variableNameError(s: DatasetEditorState, name: string): string | null {
  const n = name.trim();
  if (!n) return "Type the variable's name first.";
  if (n === EXPECTED || n === TAGS) return `“${n}” names the ${n} column; pick another name for the variable.`;
  if (s.columns.includes(n)) return `There is already a variable named “${n}”.`;
  return null;
}

function editRow(s: DatasetEditorState, index: number, f: (r: EditorRow) => EditorRow): DatasetEditorState {
  if (s.readOnly || index < 0 || index >= s.rows.length) return s;
  const rows = s.rows.slice();
  rows[index] = f(rows[index]);
  return { ...s, rows, dirty: true };
}

function setCell(r: EditorRow, column: string, cell: Cell): EditorRow {
  return column === EXPECTED ? { ...r, expected: cell } : { ...r, vars: { ...r.vars, [column]: cell } };
}

export function datasetReducer(s: DatasetEditorState, a: DatasetAction): DatasetEditorState {
  switch (a.type) {
    case "loaded": {
      const { rows, nextUid } = withRows(s, a.rows);
      return {
        name: a.name,
        isNew: false,
        version: a.version,
        latest: a.latest,
        readOnly: a.version !== a.latest,
        columns: unionColumns([], a.rows),
        rows,
        dirty: false,
        nextUid,
      };
    }
    case "created":
      return { ...initialDatasetEditor, name: a.name, isNew: true, dirty: true, nextUid: s.nextUid };
    case "imported": {
      if (s.name === null || s.readOnly) return s;
      const { rows, nextUid } = withRows(s, a.rows);
      if (a.mode === "replace") return { ...s, columns: unionColumns([], a.rows), rows, nextUid, dirty: true };
      return { ...s, columns: unionColumns(s.columns, a.rows), rows: [...s.rows, ...rows], nextUid, dirty: true };
    }
    case "importedNew": {
      const { rows, nextUid } = withRows(s, a.rows);
      return { ...initialDatasetEditor, name: a.name, isNew: true, columns: unionColumns([], a.rows), rows, dirty: true, nextUid };
    }
    case "editCell":
      if (a.column !== EXPECTED && !s.columns.includes(a.column)) return s;
      return editRow(s, a.row, (r) => setCell(r, a.column, { ...cellAt(r, a.column), text: a.text, error: null }));
    case "blurCell": {
      const r = s.rows[a.row];
      if (!r) return s;
      const cell = cellAt(r, a.column);
      const error = jsonError(cell);
      if (error === cell.error) return s;
      const rows = s.rows.slice();
      rows[a.row] = setCell(r, a.column, { ...cell, error });
      return { ...s, rows };
    }
    case "editTags":
      return editRow(s, a.row, (r) => ({ ...r, tags: a.text }));
    case "addRow":
      if (s.name === null || s.readOnly) return s;
      return { ...s, rows: [...s.rows, blankRow(s.nextUid)], nextUid: s.nextUid + 1, dirty: true };
    case "deleteRow":
      if (s.readOnly || a.row < 0 || a.row >= s.rows.length) return s;
      return { ...s, rows: s.rows.filter((_, i) => i !== a.row), dirty: true };
    case "addVariable":
      if (s.name === null || s.readOnly || variableNameError(s, a.name) !== null) return s;
      return { ...s, columns: [...s.columns, a.name.trim()], dirty: true };
    case "removeVariable": {
      if (s.readOnly || !s.columns.includes(a.name)) return s;
      const rows = s.rows.map((r) => {
        if (!(a.name in r.vars)) return r;
        const vars = { ...r.vars };
        delete vars[a.name];
        return { ...r, vars };
      });
      return { ...s, columns: s.columns.filter((c) => c !== a.name), rows, dirty: true };
    }
    case "validate": {
      let changed = false;
      const rows = s.rows.map((r) => {
        let out = r;
        for (const c of [...s.columns, EXPECTED]) {
          const cell = cellAt(out, c);
          const error = jsonError(cell);
          if (error !== cell.error) {
            out = setCell(out, c, { ...cell, error });
            changed = true;
          }
        }
        return out;
      });
      return changed ? { ...s, rows } : s;
    }
    case "editFromHere":
      if (!s.readOnly) return s;
      return { ...s, readOnly: false, version: s.latest, dirty: true };
    case "saved": {
      if (s.name === null) return s;
      const { rows, nextUid } = withRows(s, a.rows);
      // Columns added but left empty in every row stay on screen.
      return { ...s, isNew: false, version: a.version, latest: a.version, readOnly: false, columns: unionColumns(s.columns, a.rows), rows, nextUid, dirty: false };
    }
    case "unchanged":
      return { ...s, isNew: false, version: a.version, latest: a.version, readOnly: false, dirty: false };
    case "close":
      return { ...initialDatasetEditor, nextUid: s.nextUid };
  }
}

export interface CellProblem {
  row: number;
  column: string;
  message: string;
}

/** The rows to save, or the cells that stop them being saved. */
export function collectRows(s: DatasetEditorState): { rows: Row[]; problems: [] } | { rows: null; problems: CellProblem[] } {
  const problems: CellProblem[] = [];
  const rows: Row[] = [];
  s.rows.forEach((r, i) => {
    const vars: { [key: string]: JsonValue } = {};
    // The loaded order first, then columns added since.
    const order = [...r.keys.filter((k) => s.columns.includes(k)), ...s.columns.filter((c) => !r.keys.includes(c))];
    for (const c of order) {
      const cell = cellAt(r, c);
      const error = jsonError(cell);
      if (error) {
        problems.push({ row: i, column: c, message: error });
        continue;
      }
      const v = cellValue(cell);
      if (v !== undefined) vars[c] = v;
    }
    const row: Row = { vars };
    const expectedError = jsonError(r.expected);
    if (expectedError) problems.push({ row: i, column: EXPECTED, message: expectedError });
    else {
      const expected = cellValue(r.expected);
      if (expected !== undefined) row.expected = expected;
    }
    const tags = parseTags(r.tags);
    if (tags.length > 0) row.tags = tags;
    if (r.assert.length > 0) row.assert = r.assert;
    if (r.description !== null) row.description = r.description;
    rows.push(row);
  });
  return problems.length > 0 ? { rows: null, problems } : { rows, problems: [] };
}

/** `row 3, “question”: not valid JSON (…)` for the first few problems. */
export function describeProblems(problems: readonly CellProblem[]): string {
  const shown = problems.slice(0, 3).map((p) => `row ${p.row + 1}, “${p.column}”: ${p.message}`);
  const more = problems.length > 3 ? ` (and ${problems.length - 3} more)` : "";
  return `Fix the invalid JSON before saving: ${shown.join("; ")}${more}.`;
}
