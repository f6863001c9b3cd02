import type { VariableDto } from "../bindings/VariableDto";

/** One input of a generated variables form. */
export interface VariableField {
  name: string;
  description: string | null;
  /** `text`: the input is sent as a string; `json`: the input is parsed as JSON. */
  kind: "text" | "json";
  /** The declared default as the user would type it, shown as a placeholder. */
  placeholder: string;
  /** Whether a declared default exists (an empty input then falls back to it). */
  hasDefault: boolean;
  /** Whether the templates use it (false: declared only). */
  used: boolean;
  /** Multi-line input for long-form text (ticket bodies, documents). */
  multiline: boolean;
}

const LONG_NAME = /(text|body|ticket|document|doc|content|message|input|question|context|article|notes?)$/i;

function parseDefault(json: string | null): { ok: true; value: unknown } | { ok: false } {
  if (json === null || json.trim() === "") return { ok: false };
  try {
    return { ok: true, value: JSON.parse(json) as unknown };
  } catch {
    return { ok: false };
  }
}

/**
 * Builds form fields from the variables the templates use (in order of first use) and the
 * declared variables (for descriptions and defaults). Declared-only variables come last.
 */
export function buildVariableFields(used: readonly string[], declared: readonly VariableDto[]): VariableField[] {
  const byName = new Map(declared.map((d) => [d.name, d] as const));
  const names = [...used];
  for (const d of declared) if (!names.includes(d.name)) names.push(d.name);
  const usedSet = new Set(used);
  return names.map((name) => {
    const d = byName.get(name);
    const def = parseDefault(d?.default_json ?? null);
    let kind: VariableField["kind"] = "text";
    let placeholder = "";
    if (def.ok) {
      if (typeof def.value === "string") placeholder = def.value;
      else {
        kind = "json";
        placeholder = JSON.stringify(def.value);
      }
    }
    return {
      name,
      description: d?.description ?? null,
      kind,
      placeholder,
      hasDefault: def.ok,
      used: usedSet.has(name),
      multiline: LONG_NAME.test(name) || placeholder.includes("\n"),
    };
  });
}

/** Sets `a.b.c` as nested objects, so `{{user.name}}` gets `{user: {name}}`. */
export function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split(".").filter((p) => p.length > 0);
  if (parts.length === 0) return;
  let cur: Record<string, unknown> = target;
  for (let i = 0; i < parts.length - 1; i++) {
    const k = parts[i];
    const next = cur[k];
    if (typeof next === "object" && next !== null && !Array.isArray(next)) {
      cur = next as Record<string, unknown>;
    } else {
      const fresh: Record<string, unknown> = {};
      cur[k] = fresh;
      cur = fresh;
    }
  }
  cur[parts[parts.length - 1]] = value;
}

export interface CollectedValues {
  values: Record<string, unknown>;
  /** Field name → why its input could not be used. */
  errors: Record<string, string>;
}

/**
 * Turns the form's raw inputs into the variables object. Empty inputs are left out, so the
 * engine applies the declared default or reports the variable as missing.
 */
export function collectValues(fields: readonly VariableField[], inputs: Readonly<Record<string, string>>): CollectedValues {
  const values: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const f of fields) {
    const raw = inputs[f.name] ?? "";
    if (raw === "") continue;
    if (f.kind === "json") {
      try {
        setPath(values, f.name, JSON.parse(raw) as unknown);
      } catch {
        errors[f.name] = `${f.name} is not valid JSON`;
      }
    } else {
      setPath(values, f.name, raw);
    }
  }
  return { values, errors };
}

export interface JsonlResult {
  rows: Record<string, unknown>[];
  errors: string[];
}

/** Parses one JSON object per non-empty line (`#` lines are comments). */
export function parseJsonl(text: string): JsonlResult {
  const rows: Record<string, unknown>[] = [];
  const errors: string[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) return;
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch (e) {
      errors.push(`Line ${i + 1}: not valid JSON (${e instanceof Error ? e.message : "parse error"})`);
      return;
    }
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      errors.push(`Line ${i + 1}: expected a JSON object like {"name": "value"}`);
      return;
    }
    rows.push(v as Record<string, unknown>);
  });
  return { rows, errors };
}

/** Rows of form inputs as JSONL, so a form can be switched to the text view losslessly. */
export function toJsonl(rows: readonly Record<string, unknown>[]): string {
  return rows.map((r) => JSON.stringify(r)).join("\n");
}

/** Example values for snippets: the default if declared, else a placeholder string. */
export function exampleVariables(fields: readonly VariableField[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    if (!f.used) continue;
    if (f.hasDefault) {
      setPath(out, f.name, f.kind === "json" ? (JSON.parse(f.placeholder) as unknown) : f.placeholder);
    } else setPath(out, f.name, `<${f.name}>`);
  }
  return out;
}
