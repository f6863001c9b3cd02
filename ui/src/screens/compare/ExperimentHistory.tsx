import { useEffect, useState } from "react";
import type { Experiment } from "../../bindings/Experiment";
import type { ExperimentSummary } from "../../bindings/ExperimentSummary";
import type { RowChange } from "../../bindings/RowChange";
import { ErrorText } from "../../components/ui";
import { api, errorMessage } from "../../lib/api";
import { formatTime } from "../../lib/format";

interface Props {
  /** Changes when an experiment was saved: the list is fetched again. */
  refreshKey: number;
  /** Opening is refused while a run goes on. */
  busy: boolean;
  onOpen: (experiment: Experiment) => void;
}

const pct = (x: number) => `${Math.round(x * 100)}%`;

/** Saved experiments: open one in the grid, or see which rows changed between two. */
export function ExperimentHistory({ refreshKey, busy, onOpen }: Props) {
  const [list, setList] = useState<ExperimentSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [a, setA] = useState("");
  const [b, setB] = useState("");
  const [diff, setDiff] = useState<{ a: string; b: string; rows: RowChange[] } | null>(null);
  const [opening, setOpening] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    api.listExperiments().then(
      (l) => {
        if (!live) return;
        setList(l);
        setError(null);
      },
      (e: unknown) => live && setError(errorMessage(e)),
    );
    return () => {
      live = false;
    };
  }, [refreshKey]);

  const items = list ?? [];
  // Until two are picked, the newest is "after" and the one before it "before".
  const before = a || items[1]?.id || "";
  const after = b || items[0]?.id || "";
  const name = (id: string) => {
    const e = items.find((x) => x.id === id);
    return e ? `${e.name} · ${formatTime(e.created_at_ms)}` : id;
  };

  const open = (id: string) => {
    setOpening(id);
    api.getExperiment(id).then(
      (e) => {
        setOpening(null);
        onOpen(e);
      },
      (e: unknown) => {
        setOpening(null);
        setError(errorMessage(e));
      },
    );
  };

  const compare = () => {
    if (!before || !after) return;
    setError(null);
    api.diffExperiments(before, after).then(
      (rows) => setDiff({ a: before, b: after, rows }),
      (e: unknown) => setError(errorMessage(e)),
    );
  };

  return (
    <section className="panel exp-history" data-testid="experiment-history" aria-label="Saved experiments">
      <header className="panel-head">
        <h2>Experiments</h2>
        <span className="muted small">{list ? `${items.length} saved` : "loading…"}</span>
      </header>
      <div className="panel-body">
        <ErrorText error={error} />
        {list && items.length === 0 && <div className="muted small">Experiments you run are saved here.</div>}
        <ul className="history-list">
          {items.map((e) => (
            <li key={e.id} className="history-item">
              <div className="row gap">
                <span className="grow ellipsis" title={e.name}>
                  <strong>{e.name}</strong>
                </span>
                <span className={`tag ${e.passed ? "tag-pass" : "tag-fail"}`}>{e.passed ? "gates hold" : "a gate failed"}</span>
                <button
                  type="button"
                  className="btn btn-small"
                  data-testid={`history-open-${e.id}`}
                  disabled={busy || opening !== null}
                  onClick={() => open(e.id)}
                >
                  {opening === e.id ? "Opening…" : "Open"}
                </button>
              </div>
              <div className="muted small">
                {formatTime(e.created_at_ms)} · {e.rows} rows{e.repeats > 1 ? ` × ${e.repeats}` : ""}
                {e.dataset ? ` · dataset ${e.dataset}` : ""}
              </div>
              <div className="history-cols small">
                {e.columns.map(([label, rate], i) => (
                  <span key={i} className="mono" title={label}>
                    {label}: <strong>{pct(rate)}</strong>
                  </span>
                ))}
              </div>
            </li>
          ))}
        </ul>
        {items.length >= 2 && (
          <div className="history-diff">
            <h3>What changed between two</h3>
            <label className="field">
              <span>Before</span>
              <select className="input select-small" data-testid="history-compare-a" value={before} onChange={(e) => setA(e.target.value)}>
                {items.map((e) => (
                  <option key={e.id} value={e.id}>
                    {name(e.id)}
                  </option>
                ))}
              </select>
            </label>
            <label className="field">
              <span>After</span>
              <select className="input select-small" data-testid="history-compare-b" value={after} onChange={(e) => setB(e.target.value)}>
                {items.map((e) => (
                  <option key={e.id} value={e.id}>
                    {name(e.id)}
                  </option>
                ))}
              </select>
            </label>
            <button type="button" className="btn btn-small" data-testid="history-diff" disabled={!before || !after || before === after} onClick={compare}>
              Compare rows
            </button>
            {diff && diff.a === before && diff.b === after && (
              <div className="history-diff-rows" data-testid="history-diff-result">
                {diff.rows.length === 0 ? (
                  <div className="muted small">No row changed outcome in the columns both share.</div>
                ) : (
                  <ol className="diff-rows">
                    {diff.rows.map((r, i) => {
                      const worse = r.after < r.before;
                      return (
                        <li key={i} className={worse ? "regression" : "improvement"} data-testid={`history-diff-row-${i}`}>
                          <strong>{worse ? "Regressed" : "Improved"}</strong> · row {r.row + 1} · <span className="mono">{r.column}</span>: {pct(r.before)} →{" "}
                          {pct(r.after)}
                          {r.failures.length > 0 && <div className="small">fails: {r.failures.join("; ")}</div>}
                        </li>
                      );
                    })}
                  </ol>
                )}
              </div>
            )}
          </div>
        )}
      </div>
    </section>
  );
}
