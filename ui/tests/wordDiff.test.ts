import { describe, expect, it } from "vitest";
import { similarity, tokenize, wordDiff } from "../src/lib/wordDiff";

const join = (parts: { tag: string; text: string }[], keep: string[]) =>
  parts.filter((p) => keep.includes(p.tag)).map((p) => p.text).join("");

describe("wordDiff", () => {
  it("tokenizes words and whitespace losslessly", () => {
    expect(tokenize("a  b\nc")).toEqual(["a", "  ", "b", "\n", "c"]);
    expect(tokenize("")).toEqual([]);
  });

  it("returns one equal part for identical text", () => {
    expect(wordDiff("same text", "same text")).toEqual([{ tag: "equal", text: "same text" }]);
  });

  it("marks a replaced word", () => {
    expect(wordDiff("the quick fox", "the slow fox")).toEqual([
      { tag: "equal", text: "the " },
      { tag: "delete", text: "quick" },
      { tag: "insert", text: "slow" },
      { tag: "equal", text: " fox" },
    ]);
  });

  it("reconstructs both sides", () => {
    const a = "Hello Ada, thanks for writing. The export button is fixed in 1.2.";
    const b = "Hi Ada, thank you for writing! The export button will be fixed in 1.3.";
    const parts = wordDiff(a, b);
    expect(join(parts, ["equal", "delete"])).toBe(a);
    expect(join(parts, ["equal", "insert"])).toBe(b);
  });

  it("handles empty sides", () => {
    expect(wordDiff("", "new words")).toEqual([{ tag: "insert", text: "new words" }]);
    expect(wordDiff("old", "")).toEqual([{ tag: "delete", text: "old" }]);
    expect(wordDiff("", "")).toEqual([]);
  });

  it("finds insertions in the middle", () => {
    const parts = wordDiff("a b c", "a b x c");
    expect(join(parts, ["insert"])).toBe("x ");
    expect(parts.some((p) => p.tag === "delete")).toBe(false);
  });

  it("stays fast on long inputs", () => {
    const a = Array.from({ length: 3000 }, (_, i) => `w${i % 97}`).join(" ");
    const b = a.replace(/w5 /g, "v5 ");
    const t = performance.now();
    const parts = wordDiff(a, b);
    expect(performance.now() - t).toBeLessThan(3000);
    expect(join(parts, ["equal", "insert"])).toBe(b);
  });

  it("scores similarity", () => {
    expect(similarity(wordDiff("x", "x"))).toBe(1);
    expect(similarity(wordDiff("aaaa", "bbbb"))).toBe(0);
  });
});
