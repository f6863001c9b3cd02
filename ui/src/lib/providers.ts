import type { NewKeyDto } from "../bindings/NewKeyDto";
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
      credentials: "api_key",
    }
  );
}

/** What a cloud provider's key needs beside (or instead of) one API key. */
export interface CloudFields {
  /** AWS (Bedrock). */
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  region: string;
  /** Google service account (Vertex AI): the key file's text, or a file chosen in the dialog. */
  serviceAccount: string;
  serviceAccountFile: string | null;
  location: string;
  project: string;
}

export const EMPTY_CLOUD: CloudFields = {
  accessKeyId: "",
  secretAccessKey: "",
  sessionToken: "",
  region: "",
  serviceAccount: "",
  serviceAccountFile: null,
  location: "",
  project: "",
};

export interface KeyFormInput {
  name: string;
  provider: string;
  baseUrl: string;
  secret: string;
  cloud?: CloudFields;
}

const REGION = /^[a-z0-9-]{1,64}$/;

/** Why the add-key form cannot be submitted yet, or null when it can. */
export function validateKeyForm(f: KeyFormInput): string | null {
  if (!SLUG.test(f.name.trim())) return `Key names ${rules.slug_rule}.`;
  const info = providerInfo(f.provider);
  if (info.needs_base_url && !/^https?:\/\/\S+$/.test(f.baseUrl.trim()))
    return `${info.label} needs a base URL starting with http:// or https://.`;
  const cloud = f.cloud ?? EMPTY_CLOUD;
  if (info.credentials === "aws") {
    if (!cloud.accessKeyId.trim() || !cloud.secretAccessKey.trim())
      return `${info.label} needs an access key id and its secret access key.`;
    if (!REGION.test(cloud.region.trim())) return `${info.label} needs an AWS region, such as us-east-1.`;
    return null;
  }
  if (info.credentials === "service_account") {
    if (!cloud.serviceAccountFile) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(cloud.serviceAccount);
      } catch {
        return `${info.label} needs a service account key file (JSON): choose the file or paste it.`;
      }
      if ((parsed as { type?: unknown } | null)?.type !== "service_account")
        return "That JSON is not a service account key file (its type is not \"service_account\").";
    }
    if (!REGION.test(cloud.location.trim()))
      return `${info.label} needs a location, such as us-central1 or global.`;
    return null;
  }
  if (info.needs_secret && f.secret.trim() === "") return `${info.label} needs a secret (API key).`;
  return null;
}

/** What the form sends: the secret (AWS credentials as one JSON object) and the fields beside it. */
export function keyRequest(f: KeyFormInput): NewKeyDto {
  const info = providerInfo(f.provider);
  const cloud = f.cloud ?? EMPTY_CLOUD;
  const base = { name: f.name.trim(), provider: f.provider, base_url: f.baseUrl.trim() || null, notes: null };
  if (info.credentials === "aws") {
    const creds: Record<string, string> = {
      access_key_id: cloud.accessKeyId.trim(),
      secret_access_key: cloud.secretAccessKey.trim(),
    };
    if (cloud.sessionToken.trim()) creds.session_token = cloud.sessionToken.trim();
    return { ...base, secret: JSON.stringify(creds), region: cloud.region.trim() };
  }
  if (info.credentials === "service_account") {
    const req: NewKeyDto = { ...base, secret: cloud.serviceAccountFile ? "" : cloud.serviceAccount, location: cloud.location.trim() };
    if (cloud.serviceAccountFile) req.secret_file = cloud.serviceAccountFile;
    if (cloud.project.trim()) req.project = cloud.project.trim();
    return req;
  }
  return { ...base, secret: f.secret };
}

/** What to paste to replace a key's secret (cloud credentials keep their region or location). */
export function rotatePlaceholder(provider: string): string {
  switch (providerInfo(provider).credentials) {
    case "aws":
      return 'New credentials: {"access_key_id": …, "secret_access_key": …}';
    case "service_account":
      return "New service account key file (JSON)";
    default:
      return "New secret";
  }
}
