import type { Log } from "./api";

export type StatusFilter = "all" | "ok" | "error" | "cached";

export interface LogFilter {
  model: string;
  status: StatusFilter;
  search: string;
}

export const emptyFilter: LogFilter = { model: "", status: "all", search: "" };

/** `key=value` tags from a row's metadata, sorted by key. */
export function tagsOf(row: Log): string[] {
  return Object.keys(row.metadata)
    .sort()
    .map((k) => `${k}=${row.metadata[k]}`);
}

/** The rows matching the filter, newest first. `promptName` maps prompt ids to slugs. */
export function filterLogs(rows: readonly Log[], f: LogFilter, promptName: (id: string) => string | undefined = () => undefined): Log[] {
  const needle = f.search.trim().toLowerCase();
  const out = rows.filter((r) => {
    if (f.model && r.model !== f.model) return false;
    if (f.status === "ok" && !r.success) return false;
    if (f.status === "error" && r.success) return false;
    if (f.status === "cached" && !r.cache_status.toLowerCase().startsWith("hit")) return false;
    if (!needle) return true;
    const hay = [
      r.trace_id,
      r.id,
      r.model ?? "",
      r.provider ?? "",
      r.prompt_id ?? "",
      r.prompt_id ? (promptName(r.prompt_id) ?? "") : "",
      r.error ?? "",
      r.source,
      r.key_name ?? "",
      String(r.status),
      ...tagsOf(r),
    ]
      .join("\n")
      .toLowerCase();
    return hay.includes(needle);
  });
  return out.sort((a, b) => b.created_at - a.created_at);
}

/** Distinct model names, sorted, for the filter's select. */
export function modelsIn(rows: readonly Log[]): string[] {
  const s = new Set<string>();
  for (const r of rows) if (r.model) s.add(r.model);
  return [...s].sort();
}
