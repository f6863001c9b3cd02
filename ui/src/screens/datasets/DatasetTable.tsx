import { memo, useRef, useState, type Dispatch } from "react";
import { ErrorText } from "../../components/ui";
import { api } from "../../lib/api";
import { useVirtualRows } from "../../hooks/useVirtualRows";
import { cellAt, EXPECTED, TAGS, variableNameError, type DatasetAction, type DatasetEditorState, type EditorRow } from "./datasetEditor";

/** Fixed row height (px) for windowing; the stylesheet gives `.dataset-row` the same. */
const ROW_H = 34;
const HEAD_H = 31;
const W_NUM = 48;
const W_VAR = 200;
const W_EXPECTED = 260;
const W_TAGS = 170;
const W_ACTIONS = 40;

interface Props {
  doc: DatasetEditorState;
  dispatch: Dispatch<DatasetAction>;
}

/**
 * The open dataset as a table: one column per variable, then `expected` and `tags`. Only the rows
 * in view are rendered, so a dataset of thousands of rows scrolls and types smoothly.
 */
export function DatasetTable({ doc, dispatch }: Props) {
  const scroller = useRef<HTMLDivElement>(null);
  const win = useVirtualRows(scroller, doc.rows.length, ROW_H, 10, HEAD_H);
  const [adding, setAdding] = useState(false);
  const [varName, setVarName] = useState("");
  const [varError, setVarError] = useState<string | null>(null);
  const { columns, readOnly } = doc;
  const width = W_NUM + columns.length * W_VAR + W_EXPECTED + W_TAGS + W_ACTIONS;
  const span = columns.length + 4;
  const invalid = doc.rows.reduce((n, r) => n + [...columns, EXPECTED].filter((c) => cellAt(r, c).error).length, 0);

  const addRow = () => {
    dispatch({ type: "addRow" });
    // Bring the new (last) row into view once it is rendered.
    requestAnimationFrame(() => {
      const el = scroller.current;
      if (el) el.scrollTop = el.scrollHeight;
    });
  };
  const addVariable = () => {
    const error = variableNameError(doc, varName);
    setVarError(error);
    if (error) return;
    dispatch({ type: "addVariable", name: varName });
    setVarName("");
    setAdding(false);
  };

  return (
    <div className="dataset-table-wrap">
      {!readOnly && (
        <div className="row gap wrap dataset-toolbar">
          <button type="button" className="btn btn-small" data-testid="dataset-add-row" onClick={addRow}>
            Add row
          </button>
          <button type="button" className="btn btn-small" data-testid="dataset-add-variable" onClick={() => setAdding((a) => !a)} aria-expanded={adding}>
            Add variable
          </button>
          {adding && (
            <form
              className="row gap"
              onSubmit={(e) => {
                e.preventDefault();
                addVariable();
              }}
            >
              <input
                className="input mono"
                data-testid="dataset-variable-name"
                aria-label="New variable name"
                placeholder="variable name"
                value={varName}
                autoFocus
                onChange={(e) => {
                  setVarName(e.target.value);
                  setVarError(null);
                }}
              />
              <button type="submit" className="btn btn-small btn-primary" data-testid="dataset-variable-add">
                Add
              </button>
            </form>
          )}
          <span className="muted small">
            Text cells stay text; cells shown as JSON (numbers, lists, objects) are read as JSON. Tags are separated by commas.
          </span>
        </div>
      )}
      <ErrorText error={varError} />
      <div className="dataset-scroller" ref={scroller}>
        <table className="dataset-table" style={{ width }} aria-label={`Rows of ${doc.name ?? "the dataset"}`} aria-rowcount={doc.rows.length + 1}>
          <colgroup>
            <col style={{ width: W_NUM }} />
            {columns.map((c) => (
              <col key={c} style={{ width: W_VAR }} />
            ))}
            <col style={{ width: W_EXPECTED }} />
            <col style={{ width: W_TAGS }} />
            <col style={{ width: W_ACTIONS }} />
          </colgroup>
          <thead>
            <tr style={{ height: HEAD_H }}>
              <th className="num">#</th>
              {columns.map((c) => (
                <th key={c} className="var-col" title={`Variable “${c}”`}>
                  <span className="mono ellipsis">{c}</span>
                  {!readOnly && (
                    <button type="button" className="btn-icon" aria-label={`Remove variable ${c}`} title="Remove this variable from every row" onClick={() => dispatch({ type: "removeVariable", name: c })}>
                      ✕
                    </button>
                  )}
                </th>
              ))}
              <th>{EXPECTED}</th>
              <th>{TAGS}</th>
              <th aria-label="Actions" />
            </tr>
          </thead>
          <tbody>
            {win.padTop > 0 && (
              <tr aria-hidden="true" style={{ height: win.padTop }}>
                <td colSpan={span} />
              </tr>
            )}
            {doc.rows.slice(win.start, win.end).map((r, k) => (
              <DataRow key={r.uid} index={win.start + k} row={r} columns={columns} readOnly={readOnly} dispatch={dispatch} />
            ))}
            {win.padBottom > 0 && (
              <tr aria-hidden="true" style={{ height: win.padBottom }}>
                <td colSpan={span} />
              </tr>
            )}
          </tbody>
        </table>
        {doc.rows.length === 0 && (
          <div className="muted pad">
            No rows yet. {readOnly ? "" : "Add a row, or import a .jsonl, .csv or promptfoo .yaml file."}
          </div>
        )}
      </div>
      {invalid > 0 && (
        <ErrorText error={`${invalid} cell${invalid === 1 ? " is" : "s are"} not valid JSON (marked in red; hover one for why). Fix ${invalid === 1 ? "it" : "them"} to save.`} />
      )}
    </div>
  );
}

interface RowProps {
  index: number;
  row: EditorRow;
  columns: string[];
  readOnly: boolean;
  dispatch: Dispatch<DatasetAction>;
}

const DataRow = memo(function DataRow({ index, row, columns, readOnly, dispatch }: RowProps) {
  const extras = [
    row.assert.length > 0 ? `${row.assert.length} assertion${row.assert.length === 1 ? "" : "s"}` : null,
    row.description ? `description “${row.description}”` : null,
  ].filter((x) => x !== null);
  return (
    <tr className="dataset-row" data-testid={`dataset-row-${index}`} style={{ height: ROW_H }}>
      <td className="num muted" title={extras.length ? `Also has ${extras.join(" and ")} (kept as they are)` : undefined}>
        {index + 1}
        {extras.length > 0 && <span aria-hidden="true">*</span>}
      </td>
      {[...columns, EXPECTED].map((c) => {
        const cell = cellAt(row, c);
        return (
          <td key={c} className="dataset-td">
            <textarea
              rows={1}
              spellCheck={false}
              className={`input dataset-cell ${cell.json ? "json mono" : ""} ${cell.error ? "invalid" : ""}`}
              data-testid={`dataset-cell-${index}-${c}`}
              aria-label={`Row ${index + 1} ${c}${cell.json ? " (JSON)" : ""}`}
              aria-invalid={cell.error ? true : undefined}
              title={cell.error ?? (cell.json ? "JSON value" : undefined)}
              readOnly={readOnly}
              value={cell.text}
              onChange={(e) => dispatch({ type: "editCell", row: index, column: c, text: e.target.value })}
              onBlur={() => dispatch({ type: "blurCell", row: index, column: c })}
            />
            {!readOnly && c !== EXPECTED && (
              <button
                type="button"
                className="btn-icon cell-file"
                aria-label={`Row ${index + 1} ${c}: choose an image file`}
                title="Choose an image file (for an image variable, ![…]({{name}}))"
                // Out of the tab order: Tab moves from cell to cell (a path can be typed too).
                tabIndex={-1}
                onClick={() => {
                  void api.pickFile(false, null, "image").then((path) => {
                    if (!path) return;
                    // Settled like a typed value when its cell is left.
                    dispatch({ type: "editCell", row: index, column: c, text: path });
                    dispatch({ type: "blurCell", row: index, column: c });
                  });
                }}
              >
                ⎘
              </button>
            )}
          </td>
        );
      })}
      <td>
        <input
          className="input dataset-cell"
          data-testid={`dataset-cell-${index}-${TAGS}`}
          aria-label={`Row ${index + 1} tags`}
          placeholder={readOnly ? "" : "tag, tag"}
          readOnly={readOnly}
          value={row.tags}
          onChange={(e) => dispatch({ type: "editTags", row: index, text: e.target.value })}
        />
      </td>
      <td className="actions">
        {!readOnly && (
          <button type="button" className="btn-icon" data-testid={`dataset-delete-row-${index}`} aria-label={`Delete row ${index + 1}`} title="Delete this row" onClick={() => dispatch({ type: "deleteRow", row: index })}>
            ✕
          </button>
        )}
      </td>
    </tr>
  );
});
