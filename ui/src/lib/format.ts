/** `$0.000123`: six decimals below a cent, so small per-call costs stay readable. */
export function formatCost(usd: number | null | undefined): string {
  if (usd === null || usd === undefined || !Number.isFinite(usd)) return "cost unknown";
  if (usd === 0) return "$0.00";
  const abs = Math.abs(usd);
  if (abs >= 100) return `$${usd.toFixed(2)}`;
  if (abs >= 0.01) return `$${usd.toFixed(4)}`;
  return `$${usd.toFixed(6)}`;
}

/** `840 ms`, `1.24 s`, `2m 05s`. */
export function formatLatency(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return `${m}m ${String(s).padStart(2, "0")}s`;
}

export function formatTokens(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  if (n >= 10_000) return `${(n / 1000).toFixed(1)}k`;
  return String(n);
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

/** Local `YYYY-MM-DD HH:MM:SS` from unix ms or an RFC 3339 string. */
export function formatTime(t: number | string | null | undefined): string {
  if (t === null || t === undefined || t === "") return "—";
  const d = typeof t === "number" ? new Date(t) : new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(
    d.getMinutes(),
  )}:${pad(d.getSeconds())}`;
}

/** `3 min ago` style, relative to `now`. */
export function formatRelative(t: number | string, now: number = Date.now()): string {
  const ms = typeof t === "number" ? t : new Date(t).getTime();
  if (Number.isNaN(ms)) return String(t);
  const s = Math.round((now - ms) / 1000);
  if (s < 45) return "just now";
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 24) return `${h} h ago`;
  const d = Math.round(h / 24);
  if (d < 30) return `${d} d ago`;
  return formatTime(ms).slice(0, 10);
}

/** `provider/model`, without repeating a provider the model name already carries (`demo/small`). */
export function qualifiedModel(provider: string | null | undefined, model: string | null | undefined): string {
  const m = model ?? "?";
  if (!provider || m.startsWith(`${provider}/`)) return m;
  return `${provider}/${m}`;
}
