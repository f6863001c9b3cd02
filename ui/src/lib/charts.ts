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
