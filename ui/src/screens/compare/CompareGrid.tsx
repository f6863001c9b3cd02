import { memo, useMemo, useRef } from "react";
import type { ColumnTotalDto } from "../../bindings/ColumnTotalDto";
import { ThumbIcon } from "../../components/ui";
import { useVirtualRows } from "../../hooks/useVirtualRows";
import type { CellState, CompareState } from "../../lib/compareState";
import { formatCost, formatLatency, formatTokens } from "../../lib/format";
import { diffableText } from "../../lib/tools";
import { wordDiff } from "../../lib/wordDiff";
import { CellBody } from "./CellBody";

const ROW_HEIGHT = 232;
const HEADER_HEIGHT = 64;

interface Props {
  state: CompareState;
  rows: Record<string, unknown>[];
  totals: ColumnTotalDto[];
  diffMode: boolean;
  baseline: number;
  feedback: Readonly<Record<string, number>>;
  onFeedback: (traceId: string, value: number) => void;
}

/** Models as columns, variable sets as rows; only the rows in view are rendered. */
export function CompareGrid({ state, rows, totals, diffMode, baseline, feedback, onFeedback }: Props) {
  const scroller = useRef<HTMLDivElement>(null);
  const count = state.cells.length;
  const win = useVirtualRows(scroller, count, ROW_HEIGHT, 2, HEADER_HEIGHT);
  const cols = state.models.length;
  const template = `150px repeat(${cols}, minmax(250px, 1fr))`;
  const minWidth = 150 + cols * 250;

  const visible = [];
  for (let r = win.start; r < win.end; r++) {
    const rowCells = state.cells[r];
    if (!rowCells) continue;
    const baseCell = rowCells[baseline];
    const baseText = diffMode ? diffableText(baseCell?.result, baseCell?.text ?? "") : "";
    visible.push(
      <div key={r} className="grid-row" style={{ gridTemplateColumns: template, height: ROW_HEIGHT, minWidth }} role="row">
        <RowHeader index={r} vars={rows[r]} />
        {rowCells.map((c, col) => (
          <Cell
            key={col}
            row={r}
            col={col}
            cell={c}
            baseText={diffMode && col !== baseline ? baseText : null}
            isBaseline={diffMode && col === baseline}
            vote={c.result?.trace_id ? feedback[c.result.trace_id] : undefined}
            onFeedback={onFeedback}
          />
        ))}
      </div>,
    );
  }

  return (
    <div className="grid-scroller" ref={scroller} data-testid="compare-grid" role="table" aria-label="Comparison results" aria-rowcount={count}>
      <div className="grid-head" style={{ gridTemplateColumns: template, height: HEADER_HEIGHT, minWidth }} role="row">
        <div className="grid-corner muted small">
          {count} row{count === 1 ? "" : "s"} × {cols}
        </div>
        {state.models.map((m, i) => (
          <ColumnHeader key={i} index={i} model={m} total={totals[i]} baseline={diffMode && i === baseline} />
        ))}
      </div>
      <div style={{ height: win.padTop }} aria-hidden="true" />
      {visible}
      <div style={{ height: win.padBottom }} aria-hidden="true" />
    </div>
  );
}

function ColumnHeader({ index, model, total, baseline }: { index: number; model: string; total: ColumnTotalDto | undefined; baseline: boolean }) {
  return (
    <div className="col-head" data-testid={`column-${index}`} role="columnheader">
      <div className="col-model mono" title={model}>
        {model}
        {model.startsWith("demo/") && <span className="tag">demo</span>}
        {baseline && <span className="tag tag-accent">baseline</span>}
      </div>
      {total && (
        <div className="col-totals small">
          <span title="Total cost">{formatCost(total.cost_usd)}</span>
          <span title="Mean latency">{formatLatency(total.cells ? total.mean_latency_ms : null)} avg</span>
          <span title="Tokens in / out">
            {formatTokens(total.prompt_tokens)}→{formatTokens(total.completion_tokens)} tok
          </span>
          <span title="Cells finished">
            {total.cells} done{total.errors ? `, ${total.errors} err` : ""}
          </span>
        </div>
      )}
    </div>
  );
}

function RowHeader({ index, vars }: { index: number; vars: Record<string, unknown> | undefined }) {
  const text = vars
    ? Object.entries(vars)
        .map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`)
        .join("\n")
    : "";
  return (
    <div className="row-head" role="rowheader">
      <div className="row-num">Row {index + 1}</div>
      <pre className="row-vars" title={text}>
        {text || "(no variables)"}
      </pre>
    </div>
  );
}

interface CellProps {
  row: number;
  col: number;
  cell: CellState;
  baseText: string | null;
  isBaseline: boolean;
  vote: number | undefined;
  onFeedback: (traceId: string, value: number) => void;
}

const Cell = memo(function Cell({ row, col, cell, baseText, isBaseline, vote, onFeedback }: CellProps) {
  const id = `${row}-${col}`;
  const r = cell.result;
  const trace = r?.trace_id ?? null;
  const status =
    cell.status === "pending"
      ? cell.throttled > 0
        ? "rate-limited, waiting"
        : "queued"
      : cell.status === "running"
        ? "streaming"
        : cell.status;
  const done = cell.status === "done" || cell.status === "error";
  const diffParts = useMemo(
    () => (baseText !== null && done ? wordDiff(baseText, diffableText(r, cell.text)) : null),
    [baseText, r, cell.text, done],
  );
  return (
    <div className={`cell cell-${cell.status}`} data-testid={`cell-${id}`} role="cell">
      <div className="cell-meta small">
        <span className={`status status-${cell.status}`} data-testid={`cell-status-${id}`}>
          {status}
        </span>
        {r && (
          <>
            <span title="Latency">{formatLatency(r.latency_ms)}</span>
            <span title="Time to first token">ttft {formatLatency(r.ttft_ms)}</span>
            <span title="Tokens in / out">
              {formatTokens(r.prompt_tokens)}→{formatTokens(r.completion_tokens)}
            </span>
            {r.cache_status && <span className={`cache cache-${r.cache_status.toLowerCase()}`}>{r.cache_status.toLowerCase()}</span>}
          </>
        )}
        <span className="cell-cost" data-testid={`cell-cost-${id}`}>
          {r ? formatCost(r.cost_usd) : ""}
        </span>
      </div>
      <CellBody id={id} text={cell.text} running={cell.status === "running"} diffParts={diffParts} result={r} />
      {r?.error && <div className="cell-error small">{r.error}</div>}
      <div className="cell-foot">
        {isBaseline && <span className="muted small">baseline</span>}
        {trace && (
          <span className="thumbs">
            <button
              type="button"
              className={`btn btn-icon ${vote === 1 ? "on" : ""}`}
              aria-label="Thumbs up"
              aria-pressed={vote === 1}
              onClick={() => onFeedback(trace, 1)}
            >
              <ThumbIcon />
            </button>
            <button
              type="button"
              className={`btn btn-icon ${vote === -1 ? "on" : ""}`}
              aria-label="Thumbs down"
              aria-pressed={vote === -1}
              onClick={() => onFeedback(trace, -1)}
            >
              <ThumbIcon down />
            </button>
          </span>
        )}
      </div>
    </div>
  );
});
