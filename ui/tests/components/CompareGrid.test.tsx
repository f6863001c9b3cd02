// @vitest-environment jsdom
import { describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import type { CellDto } from "../../src/bindings/CellDto";
import { compareReducer, idleState, liveTotals, type CompareState } from "../../src/lib/compareState";
import { CompareGrid } from "../../src/screens/compare/CompareGrid";

function cell(row: number, column: number, output: string, over: Partial<CellDto> = {}): CellDto {
  return {
    row,
    column,
    model: column === 0 ? "demo/small" : "demo/large",
    provider: "demo",
    output,
    error: null,
    latency_ms: 120,
    ttft_ms: 40,
    prompt_tokens: 12,
    completion_tokens: 5,
    cost_usd: 0.000123,
    cache_status: "MISS",
    trace_id: `trace-${row}-${column}`,
    tool_calls: [],
    steps: [],
    ...over,
  };
}

function runState(): CompareState {
  let s = compareReducer(idleState, { type: "start", runId: 1, models: ["demo/small", "demo/large"], rows: 2 });
  s = compareReducer(s, {
    type: "events",
    runId: 1,
    events: [
      { type: "started", row: 0, column: 0 },
      { type: "delta", row: 0, column: 0, text: "The quick brown fox" },
      { type: "finished", cell: cell(0, 0, "The quick brown fox") },
      { type: "started", row: 0, column: 1 },
      { type: "finished", cell: cell(0, 1, "The slow brown fox") },
      { type: "started", row: 1, column: 0 },
      { type: "delta", row: 1, column: 0, text: "Still typ" },
      { type: "finished", cell: cell(1, 1, "", { error: "demo/large returned 500: boom", cost_usd: null }) },
    ],
  });
  return s;
}

function grid(state: CompareState, props: Partial<Parameters<typeof CompareGrid>[0]> = {}) {
  const onFeedback = vi.fn();
  render(
    <CompareGrid
      state={state}
      rows={[{ topic: "foxes" }, { topic: "owls" }]}
      totals={liveTotals(state)}
      diffMode={false}
      baseline={0}
      feedback={{}}
      onFeedback={onFeedback}
      {...props}
    />,
  );
  return onFeedback;
}

describe("CompareGrid", () => {
  it("shows each cell's output, status, cost and errors as they arrive", () => {
    grid(runState());
    expect(screen.getByTestId("cell-output-0-0").textContent).toBe("The quick brown fox");
    expect(screen.getByTestId("cell-status-0-0").textContent).toBe("done");
    expect(screen.getByTestId("cell-cost-0-0").textContent).toContain("0.000123");
    expect(screen.getByTestId("cell-status-1-0").textContent).toBe("streaming");
    expect(screen.getByTestId("cell-output-1-0").textContent).toContain("Still typ");
    expect(screen.getByTestId("cell-1-1").textContent).toContain("returned 500: boom");
    expect(screen.getByTestId("column-0").textContent).toContain("demo/small");
  });

  it("marks the words that differ from the baseline column", () => {
    grid(runState(), { diffMode: true, baseline: 0 });
    const out = screen.getByTestId("cell-output-0-1");
    expect(out.querySelector(".diff-delete")?.textContent).toContain("quick");
    expect(out.querySelector(".diff-insert")?.textContent).toContain("slow");
    expect(screen.getByTestId("cell-0-0").textContent).toContain("baseline");
  });

  it("sends thumbs up and down with the cell's trace id", () => {
    const onFeedback = grid(runState());
    const cellEl = screen.getByTestId("cell-0-1");
    fireEvent.click(cellEl.querySelector('[aria-label="Thumbs down"]')!);
    expect(onFeedback).toHaveBeenCalledWith("trace-0-1", -1);
  });

  it("shows a tool exchange as calls and results, flags invalid arguments, and diffs calls like text", () => {
    const call = (args: string, problem: string | null = null) => ({ id: "c1", name: "get_weather", arguments: args, problem });
    let s = compareReducer(idleState, { type: "start", runId: 1, models: ["demo/small", "demo/large"], rows: 1 });
    s = compareReducer(s, {
      type: "events",
      runId: 1,
      events: [
        {
          type: "finished",
          cell: cell(0, 0, "It is 21 °C in Oslo.", {
            steps: [{ text: "", calls: [call('{"city":"Oslo"}')], results: [{ id: "c1", name: "get_weather", content: '{"temp_c":21}' }], latency_ms: 5 }],
          }),
        },
        { type: "finished", cell: cell(0, 1, "", { tool_calls: [call('{"town":"Oslo"}', '"city" is a required property')] }) },
      ],
    });
    grid(s, { rows: [{}] });
    const first = within(screen.getByTestId("cell-0-0"));
    expect(first.getByTestId("tool-call").textContent).toContain("get_weather");
    expect(first.getByTestId("tool-call").textContent).toContain('{ "city": "Oslo" }');
    expect(first.getByTestId("tool-result").textContent).toContain('{ "temp_c": 21 }');
    const second = within(screen.getByTestId("cell-0-1"));
    expect(second.getByTestId("tool-call").textContent).toContain("✗ invalid arguments");
    expect(second.getByTestId("tool-call").textContent).toContain('"city" is a required property');
    cleanup();
    grid(s, { rows: [{}], diffMode: true, baseline: 0 });
    const out = screen.getByTestId("cell-output-0-1");
    expect(out.querySelector(".diff-insert")?.textContent).toContain("town");
    expect(out.querySelector(".diff-delete")?.textContent).toContain("city");
  });
});
