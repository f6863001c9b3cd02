import type { PromptDraft } from "../../bindings/PromptDraft";
import type { VariableDto } from "../../bindings/VariableDto";

/** A message row in the editor; `uid` keeps each CodeMirror instance tied to its row. */
export interface EditorMessage {
  uid: number;
  role: string;
  content: string;
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
    messages: d.messages.map((m) => ({ uid: newUid(), role: m.role, content: m.content })),
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
    messages: d.messages.map((m) => ({ role: m.role, content: m.content })),
  };
}

export const NEW_PROMPT_DRAFT: PromptDraft = {
  description: null,
  model: "demo/small",
  params_json: '{"temperature": 0.2}',
  variables: [],
  messages: [
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: "{{input}}" },
  ],
};

export const ROLES = ["system", "user", "assistant"] as const;
