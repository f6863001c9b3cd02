/** A run of text that is the same in both, only in the new text, or only in the old one. */
export interface DiffPart {
  tag: "equal" | "insert" | "delete";
  text: string;
}

/** Splits text into words and the whitespace between them, keeping everything. */
export function tokenize(text: string): string[] {
  return text.match(/\s+|[^\s]+/g) ?? [];
}

/** Above this many LCS table cells the middle is shown as one replacement. */
const MAX_CELLS = 4_000_000;

function push(out: DiffPart[], tag: DiffPart["tag"], text: string): void {
  if (text === "") return;
  const last = out[out.length - 1];
  if (last && last.tag === tag) last.text += text;
  else out.push({ tag, text });
}

/**
 * Word-level diff of `oldText` → `newText` via the longest common subsequence of tokens.
 * Common prefix and suffix are trimmed first, so typical near-identical outputs stay cheap.
 */
export function wordDiff(oldText: string, newText: string): DiffPart[] {
  const a = tokenize(oldText);
  const b = tokenize(newText);
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const out: DiffPart[] = [];
  push(out, "equal", a.slice(0, start).join(""));
  const n = endA - start;
  const m = endB - start;
  if (n === 0 || m === 0 || (n + 1) * (m + 1) > MAX_CELLS) {
    push(out, "delete", a.slice(start, endA).join(""));
    push(out, "insert", b.slice(start, endB).join(""));
  } else {
    // lcs[i][j] = LCS length of a[start+i..endA) and b[start+j..endB), stored flat.
    const w = m + 1;
    const lcs = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i * w + j] =
          a[start + i] === b[start + j]
            ? lcs[(i + 1) * w + j + 1] + 1
            : Math.max(lcs[(i + 1) * w + j], lcs[i * w + j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n && j < m) {
      const x = a[start + i];
      const y = b[start + j];
      if (x === y) {
        push(out, "equal", x);
        i++;
        j++;
      } else if (lcs[(i + 1) * w + j] >= lcs[i * w + j + 1]) {
        push(out, "delete", x);
        i++;
      } else {
        push(out, "insert", y);
        j++;
      }
    }
    while (i < n) push(out, "delete", a[start + i++]);
    while (j < m) push(out, "insert", b[start + j++]);
  }
  push(out, "equal", a.slice(endA).join(""));
  return out;
}

/** Share of the new text's characters that are unchanged (1 = identical). */
export function similarity(parts: readonly DiffPart[]): number {
  let same = 0;
  let total = 0;
  for (const p of parts) {
    if (p.tag === "equal") {
      same += p.text.length * 2;
      total += p.text.length * 2;
    } else total += p.text.length;
  }
  return total === 0 ? 1 : same / total;
}
