import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { EditorState } from "@codemirror/state";
import { EditorView, drawSelection, highlightActiveLine, keymap, placeholder as cmPlaceholder } from "@codemirror/view";
import { useEffect, useLayoutEffect, useRef } from "react";
import { dataUrlFold } from "./dataUrlFold";
import { handlebars } from "./handlebarsExtension";

export interface CodeEditorProps {
  /** The initial text; the editor owns the text afterwards (remount with a new `key` to reset). */
  initial: string;
  onChange: (text: string) => void;
  variables: readonly string[];
  partials?: readonly string[];
  ariaLabel: string;
  placeholder?: string;
  testId?: string;
}

const theme = EditorView.theme({
  "&": { fontSize: "13px", backgroundColor: "var(--bg-input)", color: "var(--fg)" },
  "&.cm-focused": { outline: "none" },
  ".cm-content": { fontFamily: "var(--mono)", padding: "6px 0", caretColor: "var(--fg)", minHeight: "3.5em" },
  ".cm-line": { padding: "0 8px" },
  ".cm-activeLine": { backgroundColor: "var(--bg-active-line)" },
  ".cm-cursor": { borderLeftColor: "var(--fg)" },
  "&.cm-focused .cm-selectionBackground, .cm-selectionBackground": { backgroundColor: "var(--bg-selection) !important" },
  ".cm-tooltip": { border: "1px solid var(--border)", backgroundColor: "var(--bg-raised)", color: "var(--fg)" },
  ".cm-tooltip-autocomplete ul li[aria-selected]": { backgroundColor: "var(--accent)", color: "var(--on-accent)" },
  ".cm-placeholder": { color: "var(--fg-muted)" },
  ".cm-data-url": { color: "var(--fg-muted)", fontStyle: "italic" },
});

/** A CodeMirror 6 editor for one Handlebars message template. */
export function CodeEditor({ initial, onChange, variables, partials = [], ariaLabel, placeholder, testId }: CodeEditorProps) {
  const host = useRef<HTMLDivElement>(null);
  // The editor is created once per mount: what seeds it is read once, and the callbacks it calls
  // later read the latest props through refs updated after each render.
  const seed = useRef({ initial, placeholder, ariaLabel });
  const onChangeRef = useRef(onChange);
  const vars = useRef(variables);
  const parts = useRef(partials);
  useLayoutEffect(() => {
    onChangeRef.current = onChange;
    vars.current = variables;
    parts.current = partials;
  });

  useEffect(() => {
    if (!host.current) return;
    const { initial, placeholder, ariaLabel } = seed.current;
    const view = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: initial,
        extensions: [
          history(),
          drawSelection(),
          highlightActiveLine(),
          EditorView.lineWrapping,
          keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
          handlebars({ variables: () => vars.current, partials: () => parts.current }),
          dataUrlFold,
          cmPlaceholder(placeholder ?? ""),
          // A dropped file is the surrounding message's to handle (an image to attach);
          // CodeMirror's own handling would paste the file's bytes in as text.
          EditorView.domEventHandlers({ drop: (e) => (e.dataTransfer?.files.length ?? 0) > 0 }),
          EditorView.contentAttributes.of({ "aria-label": ariaLabel, "aria-multiline": "true" }),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) onChangeRef.current(u.state.doc.toString());
          }),
          theme,
        ],
      }),
    });
    return () => view.destroy();
  }, []);

  return <div className="code-editor" ref={host} data-testid={testId} />;
}
