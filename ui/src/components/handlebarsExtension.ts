import { autocompletion, type CompletionContext, type CompletionResult } from "@codemirror/autocomplete";
import { RangeSetBuilder, type Extension } from "@codemirror/state";
import { Decoration, EditorView, ViewPlugin, type DecorationSet, type ViewUpdate } from "@codemirror/view";
import { completionSpot, scanHandlebars, type HbKind } from "../lib/handlebars";

const marks: Record<HbKind, Decoration> = {
  variable: Decoration.mark({ class: "hb-var" }),
  "block-open": Decoration.mark({ class: "hb-block" }),
  "block-close": Decoration.mark({ class: "hb-block" }),
  else: Decoration.mark({ class: "hb-block" }),
  partial: Decoration.mark({ class: "hb-partial" }),
  comment: Decoration.mark({ class: "hb-comment" }),
  raw: Decoration.mark({ class: "hb-raw" }),
};

function build(view: EditorView): DecorationSet {
  const b = new RangeSetBuilder<Decoration>();
  // Prompts are small: scanning the whole document keeps block state simple and exact.
  for (const t of scanHandlebars(view.state.doc.toString())) {
    if (t.to > t.from) b.add(t.from, t.to, marks[t.kind]);
  }
  return b.finish();
}

const highlighter = ViewPlugin.fromClass(
  class {
    decorations: DecorationSet;
    constructor(view: EditorView) {
      this.decorations = build(view);
    }
    update(u: ViewUpdate) {
      if (u.docChanged) this.decorations = build(u.view);
    }
  },
  { decorations: (v) => v.decorations },
);

export interface NameSource {
  variables: () => readonly string[];
  partials: () => readonly string[];
}

function completions(src: NameSource) {
  return (ctx: CompletionContext): CompletionResult | null => {
    const line = ctx.state.doc.lineAt(ctx.pos);
    const before = line.text.slice(0, ctx.pos - line.from);
    const spot = completionSpot(before, ctx.pos);
    if (!spot) return null;
    const names = spot.kind === "partial" ? src.partials() : src.variables();
    if (names.length === 0) return null;
    return {
      from: spot.from,
      options: names.map((n) => ({ label: n, type: spot.kind === "partial" ? "namespace" : "variable" })),
      validFor: /^[\w.@-]*$/,
    };
  };
}

/** Handlebars tag colouring plus completion of variable (and partial) names after `{{`. */
export function handlebars(src: NameSource): Extension {
  return [highlighter, autocompletion({ override: [completions(src)], activateOnTyping: true })];
}
