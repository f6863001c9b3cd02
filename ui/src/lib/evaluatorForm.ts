/**
 * The "Add evaluator" form as a pure reducer, and the function that turns what was typed into an
 * AssertionSpec (promptfoo's syntax, as the engine reads it). What can be checked here (a number
 * that is not a number, JSON that does not parse, a missing rubric) is; the rest (a regex, a JSON
 * schema, a gate, a judge prompt) is checked by the engine through `api.checkAssertion`.
 */
import type { AssertionSpec } from "../bindings/AssertionSpec";
import type { JsonValue } from "../bindings/serde_json/JsonValue";

/** Inputs a type can need. */
export type EvaluatorField =
  | "value"
  | "threshold"
  | "rubric"
  | "prompt"
  | "score"
  | "min"
  | "max"
  | "method"
  | "path"
  | "equals";

/** How `value` is read: text, a list of texts, JSON, a number, or optional text. */
export type ValueKind = "text" | "list" | "json" | "number" | "optional-text" | "optional-json";

export interface EvaluatorType {
  type: string;
  /** What the type checks, in a few words. */
  title: string;
  fields: readonly EvaluatorField[];
  valueKind?: ValueKind;
  valueLabel?: string;
  placeholder?: string;
  /** Calls a judge model (needs a judge prompt, costs judge calls). */
  judge?: boolean;
}

const TEXT_HINT = "{{variable}} fills in the row's variable";

export const EVALUATOR_TYPES: readonly EvaluatorType[] = [
  { type: "contains", title: "contains a text", fields: ["value"], valueKind: "text", valueLabel: "Text", placeholder: TEXT_HINT },
  { type: "icontains", title: "contains a text, ignoring case", fields: ["value"], valueKind: "text", valueLabel: "Text", placeholder: TEXT_HINT },
  { type: "equals", title: "is exactly a text", fields: ["value"], valueKind: "text", valueLabel: "Expected output", placeholder: TEXT_HINT },
  { type: "starts-with", title: "starts with a text", fields: ["value"], valueKind: "text", valueLabel: "Beginning", placeholder: TEXT_HINT },
  { type: "contains-any", title: "contains one of several texts", fields: ["value"], valueKind: "list", valueLabel: "Texts (one per line, or comma-separated)" },
  { type: "icontains-any", title: "contains one of several texts, ignoring case", fields: ["value"], valueKind: "list", valueLabel: "Texts (one per line, or comma-separated)" },
  { type: "contains-all", title: "contains every one of several texts", fields: ["value"], valueKind: "list", valueLabel: "Texts (one per line, or comma-separated)" },
  { type: "icontains-all", title: "contains every one of several texts, ignoring case", fields: ["value"], valueKind: "list", valueLabel: "Texts (one per line, or comma-separated)" },
  { type: "regex", title: "matches a regular expression", fields: ["value"], valueKind: "text", valueLabel: "Pattern", placeholder: "^\\d{4}-\\d{2}-\\d{2}$" },
  { type: "is-json", title: "is valid JSON", fields: [] },
  { type: "contains-json", title: "contains valid JSON", fields: [] },
  { type: "json-schema", title: "is JSON matching a schema", fields: ["value"], valueKind: "json", valueLabel: "JSON schema", placeholder: '{"type": "object", "required": ["answer"]}' },
  { type: "json-path", title: "has a JSON value at a path", fields: ["path", "equals"] },
  { type: "length", title: "has a length in characters", fields: ["min", "max"] },
  { type: "latency", title: "answers within a time", fields: ["value"], valueKind: "number", valueLabel: "At most (ms)", placeholder: "2000" },
  { type: "cost", title: "costs at most an amount", fields: ["value"], valueKind: "number", valueLabel: "At most (USD)", placeholder: "0.002" },
  { type: "no-pii", title: "contains no personal data", fields: [] },
  {
    type: "tool-called",
    title: "calls a tool (how often, with which arguments)",
    fields: ["value", "min", "max", "path", "equals"],
    valueKind: "optional-text",
    valueLabel: "Function (blank: any tool)",
    placeholder: "get_weather",
  },
  { type: "tool-args-valid", title: "calls tools with arguments that fit their schemas", fields: [] },
  {
    type: "final-json-schema",
    title: "gives a final answer in JSON matching a schema",
    fields: ["value"],
    valueKind: "optional-json",
    valueLabel: "JSON schema (blank: the prompt's response schema)",
    placeholder: '{"type": "object", "required": ["answer"]}',
  },
  {
    type: "similar",
    title: "is similar to a text",
    fields: ["value", "threshold", "method"],
    valueKind: "optional-text",
    valueLabel: "Compared with (blank: the row's expected output)",
    placeholder: TEXT_HINT,
  },
  { type: "judge", title: "a judge model grades it against a rubric", fields: ["rubric", "score", "threshold", "prompt"], judge: true },
  { type: "judge-reference", title: "a judge model compares it with the row's expected output", fields: ["prompt"], judge: true },
  { type: "pairwise", title: "a judge model compares each column with the baseline", fields: ["rubric", "prompt"], judge: true },
];

export const SIMILARITY_METHODS = ["levenshtein", "jaro-winkler", "token-jaccard", "embedding"] as const;

export function evaluatorType(type: string): EvaluatorType {
  const base = type.startsWith("not-") ? type.slice(4) : type;
  return EVALUATOR_TYPES.find((t) => t.type === base) ?? EVALUATOR_TYPES[0];
}

/** Whether the form shows `field` for the type (a judge's threshold only when it scores). */
export function showsField(form: EvaluatorForm, field: EvaluatorField): boolean {
  const t = evaluatorType(form.kind);
  if (!t.fields.includes(field)) return false;
  if (field === "threshold" && t.type === "judge") return form.score;
  return true;
}

export interface EvaluatorForm {
  /** The type without `not-`. */
  kind: string;
  negate: boolean;
  value: string;
  threshold: string;
  rubric: string;
  /** A judge prompt's slug ("" = the type's seeded judge prompt). */
  prompt: string;
  score: boolean;
  min: string;
  max: string;
  /** `similar`'s method ("" = levenshtein). */
  method: string;
  /** `json-path`: the path and the JSON it must equal. */
  path: string;
  equals: string;
  gate: string;
  name: string;
  /** Something was typed: local problems are shown from now on. */
  touched: boolean;
}

export type TextField = "value" | "threshold" | "rubric" | "prompt" | "min" | "max" | "method" | "path" | "equals" | "gate" | "name";

export type EvaluatorFormAction =
  | { type: "kind"; kind: string }
  | { type: "set"; field: TextField; value: string }
  | { type: "negate"; on: boolean }
  | { type: "score"; on: boolean }
  | { type: "reset" };

export const initialEvaluatorForm: EvaluatorForm = {
  kind: "contains",
  negate: false,
  value: "",
  threshold: "",
  rubric: "",
  prompt: "",
  score: false,
  min: "",
  max: "",
  method: "",
  path: "",
  equals: "",
  gate: "",
  name: "",
  touched: false,
};

export function evaluatorFormReducer(s: EvaluatorForm, a: EvaluatorFormAction): EvaluatorForm {
  switch (a.type) {
    case "kind": {
      // A `not-` typed into the type is the negate box.
      const negated = a.kind.startsWith("not-");
      const kind = negated ? a.kind.slice(4) : a.kind;
      if (kind === s.kind && !negated) return s;
      // The threshold means something else for each type (a similarity, a score): start afresh.
      return { ...s, kind, negate: negated || s.negate, threshold: kind === s.kind ? s.threshold : "" };
    }
    case "set":
      return { ...s, [a.field]: a.value, touched: true };
    case "negate":
      return { ...s, negate: a.on, touched: true };
    case "score":
      return { ...s, score: a.on, threshold: a.on ? s.threshold : "", touched: true };
    case "reset":
      return initialEvaluatorForm;
  }
}

export type SpecResult = { spec: AssertionSpec; error: null } | { spec: null; error: string };

function fail(error: string): SpecResult {
  return { spec: null, error };
}

function parseNumber(text: string, what: string): number | string {
  const n = Number(text.trim());
  if (text.trim() === "" || !Number.isFinite(n)) return `${what} must be a number (got "${text.trim()}").`;
  if (n < 0) return `${what} cannot be negative.`;
  return n;
}

function parseCount(text: string, what: string): number | null | string {
  if (text.trim() === "") return null;
  const n = parseNumber(text, what);
  if (typeof n === "string") return n;
  if (!Number.isInteger(n)) return `${what} is a whole number of characters.`;
  return n;
}

/** `tool-called`: a function (optional), how many calls (optional), and arguments at a path. */
function toolCalledSpec(form: EvaluatorForm, spec: AssertionSpec): SpecResult {
  const value: { [key: string]: JsonValue } = {};
  if (form.value.trim()) value.name = form.value.trim();
  const count = (text: string, what: string): number | null | string => {
    if (text.trim() === "") return null;
    const n = Number(text.trim());
    return Number.isInteger(n) && n >= 0 ? n : `${what} is a whole number of calls.`;
  };
  const min = count(form.min, "The fewest");
  const max = count(form.max, "The most");
  if (typeof min === "string") return fail(min);
  if (typeof max === "string") return fail(max);
  if (min !== null && max !== null && min > max) return fail("The fewest calls is above the most.");
  if (min !== null) value.min = min;
  if (max !== null) value.max = max;
  const path = form.path.trim();
  if (path !== "" || form.equals.trim() !== "") {
    if (path === "") return fail("Give the arguments' path, e.g. $.city.");
    if (form.equals.trim() === "") return fail("Give the value the argument must equal (JSON, or plain text).");
    let equals: JsonValue;
    try {
      equals = JSON.parse(form.equals) as JsonValue;
    } catch {
      equals = form.equals;
    }
    value.arguments = { path, equals };
  }
  if (Object.keys(value).length > 0) spec.value = value;
  return finishSpec(form, spec);
}

/** Items of a list typed one per line, or comma-separated on one line. */
export function splitList(text: string): string[] {
  const parts = text.includes("\n") ? text.split("\n") : text.split(",");
  return parts.map((p) => p.trim()).filter((p) => p !== "");
}

/** The form as the engine's AssertionSpec, or what is wrong with it. */
export function toAssertionSpec(form: EvaluatorForm): SpecResult {
  const t = evaluatorType(form.kind);
  const spec: AssertionSpec = { type: `${form.negate ? "not-" : ""}${t.type}` };
  const has = (f: EvaluatorField) => showsField(form, f);
  if (t.type === "tool-called") return toolCalledSpec(form, spec);

  if (has("value")) {
    const raw = form.value;
    switch (t.valueKind) {
      case "text":
        if (raw.trim() === "") return fail(`Fill in the ${t.valueLabel?.toLowerCase() ?? "value"}.`);
        spec.value = raw;
        break;
      case "optional-text":
        if (raw.trim() !== "") spec.value = raw;
        break;
      case "optional-json": {
        if (raw.trim() === "") break;
        let parsed: JsonValue;
        try {
          parsed = JSON.parse(raw) as JsonValue;
        } catch (e) {
          return fail(`The ${t.valueLabel ?? "value"} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
        }
        if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return fail("A JSON schema is a JSON object.");
        spec.value = parsed;
        break;
      }
      case "list": {
        const items = splitList(raw);
        if (items.length === 0) return fail("Give at least one text.");
        spec.value = items;
        break;
      }
      case "json": {
        if (raw.trim() === "") return fail(`Fill in the ${t.valueLabel ?? "JSON"}.`);
        let parsed: JsonValue;
        try {
          parsed = JSON.parse(raw) as JsonValue;
        } catch (e) {
          return fail(`The ${t.valueLabel ?? "value"} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
        }
        if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return fail(`The ${t.valueLabel ?? "value"} must be a JSON object.`);
        spec.value = parsed;
        break;
      }
      case "number": {
        const n = parseNumber(raw, t.valueLabel ?? "The value");
        if (typeof n === "string") return fail(n);
        spec.value = n;
        break;
      }
      default:
        break;
    }
  }

  if (has("path")) {
    const path = form.path.trim();
    if (path === "") return fail("Give the JSON path, e.g. $.answer or $.items[0].name.");
    if (form.equals.trim() === "") return fail("Give the value the path must equal (JSON, or plain text).");
    let equals: JsonValue;
    try {
      equals = JSON.parse(form.equals) as JsonValue;
    } catch {
      // Not JSON: the text itself.
      equals = form.equals;
    }
    spec.value = { path, equals };
  }

  if (has("min") || has("max")) {
    const min = parseCount(form.min, "The minimum");
    const max = parseCount(form.max, "The maximum");
    if (typeof min === "string") return fail(min);
    if (typeof max === "string") return fail(max);
    if (min === null && max === null) return fail("Give a minimum and/or a maximum length.");
    if (min !== null && max !== null && min > max) return fail("The minimum is above the maximum.");
    if (min !== null) spec.min = min;
    if (max !== null) spec.max = max;
  }

  if (has("rubric")) {
    const rubric = form.rubric.trim();
    if (rubric === "" && t.type === "judge") return fail("Write the rubric the judge grades against.");
    if (rubric !== "") spec.rubric = form.rubric;
  }

  if (has("score") && form.score) spec.score = true;

  if (has("threshold") && form.threshold.trim() !== "") {
    const n = parseNumber(form.threshold, "The threshold");
    if (typeof n === "string") return fail(n);
    spec.threshold = n;
  }

  if (has("method") && form.method !== "" && form.method !== "levenshtein") spec.method = form.method;

  if (has("prompt") && form.prompt !== "") spec.prompt = form.prompt;
  return finishSpec(form, spec);
}

/** Adds what every type may have: a gate and a name. */
function finishSpec(form: EvaluatorForm, spec: AssertionSpec): SpecResult {
  if (form.gate.trim() !== "") spec.gate = form.gate.trim();
  if (form.name.trim() !== "") spec.name = form.name.trim();
  return { spec, error: null };
}

/** The label reports use for an assertion (the engine's own rule: its name, else type and value). */
export function assertionLabel(spec: AssertionSpec): string {
  if (spec.name) return spec.name;
  const value = spec.value ?? (spec.rubric ?? undefined);
  if (value === undefined || value === null) return spec.type;
  if (typeof value === "string") {
    const chars = Array.from(value);
    return `${spec.type} "${chars.slice(0, 40).join("")}${chars.length > 40 ? "…" : ""}"`;
  }
  return `${spec.type} ${JSON.stringify(value)}`;
}
