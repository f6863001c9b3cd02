import type { ProviderDto } from "../bindings/ProviderDto";
import providerList from "../bindings/providers.json";
import rules from "../bindings/rules.json";

/**
 * The providers a key can be for, and the name rule, as the engine defines them: both files are
 * generated from the engine's provider registry and name rules (`cargo test -p
 * portolan-desktop-api` writes them; `./test` fails when they are stale), so the form accepts
 * exactly what the engine accepts.
 */
export const PROVIDERS: readonly ProviderDto[] = providerList;

const SLUG = new RegExp(rules.slug_pattern);

export function providerInfo(id: string): ProviderDto {
  return (
    PROVIDERS.find((x) => x.id === id) ?? {
      id,
      label: id,
      needs_base_url: false,
      needs_secret: true,
      base_url_hint: "",
      test_model: null,
    }
  );
}

export interface KeyFormInput {
  name: string;
  provider: string;
  baseUrl: string;
  secret: string;
}

/** Why the add-key form cannot be submitted yet, or null when it can. */
export function validateKeyForm(f: KeyFormInput): string | null {
  if (!SLUG.test(f.name.trim())) return `Key names ${rules.slug_rule}.`;
  const info = providerInfo(f.provider);
  if (info.needs_base_url && !/^https?:\/\/\S+$/.test(f.baseUrl.trim()))
    return `${info.label} needs a base URL starting with http:// or https://.`;
  if (info.needs_secret && f.secret.trim() === "") return `${info.label} needs a secret (API key).`;
  return null;
}
