import { useState } from "react";
import type { DatasetDto } from "../../bindings/DatasetDto";
import type { DatasetSummary } from "../../bindings/DatasetSummary";
import type { ModelOption } from "../../bindings/ModelOption";
import { ErrorText, Section } from "../../components/ui";
import type { Version } from "../../lib/api";
import type { ToolResultDraft } from "../../lib/tools";
import type { VariableField } from "../../lib/variables";
import { MAX_MODELS } from "./compareSetup";

export function ModelPicker({ options, picked, onToggle, error }: { options: ModelOption[]; picked: string[]; onToggle: (id: string) => void; error: string | null }) {
  return (
    <Section
      title="Models"
      bodyClassName="model-list"
      aside={
        <span className="muted small">
          {picked.length}/{MAX_MODELS} picked
        </span>
      }
    >
      <ErrorText error={error} />
      {options.map((m) => {
        const on = picked.includes(m.id);
        const col = picked.indexOf(m.id);
        return (
          <label key={m.id} className={`model-option ${on ? "on" : ""}`}>
            <input
              type="checkbox"
              data-testid={`model-option-${m.id}`}
              checked={on}
              disabled={!on && picked.length >= MAX_MODELS}
              onChange={() => onToggle(m.id)}
            />
            <span className="mono">{m.id}</span>
            {m.demo ? <span className="tag tag-accent">demo</span> : <span className="tag">{m.provider}</span>}
            {on && <span className="muted small">col {col + 1}</span>}
          </label>
        );
      })}
      {options.length === 0 && !error && <div className="muted small">Loading models…</div>}
    </Section>
  );
}

export function VarRows({ fields, rows, onChange }: { fields: VariableField[]; rows: Record<string, string>[]; onChange: (r: Record<string, string>[]) => void }) {
  const set = (i: number, name: string, value: string) => onChange(rows.map((r, j) => (j === i ? { ...r, [name]: value } : r)));
  if (fields.length === 0)
    return (
      <div className="var-rows">
        <div className="muted small">This version uses no variables; each row runs the prompt as is.</div>
        <div className="row gap">
          <span className="muted small">{rows.length} row(s)</span>
          <button type="button" className="btn btn-small" onClick={() => onChange([...rows, {}])}>
            Add row
          </button>
        </div>
      </div>
    );
  return (
    <div className="var-rows">
      <table className="table compact">
        <thead>
          <tr>
            <th>#</th>
            {fields.map((f) => (
              <th key={f.name} title={f.description ?? undefined} className="mono">
                {f.name}
              </th>
            ))}
            <th aria-label="Actions" />
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={i}>
              <td className="muted">{i + 1}</td>
              {fields.map((f) => {
                const id = `var-${i}-${f.name}`;
                const props = {
                  id,
                  "data-testid": id,
                  name: id,
                  "aria-label": `Row ${i + 1} ${f.name}`,
                  className: "input mono",
                  value: r[f.name] ?? "",
                  placeholder: f.hasDefault ? f.placeholder : f.description ?? "",
                  onChange: (e: { target: { value: string } }) => set(i, f.name, e.target.value),
                };
                return <td key={f.name}>{f.multiline ? <textarea rows={1} {...props} /> : <input {...props} />}</td>;
              })}
              <td>
                <button
                  type="button"
                  className="btn btn-small btn-ghost"
                  aria-label={`Remove row ${i + 1}`}
                  disabled={rows.length <= 1}
                  onClick={() => onChange(rows.filter((_, j) => j !== i))}
                >
                  ✕
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="row gap">
        <button type="button" className="btn btn-small" onClick={() => onChange([...rows, { ...rows[rows.length - 1] }])}>
          Add row
        </button>
        <span className="muted small">New rows copy the last one. Empty inputs use the declared default.</span>
      </div>
    </div>
  );
}

/** More versions (and labels) of the prompt to compare, each one column per model. */
export function ExtraVersions({
  versions,
  first,
  picked,
  onToggle,
}: {
  versions: Version[];
  /** The version the `compare-version` select picked ("" = the default). */
  first: string;
  picked: string[];
  onToggle: (sel: string) => void;
}) {
  const labels = Array.from(new Set(versions.flatMap((v) => v.labels))).sort();
  if (versions.length <= 1 && labels.length === 0) return null;
  return (
    <fieldset className="extra-versions">
      <legend className="small muted">Also compare</legend>
      <div className="extra-list">
        {versions.map((v) => {
          const sel = String(v.version);
          return (
            <label key={sel} className="inline-field">
              <input
                type="checkbox"
                data-testid={`compare-extra-version-${v.version}`}
                checked={picked.includes(sel)}
                disabled={sel === first}
                onChange={() => onToggle(sel)}
              />
              <span>
                v{v.version}
                {v.labels.length ? ` (${v.labels.join(", ")})` : ""}
              </span>
            </label>
          );
        })}
        {labels.map((l) => (
          <label key={`label:${l}`} className="inline-field" title={`Whatever version carries the label "${l}" when the run starts`}>
            <input type="checkbox" data-testid={`compare-extra-label-${l}`} checked={picked.includes(l)} disabled={l === first} onChange={() => onToggle(l)} />
            <span className="label-chip">{l}</span>
          </label>
        ))}
      </div>
    </fieldset>
  );
}

/** What the chosen dataset holds, and which of the prompt's variables its rows lack. */
export function DatasetPreview({ data, fields, error }: { data: DatasetDto | null; fields: VariableField[]; error: string | null }) {
  if (error) return <ErrorText error={error} />;
  if (!data) return <div className="muted small">Loading the dataset…</div>;
  const rows = data.dataset.rows;
  const vars = Array.from(new Set(rows.flatMap((r) => Object.keys(r.vars))));
  const withExpected = rows.filter((r) => r.expected !== undefined && r.expected !== null).length;
  const lacking = fields
    .filter((f) => !f.hasDefault)
    .map((f) => ({ name: f.name, n: rows.filter((r) => !(f.name in r.vars)).length }))
    .filter((x) => x.n > 0);
  return (
    <div className="dataset-preview small" data-testid="compare-dataset-preview">
      <div>
        <strong>{rows.length}</strong> row{rows.length === 1 ? "" : "s"} (version {data.dataset.version}
        {data.dataset.version === data.latest_version ? ", the latest" : ` of ${data.latest_version}`})
        {vars.length > 0 && (
          <>
            {" "}
            · variables <span className="mono">{vars.join(", ")}</span>
          </>
        )}
        {" · "}
        {withExpected ? `${withExpected} with an expected output` : "no expected outputs"}
      </div>
      {lacking.map((x) => (
        <div key={x.name} className="tone-error">
          {x.n} row{x.n === 1 ? "" : "s"} lack <span className="mono">{x.name}</span>, which this version uses.
        </div>
      ))}
      {data.dataset.message && <div className="muted">{data.dataset.message}</div>}
    </div>
  );
}

/** Where a run's rows come from: the inline sets, or a dataset at a version. */
export function DatasetSelect({
  datasets,
  dataset,
  version,
  latest,
  onDataset,
  onVersion,
}: {
  datasets: DatasetSummary[];
  dataset: string;
  version: string;
  latest: number | null;
  onDataset: (name: string) => void;
  onVersion: (sel: string) => void;
}) {
  const known = datasets.some((d) => d.name === dataset);
  const newest = latest ?? datasets.find((d) => d.name === dataset)?.latest_version ?? null;
  return (
    <div className="row gap wrap dataset-select">
      <label className="field">
        <span>Rows from</span>
        <select className="input" data-testid="compare-dataset" value={dataset} onChange={(e) => onDataset(e.target.value)}>
          <option value="">Inline variable sets</option>
          {!known && dataset && <option value={dataset}>{dataset}</option>}
          {datasets.map((d) => (
            <option key={d.id} value={d.name}>
              {d.name} ({d.rows} rows)
            </option>
          ))}
        </select>
      </label>
      {dataset && (
        <label className="field">
          <span>Version</span>
          <select className="input" data-testid="compare-dataset-version" value={version} onChange={(e) => onVersion(e.target.value)}>
            <option value="">Latest{newest !== null ? ` (v${newest})` : ""}</option>
            {newest !== null &&
              Array.from({ length: newest }, (_, i) => newest - i).map((v) => (
                <option key={v} value={String(v)}>
                  v{v}
                </option>
              ))}
          </select>
        </label>
      )}
    </div>
  );
}

/** Repeats, the baseline column, the judges' model, a gate, the name in the history. */
export function ExperimentOptions({
  repeats,
  baseline,
  columns,
  judgeModel,
  models,
  gate,
  name,
  placeholderName,
  onRepeats,
  onBaseline,
  onJudgeModel,
  onGate,
  onName,
}: {
  repeats: number;
  baseline: number;
  columns: string[];
  judgeModel: string;
  models: ModelOption[];
  gate: string;
  name: string;
  placeholderName: string;
  onRepeats: (n: number) => void;
  onBaseline: (i: number) => void;
  onJudgeModel: (id: string) => void;
  onGate: (t: string) => void;
  onName: (t: string) => void;
}) {
  return (
    <Section title="Run" bodyClassName="exp-options">
      <label className="field">
        <span>Repeats (each cell runs this many times)</span>
        <input type="number" className="input" data-testid="compare-repeats" min={1} max={20} value={repeats} onChange={(e) => onRepeats(Number(e.target.value))} />
      </label>
      <label className="field">
        <span>Baseline column</span>
        <select
          className="input"
          data-testid="compare-baseline"
          value={columns.length ? Math.min(baseline, columns.length - 1) : 0}
          disabled={columns.length < 2}
          onChange={(e) => onBaseline(Number(e.target.value))}
        >
          {columns.length === 0 && <option value={0}>Pick a model first</option>}
          {columns.map((c, i) => (
            <option key={i} value={i}>
              {i + 1}. {c}
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        <span>Judge model</span>
        <select className="input" data-testid="compare-judge-model" value={judgeModel} onChange={(e) => onJudgeModel(e.target.value)}>
          <option value="">Each judge prompt's own model</option>
          {models.map((m) => (
            <option key={m.id} value={m.id}>
              {m.id}
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        <span>Gate on all checks (optional)</span>
        <input className="input mono" data-testid="compare-gate" placeholder="pass_rate >= 0.9" value={gate} onChange={(e) => onGate(e.target.value)} />
      </label>
      <label className="field">
        <span>Name in the history</span>
        <input className="input" data-testid="compare-experiment-name" placeholder={placeholderName} value={name} onChange={(e) => onName(e.target.value)} />
      </label>
    </Section>
  );
}

/** Simulated results for the prompt's tools, so each model runs to its final answer. */
export function ToolResultsPanel({
  tools,
  results,
  maxSteps,
  onResult,
  onMaxSteps,
}: {
  tools: string[];
  results: Record<string, ToolResultDraft>;
  maxSteps: number;
  onResult: (name: string, r: ToolResultDraft) => void;
  onMaxSteps: (n: number) => void;
}) {
  const PLACEHOLDER: Record<string, string> = {
    fixed: '{"temp_c": 21}',
    variable: "a row's variable, e.g. weather",
    template: '{"city": "{{city}}", "temp_c": 21}',
  };
  return (
    <Section title="Tool results" bodyClassName="exp-options" bodyTestId="tool-results">
      <div className="muted small span-2">
        The prompt has tools. Give a simulated result per tool and each model's calls are answered until it gives a final answer; without one, a
        call ends the cell.
      </div>
      {tools.map((name) => {
        const r = results[name] ?? { kind: "none", text: "" };
        return (
          <div key={name} className="field span-2">
            <span className="mono">{name}</span>
            <div className="row gap">
              <select
                className="input select-small"
                aria-label={`Result of ${name}`}
                data-testid={`tool-result-kind-${name}`}
                value={r.kind}
                onChange={(e) => onResult(name, { ...r, kind: e.target.value as ToolResultDraft["kind"] })}
              >
                <option value="none">no result (stop at the call)</option>
                <option value="fixed">fixed JSON</option>
                <option value="variable">from a row's variable</option>
                <option value="template">template over the arguments</option>
              </select>
              {r.kind !== "none" && (
                <input
                  className="input mono grow"
                  aria-label={`Result text of ${name}`}
                  data-testid={`tool-result-text-${name}`}
                  placeholder={PLACEHOLDER[r.kind]}
                  value={r.text}
                  onChange={(e) => onResult(name, { ...r, text: e.target.value })}
                />
              )}
            </div>
          </div>
        );
      })}
      <label className="field">
        <span>Most model calls per cell</span>
        <StepsInput value={maxSteps} onChange={onMaxSteps} />
      </label>
    </Section>
  );
}

/**
 * The step limit as typed: the field may be cleared and retyped; only a whole number from 1 to
 * 16 is taken, and leaving the field shows the limit in force again.
 */
function StepsInput({ value, onChange }: { value: number; onChange: (value: number) => void }) {
  const [text, setText] = useState<string | null>(null);
  return (
    <input
      type="number"
      className="input"
      min={1}
      max={16}
      value={text ?? String(value)}
      onChange={(e) => {
        setText(e.target.value);
        const n = Number(e.target.value);
        if (e.target.value.trim() !== "" && Number.isInteger(n) && n >= 1 && n <= 16) onChange(n);
      }}
      onBlur={() => setText(null)}
    />
  );
}
