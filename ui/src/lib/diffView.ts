import type { DiffLineDto } from "../bindings/DiffLineDto";

export interface SideCell {
  line: DiffLineDto;
  number: number | null;
}

/** One row of the side-by-side view: old on the left, new on the right. */
export interface SideRow {
  left: SideCell | null;
  right: SideCell | null;
}

/**
 * Pairs a unified line diff into side-by-side rows: equal lines on both sides, and each run of
 * deletions lined up with the run of insertions that follows it.
 */
export function sideBySide(lines: readonly DiffLineDto[]): SideRow[] {
  const rows: SideRow[] = [];
  let i = 0;
  while (i < lines.length) {
    const l = lines[i];
    if (l.tag === "equal") {
      rows.push({ left: { line: l, number: l.old_line }, right: { line: l, number: l.new_line } });
      i++;
      continue;
    }
    const dels: DiffLineDto[] = [];
    const ins: DiffLineDto[] = [];
    while (i < lines.length && lines[i].tag === "delete") dels.push(lines[i++]);
    while (i < lines.length && lines[i].tag === "insert") ins.push(lines[i++]);
    const n = Math.max(dels.length, ins.length);
    for (let k = 0; k < n; k++) {
      const d = dels[k];
      const a = ins[k];
      rows.push({
        left: d ? { line: d, number: d.old_line } : null,
        right: a ? { line: a, number: a.new_line } : null,
      });
    }
  }
  return rows;
}

/** The CSS class for a diff tag (`diff-insert`, `diff-delete`, `diff-equal`). */
export function tagClass(tag: string): string {
  if (tag === "insert") return "diff-insert";
  if (tag === "delete") return "diff-delete";
  return "diff-equal";
}

export function linePrefix(tag: string): string {
  return tag === "insert" ? "+" : tag === "delete" ? "-" : " ";
}
