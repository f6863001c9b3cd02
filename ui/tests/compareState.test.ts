import { describe, expect, it } from "vitest";
import type { CellDto } from "../src/bindings/CellDto";
import { compareReducer, idleState, liveTotals, totalCells } from "../src/lib/compareState";
import type { CompareResult } from "../src/lib/api";

const cell = (row: number, column: number, extra: Partial<CellDto> = {}): CellDto => ({
  row,
  column,
  model: column === 0 ? "demo/small" : "demo/large",
  provider: "demo",
  output: `out ${row}-${column}`,
  error: null,
  latency_ms: 100 * (column + 1),
  ttft_ms: 20,
  prompt_tokens: 10,
  completion_tokens: 5,
  cost_usd: 0.0001,
  cache_status: "miss",
  trace_id: `t-${row}-${column}`,
  tool_calls: [],
  steps: [],
  ...extra,
});

const started = () => compareReducer(idleState, { type: "start", runId: 1, models: ["demo/small", "demo/large"], rows: 2 });

describe("compareReducer", () => {
  it("starts with a pending grid", () => {
    const s = started();
    expect(s.phase).toBe("running");
    expect(s.cells).toHaveLength(2);
    expect(s.cells[1]).toHaveLength(2);
    expect(s.cells[0][0].status).toBe("pending");
    expect(totalCells(s)).toBe(4);
  });

  it("streams deltas into the right cell", () => {
    let s = started();
    s = compareReducer(s, { type: "event", runId: 1, event: { type: "started", row: 1, column: 0 } });
    s = compareReducer(s, {
      type: "events",
      runId: 1,
      events: [
        { type: "delta", row: 1, column: 0, text: "Hel" },
        { type: "delta", row: 1, column: 0, text: "lo" },
      ],
    });
    expect(s.cells[1][0]).toMatchObject({ status: "running", text: "Hello" });
    expect(s.cells[0][0].status).toBe("pending");
  });

  it("only copies the changed row", () => {
    const s = started();
    const t = compareReducer(s, { type: "event", runId: 1, event: { type: "delta", row: 0, column: 1, text: "x" } });
    expect(t.cells[1]).toBe(s.cells[1]);
    expect(t.cells[0]).not.toBe(s.cells[0]);
  });

  it("finishes cells and counts them once", () => {
    let s = started();
    s = compareReducer(s, { type: "event", runId: 1, event: { type: "finished", cell: cell(0, 1) } });
    s = compareReducer(s, { type: "event", runId: 1, event: { type: "finished", cell: cell(0, 1) } });
    s = compareReducer(s, { type: "event", runId: 1, event: { type: "finished", cell: cell(1, 1, { error: "boom", output: "" }) } });
    expect(s.cells[0][1]).toMatchObject({ status: "done", text: "out 0-1" });
    expect(s.cells[1][1].status).toBe("error");
    expect(s.finished).toBe(2);
    // late deltas do not change a finished cell
    const t = compareReducer(s, { type: "event", runId: 1, event: { type: "delta", row: 0, column: 1, text: "late" } });
    expect(t).toBe(s);
  });

  it("puts a throttled cell back in the queue and keeps the provider's back-off", () => {
    let s = started();
    s = compareReducer(s, { type: "event", runId: 1, event: { type: "started", row: 0, column: 0 } });
    s = compareReducer(s, { type: "event", runId: 1, event: { type: "delta", row: 0, column: 0, text: "partial" } });
    s = compareReducer(s, {
      type: "event",
      runId: 1,
      event: { type: "throttled", row: 0, column: 0, provider: "openai", limit: 2, pause_ms: 1500 },
    });
    expect(s.cells[0][0]).toMatchObject({ status: "pending", text: "", throttled: 1 });
    expect(s.throttles.openai).toEqual({ provider: "openai", limit: 2, pauseMs: 1500 });
    expect(s.finished).toBe(0);
    s = compareReducer(s, { type: "event", runId: 1, event: { type: "started", row: 0, column: 0 } });
    s = compareReducer(s, { type: "event", runId: 1, event: { type: "finished", cell: cell(0, 0) } });
    expect(s.cells[0][0]).toMatchObject({ status: "done", throttled: 1 });
    // A throttle notice for a cell already finished changes the notice, not the cell.
    const t = compareReducer(s, {
      type: "event",
      runId: 1,
      event: { type: "throttled", row: 0, column: 0, provider: "openai", limit: 1, pause_ms: 3000 },
    });
    expect(t.cells).toBe(s.cells);
    expect(t.throttles.openai.limit).toBe(1);
  });

  it("ignores events from other runs and out-of-range cells", () => {
    const s = started();
    expect(compareReducer(s, { type: "event", runId: 2, event: { type: "delta", row: 0, column: 0, text: "x" } })).toBe(s);
    expect(compareReducer(s, { type: "event", runId: 1, event: { type: "delta", row: 9, column: 0, text: "x" } })).toBe(s);
  });

  it("drops the previous run when a new one starts", () => {
    let s = started();
    s = compareReducer(s, { type: "event", runId: 1, event: { type: "finished", cell: cell(0, 0) } });
    s = compareReducer(s, { type: "start", runId: 2, models: ["demo/fast"], rows: 1 });
    expect(s.cells).toEqual([[{ status: "pending", text: "", result: null, throttled: 0 }]]);
    expect(s.finished).toBe(0);
  });

  it("takes the final result as authoritative", () => {
    const s = started();
    const result: CompareResult = {
      run_id: "run_1",
      prompt_id: "pr_1",
      slug: "x",
      version: 3,
      models: ["demo/small", "demo/large"],
      cells: [
        [cell(0, 0), cell(0, 1)],
        [cell(1, 0), cell(1, 1)],
      ],
      totals: [],
      wall_ms: 420,
    };
    const t = compareReducer(s, { type: "result", runId: 1, result });
    expect(t.phase).toBe("done");
    expect(t.finished).toBe(4);
    expect(t.wallMs).toBe(420);
    expect(t.cells[1][1].text).toBe("out 1-1");
  });

  it("records failure and cancellation", () => {
    const s = started();
    expect(compareReducer(s, { type: "failed", runId: 1, message: "nope", cancelled: false }).phase).toBe("error");
    expect(compareReducer(s, { type: "failed", runId: 1, message: "stopped", cancelled: true }).phase).toBe("cancelled");
  });
});

describe("liveTotals", () => {
  it("sums finished cells per column", () => {
    let s = started();
    s = compareReducer(s, { type: "event", runId: 1, event: { type: "finished", cell: cell(0, 0) } });
    s = compareReducer(s, { type: "event", runId: 1, event: { type: "finished", cell: cell(1, 0, { cost_usd: 0.0002, latency_ms: 300 }) } });
    s = compareReducer(s, { type: "event", runId: 1, event: { type: "finished", cell: cell(0, 1, { cost_usd: null, error: "x" }) } });
    const [a, b] = liveTotals(s);
    expect(a).toMatchObject({ model: "demo/small", cells: 2, errors: 0, prompt_tokens: 20, completion_tokens: 10, mean_latency_ms: 200 });
    expect(a.cost_usd).toBeCloseTo(0.0003);
    expect(b).toMatchObject({ cells: 1, errors: 1, cost_usd: null });
  });
});
