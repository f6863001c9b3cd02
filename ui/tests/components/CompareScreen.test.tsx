// @vitest-environment jsdom
import { beforeEach, describe, expect, it, vi } from "vitest";
import { act, fireEvent, render, screen, waitFor } from "@testing-library/react";
import type { ExperimentEventDto } from "../../src/bindings/ExperimentEventDto";
import type { ExperimentRequest } from "../../src/bindings/ExperimentRequest";
import type { Experiment } from "../../src/bindings/Experiment";
import type { PlanDto } from "../../src/bindings/PlanDto";
import type { Version } from "../../src/lib/api";
import { cell, fail, finished, pass } from "../fixtures/experiment";

/** Stands in for Tauri's Channel: the test sends the engine's batches through `onmessage`. */
class FakeChannel<T> {
  onmessage: (message: T) => void = () => undefined;
}

const api = vi.hoisted(() => ({
  listPrompts: vi.fn(),
  listModels: vi.fn(),
  listVersions: vi.fn(),
  getVersion: vi.fn(),
  listCompareRuns: vi.fn(),
  getCompareRun: vi.fn(),
  listDatasets: vi.fn(),
  getDataset: vi.fn(),
  listExperiments: vi.fn(),
  getExperiment: vi.fn(),
  diffExperiments: vi.fn(),
  planExperiment: vi.fn(),
  runExperiment: vi.fn(),
  cancelExperiment: vi.fn(),
  runCompare: vi.fn(),
  cancelCompare: vi.fn(),
  checkAssertion: vi.fn(),
  sendFeedback: vi.fn(),
}));
vi.mock("../../src/lib/api", async (original) => ({ ...(await original<object>()), api, Channel: FakeChannel }));

const { CompareScreen } = await import("../../src/screens/compare/CompareScreen");
const { resetResources } = await import("../../src/lib/resources");

function version(v: number, labels: string[] = []): Version {
  return {
    prompt_id: "pr_1",
    slug: "summarize",
    version: v,
    latest_version: 2,
    message: null,
    created_at: "",
    labels,
    draft: { description: null, model: null, params_json: "{}", variables: [{ name: "text", description: null, default_json: null }], messages: [] },
    variables_used: ["text"],
    partials: [],
    file_text: "",
  };
}

const plan = (over: Partial<PlanDto> = {}): PlanDto => ({ calls: 4, judge_calls: 0, estimate_usd: 0.0042, unpriced: [], confirm_above_usd: 1, ...over });

/** What runExperiment got, and how to answer it. */
let running: { req: ExperimentRequest; channel: FakeChannel<ExperimentEventDto[]>; resolve: (e: Experiment) => void } | null = null;

beforeEach(() => {
  running = null;
  for (const f of Object.values(api)) f.mockReset();
  resetResources({ prompts: () => api.listPrompts(), models: () => api.listModels() });
  api.listPrompts.mockResolvedValue([
    { id: "pr_1", slug: "summarize", latest_version: 2, description: null, model: null, labels: [{ name: "production", version: 1 }], updated_at: "" },
    { id: "pr_2", slug: "judge-rubric", latest_version: 1, description: null, model: null, labels: [], updated_at: "" },
  ]);
  api.listModels.mockResolvedValue([
    { id: "demo/small", provider: "demo", demo: true },
    { id: "demo/large", provider: "demo", demo: true },
  ]);
  api.listVersions.mockResolvedValue([version(2), version(1, ["production"])]);
  api.getVersion.mockImplementation((_: string, v: number) => Promise.resolve(version(v)));
  api.listCompareRuns.mockResolvedValue([]);
  api.listDatasets.mockResolvedValue([{ id: "ds_1", name: "tickets", description: null, latest_version: 3, rows: 2, updated_at: "" }]);
  api.getDataset.mockResolvedValue({
    dataset: { dataset_id: "ds_1", name: "tickets", version: 3, message: null, created_at: "", rows: [{ vars: { text: "a" } }, { vars: { text: "b" }, expected: "B" }] },
    latest_version: 3,
  });
  api.listExperiments.mockResolvedValue([]);
  api.checkAssertion.mockResolvedValue(null);
  api.planExperiment.mockResolvedValue(plan());
  api.cancelExperiment.mockResolvedValue(null);
  api.runExperiment.mockImplementation(
    (req: ExperimentRequest, channel: FakeChannel<ExperimentEventDto[]>) =>
      new Promise<Experiment>((resolve) => {
        running = { req, channel, resolve };
      }),
  );
});

async function setUp() {
  render(<CompareScreen initialSlug={null} />);
  await screen.findByTestId("model-option-demo/small");
  fireEvent.click(screen.getByTestId("model-option-demo/small"));
  fireEvent.click(screen.getByTestId("model-option-demo/large"));
  const text = await screen.findByTestId("var-0-text");
  fireEvent.change(text, { target: { value: "Portolan keeps prompts" } });
}

async function addContains(value: string) {
  fireEvent.click(screen.getByTestId("add-evaluator"));
  fireEvent.change(screen.getByTestId("evaluator-value"), { target: { value } });
  await waitFor(() => expect((screen.getByTestId("evaluator-save") as HTMLButtonElement).disabled).toBe(false));
  fireEvent.click(screen.getByTestId("evaluator-save"));
}

/** Sends a batch and lets the frame that applies it run. */
async function send(events: ExperimentEventDto[]) {
  await act(async () => {
    running?.channel.onmessage(events);
    await new Promise((r) => requestAnimationFrame(() => r(null)));
  });
}

describe("CompareScreen", () => {
  it("without evaluators, versions, repeats or a dataset, runs a plain comparison", async () => {
    api.runCompare.mockReturnValue(new Promise(() => undefined));
    await setUp();
    expect(screen.getByTestId("run-compare").textContent).toBe("Run comparison");
    fireEvent.click(screen.getByTestId("run-compare"));
    await waitFor(() => expect(api.runCompare).toHaveBeenCalled());
    expect(api.runCompare.mock.calls[0][0]).toEqual({
      prompt: "summarize",
      version: null,
      models: ["demo/small", "demo/large"],
      variable_sets: [{ text: "Portolan keeps prompts" }],
      concurrency: 4,
    });
    expect(api.planExperiment).not.toHaveBeenCalled();
    expect(screen.getByTestId("compare-status").textContent).toBe("running");
  });

  it("puts the side panel away so a wide grid gets the width", async () => {
    await setUp();
    const side = screen.getByTestId("results-side");
    expect(side.hidden).toBe(false);
    fireEvent.click(screen.getByTestId("toggle-side-panel"));
    expect(side.hidden).toBe(true);
    expect(side.parentElement?.className).toContain("no-side");
    fireEvent.click(screen.getByTestId("toggle-side-panel"));
    expect(side.hidden).toBe(false);
  });

  it("with an evaluator: plans, shows the plan, runs the experiment and streams verdicts into the grid", async () => {
    await setUp();
    await addContains("Portolan");
    expect(screen.getByTestId("run-compare").textContent).toBe("Run experiment");
    fireEvent.click(screen.getByTestId("run-compare"));
    await waitFor(() => expect(running).not.toBeNull());
    const req = api.planExperiment.mock.calls[0][0] as ExperimentRequest;
    expect(req).toMatchObject({
      columns: [
        { prompt: "summarize", version: null, model: "demo/small" },
        { prompt: "summarize", version: null, model: "demo/large" },
      ],
      dataset: null,
      rows: [{ vars: { text: "Portolan keeps prompts" } }],
      assertions: [{ type: "contains", value: "Portolan" }],
      repeats: 1,
      baseline: 0,
      judge_model: null,
    });
    expect(running?.req).toEqual(req);
    expect(screen.getByTestId("experiment-plan").textContent).toBe("4 calls + 0 judge calls, at most $0.004200");
    expect(screen.getByTestId("compare-status").textContent).toBe("running");
    // Columns are named before the engine names them: version 1 is the production default.
    expect(screen.getByTestId("column-0").textContent).toContain("summarize@1 · demo/small");

    await send([
      { type: "cell", repeat: 0, event: { type: "started", row: 0, column: 0 } },
      { type: "cell", repeat: 0, event: { type: "delta", row: 0, column: 0, text: "Portolan " } },
    ]);
    expect(screen.getByTestId("cell-output-0-0").textContent).toContain("Portolan");
    await send([
      { type: "evaluated", cell: cell(0, 0, [pass('contains "Portolan"')], { output: "Portolan keeps" }) },
      { type: "evaluated", cell: cell(0, 1, [fail("no Portolan")], { output: "Something else" }) },
    ]);
    expect(screen.getByTestId("badge-0-0-0").textContent).toBe("✓");
    expect(screen.getByTestId("badge-0-1-0").textContent).toBe("✗");
    expect(screen.getByTestId("row-outcome-0-1").textContent).toContain("loss");
    expect(screen.getByTestId("column-pass-0").textContent).toMatch(/^100%/);

    // Opening a cell shows its verdicts.
    fireEvent.click(screen.getByTestId("cell-0-1"));
    expect(screen.getByTestId("verdict-reason-0").textContent).toBe("no Portolan");

    await act(async () => running?.resolve(finished()));
    expect(screen.getByTestId("compare-status").textContent).toBe("done");
    expect(screen.getByTestId("column-pass-0").textContent).toBe("83% [61–95]");
    expect(screen.getByTestId("comparison-1").textContent).toContain("worse");
    expect(screen.getByTestId("experiment-chart")).toBeTruthy();
    // The history is fetched again to list the saved experiment.
    await waitFor(() => expect(api.listExperiments).toHaveBeenCalledTimes(2));
  });

  it("asks before running an experiment that may cost more than the setting", async () => {
    api.planExperiment.mockResolvedValue(plan({ estimate_usd: 2.5, confirm_above_usd: 1, judge_calls: 8 }));
    await setUp();
    fireEvent.change(screen.getByTestId("compare-repeats"), { target: { value: "2" } });
    fireEvent.click(screen.getByTestId("run-compare"));
    const box = await screen.findByTestId("experiment-confirm-box");
    expect(box.textContent).toContain("$2.50");
    expect(screen.getByTestId("experiment-plan").textContent).toBe("4 calls + 8 judge calls, at most $2.5000");
    expect(api.runExperiment).not.toHaveBeenCalled();
    fireEvent.click(screen.getByTestId("experiment-confirm"));
    await waitFor(() => expect(running).not.toBeNull());
    expect(running?.req.repeats).toBe(2);
  });

  it("shows the plan's refusal as a sentence and runs nothing", async () => {
    api.planExperiment.mockRejectedValue({ kind: "invalid_request", message: "the evaluation was not run; fix these:\n- rows 1 lack the variable 'text'" });
    await setUp();
    fireEvent.change(screen.getByTestId("compare-dataset"), { target: { value: "tickets" } });
    await screen.findByTestId("compare-dataset-preview");
    fireEvent.click(screen.getByTestId("run-compare"));
    const alert = await screen.findByText(/evaluation was not run/);
    expect(alert.textContent).toContain("lack the variable 'text'");
    expect(api.runExperiment).not.toHaveBeenCalled();
    expect((api.planExperiment.mock.calls[0][0] as ExperimentRequest).dataset).toBe("tickets");
  });

  it("compares more versions × models, against the baseline picked, with a dataset", async () => {
    await setUp();
    fireEvent.click(await screen.findByTestId("compare-extra-version-2"));
    fireEvent.change(screen.getByTestId("compare-dataset"), { target: { value: "tickets" } });
    fireEvent.change(await screen.findByTestId("compare-dataset-version"), { target: { value: "2" } });
    const baseline = screen.getByTestId("compare-baseline") as HTMLSelectElement;
    expect(Array.from(baseline.options).map((o) => o.textContent)).toEqual([
      "1. summarize@1 · demo/small",
      "2. summarize@1 · demo/large",
      "3. summarize@2 · demo/small",
      "4. summarize@2 · demo/large",
    ]);
    fireEvent.change(baseline, { target: { value: "2" } });
    fireEvent.change(screen.getByTestId("compare-judge-model"), { target: { value: "demo/large" } });
    fireEvent.click(screen.getByTestId("run-compare"));
    await waitFor(() => expect(running).not.toBeNull());
    expect(running?.req).toMatchObject({
      columns: [
        { version: null, model: "demo/small" },
        { version: null, model: "demo/large" },
        { version: "2", model: "demo/small" },
        { version: "2", model: "demo/large" },
      ],
      dataset: "tickets",
      dataset_version: 2,
      rows: [],
      baseline: 2,
      judge_model: "demo/large",
    });
    expect(api.getDataset).toHaveBeenLastCalledWith("tickets", 2);
  });

  it("Escape cancels a running experiment; 'n' jumps to the next failing row", async () => {
    await setUp();
    await addContains("x");
    fireEvent.click(screen.getByTestId("run-compare"));
    await waitFor(() => expect(running).not.toBeNull());
    await send([
      { type: "evaluated", cell: cell(0, 0, [fail()]) },
      { type: "evaluated", cell: cell(0, 1, [pass()]) },
    ]);
    fireEvent.keyDown(window, { key: "n" });
    expect(screen.getByTestId("exp-row-0").getAttribute("aria-current")).toBe("true");
    // Typing "n" in a field is just a letter.
    fireEvent.keyDown(screen.getByTestId("compare-gate"), { key: "n" });
    fireEvent.keyDown(window, { key: "Escape" });
    expect(api.cancelExperiment).toHaveBeenCalled();
    // The engine keeps the finished cells and says it was cancelled.
    await act(async () => running?.resolve({ ...finished(), cancelled: true }));
    expect(screen.getByTestId("compare-status").textContent).toBe("cancelled");
    expect(screen.getByTestId("column-pass-0").textContent).toBe("83% [61–95]");
  });

  it("filters rows that fail, are flaky, or where columns disagree", async () => {
    await setUp();
    await addContains("x");
    fireEvent.click(screen.getByTestId("run-compare"));
    await waitFor(() => expect(running).not.toBeNull());
    await act(async () => running?.resolve(finished()));
    expect(screen.getByTestId("exp-row-0")).toBeTruthy();
    fireEvent.click(screen.getByTestId("filter-failing"));
    expect(screen.queryByTestId("exp-row-0")).toBeNull();
    expect(screen.getByTestId("exp-row-1")).toBeTruthy();
    fireEvent.click(screen.getByTestId("filter-failing"));
    fireEvent.click(screen.getByTestId("filter-flaky"));
    expect(screen.queryByTestId("exp-row-0")).toBeNull();
    expect(screen.getByTestId("exp-row-1")).toBeTruthy();
    fireEvent.click(screen.getByTestId("filter-flaky"));
    fireEvent.click(screen.getByTestId("filter-disagree"));
    // In the fixture both rows score the same in both columns (row 1 fails in both).
    expect(screen.queryByTestId("exp-row-1")).toBeNull();
  });

  it("opens a saved experiment and compares two from the history", async () => {
    const older = { ...finished(), id: "exp_0", name: "before" };
    api.listExperiments.mockResolvedValue([
      { id: "exp_1", created_at_ms: 2, name: "summarize", passed: true, dataset: null, columns: [["summarize@1 · demo/small", 0.83]], column_versions: [], rows: 2, repeats: 1 },
      { id: "exp_0", created_at_ms: 1, name: "before", passed: false, dataset: "tickets", columns: [["summarize@1 · demo/small", 1]], column_versions: [], rows: 2, repeats: 1 },
    ]);
    api.getExperiment.mockResolvedValue(older);
    api.diffExperiments.mockResolvedValue([
      { row: 1, column: "summarize@1 · demo/small", before: 1, after: 0, failures: ['contains "a": no "a" in the output'] },
      { row: 0, column: "summarize@1 · demo/small", before: 0, after: 1, failures: [] },
    ]);
    render(<CompareScreen initialSlug={null} />);
    const history = await screen.findByTestId("experiment-history");
    await waitFor(() => expect(history.textContent).toContain("83%"));
    fireEvent.click(screen.getByTestId("history-open-exp_0"));
    await screen.findByTestId("column-pass-0");
    expect(api.getExperiment).toHaveBeenCalledWith("exp_0");
    expect(screen.getByTestId("column-pass-0").textContent).toBe("83% [61–95]");
    // Before: the older one; after: the newer one.
    expect((screen.getByTestId("history-compare-a") as HTMLSelectElement).value).toBe("exp_0");
    expect((screen.getByTestId("history-compare-b") as HTMLSelectElement).value).toBe("exp_1");
    fireEvent.click(screen.getByTestId("history-diff"));
    const first = await screen.findByTestId("history-diff-row-0");
    expect(api.diffExperiments).toHaveBeenCalledWith("exp_0", "exp_1");
    expect(first.className).toBe("regression");
    expect(first.textContent).toContain("Regressed");
    expect(first.textContent).toContain("row 2");
    expect(first.textContent).toContain("100% → 0%");
    expect(screen.getByTestId("history-diff-row-1").className).toBe("improvement");
  });
});
