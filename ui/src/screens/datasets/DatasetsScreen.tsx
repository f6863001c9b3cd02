import { useCallback, useEffect, useMemo, useReducer, useRef, useState } from "react";
import type { DatasetSummary } from "../../bindings/DatasetSummary";
import type { Row } from "../../bindings/Row";
import { Banner, Empty, ErrorText } from "../../components/ui";
import { useAsync } from "../../hooks/useAsync";
import { api, errorMessage, onApiChange, toAppError } from "../../lib/api";
import { newDatasetNameError } from "../../lib/datasetNames";
import { formatRelative, formatTime } from "../../lib/format";
import { collectRows, datasetReducer, describeProblems, initialDatasetEditor } from "./datasetEditor";
import { DatasetTable } from "./DatasetTable";

type Status = { tone: "ok" | "muted" | "error"; text: string } | null;
/** Something that would throw away unsaved changes, waiting for the person to agree. */
type Pending = { label: string; run: () => void } | null;

const loadDatasets = () => api.listDatasets();

/** Rows read from a file, waiting to be put in the editor. */
interface Imported {
  path: string;
  rows: Row[];
}

/** A file error as the engine wrote it (it names file:line; nothing is rephrased). */
function fileError(e: unknown): string {
  return toAppError(e).message.trim() || errorMessage(e);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

export function DatasetsScreen({ active = true }: { active?: boolean }) {
  const list = useAsync(loadDatasets);
  const { reload: reloadList } = list;
  const datasets = useMemo(() => list.data ?? [], [list.data]);
  const names = useMemo(() => datasets.map((d) => d.name), [datasets]);

  const [doc, dispatch] = useReducer(datasetReducer, initialDatasetEditor);
  const [loading, setLoading] = useState<string | null>(null);
  const [status, setStatus] = useState<Status>(null);
  const [pending, setPending] = useState<Pending>(null);
  const [creating, setCreating] = useState(false);
  const [imported, setImported] = useState<Imported | null>(null);
  const [saveMessage, setSaveMessage] = useState("");
  const [busy, setBusy] = useState<"save" | "import" | "export" | null>(null);

  // A save anywhere (here, or rows added from the Logs screen) changes the list.
  useEffect(() => onApiChange((what) => what === "datasets" && reloadList()), [reloadList]);

  // Only the latest request to open a dataset may fill the editor; a refresh also gives way to
  // edits made while it was under way.
  const openSeq = useRef(0);
  const latestDoc = useRef(doc);
  useEffect(() => {
    latestDoc.current = doc;
  });
  const open = useCallback((name: string, version: number | null, refresh = false) => {
    const seq = ++openSeq.current;
    setLoading(name);
    api.getDataset(name, version).then(
      (d) => {
        if (seq !== openSeq.current) return;
        setLoading(null);
        if (refresh && latestDoc.current.dirty) return;
        dispatch({ type: "loaded", name: d.dataset.name, version: d.dataset.version, latest: d.latest_version, rows: d.dataset.rows });
      },
      (e: unknown) => {
        if (seq !== openSeq.current) return;
        setLoading(null);
        setStatus({ tone: "error", text: errorMessage(e) });
      },
    );
  }, []);

  // Shown again: versions saved elsewhere (rows added from the logs) appear, and the open dataset
  // follows its latest version unless it has changes of its own.
  const wasActive = useRef(active);
  useEffect(() => {
    if (active && !wasActive.current) {
      reloadList();
      const d = latestDoc.current;
      if (d.name && !d.isNew && !d.dirty && !d.readOnly) open(d.name, null, true);
    }
    wasActive.current = active;
  }, [active, reloadList, open]);

  /** Runs `run` now, or after the person agrees to drop the unsaved changes. */
  const guard = (label: string, run: () => void) => {
    if (doc.dirty) setPending({ label, run });
    else run();
  };

  const pick = (name: string, version: number | null) => {
    setStatus(null);
    setImported(null);
    open(name, version);
  };

  const startImport = async () => {
    setStatus(null);
    setBusy("import");
    try {
      const path = await api.pickFile(false, null);
      if (path === null) return;
      const rows = await api.readDatasetFile(path);
      setImported({ path, rows });
    } catch (e) {
      setImported(null);
      setStatus({ tone: "error", text: fileError(e) });
    } finally {
      setBusy(null);
    }
  };

  const exportRows = async () => {
    if (!doc.name || doc.isNew) return;
    setStatus(null);
    setBusy("export");
    try {
      const path = await api.pickFile(true, `${doc.name}.jsonl`);
      if (path === null) return;
      const n = await api.exportDataset(doc.name, doc.version, path);
      setStatus({ tone: "ok", text: `${plural(n, "row")} written to ${path}` });
    } catch (e) {
      setStatus({ tone: "error", text: errorMessage(e) });
    } finally {
      setBusy(null);
    }
  };

  const save = async () => {
    if (!doc.name || doc.readOnly || busy) return;
    const collected = collectRows(doc);
    if (collected.rows === null) {
      dispatch({ type: "validate" });
      setStatus({ tone: "error", text: describeProblems(collected.problems) });
      return;
    }
    if (collected.rows.length === 0) {
      setStatus({ tone: "error", text: "Add at least one row before saving: a dataset cannot be empty." });
      return;
    }
    const name = doc.name;
    const rows = collected.rows;
    setBusy("save");
    setStatus({ tone: "muted", text: "Saving…" });
    try {
      // A new dataset must not become the next version of one made meanwhile under its name.
      if (doc.isNew && (await api.listDatasets()).some((d) => d.name === name)) {
        setStatus({ tone: "error", text: `A dataset named “${name}” already exists (made meanwhile), so these rows were not saved.` });
        return;
      }
      const r = await api.saveDataset(name, rows, saveMessage.trim() || null);
      if (r.created) {
        dispatch({ type: "saved", version: r.version, rows });
        setStatus({ tone: "ok", text: `${name} version ${r.version} saved (${plural(r.rows, "row")})` });
      } else {
        dispatch({ type: "unchanged", version: r.version });
        setStatus({ tone: "muted", text: `${name} unchanged: same rows as version ${r.version}` });
      }
      setSaveMessage("");
    } catch (e) {
      setStatus({ tone: "error", text: errorMessage(e) });
    } finally {
      setBusy(null);
    }
  };

  const current = doc.name;
  const latest = doc.latest ?? 0;
  const versions = Array.from({ length: latest }, (_, i) => latest - i);

  return (
    <div className="datasets-layout">
      <aside className="sidebar">
        <div className="sidebar-head">
          <span className="grow muted small">{list.data ? plural(datasets.length, "dataset") : ""}</span>
          <button type="button" className="btn btn-primary" data-testid="dataset-new" onClick={() => setCreating((c) => !c)}>
            New dataset
          </button>
        </div>
        {creating && (
          <NewDatasetForm
            existing={names}
            onCreate={(name) =>
              guard(`create “${name}”`, () => {
                openSeq.current++;
                setCreating(false);
                setImported(null);
                setStatus({ tone: "muted", text: `${name} is new: add variables and rows, then save it.` });
                dispatch({ type: "created", name });
              })
            }
            onCancel={() => setCreating(false)}
          />
        )}
        <ErrorText error={list.error} />
        <ul className="prompt-list" aria-label="Datasets" data-testid="datasets-list">
          {datasets.map((d) => (
            <DatasetItem key={d.id} d={d} active={d.name === current} onClick={() => d.name !== current && guard(`open “${d.name}”`, () => pick(d.name, null))} />
          ))}
          {doc.isNew && doc.name && !names.includes(doc.name) && (
            <li>
              <div className="prompt-item active">
                <span className="prompt-item-top">
                  <span className="mono prompt-slug">{doc.name}</span>
                  <span className="muted small">not saved</span>
                </span>
              </div>
            </li>
          )}
        </ul>
        {!list.loading && datasets.length === 0 && !list.error && !doc.isNew && (
          <Empty title="No datasets yet">Create one, import a .jsonl, .csv or promptfoo .yaml file, or add calls from the Logs screen.</Empty>
        )}
      </aside>
      <div className="dataset-area">
        <div className="dataset-head row gap wrap">
          <h1 className="mono">{current ?? "Datasets"}</h1>
          {current && !doc.isNew && (
            <label className="inline-field">
              <span>Version</span>
              <select
                className="input"
                data-testid="dataset-version-select"
                value={doc.version ?? ""}
                onChange={(e) => {
                  const v = Number(e.target.value);
                  guard(`open version ${v}`, () => pick(current, v === doc.latest ? null : v));
                }}
              >
                {versions.map((v) => (
                  <option key={v} value={v}>
                    v{v}
                    {v === doc.latest ? " (latest)" : ""}
                  </option>
                ))}
              </select>
            </label>
          )}
          {current && (
            <span className="muted small">
              {plural(doc.rows.length, "row")}, {plural(doc.columns.length, "variable")}
            </span>
          )}
          {doc.dirty && (
            <span className="dirty-dot" data-testid="dataset-modified" title="Changes not saved yet">
              ● {doc.isNew ? "new, not saved" : "modified"}
            </span>
          )}
          {loading && <span className="muted small">Loading {loading}…</span>}
          <span className="grow" />
          <button type="button" className="btn" data-testid="dataset-import" disabled={busy !== null} onClick={() => void startImport()}>
            {busy === "import" ? "Reading…" : "Import…"}
          </button>
          <button
            type="button"
            className="btn"
            data-testid="dataset-export"
            disabled={!current || doc.isNew || busy !== null}
            title={current && !doc.isNew ? `Writes version ${doc.version} (as saved) to a .jsonl or .csv file` : "Save the dataset first"}
            onClick={() => void exportRows()}
          >
            Export…
          </button>
        </div>
        {pending && (
          <Banner tone="warn">
            <div className="row gap wrap">
              <span className="grow">
                {current} has unsaved changes. Discard them to {pending.label}?
              </span>
              <button
                type="button"
                className="btn btn-small btn-danger"
                data-testid="dataset-discard"
                onClick={() => {
                  const run = pending.run;
                  setPending(null);
                  run();
                }}
              >
                Discard changes
              </button>
              <button type="button" className="btn btn-small" onClick={() => setPending(null)}>
                Keep editing
              </button>
            </div>
          </Banner>
        )}
        {imported && (
          <ImportPanel
            imported={imported}
            open={current && !doc.readOnly ? current : null}
            existing={names}
            onCancel={() => setImported(null)}
            onConfirm={(choice) => {
              const n = imported.rows.length;
              if (choice.mode === "new") {
                const run = () => {
                  openSeq.current++;
                  setImported(null);
                  dispatch({ type: "importedNew", name: choice.name, rows: imported.rows });
                  setStatus({ tone: "muted", text: `${plural(n, "row")} imported into the new dataset ${choice.name}: save to keep them.` });
                };
                guard(`import into the new dataset “${choice.name}”`, run);
              } else {
                setImported(null);
                dispatch({ type: "imported", rows: imported.rows, mode: choice.mode });
                setStatus({
                  tone: "muted",
                  text: `${plural(n, "row")} ${choice.mode === "append" ? "appended" : "put in place of the rows"}: save to keep ${n === 1 ? "it" : "them"}.`,
                });
              }
            }}
          />
        )}
        {doc.readOnly && current && (
          <Banner>
            <div className="row gap wrap">
              <span className="grow">
                Version {doc.version} of {doc.latest} is read-only.
              </span>
              <button type="button" className="btn btn-small" data-testid="dataset-open-latest" onClick={() => pick(current, null)}>
                Open the latest
              </button>
              <button type="button" className="btn btn-small" data-testid="dataset-edit-from" onClick={() => dispatch({ type: "editFromHere" })}>
                Edit from this version
              </button>
            </div>
          </Banner>
        )}
        {status?.tone === "error" ? (
          <ErrorText error={status.text} testId="dataset-status" />
        ) : (
          <div className={`dataset-status tone-${status?.tone ?? "muted"}`} data-testid="dataset-status" role="status">
            {status?.text ?? ""}
          </div>
        )}
        {current ? (
          <>
            <DatasetTable key={current} doc={doc} dispatch={dispatch} />
            {!doc.readOnly && (
              <div className="row gap dataset-save-bar">
                <input
                  className="input grow"
                  data-testid="dataset-save-message"
                  aria-label="Save message"
                  placeholder="Describe the change (optional)"
                  value={saveMessage}
                  onChange={(e) => setSaveMessage(e.target.value)}
                  onKeyDown={(e) => {
                    if (e.key === "Enter") void save();
                  }}
                />
                <button type="button" className="btn btn-primary" data-testid="dataset-save" disabled={busy !== null} onClick={() => void save()}>
                  {busy === "save" ? "Saving…" : doc.isNew ? "Save dataset" : "Save version"}
                </button>
              </div>
            )}
          </>
        ) : (
          <Empty title="Pick a dataset">Select a dataset on the left, create a new one, or import a file.</Empty>
        )}
      </div>
    </div>
  );
}

function DatasetItem({ d, active, onClick }: { d: DatasetSummary; active: boolean; onClick: () => void }) {
  return (
    <li>
      <button type="button" className={`prompt-item ${active ? "active" : ""}`} data-testid={`dataset-item-${d.name}`} onClick={onClick}>
        <span className="prompt-item-top">
          <span className="mono prompt-slug">{d.name}</span>
          <span className="muted small">v{d.latest_version}</span>
        </span>
        <span className="prompt-desc" title={formatTime(d.updated_at)}>
          {plural(d.rows, "row")} · {formatRelative(d.updated_at)}
          {d.description ? ` · ${d.description}` : ""}
        </span>
      </button>
    </li>
  );
}

function NewDatasetForm({ existing, onCreate, onCancel }: { existing: string[]; onCreate: (name: string) => void; onCancel: () => void }) {
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  return (
    <form
      className="new-prompt"
      onSubmit={(e) => {
        e.preventDefault();
        const problem = newDatasetNameError(name, existing);
        setError(problem);
        if (!problem) onCreate(name.trim());
      }}
    >
      <label className="field">
        <span>Name</span>
        <input
          className="input mono"
          data-testid="dataset-new-name"
          placeholder="support-tickets"
          value={name}
          autoFocus
          onChange={(e) => {
            setName(e.target.value);
            setError(null);
          }}
        />
      </label>
      <div className="row gap">
        <button type="submit" className="btn btn-primary" data-testid="dataset-create">
          Create
        </button>
        <button type="button" className="btn" onClick={onCancel}>
          Cancel
        </button>
      </div>
      <div className="muted small">Opens an empty table; the dataset is stored when you save it.</div>
      <ErrorText error={error} />
    </form>
  );
}

type ImportChoice = { mode: "append" | "replace" } | { mode: "new"; name: string };

function ImportPanel({
  imported,
  open,
  existing,
  onConfirm,
  onCancel,
}: {
  imported: Imported;
  /** The dataset open for editing, which the rows can go into. */
  open: string | null;
  existing: string[];
  onConfirm: (choice: ImportChoice) => void;
  onCancel: () => void;
}) {
  const [mode, setMode] = useState<"append" | "replace" | "new">(open ? "append" : "new");
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const n = imported.rows.length;
  const confirm = () => {
    if (mode !== "new") {
      onConfirm({ mode });
      return;
    }
    const problem = newDatasetNameError(name, existing);
    setError(problem);
    if (!problem) onConfirm({ mode, name: name.trim() });
  };
  return (
    <form
      className="panel import-panel"
      aria-label="Import rows"
      onSubmit={(e) => {
        e.preventDefault();
        confirm();
      }}
    >
      <div>
        Read {plural(n, "row")} from <span className="mono">{imported.path}</span>. Put them:
      </div>
      {open && (
        <>
          <label className="inline-field">
            <input type="radio" name="import-mode" data-testid="dataset-import-append" checked={mode === "append"} onChange={() => setMode("append")} />
            after the rows of <span className="mono">{open}</span>
          </label>
          <label className="inline-field">
            <input type="radio" name="import-mode" data-testid="dataset-import-replace" checked={mode === "replace"} onChange={() => setMode("replace")} />
            in place of the rows of <span className="mono">{open}</span>
          </label>
        </>
      )}
      <label className="inline-field">
        <input type="radio" name="import-mode" data-testid="dataset-import-new" checked={mode === "new"} onChange={() => setMode("new")} />
        in a new dataset named
        <input
          className="input mono"
          data-testid="dataset-import-name"
          aria-label="New dataset name"
          placeholder="support-tickets"
          value={name}
          onFocus={() => setMode("new")}
          onChange={(e) => {
            setMode("new");
            setName(e.target.value);
            setError(null);
          }}
        />
      </label>
      <ErrorText error={error} />
      <div className="row gap">
        <button type="submit" className="btn btn-primary" data-testid="dataset-import-confirm">
          Import {plural(n, "row")}
        </button>
        <button type="button" className="btn" onClick={onCancel}>
          Cancel
        </button>
        <span className="muted small">Nothing is stored until you save.</span>
      </div>
    </form>
  );
}
