import type { PreviewDto } from "../../bindings/PreviewDto";
import { Kbd, Section, modKey } from "../../components/ui";
import { prettyArguments } from "../../lib/tools";

interface Props {
  preview: PreviewDto | null;
  error: { kind: string; message: string } | null;
}

const ERROR_TITLES: Record<string, string> = {
  template_syntax: "Template syntax error",
  missing_variables: "Missing variables",
  invalid_params: "Invalid parameters",
  unknown_partial: "Unknown partial",
  invalid_schema: "Invalid tool or schema",
  invalid_tool_use: "Tool calls do not fit together",
  invalid_image: "Image cannot be sent",
};

/** The draft rendered with the form's variables, or why it cannot be. */
export function PreviewPane({ preview, error }: Props) {
  return (
    <Section
      title="Preview"
      bodyTestId="preview"
      aside={
        <span className="muted small">
          live · <Kbd>{modKey}+Enter</Kbd> refresh
        </span>
      }
    >
      {error && (
        <div className={`preview-error kind-${error.kind}`} role="alert">
          <strong>{ERROR_TITLES[error.kind] ?? "Cannot render"}</strong>
          <div>{error.message}</div>
          {error.kind === "missing_variables" && <div className="muted small">Fill them in above, or declare a default.</div>}
        </div>
      )}
      {!preview && !error && <div className="muted">Rendering…</div>}
      {preview && (
        <div className={`preview-messages ${error ? "stale" : ""}`}>
          {preview.messages.map((m, i) => (
            <div key={i} className={`preview-message role-${m.role}`}>
              <div className="preview-role">
                {m.role}
                {m.tool_call_id ? ` · answers ${m.tool_call_id}` : ""}
              </div>
              {m.content && <pre className="preview-text">{m.content}</pre>}
              {m.tool_calls.map((c) => (
                <div key={c.id} className="tool-call" data-testid="preview-tool-call">
                  <div className="tool-head">
                    <span className="tool-arrow" aria-hidden="true">
                      →
                    </span>
                    <span className="mono tool-name">{c.name}</span>
                    <span className="muted small">{c.id}</span>
                  </div>
                  <pre className="tool-args">{prettyArguments(c.arguments)}</pre>
                </div>
              ))}
            </div>
          ))}
        </div>
      )}
    </Section>
  );
}
