/**
 * What the Compare screen's form holds (prompt, version, models, variable rows, options) and how
 * it changes, as one reducer: every change is an action a test can replay.
 */
export const MAX_MODELS = 8;

export interface CompareSetup {
  slug: string;
  /** "" is the default version (`production`, else the latest). */
  versionSel: string;
  picked: string[];
  mode: "form" | "jsonl";
  formRows: Record<string, string>[];
  jsonl: string;
  concurrency: number;
  diffMode: boolean;
  baseline: number;
  /** Thumbs given in this run, by trace id. */
  feedback: Record<string, number>;
  formError: string | null;
}

export type SetupAction =
  | { type: "prompt"; slug: string }
  | { type: "version"; sel: string }
  | { type: "toggleModel"; id: string }
  | { type: "mode"; mode: "form" | "jsonl"; jsonl?: string }
  | { type: "rows"; rows: Record<string, string>[] }
  | { type: "jsonl"; text: string }
  | { type: "concurrency"; value: number }
  | { type: "diffMode"; on: boolean }
  | { type: "baseline"; column: number }
  | { type: "vote"; traceId: string; value: number }
  | { type: "unvote"; traceId: string }
  | { type: "error"; message: string | null }
  /** A run starts: fresh feedback, no error, a baseline that exists. */
  | { type: "started" };

export function initialSetup(slug: string | null): CompareSetup {
  return {
    slug: slug ?? "",
    versionSel: "",
    picked: [],
    mode: "form",
    formRows: [{}],
    jsonl: "",
    concurrency: 4,
    diffMode: false,
    baseline: 0,
    feedback: {},
    formError: null,
  };
}

export function setupReducer(s: CompareSetup, a: SetupAction): CompareSetup {
  switch (a.type) {
    case "prompt":
      // Another prompt has other variables: its rows start empty, at its default version.
      return a.slug === s.slug ? s : { ...s, slug: a.slug, versionSel: "", formRows: [{}] };
    case "version":
      return { ...s, versionSel: a.sel };
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
    case "error":
      return { ...s, formError: a.message };
    case "started":
      return { ...s, feedback: {}, formError: null, baseline: s.baseline >= s.picked.length ? 0 : s.baseline };
  }
}
