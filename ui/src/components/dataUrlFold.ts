import { Decoration, EditorView, MatchDecorator, ViewPlugin, WidgetType, type DecorationSet, type ViewUpdate } from "@codemirror/view";
import { describeImageUrl } from "../lib/tools";

/** Stands in for an embedded image's base64 data: its type and size. */
class DataWidget extends WidgetType {
  constructor(readonly label: string) {
    super();
  }
  eq(other: DataWidget) {
    return other.label === this.label;
  }
  toDOM() {
    const span = document.createElement("span");
    span.className = "cm-data-url";
    span.textContent = `⟨${this.label}⟩`;
    span.title = "An embedded image (remove it under the message)";
    return span;
  }
}

const matcher = new MatchDecorator({
  // The data of a data URL (long base64 runs only: short ones are readable as they are).
  regexp: /data:([a-z]+\/[a-z0-9.+-]+);base64,[A-Za-z0-9+/=]{64,}/g,
  decoration: (m) => Decoration.replace({ widget: new DataWidget(describeImageUrl(m[0])) }),
});

/**
 * Folds the base64 data of embedded images (`![chart](data:image/png;base64,…)`) into a short
 * label, so a photo does not fill the editor with text; the text itself is unchanged and the
 * fold is atomic (the cursor steps over it).
 */
export const dataUrlFold = ViewPlugin.fromClass(
  class {
    decorations: DecorationSet;
    constructor(view: EditorView) {
      this.decorations = matcher.createDeco(view);
    }
    update(u: ViewUpdate) {
      this.decorations = matcher.updateDeco(u, this.decorations);
    }
  },
  {
    decorations: (v) => v.decorations,
    provide: (plugin) => EditorView.atomicRanges.of((view) => view.plugin(plugin)?.decorations ?? Decoration.none),
  },
);
