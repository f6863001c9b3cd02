import type { VariableField } from "../../lib/variables";
import { Section } from "../../components/ui";

interface Props {
  fields: readonly VariableField[];
  inputs: Readonly<Record<string, string>>;
  errors: Readonly<Record<string, string>>;
  onChange: (name: string, value: string) => void;
  /** Prefix for input ids/test ids (`pvar` → `pvar-name`). */
  idPrefix?: string;
}

/** Inputs for the variables the templates use; empty inputs fall back to the declared default. */
export function VariablesForm({ fields, inputs, errors, onChange, idPrefix = "pvar" }: Props) {
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
            </label>
            {f.multiline ? <textarea rows={3} {...common} /> : <input {...common} />}
            {f.description && <div className="muted small">{f.description}</div>}
            {errors[f.name] && <div className="error-text small">{errors[f.name]}</div>}
          </div>
        );
      })}
    </Section>
  );
}
