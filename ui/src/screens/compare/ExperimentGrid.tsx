import { memo, useEffect, useMemo, useRef, useState } from "react";
import type { Row } from "../../bindings/Row";
import type { Verdict } from "../../bindings/Verdict";
import { useVirtualRows } from "../../hooks/useVirtualRows";
import { BADGE_SYMBOL, badgeKind, findingText, formatDifference, formatScore, formatShare, shownScore, type BadgeKind } from "../../lib/estimateFormat";
import { cellPassed, rowOutcome, type ColumnFigures, type Est, type ExpCell, type ExperimentState, type RowInfo } from "../../lib/experimentState";
import { formatCost, formatLatency, formatTokens } from "../../lib/format";
import { scrollToRow } from "../../lib/windowing";
import { diffableText } from "../../lib/tools";
import { wordDiff } from "../../lib/wordDiff";
import { CellBody } from "./CellBody";

export const EXP_ROW_HEIGHT = 236;

/** The header's height: the column label, the all-checks bar, one bar per evaluator, figures. */
export function headerHeight(assertions: number): number {
  return 136 + 20 * assertions;
}

export interface CellRef {
  row: number;
  column: number;
  repeat: number;
}

interface Props {
  state: ExperimentState;
  figures: ColumnFigures[];
  /** Rows to show (after filters), in order. */
  shown: readonly number[];
  /** The row "n" jumped to. */
  marked: number | null;
  diffMode: boolean;
  selected: CellRef | null;
  onOpen: (cell: CellRef) => void;
}

/**
 * Columns (prompt version × model) by dataset rows, each cell with a badge per check; headers
 * carry each column's pass rates with their intervals, cost, latency and the comparison with the
 * baseline. Only the rows in view are rendered.
 */
export function ExperimentGrid({ state, figures, shown, marked, diffMode, selected, onOpen }: Props) {
  const scroller = useRef<HTMLDivElement>(null);
  const cols = state.columns.length;
  const head = headerHeight(state.assertions.length);
  const win = useVirtualRows(scroller, shown.length, EXP_ROW_HEIGHT, 2, head);
  const template = `170px repeat(${cols}, minmax(260px, 1fr))`;
  const minWidth = 170 + cols * 260;

  // "n" marks a row: bring it into view (the header is sticky, so rows start below it).
  const markedPos = marked === null ? -1 : shown.indexOf(marked);
  useEffect(() => {
    const el = scroller.current;
    if (!el || markedPos < 0) return;
    const top = scrollToRow(markedPos, el.scrollTop, Math.max(EXP_ROW_HEIGHT, el.clientHeight - head), EXP_ROW_HEIGHT);
    if (top !== el.scrollTop) el.scrollTop = top;
  }, [markedPos, head]);

  const visible = [];
  for (let p = win.start; p < win.end; p++) {
    const r = shown[p];
    const rowCells = state.cells[r];
    if (!rowCells) continue;
    const info = state.rowInfo[r];
    visible.push(
      <div
        key={r}
        className={`grid-row exp-row${r === marked ? " marked" : ""}`}
        style={{ gridTemplateColumns: template, height: EXP_ROW_HEIGHT, minWidth }}
        role="row"
        aria-current={r === marked ? "true" : undefined}
        data-testid={`exp-row-${r}`}
      >
        <ExpRowHeader index={r} row={state.rows[r]} info={info} />
        {state.columns.map((_, c) => (
          <ExpCellView
            key={c}
            row={r}
            col={c}
            rowCells={rowCells}
            repeats={state.repeats}
            baseline={state.baseline}
            info={info}
            scored={state.scored}
            diffMode={diffMode}
            selected={selected !== null && selected.row === r && selected.column === c}
            onOpen={onOpen}
          />
        ))}
      </div>,
    );
  }

  return (
    <div
      className="grid-scroller"
      ref={scroller}
      data-testid="compare-grid"
      role="table"
      aria-label="Experiment results"
      aria-rowcount={shown.length}
    >
      <div className="grid-head exp-head" style={{ gridTemplateColumns: template, height: head, minWidth }} role="row">
        <div className="grid-corner muted small">
          {shown.length === state.rows.length ? `${state.rows.length} rows` : `${shown.length} of ${state.rows.length} rows`} × {cols}
          {state.repeats > 1 ? ` × ${state.repeats} repeats` : ""}
        </div>
        {figures.map((f, i) => (
          <ExpColumnHeader key={i} index={i} figures={f} baseline={i === state.baseline} assertions={state.assertions} />
        ))}
      </div>
      <div style={{ height: win.padTop }} aria-hidden="true" />
      {visible}
      <div style={{ height: win.padBottom }} aria-hidden="true" />
      {shown.length === 0 && state.rows.length > 0 && <div className="muted small pad">No row matches the filters.</div>}
    </div>
  );
}

/** A pass rate as a bar with its interval, and the figure as text. */
export function PassBar({ label, est, score, errors, testId }: { label: string; est: Est | null; score?: Est | null; errors?: number; testId: string }) {
  const mean = est ? Math.max(0, Math.min(1, est.mean)) : 0;
  const low = est?.low ?? null;
  const high = est?.high ?? null;
  return (
    <div className="pass-bar" title={`${label}: ${formatShare(est)}${est ? ` of ${est.n}` : ""}`}>
      <span className="pass-label ellipsis">{label}</span>
      <span className="pass-track" aria-hidden="true">
        <span className="pass-fill" style={{ width: `${mean * 100}%` }} />
        {low !== null && high !== null && <span className="pass-ci" style={{ left: `${low * 100}%`, width: `${Math.max(0.5, (high - low) * 100)}%` }} />}
      </span>
      <span className="pass-text" data-testid={testId}>
        {formatShare(est)}
      </span>
      {score && <span className="pass-score muted">mean {formatScore(score)}</span>}
      {errors ? <span className="tone-error"> {errors} err</span> : null}
    </div>
  );
}

function ExpColumnHeader({ index, figures: f, baseline, assertions }: { index: number; figures: ColumnFigures; baseline: boolean; assertions: string[] }) {
  const c = f.comparison;
  return (
    <div className="col-head exp-col-head" data-testid={`column-${index}`} role="columnheader">
      <div className="col-model mono" title={f.label}>
        <span className="col-num">{index + 1}</span> {f.label}
        {baseline && <span className="tag tag-accent">baseline</span>}
      </div>
      <PassBar label="all checks" est={f.passRate} testId={`column-pass-${index}`} />
      {assertions.map((label, i) => {
        const a = f.assertions[i];
        return <PassBar key={i} label={a?.label ?? label} est={a?.passRate ?? null} score={a?.meanScore} errors={a?.errors} testId={`column-pass-${index}-${i}`} />;
      })}
      <div className="col-totals small">
        <span title="What the outputs cost">{formatCost(f.costUsd)}</span>
        {f.judgeCostUsd !== null && <span title="What judging cost">judging {formatCost(f.judgeCostUsd)}</span>}
        <span title="Latency p50 (median) and p95">
          p50 {formatLatency(f.p50?.mean)} · p95 {formatLatency(f.p95?.mean)}
        </span>
        <span title="Tokens in / out">
          {formatTokens(f.promptTokens)}→{formatTokens(f.completionTokens)} tok
        </span>
        {f.errors > 0 && <span className="tone-error">{f.errors} failed calls</span>}
      </div>
      {c ? (
        <div className={`finding finding-${c.finding}`} data-testid={`comparison-${index}`} title="Against the baseline: mean difference of the rows' pass shares, with its 95% interval">
          {f.final ? "" : "so far: "}
          <strong>{findingText(c.finding)}</strong> · {formatDifference(c.difference)} · {c.wins}W {c.ties}T {c.losses}L
        </div>
      ) : (
        <div className="finding muted small">{baseline ? "the baseline the others are compared with" : ""}</div>
      )}
    </div>
  );
}

function ExpRowHeader({ index, row, info }: { index: number; row: Row | undefined; info: RowInfo | undefined }) {
  const text = row
    ? Object.entries(row.vars)
        .map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`)
        .join("\n")
    : "";
  const expected = row?.expected;
  return (
    <div className="row-head" role="rowheader">
      <div className="row-num">
        Row {index + 1}
        {info?.failing && <span className="tag tag-fail">failing</span>}
        {info?.flaky && <span className="tag tag-warn" data-testid={`row-flaky-${index}`}>flaky</span>}
        {info?.disagree && <span className="tag">disagree</span>}
      </div>
      {row?.description && <div className="small ellipsis">{row.description}</div>}
      <pre className="row-vars" title={text}>
        {text || "(no variables)"}
        {expected !== undefined && expected !== null ? `\nexpected: ${typeof expected === "string" ? expected : JSON.stringify(expected)}` : ""}
      </pre>
    </div>
  );
}

interface CellProps {
  row: number;
  col: number;
  rowCells: readonly ExpCell[];
  repeats: number;
  baseline: number;
  info: RowInfo | undefined;
  scored: readonly boolean[];
  diffMode: boolean;
  selected: boolean;
  onOpen: (cell: CellRef) => void;
}

/** One verdict's badge, over the repeats of a cell. */
function badgeOf(verdicts: (Verdict | undefined)[], scored: boolean): { kind: BadgeKind | "mixed"; text: string } {
  const present = verdicts.filter((v): v is Verdict => v !== undefined);
  if (present.length === 0) return { kind: "pending", text: BADGE_SYMBOL.pending };
  const kinds = present.map(badgeKind);
  const scores = present.map((v) => shownScore(v, scored)).filter((s): s is string => s !== null);
  if (kinds.every((k) => k === kinds[0])) {
    const sym = BADGE_SYMBOL[kinds[0]];
    if (scores.length === 0) return { kind: kinds[0], text: sym };
    if (present.length === 1) return { kind: kinds[0], text: `${sym} ${scores[0]}` };
    const mean = present.reduce((a, v) => a + (v.score ?? 0), 0) / present.length;
    return { kind: kinds[0], text: `${sym} ${mean.toFixed(2)}` };
  }
  const passed = kinds.filter((k) => k === "pass").length;
  return { kind: "mixed", text: `${passed}/${present.length}` };
}

const OUTCOME_TEXT = { win: "▲ win", tie: "= tie", loss: "▼ loss" } as const;

const ExpCellView = memo(function ExpCellView({ row, col, rowCells, repeats, baseline, info, scored, diffMode, selected, onOpen }: CellProps) {
  const [repeat, setRepeat] = useState(0);
  const rep = Math.min(repeat, repeats - 1);
  const cell = rowCells[col * repeats + rep];
  const id = `${row}-${col}`;
  const r = cell.result;
  const done = cell.status === "done" || cell.status === "error";
  const status =
    cell.status === "pending"
      ? cell.throttled > 0
        ? "rate-limited, waiting"
        : "queued"
      : cell.status === "running"
        ? "streaming"
        : done && !cell.evaluated
          ? "checking"
          : cell.status;
  const baseCell = diffMode && col !== baseline ? rowCells[baseline * repeats + rep] : null;
  const baseText = baseCell && (baseCell.status === "done" || baseCell.status === "error") ? diffableText(baseCell.result, baseCell.text) : null;
  const diffParts = useMemo(
    () => (baseText !== null && done ? wordDiff(baseText, diffableText(r, cell.text)) : null),
    [baseText, r, cell.text, done],
  );

  // Badges: one per verdict, over the repeats.
  const repeatsCells = [];
  for (let k = 0; k < repeats; k++) repeatsCells.push(rowCells[col * repeats + k]);
  const evaluated = repeatsCells.filter((c) => c.evaluated && c.result);
  const nVerdicts = evaluated.reduce((m, c) => Math.max(m, c.result?.verdicts.length ?? 0), 0);
  const badges = [];
  for (let i = 0; i < nVerdicts; i++) {
    const b = badgeOf(
      evaluated.map((c) => c.result?.verdicts[i]),
      scored[i] ?? false,
    );
    const reasons = evaluated
      .map((c) => c.result?.verdicts[i])
      .filter((v): v is Verdict => v !== undefined)
      .map((v, k) => `${repeats > 1 ? `#${k + 1}: ` : ""}${v.error ?? v.reason}`)
      .join("\n");
    badges.push(
      <span key={i} className={`badge badge-${b.kind}`} data-testid={`badge-${id}-${i}`} title={reasons}>
        {b.text}
      </span>,
    );
  }
  const outcome = rowOutcome(info, col, baseline);
  const open = () => onOpen({ row, column: col, repeat: rep });
  return (
    <div
      className={`cell exp-cell cell-${cell.status}${selected ? " selected" : ""}`}
      data-testid={`cell-${id}`}
      role="cell"
      tabIndex={0}
      onClick={open}
      onKeyDown={(e) => {
        if (e.key === "Enter" && e.target === e.currentTarget) open();
      }}
    >
      <div className="cell-meta small">
        <span className={`status status-${cell.status}`} data-testid={`cell-status-${id}`}>
          {status}
        </span>
        {r && (
          <>
            <span title="Latency">{formatLatency(r.latency_ms)}</span>
            <span title="Tokens in / out">
              {formatTokens(r.usage?.prompt_tokens)}→{formatTokens(r.usage?.completion_tokens)}
            </span>
          </>
        )}
        <span className="cell-cost" data-testid={`cell-cost-${id}`}>
          {r ? formatCost(r.cost_usd) : ""}
        </span>
      </div>
      {(badges.length > 0 || repeats > 1) && (
        <div className="badges">
          {badges}
          {repeats > 1 && (
            <span className="repeat-tabs" role="tablist" aria-label="Repeat shown">
              {repeatsCells.map((c, k) => {
                const mark = c.evaluated && c.result ? (cellPassed(c.result) ? "pass" : "fail") : "pending";
                return (
                  <button
                    key={k}
                    type="button"
                    role="tab"
                    aria-selected={k === rep}
                    className={`repeat-tab repeat-${mark}${k === rep ? " on" : ""}`}
                    data-testid={`repeat-${id}-${k}`}
                    title={`Repeat ${k + 1}: ${mark === "pending" ? "not checked yet" : mark === "pass" ? "passes every check" : "fails a check"}`}
                    onClick={(e) => {
                      e.stopPropagation();
                      setRepeat(k);
                    }}
                  >
                    {k + 1}
                  </button>
                );
              })}
            </span>
          )}
        </div>
      )}
      <CellBody id={id} text={cell.text} running={cell.status === "running"} diffParts={diffParts} result={r} />
      {r?.error && <div className="cell-error small">{r.error}</div>}
      <div className="cell-foot">
        {col === baseline ? (
          <span className="muted small">baseline</span>
        ) : (
          outcome && (
            <span className={`outcome outcome-${outcome}`} data-testid={`row-outcome-${id}`} title="This row against the baseline column">
              {OUTCOME_TEXT[outcome]}
            </span>
          )
        )}
      </div>
    </div>
  );
});
