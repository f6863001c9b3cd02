import { Channel, invoke } from "@tauri-apps/api/core";
import type { AppError } from "../bindings/AppError";
import type { CompareEventDto } from "../bindings/CompareEventDto";
import type { CompareRequest } from "../bindings/CompareRequest";
import type { CompareResultDto } from "../bindings/CompareResultDto";
import type { CompareRunSummary } from "../bindings/CompareRunSummary";
import type { DayCostDto } from "../bindings/DayCostDto";
import type { DiffDto } from "../bindings/DiffDto";
import type { GatewayStatus } from "../bindings/GatewayStatus";
import type { KeyDto } from "../bindings/KeyDto";
import type { KeyTestDto } from "../bindings/KeyTestDto";
import type { LogDetail } from "../bindings/LogDetail";
import type { LogQuery } from "../bindings/LogQuery";
import type { LogRow } from "../bindings/LogRow";
import type { ModelLatencyDto } from "../bindings/ModelLatencyDto";
import type { ModelOption } from "../bindings/ModelOption";
import type { NewKeyDto } from "../bindings/NewKeyDto";
import type { PreviewDto } from "../bindings/PreviewDto";
import type { PromptDraft } from "../bindings/PromptDraft";
import type { PromptSummary } from "../bindings/PromptSummary";
import type { SaveResult } from "../bindings/SaveResult";
import type { VersionDto } from "../bindings/VersionDto";
import type { DatasetDto } from "../bindings/DatasetDto";
import type { DatasetSave } from "../bindings/DatasetSave";
import type { DatasetSummary } from "../bindings/DatasetSummary";
import type { EvalDefDto } from "../bindings/EvalDefDto";
import type { Experiment } from "../bindings/Experiment";
import type { ExperimentEventDto } from "../bindings/ExperimentEventDto";
import type { ExperimentRequest } from "../bindings/ExperimentRequest";
import type { ExperimentSummary } from "../bindings/ExperimentSummary";
import type { AssertionSpec } from "../bindings/AssertionSpec";
import type { GateOutcome } from "../bindings/GateOutcome";
import type { PlanDto } from "../bindings/PlanDto";
import type { Row } from "../bindings/Row";
import type { RowChange } from "../bindings/RowChange";
import type { VersionEvalDto } from "../bindings/VersionEvalDto";
import type { Wire } from "./wire";

export type Version = Wire<VersionDto>;
export type Summary = Wire<PromptSummary>;
export type Diff = Wire<DiffDto>;
export type CompareResult = Wire<CompareResultDto>;
export type CompareReq = Wire<CompareRequest>;
export type Log = Wire<LogRow>;
export type LogFull = Wire<LogDetail>;
export type Save = Wire<SaveResult>;

/** The one place where untyped values cross the boundary. */
function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  return invoke<T>(cmd, args);
}

export function isAppError(e: unknown): e is AppError {
  return (
    typeof e === "object" &&
    e !== null &&
    typeof (e as { kind?: unknown }).kind === "string" &&
    typeof (e as { message?: unknown }).message === "string"
  );
}

/** Normalises whatever a rejected invoke carries into an AppError. */
export function toAppError(e: unknown): AppError {
  if (isAppError(e)) return e;
  if (e instanceof Error) return { kind: "client", message: e.message };
  if (typeof e === "string") return { kind: "client", message: e };
  return { kind: "client", message: "Something went wrong." };
}

export function errorMessage(e: unknown): string {
  const m = toAppError(e).message.trim();
  if (!m) return "Something went wrong.";
  return m.charAt(0).toUpperCase() + m.slice(1);
}

/** What a successful call changed, for the shared lists (lib/resources) to fetch again. */
export type Change = "prompts" | "keys" | "datasets";
const changeListeners = new Set<(what: Change) => void>();

export function onApiChange(listener: (what: Change) => void): () => void {
  changeListeners.add(listener);
  return () => changeListeners.delete(listener);
}

function changes<T>(what: Change, p: Promise<T>): Promise<T> {
  return p.then((v) => {
    for (const l of changeListeners) l(what);
    return v;
  });
}

export const api = {
  appInfo: () => call<{ data_dir: string; version: string }>("app_info"),
  listPrompts: () => call<Summary[]>("list_prompts"),
  getVersion: (prompt: string, version: number | null) =>
    call<Version>("get_version", { prompt, version }),
  listVersions: (prompt: string) => call<Version[]>("list_versions", { prompt }),
  createPrompt: (slug: string, draft: PromptDraft, message: string | null) =>
    changes("prompts", call<Save>("create_prompt", { slug, draft, message })),
  savePrompt: (prompt: string, draft: PromptDraft, message: string | null) =>
    changes("prompts", call<Save>("save_prompt", { prompt, draft, message })),
  preview: (slug: string, draft: PromptDraft, variables: Record<string, unknown>) =>
    call<PreviewDto>("preview", { slug, draft, variables }),
  /** Checks model parameters (tools, tool choice, response schema) as a save would. */
  checkParams: (paramsJson: string) => call<null>("check_params", { paramsJson }),
  /** An image file as a data URL (PNG, JPEG, GIF or WebP, at most 5 MB). */
  imageDataUrl: (path: string) => call<string>("image_data_url", { path }),
  setLabel: (prompt: string, version: number, label: string) =>
    changes("prompts", call<null>("set_label", { prompt, version, label })),
  diffVersions: (prompt: string, from: number, to: number) =>
    call<Diff>("diff_versions", { prompt, from, to }),
  listModels: () => call<ModelOption[]>("list_models"),
  runCompare: (request: CompareReq, onEvent: Channel<CompareEventDto[]>) =>
    call<CompareResult>("run_compare", { request, onEvent }),
  cancelCompare: () => call<null>("cancel_compare"),
  listCompareRuns: () => call<Wire<CompareRunSummary>[]>("list_compare_runs"),
  getCompareRun: (id: string) => call<CompareResult>("get_compare_run", { id }),
  sendFeedback: (traceId: string, value: number) => call<null>("send_feedback", { traceId, value }),
  listLogs: (query: LogQuery) => call<Log[]>("list_logs", { query }),
  getLog: (id: string) => call<LogFull>("get_log", { id }),
  costByDay: (days: number) => call<DayCostDto[]>("cost_by_day", { days }),
  latencyByModel: (days: number) => call<ModelLatencyDto[]>("latency_by_model", { days }),
  listKeys: () => call<KeyDto[]>("list_keys"),
  addKey: (key: NewKeyDto) => changes("keys", call<KeyDto>("add_key", { key })),
  rotateKey: (name: string, secret: string) => changes("keys", call<null>("rotate_key", { name, secret })),
  removeKey: (name: string) => changes("keys", call<null>("remove_key", { name })),
  testKey: (name: string, model: string | null) => call<KeyTestDto>("test_key", { name, model }),
  gatewayStatus: () => call<GatewayStatus>("gateway_status"),
  gatewayStart: (port: number) => call<GatewayStatus>("gateway_start", { port }),
  gatewayStop: () => call<GatewayStatus>("gateway_stop"),
  createToken: (name: string) => call<string>("create_token", { name }),
  revokeToken: (name: string) => call<null>("revoke_token", { name }),

  // Datasets
  listDatasets: () => call<DatasetSummary[]>("list_datasets"),
  getDataset: (name: string, version: number | null) => call<DatasetDto>("get_dataset", { name, version }),
  /** Saves rows as the dataset's next version, or creates the dataset. */
  saveDataset: (name: string, rows: Row[], message: string | null) =>
    changes("datasets", call<DatasetSave>("save_dataset", { name, rows, message })),
  /** Reads rows from a .jsonl, .csv or promptfoo .yaml file; saves nothing. */
  readDatasetFile: (path: string) => call<Row[]>("read_dataset_file", { path }),
  exportDataset: (name: string, version: number | null, path: string) => call<number>("export_dataset", { name, version, path }),
  /** Rows from logged calls (their variables; with answers, their answers as expected output). */
  rowsFromCalls: (ids: string[], withAnswers: boolean) => call<Row[]>("rows_from_calls", { ids, withAnswers }),
  /** The system file dialog (dataset files, images, or any file): a path, or null when cancelled. */
  pickFile: (save: boolean, defaultName: string | null, kind: "rows" | "image" | "any" = "rows") =>
    call<string | null>("pick_file", { save, defaultName, kind }),

  // Experiments
  /** Rejects with the reason when the assertion is invalid. */
  checkAssertion: (spec: AssertionSpec) => call<null>("check_assertion", { spec }),
  planExperiment: (request: ExperimentRequest) => call<PlanDto>("plan_experiment", { request }),
  runExperiment: (request: ExperimentRequest, onEvent: Channel<ExperimentEventDto[]>) =>
    call<Experiment>("run_experiment", { request, onEvent }),
  /** Stops a running comparison or experiment (an experiment keeps the cells that finished). */
  cancelExperiment: () => call<null>("cancel_compare"),
  listExperiments: () => call<ExperimentSummary[]>("list_experiments"),
  getExperiment: (id: string) => call<Experiment>("get_experiment", { id }),
  diffExperiments: (before: string, after: string) => call<RowChange[]>("diff_experiments", { before, after }),
  listEvals: () => call<EvalDefDto[]>("list_evals"),
  saveEval: (name: string, body: string) => call<null>("save_eval", { name, body }),
  versionEvals: (prompt: string) => call<VersionEvalDto[]>("version_evals", { prompt }),
  /** Runs the eval as the label's gate; the label moves only when the outcome allows. */
  setLabelGated: (prompt: string, version: number, label: string, evalName: string) =>
    changes("prompts", call<GateOutcome>("set_label_gated", { prompt, version, label, eval: evalName })),
  /** Moves a label its gate refused; the reason goes in the audit log. */
  setLabelOverride: (prompt: string, version: number, label: string, evalName: string, reason: string) =>
    changes("prompts", call<null>("set_label_override", { prompt, version, label, eval: evalName, reason })),
};

export { Channel };
