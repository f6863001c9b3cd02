import { useEffect, useMemo, useState } from "react";
import { CopyButton, ErrorText } from "../../components/ui";
import { api, errorMessage, type LogFull } from "../../lib/api";
import { BADGE_SYMBOL, badgeKind, shownScore } from "../../lib/estimateFormat";
import type { ExperimentState } from "../../lib/experimentState";
import { formatCost, formatLatency, formatTokens } from "../../lib/format";
import { wordDiff } from "../../lib/wordDiff";
import { ToolExchange } from "../../components/ToolExchange";
import type { CellRef } from "./ExperimentGrid";

interface Props {
  state: ExperimentState;
  at: CellRef;
  onRepeat: (repeat: number) => void;
  onClose: () => void;
}

/** One cell in full: its output, every check's verdict and reason, the difference from the
 * baseline's output, the call's figures and trace (with its log on request). */
export function CellDetail({ state, at, onRepeat, onClose }: Props) {
  const { row, column, repeat } = at;
  const cell = state.cells[row]?.[column * state.repeats + repeat];
  const base = column !== state.baseline ? state.cells[row]?.[state.baseline * state.repeats + repeat] : undefined;
  const r = cell?.result ?? null;
  const baseDone = base && (base.status === "done" || base.status === "error");
  const cellDone = cell && (cell.status === "done" || cell.status === "error");
  const diff = useMemo(() => (base && baseDone && cell && cellDone ? wordDiff(base.text, cell.text) : null), [base, baseDone, cell, cellDone]);
  const dataRow = state.rows[row];
  const nAssertions = state.assertions.length;
  const trace = r?.trace_id ?? null;

  const [log, setLog] = useState<{ trace: string; detail: LogFull | null; error: string | null } | null>(null);
  const [wantLog, setWantLog] = useState<string | null>(null);
  useEffect(() => {
    if (!wantLog) return;
    let live = true;
    api.getLog(wantLog).then(
      (detail) => live && setLog({ trace: wantLog, detail, error: null }),
      (e: unknown) => live && setLog({ trace: wantLog, detail: null, error: errorMessage(e) }),
    );
    return () => {
      live = false;
    };
  }, [wantLog]);
  const shownLog = log && log.trace === trace && wantLog === trace ? log : null;

  if (!cell) return null;
  const judgeCost = r ? r.verdicts.reduce((a, v) => a + (v.cost_usd ?? 0), 0) : 0;
  return (
    <aside className="cell-detail panel" data-testid="cell-detail" aria-label="Cell detail">
      <header className="panel-head">
        <h2 className="grow ellipsis" title={state.columns[column]}>
          Row {row + 1} · {state.columns[column]}
        </h2>
        <button type="button" className="btn btn-small btn-ghost" aria-label="Close cell detail" data-testid="cell-detail-close" onClick={onClose}>
          ✕
        </button>
      </header>
      <div className="panel-body cell-detail-body">
        {state.repeats > 1 && (
          <div className="segmented" role="radiogroup" aria-label="Repeat">
            {Array.from({ length: state.repeats }, (_, k) => (
              <button
                key={k}
                type="button"
                role="radio"
                aria-checked={k === repeat}
                className={k === repeat ? "on" : ""}
                data-testid={`cell-detail-repeat-${k}`}
                onClick={() => onRepeat(k)}
              >
                #{k + 1}
              </button>
            ))}
          </div>
        )}
        <h3>Checks</h3>
        {!r || !cell.evaluated ? (
          <div className="muted small">{cellDone ? "Being checked…" : "Not finished yet."}</div>
        ) : r.verdicts.length === 0 ? (
          <div className="muted small">No evaluators: the cell passes when its call succeeds.</div>
        ) : (
          <ol className="verdicts">
            {r.verdicts.map((v, i) => {
              const kind = badgeKind(v);
              const score = shownScore(v, state.scored[i] ?? false);
              return (
                <li key={i} className={`verdict verdict-${kind}`}>
                  <span className={`badge badge-${kind}`}>{BADGE_SYMBOL[kind]}</span>{" "}
                  <strong>{i < nAssertions ? state.assertions[i] : `the row's own check ${i - nAssertions + 1}`}</strong>
                  {score !== null && <span className="muted"> · score {score}</span>}
                  {typeof v.cost_usd === "number" && <span className="muted"> · judging {formatCost(v.cost_usd)}</span>}
                  <div className="verdict-reason small" data-testid={`verdict-reason-${i}`}>
                    {kind === "na" ? `Does not apply: ${v.reason}` : kind === "pending" ? "Judged once every column of the row is in." : (v.error ?? v.reason)}
                  </div>
                </li>
              );
            })}
          </ol>
        )}
        {r && ((r.steps?.length ?? 0) > 0 || (r.tool_calls?.length ?? 0) > 0) && (
          <>
            <h3>Tool calls</h3>
            <ToolExchange steps={r.steps} calls={r.tool_calls} />
          </>
        )}
        <h3>Output</h3>
        {r?.error && <div className="error-text">{r.error}</div>}
        <pre className="json detail-output" data-testid="cell-detail-output">
          {cell.text || (cellDone ? "(empty)" : "…")}
        </pre>
        {diff && (
          <>
            <h3>Against the baseline ({state.columns[state.baseline]})</h3>
            <pre className="json diff-words detail-output" data-testid="cell-detail-diff">
              {diff.map((p, i) => (
                <span key={i} className={p.tag === "equal" ? undefined : p.tag === "insert" ? "diff-insert" : "diff-delete"}>
                  {p.text}
                </span>
              ))}
            </pre>
          </>
        )}
        <h3>Call</h3>
        <dl className="kv">
          <dt>Latency</dt>
          <dd>
            {formatLatency(r?.latency_ms)} (ttft {formatLatency(r?.ttft_ms)})
          </dd>
          <dt>Tokens</dt>
          <dd>
            {formatTokens(r?.usage?.prompt_tokens)} in · {formatTokens(r?.usage?.completion_tokens)} out
          </dd>
          <dt>Cost</dt>
          <dd>
            {r ? formatCost(r.cost_usd) : "—"}
            {judgeCost > 0 ? ` + judging ${formatCost(judgeCost)}` : ""}
          </dd>
          {r?.cache_status && (
            <>
              <dt>Cache</dt>
              <dd>{r.cache_status}</dd>
            </>
          )}
          <dt>Trace</dt>
          <dd className="mono" data-testid="cell-detail-trace">
            {trace ?? "—"} {trace && <CopyButton text={trace} />}
          </dd>
        </dl>
        {trace && (
          <button type="button" className="btn btn-small" data-testid="cell-detail-log" onClick={() => setWantLog(trace)} disabled={wantLog === trace}>
            Show the logged call
          </button>
        )}
        {wantLog === trace && !shownLog && <div className="muted small">Loading the log…</div>}
        {shownLog && <ErrorText error={shownLog.error} />}
        {shownLog?.detail && (
          <>
            <h3>Request</h3>
            <pre className="json">{shownLog.detail.request ?? "(not logged)"}</pre>
            <h3>Response</h3>
            <pre className="json">{shownLog.detail.response ?? "(not logged)"}</pre>
          </>
        )}
        {dataRow && (
          <>
            <h3>Row {row + 1}</h3>
            <pre className="json">{JSON.stringify(dataRow.vars, null, 2)}</pre>
            {dataRow.expected !== undefined && dataRow.expected !== null && (
              <>
                <h3>Expected</h3>
                <pre className="json">{typeof dataRow.expected === "string" ? dataRow.expected : JSON.stringify(dataRow.expected, null, 2)}</pre>
              </>
            )}
          </>
        )}
      </div>
    </aside>
  );
}
