import { describe, expect, it } from "vitest";
import { MAX_MODELS, initialSetup, setupReducer } from "../src/screens/compare/compareSetup";
import { editorReducer, initialEditor } from "../src/screens/prompts/editorState";
import type { Version } from "../src/lib/api";

describe("compare setup", () => {
  it("caps the models at eight and toggles them", () => {
    let s = initialSetup("summarize");
    for (let i = 0; i < MAX_MODELS + 2; i++) s = setupReducer(s, { type: "toggleModel", id: `m${i}` });
    expect(s.picked).toHaveLength(MAX_MODELS);
    s = setupReducer(s, { type: "toggleModel", id: "m0" });
    expect(s.picked).not.toContain("m0");
  });

  it("starts another prompt at its default version with empty rows", () => {
    let s = setupReducer(initialSetup("a"), { type: "version", sel: "3" });
    s = setupReducer(s, { type: "rows", rows: [{ x: "1" }, { x: "2" }] });
    expect(setupReducer(s, { type: "prompt", slug: "a" })).toBe(s);
    const other = setupReducer(s, { type: "prompt", slug: "b" });
    expect([other.slug, other.versionSel, other.formRows]).toEqual(["b", "", [{}]]);
  });

  it("a run clears feedback and errors and keeps the baseline in range", () => {
    let s = setupReducer(initialSetup("a"), { type: "toggleModel", id: "x" });
    s = setupReducer(s, { type: "baseline", column: 3 });
    s = setupReducer(s, { type: "vote", traceId: "t", value: 1 });
    s = setupReducer(s, { type: "error", message: "bad" });
    s = setupReducer(s, { type: "started" });
    expect([s.baseline, s.feedback, s.formError]).toEqual([0, {}, null]);
    expect(setupReducer(s, { type: "concurrency", value: 99 }).concurrency).toBe(16);
    expect(setupReducer(s, { type: "concurrency", value: Number.NaN }).concurrency).toBe(1);
  });
});

function version(n: number): Version {
  return {
    prompt_id: "p",
    slug: "s",
    version: n,
    latest_version: n,
    message: null,
    created_at: "",
    labels: [],
    draft: { description: null, model: "demo/small", params_json: "{}", variables: [], messages: [{ role: "user", content: `v${n}`, tool_calls: [], tool_call_id: null }] },
    variables_used: [],
    partials: [],
    file_text: "",
  };
}

describe("prompt editor document", () => {
  it("loads, edits and saves without replacing the editors' text", () => {
    let s = editorReducer(initialEditor, { type: "loaded", version: version(1) });
    expect(s.loadKey).toBe(1);
    const uid = s.draft!.messages[0].uid;
    s = editorReducer(s, { type: "editMessage", uid, patch: { content: "changed" } });
    s = editorReducer(s, { type: "commitMessage", text: "why" });
    s = editorReducer(s, { type: "saving" });
    expect(s.saving).toBe(true);
    s = editorReducer(s, { type: "saved", version: version(2) });
    expect([s.saving, s.commitMessage, s.loaded?.version, s.loadKey]).toEqual([false, "", 2, 1]);
    expect(s.draft!.messages[0].content).toBe("changed");
  });

  it("opening an older version replaces the draft and remounts the editors", () => {
    let s = editorReducer(initialEditor, { type: "loaded", version: version(3) });
    s = editorReducer(s, { type: "opened", version: version(1) });
    expect([s.draft!.messages[0].content, s.loadKey, s.saveStatus?.text]).toEqual(["v1", 2, "Loaded version 1 into the editor"]);
    s = editorReducer(s, { type: "saveFailed", message: "nope" });
    expect(s.saveStatus).toEqual({ tone: "error", text: "nope" });
  });
});
