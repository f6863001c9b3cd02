import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { useResource } from "../../lib/resources";
import { Empty, ErrorText } from "../../components/ui";
import { useAsync } from "../../hooks/useAsync";
import { useVirtualRows } from "../../hooks/useVirtualRows";
import { api, type Log } from "../../lib/api";
import { formatCost, formatLatency, formatTime, formatTokens } from "../../lib/format";
import { emptyFilter, filterLogs, modelsIn, tagsOf, type LogFilter, type StatusFilter } from "../../lib/logFilter";
import { AddToDatasetPanel } from "./AddToDataset";
import { CostChart, LatencyChart } from "./Charts";
import { LogDetailPane } from "./LogDetailPane";

const ROW_H = 28;
const LIMIT = 2000;
const loadCost = () => api.costByDay(30);
const loadLatency = () => api.latencyByModel(30);

export function LogsScreen({ active = true }: { active?: boolean }) {
  const [filter, setFilter] = useState<LogFilter>(emptyFilter);
  const [serverSearch, setServerSearch] = useState("");
  const [selected, setSelected] = useState<string | null>(null);
  /** Calls ticked to be added to a dataset (by id, so filtering keeps them). */
  const [picked, setPicked] = useState<ReadonlySet<string>>(() => new Set());
  const [adding, setAdding] = useState(false);

  // Search text also goes to the engine (debounced) so older calls beyond the window are found.
  useEffect(() => {
    const t = window.setTimeout(() => setServerSearch(filter.search.trim()), 300);
    return () => window.clearTimeout(t);
  }, [filter.search]);

  const logs = useAsync(
    useCallback(
      () => api.listLogs({ limit: LIMIT, model: filter.model || null, status: null, search: serverSearch || null, prompt_id: null }),
      [filter.model, serverSearch],
    ),
  );
  const prompts = useResource("prompts");
  const cost = useAsync(loadCost);
  const latency = useAsync(loadLatency);
  // The models offered in the filter: those of the last unfiltered list (a filtered one would
  // offer only the model picked).
  const [knownModels, setKnownModels] = useState<string[]>([]);
  const [modelsFrom, setModelsFrom] = useState<Log[] | null>(null);
  if (logs.data && logs.data !== modelsFrom && !filter.model) {
    setModelsFrom(logs.data);
    setKnownModels(modelsIn(logs.data));
  }

  const names = useMemo(() => new Map((prompts.data ?? []).map((p) => [p.id, p.slug] as const)), [prompts.data]);
  const rows = useMemo(() => filterLogs(logs.data ?? [], filter, (id) => names.get(id)), [logs.data, filter, names]);

  const { reload: reloadLogs } = logs;
  const { reload: reloadCost } = cost;
  const { reload: reloadLatency } = latency;
  const refresh = useCallback(() => {
    reloadLogs();
    reloadCost();
    reloadLatency();
  }, [reloadLogs, reloadCost, reloadLatency]);
  // Calls made while the screen was hidden show up when it is shown again.
  const wasActive = useRef(active);
  useEffect(() => {
    if (active && !wasActive.current) refresh();
    wasActive.current = active;
  }, [active, refresh]);

  // The ticked calls still listed, in list order.
  const pickedIds = useMemo(() => rows.filter((r) => picked.has(r.id)).map((r) => r.id), [rows, picked]);
  const allPicked = rows.length > 0 && pickedIds.length === rows.length;
  const togglePick = useCallback((id: string) => {
    setPicked((p) => {
      const next = new Set(p);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  }, []);

  const scroller = useRef<HTMLDivElement>(null);
  const win = useVirtualRows(scroller, rows.length, ROW_H, 8);
  const set = (patch: Partial<LogFilter>) => setFilter((f) => ({ ...f, ...patch }));

  return (
    <div className="logs">
      <div className="charts">
        <CostChart data={cost.data ?? []} />
        <LatencyChart data={latency.data ?? []} />
      </div>
      <div className="filters row gap wrap">
        <label className="inline-field">
          <span>Model</span>
          <select className="input" value={filter.model} onChange={(e) => set({ model: e.target.value })} data-testid="log-filter-model">
            <option value="">All models</option>
            {knownModels.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        </label>
        <label className="inline-field">
          <span>Status</span>
          <select className="input" value={filter.status} onChange={(e) => set({ status: e.target.value as StatusFilter })} data-testid="log-filter-status">
            <option value="all">All</option>
            <option value="ok">Succeeded</option>
            <option value="error">Failed</option>
            <option value="cached">Cache hits</option>
          </select>
        </label>
        <input
          type="search"
          className="input grow"
          placeholder="Search trace id, prompt, model, error, tags…"
          aria-label="Search logs"
          value={filter.search}
          data-testid="log-filter-search"
          onChange={(e) => set({ search: e.target.value })}
        />
        <span className="muted small">
          {rows.length} call{rows.length === 1 ? "" : "s"}
        </span>
        <button type="button" className="btn" onClick={refresh}>
          Refresh
        </button>
      </div>
      {pickedIds.length > 0 && (
        <div className="row gap wrap log-picked">
          <span className="small">{pickedIds.length} selected</span>
          <button type="button" className="btn btn-small" data-testid="log-add-to-dataset" aria-expanded={adding} onClick={() => setAdding((a) => !a)}>
            Add to dataset…
          </button>
          <button
            type="button"
            className="btn btn-small btn-ghost"
            onClick={() => {
              setPicked(new Set());
              setAdding(false);
            }}
          >
            Clear selection
          </button>
        </div>
      )}
      {adding && <AddToDatasetPanel ids={pickedIds} onAdded={() => setPicked(new Set())} onClose={() => setAdding(false)} />}
      <ErrorText error={logs.error} />
      <div className="logs-split">
        <div className="log-table" role="table" aria-label="Calls" aria-rowcount={rows.length}>
          <div className="log-row log-head" role="row">
            <span role="columnheader">
              <input
                type="checkbox"
                data-testid="log-select-all"
                aria-label={allPicked ? "Unselect all calls shown" : "Select all calls shown"}
                checked={allPicked}
                disabled={rows.length === 0}
                onChange={() => setPicked(allPicked ? new Set() : new Set(rows.map((r) => r.id)))}
              />
            </span>
            {["Time", "Prompt", "Model", "Status", "Latency", "Tokens", "Cost", "Cache", "Trace", "Tags"].map((h) => (
              <span key={h} role="columnheader">
                {h}
              </span>
            ))}
          </div>
          <div className="log-scroller" ref={scroller}>
            {rows.length === 0 && !logs.loading && (
              <Empty title="No calls logged">Run a comparison or call the gateway; every model call shows up here.</Empty>
            )}
            <div style={{ height: win.padTop }} />
            {rows.slice(win.start, win.end).map((r, k) => (
              <LogTableRow
                key={r.id}
                index={win.start + k}
                row={r}
                prompt={r.prompt_id ? names.get(r.prompt_id) : undefined}
                active={selected === r.id}
                picked={picked.has(r.id)}
                onClick={() => setSelected(r.id)}
                onPick={togglePick}
              />
            ))}
            <div style={{ height: win.padBottom }} />
          </div>
        </div>
        <LogDetailPane id={selected} promptName={(id) => names.get(id)} onClose={() => setSelected(null)} />
      </div>
    </div>
  );
}

function LogTableRow({
  index,
  row,
  prompt,
  active,
  picked,
  onClick,
  onPick,
}: {
  index: number;
  row: Log;
  prompt: string | undefined;
  active: boolean;
  picked: boolean;
  onClick: () => void;
  onPick: (id: string) => void;
}) {
  const tags = tagsOf(row).join(" ");
  return (
    <div
      className={`log-row ${active ? "active" : ""} ${row.success ? "" : "failed"}`}
      role="row"
      tabIndex={0}
      data-testid={`log-row-${index}`}
      aria-selected={active}
      onClick={onClick}
      onKeyDown={(e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          onClick();
        }
      }}
    >
      {/* Ticking a call selects it for a dataset; it does not open the call's detail. */}
      <span onClick={(e) => e.stopPropagation()} onKeyDown={(e) => e.stopPropagation()}>
        <input
          type="checkbox"
          data-testid={`log-select-${index}`}
          aria-label={`Select call ${row.trace_id}`}
          checked={picked}
          onChange={() => onPick(row.id)}
        />
      </span>
      <span className="mono" title={formatTime(row.created_at)}>
        {formatTime(row.created_at).slice(5)}
      </span>
      <span className="mono ellipsis" title={prompt ?? row.prompt_id ?? ""}>
        {prompt ?? row.prompt_id ?? "—"}
        {row.prompt_version !== null ? <span className="muted">@{row.prompt_version}</span> : null}
      </span>
      <span className="mono ellipsis" title={row.model ?? ""}>
        {row.model ?? "—"}
      </span>
      <span className={`status ${row.success ? "status-done" : "status-error"}`} title={row.error ?? ""}>
        {row.status}
        {row.retry_count > 0 ? ` ↻${row.retry_count}` : ""}
      </span>
      <span>{formatLatency(row.latency_ms)}</span>
      <span>
        {formatTokens(row.prompt_tokens)}→{formatTokens(row.completion_tokens)}
      </span>
      <span>
        {row.cost_usd !== null ? (
          formatCost(row.cost_usd)
        ) : !row.success && row.completion_tokens === null ? (
          <span className="muted" title="No answer, so no tokens to price">
            —
          </span>
        ) : (
          <span className="muted" title="This model's price is not in the price table">
            unknown
          </span>
        )}
      </span>
      <span className={`cache cache-${row.cache_status.toLowerCase()}`}>{row.cache_status.toLowerCase()}</span>
      <span className="mono ellipsis" title={row.trace_id}>
        {row.trace_id}
      </span>
      <span className="ellipsis muted" title={tags}>
        {tags}
      </span>
    </div>
  );
}
