import type { PreviewDto } from "../../bindings/PreviewDto";
import type { Version } from "../../lib/api";
import { fromDraft, type EditorDraft, type EditorMessage } from "./draft";

/**
 * The prompt editor's document: the version it was loaded from, the working draft, the commit
 * message and how the last save went, changed only through `editorReducer` so every transition
 * (load, edit, save, open an older version) is one action a test can replay.
 */
export type SaveStatus = { tone: "ok" | "muted" | "error"; text: string } | null;

export interface EditorState {
  loaded: Version | null;
  loadError: string | null;
  draft: EditorDraft | null;
  /** Bumped whenever the draft is replaced wholesale, so the code editors remount with its text. */
  loadKey: number;
  commitMessage: string;
  saveStatus: SaveStatus;
  saving: boolean;
}

export type EditorAction =
  | { type: "loaded"; version: Version }
  | { type: "loadFailed"; message: string }
  | { type: "edit"; patch: Partial<EditorDraft> }
  | { type: "editMessage"; uid: number; patch: Partial<Omit<EditorMessage, "uid">> }
  | { type: "commitMessage"; text: string }
  | { type: "saving" }
  /** Saved as `version`: the editors keep their text (it is what was saved). */
  | { type: "saved"; version: Version }
  | { type: "unchanged" }
  | { type: "saveFailed"; message: string }
  /** An older version opened from the timeline replaces the draft. */
  | { type: "opened"; version: Version };

export const initialEditor: EditorState = {
  loaded: null,
  loadError: null,
  draft: null,
  loadKey: 0,
  commitMessage: "",
  saveStatus: null,
  saving: false,
};

export function editorReducer(s: EditorState, a: EditorAction): EditorState {
  switch (a.type) {
    case "loaded":
      return { ...s, loaded: a.version, draft: fromDraft(a.version.draft), loadKey: s.loadKey + 1, loadError: null };
    case "loadFailed":
      return { ...s, loadError: a.message };
    case "edit":
      return s.draft ? { ...s, draft: { ...s.draft, ...a.patch } } : s;
    case "editMessage":
      return s.draft
        ? { ...s, draft: { ...s.draft, messages: s.draft.messages.map((m) => (m.uid === a.uid ? { ...m, ...a.patch } : m)) } }
        : s;
    case "commitMessage":
      return { ...s, commitMessage: a.text };
    case "saving":
      return { ...s, saving: true, saveStatus: { tone: "muted", text: "Saving…" } };
    case "saved":
      return { ...s, saving: false, loaded: a.version, commitMessage: "", saveStatus: { tone: "ok", text: `Saved version ${a.version.version}` } };
    case "unchanged":
      return { ...s, saving: false, saveStatus: { tone: "muted", text: "Unchanged: same as the latest version" } };
    case "saveFailed":
      return { ...s, saving: false, saveStatus: { tone: "error", text: a.message } };
    case "opened":
      return {
        ...s,
        loaded: a.version,
        draft: fromDraft(a.version.draft),
        loadKey: s.loadKey + 1,
        saveStatus: { tone: "muted", text: `Loaded version ${a.version.version} into the editor` },
      };
  }
}

/** The live preview's last answer: the rendered messages, or why they could not be rendered. */
export interface PreviewState {
  preview: PreviewDto | null;
  error: { kind: string; message: string } | null;
}
