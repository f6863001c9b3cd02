import { describe, expect, it } from "vitest";
import { buildVariableFields, collectValues, exampleVariables, parseJsonl, setPath, toJsonl } from "../src/lib/variables";

const declared = [
  { name: "tone", description: "How it sounds", default_json: '"friendly"' },
  { name: "limit", description: null, default_json: "3" },
  { name: "unused", description: "declared only", default_json: null },
];

describe("buildVariableFields", () => {
  it("orders used variables first and merges declarations", () => {
    const f = buildVariableFields(["customer_name", "tone", "limit", "ticket"], declared);
    expect(f.map((x) => x.name)).toEqual(["customer_name", "tone", "limit", "ticket", "unused"]);
    expect(f[1]).toMatchObject({ kind: "text", placeholder: "friendly", hasDefault: true, description: "How it sounds" });
    expect(f[2]).toMatchObject({ kind: "json", placeholder: "3" });
    expect(f[3].multiline).toBe(true);
    expect(f[4].used).toBe(false);
  });

  it("tolerates bad default JSON", () => {
    const f = buildVariableFields(["x"], [{ name: "x", description: null, default_json: "{oops" }]);
    expect(f[0]).toMatchObject({ kind: "text", hasDefault: false });
  });
});

describe("collectValues", () => {
  const fields = buildVariableFields(["name", "limit", "user.email"], declared);
  it("skips empty inputs, parses JSON ones and nests dotted names", () => {
    const r = collectValues(fields, { name: "Ada", limit: "5", "user.email": "a@b.c" });
    expect(r.values).toEqual({ name: "Ada", limit: 5, user: { email: "a@b.c" } });
    expect(r.errors).toEqual({});
    expect(collectValues(fields, {}).values).toEqual({});
  });
  it("reports invalid JSON", () => {
    expect(collectValues(fields, { limit: "five" }).errors.limit).toMatch(/valid JSON/);
  });
});

describe("setPath", () => {
  it("merges into existing objects", () => {
    const o: Record<string, unknown> = {};
    setPath(o, "a.b", 1);
    setPath(o, "a.c", 2);
    expect(o).toEqual({ a: { b: 1, c: 2 } });
  });
});

describe("parseJsonl", () => {
  it("reads objects, skipping blanks and comments", () => {
    const r = parseJsonl('{"a": 1}\n\n# note\n  {"a": 2, "b": "x"}  \r\n');
    expect(r.rows).toEqual([{ a: 1 }, { a: 2, b: "x" }]);
    expect(r.errors).toEqual([]);
  });
  it("names the failing lines", () => {
    const r = parseJsonl('{"a": 1}\n[1,2]\n{nope');
    expect(r.rows).toHaveLength(1);
    expect(r.errors[0]).toMatch(/^Line 2: expected a JSON object/);
    expect(r.errors[1]).toMatch(/^Line 3: not valid JSON/);
  });
  it("round-trips with toJsonl", () => {
    const rows = [{ a: "x" }, { b: [1] }];
    expect(parseJsonl(toJsonl(rows)).rows).toEqual(rows);
  });
});

describe("exampleVariables", () => {
  it("uses defaults or placeholders for used variables", () => {
    const f = buildVariableFields(["name", "tone", "limit"], declared);
    expect(exampleVariables(f)).toEqual({ name: "<name>", tone: "friendly", limit: 3 });
  });
});
