/**
 * An experiment on the Compare screen (prompt versions × models × rows × repeats, every cell
 * checked by the evaluators) as one reducer: the channel's events stream text into cells and
 * then their verdicts; running figures per column (pass rates, cost, latency, wins against the
 * baseline) are kept up to date as cells finish, so each event costs the cells it touches (plus
 * one copy of the row list per batch), never a rescan of the grid. The finished Experiment's
 * summary replaces the running figures.
 */
import type { AssertionSpec } from "../bindings/AssertionSpec";
import type { CacheStatus } from "../bindings/CacheStatus";
import type { CellDto } from "../bindings/CellDto";
import type { CompareEventDto } from "../bindings/CompareEventDto";
import type { Experiment } from "../bindings/Experiment";
import type { ExperimentCell } from "../bindings/ExperimentCell";
import type { ExperimentEventDto } from "../bindings/ExperimentEventDto";
import type { Finding } from "../bindings/Finding";
import type { Row } from "../bindings/Row";
import type { Verdict } from "../bindings/Verdict";
import type { CellStatus, Phase, ThrottleNotice } from "./compareState";
import { assertionLabel } from "./evaluatorForm";

export interface ExpCell {
  status: CellStatus;
  /** Streamed text so far (the output once finished). */
  text: string;
  /** The finished call; its verdicts once `evaluated`. */
  result: ExperimentCell | null;
  /** Its checks are in. */
  evaluated: boolean;
  /** Times the provider answered 429 and the cell was queued again. */
  throttled: number;
}

export interface RowInfo {
  /** Per column: the share of its checked repeats passing every check (null: none checked yet). */
  scores: (number | null)[];
  /** Some checked cell of the row fails a check (or its call failed). */
  failing: boolean;
  /** In some column the repeats' verdicts differ. */
  flaky: boolean;
  /** The columns checked so far do not all score the same. */
  disagree: boolean;
}

interface AssertionAgg {
  checked: number;
  passed: number;
  errors: number;
  scoreSum: number;
  scoreN: number;
  /** Some score was neither 0 nor 1 (a similarity, a judge's 1–5). */
  graded: boolean;
}

export interface ColumnAgg {
  finished: number;
  errors: number;
  /** Cells whose verdicts are in. */
  checked: number;
  /** Sum and count of the rows' scores (see RowInfo.scores). */
  rowScoreSum: number;
  rowScoreN: number;
  costSum: number;
  /** Successful cells whose cost is unknown. */
  costUnknown: number;
  judgeCost: number;
  judgeCostN: number;
  promptTokens: number;
  completionTokens: number;
  /** Latencies of successful cells, sorted. */
  latencies: number[];
  assertions: AssertionAgg[];
}

/** A column against the baseline, over the rows both have checked. */
export interface PairAgg {
  wins: number;
  ties: number;
  losses: number;
  n: number;
  sum: number;
  sumSq: number;
}

export interface ExperimentState {
  runId: number;
  phase: Phase;
  name: string;
  columns: string[];
  repeats: number;
  baseline: number;
  /** Labels of the experiment's assertions (a row's own come after them in its verdicts). */
  assertions: string[];
  /** Per assertion: a judge asked for a 1–5 score (its verdicts always show their score). */
  scored: boolean[];
  rows: Row[];
  /** `cells[row][column * repeats + repeat]`. */
  cells: ExpCell[][];
  rowInfo: RowInfo[];
  agg: ColumnAgg[];
  pairs: PairAgg[];
  finished: number;
  checked: number;
  /** The finished experiment (its summary is authoritative). */
  experiment: Experiment | null;
  throttles: Record<string, ThrottleNotice>;
  error: string | null;
  wallMs: number | null;
}

export interface ExperimentStart {
  name: string;
  columns: string[];
  rows: Row[];
  repeats: number;
  baseline: number;
  assertions: AssertionSpec[];
}

export type ExperimentAction =
  | ({ type: "start"; runId: number } & ExperimentStart)
  | { type: "events"; runId: number; events: ExperimentEventDto[] }
  | { type: "result"; runId: number; experiment: Experiment }
  /** Shows a saved experiment. */
  | { type: "open"; runId: number; experiment: Experiment }
  | { type: "failed"; runId: number; message: string; cancelled: boolean }
  | { type: "reset" };

export const idleExperiment: ExperimentState = {
  runId: 0,
  phase: "idle",
  name: "",
  columns: [],
  repeats: 1,
  baseline: 0,
  assertions: [],
  scored: [],
  rows: [],
  cells: [],
  rowInfo: [],
  agg: [],
  pairs: [],
  finished: 0,
  checked: 0,
  experiment: null,
  throttles: {},
  error: null,
  wallMs: null,
};

const pendingCell: ExpCell = { status: "pending", text: "", result: null, evaluated: false, throttled: 0 };

function emptyAgg(assertions: number): ColumnAgg {
  return {
    finished: 0,
    errors: 0,
    checked: 0,
    rowScoreSum: 0,
    rowScoreN: 0,
    costSum: 0,
    costUnknown: 0,
    judgeCost: 0,
    judgeCostN: 0,
    promptTokens: 0,
    completionTokens: 0,
    latencies: [],
    assertions: Array.from({ length: assertions }, () => ({ checked: 0, passed: 0, errors: 0, scoreSum: 0, scoreN: 0, graded: false })),
  };
}

const emptyPair: PairAgg = { wins: 0, ties: 0, losses: 0, n: 0, sum: 0, sumSq: 0 };

function started(runId: number, s: ExperimentStart): ExperimentState {
  const cols = s.columns.length;
  const repeats = Math.max(1, s.repeats);
  const width = cols * repeats;
  return {
    ...idleExperiment,
    runId,
    phase: "running",
    name: s.name,
    columns: s.columns.slice(),
    repeats,
    baseline: s.baseline >= 0 && s.baseline < cols ? s.baseline : 0,
    assertions: s.assertions.map(assertionLabel),
    scored: s.assertions.map((a) => a.score === true),
    rows: s.rows,
    cells: s.rows.map(() => Array.from({ length: width }, () => pendingCell)),
    rowInfo: s.rows.map(() => ({ scores: Array.from({ length: cols }, () => null), failing: false, flaky: false, disagree: false })),
    agg: Array.from({ length: cols }, () => emptyAgg(s.assertions.length)),
    pairs: Array.from({ length: cols }, () => emptyPair),
  };
}

/** "Does not apply" (pairwise on the baseline column). */
export function isSkipped(v: Verdict): boolean {
  return v.pass === null && (v.error === null || v.error === undefined);
}

/** A pairwise verdict while the run goes on: it is judged once every column of the row is in. */
export function isPending(v: Verdict): boolean {
  return v.pass === null && v.error === "pending";
}

/** Every check that applies passed, and the call succeeded. */
export function cellPassed(c: ExperimentCell): boolean {
  if (c.error) return false;
  for (const v of c.verdicts) {
    if (isSkipped(v) || isPending(v)) continue;
    if (v.pass !== true) return false;
  }
  return true;
}

function isFinished(c: ExpCell): boolean {
  return c.status === "done" || c.status === "error";
}

/** A finished call as a cell without verdicts yet. */
export function cellFromDto(dto: CellDto, repeat: number): ExperimentCell {
  return {
    row: dto.row,
    column: dto.column,
    repeat,
    output: dto.output,
    error: dto.error,
    latency_ms: dto.latency_ms,
    ttft_ms: dto.ttft_ms,
    usage:
      dto.prompt_tokens !== null || dto.completion_tokens !== null
        ? {
            prompt_tokens: dto.prompt_tokens ?? 0,
            completion_tokens: dto.completion_tokens ?? 0,
            total_tokens: (dto.prompt_tokens ?? 0) + (dto.completion_tokens ?? 0),
          }
        : null,
    cost_usd: dto.cost_usd,
    cache_status: dto.cache_status as CacheStatus | null,
    trace_id: dto.trace_id,
    verdicts: [],
  };
}

/** What a row's cells say: scores per column, failing, flaky, disagreeing. */
export function rowInfoOf(row: readonly ExpCell[], columns: number, repeats: number): RowInfo {
  const scores: (number | null)[] = [];
  let failing = false;
  let flaky = false;
  for (let c = 0; c < columns; c++) {
    let checked = 0;
    let passed = 0;
    let first: string | null = null;
    for (let r = 0; r < repeats; r++) {
      const cell = row[c * repeats + r];
      if (!cell || !cell.evaluated || !cell.result) continue;
      checked++;
      if (cellPassed(cell.result)) passed++;
      else failing = true;
      if (repeats > 1) {
        const outcome = cell.result.verdicts.map((v) => String(v.pass)).join(",");
        if (first === null) first = outcome;
        else if (outcome !== first) flaky = true;
      }
    }
    scores.push(checked ? passed / checked : null);
  }
  let seen: number | null = null;
  let disagree = false;
  for (const s of scores) {
    if (s === null) continue;
    if (seen === null) seen = s;
    else if (Math.abs(s - seen) > 1e-9) disagree = true;
  }
  return { scores, failing, flaky, disagree };
}

function pairAdd(p: PairAgg, a: number, b: number, sign: 1 | -1): PairAgg {
  const d = b - a;
  const win = d > 1e-9 ? 1 : 0;
  const loss = d < -1e-9 ? 1 : 0;
  const tie = win || loss ? 0 : 1;
  return {
    wins: p.wins + sign * win,
    ties: p.ties + sign * tie,
    losses: p.losses + sign * loss,
    n: p.n + sign,
    sum: p.sum + sign * d,
    sumSq: p.sumSq + sign * d * d,
  };
}

/** Sorted merge of new values into a sorted list. */
function mergeSorted(sorted: readonly number[], added: number[]): number[] {
  added.sort((x, y) => x - y);
  const out = new Array<number>(sorted.length + added.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < sorted.length && j < added.length) out[k++] = sorted[i] <= added[j] ? sorted[i++] : added[j++];
  while (i < sorted.length) out[k++] = sorted[i++];
  while (j < added.length) out[k++] = added[j++];
  return out;
}

/**
 * A batch of events applied to one state: the row list and the column figures are copied once,
 * then each event copies only the row and the column it changes.
 */
class Batch {
  private readonly s: ExperimentState;
  private cells: ExpCell[][] | null = null;
  private rowInfo: RowInfo[] | null = null;
  private agg: ColumnAgg[] | null = null;
  private pairs: PairAgg[] | null = null;
  private readonly copiedRows = new Set<number>();
  private readonly copiedAgg = new Set<number>();
  private readonly latencies = new Map<number, number[]>();
  private throttles: Record<string, ThrottleNotice> | null = null;
  private finished: number;
  private checked: number;
  private changed = false;

  constructor(s: ExperimentState) {
    this.s = s;
    this.finished = s.finished;
    this.checked = s.checked;
  }

  private cellAt(row: number, col: number, repeat: number): ExpCell | null {
    const s = this.s;
    if (col < 0 || col >= s.columns.length || repeat < 0 || repeat >= s.repeats) return null;
    const r = (this.cells ?? s.cells)[row];
    return r ? r[col * s.repeats + repeat] : null;
  }

  private setCell(row: number, col: number, repeat: number, cell: ExpCell) {
    if (!this.cells) this.cells = this.s.cells.slice();
    if (!this.copiedRows.has(row)) {
      this.cells[row] = this.cells[row].slice();
      this.copiedRows.add(row);
    }
    this.cells[row][col * this.s.repeats + repeat] = cell;
    this.changed = true;
  }

  private column(col: number): ColumnAgg {
    if (!this.agg) this.agg = this.s.agg.slice();
    if (!this.copiedAgg.has(col)) {
      const a = this.agg[col];
      this.agg[col] = { ...a, assertions: a.assertions.map((x) => ({ ...x })) };
      this.copiedAgg.add(col);
    }
    return this.agg[col];
  }

  private countFinished(cell: ExperimentCell) {
    const a = this.column(cell.column);
    this.finished++;
    a.finished++;
    if (cell.error) {
      a.errors++;
      return;
    }
    if (cell.cost_usd === null || cell.cost_usd === undefined) a.costUnknown++;
    else a.costSum += cell.cost_usd;
    a.promptTokens += cell.usage?.prompt_tokens ?? 0;
    a.completionTokens += cell.usage?.completion_tokens ?? 0;
    let list = this.latencies.get(cell.column);
    if (!list) this.latencies.set(cell.column, (list = []));
    list.push(cell.latency_ms);
  }

  private countChecked(cell: ExperimentCell) {
    const a = this.column(cell.column);
    this.checked++;
    a.checked++;
    cell.verdicts.forEach((v, i) => {
      if (typeof v.cost_usd === "number") {
        a.judgeCost += v.cost_usd;
        a.judgeCostN++;
      }
      const x = a.assertions[i];
      if (!x || isSkipped(v) || isPending(v)) return;
      x.checked++;
      if (v.pass === true) x.passed++;
      if (v.pass === null) x.errors++;
      if (typeof v.score === "number") {
        x.scoreSum += v.score;
        x.scoreN++;
        if (v.score !== 0 && v.score !== 1) x.graded = true;
      }
    });
  }

  /** Recomputes a row's info and moves the column and baseline figures by the change. */
  private refreshRow(row: number) {
    const s = this.s;
    if (!this.rowInfo) this.rowInfo = s.rowInfo.slice();
    const before = this.rowInfo[row];
    const after = rowInfoOf((this.cells ?? s.cells)[row], s.columns.length, s.repeats);
    this.rowInfo[row] = after;
    const base = s.baseline;
    for (let c = 0; c < s.columns.length; c++) {
      const o = before.scores[c];
      const n = after.scores[c];
      if (o === n) continue;
      const a = this.column(c);
      if (o !== null) {
        a.rowScoreSum -= o;
        a.rowScoreN--;
      }
      if (n !== null) {
        a.rowScoreSum += n;
        a.rowScoreN++;
      }
    }
    for (let c = 0; c < s.columns.length; c++) {
      if (c === base) continue;
      const ob = before.scores[base];
      const oc = before.scores[c];
      const nb = after.scores[base];
      const nc = after.scores[c];
      if (ob === nb && oc === nc) continue;
      if (!this.pairs) this.pairs = s.pairs.slice();
      let p = this.pairs[c];
      if (ob !== null && oc !== null) p = pairAdd(p, ob, oc, -1);
      if (nb !== null && nc !== null) p = pairAdd(p, nb, nc, 1);
      this.pairs[c] = p;
    }
  }

  private finish(cell: ExperimentCell, repeat: number) {
    const prev = this.cellAt(cell.row, cell.column, repeat);
    if (!prev || isFinished(prev)) return;
    this.setCell(cell.row, cell.column, repeat, {
      status: cell.error ? "error" : "done",
      text: cell.output,
      result: cell,
      evaluated: false,
      throttled: prev.throttled,
    });
    this.countFinished(cell);
  }

  evaluated(cell: ExperimentCell) {
    const repeat = cell.repeat;
    const prev = this.cellAt(cell.row, cell.column, repeat);
    if (!prev || prev.evaluated) return;
    if (!isFinished(prev)) this.finish(cell, repeat);
    const throttled = this.cellAt(cell.row, cell.column, repeat)?.throttled ?? 0;
    this.setCell(cell.row, cell.column, repeat, {
      status: cell.error ? "error" : "done",
      text: cell.output,
      result: cell,
      evaluated: true,
      throttled,
    });
    this.countChecked(cell);
    this.refreshRow(cell.row);
  }

  cellEvent(repeat: number, e: CompareEventDto) {
    switch (e.type) {
      case "started": {
        const c = this.cellAt(e.row, e.column, repeat);
        if (c && c.status === "pending") this.setCell(e.row, e.column, repeat, { ...c, status: "running" });
        return;
      }
      case "delta": {
        const c = this.cellAt(e.row, e.column, repeat);
        if (c && !isFinished(c)) this.setCell(e.row, e.column, repeat, { ...c, status: "running", text: c.text + e.text });
        return;
      }
      case "throttled": {
        const c = this.cellAt(e.row, e.column, repeat);
        if (c && !isFinished(c)) this.setCell(e.row, e.column, repeat, { ...c, status: "pending", text: "", throttled: c.throttled + 1 });
        if (!this.throttles) this.throttles = { ...this.s.throttles };
        this.throttles[e.provider] = { provider: e.provider, limit: e.limit, pauseMs: e.pause_ms };
        this.changed = true;
        return;
      }
      case "finished":
        this.finish(cellFromDto(e.cell, repeat), repeat);
        return;
    }
  }

  /** Overrides the flaky flags with the summary's (the final word). */
  flakyFrom(experiment: Experiment) {
    const flaky = new Set(experiment.summary.flaky.map((f) => f.row));
    if (!this.rowInfo) this.rowInfo = this.s.rowInfo.slice();
    for (let r = 0; r < this.rowInfo.length; r++) {
      const want = flaky.has(r);
      if (this.rowInfo[r].flaky !== want) this.rowInfo[r] = { ...this.rowInfo[r], flaky: want };
    }
    this.changed = true;
  }

  done(): ExperimentState {
    if (!this.changed) return this.s;
    for (const [col, added] of this.latencies) {
      const a = this.column(col);
      a.latencies = mergeSorted(a.latencies, added);
    }
    return {
      ...this.s,
      cells: this.cells ?? this.s.cells,
      rowInfo: this.rowInfo ?? this.s.rowInfo,
      agg: this.agg ?? this.s.agg,
      pairs: this.pairs ?? this.s.pairs,
      throttles: this.throttles ?? this.s.throttles,
      finished: this.finished,
      checked: this.checked,
    };
  }
}

/** The grid of a finished (or saved) experiment. */
function fromExperiment(prev: ExperimentState, runId: number, e: Experiment): ExperimentState {
  const s0 = started(runId, {
    name: e.name,
    columns: e.columns.map((c) => c.label),
    rows: e.rows,
    repeats: e.repeats,
    baseline: e.baseline,
    assertions: e.assertions,
  });
  const b = new Batch({ ...s0, throttles: prev.runId === runId ? prev.throttles : {} });
  for (const c of e.cells) b.evaluated(c);
  b.flakyFrom(e);
  let s = b.done();
  // Keep how often each cell was throttled on the way.
  if (prev.runId === runId && prev.cells.length === s.cells.length && prev.columns.length === s.columns.length && prev.repeats === s.repeats) {
    s = {
      ...s,
      cells: s.cells.map((row, r) => row.map((c, i) => (prev.cells[r][i].throttled ? { ...c, throttled: prev.cells[r][i].throttled } : c))),
    };
  }
  return { ...s, phase: e.cancelled ? "cancelled" : "done", experiment: e, wallMs: e.wall_ms, error: e.cancelled ? "Cancelled: the cells that finished are kept." : null };
}

export function experimentReducer(state: ExperimentState, action: ExperimentAction): ExperimentState {
  switch (action.type) {
    case "reset":
      return idleExperiment;
    case "start": {
      const { runId, ...start } = action;
      return started(runId, start);
    }
    case "events": {
      if (action.runId !== state.runId || state.phase !== "running") return state;
      const b = new Batch(state);
      for (const e of action.events) {
        if (e.type === "cell") b.cellEvent(e.repeat, e.event);
        else b.evaluated(e.cell);
      }
      return b.done();
    }
    case "result":
      if (action.runId !== state.runId) return state;
      return fromExperiment(state, action.runId, action.experiment);
    case "open":
      return fromExperiment(state, action.runId, action.experiment);
    case "failed":
      if (action.runId !== state.runId) return state;
      return { ...state, phase: action.cancelled ? "cancelled" : "error", error: action.message };
  }
}

export function totalExperimentCells(s: ExperimentState): number {
  return s.rows.length * s.columns.length * s.repeats;
}

// ---------------------------------------------------------------------------------------------
// Figures per column: the summary's when the experiment is finished, running ones before.

/** A figure with its 95 % interval (null bounds: no interval yet). */
export interface Est {
  mean: number;
  low: number | null;
  high: number | null;
  n: number;
}

export interface AssertionFigures {
  label: string;
  passRate: Est | null;
  meanScore: Est | null;
  errors: number;
}

export interface ComparisonFigures {
  wins: number;
  ties: number;
  losses: number;
  difference: Est | null;
  finding: Finding;
}

export interface ColumnFigures {
  label: string;
  /** Share of rows passing every check. */
  passRate: Est | null;
  assertions: AssertionFigures[];
  errors: number;
  costUsd: number | null;
  costPerRowUsd: number | null;
  judgeCostUsd: number | null;
  p50: Est | null;
  p95: Est | null;
  promptTokens: number;
  completionTokens: number;
  /** Against the baseline (null for the baseline itself). */
  comparison: ComparisonFigures | null;
  /** From the finished experiment's summary (else running figures). */
  final: boolean;
}

const Z = 1.959964;

/** Wilson's 95 % interval for a share `p` of `n`. */
export function wilson(p: number, n: number): Est {
  if (n <= 0) return { mean: 0, low: null, high: null, n: 0 };
  const z2 = Z * Z;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (Z * Math.sqrt(Math.max(0, (p * (1 - p)) / n + z2 / (4 * n * n)))) / denom;
  return { mean: p, low: Math.max(0, center - half), high: Math.min(1, center + half), n };
}

/** The `q` quantile of sorted values, interpolating (the engine's rule). */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  if (sorted.length === 1) return sorted[0];
  const pos = Math.min(1, Math.max(0, q)) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** The finding the engine states from a difference's interval. */
export function findingOf(d: Est): Finding {
  if (d.n < 2 || d.low === null || d.high === null || (d.low <= 0 && d.high >= 0)) return "no_significant_difference";
  return d.low > 0 ? "better" : "worse";
}

function est(e: { mean: number; low: number; high: number; n: number } | null | undefined): Est | null {
  return e && e.n > 0 ? { mean: e.mean, low: e.low, high: e.high, n: e.n } : null;
}

function liveFigures(s: ExperimentState): ColumnFigures[] {
  return s.columns.map((label, c) => {
    const a = s.agg[c];
    const ok = a.finished - a.errors;
    let comparison: ComparisonFigures | null = null;
    if (c !== s.baseline) {
      const p = s.pairs[c];
      let difference: Est | null = null;
      if (p.n > 0) {
        const mean = p.sum / p.n;
        if (p.n >= 2) {
          const variance = Math.max(0, (p.sumSq - p.n * mean * mean) / (p.n - 1));
          const half = (Z * Math.sqrt(variance)) / Math.sqrt(p.n);
          difference = { mean, low: mean - half, high: mean + half, n: p.n };
        } else difference = { mean, low: null, high: null, n: p.n };
      }
      comparison = {
        wins: p.wins,
        ties: p.ties,
        losses: p.losses,
        difference,
        finding: difference ? findingOf(difference) : "no_significant_difference",
      };
    }
    return {
      label,
      passRate: a.rowScoreN ? wilson(a.rowScoreSum / a.rowScoreN, a.rowScoreN) : null,
      assertions: s.assertions.map((l, i) => {
        const x = a.assertions[i];
        return {
          label: l,
          passRate: x && x.checked ? wilson(x.passed / x.checked, x.checked) : null,
          meanScore: x && x.graded && x.scoreN ? { mean: x.scoreSum / x.scoreN, low: null, high: null, n: x.scoreN } : null,
          errors: x?.errors ?? 0,
        };
      }),
      errors: a.errors,
      costUsd: ok > 0 && a.costUnknown === 0 ? a.costSum : null,
      costPerRowUsd: ok > 0 && a.costUnknown === 0 ? a.costSum / ok : null,
      judgeCostUsd: a.judgeCostN ? a.judgeCost : null,
      p50: a.latencies.length ? { mean: quantileSorted(a.latencies, 0.5), low: null, high: null, n: a.latencies.length } : null,
      p95: a.latencies.length ? { mean: quantileSorted(a.latencies, 0.95), low: null, high: null, n: a.latencies.length } : null,
      promptTokens: a.promptTokens,
      completionTokens: a.completionTokens,
      comparison,
      final: false,
    };
  });
}

function summaryFigures(e: Experiment): ColumnFigures[] {
  const byColumn = new Map(e.summary.comparisons.map((c) => [c.column, c] as const));
  return e.summary.columns.map((c, i) => {
    const cmp = byColumn.get(i);
    return {
      label: c.label,
      passRate: est(c.pass_rate),
      assertions: c.assertions.map((a) => ({ label: a.label, passRate: est(a.pass_rate), meanScore: est(a.mean_score), errors: a.errors })),
      errors: c.errors,
      costUsd: c.cost_usd,
      costPerRowUsd: c.cost_per_row_usd ? c.cost_per_row_usd.mean : null,
      judgeCostUsd: c.judge_cost_usd,
      p50: est(c.latency_p50_ms),
      p95: est(c.latency_p95_ms),
      promptTokens: c.prompt_tokens,
      completionTokens: c.completion_tokens,
      comparison: cmp ? { wins: cmp.wins, ties: cmp.ties, losses: cmp.losses, difference: est(cmp.difference), finding: cmp.finding } : null,
      final: true,
    };
  });
}

/** Per column: pass rates, cost, latency and the comparison with the baseline. */
export function columnFigures(s: ExperimentState): ColumnFigures[] {
  return s.experiment ? summaryFigures(s.experiment) : liveFigures(s);
}

// ---------------------------------------------------------------------------------------------
// Rows: filters, outcomes against the baseline, the next failing row.

export interface RowFilters {
  failing: boolean;
  flaky: boolean;
  disagree: boolean;
}

export const noFilters: RowFilters = { failing: false, flaky: false, disagree: false };

/** The rows to show: all, or those matching every filter that is on. */
export function filterRows(info: readonly RowInfo[], f: RowFilters): number[] {
  const out: number[] = [];
  for (let r = 0; r < info.length; r++) {
    const i = info[r];
    if (f.failing && !i.failing) continue;
    if (f.flaky && !i.flaky) continue;
    if (f.disagree && !i.disagree) continue;
    out.push(r);
  }
  return out;
}

/** A column against the baseline on one row: "win", "tie", "loss", or null (not both checked). */
export function rowOutcome(info: RowInfo | undefined, column: number, baseline: number): "win" | "tie" | "loss" | null {
  if (!info || column === baseline) return null;
  const a = info.scores[baseline];
  const b = info.scores[column];
  if (a === null || a === undefined || b === null || b === undefined) return null;
  const d = b - a;
  return d > 1e-9 ? "win" : d < -1e-9 ? "loss" : "tie";
}

/** The position (in `shown`) of the next failing row after position `after`, wrapping; -1 if none. */
export function nextFailing(info: readonly RowInfo[], shown: readonly number[], after: number): number {
  const n = shown.length;
  for (let k = 1; k <= n; k++) {
    const pos = (((after + k) % n) + n) % n;
    if (info[shown[pos]]?.failing) return pos;
  }
  return -1;
}
