import { useEffect, useMemo, useReducer, useState } from "react";
import type { AssertionSpec } from "../../bindings/AssertionSpec";
import { Section } from "../../components/ui";
import { api, errorMessage } from "../../lib/api";
import {
  EVALUATOR_TYPES,
  SIMILARITY_METHODS,
  assertionLabel,
  evaluatorFormReducer,
  evaluatorType,
  initialEvaluatorForm,
  showsField,
  toAssertionSpec,
} from "../../lib/evaluatorForm";

/** How long typing pauses before the engine checks the evaluator. */
export const CHECK_DELAY_MS = 250;

interface Props {
  evaluators: AssertionSpec[];
  /** Library prompts usable as judges (slugs starting with `judge-`). */
  judgePrompts: string[];
  disabled: boolean;
  onAdd: (spec: AssertionSpec) => void;
  onRemove: (index: number) => void;
}

/** The evaluators of the next run, as removable chips, and the form that adds one. */
export function EvaluatorsPanel({ evaluators, judgePrompts, disabled, onAdd, onRemove }: Props) {
  const [open, setOpen] = useState(false);
  return (
    <Section
      title="Evaluators"
      className="evaluators"
      aside={
        <button type="button" className="btn btn-small" data-testid="add-evaluator" disabled={disabled || open} onClick={() => setOpen(true)}>
          Add evaluator
        </button>
      }
    >
      {evaluators.length === 0 && !open && (
        <div className="muted small">No evaluators: outputs are shown side by side. Add checks to score every cell (pass rates, comparisons with a baseline).</div>
      )}
      {evaluators.length > 0 && (
        <ul className="chips" aria-label="Evaluators">
          {evaluators.map((e, i) => (
            <li key={i} className="chip" data-testid={`evaluator-chip-${i}`} title={JSON.stringify(e)}>
              <span className="mono ellipsis">{assertionLabel(e)}</span>
              {e.gate && <span className="tag">gate {e.gate}</span>}
              <button
                type="button"
                className="btn btn-icon"
                aria-label={`Remove evaluator ${assertionLabel(e)}`}
                data-testid={`evaluator-remove-${i}`}
                disabled={disabled}
                onClick={() => onRemove(i)}
              >
                ✕
              </button>
            </li>
          ))}
        </ul>
      )}
      {open && (
        <EvaluatorForm
          judgePrompts={judgePrompts}
          onSave={(spec) => {
            onAdd(spec);
            setOpen(false);
          }}
          onCancel={() => setOpen(false)}
        />
      )}
    </Section>
  );
}

interface Checked {
  key: string;
  error: string | null;
}

/** Picks a type, shows the fields it needs, and has the engine check it as it is typed. */
export function EvaluatorForm({ judgePrompts, onSave, onCancel }: { judgePrompts: string[]; onSave: (spec: AssertionSpec) => void; onCancel: () => void }) {
  const [form, dispatch] = useReducer(evaluatorFormReducer, initialEvaluatorForm);
  const built = useMemo(() => toAssertionSpec(form), [form]);
  const key = built.spec ? JSON.stringify(built.spec) : "";
  const [checked, setChecked] = useState<Checked | null>(null);

  // The engine's check, once typing pauses; an answer for an older form is ignored.
  useEffect(() => {
    if (!built.spec) return;
    const spec = built.spec;
    let live = true;
    const timer = window.setTimeout(() => {
      api.checkAssertion(spec).then(
        () => live && setChecked({ key, error: null }),
        (e: unknown) => live && setChecked({ key, error: errorMessage(e) }),
      );
    }, CHECK_DELAY_MS);
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
  }, [key, built.spec]);

  const current = checked !== null && checked.key === key;
  const error = built.error ?? (current ? checked.error : null);
  const valid = built.spec !== null && current && checked.error === null;
  const t = evaluatorType(form.kind);
  const show = (f: Parameters<typeof showsField>[1]) => showsField(form, f);

  const save = () => {
    if (valid && built.spec) {
      onSave(built.spec);
      dispatch({ type: "reset" });
    }
  };

  return (
    <form
      className="evaluator-form"
      data-testid="evaluator-form"
      onSubmit={(e) => {
        e.preventDefault();
        save();
      }}
    >
      <div className="evaluator-fields">
        <label className="field">
          <span>Check</span>
          <select className="input" data-testid="evaluator-type" value={form.kind} onChange={(e) => dispatch({ type: "kind", kind: e.target.value })}>
            {EVALUATOR_TYPES.map((x) => (
              <option key={x.type} value={x.type}>
                {x.type} — {x.title}
              </option>
            ))}
          </select>
        </label>
        <label className="inline-field">
          <input type="checkbox" data-testid="evaluator-negate" checked={form.negate} onChange={(e) => dispatch({ type: "negate", on: e.target.checked })} />
          <span>Negate (passes when the check fails: not-{t.type})</span>
        </label>
        {show("value") &&
          (t.valueKind === "json" || t.valueKind === "optional-json" || t.valueKind === "list" ? (
            <label className="field span-all">
              <span>{t.valueLabel}</span>
              <textarea
                className={`input mono${error ? " invalid" : ""}`}
                rows={t.valueKind === "list" ? 3 : 4}
                spellCheck={false}
                data-testid="evaluator-value"
                placeholder={t.placeholder}
                value={form.value}
                onChange={(e) => dispatch({ type: "set", field: "value", value: e.target.value })}
              />
            </label>
          ) : (
            <label className="field span-all">
              <span>{t.valueLabel}</span>
              <input
                className={`input mono${error ? " invalid" : ""}`}
                inputMode={t.valueKind === "number" ? "decimal" : undefined}
                spellCheck={false}
                data-testid="evaluator-value"
                placeholder={t.placeholder}
                value={form.value}
                onChange={(e) => dispatch({ type: "set", field: "value", value: e.target.value })}
              />
            </label>
          ))}
        {show("path") && (
          <>
            <label className="field">
              <span>{t.type === "tool-called" ? "Argument path (optional)" : "JSON path"}</span>
              <input
                className="input mono"
                data-testid="evaluator-path"
                placeholder="$.items[0].name"
                value={form.path}
                onChange={(e) => dispatch({ type: "set", field: "path", value: e.target.value })}
              />
            </label>
            <label className="field">
              <span>Equals (JSON, or plain text)</span>
              <input
                className="input mono"
                data-testid="evaluator-equals"
                placeholder='"Paris" or 3 or true'
                value={form.equals}
                onChange={(e) => dispatch({ type: "set", field: "equals", value: e.target.value })}
              />
            </label>
          </>
        )}
        {show("min") && (
          <label className="field">
            <span>{t.type === "tool-called" ? "At least (calls; default 1)" : "At least (characters)"}</span>
            <input className="input" inputMode="numeric" data-testid="evaluator-min" value={form.min} onChange={(e) => dispatch({ type: "set", field: "min", value: e.target.value })} />
          </label>
        )}
        {show("max") && (
          <label className="field">
            <span>{t.type === "tool-called" ? "At most (calls)" : "At most (characters)"}</span>
            <input className="input" inputMode="numeric" data-testid="evaluator-max" value={form.max} onChange={(e) => dispatch({ type: "set", field: "max", value: e.target.value })} />
          </label>
        )}
        {show("rubric") && (
          <label className="field span-all">
            <span>{t.type === "pairwise" ? "What makes an answer better (optional)" : "Rubric: what a good answer does"}</span>
            <textarea
              className="input"
              rows={3}
              data-testid="evaluator-rubric"
              placeholder={t.type === "pairwise" ? "More accurate and more concise" : "Answers the question in at most three sentences, politely, naming {{customer_name}}"}
              value={form.rubric}
              onChange={(e) => dispatch({ type: "set", field: "rubric", value: e.target.value })}
            />
          </label>
        )}
        {show("score") && (
          <label className="inline-field">
            <input type="checkbox" data-testid="evaluator-score" checked={form.score} onChange={(e) => dispatch({ type: "score", on: e.target.checked })} />
            <span>Score 1–5 instead of pass/fail</span>
          </label>
        )}
        {show("method") && (
          <label className="field">
            <span>Measure</span>
            <select className="input" data-testid="evaluator-method" value={form.method || "levenshtein"} onChange={(e) => dispatch({ type: "set", field: "method", value: e.target.value })}>
              {SIMILARITY_METHODS.map((m) => (
                <option key={m} value={m}>
                  {m}
                </option>
              ))}
            </select>
          </label>
        )}
        {show("threshold") && (
          <label className="field">
            <span>{t.type === "judge" ? "Pass mark (score, default 4)" : "Pass mark (similarity 0–1, default 0.75)"}</span>
            <input
              className="input"
              inputMode="decimal"
              data-testid="evaluator-threshold"
              placeholder={t.type === "judge" ? "4" : "0.75"}
              value={form.threshold}
              onChange={(e) => dispatch({ type: "set", field: "threshold", value: e.target.value })}
            />
          </label>
        )}
        {show("prompt") && (
          <label className="field">
            <span>Judge prompt</span>
            <select className="input" data-testid="evaluator-judge-prompt" value={form.prompt} onChange={(e) => dispatch({ type: "set", field: "prompt", value: e.target.value })}>
              <option value="">The seeded one for {t.type}</option>
              {judgePrompts.map((p) => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
            </select>
          </label>
        )}
        <label className="field">
          <span>Gate (optional)</span>
          <input
            className="input mono"
            data-testid="evaluator-gate"
            placeholder={t.type === "judge" && form.score ? "mean >= 4" : "pass_rate >= 0.9"}
            value={form.gate}
            onChange={(e) => dispatch({ type: "set", field: "gate", value: e.target.value })}
          />
        </label>
        <label className="field">
          <span>Name in reports (optional)</span>
          <input className="input" data-testid="evaluator-name" value={form.name} onChange={(e) => dispatch({ type: "set", field: "name", value: e.target.value })} />
        </label>
      </div>
      {error && (form.touched || !built.error) ? (
        <div className="error-text" role="alert" data-testid="evaluator-error">
          {error}
        </div>
      ) : null}
      {t.judge && <div className="muted small">Judged by a model: each checked cell costs a judge call (pairwise: two per row and column).</div>}
      <div className="row gap">
        <button type="submit" className="btn btn-primary btn-small" data-testid="evaluator-save" disabled={!valid}>
          {built.spec && !current ? "Checking…" : "Add"}
        </button>
        <button type="button" className="btn btn-small" data-testid="evaluator-cancel" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
