// @vitest-environment jsdom
import { describe, expect, it, vi } from "vitest";
import { fireEvent, render, screen } from "@testing-library/react";
import { ToolResultsPanel } from "../../src/screens/compare/SetupParts";

describe("ToolResultsPanel", () => {
  it("lets the step limit be cleared and retyped, taking only 1 to 16", () => {
    const onMaxSteps = vi.fn();
    render(<ToolResultsPanel tools={["get_weather"]} results={{}} maxSteps={4} onResult={() => undefined} onMaxSteps={onMaxSteps} />);
    const input = screen.getByLabelText("Most model calls per cell") as HTMLInputElement;
    fireEvent.change(input, { target: { value: "" } });
    expect(input.value).toBe("");
    expect(onMaxSteps).not.toHaveBeenCalled();
    fireEvent.change(input, { target: { value: "7" } });
    expect(onMaxSteps).toHaveBeenLastCalledWith(7);
    fireEvent.change(input, { target: { value: "40" } });
    expect(onMaxSteps).toHaveBeenCalledTimes(1);
    // Leaving the field shows the limit in force (the parent's value).
    fireEvent.blur(input);
    expect(input.value).toBe("4");
  });
});
