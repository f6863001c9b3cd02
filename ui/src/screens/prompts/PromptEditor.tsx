import { useCallback, useEffect, useMemo, useReducer, useRef, useState } from "react";
import type { PromptDraft } from "../../bindings/PromptDraft";
import type { VariableDto } from "../../bindings/VariableDto";
import { CodeEditor } from "../../components/CodeEditor";
import { ErrorText, Kbd, Section, modKey } from "../../components/ui";
import { useShortcuts } from "../../hooks/useShortcuts";
import { api, errorMessage, toAppError, type Version } from "../../lib/api";
import { buildVariableFields, collectValues } from "../../lib/variables";
import { DiffPanel } from "./DiffPanel";
import { appendImage, holdsImages, imageVariables, readTools } from "../../lib/tools";
import { callIdsBefore, fromDraft, newMessage, ROLES, toDraft, type EditorDraft, type EditorMessage } from "./draft";
import { MessageImages, readDroppedImage, ToolCallsEditor } from "./MessageExtras";
import { ToolsPanel } from "./ToolsPanel";
import { editorReducer, initialEditor, type PreviewState } from "./editorState";
import { PreviewPane } from "./PreviewPane";
import { VariablesForm } from "./VariablesForm";
import { VersionTimeline } from "./VersionTimeline";

interface Props {
  slug: string;
  onSaved: () => void;
}

/** Every version of `slug`, newest first, and a way to fetch them again after a change. */
function useVersions(slug: string, onError: (message: string) => void) {
  const [versions, setVersions] = useState<Version[]>([]);
  const refresh = useCallback(() => {
    api.listVersions(slug).then(setVersions, (e: unknown) => onError(errorMessage(e)));
  }, [slug, onError]);
  return { versions, refresh };
}

/**
 * Renders the unsaved draft with the variables form's values (debounced) into `setState`; the
 * returned function renders again at once. The state lives with the caller because the preview's
 * answer (which variables the draft uses) shapes the form whose values it renders.
 */
function usePreview(
  slug: string,
  draft: PromptDraft | null,
  values: Record<string, unknown>,
  setState: (update: (s: PreviewState) => PreviewState) => void,
) {
  const [tick, setTick] = useState(0);
  const seq = useRef(0);
  useEffect(() => {
    if (!draft) return;
    const id = ++seq.current;
    const t = window.setTimeout(() => {
      api.preview(slug, draft, values).then(
        (preview) => id === seq.current && setState(() => ({ preview, error: null })),
        (e: unknown) => id === seq.current && setState((s) => ({ ...s, error: toAppError(e) })),
      );
    }, 300);
    return () => window.clearTimeout(t);
  }, [slug, draft, values, tick, setState]);
  return useCallback(() => setTick((t) => t + 1), []);
}

export function PromptEditor({ slug, onSaved }: Props) {
  const [doc, dispatch] = useReducer(editorReducer, initialEditor);
  const { loaded, loadError, draft, loadKey, commitMessage, saveStatus, saving } = doc;
  const [varInputs, setVarInputs] = useState<Record<string, string>>({});
  /** Bumped when a message's text changes outside its editor (an image added), to reload it. */
  const [revs, setRevs] = useState<Record<number, number>>({});
  const [dropTarget, setDropTarget] = useState<number | null>(null);
  const [imageError, setImageError] = useState<string | null>(null);
  const loadFailed = useCallback((message: string) => dispatch({ type: "loadFailed", message }), []);
  const { versions, refresh: refreshVersions } = useVersions(slug, loadFailed);

  useEffect(() => {
    let live = true;
    api.getVersion(slug, null).then(
      (version) => live && dispatch({ type: "loaded", version }),
      (e: unknown) => live && loadFailed(errorMessage(e)),
    );
    refreshVersions();
    return () => {
      live = false;
    };
  }, [slug, loadFailed, refreshVersions]);

  const promptDraft = useMemo(() => (draft ? toDraft(draft) : null), [draft]);
  const dirty = useMemo(
    () => !!loaded && !!promptDraft && JSON.stringify(promptDraft) !== JSON.stringify(toDraft(fromDraft(loaded.draft))),
    [loaded, promptDraft],
  );

  // The preview's answer says which variables the draft uses now; until it comes, the loaded
  // version's list stands in.
  const [preview, setPreview] = useState<PreviewState>({ preview: null, error: null });
  const previewUsed = preview.preview?.variables_used;
  const loadedUsed = loaded?.variables_used;
  const fields = useMemo(
    () => buildVariableFields(previewUsed ?? loadedUsed ?? [], draft?.variables ?? []),
    [previewUsed, loadedUsed, draft?.variables],
  );
  const collected = useMemo(() => collectValues(fields, varInputs), [fields, varInputs]);
  const previewAgain = usePreview(slug, promptDraft, collected.values, setPreview);

  const save = useCallback(async () => {
    if (!promptDraft || saving) return;
    dispatch({ type: "saving" });
    try {
      const r = await api.savePrompt(slug, promptDraft, commitMessage.trim() || null);
      if (r.created) {
        dispatch({ type: "saved", version: await api.getVersion(slug, r.version) });
        onSaved();
      } else {
        dispatch({ type: "unchanged" });
      }
      refreshVersions();
    } catch (e) {
      dispatch({ type: "saveFailed", message: errorMessage(e) });
    }
  }, [promptDraft, saving, slug, commitMessage, onSaved, refreshVersions]);

  useShortcuts({ onSave: () => void save(), onRun: previewAgain });
  // Read from the draft once per edit, not on every render (a keystroke in the variables form).
  const paramsJson = draft?.params_json;
  const messages = draft?.messages;
  const toolNames = useMemo(() => (paramsJson === undefined ? [] : readTools(paramsJson).tools.map((t) => t.name)), [paramsJson]);
  const imageVars = useMemo(() => imageVariables(messages ?? []), [messages]);

  if (loadError && !draft) return <ErrorText error={loadError} />;
  if (!draft || !loaded) return <div className="muted pad">Loading {slug}…</div>;

  const update = (patch: Partial<EditorDraft>) => dispatch({ type: "edit", patch });
  const setMessage = (uid: number, patch: Partial<Omit<EditorMessage, "uid">>) => dispatch({ type: "editMessage", uid, patch });
  /** A message's text replaced from outside its editor (images added or removed). */
  const replaceText = (uid: number, content: string) => {
    setMessage(uid, { content });
    setRevs((r) => ({ ...r, [uid]: (r[uid] ?? 0) + 1 }));
  };
  const partials = [...loaded.partials];
  const onDrop = async (m: EditorMessage, files: FileList) => {
    setDropTarget(null);
    if (!holdsImages(m.role)) {
      setImageError(`Images go in user messages: providers take images from the user only (message ${draft.messages.indexOf(m) + 1} is ${m.role}).`);
      return;
    }
    let content = m.content;
    try {
      for (const file of Array.from(files)) content = appendImage(content, file.name, await readDroppedImage(file));
      setImageError(null);
    } catch (e) {
      // As is: the sentence starts with the file's name.
      setImageError(toAppError(e).message);
    }
    if (content !== m.content) replaceText(m.uid, content);
  };

  return (
    <div className="editor">
      <div className="editor-title">
        <h1 className="mono">{slug}</h1>
        <span className="muted">
          editing from v{loaded.version}
          {loaded.version !== loaded.latest_version ? ` (latest is v${loaded.latest_version})` : ""}
        </span>
        {loaded.labels.map((l) => (
          <span key={l} className="label-chip">
            {l}
          </span>
        ))}
        {dirty && <span className="dirty-dot" title="Unsaved changes">● unsaved</span>}
      </div>
      <div className="editor-grid">
        <div className="editor-col">
          <Section
            title="Messages"
            bodyClassName="messages"
            aside={
              <div className="panel-actions">
                <button
                  type="button"
                  className="btn btn-small"
                  onClick={() => update({ messages: [...draft.messages, newMessage("user")] })}
                >
                  Add message
                </button>
              </div>
            }
          >
            <ErrorText error={imageError} />
            {draft.messages.map((m, i) => (
              <div
                key={m.uid}
                className={`message${dropTarget === m.uid ? " drop-target" : ""}`}
                data-testid={`message-${i}`}
                onDragOver={(e) => {
                  if (!e.dataTransfer.types.includes("Files")) return;
                  e.preventDefault();
                  setDropTarget(m.uid);
                }}
                onDragLeave={() => setDropTarget((t) => (t === m.uid ? null : t))}
                onDrop={(e) => {
                  if (e.dataTransfer.files.length === 0) return;
                  e.preventDefault();
                  void onDrop(m, e.dataTransfer.files);
                }}
              >
                <div className="message-head">
                  <select
                    className="input select-small"
                    aria-label={`Role of message ${i + 1}`}
                    value={m.role}
                    onChange={(e) => setMessage(m.uid, { role: e.target.value })}
                  >
                    {ROLES.map((r) => (
                      <option key={r} value={r}>
                        {r}
                      </option>
                    ))}
                  </select>
                  {m.role === "tool" && (
                    <input
                      className="input mono select-small"
                      aria-label={`Message ${i + 1} answers call`}
                      placeholder="call id"
                      list={`call-ids-${m.uid}`}
                      value={m.tool_call_id}
                      onChange={(e) => setMessage(m.uid, { tool_call_id: e.target.value })}
                    />
                  )}
                  {m.role === "tool" && (
                    <datalist id={`call-ids-${m.uid}`}>
                      {callIdsBefore(draft.messages, m.uid).map((id) => (
                        <option key={id} value={id} />
                      ))}
                    </datalist>
                  )}
                  <span className="muted small">message {i + 1}</span>
                  <button
                    type="button"
                    className="btn btn-small btn-ghost"
                    aria-label={`Remove message ${i + 1}`}
                    disabled={draft.messages.length <= 1}
                    onClick={() => update({ messages: draft.messages.filter((x) => x.uid !== m.uid) })}
                  >
                    Remove
                  </button>
                </div>
                <CodeEditor
                  key={`${loadKey}-${m.uid}-${revs[m.uid] ?? 0}`}
                  testId={`message-editor-${i}`}
                  initial={m.content}
                  onChange={(content) => setMessage(m.uid, { content })}
                  variables={fields.map((f) => f.name)}
                  partials={partials}
                  ariaLabel={`Message ${i + 1} (${m.role}) template`}
                  placeholder="Type the template; {{name}} inserts a variable"
                />
                {holdsImages(m.role) && (
                  <MessageImages index={i} content={m.content} onChange={(c) => replaceText(m.uid, c)} onError={setImageError} />
                )}
                {m.role === "assistant" && (
                  <ToolCallsEditor index={i} calls={m.tool_calls} toolNames={toolNames} onChange={(tool_calls) => setMessage(m.uid, { tool_calls })} />
                )}
              </div>
            ))}
          </Section>
          <SettingsPanel draft={draft} update={update} />
          <ToolsPanel paramsJson={draft.params_json} onChange={(params_json) => update({ params_json })} />
          <DeclaredVariables variables={draft.variables} onChange={(variables) => update({ variables })} />
          <section className="panel save-bar">
            <div className="row gap wrap">
              <input
                className="input grow"
                data-testid="commit-message"
                aria-label="Commit message"
                placeholder="Describe the change (commit message)"
                value={commitMessage}
                onChange={(e) => dispatch({ type: "commitMessage", text: e.target.value })}
                onKeyDown={(e) => {
                  if (e.key === "Enter") void save();
                }}
              />
              <button type="button" className="btn btn-primary" data-testid="save-version" disabled={saving} onClick={() => void save()}>
                Save version
              </button>
              <Kbd>{modKey}+S</Kbd>
            </div>
            <div className={`save-status tone-${saveStatus?.tone ?? "muted"}`} data-testid="save-status" role="status">
              {saveStatus?.text ?? ""}
            </div>
          </section>
        </div>
        <div className="editor-col">
          <VariablesForm
            fields={fields}
            imageVariables={imageVars}
            inputs={varInputs}
            errors={collected.errors}
            onChange={(name, value) => setVarInputs((v) => ({ ...v, [name]: value }))}
          />
          <PreviewPane preview={preview.preview} error={preview.error} />
        </div>
      </div>
      <div className="editor-grid history">
        <VersionTimeline
          slug={slug}
          versions={versions}
          current={loaded.version}
          onOpen={(version) => dispatch({ type: "opened", version })}
          onLabelSet={() => {
            refreshVersions();
            onSaved();
          }}
        />
        <DiffPanel slug={slug} versions={versions} />
      </div>
    </div>
  );
}

function SettingsPanel({ draft, update }: { draft: EditorDraft; update: (p: Partial<EditorDraft>) => void }) {
  const paramsError = useMemo(() => {
    const t = draft.params_json.trim();
    if (t === "") return null;
    try {
      const v: unknown = JSON.parse(t);
      return typeof v === "object" && v !== null && !Array.isArray(v) ? null : "Parameters must be a JSON object.";
    } catch (e) {
      return `Parameters are not valid JSON: ${e instanceof Error ? e.message : ""}`;
    }
  }, [draft.params_json]);
  return (
    <Section title="Settings" bodyClassName="settings">
      <label className="field">
        <span>Model</span>
        <input
          className="input mono"
          placeholder="demo/small, gpt-4o-mini, @my-key/model"
          value={draft.model}
          onChange={(e) => update({ model: e.target.value })}
        />
      </label>
      <label className="field">
        <span>Description</span>
        <input className="input" placeholder="What this prompt does" value={draft.description} onChange={(e) => update({ description: e.target.value })} />
      </label>
      <label className="field span-2">
        <span>Parameters (JSON)</span>
        <textarea
          className="input mono"
          rows={3}
          spellCheck={false}
          value={draft.params_json}
          onChange={(e) => update({ params_json: e.target.value })}
        />
      </label>
      <ErrorText error={paramsError} />
    </Section>
  );
}

function DeclaredVariables({ variables, onChange }: { variables: VariableDto[]; onChange: (v: VariableDto[]) => void }) {
  const set = (i: number, patch: Partial<VariableDto>) => onChange(variables.map((v, j) => (j === i ? { ...v, ...patch } : v)));
  return (
    <Section
      title="Declared variables"
      aside={
        <div className="panel-actions">
          <button type="button" className="btn btn-small" onClick={() => onChange([...variables, { name: "", description: null, default_json: null }])}>
            Add variable
          </button>
        </div>
      }
    >
      {variables.length === 0 ? (
        <div className="muted small">None declared. Declare a variable to give it a description or a default (JSON, e.g. "friendly" or 3).</div>
      ) : (
        <table className="table compact">
          <thead>
            <tr>
              <th>Name</th>
              <th>Description</th>
              <th>Default (JSON)</th>
              <th aria-label="Actions" />
            </tr>
          </thead>
          <tbody>
            {variables.map((v, i) => (
              <tr key={i}>
                <td>
                  <input className="input mono" aria-label={`Variable ${i + 1} name`} value={v.name} onChange={(e) => set(i, { name: e.target.value })} />
                </td>
                <td>
                  <input
                    className="input"
                    aria-label={`Variable ${i + 1} description`}
                    value={v.description ?? ""}
                    onChange={(e) => set(i, { description: e.target.value })}
                  />
                </td>
                <td>
                  <input
                    className="input mono"
                    aria-label={`Variable ${i + 1} default`}
                    placeholder='"text" or 3'
                    value={v.default_json ?? ""}
                    onChange={(e) => set(i, { default_json: e.target.value })}
                  />
                </td>
                <td>
                  <button type="button" className="btn btn-small btn-ghost" aria-label={`Remove variable ${v.name || i + 1}`} onClick={() => onChange(variables.filter((_, j) => j !== i))}>
                    ✕
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}
