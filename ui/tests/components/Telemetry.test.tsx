// @vitest-environment jsdom
import { describe, expect, it } from "vitest";
import { render, screen } from "@testing-library/react";
import { Telemetry } from "../../src/screens/gateway/GatewayScreen";

describe("the OpenTelemetry panel", () => {
  it("says how to switch export on when it is off", () => {
    render(<Telemetry otel={{ endpoint: null, content: false, headers: [], exported: 0, dropped: 0, last_error: null }} />);
    expect(screen.getByTestId("otel-off").textContent).toMatch(/portolan settings otel --endpoint/);
  });

  it("shows the collector, the header names (never values), the counts and the last failure", () => {
    render(
      <Telemetry
        otel={{
          endpoint: "http://127.0.0.1:4318/v1/traces",
          content: true,
          headers: ["x-honeycomb-team"],
          exported: 12,
          dropped: 3,
          last_error: "HTTP export failed: 503",
        }}
      />,
    );
    expect(screen.getByTestId("otel-endpoint").textContent).toBe("http://127.0.0.1:4318/v1/traces");
    expect(screen.getByTestId("otel-counts").textContent).toBe("12 / 3");
    expect(screen.getByText("x-honeycomb-team")).toBeTruthy();
    expect(screen.getByText(/on \(PII redacted\)/)).toBeTruthy();
    expect(screen.getByText(/Last export failed: HTTP export failed: 503/)).toBeTruthy();
  });
});
