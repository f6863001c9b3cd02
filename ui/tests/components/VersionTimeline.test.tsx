// @vitest-environment jsdom
import { beforeEach, describe, expect, it, vi } from "vitest";
import { fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import type { GateOutcome } from "../../src/bindings/GateOutcome";
import type { Version } from "../../src/lib/api";

function version(n: number, labels: string[] = []): Version {
  return {
    prompt_id: "pr_1",
    slug: "greet",
    version: n,
    latest_version: 2,
    message: `v${n}`,
    created_at: "2026-12-04T12:00:00Z",
    labels,
    draft: { description: null, model: "demo/small", params_json: "{}", variables: [], messages: [{ role: "user", content: "Hi", tool_calls: [], tool_call_id: null }] },
    variables_used: [],
    partials: [],
    file_text: "",
  };
}

const api = vi.hoisted(() => ({
  setLabel: vi.fn(),
  setLabelGated: vi.fn(),
  setLabelOverride: vi.fn(),
  versionEvals: vi.fn(),
  listEvals: vi.fn(),
}));
vi.mock("../../src/lib/api", async (original) => ({ ...(await original<object>()), api }));

const { VersionTimeline } = await import("../../src/screens/prompts/VersionTimeline");

const versions = [version(2), version(1, ["production"])];

beforeEach(() => {
  vi.clearAllMocks();
  api.versionEvals.mockResolvedValue([
    { version: 1, experiment_id: "exp_a", name: "greet-quality", created_at_ms: Date.UTC(2026, 11, 4), model: "demo/small", pass_rate: 0.834, passed: true },
    { version: 2, experiment_id: "exp_b", name: "greet-quality", created_at_ms: Date.UTC(2026, 11, 5), model: "demo/large", pass_rate: 0.5, passed: false },
  ]);
  api.listEvals.mockResolvedValue([{ name: "greet-quality", body: "name: greet-quality\n" }]);
});

async function gateVersion2(onLabelSet = vi.fn()) {
  render(<VersionTimeline slug="greet" versions={versions} current={2} onOpen={() => undefined} onLabelSet={onLabelSet} />);
  await screen.findByTestId("version-eval-2");
  fireEvent.click(within(screen.getByTestId("version-item-2")).getByRole("button", { name: /v2/ }));
  await screen.findByRole("option", { name: "greet-quality" });
  fireEvent.change(screen.getByTestId("label-gate-eval"), { target: { value: "greet-quality" } });
  fireEvent.click(screen.getByTestId("set-label-2"));
  return onLabelSet;
}

describe("VersionTimeline label gate", () => {
  it("shows each version's latest eval as a chip", async () => {
    render(<VersionTimeline slug="greet" versions={versions} current={2} onOpen={() => undefined} onLabelSet={() => undefined} />);
    const passed = await screen.findByTestId("version-eval-1");
    expect(passed.textContent).toBe("eval 83%");
    expect(passed.className).toContain("eval-pass");
    expect(passed.getAttribute("title")).toContain("greet-quality · demo/small");
    const failed = screen.getByTestId("version-eval-2");
    expect(failed.textContent).toBe("eval 50%");
    expect(failed.className).toContain("eval-fail");
    expect(api.versionEvals).toHaveBeenCalledWith("greet");
  });

  it("says the label was not moved, lists what regressed, and overrides with a reason", async () => {
    let finish: (o: GateOutcome) => void = () => undefined;
    api.setLabelGated.mockReturnValue(new Promise<GateOutcome>((resolve) => (finish = resolve)));
    api.setLabelOverride.mockResolvedValue(null);
    const onLabelSet = await gateVersion2();

    expect(screen.getByTestId("gate-running").textContent).toBe("running the gate…");
    expect((screen.getByTestId("set-label-2") as HTMLButtonElement).disabled).toBe(true);
    expect(api.setLabelGated).toHaveBeenCalledWith("greet", 2, "production", "greet-quality");
    finish({
      experiment_id: "exp_c",
      allowed: false,
      failed_gates: ["pass_rate >= 0.9 (measured 0.50)"],
      worse_than: 1,
      regressed: ["row 3: contains “Paris” failed", "row 7: is-json failed"],
      pass_rate: 0.5,
    });

    const refused = await screen.findByTestId("gate-refused");
    expect(refused.textContent).toContain("“production” was not moved");
    expect(refused.textContent).toContain("pass_rate >= 0.9 (measured 0.50)");
    expect(refused.textContent).toContain("significantly worse than version 1");
    expect(refused.textContent).toContain("exp_c");
    expect(screen.getAllByTestId("gate-regressed-row").map((r) => r.textContent)).toEqual(["row 3: contains “Paris” failed", "row 7: is-json failed"]);
    expect(screen.queryByTestId("gate-running")).toBeNull();
    expect(api.setLabel).not.toHaveBeenCalled();
    expect(onLabelSet).not.toHaveBeenCalled();

    fireEvent.click(screen.getByTestId("gate-override"));
    const confirm = screen.getByTestId("gate-override-confirm") as HTMLButtonElement;
    expect(confirm.disabled).toBe(true);
    expect(refused.textContent).toContain("recorded in the audit log");
    fireEvent.change(screen.getByTestId("gate-override-reason"), { target: { value: "   " } });
    expect(confirm.disabled).toBe(true);
    fireEvent.change(screen.getByTestId("gate-override-reason"), { target: { value: "Hotfix approved by Ada" } });
    expect(confirm.disabled).toBe(false);
    fireEvent.click(confirm);

    await waitFor(() => expect(api.setLabelOverride).toHaveBeenCalledWith("greet", 2, "production", "greet-quality", "Hotfix approved by Ada"));
    await waitFor(() => expect(screen.queryByTestId("gate-refused")).toBeNull());
    expect(screen.getByTestId("label-status").textContent).toContain("“production” now points at version 2 (gate overridden");
    expect(onLabelSet).toHaveBeenCalledTimes(1);
  });

  it("moves the label when the gate passes and says so", async () => {
    api.setLabelGated.mockResolvedValue({ experiment_id: "exp_d", allowed: true, failed_gates: [], worse_than: null, regressed: [], pass_rate: 0.92 });
    const onLabelSet = await gateVersion2();
    await waitFor(() => expect(screen.getByTestId("label-status").textContent).toBe("“production” now points at version 2 (gate passed: 92%)."));
    expect(screen.queryByTestId("gate-refused")).toBeNull();
    expect(onLabelSet).toHaveBeenCalledTimes(1);
    // The gate's experiment is the version's latest eval now: the chips are fetched again.
    await waitFor(() => expect(api.versionEvals.mock.calls.length).toBeGreaterThanOrEqual(2));
  });

  it("moves the label directly with no gate, and shows a gate's error", async () => {
    api.setLabel.mockResolvedValue(null);
    render(<VersionTimeline slug="greet" versions={versions} current={2} onOpen={() => undefined} onLabelSet={() => undefined} />);
    fireEvent.click(within(screen.getByTestId("version-item-2")).getByRole("button", { name: /v2/ }));
    fireEvent.click(screen.getByTestId("set-label-2"));
    await waitFor(() => expect(api.setLabel).toHaveBeenCalledWith("greet", 2, "production"));
    expect(api.setLabelGated).not.toHaveBeenCalled();

    api.setLabelGated.mockRejectedValue({ kind: "invalid_request", message: "the eval's dataset 'qa' does not exist" });
    await screen.findByRole("option", { name: "greet-quality" });
    fireEvent.change(screen.getByTestId("label-gate-eval"), { target: { value: "greet-quality" } });
    fireEvent.click(screen.getByTestId("set-label-2"));
    await waitFor(() => expect(screen.getByRole("alert").textContent).toBe("The eval's dataset 'qa' does not exist"));
  });
});
