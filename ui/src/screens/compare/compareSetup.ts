/**
 * What the Compare screen's form holds (prompt, versions, models, rows, evaluators, options) and
 * how it changes, as one reducer: every change is an action a test can replay.
 */
import type { AssertionSpec } from "../../bindings/AssertionSpec";
import type { ColumnSpec } from "../../bindings/ColumnSpec";
import type { ToolResultDraft } from "../../lib/tools";

export const MAX_MODELS = 8;
/** The engine runs at most this many columns (versions × models) in one experiment. */
export const MAX_COLUMNS = 16;
export const MAX_REPEATS = 20;

export interface CompareSetup {
  slug: string;
  /** "" is the default version (`production`, else the latest). */
  versionSel: string;
  /** More versions (numbers as text) or labels to compare, each a column per model. */
  extraVersions: string[];
  picked: string[];
  mode: "form" | "jsonl";
  formRows: Record<string, string>[];
  jsonl: string;
  concurrency: number;
  diffMode: boolean;
  /** The column the others are compared with (and diffed against). */
  baseline: number;
  /** A dataset's name ("" = the inline variable sets) and version ("" = its latest). */
  dataset: string;
  datasetVersion: string;
  repeats: number;
  /** "" = each judge prompt's own model. */
  judgeModel: string;
  evaluators: AssertionSpec[];
  /** A gate on the share of rows passing every check (`pass_rate >= 0.9`), optional. */
  gate: string;
  /** The experiment's name in the history ("" = the prompt's slug). */
  name: string;
  /** Thumbs given in this run, by trace id. */
  feedback: Record<string, number>;
  formError: string | null;
  /** Simulated results of the prompt's tools, by function name, and the step limit. */
  toolResults: Record<string, ToolResultDraft>;
  maxToolSteps: number;
}

export type SetupAction =
  | { type: "prompt"; slug: string }
  | { type: "version"; sel: string }
  | { type: "toggleExtraVersion"; sel: string }
  | { type: "toggleModel"; id: string }
  | { type: "mode"; mode: "form" | "jsonl"; jsonl?: string }
  | { type: "rows"; rows: Record<string, string>[] }
  | { type: "jsonl"; text: string }
  | { type: "concurrency"; value: number }
  | { type: "diffMode"; on: boolean }
  | { type: "baseline"; column: number }
  | { type: "vote"; traceId: string; value: number }
  | { type: "unvote"; traceId: string }
  | { type: "dataset"; name: string }
  | { type: "datasetVersion"; sel: string }
  | { type: "repeats"; value: number }
  | { type: "judgeModel"; id: string }
  | { type: "addEvaluator"; spec: AssertionSpec }
  | { type: "removeEvaluator"; index: number }
  | { type: "gate"; text: string }
  | { type: "name"; text: string }
  | { type: "error"; message: string | null }
  | { type: "toolResult"; name: string; result: ToolResultDraft }
  | { type: "maxToolSteps"; value: number }
  /** A run starts: fresh feedback, no error, a baseline that exists among its columns. */
  | { type: "started"; columns?: number };

export function initialSetup(slug: string | null): CompareSetup {
  return {
    slug: slug ?? "",
    versionSel: "",
    extraVersions: [],
    picked: [],
    mode: "form",
    formRows: [{}],
    jsonl: "",
    concurrency: 4,
    diffMode: false,
    baseline: 0,
    dataset: "",
    datasetVersion: "",
    repeats: 1,
    judgeModel: "",
    evaluators: [],
    gate: "",
    name: "",
    feedback: {},
    formError: null,
    toolResults: {},
    maxToolSteps: 4,
  };
}

export function setupReducer(s: CompareSetup, a: SetupAction): CompareSetup {
  switch (a.type) {
    case "prompt":
      // Another prompt has other variables: its rows start empty, at its default version.
      return a.slug === s.slug ? s : { ...s, slug: a.slug, versionSel: "", extraVersions: [], formRows: [{}] };
    case "version":
      // A version picked first is not also an extra one.
      return { ...s, versionSel: a.sel, extraVersions: s.extraVersions.filter((v) => v !== a.sel) };
    case "toggleExtraVersion":
      if (s.extraVersions.includes(a.sel)) return { ...s, extraVersions: s.extraVersions.filter((v) => v !== a.sel) };
      if (a.sel === s.versionSel) return s;
      return { ...s, extraVersions: [...s.extraVersions, a.sel] };
    case "toggleModel": {
      if (s.picked.includes(a.id)) return { ...s, picked: s.picked.filter((x) => x !== a.id) };
      if (s.picked.length >= MAX_MODELS) return s;
      return { ...s, picked: [...s.picked, a.id] };
    }
    case "mode":
      if (a.mode === s.mode) return s;
      return { ...s, mode: a.mode, jsonl: a.jsonl ?? s.jsonl };
    case "rows":
      return { ...s, formRows: a.rows };
    case "jsonl":
      return { ...s, jsonl: a.text };
    case "concurrency":
      return { ...s, concurrency: Math.min(16, Math.max(1, Math.round(a.value) || 1)) };
    case "diffMode":
      return { ...s, diffMode: a.on };
    case "baseline":
      return { ...s, baseline: a.column };
    case "vote":
      return { ...s, feedback: { ...s.feedback, [a.traceId]: a.value } };
    case "unvote": {
      const feedback = { ...s.feedback };
      delete feedback[a.traceId];
      return { ...s, feedback };
    }
    case "dataset":
      return a.name === s.dataset ? s : { ...s, dataset: a.name, datasetVersion: "" };
    case "datasetVersion":
      return { ...s, datasetVersion: a.sel };
    case "repeats":
      return { ...s, repeats: Math.min(MAX_REPEATS, Math.max(1, Math.round(a.value) || 1)) };
    case "judgeModel":
      return { ...s, judgeModel: a.id };
    case "addEvaluator":
      return { ...s, evaluators: [...s.evaluators, a.spec] };
    case "removeEvaluator":
      return { ...s, evaluators: s.evaluators.filter((_, i) => i !== a.index) };
    case "gate":
      return { ...s, gate: a.text };
    case "name":
      return { ...s, name: a.text };
    case "error":
      return { ...s, formError: a.message };
    case "toolResult":
      return { ...s, toolResults: { ...s.toolResults, [a.name]: a.result } };
    case "maxToolSteps":
      return { ...s, maxToolSteps: Math.min(16, Math.max(1, Math.round(a.value) || 1)) };
    case "started": {
      const columns = a.columns ?? s.picked.length;
      return { ...s, feedback: {}, formError: null, baseline: s.baseline >= columns ? 0 : s.baseline };
    }
  }
}

/** The versions compared, in column order: the first pick (null = the default), then the extra ones. */
export function pickedVersions(s: CompareSetup): (string | null)[] {
  return [s.versionSel || null, ...s.extraVersions];
}

/** Whether the run is an experiment (checked, versions, repeats or a dataset) or a plain comparison. */
export function isExperiment(s: CompareSetup): boolean {
  return s.evaluators.length > 0 || s.extraVersions.length > 0 || s.repeats > 1 || s.dataset !== "";
}

/** The experiment's columns: every version picked on every model picked. */
export function experimentColumns(s: CompareSetup, slug: string): ColumnSpec[] {
  return pickedVersions(s).flatMap((version) => s.picked.map((model) => ({ prompt: slug, version, model })));
}
