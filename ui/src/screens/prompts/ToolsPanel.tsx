import { useEffect, useMemo, useState } from "react";
import { ErrorText, Section } from "../../components/ui";
import { api, toAppError } from "../../lib/api";
import {
  NEW_TOOL_SCHEMA,
  newToolName,
  argumentFields,
  readTools,
  schemaTextProblem,
  writeTools,
  type ResponseSchemaDraft,
  type ToolDraft,
} from "../../lib/tools";

interface Props {
  paramsJson: string;
  onChange: (paramsJson: string) => void;
}

/**
 * The prompt's tools (functions with JSON Schema arguments) and response schema, edited as
 * forms and kept in the parameters' JSON. Each schema is checked as it is typed: first locally
 * (JSON, an object), then by the engine, whose error names the place (`tools[0].function.
 * parameters at /properties/city/type`).
 */
export function ToolsPanel({ paramsJson, onChange }: Props) {
  const [tools, setTools] = useState<ToolDraft[]>(() => readTools(paramsJson).tools);
  const [schema, setSchema] = useState<ResponseSchemaDraft | null>(() => readTools(paramsJson).responseSchema);
  // The parameters as this panel last wrote or read them; when they change elsewhere (the JSON
  // field, another version opened) the forms are read from them again.
  const [synced, setSynced] = useState(paramsJson);
  if (paramsJson !== synced) {
    setSynced(paramsJson);
    const r = readTools(paramsJson);
    if (!r.error) {
      setTools(r.tools);
      setSchema(r.responseSchema);
    }
  }
  const paramsError = useMemo(() => readTools(paramsJson).error, [paramsJson]);

  const commit = (nextTools: ToolDraft[], nextSchema: ResponseSchemaDraft | null) => {
    setTools(nextTools);
    setSchema(nextSchema);
    const json = writeTools(paramsJson, nextTools, nextSchema);
    setSynced(json);
    onChange(json);
  };
  const setTool = (i: number, patch: Partial<ToolDraft>) => commit(tools.map((t, j) => (j === i ? { ...t, ...patch } : t)), schema);

  // The engine's verdict on the parameters, a moment after typing stops.
  const [engineError, setEngineError] = useState<string | null>(null);
  useEffect(() => {
    if (paramsError) return;
    let live = true;
    const t = window.setTimeout(() => {
      api.checkParams(paramsJson).then(
        () => live && setEngineError(null),
        // The engine's sentence as is: it starts with the path (`tools[0]…`).
        (e: unknown) => live && setEngineError(toAppError(e).message),
      );
    }, 350);
    return () => {
      live = false;
      window.clearTimeout(t);
    };
  }, [paramsJson, paramsError]);

  const [previewOf, setPreviewOf] = useState<number | null>(null);
  return (
    <Section
      title="Tools and response schema"
      bodyTestId="tools-panel"
      aside={
        <div className="panel-actions">
          <button
            type="button"
            className="btn btn-small"
            data-testid="add-tool"
            disabled={!!paramsError}
            onClick={() => commit([...tools, { name: newToolName(tools), description: "", parametersText: NEW_TOOL_SCHEMA }], schema)}
          >
            Add tool
          </button>
        </div>
      }
    >
      {paramsError && <div className="muted small">Fix the parameters' JSON to edit tools here.</div>}
      {/* Disabled while the parameters' JSON is broken: an edit here would have nothing to go into. */}
      <fieldset className="tools-list plain-fieldset" disabled={!!paramsError}>
        {tools.length === 0 && !paramsError && (
          <div className="muted small">No tools. Add one to let models call a function; its arguments are described by a JSON Schema.</div>
        )}
        {tools.map((t, i) => {
          const local = schemaTextProblem(t.parametersText, true);
          const fields = previewOf === i ? argumentFields(t.parametersText) : [];
          return (
            <div key={i} className="tool-editor" data-testid={`tool-${i}`}>
              <label className="field">
                <span>Function name</span>
                <input className="input mono" aria-label={`Tool ${i + 1} name`} value={t.name} onChange={(e) => setTool(i, { name: e.target.value })} />
              </label>
              <label className="field">
                <span>Description</span>
                <input
                  className="input"
                  aria-label={`Tool ${i + 1} description`}
                  placeholder="What it does, for the model"
                  value={t.description}
                  onChange={(e) => setTool(i, { description: e.target.value })}
                />
              </label>
              <label className="field span-2">
                <span>Arguments (JSON Schema)</span>
                <textarea
                  className={`input mono ${local ? "invalid" : ""}`}
                  aria-label={`Tool ${i + 1} arguments schema`}
                  data-testid={`tool-schema-${i}`}
                  rows={6}
                  spellCheck={false}
                  value={t.parametersText}
                  onChange={(e) => setTool(i, { parametersText: e.target.value })}
                />
              </label>
              <div className="span-2 row gap">
                <ErrorText error={local} />
                <span className="grow" />
                <button type="button" className="btn btn-small btn-ghost" data-testid={`tool-preview-${i}`} onClick={() => setPreviewOf(previewOf === i ? null : i)}>
                  {previewOf === i ? "Hide arguments form" : "Preview arguments form"}
                </button>
                <button
                  type="button"
                  className="btn btn-small btn-ghost"
                  aria-label={`Remove tool ${t.name || i + 1}`}
                  onClick={() => {
                    // The open arguments form stays with its tool.
                    setPreviewOf((p) => (p === null || p === i ? null : p > i ? p - 1 : p));
                    commit(
                      tools.filter((_, j) => j !== i),
                      schema,
                    );
                  }}
                >
                  Remove
                </button>
              </div>
              {previewOf === i && (
                <div className="span-2 args-preview" data-testid={`tool-args-preview-${i}`}>
                  {fields.length === 0 && <div className="muted small">The schema declares no properties.</div>}
                  {fields.map((f) => (
                    <label key={f.name}>
                      <span className="mono">
                        {f.name}
                        {f.required ? " *" : ""}
                      </span>
                      {f.options.length ? (
                        <select className="input select-small" aria-label={f.name}>
                          {f.options.map((o) => (
                            <option key={o}>{o}</option>
                          ))}
                        </select>
                      ) : (
                        <input className="input" aria-label={f.name} placeholder={f.type} type={f.type === "number" || f.type === "integer" ? "number" : "text"} />
                      )}
                      {f.description && <span className="muted small">{f.description}</span>}
                    </label>
                  ))}
                </div>
              )}
            </div>
          );
        })}
        <label className="row gap small">
          <input
            type="checkbox"
            data-testid="response-schema-toggle"
            checked={schema !== null}
            disabled={!!paramsError}
            onChange={(e) => commit(tools, e.target.checked ? { name: "answer", schemaText: '{\n  "type": "object"\n}' } : null)}
          />
          Answer in JSON following a schema (response_format json_schema)
        </label>
        {schema && (
          <div className="tool-editor">
            <label className="field">
              <span>Schema name</span>
              <input className="input mono" aria-label="Response schema name" value={schema.name} onChange={(e) => commit(tools, { ...schema, name: e.target.value })} />
            </label>
            <span />
            <label className="field span-2">
              <span>Response schema (JSON Schema)</span>
              <textarea
                className={`input mono ${schemaTextProblem(schema.schemaText, false) ? "invalid" : ""}`}
                aria-label="Response schema"
                data-testid="response-schema"
                rows={6}
                spellCheck={false}
                value={schema.schemaText}
                onChange={(e) => commit(tools, { ...schema, schemaText: e.target.value })}
              />
            </label>
            <div className="span-2">
              <ErrorText error={schemaTextProblem(schema.schemaText, false)} />
            </div>
          </div>
        )}
        {!paramsError && engineError && (
          <div className="error-text small" role="alert" data-testid="tools-error">
            {engineError}
          </div>
        )}
      </fieldset>
    </Section>
  );
}
