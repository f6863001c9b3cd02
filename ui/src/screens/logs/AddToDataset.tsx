import { useEffect, useState } from "react";
import type { DatasetSummary } from "../../bindings/DatasetSummary";
import { ErrorText } from "../../components/ui";
import { api, errorMessage } from "../../lib/api";
import { datasetNameError } from "../../lib/datasetNames";

interface Props {
  /** Call ids, in the order they are listed. */
  ids: string[];
  /** The rows were saved: the selection has done its job. */
  onAdded: () => void;
  onClose: () => void;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/**
 * Adds the selected calls to a dataset as rows (their variables and, when asked, their answers as
 * the expected output): appended to an existing dataset as its next version, or as a new one.
 */
export function AddToDatasetPanel({ ids, onAdded, onClose }: Props) {
  const [datasets, setDatasets] = useState<DatasetSummary[] | null>(null);
  const [name, setName] = useState("");
  const [withAnswers, setWithAnswers] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    api.listDatasets().then(
      (list) => live && setDatasets(list),
      (e: unknown) => live && setError(errorMessage(e)),
    );
    return () => {
      live = false;
    };
  }, []);

  const add = async () => {
    const target = name.trim();
    const problem = datasetNameError(target);
    setError(problem);
    setDone(null);
    if (problem || ids.length === 0) return;
    setBusy(true);
    try {
      const rows = await api.rowsFromCalls(ids, withAnswers);
      // Asked afresh, so rows are never saved over a dataset made since the panel opened.
      const list = await api.listDatasets();
      setDatasets(list);
      const existing = list.some((d) => d.name === target) ? (await api.getDataset(target, null)).dataset.rows : [];
      const r = await api.saveDataset(target, [...existing, ...rows], `${plural(rows.length, "row")} from the logs`);
      const skipped = ids.length - rows.length;
      setDone(
        (r.created ? `dataset ${r.name} version ${r.version}: +${plural(rows.length, "row")}` : `dataset ${r.name} unchanged (version ${r.version})`) +
          (skipped > 0 ? ` (${plural(skipped, "selected call")} had no variables and ${skipped === 1 ? "was" : "were"} left out)` : ""),
      );
      onAdded();
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      className="panel add-to-dataset row gap wrap"
      aria-label="Add the selected calls to a dataset"
      onSubmit={(e) => {
        e.preventDefault();
        void add();
      }}
    >
      <span className="muted small">{ids.length > 0 ? `Add ${plural(ids.length, "call")} to` : "Tick calls in the list, then add them to"}</span>
      <input
        className="input mono"
        data-testid="log-dataset-name"
        aria-label="Dataset name"
        placeholder="dataset name (existing or new)"
        list="log-dataset-names"
        value={name}
        autoFocus
        onChange={(e) => {
          setName(e.target.value);
          setError(null);
        }}
      />
      <datalist id="log-dataset-names">
        {(datasets ?? []).map((d) => (
          <option key={d.id} value={d.name}>
            {`v${d.latest_version}, ${plural(d.rows, "row")}`}
          </option>
        ))}
      </datalist>
      <span className="muted small">
        {name.trim() && datasets ? (datasets.some((d) => d.name === name.trim()) ? "appends a version" : "creates the dataset") : ""}
      </span>
      <label className="inline-field">
        <input type="checkbox" data-testid="log-with-answers" checked={withAnswers} onChange={(e) => setWithAnswers(e.target.checked)} />
        with their answers as expected output
      </label>
      <button type="submit" className="btn btn-primary btn-small" data-testid="log-dataset-add" disabled={busy || ids.length === 0}>
        {busy ? "Adding…" : "Add"}
      </button>
      <button type="button" className="btn btn-small" onClick={onClose}>
        Close
      </button>
      <div className="add-to-dataset-result">
        <ErrorText error={error} testId="log-dataset-error" />
        {done && (
          <div className="tone-ok small" data-testid="log-dataset-status" role="status">
            {done}
          </div>
        )}
      </div>
    </form>
  );
}
