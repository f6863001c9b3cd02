export interface ProviderInfo {
  id: string;
  label: string;
  needsBaseUrl: boolean;
  needsSecret: boolean;
  baseUrlHint: string;
}

const p = (id: string, label: string, needsBaseUrl: boolean, needsSecret: boolean, baseUrlHint = ""): ProviderInfo => ({
  id,
  label,
  needsBaseUrl,
  needsSecret,
  baseUrlHint,
});

export const PROVIDERS: readonly ProviderInfo[] = [
  p("openai", "OpenAI", false, true),
  p("azure-openai", "Azure OpenAI", true, true, "https://<resource>.openai.azure.com"),
  p("anthropic", "Anthropic", false, true),
  p("gemini", "Google Gemini", false, true),
  p("ollama", "Ollama", false, false, "http://127.0.0.1:11434/v1"),
  p("groq", "Groq", false, true),
  p("mistral", "Mistral", false, true),
  p("together", "Together", false, true),
  p("openrouter", "OpenRouter", false, true),
  p("deepseek", "DeepSeek", false, true),
  p("xai", "xAI", false, true),
  p("fireworks", "Fireworks", false, true),
  p("lmstudio", "LM Studio", false, false, "http://127.0.0.1:1234/v1"),
  p("vllm", "vLLM", true, false, "http://127.0.0.1:8000/v1"),
  p("openai-compatible", "OpenAI-compatible", true, false, "http://127.0.0.1:8080/v1"),
];

export function providerInfo(id: string): ProviderInfo {
  return PROVIDERS.find((x) => x.id === id) ?? p(id, id, false, true);
}

export interface KeyFormInput {
  name: string;
  provider: string;
  baseUrl: string;
  secret: string;
}

/** Why the add-key form cannot be submitted yet, or null when it can. */
export function validateKeyForm(f: KeyFormInput): string | null {
  if (!/^[^\s@/]{1,64}$/.test(f.name.trim()))
    return "Give the key a name without spaces, '@' or '/'.";
  const info = providerInfo(f.provider);
  if (info.needsBaseUrl && !/^https?:\/\/\S+$/.test(f.baseUrl.trim()))
    return `${info.label} needs a base URL starting with http:// or https://.`;
  if (info.needsSecret && f.secret.trim() === "") return `${info.label} needs a secret (API key).`;
  return null;
}
