import type { PreviewDto } from "../../bindings/PreviewDto";
import { Kbd, Section, modKey } from "../../components/ui";
import { ToolCallCard } from "../../components/ToolExchange";
import { describeImageUrl, renderedImages, type ImageLine } from "../../lib/tools";

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
              {m.content && <PreviewText text={m.content} imageLines={preview.image_lines[i] ?? []} />}
              {m.tool_calls.map((c, j) => (
                <ToolCallCard key={`${j}-${c.id}`} call={c} showId testId="preview-tool-call" />
              ))}
            </div>
          ))}
        </div>
      )}
    </Section>
  );
}

/** A rendered message's text, the lines the engine sends as images shown as the images (or their URL). */
function PreviewText({ text, imageLines }: { text: string; imageLines: readonly number[] }) {
  const images = renderedImages(text, imageLines);
  if (images.length === 0) return <pre className="preview-text">{text}</pre>;
  const parts: { text?: string; image?: ImageLine }[] = [];
  let pending: string[] = [];
  text.split("\n").forEach((l, i) => {
    const img = images.find((x) => x.line === i);
    if (!img) {
      pending.push(l);
      return;
    }
    if (pending.length) parts.push({ text: pending.join("\n") });
    pending = [];
    parts.push({ image: img });
  });
  if (pending.length) parts.push({ text: pending.join("\n") });
  return (
    <>
      {parts.map((p, i) =>
        p.image ? (
          <figure key={i} className="image-thumb preview-image" title={describeImageUrl(p.image.url)} data-testid="preview-image">
            {p.image.url.startsWith("data:") ? <img src={p.image.url} alt={p.image.alt} /> : <div className="var-image mono small">{describeImageUrl(p.image.url)}</div>}
            <figcaption className="ellipsis">{p.image.alt}</figcaption>
          </figure>
        ) : (
          <pre key={i} className="preview-text">
            {p.text}
          </pre>
        ),
      )}
    </>
  );
}
