import type { VariableField } from "../../lib/variables";
import { Section } from "../../components/ui";
import { api } from "../../lib/api";

interface Props {
  fields: readonly VariableField[];
  inputs: Readonly<Record<string, string>>;
  errors: Readonly<Record<string, string>>;
  onChange: (name: string, value: string) => void;
  /** Prefix for input ids/test ids (`pvar` → `pvar-name`). */
  idPrefix?: string;
  /** Variables used as an image's URL: their value is a URL or a file path, chosen with a dialog. */
  imageVariables?: readonly string[];
}

/** Inputs for the variables the templates use; empty inputs fall back to the declared default. */
export function VariablesForm({ fields, inputs, errors, onChange, idPrefix = "pvar", imageVariables = [] }: Props) {
  return (
    <Section title="Variables" bodyClassName="var-form">
      {fields.length === 0 && <div className="muted small">The templates use no variables. Type {"{{name}}"} in a message to add one.</div>}
      {fields.map((f) => {
        const id = `${idPrefix}-${f.name}`;
        const common = {
          id,
          "data-testid": id,
          className: `input mono ${errors[f.name] ? "invalid" : ""}`,
          value: inputs[f.name] ?? "",
          placeholder: f.hasDefault ? `default: ${f.placeholder}` : f.kind === "json" ? "JSON value" : "",
          onChange: (e: { target: { value: string } }) => onChange(f.name, e.target.value),
        };
        return (
          <div key={f.name} className="var-field">
            <label htmlFor={id} className="var-label">
              <span className="mono">{f.name}</span>
              {f.kind === "json" && <span className="tag">json</span>}
              {!f.used && <span className="tag">unused</span>}
              {imageVariables.includes(f.name) && <span className="tag">image</span>}
            </label>
            {imageVariables.includes(f.name) ? (
              <div className="row gap">
                <input {...common} placeholder="https://… or a file path" />
                <button
                  type="button"
                  className="btn btn-small"
                  onClick={() => {
                    void api.pickFile(false, null, "image").then((p) => p && onChange(f.name, p));
                  }}
                >
                  Choose…
                </button>
              </div>
            ) : f.multiline ? (
              <textarea rows={3} {...common} />
            ) : (
              <input {...common} />
            )}
            {f.description && <div className="muted small">{f.description}</div>}
            {errors[f.name] && <div className="error-text small">{errors[f.name]}</div>}
          </div>
        );
      })}
    </Section>
  );
}
