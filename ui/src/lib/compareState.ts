import type { CellDto } from "../bindings/CellDto";
import type { ColumnTotalDto } from "../bindings/ColumnTotalDto";
import type { CompareEventDto } from "../bindings/CompareEventDto";
import type { CompareResult } from "./api";

export type CellStatus = "pending" | "running" | "done" | "error";

export interface CellState {
  status: CellStatus;
  /** Streamed text so far (the final output once done). */
  text: string;
  /** The finished cell as the engine reported it. */
  result: CellDto | null;
  /** Times the provider answered 429 and the cell was queued again. */
  throttled: number;
}

/** The latest back-off a provider asked for, shown above the grid while the run goes on. */
export interface ThrottleNotice {
  provider: string;
  /** Calls to this provider allowed in flight from now on. */
  limit: number;
  pauseMs: number;
}

export type Phase = "idle" | "running" | "done" | "cancelled" | "error";

export interface CompareState {
  /** Identifies the run; events of any other run are ignored. */
  runId: number;
  phase: Phase;
  models: string[];
  /** `cells[row][column]`. */
  cells: CellState[][];
  /** Totals from the final result (null while running: use `liveTotals`). */
  totals: ColumnTotalDto[] | null;
  error: string | null;
  wallMs: number | null;
  /** Count of finished cells, to show progress without rescanning. */
  finished: number;
  /** Per provider, the last 429 back-off of this run. */
  throttles: Record<string, ThrottleNotice>;
}

export type CompareAction =
  | { type: "start"; runId: number; models: string[]; rows: number }
  | { type: "event"; runId: number; event: CompareEventDto }
  | { type: "events"; runId: number; events: CompareEventDto[] }
  | { type: "result"; runId: number; result: CompareResult }
  | { type: "failed"; runId: number; message: string; cancelled: boolean }
  | { type: "reset" };

export const idleState: CompareState = {
  runId: 0,
  phase: "idle",
  models: [],
  cells: [],
  totals: null,
  error: null,
  wallMs: null,
  finished: 0,
  throttles: {},
};

const pending: CellState = { status: "pending", text: "", result: null, throttled: 0 };

function emptyGrid(rows: number, cols: number): CellState[][] {
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => pending));
}

function updateCell(state: CompareState, row: number, col: number, f: (c: CellState) => CellState): CompareState {
  const r = state.cells[row];
  if (!r || col < 0 || col >= r.length) return state;
  const before = r[col];
  const after = f(before);
  if (after === before) return state;
  const newRow = r.slice();
  newRow[col] = after;
  const cells = state.cells.slice();
  cells[row] = newRow;
  const wasFinished = before.status === "done" || before.status === "error";
  const isFinished = after.status === "done" || after.status === "error";
  return { ...state, cells, finished: state.finished + (isFinished && !wasFinished ? 1 : 0) };
}

function finishedCell(cell: CellDto, throttled = 0): CellState {
  return { status: cell.error ? "error" : "done", text: cell.output, result: cell, throttled };
}

function applyEvent(state: CompareState, event: CompareEventDto): CompareState {
  switch (event.type) {
    case "started":
      return updateCell(state, event.row, event.column, (c) =>
        c.status === "pending" ? { ...c, status: "running" } : c,
      );
    case "delta":
      return updateCell(state, event.row, event.column, (c) =>
        c.status === "done" || c.status === "error" ? c : { ...c, status: "running", text: c.text + event.text },
      );
    case "throttled": {
      // The cell goes back to the queue; anything it showed belonged to the refused attempt.
      const s = updateCell(state, event.row, event.column, (c) =>
        c.status === "done" || c.status === "error" ? c : { ...c, status: "pending", text: "", throttled: c.throttled + 1 },
      );
      const notice: ThrottleNotice = { provider: event.provider, limit: event.limit, pauseMs: event.pause_ms };
      return { ...s, throttles: { ...s.throttles, [event.provider]: notice } };
    }
    case "finished":
      return updateCell(state, event.cell.row, event.cell.column, (c) => finishedCell(event.cell, c.throttled));
  }
}

export function compareReducer(state: CompareState, action: CompareAction): CompareState {
  switch (action.type) {
    case "reset":
      return idleState;
    case "start":
      // A new run drops everything of the previous one.
      return {
        ...idleState,
        runId: action.runId,
        phase: "running",
        models: action.models.slice(),
        cells: emptyGrid(action.rows, action.models.length),
      };
    case "event":
      if (action.runId !== state.runId || state.phase !== "running") return state;
      return applyEvent(state, action.event);
    case "events": {
      if (action.runId !== state.runId || state.phase !== "running") return state;
      let s = state;
      for (const e of action.events) s = applyEvent(s, e);
      return s;
    }
    case "result": {
      if (action.runId !== state.runId) return state;
      let s: CompareState = { ...state };
      const rows = action.result.cells.length;
      if (s.cells.length !== rows || s.models.length !== action.result.models.length) {
        s = { ...s, models: action.result.models.slice(), cells: emptyGrid(rows, action.result.models.length), finished: 0 };
      }
      for (const row of action.result.cells)
        for (const cell of row) s = updateCell(s, cell.row, cell.column, (c) => finishedCell(cell, c.throttled));
      return { ...s, phase: "done", totals: action.result.totals, wallMs: action.result.wall_ms };
    }
    case "failed":
      if (action.runId !== state.runId) return state;
      return { ...state, phase: action.cancelled ? "cancelled" : "error", error: action.message };
  }
}

/** Per-column totals from the cells finished so far (what the final totals will add up to). */
export function liveTotals(state: CompareState): ColumnTotalDto[] {
  return state.models.map((model, col) => {
    let cells = 0;
    let errors = 0;
    let promptTokens = 0;
    let completionTokens = 0;
    let cost = 0;
    let anyCost = false;
    let latency = 0;
    for (const row of state.cells) {
      const c = row[col];
      if (!c || !c.result) continue;
      cells++;
      if (c.result.error) errors++;
      promptTokens += c.result.prompt_tokens ?? 0;
      completionTokens += c.result.completion_tokens ?? 0;
      if (c.result.cost_usd !== null) {
        cost += c.result.cost_usd;
        anyCost = true;
      }
      latency += c.result.latency_ms;
    }
    return {
      model,
      cells,
      errors,
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      cost_usd: anyCost ? cost : null,
      mean_latency_ms: cells ? Math.round(latency / cells) : 0,
    };
  });
}

export function totalCells(state: CompareState): number {
  return state.cells.length * state.models.length;
}
