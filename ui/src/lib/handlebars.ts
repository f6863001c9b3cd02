/** Kinds of Handlebars tag, each coloured differently in the editor. */
export type HbKind = "variable" | "block-open" | "block-close" | "else" | "partial" | "comment" | "raw";

export interface HbToken {
  from: number;
  to: number;
  kind: HbKind;
}

function classify(inner: string, triple: boolean): HbKind {
  if (triple) return "raw";
  const t = inner.replace(/^~/, "").trimStart();
  if (t.startsWith("!")) return "comment";
  if (t.startsWith("#") || t.startsWith("^")) return "block-open";
  if (t.startsWith("/")) return "block-close";
  if (t.startsWith(">")) return "partial";
  if (/^else\b/.test(t)) return "else";
  return "variable";
}

/** Finds every `{{…}}`, `{{{…}}}` and `{{!-- … --}}` in the text, in order. Unclosed tags run to the end. */
export function scanHandlebars(text: string): HbToken[] {
  const out: HbToken[] = [];
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf("{{", i);
    if (open < 0) break;
    let close: number;
    let kind: HbKind;
    if (text.startsWith("{{!--", open)) {
      const end = text.indexOf("--}}", open + 5);
      close = end < 0 ? text.length : end + 4;
      kind = "comment";
    } else if (text.startsWith("{{{", open)) {
      const end = text.indexOf("}}}", open + 3);
      close = end < 0 ? text.length : end + 3;
      kind = "raw";
    } else {
      const end = text.indexOf("}}", open + 2);
      close = end < 0 ? text.length : end + 2;
      kind = classify(text.slice(open + 2, end < 0 ? text.length : end), false);
    }
    out.push({ from: open, to: close, kind });
    i = close;
  }
  return out;
}

export interface CompletionSpot {
  /** Where the word being completed starts. */
  from: number;
  /** What has been typed of it. */
  prefix: string;
  /** `partial` after `{{>`, else `variable`. */
  kind: "variable" | "partial";
}

/**
 * Whether the text just before the cursor is an open tag that wants a name:
 * `{{na`, `{{#if na`, `{{#each it`, `{{> par`. `pos` is the offset of the end of `before`.
 */
export function completionSpot(before: string, pos: number = before.length): CompletionSpot | null {
  const m = /\{\{\{?~?\s*(>\s*|[#^]\s*(?:if|unless|each|with)\s+|else\s+if\s+)?([\w.@-]*)$/.exec(before);
  if (!m) return null;
  const prefix = m[2];
  const kind = m[1] && m[1].trimStart().startsWith(">") ? "partial" : "variable";
  return { from: pos - prefix.length, prefix, kind };
}
