import { describe, expect, it } from "vitest";
import type { DiffLineDto } from "../src/bindings/DiffLineDto";
import type { Log } from "../src/lib/api";
import { layoutBars, lastDays, niceMax } from "../src/lib/charts";
import { sideBySide, tagClass } from "../src/lib/diffView";
import { completionSpot, scanHandlebars } from "../src/lib/handlebars";
import { filterLogs, modelsIn, tagsOf } from "../src/lib/logFilter";
import { validateKeyForm } from "../src/lib/providers";
import { addNotice, dismissNotice, MAX_NOTICES, type Notice } from "../src/lib/notices";
import { gatewaySnippets, pyLiteral } from "../src/lib/snippets";

describe("scanHandlebars", () => {
  it("classifies tags", () => {
    const text = "Hi {{name}} {{#if x}}a{{else}}b{{/if}} {{> house-style}} {{!-- c --}} {{{raw}}} {{! short}}";
    const kinds = scanHandlebars(text).map((t) => [text.slice(t.from, t.to), t.kind]);
    expect(kinds).toEqual([
      ["{{name}}", "variable"],
      ["{{#if x}}", "block-open"],
      ["{{else}}", "else"],
      ["{{/if}}", "block-close"],
      ["{{> house-style}}", "partial"],
      ["{{!-- c --}}", "comment"],
      ["{{{raw}}}", "raw"],
      ["{{! short}}", "comment"],
    ]);
  });
  it("runs an unclosed tag to the end", () => {
    expect(scanHandlebars("a {{nam")).toEqual([{ from: 2, to: 7, kind: "variable" }]);
  });
  it("keeps comments containing braces whole", () => {
    const t = scanHandlebars("{{!-- {{x}} --}}{{y}}");
    expect(t.map((x) => x.kind)).toEqual(["comment", "variable"]);
  });
});

describe("completionSpot", () => {
  it("finds names after {{ and block helpers", () => {
    expect(completionSpot("Hello {{cus")).toEqual({ from: 8, prefix: "cus", kind: "variable" });
    expect(completionSpot("{{")).toEqual({ from: 2, prefix: "", kind: "variable" });
    expect(completionSpot("{{#if kn")).toMatchObject({ prefix: "kn", kind: "variable" });
    expect(completionSpot("{{> hou")).toMatchObject({ prefix: "hou", kind: "partial" });
    expect(completionSpot("{{ user.na")).toMatchObject({ prefix: "user.na" });
  });
  it("ignores closed tags and plain text", () => {
    expect(completionSpot("{{name}} and")).toBeNull();
    expect(completionSpot("plain")).toBeNull();
    expect(completionSpot("{{#")).toBeNull();
  });
});

describe("sideBySide", () => {
  const L = (tag: string, o: number | null, n: number | null, text: string): DiffLineDto => ({
    tag,
    old_line: o,
    new_line: n,
    segments: [{ text, emphasized: false }],
  });
  it("pairs deletions with the insertions after them", () => {
    const rows = sideBySide([L("equal", 1, 1, "a"), L("delete", 2, null, "b"), L("delete", 3, null, "c"), L("insert", null, 2, "B"), L("equal", 4, 3, "d"), L("insert", null, 4, "e")]);
    expect(rows.map((r) => [r.left?.number ?? null, r.right?.number ?? null])).toEqual([
      [1, 1],
      [2, 2],
      [3, null],
      [4, 3],
      [null, 4],
    ]);
  });
  it("maps tags to classes", () => {
    expect(tagClass("insert")).toBe("diff-insert");
    expect(tagClass("delete")).toBe("diff-delete");
    expect(tagClass("equal")).toBe("diff-equal");
  });
});

const row = (over: Partial<Log>): Log => ({
  id: "c1",
  trace_id: "tr-1",
  created_at: 1000,
  source: "compare",
  prompt_id: "pr_1",
  prompt_version: 1,
  provider: "demo",
  model: "demo/small",
  key_name: null,
  status: 200,
  success: true,
  error: null,
  cache_status: "MISS",
  latency_ms: 10,
  ttft_ms: null,
  prompt_tokens: 1,
  completion_tokens: 1,
  cost_usd: null,
  retry_count: 0,
  target_path: null,
  metadata: {},
  ...over,
});

describe("filterLogs", () => {
  const rows = [
    row({ id: "a", created_at: 1 }),
    row({ id: "b", created_at: 3, model: "gpt-4o-mini", success: false, status: 502, error: "upstream timeout" }),
    row({ id: "c", created_at: 2, cache_status: "HIT", metadata: { env: "prod", team: "support" } }),
  ];
  it("sorts newest first", () => {
    expect(filterLogs(rows, { model: "", status: "all", search: "" }).map((r) => r.id)).toEqual(["b", "c", "a"]);
  });
  it("filters by model, status and text", () => {
    expect(filterLogs(rows, { model: "demo/small", status: "all", search: "" }).map((r) => r.id)).toEqual(["c", "a"]);
    expect(filterLogs(rows, { model: "", status: "error", search: "" }).map((r) => r.id)).toEqual(["b"]);
    expect(filterLogs(rows, { model: "", status: "ok", search: "" }).map((r) => r.id)).toEqual(["c", "a"]);
    expect(filterLogs(rows, { model: "", status: "cached", search: "" }).map((r) => r.id)).toEqual(["c"]);
    expect(filterLogs(rows, { model: "", status: "all", search: "TIMEOUT" }).map((r) => r.id)).toEqual(["b"]);
    expect(filterLogs(rows, { model: "", status: "all", search: "team=support" }).map((r) => r.id)).toEqual(["c"]);
    expect(filterLogs(rows, { model: "", status: "all", search: "summarize" }, (id) => (id === "pr_1" ? "summarize" : undefined))).toHaveLength(3);
  });
  it("lists models and tags", () => {
    expect(modelsIn(rows)).toEqual(["demo/small", "gpt-4o-mini"]);
    expect(tagsOf(rows[2])).toEqual(["env=prod", "team=support"]);
  });
});

describe("charts", () => {
  it("rounds axis maxima up", () => {
    expect(niceMax(0)).toBe(1);
    expect(niceMax(0.0034)).toBeCloseTo(0.005);
    expect(niceMax(7)).toBe(10);
    expect(niceMax(180)).toBe(200);
    expect(niceMax(2)).toBe(2);
  });
  it("lays out bars bottom-aligned", () => {
    const bars = layoutBars([0, 5, 10], 300, 100, 10, 0);
    expect(bars.map((b) => b.height)).toEqual([0, 50, 100]);
    expect(bars[2].y).toBe(0);
    expect(bars[1].x).toBe(100);
  });
  it("lists the last days oldest first", () => {
    const d = lastDays(3, new Date(Date.UTC(2024, 2, 1, 12)));
    expect(d).toEqual(["2024-02-28", "2024-02-29", "2024-03-01"]);
  });
});

describe("gatewaySnippets", () => {
  const s = gatewaySnippets({ url: "http://127.0.0.1:8787/v1/", slug: "support-reply", variables: { customer_name: "Ada", n: 2 } });
  it("builds curl with the prompt path and body", () => {
    expect(s.curl).toContain("curl http://127.0.0.1:8787/v1/prompts/support-reply/completions");
    expect(s.curl).toContain('"customer_name": "Ada"');
  });
  it("builds the Python SDK call", () => {
    expect(s.python).toContain('client.post(\n    "/prompts/support-reply/completions",');
    expect(s.python).toContain("cast_to=ChatCompletion");
    expect(s.python).toContain('base_url="http://127.0.0.1:8787/v1"');
  });
  it("builds the JS SDK call", () => {
    expect(s.js).toContain('client.post("/prompts/support-reply/completions", { body })');
  });
  it("writes Python literals", () => {
    expect(pyLiteral({ a: true, b: null, c: [1, "x"] })).toBe('{\n    "a": True,\n    "b": None,\n    "c": [1, "x"],\n}');
  });
});

describe("validateKeyForm", () => {
  it("requires what each provider needs", () => {
    expect(validateKeyForm({ name: "main", provider: "openai", baseUrl: "", secret: "sk-1" })).toBeNull();
    expect(validateKeyForm({ name: "main", provider: "openai", baseUrl: "", secret: "" })).toMatch(/secret/);
    expect(validateKeyForm({ name: "local", provider: "ollama", baseUrl: "", secret: "" })).toBeNull();
    expect(validateKeyForm({ name: "v", provider: "vllm", baseUrl: "", secret: "" })).toMatch(/base URL/);
    expect(validateKeyForm({ name: "v", provider: "vllm", baseUrl: "http://127.0.0.1:8000/v1", secret: "" })).toBeNull();
    expect(validateKeyForm({ name: "bad name", provider: "openai", baseUrl: "", secret: "x" })).toMatch(/name/);
  });
});

describe("notices", () => {
  const n = (key: string, message = key): Notice => ({ key, tone: "warn", title: "Budget alert", message });
  it("puts the newest first, replaces a repeat and keeps a few", () => {
    let list: Notice[] = [];
    list = addNotice(list, n("a"));
    list = addNotice(list, n("b"));
    list = addNotice(list, n("a", "a again"));
    expect(list.map((x) => x.message)).toEqual(["a again", "b"]);
    for (const k of ["c", "d", "e", "f"]) list = addNotice(list, n(k));
    expect(list.map((x) => x.key)).toEqual(["f", "e", "d", "c"]);
    expect(list).toHaveLength(MAX_NOTICES);
  });
  it("dismisses by key", () => {
    const list = [n("a"), n("b")];
    expect(dismissNotice(list, "a").map((x) => x.key)).toEqual(["b"]);
    expect(dismissNotice(list, "zzz")).toEqual(list);
  });
});

import { placeLabels } from "../src/lib/charts";

describe("placeLabels", () => {
  it("stacks the labels of points that lie close together and leaves apart ones alone", () => {
    // Two points at the same height, 20 px apart: the second label moves a line down.
    expect(placeLabels([
      { x: 100, y: 50, chars: 14, left: false },
      { x: 120, y: 50, chars: 14, left: false },
      { x: 400, y: 50, chars: 14, left: false },
    ])).toEqual([0, 11, 0]);
    // Labels drawn to the left of their points are placed by their own boxes.
    expect(placeLabels([
      { x: 300, y: 80, chars: 10, left: true },
      { x: 100, y: 80, chars: 10, left: false },
    ])).toEqual([0, 0]);
  });
});
