import type { CheckedCall } from "../bindings/CheckedCall";
import type { ToolStep } from "../bindings/ToolStep";
import { prettyArguments } from "../lib/tools";

function Call({ call }: { call: CheckedCall }) {
  return (
    <div className={`tool-call${call.problem ? " tool-call-invalid" : ""}`} data-testid="tool-call">
      <div className="tool-head">
        <span className="tool-arrow" aria-hidden="true">
          →
        </span>
        <span className="mono tool-name">{call.name}</span>
        {call.problem && (
          <span className="tool-flag" title={call.problem}>
            ✗ invalid arguments
          </span>
        )}
      </div>
      <pre className="tool-args">{prettyArguments(call.arguments)}</pre>
      {call.problem && <div className="tool-problem small">{call.problem}</div>}
    </div>
  );
}

/**
 * A cell's tool use as a readable exchange: each turn's calls (arguments pretty-printed and
 * flagged when they break the tool's schema) and the simulated results sent back, then the
 * calls the answer ended with. Renders nothing for a plain text answer.
 */
export function ToolExchange({ steps = [], calls = [] }: { steps?: ToolStep[]; calls?: CheckedCall[] }) {
  if (steps.length === 0 && calls.length === 0) return null;
  return (
    <div className="tool-exchange" data-testid="tool-exchange" aria-label="Tool calls">
      {steps.map((s, i) => (
        <div key={i} className="tool-step">
          {s.text && <div className="tool-text">{s.text}</div>}
          {s.calls.map((c, j) => (
            <Call key={j} call={c} />
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
              <pre className="tool-args">{prettyArguments(r.content)}</pre>
            </div>
          ))}
        </div>
      ))}
      {calls.map((c, j) => (
        <Call key={`final-${j}`} call={c} />
      ))}
    </div>
  );
}
