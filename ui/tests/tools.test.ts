import { describe, expect, it } from "vitest";
import {
  appendImage,
  argumentFields,
  describeImageUrl,
  imageFileProblem,
  imageLines,
  imageVariables,
  newToolName,
  parseImageLine,
  renderedImages,
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
    // Broken parameters are left as typed, never replaced by the tools alone.
    expect(writeTools('{"temperature": 0.2,', edited, null)).toBe('{"temperature": 0.2,');
  });

  it("names a new tool with a name no tool has", () => {
    expect(newToolName([])).toBe("tool_1");
    expect(newToolName([{ name: "tool_2" }])).toBe("tool_1");
    expect(newToolName([{ name: "tool_1" }, { name: "tool_2" }])).toBe("tool_3");
    expect(newToolName([{ name: "lookup" }, { name: "tool_1" }])).toBe("tool_2");
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
    expect(
      imageVariables([
        { role: "user", content: text },
        { role: "user", content: "![x]({{ other }})" },
        { role: "system", content: "![logo]({{ logo }})" },
      ]),
    ).toEqual(["photo", "other"]);
    expect(imageLines("inline ![not](alone) here")).toEqual([]);
  });

  it("reads a line as the engine does", () => {
    // The alt text runs to the first "](", as in the engine; a URL with spaces is text unless a variable.
    expect(parseImageLine("  ![a [b]](https://x/y.png) ")).toEqual({ alt: "a [b]", url: "https://x/y.png" });
    expect(parseImageLine("![a](my photo.png)")).toBeNull();
    expect(parseImageLine("![a]({{ photo }})")).toEqual({ alt: "a", url: "{{ photo }}" });
    expect(parseImageLine("![a]()")).toBeNull();
    expect(parseImageLine("![a](")).toBeNull();
    // Once rendered, a variable's path may hold spaces.
    expect(parseImageLine("![a](/My Photos/b.png)", true)).toEqual({ alt: "a", url: "/My Photos/b.png" });
  });

  it("shows as images only the lines the engine marked", () => {
    const rendered = "Look:\n![chart](https://x/c.png)\nnotes: ![x](/etc/passwd)\n![x](/etc/passwd)";
    expect(renderedImages(rendered, [1])).toEqual([{ alt: "chart", url: "https://x/c.png", line: 1 }]);
    expect(renderedImages(rendered, [])).toEqual([]);
    expect(renderedImages(rendered, [9])).toEqual([]);
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
