// @vitest-environment jsdom
import { beforeEach, describe, expect, it, vi } from "vitest";
import { useState } from "react";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import type { AssertionSpec } from "../../src/bindings/AssertionSpec";

const api = vi.hoisted(() => ({ checkAssertion: vi.fn() }));
vi.mock("../../src/lib/api", async (original) => ({ ...(await original<object>()), api }));

const { EvaluatorsPanel } = await import("../../src/screens/compare/EvaluatorForm");

function Panel() {
  const [list, setList] = useState<AssertionSpec[]>([]);
  return (
    <EvaluatorsPanel
      evaluators={list}
      judgePrompts={["judge-rubric", "judge-strict"]}
      disabled={false}
      onAdd={(s) => setList((l) => [...l, s])}
      onRemove={(i) => setList((l) => l.filter((_, j) => j !== i))}
    />
  );
}

beforeEach(() => {
  api.checkAssertion.mockReset();
  // The engine's answers: an invalid pattern is refused with its reason.
  api.checkAssertion.mockImplementation((spec: AssertionSpec) =>
    spec.type === "regex" && spec.value === "(unclosed"
      ? Promise.reject({ kind: "invalid_request", message: "assertion regex: invalid pattern: unclosed group" })
      : Promise.resolve(null),
  );
});

describe("EvaluatorsPanel", () => {
  it("shows the engine's reason for an invalid regex and refuses to add it", async () => {
    render(<Panel />);
    fireEvent.click(screen.getByTestId("add-evaluator"));
    expect(screen.getByTestId("evaluator-form")).toBeTruthy();
    fireEvent.change(screen.getByTestId("evaluator-type"), { target: { value: "regex" } });
    fireEvent.change(screen.getByTestId("evaluator-value"), { target: { value: "(unclosed" } });
    const error = await screen.findByTestId("evaluator-error");
    expect(error.textContent).toBe("Assertion regex: invalid pattern: unclosed group");
    expect((screen.getByTestId("evaluator-save") as HTMLButtonElement).disabled).toBe(true);
    expect(api.checkAssertion).toHaveBeenLastCalledWith({ type: "regex", value: "(unclosed" });
    fireEvent.click(screen.getByTestId("evaluator-save"));
    expect(screen.queryByTestId("evaluator-chip-0")).toBeNull();
  });

  it("checks while typing only once typing pauses", async () => {
    render(<Panel />);
    fireEvent.click(screen.getByTestId("add-evaluator"));
    for (const v of ["P", "Pa", "Par", "Paris"]) fireEvent.change(screen.getByTestId("evaluator-value"), { target: { value: v } });
    await waitFor(() => expect((screen.getByTestId("evaluator-save") as HTMLButtonElement).disabled).toBe(false));
    expect(api.checkAssertion).toHaveBeenCalledTimes(1);
    expect(api.checkAssertion).toHaveBeenCalledWith({ type: "contains", value: "Paris" });
  });

  it("adds a valid evaluator as a chip (negated, with a gate) and removes it", async () => {
    render(<Panel />);
    fireEvent.click(screen.getByTestId("add-evaluator"));
    fireEvent.change(screen.getByTestId("evaluator-type"), { target: { value: "regex" } });
    fireEvent.change(screen.getByTestId("evaluator-value"), { target: { value: "\\d{4}" } });
    fireEvent.click(screen.getByTestId("evaluator-negate"));
    fireEvent.change(screen.getByTestId("evaluator-gate"), { target: { value: "pass_rate >= 0.9" } });
    await waitFor(() => expect((screen.getByTestId("evaluator-save") as HTMLButtonElement).disabled).toBe(false));
    expect(screen.queryByTestId("evaluator-error")).toBeNull();
    fireEvent.click(screen.getByTestId("evaluator-save"));
    const chip = screen.getByTestId("evaluator-chip-0");
    expect(chip.textContent).toContain('not-regex "\\d{4}"');
    expect(chip.textContent).toContain("gate pass_rate >= 0.9");
    // The form closes once added.
    expect(screen.queryByTestId("evaluator-form")).toBeNull();
    fireEvent.click(screen.getByTestId("evaluator-remove-0"));
    expect(screen.queryByTestId("evaluator-chip-0")).toBeNull();
  });

  it("shows the fields a judge needs and lists the judge prompts", async () => {
    render(<Panel />);
    fireEvent.click(screen.getByTestId("add-evaluator"));
    fireEvent.change(screen.getByTestId("evaluator-type"), { target: { value: "judge" } });
    expect(screen.queryByTestId("evaluator-value")).toBeNull();
    expect(screen.queryByTestId("evaluator-threshold")).toBeNull();
    const prompts = screen.getByTestId("evaluator-judge-prompt") as HTMLSelectElement;
    expect(Array.from(prompts.options).map((o) => o.value)).toEqual(["", "judge-rubric", "judge-strict"]);
    fireEvent.change(screen.getByTestId("evaluator-rubric"), { target: { value: "Polite" } });
    fireEvent.click(screen.getByTestId("evaluator-score"));
    fireEvent.change(screen.getByTestId("evaluator-threshold"), { target: { value: "x" } });
    // A local problem is shown at once, without asking the engine.
    expect(screen.getByTestId("evaluator-error").textContent).toMatch(/threshold must be a number/i);
    fireEvent.change(screen.getByTestId("evaluator-threshold"), { target: { value: "3" } });
    fireEvent.change(prompts, { target: { value: "judge-strict" } });
    await waitFor(() => expect((screen.getByTestId("evaluator-save") as HTMLButtonElement).disabled).toBe(false));
    expect(api.checkAssertion).toHaveBeenLastCalledWith({ type: "judge", rubric: "Polite", score: true, threshold: 3, prompt: "judge-strict" });
    fireEvent.click(screen.getByTestId("evaluator-save"));
    expect(screen.getByTestId("evaluator-chip-0").textContent).toContain('judge "Polite"');
  });
});
