import { describe, expect, it } from "vitest";
import {
  appendImage,
  argumentFields,
  describeImageUrl,
  imageFileProblem,
  imageLines,
  imageVariables,
  readTools,
  removeImage,
  schemaTextProblem,
  simulationOf,
  writeTools,
} from "../src/lib/tools";

const params = JSON.stringify({
  temperature: 0.2,
  tools: [
    {
      type: "function",
      function: {
        name: "get_weather",
        description: "Weather now",
        parameters: { type: "object", properties: { city: { type: "string", description: "City name" }, unit: { type: "string", enum: ["c", "f"] } }, required: ["city"] },
      },
    },
  ],
  tool_choice: "auto",
  response_format: { type: "json_schema", json_schema: { name: "report", schema: { type: "object" } } },
});

describe("tools in the parameters", () => {
  it("reads tools and the response schema out of the parameters", () => {
    const r = readTools(params);
    expect(r.error).toBeNull();
    expect(r.tools).toHaveLength(1);
    expect(r.tools[0]).toMatchObject({ name: "get_weather", description: "Weather now" });
    expect(JSON.parse(r.tools[0].parametersText).required).toEqual(["city"]);
    expect(r.responseSchema?.name).toBe("report");
    expect(readTools("{oops").error).toMatch(/not valid JSON/);
  });

  it("writes them back, keeping the other parameters and what is mid-edit", () => {
    const r = readTools(params);
    const edited = [...r.tools, { name: "lookup", description: "", parametersText: '{"type": "obj' }];
    const out = JSON.parse(writeTools(params, edited, null));
    expect(out.temperature).toBe(0.2);
    expect(out.tool_choice).toBe("auto");
    expect(out.tools[1]).toEqual({ type: "function", function: { name: "lookup", parameters: '{"type": "obj' } });
    expect(out.response_format).toBeUndefined();
    // No tools: the tool choice goes too (the engine refuses a choice without tools).
    const none = JSON.parse(writeTools(params, [], r.responseSchema));
    expect(none.tools).toBeUndefined();
    expect(none.tool_choice).toBeUndefined();
    expect(none.response_format.json_schema).toEqual({ name: "report", schema: { type: "object" } });
  });

  it("says what is wrong with a schema before the engine does", () => {
    expect(schemaTextProblem('{"type": "object"}', true)).toBeNull();
    expect(schemaTextProblem("{", true)).toMatch(/Not JSON/);
    expect(schemaTextProblem("[]", false)).toMatch(/is an object/);
    expect(schemaTextProblem('{"type": "string"}', true)).toMatch(/arguments are an object/);
  });

  it("previews the arguments form a schema describes", () => {
    const fields = argumentFields(readTools(params).tools[0].parametersText);
    expect(fields).toEqual([
      { name: "city", type: "string", required: true, description: "City name", options: [] },
      { name: "unit", type: "string", required: false, description: "", options: ["c", "f"] },
    ]);
    expect(argumentFields("not json")).toEqual([]);
  });
});

describe("images in messages", () => {
  const text = "Look:\n![chart](data:image/png;base64,AAAA)\n![photo]({{photo}})\nWhat is it?";

  it("finds image lines and the variables used as images", () => {
    expect(imageLines(text)).toEqual([
      { alt: "chart", url: "data:image/png;base64,AAAA", line: 1 },
      { alt: "photo", url: "{{photo}}", line: 2 },
    ]);
    expect(imageVariables([text, "![x]({{ other }})"])).toEqual(["photo", "other"]);
    expect(imageLines("inline ![not](alone) here")).toEqual([]);
  });

  it("adds and removes image lines", () => {
    expect(appendImage("Hello", "a [b]", "https://x/y.png")).toBe("Hello\n![a  b](https://x/y.png)");
    expect(appendImage("", "", "u")).toBe("![image](u)");
    expect(removeImage(text, 0)).toBe("Look:\n![photo]({{photo}})\nWhat is it?");
    expect(removeImage(text, 9)).toBe(text);
  });

  it("checks dropped files and describes URLs", () => {
    expect(imageFileProblem({ name: "a.png", type: "image/png", size: 10 })).toBeNull();
    expect(imageFileProblem({ name: "a.svg", type: "image/svg+xml", size: 10 })).toMatch(/not a PNG/);
    expect(imageFileProblem({ name: "big.jpg", type: "image/jpeg", size: 6 * 1048576 })).toMatch(/6.0 MB; the limit is 5 MB/);
    expect(describeImageUrl("data:image/png;base64," + "A".repeat(4096))).toBe("image/png, 3 KB embedded");
  });
});

describe("simulated tool results", () => {
  it("builds the simulation a run sends", () => {
    expect(simulationOf({ a: { kind: "none", text: "" } }, 4)).toBeNull();
    expect(
      simulationOf(
        {
          a: { kind: "fixed", text: '{"temp_c": 21}' },
          b: { kind: "variable", text: " order " },
          c: { kind: "template", text: '{"city": "{{city}}"}' },
        },
        3,
      ),
    ).toEqual({
      results: { a: { fixed: { temp_c: 21 } }, b: { from_variable: "order" }, c: { template: '{"city": "{{city}}"}' } },
      max_steps: 3,
    });
    expect(simulationOf({ a: { kind: "fixed", text: "{x" } }, 4)).toMatch(/result for a is not JSON/);
    expect(simulationOf({ a: { kind: "variable", text: "" } }, 4)).toMatch(/Name the variable/);
  });
});

import { evaluatorFormReducer, initialEvaluatorForm, toAssertionSpec, type EvaluatorFormAction } from "../src/lib/evaluatorForm";

describe("tool evaluators in the form", () => {
  const form = (...actions: EvaluatorFormAction[]) => actions.reduce(evaluatorFormReducer, initialEvaluatorForm);
  it("builds tool-called with a function, counts and an argument check", () => {
    const f = form(
      { type: "kind", kind: "tool-called" },
      { type: "set", field: "value", value: "get_weather" },
      { type: "set", field: "max", value: "2" },
      { type: "set", field: "path", value: "$.city" },
      { type: "set", field: "equals", value: "Oslo" },
    );
    expect(toAssertionSpec(f).spec).toEqual({
      type: "tool-called",
      value: { name: "get_weather", max: 2, arguments: { path: "$.city", equals: "Oslo" } },
    });
    expect(toAssertionSpec(form({ type: "kind", kind: "tool-called" })).spec).toEqual({ type: "tool-called" });
    expect(toAssertionSpec(form({ type: "kind", kind: "tool-called" }, { type: "set", field: "equals", value: "x" })).error).toMatch(/path/);
    expect(toAssertionSpec(form({ type: "kind", kind: "tool-called" }, { type: "set", field: "min", value: "3" }, { type: "set", field: "max", value: "1" })).error).toMatch(/above/);
  });
  it("builds tool-args-valid and final-json-schema (schema optional)", () => {
    expect(toAssertionSpec(form({ type: "kind", kind: "tool-args-valid" })).spec).toEqual({ type: "tool-args-valid" });
    expect(toAssertionSpec(form({ type: "kind", kind: "final-json-schema" })).spec).toEqual({ type: "final-json-schema" });
    expect(toAssertionSpec(form({ type: "kind", kind: "final-json-schema" }, { type: "set", field: "value", value: '{"type": "object"}' })).spec).toEqual({
      type: "final-json-schema",
      value: { type: "object" },
    });
    expect(toAssertionSpec(form({ type: "kind", kind: "final-json-schema" }, { type: "set", field: "value", value: "[1]" })).error).toMatch(/JSON object/);
  });
});
