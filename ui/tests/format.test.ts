import { describe, expect, it } from "vitest";
import { formatCost, formatLatency, formatRelative, formatTokens, qualifiedModel } from "../src/lib/format";

describe("formatCost", () => {
  it("shows six decimals for small costs", () => {
    expect(formatCost(0.000123)).toBe("$0.000123");
    expect(formatCost(0.0000004)).toBe("$0.000000");
  });
  it("uses fewer decimals for larger amounts", () => {
    expect(formatCost(0.5)).toBe("$0.5000");
    expect(formatCost(123.456)).toBe("$123.46");
    expect(formatCost(0)).toBe("$0.00");
  });
  it("says when the cost is unknown", () => {
    expect(formatCost(null)).toBe("cost unknown");
    expect(formatCost(undefined)).toBe("cost unknown");
    expect(formatCost(Number.NaN)).toBe("cost unknown");
  });
});

describe("formatLatency", () => {
  it("formats ms, seconds and minutes", () => {
    expect(formatLatency(840.4)).toBe("840 ms");
    expect(formatLatency(1240)).toBe("1.24 s");
    expect(formatLatency(125_000)).toBe("2m 05s");
    expect(formatLatency(null)).toBe("—");
  });
});

describe("formatTokens", () => {
  it("abbreviates large counts", () => {
    expect(formatTokens(512)).toBe("512");
    expect(formatTokens(12_345)).toBe("12.3k");
    expect(formatTokens(null)).toBe("—");
  });
});

describe("formatRelative", () => {
  it("is relative to now", () => {
    const now = 1_700_000_000_000;
    expect(formatRelative(now - 10_000, now)).toBe("just now");
    expect(formatRelative(now - 5 * 60_000, now)).toBe("5 min ago");
    expect(formatRelative(now - 3 * 3_600_000, now)).toBe("3 h ago");
    expect(formatRelative(now - 2 * 86_400_000, now)).toBe("2 d ago");
  });
});

describe("qualifiedModel", () => {
  it("does not repeat the provider", () => {
    expect(qualifiedModel("demo", "demo/large")).toBe("demo/large");
    expect(qualifiedModel("openai", "gpt-4o-mini")).toBe("openai/gpt-4o-mini");
    expect(qualifiedModel(null, "x")).toBe("x");
  });
});
