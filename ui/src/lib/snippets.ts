export interface SnippetInput {
  /** The gateway's base URL, e.g. `http://127.0.0.1:8787/v1`. */
  url: string;
  slug: string;
  variables: Record<string, unknown>;
}

export interface Snippets {
  curl: string;
  python: string;
  js: string;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function indent(text: string, by: string): string {
  return text
    .split("\n")
    .map((l, i) => (i === 0 ? l : by + l))
    .join("\n");
}

/** Python literal for JSON-ish values (True/False/None). */
export function pyLiteral(v: unknown, level = 0): string {
  const pad = "    ".repeat(level + 1);
  const end = "    ".repeat(level);
  if (v === null || v === undefined) return "None";
  if (v === true) return "True";
  if (v === false) return "False";
  if (typeof v === "number") return String(v);
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map((x) => pyLiteral(x, level)).join(", ")}]`;
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length === 0) return "{}";
  return `{\n${entries.map(([k, x]) => `${pad}${JSON.stringify(k)}: ${pyLiteral(x, level + 1)},`).join("\n")}\n${end}}`;
}

/** Copy-paste snippets that call a saved prompt through the local gateway. */
export function gatewaySnippets({ url, slug, variables }: SnippetInput): Snippets {
  const base = url.replace(/\/+$/, "");
  const path = `/prompts/${encodeURIComponent(slug)}/completions`;
  const body = JSON.stringify({ variables }, null, 2);
  const curl = [
    `curl ${base}${path} \\`,
    `  -H "Authorization: Bearer $PORTOLAN_TOKEN" \\`,
    `  -H "Content-Type: application/json" \\`,
    `  -d ${shellQuote(body)}`,
  ].join("\n");
  const python = [
    "import os",
    "from openai import OpenAI",
    "from openai.types.chat import ChatCompletion",
    "",
    `client = OpenAI(base_url=${JSON.stringify(base)}, api_key=os.environ["PORTOLAN_TOKEN"])`,
    "completion = client.post(",
    `    ${JSON.stringify(path)},`,
    `    body={"variables": ${indent(pyLiteral(variables, 1), "")}},`,
    "    cast_to=ChatCompletion,",
    ")",
    "print(completion.choices[0].message.content)",
  ].join("\n");
  const js = [
    'import OpenAI from "openai";',
    "",
    `const client = new OpenAI({ baseURL: ${JSON.stringify(base)}, apiKey: process.env.PORTOLAN_TOKEN });`,
    `const body = ${indent(JSON.stringify({ variables }, null, 2), "")};`,
    `const completion = await client.post(${JSON.stringify(path)}, { body });`,
    "console.log(completion.choices[0].message.content);",
  ].join("\n");
  return { curl, python, js };
}
