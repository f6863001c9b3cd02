import { describe, expect, it } from "vitest";
import { scrollToRow, visibleWindow } from "../src/lib/windowing";

describe("visibleWindow", () => {
  it("renders the first rows at the top", () => {
    const w = visibleWindow({ scrollTop: 0, viewportHeight: 500, rowHeight: 100, count: 50, overscan: 2 });
    expect(w).toEqual({ start: 0, end: 7, padTop: 0, padBottom: 4300, totalHeight: 5000 });
  });

  it("adds overscan on both sides in the middle", () => {
    const w = visibleWindow({ scrollTop: 1050, viewportHeight: 300, rowHeight: 100, count: 50, overscan: 1 });
    // rows 10..13 are visible (1050..1350), plus one each side
    expect(w.start).toBe(9);
    expect(w.end).toBe(15);
    expect(w.padTop + (w.end - w.start) * 100 + w.padBottom).toBe(w.totalHeight);
  });

  it("clamps at the end and past the end", () => {
    const w = visibleWindow({ scrollTop: 99999, viewportHeight: 400, rowHeight: 100, count: 50, overscan: 2 });
    expect(w.end).toBe(50);
    expect(w.start).toBe(44);
    expect(w.padBottom).toBe(0);
  });

  it("handles empty lists and short lists", () => {
    expect(visibleWindow({ scrollTop: 0, viewportHeight: 400, rowHeight: 20, count: 0 })).toEqual({
      start: 0,
      end: 0,
      padTop: 0,
      padBottom: 0,
      totalHeight: 0,
    });
    const w = visibleWindow({ scrollTop: 0, viewportHeight: 800, rowHeight: 100, count: 3 });
    expect([w.start, w.end]).toEqual([0, 3]);
  });

  it("renders at least one row with a zero-height viewport", () => {
    const w = visibleWindow({ scrollTop: 0, viewportHeight: 0, rowHeight: 100, count: 10, overscan: 0 });
    expect(w.end - w.start).toBe(1);
  });

  it("keeps the window small for large lists", () => {
    const w = visibleWindow({ scrollTop: 50_000, viewportHeight: 600, rowHeight: 28, count: 100_000 });
    expect(w.end - w.start).toBeLessThan(40);
  });
});

describe("scrollToRow", () => {
  it("scrolls only when needed", () => {
    expect(scrollToRow(0, 0, 300, 30)).toBe(0);
    expect(scrollToRow(20, 0, 300, 30)).toBe(330);
    expect(scrollToRow(2, 300, 300, 30)).toBe(60);
    expect(scrollToRow(12, 300, 300, 30)).toBe(300);
  });
});
