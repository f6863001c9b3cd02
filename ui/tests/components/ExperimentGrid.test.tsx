// @vitest-environment jsdom
import { beforeEach, describe, expect, it, vi } from "vitest";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import type { LogFull } from "../../src/lib/api";
import { columnFigures, experimentReducer, filterRows, idleExperiment, noFilters, type ExperimentState } from "../../src/lib/experimentState";
import { cell, fail, finished, na, pass } from "../fixtures/experiment";

const api = vi.hoisted(() => ({ getLog: vi.fn() }));
vi.mock("../../src/lib/api", async (original) => ({ ...(await original<object>()), api }));

const { ExperimentGrid } = await import("../../src/screens/compare/ExperimentGrid");
const { CellDetail } = await import("../../src/screens/compare/CellDetail");
const { ExperimentCharts } = await import("../../src/screens/compare/ExperimentCharts");

function done(): ExperimentState {
  return experimentReducer(idleExperiment, { type: "open", runId: 1, experiment: finished() });
}

function grid(state: ExperimentState, marked: number | null = null) {
  const onOpen = vi.fn();
  render(
    <ExperimentGrid
      state={state}
      figures={columnFigures(state)}
      shown={filterRows(state.rowInfo, noFilters)}
      marked={marked}
      diffMode={false}
      selected={null}
      onOpen={onOpen}
    />,
  );
  return onOpen;
}

beforeEach(() => {
  api.getLog.mockReset();
});

describe("ExperimentGrid", () => {
  it("heads each column with its pass rates and intervals, and the comparison with the baseline", () => {
    grid(done());
    expect(screen.getByTestId("column-0").textContent).toContain("summarize@1 · demo/small");
    expect(screen.getByTestId("column-0").textContent).toContain("baseline");
    expect(screen.getByTestId("column-pass-0").textContent).toBe("83% [61–95]");
    expect(screen.getByTestId("column-pass-0-0").textContent).toBe("100% [100–100]");
    expect(screen.getByTestId("column-pass-0-1").textContent).toBe("50% [10–90]");
    // The judge's scores have a mean.
    expect(screen.getByTestId("column-0").textContent).toContain("mean 3.50 [2.00–5.00]");
    expect(screen.getByTestId("column-pass-1").textContent).toBe("50% [20–80]");
    const cmp = screen.getByTestId("comparison-1");
    expect(cmp.textContent).toContain("worse");
    expect(cmp.textContent).toContain("−30 pts [−55, −5]");
    expect(cmp.textContent).toContain("0W 1T 1L");
    expect(cmp.textContent).not.toContain("so far");
    expect(screen.queryByTestId("comparison-0")).toBeNull();
    // Cost of outputs and of judging, latency.
    expect(screen.getByTestId("column-1").textContent).toContain("$0.002400");
    expect(screen.getByTestId("column-1").textContent).toContain("judging $0.000400");
    expect(screen.getByTestId("column-1").textContent).toContain("p50 200 ms");
  });

  it("puts a badge per verdict in each cell, with the judge's score", () => {
    grid(done());
    expect(screen.getByTestId("badge-0-0-0").textContent).toBe("✓");
    expect(screen.getByTestId("badge-0-0-1").textContent).toBe("✓ 5");
    expect(screen.getByTestId("badge-1-1-0").textContent).toBe("✗");
    expect(screen.getByTestId("badge-1-1-0").getAttribute("title")).toContain('no "a" in the output');
    expect(screen.getByTestId("badge-1-1-1").textContent).toBe("✗ 1");
    expect(screen.queryByTestId("badge-0-0-2")).toBeNull();
    // Against the baseline: both rows tie (row 1 fails in both).
    expect(screen.getByTestId("row-outcome-0-1").textContent).toContain("tie");
    expect(screen.queryByTestId("row-outcome-0-0")).toBeNull();
    // Row 1 is flaky per the summary.
    expect(screen.getByTestId("row-flaky-1")).toBeTruthy();
    expect(screen.getByTestId("cell-output-1-1").textContent).toBe("out 1-1");
  });

  it("shows errors, checks that do not apply, and live figures while running", () => {
    let s = experimentReducer(idleExperiment, {
      type: "start",
      runId: 1,
      name: "x",
      columns: ["a", "b"],
      rows: [{ vars: { q: "1" } }, { vars: { q: "2" } }],
      repeats: 1,
      baseline: 0,
      assertions: [{ type: "contains", value: "x" }, { type: "pairwise" }],
    });
    s = experimentReducer(s, {
      type: "events",
      runId: 1,
      events: [
        { type: "evaluated", cell: cell(0, 0, [pass(), na]) },
        { type: "evaluated", cell: cell(0, 1, [fail(), { pass: null, reason: "pending", error: "pending" }]) },
        { type: "evaluated", cell: cell(1, 0, [{ pass: null, reason: "the call failed: boom", error: "the call failed: boom" }, na], { error: "boom" }) },
        { type: "cell", repeat: 0, event: { type: "delta", row: 1, column: 1, text: "stream" } },
      ],
    });
    grid(s);
    expect(screen.getByTestId("badge-0-0-1").textContent).toBe("—");
    expect(screen.getByTestId("badge-0-1-1").textContent).toBe("…");
    expect(screen.getByTestId("badge-1-0-0").textContent).toBe("!");
    expect(screen.getByTestId("cell-status-1-1").textContent).toBe("streaming");
    expect(screen.getByTestId("row-outcome-0-1").textContent).toContain("loss");
    // Live: the share of rows passing so far, with a Wilson interval, and "so far".
    expect(screen.getByTestId("column-pass-0").textContent).toMatch(/^50% \[\d+–\d+\]$/);
    expect(screen.getByTestId("comparison-1").textContent).toContain("so far");
  });

  it("opens a cell's detail on click", () => {
    const onOpen = grid(done());
    fireEvent.click(screen.getByTestId("cell-1-1"));
    expect(onOpen).toHaveBeenCalledWith({ row: 1, column: 1, repeat: 0 });
  });

  it("marks the row 'n' jumped to", () => {
    grid(done(), 1);
    expect(screen.getByTestId("exp-row-1").getAttribute("aria-current")).toBe("true");
    expect(screen.getByTestId("exp-row-0").getAttribute("aria-current")).toBeNull();
  });
});

describe("CellDetail", () => {
  it("lists each verdict's reason, the diff against the baseline and the trace, and loads the log", async () => {
    const state = done();
    const detail: LogFull = {
      call: {
        id: "c1",
        trace_id: "t-1-1",
        created_at: 0,
        source: "eval",
        prompt_id: null,
        prompt_version: null,
        provider: "demo",
        model: "demo/small",
        key_name: null,
        status: 200,
        success: true,
        error: null,
        cache_status: "MISS",
        latency_ms: 1,
        ttft_ms: null,
        prompt_tokens: 1,
        completion_tokens: 1,
        cost_usd: 0,
        retry_count: 0,
        target_path: null,
        metadata: {},
      },
      request: '{"model": "demo/small"}',
      response: '{"choices": []}',
      attempts: [],
      feedback: [],
    };
    api.getLog.mockResolvedValue(detail);
    const onClose = vi.fn();
    render(<CellDetail state={state} at={{ row: 1, column: 1, repeat: 0 }} onRepeat={() => undefined} onClose={onClose} />);
    const panel = screen.getByTestId("cell-detail");
    expect(panel.textContent).toContain('contains "a"');
    expect(screen.getByTestId("verdict-reason-0").textContent).toBe('no "a" in the output');
    expect(screen.getByTestId("verdict-reason-1").textContent).toBe("judge: too long");
    expect(screen.getByTestId("cell-detail-output").textContent).toBe("out 1-1");
    const diff = screen.getByTestId("cell-detail-diff");
    expect(diff.querySelector(".diff-delete")?.textContent).toContain("1-0");
    expect(diff.querySelector(".diff-insert")?.textContent).toContain("1-1");
    expect(screen.getByTestId("cell-detail-trace").textContent).toContain("t-1-1");
    fireEvent.click(screen.getByTestId("cell-detail-log"));
    await waitFor(() => expect(panel.textContent).toContain('{"model": "demo/small"}'));
    expect(api.getLog).toHaveBeenCalledWith("t-1-1");
    fireEvent.click(screen.getByTestId("cell-detail-close"));
    expect(onClose).toHaveBeenCalled();
  });

  it("says a check does not apply on the baseline column", () => {
    const e = finished();
    e.cells[0] = cell(0, 0, [pass(), na]);
    const state = experimentReducer(idleExperiment, { type: "open", runId: 1, experiment: e });
    render(<CellDetail state={state} at={{ row: 0, column: 0, repeat: 0 }} onRepeat={() => undefined} onClose={() => undefined} />);
    expect(screen.getByTestId("verdict-reason-1").textContent).toBe("Does not apply: the baseline");
    expect(screen.queryByTestId("cell-detail-diff")).toBeNull();
  });
});

describe("ExperimentCharts", () => {
  it("places each column by pass rate against cost and latency, labelled", () => {
    render(<ExperimentCharts figures={columnFigures(done())} />);
    const chart = screen.getByTestId("experiment-chart");
    expect(screen.getByTestId("chart-point-cost-0").textContent).toContain("1 demo/small");
    expect(screen.getByTestId("chart-point-cost-1").textContent).toContain("2 demo/small");
    expect(screen.getByTestId("chart-point-latency-1")).toBeTruthy();
    // The first column passes more at a lower cost: it sits higher and further left.
    const y = (id: string) => Number(screen.getByTestId(id).querySelector("circle")?.getAttribute("cy"));
    const x = (id: string) => Number(screen.getByTestId(id).querySelector("circle")?.getAttribute("cx"));
    expect(y("chart-point-cost-0")).toBeLessThan(y("chart-point-cost-1"));
    expect(x("chart-point-cost-0")).toBeLessThan(x("chart-point-cost-1"));
    expect(chart.textContent).toContain("Pass rate against latency p50");
  });
});
