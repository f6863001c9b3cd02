import { describe, expect, it } from "vitest";
import type { CellDto } from "../src/bindings/CellDto";
import type { ExperimentCell } from "../src/bindings/ExperimentCell";
import type { ExperimentEventDto } from "../src/bindings/ExperimentEventDto";
import type { Verdict } from "../src/bindings/Verdict";
import {
  cellPassed,
  columnFigures,
  experimentReducer,
  filterRows,
  findingOf,
  idleExperiment,
  nextFailing,
  noFilters,
  quantileSorted,
  rowOutcome,
  totalExperimentCells,
  wilson,
  type ExperimentState,
} from "../src/lib/experimentState";
import { formatDifference, formatShare } from "../src/lib/estimateFormat";
import { cell, err, fail, finished, na, pass } from "./fixtures/experiment";

function dto(row: number, column: number, over: Partial<CellDto> = {}): CellDto {
  return {
    row,
    column,
    model: "demo/small",
    provider: "demo",
    output: `out ${row}-${column}`,
    error: null,
    latency_ms: 120,
    ttft_ms: 30,
    prompt_tokens: 10,
    completion_tokens: 5,
    cost_usd: 0.001,
    cache_status: "MISS",
    trace_id: `t-${row}-${column}`,
    tool_calls: [],
    steps: [],
    ...over,
  };
}

const evaluated = (c: ExperimentCell): ExperimentEventDto => ({ type: "evaluated", cell: c });

function start(rows = 3, columns = 2, repeats = 1): ExperimentState {
  return experimentReducer(idleExperiment, {
    type: "start",
    runId: 1,
    name: "summarize",
    columns: Array.from({ length: columns }, (_, i) => `summarize@1 · demo/m${i}`),
    rows: Array.from({ length: rows }, (_, i) => ({ vars: { text: `row ${i}` } })),
    repeats,
    baseline: 0,
    assertions: [{ type: "contains", value: "a" }, { type: "judge", rubric: "good", score: true }],
  });
}

const events = (s: ExperimentState, ...es: ExperimentEventDto[]) => experimentReducer(s, { type: "events", runId: 1, events: es });

describe("experimentReducer", () => {
  it("starts a pending grid of rows × columns × repeats, with the evaluators' labels", () => {
    const s = start(3, 2, 2);
    expect(s.phase).toBe("running");
    expect(s.cells).toHaveLength(3);
    expect(s.cells[0]).toHaveLength(4);
    expect(totalExperimentCells(s)).toBe(12);
    expect(s.assertions).toEqual(['contains "a"', 'judge "good"']);
    expect(s.scored).toEqual([false, true]);
  });

  it("streams text, then the call, then its verdicts into the right repeat", () => {
    let s = start(2, 2, 2);
    s = events(
      s,
      { type: "cell", repeat: 1, event: { type: "started", row: 1, column: 0 } },
      { type: "cell", repeat: 1, event: { type: "delta", row: 1, column: 0, text: "Hel" } },
      { type: "cell", repeat: 1, event: { type: "delta", row: 1, column: 0, text: "lo" } },
    );
    expect(s.cells[1][1]).toMatchObject({ status: "running", text: "Hello", evaluated: false });
    expect(s.cells[1][0].status).toBe("pending");
    s = events(s, { type: "cell", repeat: 1, event: { type: "finished", cell: dto(1, 0, { output: "Hello!" }) } });
    expect(s.cells[1][1]).toMatchObject({ status: "done", text: "Hello!", evaluated: false });
    expect(s.finished).toBe(1);
    expect(s.cells[1][1].result?.usage).toEqual({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 });
    s = events(s, evaluated(cell(1, 0, [pass(), fail("score 2")], { repeat: 1, output: "Hello!" })));
    expect(s.cells[1][1].evaluated).toBe(true);
    expect(s.cells[1][1].result?.verdicts.map((v) => v.pass)).toEqual([true, false]);
    // Counted once.
    expect(s.finished).toBe(1);
    expect(s.checked).toBe(1);
    // A late delta does not change it.
    expect(events(s, { type: "cell", repeat: 1, event: { type: "delta", row: 1, column: 0, text: "x" } })).toBe(s);
  });

  it("copies only the rows an event touches", () => {
    const s = start(3, 2);
    const t = events(s, { type: "cell", repeat: 0, event: { type: "delta", row: 2, column: 1, text: "x" } });
    expect(t.cells[0]).toBe(s.cells[0]);
    expect(t.cells[1]).toBe(s.cells[1]);
    expect(t.cells[2]).not.toBe(s.cells[2]);
    expect(t.agg).toBe(s.agg);
  });

  it("an evaluated cell that comes first counts as finished too", () => {
    const s = events(start(1, 1), evaluated(cell(0, 0, [pass(), pass()])));
    expect(s.finished).toBe(1);
    expect(s.checked).toBe(1);
    expect(s.agg[0].latencies).toEqual([100]);
  });

  it("puts throttled cells back in the queue and keeps the provider's back-off", () => {
    let s = start(1, 1);
    s = events(
      s,
      { type: "cell", repeat: 0, event: { type: "delta", row: 0, column: 0, text: "part" } },
      { type: "cell", repeat: 0, event: { type: "throttled", row: 0, column: 0, provider: "openai", limit: 2, pause_ms: 1500 } },
    );
    expect(s.cells[0][0]).toMatchObject({ status: "pending", text: "", throttled: 1 });
    expect(s.throttles.openai).toEqual({ provider: "openai", limit: 2, pauseMs: 1500 });
  });

  it("ignores events of another run and cells out of range", () => {
    const s = start(1, 1);
    expect(experimentReducer(s, { type: "events", runId: 2, events: [evaluated(cell(0, 0, []))] })).toBe(s);
    expect(events(s, evaluated(cell(5, 0, [])), evaluated(cell(0, 7, [])))).toBe(s);
  });

  it("keeps running figures per column and evaluator as cells are checked", () => {
    let s = start(4, 2);
    s = events(
      s,
      evaluated(cell(0, 0, [pass(), { pass: true, score: 5, reason: "great" }])),
      evaluated(cell(1, 0, [pass(), { pass: false, score: 2, reason: "rambles" }])),
      evaluated(cell(2, 0, [fail(), { pass: true, score: 4, reason: "fine", cost_usd: 0.0005 }])),
      evaluated(cell(3, 0, [pass(), err("the judge did not answer")], { cost_usd: null })),
      evaluated(cell(0, 1, [pass(), { pass: true, score: 4, reason: "ok" }])),
      evaluated(cell(1, 1, [], { error: "boom", output: "" })),
      evaluated(cell(2, 1, [pass(), { pass: true, score: 4, reason: "ok" }])),
    );
    const [a, b] = columnFigures(s);
    expect(a.final).toBe(false);
    // Rows passing every check: only row 0.
    expect(a.passRate?.mean).toBeCloseTo(0.25);
    expect(a.passRate?.n).toBe(4);
    expect(a.passRate?.low).toBeGreaterThanOrEqual(0);
    expect(a.passRate?.high).toBeLessThanOrEqual(1);
    expect(a.assertions[0].passRate?.mean).toBeCloseTo(0.75);
    expect(a.assertions[1]).toMatchObject({ errors: 1 });
    expect(a.assertions[1].passRate?.mean).toBeCloseTo(2 / 4);
    // Scores 5, 2, 4 are graded: their mean shows.
    expect(a.assertions[1].meanScore?.mean).toBeCloseTo(11 / 3);
    // A plain pass/fail has no mean score.
    expect(a.assertions[0].meanScore).toBeNull();
    // One output's cost is unknown: the total is.
    expect(a.costUsd).toBeNull();
    expect(a.judgeCostUsd).toBeCloseTo(0.0005);
    expect(a.p50?.mean).toBe(quantileSorted([100, 101, 102, 103], 0.5));
    expect(b.errors).toBe(1);
    expect(b.costUsd).toBeCloseTo(0.002);
    // Column 1 against the baseline: row 0 ties (both pass), row 1 ties (both fail: a judge's
    // fail, a failed call), row 2 wins.
    expect(b.comparison).toMatchObject({ wins: 1, ties: 2, losses: 0 });
    expect(b.comparison?.difference?.mean).toBeCloseTo(1 / 3);
    expect(b.comparison?.finding).toBe("no_significant_difference");
    expect(a.comparison).toBeNull();
  });

  it("judges rows: failing, disagreeing, and wins against the baseline", () => {
    const s = events(
      start(3, 2),
      evaluated(cell(0, 0, [pass(), pass()])),
      evaluated(cell(0, 1, [pass(), pass()])),
      evaluated(cell(1, 0, [fail(), pass()])),
      evaluated(cell(1, 1, [pass(), pass()])),
      evaluated(cell(2, 0, [pass(), pass()])),
    );
    expect(s.rowInfo.map((r) => r.failing)).toEqual([false, true, false]);
    expect(s.rowInfo.map((r) => r.disagree)).toEqual([false, true, false]);
    expect(rowOutcome(s.rowInfo[0], 1, 0)).toBe("tie");
    expect(rowOutcome(s.rowInfo[1], 1, 0)).toBe("win");
    // Row 2's column 1 has not been checked yet.
    expect(rowOutcome(s.rowInfo[2], 1, 0)).toBeNull();
    expect(rowOutcome(s.rowInfo[1], 0, 0)).toBeNull();
    expect(filterRows(s.rowInfo, noFilters)).toEqual([0, 1, 2]);
    expect(filterRows(s.rowInfo, { ...noFilters, failing: true })).toEqual([1]);
    expect(filterRows(s.rowInfo, { ...noFilters, disagree: true })).toEqual([1]);
    expect(filterRows(s.rowInfo, { failing: true, flaky: true, disagree: false })).toEqual([]);
  });

  it("marks rows flaky when a column's repeats disagree", () => {
    const s = events(
      start(2, 1, 2),
      evaluated(cell(0, 0, [pass(), pass()], { repeat: 0 })),
      evaluated(cell(0, 0, [fail(), pass()], { repeat: 1 })),
      evaluated(cell(1, 0, [pass(), pass()], { repeat: 0 })),
      evaluated(cell(1, 0, [pass(), pass()], { repeat: 1 })),
    );
    expect(s.rowInfo.map((r) => r.flaky)).toEqual([true, false]);
    expect(s.rowInfo[0].scores).toEqual([0.5]);
    expect(filterRows(s.rowInfo, { ...noFilters, flaky: true })).toEqual([0]);
    // The column's pass rate is the mean of the rows' shares.
    expect(columnFigures(s)[0].passRate?.mean).toBeCloseTo(0.75);
  });

  it("does not count a pairwise check that is still pending, nor one that does not apply", () => {
    const pending: Verdict = { pass: null, reason: "pending", error: "pending" };
    const c = cell(0, 1, [pass(), pending]);
    expect(cellPassed(c)).toBe(true);
    expect(cellPassed(cell(0, 0, [pass(), na]))).toBe(true);
    expect(cellPassed(cell(0, 0, [pass(), err("x")]))).toBe(false);
    const s = events(start(1, 2), evaluated(c));
    expect(columnFigures(s)[1].assertions[1].passRate).toBeNull();
  });

  it("moves to the next failing row, wrapping", () => {
    const s = events(
      start(4, 1),
      evaluated(cell(0, 0, [fail(), pass()])),
      evaluated(cell(1, 0, [pass(), pass()])),
      evaluated(cell(2, 0, [pass(), fail()])),
    );
    const shown = filterRows(s.rowInfo, noFilters);
    expect(nextFailing(s.rowInfo, shown, -1)).toBe(0);
    expect(nextFailing(s.rowInfo, shown, 0)).toBe(2);
    expect(nextFailing(s.rowInfo, shown, 2)).toBe(0);
    expect(nextFailing(s.rowInfo, [1, 3], -1)).toBe(-1);
    expect(nextFailing(s.rowInfo, [], -1)).toBe(-1);
  });

  it("takes the finished experiment's summary as the final figures", () => {
    let s = start(2, 2);
    s = events(s, evaluated(cell(0, 0, [pass(), pass()])));
    const done = experimentReducer(s, { type: "result", runId: 1, experiment: finished() });
    expect(done.phase).toBe("done");
    expect(done.wallMs).toBe(900);
    expect(done.finished).toBe(4);
    expect(done.cells[1][1].result?.verdicts[1].reason).toBe("judge: too long");
    expect(done.rowInfo.map((r) => r.flaky)).toEqual([false, true]);
    const [a, b] = columnFigures(done);
    expect(a.final).toBe(true);
    expect(formatShare(a.passRate)).toBe("83% [61–95]");
    expect(formatShare(a.assertions[1].passRate)).toBe("50% [10–90]");
    expect(a.assertions[1].meanScore?.mean).toBe(3.5);
    expect(b.comparison?.finding).toBe("worse");
    expect(formatDifference(b.comparison?.difference ?? null)).toBe("−30 pts [−55, −5]");
    expect(b.costPerRowUsd).toBe(0.0012);
  });

  it("opens a saved experiment, and a cancelled one says so", () => {
    const e = { ...finished(), cancelled: true };
    const s = experimentReducer(start(), { type: "open", runId: 7, experiment: e });
    expect(s.runId).toBe(7);
    expect(s.phase).toBe("cancelled");
    expect(s.columns).toEqual(["summarize@1 · demo/small", "summarize@2 · demo/small"]);
    expect(s.rows).toHaveLength(2);
  });

  it("records failure and cancellation", () => {
    const s = start();
    expect(experimentReducer(s, { type: "failed", runId: 1, message: "no", cancelled: false }).phase).toBe("error");
    expect(experimentReducer(s, { type: "failed", runId: 1, message: "stopped", cancelled: true }).phase).toBe("cancelled");
    expect(experimentReducer(s, { type: "failed", runId: 3, message: "other", cancelled: false })).toBe(s);
  });
});

describe("a large experiment", () => {
  it("1,000 rows × 4 columns: each batch touches only its rows, and the figures add up", () => {
    let s = start(1000, 4);
    const before = s.cells;
    const t0 = performance.now();
    // Batches of 100 events, as the engine sends them (streamed text, then checked cells).
    for (let b = 0; b < 40; b++) {
      const batch: ExperimentEventDto[] = [];
      for (let k = 0; k < 100; k++) {
        const i = b * 100 + k;
        const row = Math.floor(i / 4);
        const col = i % 4;
        batch.push({ type: "cell", repeat: 0, event: { type: "delta", row, column: col, text: "x" } });
        batch.push(evaluated(cell(row, col, [row % 10 === 0 && col === 1 ? fail() : pass(), pass()])));
      }
      const next = events(s, ...batch);
      // Rows this batch did not touch are the same objects.
      const untouched = (b * 25 + 500) % 1000;
      if (untouched >= (b + 1) * 25 || untouched < b * 25) expect(next.cells[untouched]).toBe(s.cells[untouched]);
      s = next;
    }
    const ms = performance.now() - t0;
    expect(s.finished).toBe(4000);
    expect(s.checked).toBe(4000);
    expect(s.cells).not.toBe(before);
    const f = columnFigures(s);
    expect(f[0].passRate?.mean).toBe(1);
    expect(f[1].passRate?.mean).toBeCloseTo(0.9);
    expect(f[1].comparison).toMatchObject({ wins: 0, ties: 900, losses: 100 });
    expect(f[1].comparison?.finding).toBe("worse");
    expect(filterRows(s.rowInfo, { ...noFilters, failing: true })).toHaveLength(100);
    // Generous: a few tens of milliseconds on a laptop.
    expect(ms).toBeLessThan(3000);
  });
});

describe("estimates", () => {
  it("Wilson intervals stay within 0–1 and narrow with more rows", () => {
    const small = wilson(0.5, 4);
    const large = wilson(0.5, 400);
    expect(small.low).toBeGreaterThan(0);
    expect(small.high).toBeLessThan(1);
    expect((large.high ?? 0) - (large.low ?? 0)).toBeLessThan((small.high ?? 0) - (small.low ?? 0));
    expect(wilson(1, 10).high).toBeCloseTo(1);
    expect(wilson(0, 10).low).toBe(0);
  });

  it("states a finding as the engine does", () => {
    expect(findingOf({ mean: 0.2, low: 0.05, high: 0.3, n: 20 })).toBe("better");
    expect(findingOf({ mean: -0.2, low: -0.3, high: -0.1, n: 20 })).toBe("worse");
    expect(findingOf({ mean: 0.1, low: -0.1, high: 0.3, n: 20 })).toBe("no_significant_difference");
    expect(findingOf({ mean: 1, low: 1, high: 1, n: 1 })).toBe("no_significant_difference");
  });
});
