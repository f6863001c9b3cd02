import type { PromptDraft } from "../../bindings/PromptDraft";
import type { ToolCallTemplate } from "../../bindings/ToolCallTemplate";
import type { VariableDto } from "../../bindings/VariableDto";

/** A message row in the editor; `uid` keeps each CodeMirror instance tied to its row. */
export interface EditorMessage {
  uid: number;
  role: string;
  content: string;
  /** An assistant message's tool calls (arguments are a template rendering to JSON). */
  tool_calls: ToolCallTemplate[];
  /** A tool message: the id of the call it answers ("" while unset). */
  tool_call_id: string;
}

/** The editor's working copy of a PromptDraft (strings instead of nulls, ids on messages). */
export interface EditorDraft {
  description: string;
  model: string;
  params_json: string;
  variables: VariableDto[];
  messages: EditorMessage[];
}

let nextUid = 1;
export const newUid = (): number => nextUid++;

export function fromDraft(d: PromptDraft): EditorDraft {
  return {
    description: d.description ?? "",
    model: d.model ?? "",
    params_json: d.params_json,
    variables: d.variables.map((v) => ({ ...v })),
    messages: d.messages.map((m) => ({
      uid: newUid(),
      role: m.role,
      content: m.content,
      tool_calls: m.tool_calls.map((c) => ({ ...c })),
      tool_call_id: m.tool_call_id ?? "",
    })),
  };
}

export function toDraft(d: EditorDraft): PromptDraft {
  const blank = (s: string) => (s.trim() === "" ? null : s);
  return {
    description: blank(d.description),
    model: blank(d.model),
    params_json: d.params_json.trim() === "" ? "{}" : d.params_json,
    variables: d.variables
      .filter((v) => v.name.trim() !== "")
      .map((v) => ({ name: v.name.trim(), description: blank(v.description ?? ""), default_json: blank(v.default_json ?? "") })),
    messages: d.messages.map((m) => ({
      role: m.role,
      content: m.content,
      tool_calls: m.role === "assistant" ? m.tool_calls : [],
      tool_call_id: m.role === "tool" ? m.tool_call_id.trim() || null : null,
    })),
  };
}

export const NEW_PROMPT_DRAFT: PromptDraft = {
  description: null,
  model: "demo/small",
  params_json: '{"temperature": 0.2}',
  variables: [],
  messages: [
    { role: "system", content: "You are a helpful assistant.", tool_calls: [], tool_call_id: null },
    { role: "user", content: "{{input}}", tool_calls: [], tool_call_id: null },
  ],
};

export const ROLES = ["system", "user", "assistant", "tool"] as const;

/** A new message row. */
export function newMessage(role: string, content = ""): EditorMessage {
  return { uid: newUid(), role, content, tool_calls: [], tool_call_id: "" };
}

/** The ids of the calls earlier assistant messages make, for a tool message to answer. */
export function callIdsBefore(messages: EditorMessage[], uid: number): string[] {
  const ids: string[] = [];
  for (const m of messages) {
    if (m.uid === uid) break;
    for (const c of m.tool_calls) ids.push(c.id);
  }
  return ids;
}
