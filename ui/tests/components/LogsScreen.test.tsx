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
  listDatasets: vi.fn(),
  getDataset: vi.fn(),
  rowsFromCalls: vi.fn(),
  saveDataset: vi.fn(),
}));
vi.mock("../../src/lib/api", async (original) => ({ ...(await original<object>()), api }));

const { LogsScreen } = await import("../../src/screens/logs/LogsScreen");
const { resetResources } = await import("../../src/lib/resources");

beforeEach(() => {
  vi.clearAllMocks();
  resetResources({ prompts: () => api.listPrompts() });
  api.listLogs.mockResolvedValue(calls);
  api.listPrompts.mockResolvedValue([{ id: "pr_1", slug: "summarize", latest_version: 1, description: null, model: null, labels: [], updated_at: "" }]);
  api.costByDay.mockResolvedValue([]);
  api.latencyByModel.mockResolvedValue([]);
  const detail: LogFull = { call: calls[1], request: '{"model": "gpt-4o-mini"}', response: null, attempts: [], feedback: [] };
  api.getLog.mockResolvedValue(detail);
  api.listDatasets.mockResolvedValue([
    { id: "ds_1", name: "regressions", description: null, latest_version: 4, rows: 1, updated_at: "2026-12-04T12:00:00Z" },
  ]);
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

  it("adds two selected calls to a new dataset with their answers, without opening their detail", async () => {
    const fromCalls = [
      { vars: { text: "a long article" }, expected: "short", tags: ["trace:trace-call-1"] },
      { vars: { text: "another" }, expected: "brief", tags: ["trace:trace-call-3"] },
    ];
    api.rowsFromCalls.mockResolvedValue(fromCalls);
    api.saveDataset.mockResolvedValue({ name: "from-logs", version: 1, rows: 2, created: true });
    render(<LogsScreen />);
    await screen.findByTestId("log-row-0");
    expect(screen.queryByTestId("log-add-to-dataset")).toBeNull();

    fireEvent.click(screen.getByTestId("log-select-0"));
    fireEvent.click(screen.getByTestId("log-select-2"));
    expect((screen.getByTestId("log-select-0") as HTMLInputElement).checked).toBe(true);
    expect((screen.getByTestId("log-select-1") as HTMLInputElement).checked).toBe(false);
    // Ticking a call does not open it.
    expect(api.getLog).not.toHaveBeenCalled();
    expect(screen.getByTestId("log-row-0").getAttribute("aria-selected")).toBe("false");
    expect(screen.getByText("2 selected")).toBeTruthy();

    fireEvent.click(screen.getByTestId("log-add-to-dataset"));
    await waitFor(() => expect(document.querySelector("#log-dataset-names option[value='regressions']")).toBeTruthy());
    fireEvent.change(screen.getByTestId("log-dataset-name"), { target: { value: "Bad Name" } });
    fireEvent.click(screen.getByTestId("log-dataset-add"));
    expect(screen.getByTestId("log-dataset-error").textContent).toMatch(/Dataset names use/);
    expect(api.rowsFromCalls).not.toHaveBeenCalled();

    fireEvent.change(screen.getByTestId("log-dataset-name"), { target: { value: "from-logs" } });
    fireEvent.click(screen.getByTestId("log-with-answers"));
    fireEvent.click(screen.getByTestId("log-dataset-add"));
    await waitFor(() => expect(screen.getByTestId("log-dataset-status").textContent).toBe("dataset from-logs version 1: +2 rows"));
    expect(api.rowsFromCalls).toHaveBeenCalledWith(["call-1", "call-3"], true);
    expect(api.getDataset).not.toHaveBeenCalled();
    expect(api.saveDataset).toHaveBeenCalledWith("from-logs", fromCalls, "2 rows from the logs");
    // Added: the selection is cleared, the confirmation stays.
    expect((screen.getByTestId("log-select-0") as HTMLInputElement).checked).toBe(false);
    expect(screen.queryByTestId("log-add-to-dataset")).toBeNull();
    expect((screen.getByTestId("log-dataset-add") as HTMLButtonElement).disabled).toBe(true);

    // The row itself still opens the call's detail.
    fireEvent.click(screen.getByTestId("log-row-1"));
    await waitFor(() => expect(api.getLog).toHaveBeenCalledWith("call-2"));
  });

  it("appends to an existing dataset as its next version, and shows why it could not", async () => {
    const existing = { vars: { text: "old" } };
    const added = { vars: { text: "new" }, tags: ["trace:trace-call-2"] };
    api.getDataset.mockResolvedValue({
      dataset: { dataset_id: "ds_1", name: "regressions", version: 4, message: null, created_at: "", rows: [existing] },
      latest_version: 4,
    });
    api.rowsFromCalls.mockRejectedValueOnce({ kind: "invalid_request", message: "none of the selected calls was made through a prompt with variables" });
    api.rowsFromCalls.mockResolvedValueOnce([added]);
    api.saveDataset.mockResolvedValue({ name: "regressions", version: 5, rows: 2, created: true });
    render(<LogsScreen />);
    await screen.findByTestId("log-row-0");
    fireEvent.click(screen.getByTestId("log-select-1"));
    fireEvent.click(screen.getByTestId("log-add-to-dataset"));
    fireEvent.change(screen.getByTestId("log-dataset-name"), { target: { value: "regressions" } });
    fireEvent.click(screen.getByTestId("log-dataset-add"));
    await waitFor(() =>
      expect(screen.getByTestId("log-dataset-error").textContent).toBe("None of the selected calls was made through a prompt with variables"),
    );
    expect(api.saveDataset).not.toHaveBeenCalled();

    fireEvent.click(screen.getByTestId("log-dataset-add"));
    await waitFor(() => expect(screen.getByTestId("log-dataset-status").textContent).toBe("dataset regressions version 5: +1 row"));
    expect(api.rowsFromCalls).toHaveBeenLastCalledWith(["call-2"], false);
    expect(api.getDataset).toHaveBeenCalledWith("regressions", null);
    expect(api.saveDataset).toHaveBeenCalledWith("regressions", [existing, added], "1 row from the logs");
  });
});
