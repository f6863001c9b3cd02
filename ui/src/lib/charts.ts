/** A "nice" axis maximum at or above `max` (1, 2, 2.5 or 5 × 10^n). */
export function niceMax(max: number): number {
  if (!Number.isFinite(max) || max <= 0) return 1;
  const exp = Math.floor(Math.log10(max));
  const base = 10 ** exp;
  for (const m of [1, 2, 2.5, 5, 10]) {
    if (m * base >= max - 1e-12) return m * base;
  }
  return 10 * base;
}

export interface Bar {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Lays out `values` as vertical bars in a `width`×`height` plot area, scaled to `max`. */
export function layoutBars(values: readonly number[], width: number, height: number, max: number, gap = 2): Bar[] {
  const n = values.length;
  if (n === 0) return [];
  const slot = width / n;
  const w = Math.max(1, slot - gap);
  return values.map((v, i) => {
    const h = max > 0 ? Math.max(0, Math.min(1, v / max)) * height : 0;
    return { x: i * slot + (slot - w) / 2, y: height - h, width: w, height: h };
  });
}

/** The last `days` calendar days ending today, as `YYYY-MM-DD` (UTC), oldest first. */
export function lastDays(days: number, now: Date = new Date()): string[] {
  const out: string[] = [];
  for (let i = days - 1; i >= 0; i--) {
    const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - i));
    out.push(d.toISOString().slice(0, 10));
  }
  return out;
}

/** A label's anchor point and its text's length, for [`placeLabels`]. */
export interface LabelSpot {
  x: number;
  y: number;
  chars: number;
  /** Drawn to the left of the point (near the right edge). */
  left: boolean;
}

/**
 * Vertical offsets that keep point labels from overlapping: each label (a box `chars` wide at
 * `charW` per character, `lineH` high, just above its point) is moved down a line at a time,
 * at most `maxLines`, until it clears the labels placed before it.
 */
export function placeLabels(spots: readonly LabelSpot[], charW = 6.2, lineH = 11, maxLines = 6): number[] {
  const boxes: { x1: number; x2: number; y1: number; y2: number }[] = [];
  return spots.map((s) => {
    const w = s.chars * charW;
    const x1 = s.left ? s.x - 7 - w : s.x + 7;
    const x2 = x1 + w;
    let dy = 0;
    for (let i = 0; i <= maxLines; i++) {
      dy = i * lineH;
      const y2 = s.y - 5 + dy;
      const y1 = y2 - lineH;
      if (!boxes.some((b) => x1 < b.x2 && b.x1 < x2 && y1 < b.y2 && b.y1 < y2)) break;
    }
    const y2 = s.y - 5 + dy;
    boxes.push({ x1, x2, y1: y2 - lineH, y2 });
    return dy;
  });
}
