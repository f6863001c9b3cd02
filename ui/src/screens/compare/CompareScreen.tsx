import { useCallback, useEffect, useLayoutEffect, useMemo, useReducer, useRef, useState } from "react";
import type { CompareRunSummary } from "../../bindings/CompareRunSummary";
import type { DatasetDto } from "../../bindings/DatasetDto";
import type { DatasetSummary } from "../../bindings/DatasetSummary";
import type { ExperimentRequest } from "../../bindings/ExperimentRequest";
import type { PlanDto } from "../../bindings/PlanDto";
import type { Row } from "../../bindings/Row";
import { Banner, Empty, ErrorText, Kbd, Section, modKey } from "../../components/ui";
import { useAsync } from "../../hooks/useAsync";
import { useResource } from "../../lib/resources";
import { MAX_COLUMNS, experimentColumns, initialSetup, isExperiment, pickedVersions, setupReducer } from "./compareSetup";
import { useShortcuts } from "../../hooks/useShortcuts";
import { api, errorMessage, onApiChange, type Summary, type Version } from "../../lib/api";
import type { Wire } from "../../lib/wire";
import { liveTotals, totalCells } from "../../lib/compareState";
import {
  columnFigures,
  filterRows,
  nextFailing,
  noFilters,
  totalExperimentCells,
  type ExperimentStart,
  type RowFilters,
} from "../../lib/experimentState";
import { formatCost } from "../../lib/format";
import { buildVariableFields, collectValues, parseJsonl, toJsonl } from "../../lib/variables";
import { CellDetail } from "./CellDetail";
import { CompareGrid } from "./CompareGrid";
import { EvaluatorsPanel } from "./EvaluatorForm";
import { ExperimentCharts } from "./ExperimentCharts";
import { ExperimentGrid, type CellRef } from "./ExperimentGrid";
import { ExperimentHistory } from "./ExperimentHistory";
import { DatasetPreview, DatasetSelect, ExperimentOptions, ExtraVersions, ModelPicker, ToolResultsPanel, VarRows } from "./SetupParts";
import { readTools, simulationOf } from "../../lib/tools";
import { useCompareRun } from "./useCompareRun";
import { useExperimentRun } from "./useExperimentRun";

/** The version a comparison uses by default: `production` if labelled, else the latest. */
function defaultVersion(p: Summary | undefined): number | null {
  if (!p) return null;
  return p.labels.find((l) => l.name === "production")?.version ?? p.latest_version;
}

/** Whether keys typed go to a text field (then "n" is a letter, not a shortcut). */
function typing(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT";
}

/** The plan in words: `12 calls + 24 judge calls, at most $0.0042`. */
function planText(p: PlanDto): string {
  const calls = `${p.calls} call${p.calls === 1 ? "" : "s"}`;
  const judge = ` + ${p.judge_calls} judge call${p.judge_calls === 1 ? "" : "s"}`;
  const cost =
    p.estimate_usd !== null
      ? `, at most ${formatCost(p.estimate_usd)}`
      : p.unpriced.length
        ? `; no price known for ${p.unpriced.join(", ")}`
        : "";
  const partly = p.estimate_usd !== null && p.unpriced.length ? ` (not counting ${p.unpriced.join(", ")}: no price known)` : "";
  return `${calls}${judge}${cost}${partly}`;
}

type Shown = "compare" | "experiment";

export function CompareScreen({ initialSlug }: { initialSlug: string | null }) {
  const root = useRef<HTMLDivElement>(null);
  const prompts = useResource("prompts");
  const models = useResource("models");
  const [setup, dispatch] = useReducer(setupReducer, initialSlug, initialSetup);
  const { versionSel, picked, mode, formRows, jsonl, concurrency, diffMode, baseline, feedback, formError } = setup;
  const { state, rows, run, cancel, open } = useCompareRun();
  const { state: expState, run: runExperiment, cancel: cancelExperiment, open: openExperiment } = useExperimentRun();
  /** Which grid is on screen: the last comparison or the last experiment. */
  const [shown, setShown] = useState<Shown>("compare");
  const [plan, setPlan] = useState<PlanDto | null>(null);
  const [planning, setPlanning] = useState(false);
  const planToken = useRef(0);
  const [confirm, setConfirm] = useState<{ req: ExperimentRequest; start: ExperimentStart; plan: PlanDto } | null>(null);
  const [historyKey, setHistoryKey] = useState(0);
  const [filters, setFilters] = useState<RowFilters>(noFilters);
  const [marked, setMarked] = useState<number | null>(null);
  const [selected, setSelected] = useState<CellRef | null>(null);
  /** The side panel (history, charts, a cell's detail) can give its width to a wide grid. */
  const [sideHidden, setSideHidden] = useState(false);

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
  const judgePrompts = useMemo(() => list.filter((p) => p.slug.startsWith("judge-")).map((p) => p.slug), [list]);

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
  // The compared version's tools: each may get a simulated result.
  const toolNames = useMemo(() => (version.data ? readTools(version.data.draft.params_json).tools.map((t) => t.name) : []), [version.data]);
  const simulation = useMemo(() => {
    const results = Object.fromEntries(Object.entries(setup.toolResults).filter(([name]) => toolNames.includes(name)));
    return simulationOf(results, setup.maxToolSteps);
  }, [setup.toolResults, setup.maxToolSteps, toolNames]);

  // Datasets: listed once, again whenever one is saved.
  const datasets = useAsync<DatasetSummary[]>(useCallback(() => api.listDatasets(), []));
  const dsVersion = setup.datasetVersion ? Number(setup.datasetVersion) : null;
  const dataset = useAsync<DatasetDto | null>(
    useCallback(() => (setup.dataset ? api.getDataset(setup.dataset, dsVersion) : Promise.resolve(null)), [setup.dataset, dsVersion]),
  );
  const reloadDatasets = datasets.reload;
  const reloadDataset = dataset.reload;
  const reloadVersions = versions.reload;
  const reloadVersion = version.reload;
  useEffect(() => {
    const off = onApiChange((what) => {
      // A label moved through its gate ran (and saved) an experiment; a version saved in the
      // editor is one more to compare (and may be the default now).
      if (what === "prompts") {
        setHistoryKey((k) => k + 1);
        reloadVersions();
        reloadVersion();
      }
      if (what !== "datasets") return;
      reloadDatasets();
      reloadDataset();
    });
    return () => {
      off();
    };
  }, [reloadDatasets, reloadDataset, reloadVersions, reloadVersion]);

  const experiment = isExperiment(setup);
  const compareRunning = state.phase === "running";
  const expRunning = expState.phase === "running";
  const running = compareRunning || expRunning || planning;
  const totals = useMemo(() => state.totals ?? liveTotals(state), [state]);

  // The columns the next run has, named as the engine names them (`slug@version · model`).
  const columnLabels = useMemo(() => {
    const number = (sel: string | null): string => {
      if (sel === null) return effectiveVersion !== null ? String(effectiveVersion) : "default";
      if (/^\d+$/.test(sel)) return sel;
      const v = (versions.data ?? []).find((x) => x.labels.includes(sel));
      return v ? String(v.version) : sel;
    };
    return pickedVersions(setup).flatMap((v) => picked.map((m) => `${slug}@${number(v)} · ${m}`));
  }, [setup, picked, slug, effectiveVersion, versions.data]);

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

  const launch = useCallback(
    (req: ExperimentRequest, start: ExperimentStart) => {
      setShown("experiment");
      setSelected(null);
      setMarked(null);
      setFilters(noFilters);
      runExperiment(req, start, () => setHistoryKey((k) => k + 1));
    },
    [runExperiment],
  );

  const startExperiment = useCallback(async () => {
    if (typeof simulation === "string") return dispatch({ type: "error", message: simulation });
    const columns = experimentColumns(setup, slug);
    if (columns.length > MAX_COLUMNS)
      return dispatch({ type: "error", message: `${columns.length} columns (versions × models): an experiment runs at most ${MAX_COLUMNS}.` });
    const token = ++planToken.current;
    setPlanning(true);
    setPlan(null);
    setConfirm(null);
    dispatch({ type: "started", columns: columns.length });
    let rowsOfRun: Row[];
    if (setup.dataset) {
      try {
        rowsOfRun = (await api.getDataset(setup.dataset, dsVersion)).dataset.rows;
      } catch (e) {
        if (token !== planToken.current) return;
        setPlanning(false);
        return dispatch({ type: "error", message: errorMessage(e) });
      }
    } else {
      const sets = buildSets();
      if (typeof sets === "string") {
        setPlanning(false);
        return dispatch({ type: "error", message: sets });
      }
      rowsOfRun = sets.map((vars) => ({ vars: vars as Row["vars"] }));
    }
    const base = baseline < columns.length ? baseline : 0;
    const req: ExperimentRequest = {
      name: setup.name.trim() || null,
      columns,
      dataset: setup.dataset || null,
      dataset_version: setup.dataset ? dsVersion : null,
      rows: setup.dataset ? [] : rowsOfRun,
      assertions: setup.evaluators,
      gates: setup.gate.trim() ? [setup.gate.trim()] : [],
      repeats: setup.repeats,
      baseline: base,
      judge_model: setup.judgeModel || null,
      concurrency,
      tools: simulation ?? undefined,
    };
    const start: ExperimentStart = {
      name: setup.name.trim() || slug,
      columns: columnLabels,
      rows: rowsOfRun,
      repeats: setup.repeats,
      baseline: base,
      assertions: setup.evaluators,
    };
    try {
      const p = await api.planExperiment(req);
      if (token !== planToken.current) return;
      setPlanning(false);
      setPlan(p);
      if (p.estimate_usd !== null && p.estimate_usd > p.confirm_above_usd) setConfirm({ req, start, plan: p });
      else launch(req, start);
    } catch (e) {
      if (token !== planToken.current) return;
      setPlanning(false);
      dispatch({ type: "error", message: errorMessage(e) });
    }
  }, [setup, slug, dsVersion, buildSets, baseline, concurrency, columnLabels, launch, simulation]);

  const start = useCallback(() => {
    if (running) return;
    if (!slug) return dispatch({ type: "error", message: "Pick a prompt first." });
    if (picked.length === 0) return dispatch({ type: "error", message: "Pick at least one model (2–8 to compare)." });
    if (experiment) {
      void startExperiment();
      return;
    }
    const sets = buildSets();
    if (typeof sets === "string") return dispatch({ type: "error", message: sets });
    if (typeof simulation === "string") return dispatch({ type: "error", message: simulation });
    dispatch({ type: "started" });
    setShown("compare");
    setPlan(null);
    setConfirm(null);
    run({ prompt: slug, version: versionSel ? Number(versionSel) : null, models: picked, variable_sets: sets, concurrency, tools: simulation ?? undefined });
  }, [running, slug, picked, experiment, startExperiment, buildSets, run, versionSel, concurrency, simulation]);

  const stop = useCallback(() => {
    if (planning) {
      // Nothing was called yet: forget the plan being made.
      planToken.current++;
      setPlanning(false);
      return;
    }
    if (expRunning) cancelExperiment();
    else if (compareRunning) cancel();
  }, [planning, expRunning, compareRunning, cancelExperiment, cancel]);

  // Rows shown (after filters), and "n": the next failing row.
  const shownRows = useMemo(() => filterRows(expState.rowInfo, filters), [expState.rowInfo, filters]);
  const jumpToFailing = useCallback(() => {
    if (shown !== "experiment") return;
    const pos = marked === null ? -1 : shownRows.indexOf(marked);
    const next = nextFailing(expState.rowInfo, shownRows, pos);
    if (next >= 0) setMarked(shownRows[next]);
  }, [shown, marked, shownRows, expState.rowInfo]);

  /** The screen is on show (screens stay mounted, hidden, when another is shown). */
  const onScreen = () => {
    const el = root.current;
    return el !== null && el.closest("[hidden]") === null;
  };
  useShortcuts({
    onRun: () => {
      if (onScreen()) start();
    },
  });
  const keys = useRef({ stop, jumpToFailing, running });
  useLayoutEffect(() => {
    keys.current = { stop, jumpToFailing, running };
  });
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const el = root.current;
      if (!el || el.closest("[hidden]") !== null || e.defaultPrevented) return;
      if (e.key === "Escape" && keys.current.running) {
        e.preventDefault();
        keys.current.stop();
      } else if (e.key === "n" && !e.ctrlKey && !e.metaKey && !e.altKey && !typing(e.target)) {
        e.preventDefault();
        keys.current.jumpToFailing();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

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

  const openCell = useCallback((c: CellRef) => setSelected(c), []);
  const figures = useMemo(() => columnFigures(expState), [expState]);

  const phase = shown === "experiment" ? expState.phase : state.phase;
  const statusText = planning
    ? "planning"
    : confirm
      ? "waiting for confirmation"
      : phase === "idle"
        ? ""
        : phase === "running"
          ? "running"
          : phase === "done"
            ? "done"
            : phase === "cancelled"
              ? "cancelled"
              : "error";
  const runError = shown === "experiment" ? (expState.phase === "error" ? expState.error : null) : state.phase === "error" ? state.error : null;
  const throttles = shown === "experiment" ? expState.throttles : state.throttles;
  const summaryGates = expState.experiment?.summary.gates ?? [];
  const detailAt = selected && expState.cells[selected.row] && selected.column < expState.columns.length ? selected : null;
  // Opening a cell shows its detail even when the panel was put away.
  const sideOpen = !sideHidden || (shown === "experiment" && detailAt !== null);

  return (
    <div className="compare" ref={root}>
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
            <ExtraVersions
              versions={versions.data ?? []}
              first={versionSel}
              picked={setup.extraVersions}
              onToggle={(sel) => dispatch({ type: "toggleExtraVersion", sel })}
            />
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
            <ErrorText error={prompts.error ?? version.error ?? versions.error} />
          </Section>
          <ModelPicker options={models.data ?? []} picked={picked} onToggle={toggleModel} error={models.error} />
          <Section
            title="Variable sets"
            className="var-sets"
            aside={
              setup.dataset ? undefined : (
                <div className="segmented" role="radiogroup" aria-label="Variable input">
                  <button type="button" role="radio" aria-checked={mode === "form"} className={mode === "form" ? "on" : ""} onClick={() => switchMode("form")}>
                    Form
                  </button>
                  <button
                    type="button"
                    role="radio"
                    aria-checked={mode === "jsonl"}
                    className={mode === "jsonl" ? "on" : ""}
                    data-testid="mode-jsonl"
                    onClick={() => switchMode("jsonl")}
                  >
                    JSONL
                  </button>
                </div>
              )
            }
          >
            <DatasetSelect
              datasets={datasets.data ?? []}
              dataset={setup.dataset}
              version={setup.datasetVersion}
              latest={dataset.loading ? null : (dataset.data?.latest_version ?? null)}
              onDataset={(name) => dispatch({ type: "dataset", name })}
              onVersion={(sel) => dispatch({ type: "datasetVersion", sel })}
            />
            <ErrorText error={datasets.error} />
            {setup.dataset ? (
              <DatasetPreview data={dataset.loading ? null : dataset.data} fields={fields} error={dataset.error} />
            ) : mode === "form" ? (
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
          {toolNames.length > 0 && (
            <ToolResultsPanel
              tools={toolNames}
              results={setup.toolResults}
              maxSteps={setup.maxToolSteps}
              onResult={(name, result) => dispatch({ type: "toolResult", name, result })}
              onMaxSteps={(value) => dispatch({ type: "maxToolSteps", value })}
            />
          )}
          <ExperimentOptions
            repeats={setup.repeats}
            baseline={baseline}
            columns={columnLabels}
            judgeModel={setup.judgeModel}
            models={models.data ?? []}
            gate={setup.gate}
            name={setup.name}
            placeholderName={slug || "the prompt's name"}
            onRepeats={(value) => dispatch({ type: "repeats", value })}
            onBaseline={(column) => dispatch({ type: "baseline", column })}
            onJudgeModel={(id) => dispatch({ type: "judgeModel", id })}
            onGate={(text) => dispatch({ type: "gate", text })}
            onName={(text) => dispatch({ type: "name", text })}
          />
          <div className="span-2">
            <EvaluatorsPanel
              evaluators={setup.evaluators}
              judgePrompts={judgePrompts}
              disabled={running}
              onAdd={(spec) => dispatch({ type: "addEvaluator", spec })}
              onRemove={(index) => dispatch({ type: "removeEvaluator", index })}
            />
          </div>
        </div>
        <div className="run-bar row gap wrap">
          <button type="button" className="btn btn-primary" data-testid="run-compare" disabled={running || confirm !== null} onClick={start}>
            {experiment ? "Run experiment" : "Run comparison"}
          </button>
          <Kbd>{modKey}+Enter</Kbd>
          {running && (
            <button type="button" className="btn btn-danger" data-testid="cancel-compare" onClick={stop} title="Stop (Escape): finished cells are kept">
              Cancel
            </button>
          )}
          <span className={`compare-status status-${planning ? "running" : phase}`} data-testid="compare-status" role="status">
            {statusText}
          </span>
          {shown === "compare" && state.phase !== "idle" && (
            <span className="muted small">
              {state.finished}/{totalCells(state)} cells
              {state.wallMs !== null ? ` in ${(state.wallMs / 1000).toFixed(2)} s` : ""}
            </span>
          )}
          {shown === "experiment" && expState.phase !== "idle" && (
            <span className="muted small" data-testid="experiment-progress">
              {expState.finished}/{totalExperimentCells(expState)} cells, {expState.checked} checked
              {expState.wallMs !== null ? ` in ${(expState.wallMs / 1000).toFixed(2)} s` : ""}
            </span>
          )}
          {plan && (
            <span className="small plan" data-testid="experiment-plan">
              {planText(plan)}
            </span>
          )}
          {!experiment && picked.length === 1 && <span className="muted small">Tip: pick 2–8 models to compare them side by side.</span>}
          {experiment && (
            <span className="muted small">
              {columnLabels.length} column{columnLabels.length === 1 ? "" : "s"}
              {setup.repeats > 1 ? ` × ${setup.repeats} repeats` : ""} · {setup.evaluators.length} evaluator{setup.evaluators.length === 1 ? "" : "s"}
            </span>
          )}
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
                if (id)
                  api.getCompareRun(id).then((r) => {
                    setShown("compare");
                    open(r);
                  }, () => undefined);
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
          <label className="inline-field" title="The side panel: experiment history, charts and a cell's detail">
            <input
              type="checkbox"
              data-testid="toggle-side-panel"
              checked={sideOpen}
              onChange={(e) => {
                setSideHidden(!e.target.checked);
                if (!e.target.checked) setSelected(null);
              }}
            />
            <span>History and charts</span>
          </label>
          {diffMode && shown === "compare" && (
            <select className="input select-small" aria-label="Baseline column" value={baseline} onChange={(e) => dispatch({ type: "baseline", column: Number(e.target.value) })}>
              {state.models.map((m, i) => (
                <option key={i} value={i}>
                  {m}
                </option>
              ))}
            </select>
          )}
        </div>
        {confirm && (
          <div className="banner banner-warn row gap wrap" data-testid="experiment-confirm-box" role="alertdialog" aria-label="Confirm the cost">
            <span className="grow">
              This run may cost up to <strong>{formatCost(confirm.plan.estimate_usd)}</strong>, above the {formatCost(confirm.plan.confirm_above_usd)} that
              asks for a confirmation. Run it?
            </span>
            <button
              type="button"
              className="btn btn-primary btn-small"
              data-testid="experiment-confirm"
              onClick={() => {
                const c = confirm;
                setConfirm(null);
                launch(c.req, c.start);
              }}
            >
              Run it
            </button>
            <button type="button" className="btn btn-small" data-testid="experiment-confirm-cancel" onClick={() => setConfirm(null)}>
              Don't run
            </button>
          </div>
        )}
        <ErrorText error={formError ?? runError} />
        {Object.values(throttles).map((t) => (
          <Banner key={t.provider} tone="warn">
            <span data-testid={`throttle-${t.provider}`}>
              <span className="mono">{t.provider}</span> answered 429 (rate limited): Portolan now sends it {t.limit} call{t.limit === 1 ? "" : "s"} at a
              time and paused new ones for {(t.pauseMs / 1000).toFixed(1)} s. Refused cells are queued again.
            </span>
          </Banner>
        ))}
      </div>
      <div className="compare-results">
        {shown === "experiment" && expState.phase !== "idle" && (
          <div className="results-bar row gap wrap">
            <strong className="ellipsis" title={expState.name}>
              {expState.name}
            </strong>
            <span className="muted small">Show only rows:</span>
            {(
              [
                ["failing", "filter-failing", "failing a check"],
                ["flaky", "filter-flaky", "flaky across repeats"],
                ["disagree", "filter-disagree", "where columns disagree"],
              ] as const
            ).map(([key, testId, label]) => (
              <label key={key} className="inline-field">
                <input type="checkbox" data-testid={testId} checked={filters[key]} onChange={(e) => setFilters((f) => ({ ...f, [key]: e.target.checked }))} />
                <span>{label}</span>
              </label>
            ))}
            <span className="muted small">
              <Kbd>n</Kbd> next failing row · <Kbd>Esc</Kbd> cancel
            </span>
            <span className="grow" />
            {expState.experiment && (
              <span className={`small ${expState.experiment.summary.passed ? "tone-ok" : "tone-error"}`} data-testid="experiment-gates">
                {summaryGates.length === 0
                  ? "No gates."
                  : expState.experiment.summary.passed
                    ? `Every gate holds (${summaryGates.length}).`
                    : `Gates failing: ${summaryGates
                        .filter((g) => !g.holds)
                        .map((g) => `column ${g.column + 1} ${g.subject} ${g.gate} (measured ${g.measured.toFixed(2)})`)
                        .join("; ")}`}
              </span>
            )}
          </div>
        )}
        <div className={`results-split${sideOpen ? "" : " no-side"}`}>
          <div className="results-main">
            {shown === "experiment" && expState.phase !== "idle" ? (
              <ExperimentGrid
                // Another run or one reopened from history starts at its first row.
                key={expState.runId}
                state={expState}
                figures={figures}
                shown={shownRows}
                marked={marked}
                diffMode={diffMode}
                selected={detailAt}
                onOpen={openCell}
              />
            ) : state.phase === "idle" || shown === "experiment" ? (
              <Empty title="No comparison yet">
                Pick a prompt, tick two or more models (the demo ones work without a key), fill in the variables and press Run ({modKey}+Enter). Add
                evaluators, versions, repeats or a dataset to run an experiment that scores every cell.
              </Empty>
            ) : (
              <CompareGrid state={state} rows={rows} totals={totals} diffMode={diffMode} baseline={baseline} feedback={feedback} onFeedback={vote} />
            )}
          </div>
          <div className="results-side" hidden={!sideOpen} data-testid="results-side">
            {shown === "experiment" && detailAt && (
              <CellDetail state={expState} at={detailAt} onRepeat={(repeat) => setSelected({ ...detailAt, repeat })} onClose={() => setSelected(null)} />
            )}
            {shown === "experiment" && expState.phase !== "idle" && <ExperimentCharts figures={figures} />}
            <ExperimentHistory
              refreshKey={historyKey}
              busy={running}
              onOpen={(e) => {
                setShown("experiment");
                setSelected(null);
                setMarked(null);
                setFilters(noFilters);
                openExperiment(e);
              }}
            />
          </div>
        </div>
      </div>
    </div>
  );
}
