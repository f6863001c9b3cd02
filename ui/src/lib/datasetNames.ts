import rules from "../bindings/rules.json";

/**
 * Dataset names follow the engine's slug rule (generated into bindings/rules.json), so a name the
 * form accepts is one the engine accepts.
 */
const SLUG = new RegExp(rules.slug_pattern);

/** Why `name` cannot name a new dataset, or null when it can. */
export function newDatasetNameError(name: string, existing: readonly string[]): string | null {
  const n = name.trim();
  if (!n) return "Type a name first, e.g. support-tickets.";
  if (!SLUG.test(n)) return `Dataset names ${rules.slug_rule}.`;
  if (existing.includes(n)) return `A dataset named “${n}” already exists.`;
  return null;
}

/** Why `name` cannot name a dataset (new or existing), or null when it can. */
export function datasetNameError(name: string): string | null {
  return newDatasetNameError(name, []);
}
