import type { CheckedCall } from "../bindings/CheckedCall";
import type { ToolStep } from "../bindings/ToolStep";
import { oneLineJson, prettyArguments } from "../lib/tools";

/**
 * One tool call: the function, its arguments (pretty-printed, or on one line when `compact`),
 * and what is wrong with them. `showId` adds the call's id (the prompt editor's preview, where
 * tool messages answer calls by id).
 */
export function ToolCallCard({
  call,
  compact = false,
  showId = false,
  testId = "tool-call",
}: {
  call: CheckedCall;
  compact?: boolean;
  showId?: boolean;
  testId?: string;
}) {
  return (
    <div className={`tool-call${call.problem ? " tool-call-invalid" : ""}`} data-testid={testId}>
      <div className="tool-head">
        <span className="tool-arrow" aria-hidden="true">
          →
        </span>
        <span className="mono tool-name">{call.name}</span>
        {showId && <span className="muted small">{call.id}</span>}
        {call.problem && (
          <span className="tool-flag" title={call.problem}>
            ✗ invalid arguments
          </span>
        )}
      </div>
      <pre className="tool-args">{compact ? oneLineJson(call.arguments) : prettyArguments(call.arguments)}</pre>
      {call.problem && <div className="tool-problem small">{call.problem}</div>}
    </div>
  );
}

/**
 * A cell's tool use as a readable exchange: each turn's calls (arguments pretty-printed and
 * flagged when they break the tool's schema) and the simulated results sent back, then the
 * calls the answer ended with. Renders nothing for a plain text answer. `compact` (grid cells)
 * puts each JSON value on one line, so the final answer stays in view.
 */
export function ToolExchange({ steps = [], calls = [], compact = false }: { steps?: ToolStep[]; calls?: CheckedCall[]; compact?: boolean }) {
  if (steps.length === 0 && calls.length === 0) return null;
  return (
    <div className="tool-exchange" data-testid="tool-exchange" aria-label="Tool calls">
      {steps.map((s, i) => (
        <div key={i} className="tool-step">
          {s.text && <div className="tool-text">{s.text}</div>}
          {s.calls.map((c, j) => (
            <ToolCallCard key={j} call={c} compact={compact} />
          ))}
          {s.results.map((r, j) => (
            <div key={j} className="tool-result" data-testid="tool-result">
              <div className="tool-head">
                <span className="tool-arrow" aria-hidden="true">
                  ←
                </span>
                <span className="mono tool-name">{r.name}</span>
                <span className="muted small">simulated result</span>
              </div>
              <pre className="tool-args">{compact ? oneLineJson(r.content) : prettyArguments(r.content)}</pre>
            </div>
          ))}
        </div>
      ))}
      {calls.map((c, j) => (
        <ToolCallCard key={`final-${j}`} call={c} compact={compact} />
      ))}
    </div>
  );
}
