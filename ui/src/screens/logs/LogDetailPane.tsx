import { useEffect, useState } from "react";
import { CopyButton, ErrorText } from "../../components/ui";
import { api, errorMessage, type LogFull } from "../../lib/api";
import { formatCost, formatLatency, formatTime, formatTokens, qualifiedModel } from "../../lib/format";
import { tagsOf } from "../../lib/logFilter";

interface Props {
  id: string | null;
  promptName: (id: string) => string | undefined;
  onClose: () => void;
}

/** Everything logged about one call: request and response bodies, attempts, feedback. */
export function LogDetailPane({ id, promptName, onClose }: Props) {
  // What was fetched, for which call: a result for another call is not shown.
  const [fetched, setFetched] = useState<{ id: string; detail: LogFull | null; error: string | null } | null>(null);
  useEffect(() => {
    if (!id) return;
    let live = true;
    api.getLog(id).then(
      (detail) => live && setFetched({ id, detail, error: null }),
      (e: unknown) => live && setFetched({ id, detail: null, error: errorMessage(e) }),
    );
    return () => {
      live = false;
    };
  }, [id]);
  const detail = fetched?.id === id ? fetched.detail : null;
  const error = fetched?.id === id ? fetched.error : null;

  if (!id) {
    return (
      <aside className="log-detail empty-detail" data-testid="log-detail">
        <div className="muted">Select a call to see its request, response and attempts.</div>
      </aside>
    );
  }
  const c = detail?.call;
  return (
    <aside className="log-detail" data-testid="log-detail" aria-label="Call detail">
      <div className="row gap detail-head">
        <h2 className="grow">Call</h2>
        <button type="button" className="btn btn-small btn-ghost" onClick={onClose} aria-label="Close detail">
          ✕
        </button>
      </div>
      <ErrorText error={error} />
      {c && detail && (
        <>
          <dl className="kv">
            <dt>Time</dt>
            <dd>{formatTime(c.created_at)}</dd>
            <dt>Trace</dt>
            <dd className="mono">
              {c.trace_id} <CopyButton text={c.trace_id} />
            </dd>
            <dt>Source</dt>
            <dd>{c.source}</dd>
            <dt>Prompt</dt>
            <dd className="mono">
              {c.prompt_id ? `${promptName(c.prompt_id) ?? c.prompt_id}${c.prompt_version !== null ? `@${c.prompt_version}` : ""}` : "—"}
            </dd>
            <dt>Model</dt>
            <dd className="mono">
              {c.model || c.provider ? qualifiedModel(c.provider, c.model) : "—"}
              {c.key_name ? ` · key ${c.key_name}` : ""}
            </dd>
            <dt>Status</dt>
            <dd className={c.success ? "tone-ok" : "tone-error"}>
              {c.status} {c.success ? "ok" : (c.error ?? "failed")}
            </dd>
            <dt>Latency</dt>
            <dd>
              {formatLatency(c.latency_ms)} (ttft {formatLatency(c.ttft_ms)})
            </dd>
            <dt>Tokens</dt>
            <dd>
              {formatTokens(c.prompt_tokens)} in · {formatTokens(c.completion_tokens)} out
            </dd>
            <dt>Cost</dt>
            <dd>{c.cost_usd === null && !c.success && c.completion_tokens === null ? "— (no answer, nothing to price)" : formatCost(c.cost_usd)}</dd>
            <dt>Cache</dt>
            <dd>{c.cache_status}</dd>
            {c.target_path && (
              <>
                <dt>Target</dt>
                <dd className="mono">{c.target_path}</dd>
              </>
            )}
            <dt>Tags</dt>
            <dd>{tagsOf(c).join(", ") || "—"}</dd>
            <dt>Feedback</dt>
            <dd>{detail.feedback.length ? detail.feedback.map((v) => (v > 0 ? `+${v} (up)` : v < 0 ? `${v} (down)` : "0")).join(", ") : "none"}</dd>
          </dl>
          <h3>Attempts</h3>
          {detail.attempts.length === 0 ? (
            <div className="muted small">One attempt, no retries or fallbacks.</div>
          ) : (
            <ol className="attempts">
              {detail.attempts.map((a) => (
                <li key={a.n} className={a.error ? "tone-error" : ""}>
                  <span className="mono">#{a.n + 1}</span> target <span className="mono">{a.target_path}</span> ·{" "}
                  {qualifiedModel(a.provider, a.model)} · {a.status} ·{" "}
                  {formatLatency(a.latency_ms)}
                  {a.error && <div className="small">{a.error}</div>}
                </li>
              ))}
            </ol>
          )}
          <h3>Request</h3>
          <pre className="json" data-testid="log-request">
            {detail.request ?? "(not logged)"}
          </pre>
          <h3>Response</h3>
          <pre className="json" data-testid="log-response">
            {detail.response ?? "(not logged)"}
          </pre>
        </>
      )}
      {!detail && !error && <div className="muted">Loading…</div>}
    </aside>
  );
}
