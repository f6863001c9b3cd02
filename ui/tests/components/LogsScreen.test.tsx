// @vitest-environment jsdom
import { beforeEach, describe, expect, it, vi } from "vitest";
import { fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import type { Log, LogFull } from "../../src/lib/api";

const calls: Log[] = [
  row("call-1", { model: "demo/small", status: 200, success: true, cost_usd: 0.0012, prompt_id: "pr_1" }),
  row("call-2", { model: "gpt-4o-mini", status: 502, success: false, error: "openai returned 500: boom", cost_usd: null, completion_tokens: null }),
  row("call-3", { model: "demo/large", status: 200, success: true, cache_status: "HIT", cost_usd: 0 }),
];

function row(id: string, over: Partial<Log>): Log {
  return {
    id,
    trace_id: `trace-${id}`,
    created_at: Date.UTC(2026, 11, 4, 12, 0, 0),
    source: "compare",
    prompt_id: null,
    prompt_version: null,
    provider: "demo",
    model: "demo/small",
    key_name: null,
    status: 200,
    success: true,
    error: null,
    cache_status: "MISS",
    latency_ms: 321,
    ttft_ms: 50,
    prompt_tokens: 10,
    completion_tokens: 4,
    cost_usd: 0.001,
    retry_count: 0,
    target_path: "0",
    metadata: {},
    ...over,
  };
}

const api = vi.hoisted(() => ({
  listLogs: vi.fn(),
  listPrompts: vi.fn(),
  costByDay: vi.fn(),
  latencyByModel: vi.fn(),
  getLog: vi.fn(),
}));
vi.mock("../../src/lib/api", async (original) => ({ ...(await original<object>()), api }));

const { LogsScreen } = await import("../../src/screens/logs/LogsScreen");
const { resetResources } = await import("../../src/lib/resources");

beforeEach(() => {
  resetResources({ prompts: () => api.listPrompts() });
  api.listLogs.mockResolvedValue(calls);
  api.listPrompts.mockResolvedValue([{ id: "pr_1", slug: "summarize", latest_version: 1, description: null, model: null, labels: [], updated_at: "" }]);
  api.costByDay.mockResolvedValue([]);
  api.latencyByModel.mockResolvedValue([]);
  const detail: LogFull = { call: calls[1], request: '{"model": "gpt-4o-mini"}', response: null, attempts: [], feedback: [] };
  api.getLog.mockResolvedValue(detail);
});

describe("LogsScreen", () => {
  it("lists calls with their prompt, model, status and cost", async () => {
    render(<LogsScreen />);
    const first = await screen.findByTestId("log-row-0");
    expect(first.textContent).toContain("summarize");
    expect(first.textContent).toContain("demo/small");
    expect(screen.getByTestId("log-row-1").textContent).toContain("502");
    expect(screen.getByText("3 calls")).toBeTruthy();
  });

  it("filters failed calls and opens one's detail", async () => {
    render(<LogsScreen />);
    await screen.findByTestId("log-row-0");
    fireEvent.change(screen.getByTestId("log-filter-status"), { target: { value: "error" } });
    expect(screen.getByText("1 call")).toBeTruthy();
    const failed = screen.getByTestId("log-row-0");
    expect(failed.textContent).toContain("gpt-4o-mini");
    fireEvent.click(failed);
    const detail = screen.getByTestId("log-detail");
    await waitFor(() => expect(within(detail).getByText(/returned 500: boom/)).toBeTruthy());
    expect(api.getLog).toHaveBeenCalledWith("call-2");
  });

  it("refreshes when it is shown again", async () => {
    const { rerender } = render(<LogsScreen active />);
    await screen.findByTestId("log-row-0");
    const before = api.listLogs.mock.calls.length;
    rerender(<LogsScreen active={false} />);
    rerender(<LogsScreen active />);
    await waitFor(() => expect(api.listLogs.mock.calls.length).toBeGreaterThan(before));
  });
});
