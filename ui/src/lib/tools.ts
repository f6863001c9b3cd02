/**
 * Tools, response schemas and images as the prompt editor and the Compare screen handle them.
 * A version keeps its tools and response format in its parameters (OpenAI's `tools`,
 * `tool_choice`, `response_format`), so the editor reads them out of the parameters' JSON text
 * and writes them back into it, leaving every other parameter as it was. Images are Markdown
 * image lines in a message's text (`![alt](url)`), as the engine reads them.
 */
import type { ToolSimulation } from "../bindings/ToolSimulation";

/** One tool as the tools editor holds it: the schema as text, so it can be mid-edit. */
export interface ToolDraft {
  name: string;
  description: string;
  parametersText: string;
}

/** The response schema as the editor holds it (null: the answer is free text). */
export interface ResponseSchemaDraft {
  name: string;
  schemaText: string;
}

export interface ToolsOfParams {
  tools: ToolDraft[];
  responseSchema: ResponseSchemaDraft | null;
  /** Set when the parameters are not a JSON object (the tools editor then waits). */
  error: string | null;
}

type Json = Record<string, unknown>;

function parseObject(text: string): Json | string {
  const t = text.trim();
  if (t === "") return {};
  try {
    const v: unknown = JSON.parse(t);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : "Parameters must be a JSON object.";
  } catch (e) {
    return `Parameters are not valid JSON: ${e instanceof Error ? e.message : String(e)}`;
  }
}

const pretty = (v: unknown) => JSON.stringify(v, null, 2);

/** The tools and response schema held in a version's parameters. */
export function readTools(paramsJson: string): ToolsOfParams {
  const params = parseObject(paramsJson);
  if (typeof params === "string") return { tools: [], responseSchema: null, error: params };
  const list = Array.isArray(params.tools) ? (params.tools as unknown[]) : [];
  const tools = list.map((t) => {
    const f = (t as Json | null)?.function as Json | undefined;
    return {
      name: typeof f?.name === "string" ? f.name : "",
      description: typeof f?.description === "string" ? f.description : "",
      parametersText: f?.parameters === undefined ? "" : typeof f.parameters === "string" ? f.parameters : pretty(f.parameters),
    };
  });
  const format = params.response_format as Json | undefined;
  const spec = format?.type === "json_schema" ? (format.json_schema as Json | undefined) : undefined;
  const responseSchema = spec
    ? {
        name: typeof spec.name === "string" ? spec.name : "",
        schemaText: spec.schema === undefined ? "" : typeof spec.schema === "string" ? spec.schema : pretty(spec.schema),
      }
    : null;
  return { tools, responseSchema, error: null };
}

/**
 * The parameters' text with `tools` and the response schema replaced (removed when empty);
 * unchanged when it is not a JSON object (the form is disabled then). A
 * schema that is not JSON yet is kept as a string so nothing typed is lost; the engine's check
 * then names it.
 */
export function writeTools(paramsJson: string, tools: ToolDraft[], responseSchema: ResponseSchemaDraft | null): string {
  const parsed = parseObject(paramsJson);
  // Parameters that are not a JSON object yet are left as typed, not replaced.
  if (typeof parsed === "string") return paramsJson;
  const params: Json = { ...parsed };
  const asJson = (text: string): unknown => {
    if (text.trim() === "") return undefined;
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  };
  if (tools.length) {
    params.tools = tools.map((t) => {
      const f: Json = { name: t.name };
      if (t.description.trim()) f.description = t.description;
      const p = asJson(t.parametersText);
      if (p !== undefined) f.parameters = p;
      return { type: "function", function: f };
    });
  } else {
    delete params.tools;
    delete params.tool_choice;
    delete params.parallel_tool_calls;
  }
  if (responseSchema) {
    params.response_format = {
      type: "json_schema",
      json_schema: { name: responseSchema.name, schema: asJson(responseSchema.schemaText) ?? {} },
    };
  } else if ((params.response_format as Json | undefined)?.type === "json_schema") {
    delete params.response_format;
  }
  return pretty(params);
}

/** A name for a new tool that no tool has yet (`tool_1`, `tool_2`, …). */
export function newToolName(tools: readonly { name: string }[]): string {
  const taken = new Set(tools.map((t) => t.name));
  let n = 1;
  while (taken.has(`tool_${n}`)) n++;
  return `tool_${n}`;
}

/** What is wrong with a schema's text before the engine looks (not JSON, not an object). */
export function schemaTextProblem(text: string, mustBeObjectType: boolean): string | null {
  if (text.trim() === "") return null;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return `Not JSON: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return "A JSON Schema is an object, like {\"type\": \"object\"}.";
  if (mustBeObjectType && (v as Json).type !== "object") return "A function's arguments are an object: give the schema \"type\": \"object\".";
  return null;
}

/** One input of the arguments form a schema describes. */
export interface ArgumentField {
  name: string;
  type: string;
  required: boolean;
  description: string;
  options: string[];
}

/** The arguments form a function's schema describes (its top-level properties), for a preview. */
export function argumentFields(parametersText: string): ArgumentField[] {
  let schema: Json;
  try {
    schema = JSON.parse(parametersText) as Json;
  } catch {
    return [];
  }
  const props = schema?.properties;
  if (typeof props !== "object" || props === null) return [];
  const required = Array.isArray(schema.required) ? (schema.required as string[]) : [];
  return Object.entries(props as Record<string, Json>).map(([name, p]) => ({
    name,
    type: Array.isArray(p?.type) ? (p.type as string[]).join(" | ") : typeof p?.type === "string" ? p.type : "any",
    required: required.includes(name),
    description: typeof p?.description === "string" ? p.description : "",
    options: Array.isArray(p?.enum) ? (p.enum as unknown[]).map(String) : [],
  }));
}

/** A new tool's starting schema. */
export const NEW_TOOL_SCHEMA = pretty({ type: "object", properties: { query: { type: "string", description: "What to look up" } }, required: ["query"] });

// ---------------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------------

/** An image line of a message: its alt text, URL, and line number (0-based). */
export interface ImageLine {
  alt: string;
  url: string;
  line: number;
}

/**
 * A line's alt text and URL when it is an image line, read as the engine reads a template's
 * line (`images::image_line`): `![alt](url)` alone on its line, the alt text up to the first
 * `](`, a URL without spaces unless it holds a `{{variable}}`. A rendered line (`rendered`)
 * may have spaces in its URL, as a variable's path may.
 */
export function parseImageLine(line: string, rendered = false): { alt: string; url: string } | null {
  const t = line.trim();
  if (!t.startsWith("![") || !t.endsWith(")")) return null;
  const rest = t.slice(2);
  const close = rest.indexOf("](");
  if (close < 0 || close + 2 > rest.length - 1) return null;
  const raw = rest.slice(close + 2, -1);
  if (!rendered && (raw === "" || (/\s/.test(raw) && !raw.includes("{{")))) return null;
  return { alt: rest.slice(0, close), url: raw.trim() };
}

/** The image lines of a message's template text, in order. */
export function imageLines(content: string): ImageLine[] {
  const out: ImageLine[] = [];
  content.split("\n").forEach((l, line) => {
    const m = parseImageLine(l);
    if (m) out.push({ ...m, line });
  });
  return out;
}

/** The images of a rendered message, at the lines the engine says are images. */
export function renderedImages(content: string, lines: readonly number[]): ImageLine[] {
  const text = content.split("\n");
  return lines.flatMap((line) => {
    const m = text[line] === undefined ? null : parseImageLine(text[line], true);
    return m ? [{ ...m, line }] : [];
  });
}

/** The text with an image line added at the end. */
export function appendImage(content: string, alt: string, url: string): string {
  const clean = alt.replace(/[[\]\n]/g, " ").trim() || "image";
  const sep = content === "" || content.endsWith("\n") ? "" : "\n";
  return `${content}${sep}![${clean}](${url})`;
}

/** The text without its `index`-th image line. */
export function removeImage(content: string, index: number): string {
  const target = imageLines(content)[index];
  if (!target) return content;
  return content
    .split("\n")
    .filter((_, i) => i !== target.line)
    .join("\n");
}

/** Only user messages hold images: providers take images from the user only. */
export const holdsImages = (role: string) => role === "user";

/** The variables used as an image's URL (`![photo]({{photo}})`) in the user messages. */
export function imageVariables(messages: readonly { role: string; content: string }[]): string[] {
  const names = new Set<string>();
  for (const m of messages) {
    if (!holdsImages(m.role)) continue;
    for (const img of imageLines(m.content)) {
      const m = /^\{\{\s*([A-Za-z_][\w-]*)\s*\}\}$/.exec(img.url);
      if (m) names.add(m[1]);
    }
  }
  return [...names];
}

/** The most an embedded image may weigh (the engine refuses more). */
export const MAX_IMAGE_BYTES = 5 * 1024 * 1024;
export const IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/** Why a dropped file cannot be embedded, or null. */
export function imageFileProblem(file: { name: string; type: string; size: number }): string | null {
  if (!IMAGE_TYPES.includes(file.type)) return `${file.name} is not a PNG, JPEG, GIF or WebP image.`;
  if (file.size > MAX_IMAGE_BYTES)
    return `${file.name} is ${(file.size / 1048576).toFixed(1)} MB; the limit is 5 MB (resize it, or link it by URL).`;
  return null;
}

/** An image's URL shortened for a label (data URLs by type and size). */
export function describeImageUrl(url: string): string {
  const m = /^data:([^;,]+);base64,(.*)$/.exec(url);
  if (m) {
    const bytes = Math.floor((m[2].length * 3) / 4);
    const size = bytes < 1024 ? `${bytes} B` : bytes < 1048576 ? `${Math.round(bytes / 1024)} KB` : `${(bytes / 1048576).toFixed(1)} MB`;
    return `${m[1]}, ${size} embedded`;
  }
  return url.length > 60 ? `${url.slice(0, 57)}…` : url;
}

// ---------------------------------------------------------------------------------------------
// Simulated tool results (Compare)
// ---------------------------------------------------------------------------------------------

export type ToolResultKind = "none" | "fixed" | "variable" | "template";
export interface ToolResultDraft {
  kind: ToolResultKind;
  text: string;
}

/** The simulation to send with a run, or the reason it cannot be sent; null when none is set. */
export function simulationOf(results: Record<string, ToolResultDraft>, maxSteps: number): ToolSimulation | string | null {
  const out: ToolSimulation["results"] = {};
  for (const [name, r] of Object.entries(results)) {
    if (r.kind === "none") continue;
    if (r.kind === "fixed") {
      try {
        out[name] = { fixed: JSON.parse(r.text) as unknown };
      } catch (e) {
        return `The result for ${name} is not JSON: ${e instanceof Error ? e.message : String(e)}`;
      }
    } else if (r.kind === "variable") {
      if (!r.text.trim()) return `Name the variable that holds ${name}'s result.`;
      out[name] = { from_variable: r.text.trim() };
    } else {
      if (!r.text.trim()) return `Write the template of ${name}'s result.`;
      out[name] = { template: r.text };
    }
  }
  if (Object.keys(out).length === 0) return null;
  return { results: out, max_steps: Math.min(16, Math.max(1, Math.round(maxSteps) || 4)) };
}

/** JSON on one line with a space after each `:` and `,` (for cells), else the text as sent. */
export function oneLineJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 1).replace(/\n\s*/g, " ");
  } catch {
    return text;
  }
}

/** Pretty arguments when they are JSON, else as sent. */
export function prettyArguments(args: string): string {
  try {
    return JSON.stringify(JSON.parse(args), null, 2);
  } catch {
    return args;
  }
}

/** The shape of a tool call and a step as cells carry them. */
interface CallLike {
  name: string;
  arguments: string;
  problem?: string | null;
}
interface StepLike {
  text?: string;
  calls: CallLike[];
  results: { name: string; content: string }[];
}

/** A cell's tool exchange as text (calls and results, one per line), for diffing columns. */
export function exchangeTranscript(steps: StepLike[], calls: CallLike[]): string {
  const lines: string[] = [];
  const call = (c: CallLike) => lines.push(`→ ${c.name} ${c.arguments}${c.problem ? "  ✗ invalid" : ""}`);
  for (const s of steps) {
    if (s.text?.trim()) lines.push(s.text.trim());
    s.calls.forEach(call);
    for (const r of s.results) lines.push(`← ${r.name} ${r.content}`);
  }
  calls.forEach(call);
  return lines.join("\n");
}

/** A cell's text for a word diff: its tool exchange (if any) and then its answer. */
export function diffableText(result: { steps?: StepLike[]; tool_calls?: CallLike[] } | null | undefined, text: string): string {
  const steps = result?.steps ?? [];
  const calls = result?.tool_calls ?? [];
  if (steps.length === 0 && calls.length === 0) return text;
  const t = exchangeTranscript(steps, calls);
  return text ? `${t}\n${text}` : t;
}
