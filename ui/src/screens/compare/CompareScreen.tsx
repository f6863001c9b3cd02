import { useCallback, useEffect, useMemo, useReducer, useState } from "react";
import type { CompareRunSummary } from "../../bindings/CompareRunSummary";
import type { ModelOption } from "../../bindings/ModelOption";
import { Banner, Empty, ErrorText, Kbd, Section, modKey } from "../../components/ui";
import { useAsync } from "../../hooks/useAsync";
import { useResource } from "../../lib/resources";
import { MAX_MODELS, initialSetup, setupReducer } from "./compareSetup";
import { useShortcuts } from "../../hooks/useShortcuts";
import { api, errorMessage, type Summary, type Version } from "../../lib/api";
import type { Wire } from "../../lib/wire";
import { liveTotals, totalCells } from "../../lib/compareState";
import { buildVariableFields, collectValues, parseJsonl, toJsonl, type VariableField } from "../../lib/variables";
import { CompareGrid } from "./CompareGrid";
import { useCompareRun } from "./useCompareRun";

/** The version a comparison uses by default: `production` if labelled, else the latest. */
function defaultVersion(p: Summary | undefined): number | null {
  if (!p) return null;
  return p.labels.find((l) => l.name === "production")?.version ?? p.latest_version;
}

export function CompareScreen({ initialSlug }: { initialSlug: string | null }) {
  const prompts = useResource("prompts");
  const models = useResource("models");
  const [setup, dispatch] = useReducer(setupReducer, initialSlug, initialSetup);
  const { versionSel, picked, mode, formRows, jsonl, concurrency, diffMode, baseline, feedback, formError } = setup;
  const { state, rows, run, cancel, open } = useCompareRun();
  const [runs, setRuns] = useState<Wire<CompareRunSummary>[]>([]);
  const refreshRuns = useCallback(() => {
    api.listCompareRuns().then(setRuns, () => setRuns([]));
  }, []);
  useEffect(refreshRuns, [refreshRuns, state.phase]);

  const list = useMemo(() => prompts.data ?? [], [prompts.data]);
  // Until one is picked, the first prompt is compared.
  const slug = setup.slug || list[0]?.slug || "";
  // The prompt opened in the editor becomes the one compared.
  const [followed, setFollowed] = useState(initialSlug);
  if (initialSlug !== followed) {
    setFollowed(initialSlug);
    if (initialSlug) dispatch({ type: "prompt", slug: initialSlug });
  }
  const summary = list.find((p) => p.slug === slug);

  const versions = useAsync<Version[]>(useCallback(() => (slug ? api.listVersions(slug) : Promise.resolve([])), [slug]));
  const effectiveVersion = versionSel ? Number(versionSel) : defaultVersion(summary);
  const loadVersion = useCallback(() => {
    const v = versionSel ? Number(versionSel) : defaultVersion(summary);
    return slug && v !== null ? api.getVersion(slug, v) : Promise.resolve(null);
  }, [slug, versionSel, summary]);
  const version = useAsync<Version | null>(loadVersion);
  const fields = useMemo(
    () => (version.data ? buildVariableFields(version.data.variables_used, version.data.draft.variables).filter((f) => f.used) : []),
    [version.data],
  );

  const running = state.phase === "running";
  const totals = useMemo(() => state.totals ?? liveTotals(state), [state]);

  const buildSets = useCallback((): Record<string, unknown>[] | string => {
    if (mode === "jsonl") {
      const r = parseJsonl(jsonl);
      if (r.errors.length) return r.errors.join("\n");
      if (r.rows.length === 0) return "Add at least one JSON object line, e.g. {\"name\": \"Ada\"}.";
      return r.rows;
    }
    const sets: Record<string, unknown>[] = [];
    for (let i = 0; i < formRows.length; i++) {
      const c = collectValues(fields, formRows[i]);
      const errs = Object.values(c.errors);
      if (errs.length) return `Row ${i + 1}: ${errs.join("; ")}`;
      sets.push(c.values);
    }
    return sets;
  }, [mode, jsonl, formRows, fields]);

  const start = useCallback(() => {
    if (running) return;
    if (!slug) return dispatch({ type: "error", message: "Pick a prompt first." });
    if (picked.length === 0) return dispatch({ type: "error", message: "Pick at least one model (2–8 to compare)." });
    const sets = buildSets();
    if (typeof sets === "string") return dispatch({ type: "error", message: sets });
    dispatch({ type: "started" });
    run({ prompt: slug, version: versionSel ? Number(versionSel) : null, models: picked, variable_sets: sets, concurrency });
  }, [running, slug, picked, buildSets, run, versionSel, concurrency]);

  useShortcuts({ onRun: start });

  const vote = useCallback((traceId: string, value: number) => {
    dispatch({ type: "vote", traceId, value });
    api.sendFeedback(traceId, value).catch((e: unknown) => {
      dispatch({ type: "error", message: `Feedback was not saved: ${errorMessage(e)}` });
      dispatch({ type: "unvote", traceId });
    });
  }, []);

  const toggleModel = (id: string) => dispatch({ type: "toggleModel", id });

  const switchMode = (m: "form" | "jsonl") => {
    const sets = m === "jsonl" ? buildSets() : null;
    dispatch({ type: "mode", mode: m, jsonl: sets && typeof sets !== "string" ? toJsonl(sets) : undefined });
  };

  const statusText =
    state.phase === "idle" ? "" : state.phase === "running" ? "running" : state.phase === "done" ? "done" : state.phase === "cancelled" ? "cancelled" : "error";

  return (
    <div className="compare">
      <div className="compare-setup">
        <Banner>
          Demo models (<span className="mono">demo/…</span>) answer locally with simulated latency and cost: no API key needed. Add keys on the Keys
          screen to compare real providers.
        </Banner>
        <div className="setup-grid">
          <Section title="Prompt" bodyClassName="setup-prompt">
            <label className="field">
              <span>Prompt</span>
              <select
                className="input"
                data-testid="compare-prompt"
                value={slug}
                onChange={(e) => dispatch({ type: "prompt", slug: e.target.value })}
              >
                {list.length === 0 && <option value="">No prompts</option>}
                {list.map((p) => (
                  <option key={p.id} value={p.slug}>
                    {p.slug}
                  </option>
                ))}
              </select>
            </label>
            <label className="field">
              <span>Version</span>
              <select className="input" data-testid="compare-version" value={versionSel} onChange={(e) => dispatch({ type: "version", sel: e.target.value })}>
                <option value="">
                  Default ({summary?.labels.some((l) => l.name === "production") ? "production" : "latest"}
                  {effectiveVersion !== null && !versionSel ? `, v${effectiveVersion}` : ""})
                </option>
                {(versions.data ?? []).map((v) => (
                  <option key={v.version} value={String(v.version)}>
                    v{v.version}
                    {v.labels.length ? ` (${v.labels.join(", ")})` : ""}
                  </option>
                ))}
              </select>
            </label>
            <label className="field">
              <span>Concurrency per provider</span>
              <input
                type="number"
                className="input"
                data-testid="compare-concurrency"
                min={1}
                max={16}
                value={concurrency}
                onChange={(e) => dispatch({ type: "concurrency", value: Number(e.target.value) })}
              />
            </label>
            <ErrorText error={prompts.error ?? version.error} />
          </Section>
          <ModelPicker options={models.data ?? []} picked={picked} onToggle={toggleModel} error={models.error} />
          <Section
            title="Variable sets"
            className="var-sets"
            aside={
              <div className="segmented" role="radiogroup" aria-label="Variable input">
                <button type="button" role="radio" aria-checked={mode === "form"} className={mode === "form" ? "on" : ""} onClick={() => switchMode("form")}>
                  Form
                </button>
                <button type="button" role="radio" aria-checked={mode === "jsonl"} className={mode === "jsonl" ? "on" : ""} data-testid="mode-jsonl" onClick={() => switchMode("jsonl")}>
                  JSONL
                </button>
              </div>
            }
          >
            {mode === "form" ? (
              <VarRows fields={fields} rows={formRows} onChange={(rows) => dispatch({ type: "rows", rows })} />
            ) : (
              <label className="field">
                <span>One JSON object per line (one row each)</span>
                <textarea
                  className="input mono"
                  rows={6}
                  spellCheck={false}
                  data-testid="compare-jsonl"
                  placeholder={'{"customer_name": "Ada", "ticket": "The export button does nothing"}'}
                  value={jsonl}
                  onChange={(e) => dispatch({ type: "jsonl", text: e.target.value })}
                />
              </label>
            )}
          </Section>
        </div>
        <div className="run-bar row gap wrap">
          <button type="button" className="btn btn-primary" data-testid="run-compare" disabled={running} onClick={start}>
            Run comparison
          </button>
          <Kbd>{modKey}+Enter</Kbd>
          {running && (
            <button type="button" className="btn btn-danger" data-testid="cancel-compare" onClick={cancel}>
              Cancel
            </button>
          )}
          <span className={`compare-status status-${state.phase}`} data-testid="compare-status" role="status">
            {statusText}
          </span>
          {state.phase !== "idle" && (
            <span className="muted small">
              {state.finished}/{totalCells(state)} cells
              {state.wallMs !== null ? ` in ${(state.wallMs / 1000).toFixed(2)} s` : ""}
            </span>
          )}
          {picked.length === 1 && <span className="muted small">Tip: pick 2–8 models to compare them side by side.</span>}
          <span className="grow" />
          {runs.length > 0 && (
            <select
              className="input select-small"
              aria-label="Reopen a saved run"
              data-testid="recent-runs"
              value=""
              disabled={running}
              onChange={(e) => {
                const id = e.target.value;
                if (id) api.getCompareRun(id).then(open, () => undefined);
              }}
            >
              <option value="">Recent runs…</option>
              {runs.map((r) => (
                <option key={r.id} value={r.id}>
                  {new Date(r.created_at).toLocaleString()} · {r.slug} v{r.version} · {r.models.length} models × {r.rows}
                  {r.cost_usd !== null ? ` · $${r.cost_usd.toFixed(6)}` : ""}
                </option>
              ))}
            </select>
          )}
          <label className="inline-field">
            <input type="checkbox" checked={diffMode} onChange={(e) => dispatch({ type: "diffMode", on: e.target.checked })} />
            <span>Diff vs baseline</span>
          </label>
          {diffMode && (
            <select className="input select-small" aria-label="Baseline column" value={baseline} onChange={(e) => dispatch({ type: "baseline", column: Number(e.target.value) })}>
              {state.models.map((m, i) => (
                <option key={i} value={i}>
                  {m}
                </option>
              ))}
            </select>
          )}
        </div>
        <ErrorText error={formError ?? (state.phase === "error" ? state.error : null)} />
        {Object.values(state.throttles).map((t) => (
          <Banner key={t.provider} tone="warn">
            <span data-testid={`throttle-${t.provider}`}>
              <span className="mono">{t.provider}</span> answered 429 (rate limited): Portolan now sends it {t.limit} call{t.limit === 1 ? "" : "s"} at a
              time and paused new ones for {(t.pauseMs / 1000).toFixed(1)} s. Refused cells are queued again.
            </span>
          </Banner>
        ))}
      </div>
      <div className="compare-results">
        {state.phase === "idle" ? (
          <Empty title="No comparison yet">
            Pick a prompt, tick two or more models (the demo ones work without a key), fill in the variables and press Run ({modKey}+Enter).
          </Empty>
        ) : (
          <CompareGrid state={state} rows={rows} totals={totals} diffMode={diffMode} baseline={baseline} feedback={feedback} onFeedback={vote} />
        )}
      </div>
    </div>
  );
}

function ModelPicker({ options, picked, onToggle, error }: { options: ModelOption[]; picked: string[]; onToggle: (id: string) => void; error: string | null }) {
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

function VarRows({ fields, rows, onChange }: { fields: VariableField[]; rows: Record<string, string>[]; onChange: (r: Record<string, string>[]) => void }) {
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
