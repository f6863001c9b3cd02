/** How the experiment's figures read: shares as percentages with their interval, scores, differences. */
import type { Finding } from "../bindings/Finding";
import type { Verdict } from "../bindings/Verdict";
import type { Est } from "./experimentState";
import { isPending, isSkipped } from "./experimentState";

const pct = (x: number) => Math.round(x * 100);

/** `83% [61–95]` (a share of 0–1), `83%` without an interval, `—` without a figure. */
export function formatShare(e: Est | null): string {
  if (!e) return "—";
  if (e.low === null || e.high === null) return `${pct(e.mean)}%`;
  return `${pct(e.mean)}% [${pct(e.low)}–${pct(e.high)}]`;
}

function num(x: number): string {
  return Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/** A mean score: `4.20 [3.80–4.60]`, or a similarity's `0.82`. */
export function formatScore(e: Est | null): string {
  if (!e) return "—";
  if (e.low === null || e.high === null) return num(e.mean);
  return `${num(e.mean)} [${num(e.low)}–${num(e.high)}]`;
}

/** A paired difference of shares in percentage points: `+12 pts [3–20]`. */
export function formatDifference(e: Est | null): string {
  if (!e) return "no rows in common yet";
  const signed = (x: number) => `${x > 0 ? "+" : x < 0 ? "−" : "±"}${Math.abs(pct(x))}`;
  if (e.low === null || e.high === null) return `${signed(e.mean)} pts`;
  return `${signed(e.mean)} pts [${signed(e.low)}, ${signed(e.high)}]`;
}

export function findingText(f: Finding): string {
  return f === "better" ? "better" : f === "worse" ? "worse" : "no significant difference";
}

export type BadgeKind = "pass" | "fail" | "error" | "na" | "pending";

export function badgeKind(v: Verdict): BadgeKind {
  if (v.pass === true) return "pass";
  if (v.pass === false) return "fail";
  if (isPending(v)) return "pending";
  if (isSkipped(v)) return "na";
  return "error";
}

export const BADGE_SYMBOL: Record<BadgeKind, string> = { pass: "✓", fail: "✗", error: "!", na: "—", pending: "…" };

/**
 * A verdict's score worth showing: a scoring judge's always, otherwise a graded one (not the 1 or
 * 0 every plain pass or fail carries).
 */
export function shownScore(v: Verdict, scored = false): string | null {
  if (typeof v.score !== "number") return null;
  if (!scored && (v.score === 0 || v.score === 1)) return null;
  return Number.isInteger(v.score) ? String(v.score) : v.score.toFixed(2);
}
