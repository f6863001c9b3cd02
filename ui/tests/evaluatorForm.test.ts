import { describe, expect, it } from "vitest";
import {
  EVALUATOR_TYPES,
  assertionLabel,
  evaluatorFormReducer,
  initialEvaluatorForm,
  showsField,
  splitList,
  toAssertionSpec,
  type EvaluatorForm,
  type EvaluatorFormAction,
} from "../src/lib/evaluatorForm";

function form(...actions: EvaluatorFormAction[]): EvaluatorForm {
  return actions.reduce(evaluatorFormReducer, initialEvaluatorForm);
}

const kind = (k: string): EvaluatorFormAction => ({ type: "kind", kind: k });
const set = (field: Extract<EvaluatorFormAction, { type: "set" }>["field"], value: string): EvaluatorFormAction => ({ type: "set", field, value });

describe("evaluator form → AssertionSpec", () => {
  it("text types take their value as typed, templates included", () => {
    for (const t of ["contains", "icontains", "equals", "starts-with", "regex"]) {
      expect(toAssertionSpec(form(kind(t), set("value", "Dear {{name}}")))).toEqual({ spec: { type: t, value: "Dear {{name}}" }, error: null });
    }
    const empty = toAssertionSpec(form(kind("contains")));
    expect(empty.spec).toBeNull();
    expect(empty.error).toMatch(/Fill in/);
  });

  it("list types split lines, or commas on one line", () => {
    expect(toAssertionSpec(form(kind("contains-any"), set("value", "Paris, Lyon ,")))).toEqual({ spec: { type: "contains-any", value: ["Paris", "Lyon"] }, error: null });
    expect(toAssertionSpec(form(kind("icontains-all"), set("value", "a, b\nc")))).toEqual({ spec: { type: "icontains-all", value: ["a, b", "c"] }, error: null });
    expect(splitList(" \n ")).toEqual([]);
    expect(toAssertionSpec(form(kind("contains-all"), set("value", " , "))).error).toMatch(/at least one/);
  });

  it("types without arguments need nothing", () => {
    for (const t of ["is-json", "contains-json", "no-pii"]) expect(toAssertionSpec(form(kind(t)))).toEqual({ spec: { type: t }, error: null });
  });

  it("json-schema parses its JSON and says where it is not JSON", () => {
    const ok = toAssertionSpec(form(kind("json-schema"), set("value", '{"type": "object", "required": ["a"]}')));
    expect(ok.spec).toEqual({ type: "json-schema", value: { type: "object", required: ["a"] } });
    const bad = toAssertionSpec(form(kind("json-schema"), set("value", "{type: object")));
    expect(bad.spec).toBeNull();
    expect(bad.error).toMatch(/not valid JSON/);
    expect(toAssertionSpec(form(kind("json-schema"), set("value", "[1]"))).error).toMatch(/JSON object/);
  });

  it("json-path takes a path and a JSON value, or plain text", () => {
    expect(toAssertionSpec(form(kind("json-path"), set("path", "$.items[0].n"), set("equals", "3"))).spec).toEqual({
      type: "json-path",
      value: { path: "$.items[0].n", equals: 3 },
    });
    expect(toAssertionSpec(form(kind("json-path"), set("path", "$.city"), set("equals", "Paris"))).spec?.value).toEqual({ path: "$.city", equals: "Paris" });
    expect(toAssertionSpec(form(kind("json-path"), set("equals", "1"))).error).toMatch(/JSON path/);
  });

  it("length takes whole-number bounds in order", () => {
    expect(toAssertionSpec(form(kind("length"), set("min", "10"), set("max", "200"))).spec).toEqual({ type: "length", min: 10, max: 200 });
    expect(toAssertionSpec(form(kind("length"), set("max", "5"))).spec).toEqual({ type: "length", max: 5 });
    expect(toAssertionSpec(form(kind("length"))).error).toMatch(/minimum and\/or a maximum/);
    expect(toAssertionSpec(form(kind("length"), set("min", "9"), set("max", "3"))).error).toMatch(/above the maximum/);
    expect(toAssertionSpec(form(kind("length"), set("min", "2.5"))).error).toMatch(/whole number/);
  });

  it("latency and cost take a number", () => {
    expect(toAssertionSpec(form(kind("latency"), set("value", "1500"))).spec).toEqual({ type: "latency", value: 1500 });
    expect(toAssertionSpec(form(kind("cost"), set("value", "0.002"))).spec).toEqual({ type: "cost", value: 0.002 });
    expect(toAssertionSpec(form(kind("cost"), set("value", "cheap"))).error).toMatch(/must be a number/);
    expect(toAssertionSpec(form(kind("latency"), set("value", "-3"))).error).toMatch(/negative/);
  });

  it("similar: the value is optional (the row's expected), with threshold and method", () => {
    expect(toAssertionSpec(form(kind("similar"))).spec).toEqual({ type: "similar" });
    expect(toAssertionSpec(form(kind("similar"), set("value", "Bonjour"), set("threshold", "0.8"), set("method", "jaro-winkler"))).spec).toEqual({
      type: "similar",
      value: "Bonjour",
      threshold: 0.8,
      method: "jaro-winkler",
    });
    // The default method is not written out.
    expect(toAssertionSpec(form(kind("similar"), set("method", "levenshtein"))).spec).toEqual({ type: "similar" });
    expect(toAssertionSpec(form(kind("similar"), set("threshold", "high"))).error).toMatch(/threshold must be a number/i);
  });

  it("judge needs a rubric; scoring shows the threshold; a judge prompt can be picked", () => {
    expect(toAssertionSpec(form(kind("judge"))).error).toMatch(/rubric/);
    const plain = form(kind("judge"), set("rubric", "Polite and short"), set("threshold", "3"));
    // Without a score the threshold is not part of the form.
    expect(showsField(plain, "threshold")).toBe(false);
    expect(toAssertionSpec(plain).spec).toEqual({ type: "judge", rubric: "Polite and short" });
    const scored = evaluatorFormReducer(plain, { type: "score", on: true });
    expect(showsField(scored, "threshold")).toBe(true);
    const withMark = form(kind("judge"), set("rubric", "Polite"), { type: "score", on: true }, set("threshold", "4.5"), set("prompt", "judge-strict"));
    expect(toAssertionSpec(withMark).spec).toEqual({ type: "judge", rubric: "Polite", score: true, threshold: 4.5, prompt: "judge-strict" });
    // Unticking the score drops its threshold.
    expect(evaluatorFormReducer(withMark, { type: "score", on: false }).threshold).toBe("");
  });

  it("judge-reference and pairwise take a judge prompt; pairwise's rubric is optional", () => {
    expect(toAssertionSpec(form(kind("judge-reference"))).spec).toEqual({ type: "judge-reference" });
    expect(toAssertionSpec(form(kind("judge-reference"), set("prompt", "judge-reference"))).spec).toEqual({ type: "judge-reference", prompt: "judge-reference" });
    expect(toAssertionSpec(form(kind("pairwise"))).spec).toEqual({ type: "pairwise" });
    expect(toAssertionSpec(form(kind("pairwise"), set("rubric", "More concise"))).spec).toEqual({ type: "pairwise", rubric: "More concise" });
  });

  it("negate prefixes not-, and a typed not- ticks negate", () => {
    expect(toAssertionSpec(form(kind("contains"), set("value", "sorry"), { type: "negate", on: true })).spec).toEqual({ type: "not-contains", value: "sorry" });
    const typed = form(kind("not-regex"), set("value", "\\d"));
    expect(typed.negate).toBe(true);
    expect(typed.kind).toBe("regex");
    expect(toAssertionSpec(typed).spec?.type).toBe("not-regex");
  });

  it("gate and name are trimmed and kept for every type", () => {
    const f = form(kind("is-json"), set("gate", "  pass_rate >= 0.9 "), set("name", " valid JSON "));
    expect(toAssertionSpec(f).spec).toEqual({ type: "is-json", gate: "pass_rate >= 0.9", name: "valid JSON" });
  });

  it("changing the type keeps the value, starts the threshold afresh, and marks typing", () => {
    let f = form(kind("similar"), set("value", "x"), set("threshold", "0.9"));
    expect(f.touched).toBe(true);
    f = evaluatorFormReducer(f, kind("contains"));
    expect([f.kind, f.value, f.threshold]).toEqual(["contains", "x", ""]);
    expect(evaluatorFormReducer(f, kind("contains"))).toBe(f);
    expect(evaluatorFormReducer(f, { type: "reset" })).toEqual(initialEvaluatorForm);
  });

  it("every type the select offers turns into a spec of that type once filled in", () => {
    for (const t of EVALUATOR_TYPES) {
      let f = form(kind(t.type));
      if (t.fields.includes("value")) f = evaluatorFormReducer(f, set("value", t.valueKind === "json" || t.valueKind === "optional-json" ? "{}" : t.valueKind === "number" ? "1" : "x"));
      if (t.fields.includes("path")) f = form(kind(t.type), set("path", "$.a"), set("equals", "1"));
      if (t.fields.includes("min")) f = evaluatorFormReducer(f, set("min", "1"));
      if (t.type === "judge") f = evaluatorFormReducer(f, set("rubric", "good"));
      const r = toAssertionSpec(f);
      expect(r.error, t.type).toBeNull();
      expect(r.spec?.type).toBe(t.type);
    }
  });
});

describe("assertionLabel", () => {
  it("names an assertion as the engine's reports do", () => {
    expect(assertionLabel({ type: "is-json" })).toBe("is-json");
    expect(assertionLabel({ type: "contains", value: "Paris" })).toBe('contains "Paris"');
    expect(assertionLabel({ type: "judge", rubric: "x".repeat(45) })).toBe(`judge "${"x".repeat(40)}…"`);
    expect(assertionLabel({ type: "latency", value: 2000 })).toBe("latency 2000");
    expect(assertionLabel({ type: "contains-any", value: ["a", "b"] })).toBe('contains-any ["a","b"]');
    expect(assertionLabel({ type: "regex", value: "x", name: "dated" })).toBe("dated");
  });
});
