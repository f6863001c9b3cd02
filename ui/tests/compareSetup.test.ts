import { describe, expect, it } from "vitest";
import { MAX_REPEATS, experimentColumns, initialSetup, isExperiment, pickedVersions, setupReducer, type SetupAction } from "../src/screens/compare/compareSetup";

const replay = (...actions: SetupAction[]) => actions.reduce(setupReducer, initialSetup("summarize"));

describe("compare setup: experiments", () => {
  it("is a plain comparison until evaluators, versions, repeats or a dataset make it an experiment", () => {
    const plain = replay({ type: "toggleModel", id: "demo/small" });
    expect(isExperiment(plain)).toBe(false);
    expect(isExperiment(setupReducer(plain, { type: "addEvaluator", spec: { type: "is-json" } }))).toBe(true);
    expect(isExperiment(setupReducer(plain, { type: "toggleExtraVersion", sel: "2" }))).toBe(true);
    expect(isExperiment(setupReducer(plain, { type: "repeats", value: 3 }))).toBe(true);
    expect(isExperiment(setupReducer(plain, { type: "dataset", name: "tickets" }))).toBe(true);
  });

  it("columns are every version picked on every model picked", () => {
    const s = replay(
      { type: "toggleModel", id: "a" },
      { type: "toggleModel", id: "b" },
      { type: "version", sel: "3" },
      { type: "toggleExtraVersion", sel: "production" },
    );
    expect(pickedVersions(s)).toEqual(["3", "production"]);
    expect(experimentColumns(s, "summarize")).toEqual([
      { prompt: "summarize", version: "3", model: "a" },
      { prompt: "summarize", version: "3", model: "b" },
      { prompt: "summarize", version: "production", model: "a" },
      { prompt: "summarize", version: "production", model: "b" },
    ]);
    // The default version is sent as null (the engine picks production, else the latest).
    expect(pickedVersions(replay())).toEqual([null]);
  });

  it("an extra version is never the first one, and another prompt starts without extras", () => {
    let s = replay({ type: "toggleExtraVersion", sel: "2" }, { type: "toggleExtraVersion", sel: "4" });
    s = setupReducer(s, { type: "version", sel: "2" });
    expect(s.extraVersions).toEqual(["4"]);
    expect(setupReducer(s, { type: "toggleExtraVersion", sel: "2" })).toBe(s);
    expect(setupReducer(s, { type: "toggleExtraVersion", sel: "4" }).extraVersions).toEqual([]);
    expect(setupReducer(s, { type: "prompt", slug: "other" }).extraVersions).toEqual([]);
  });

  it("keeps repeats in 1–20, a dataset's version with its dataset, evaluators in order", () => {
    expect(replay({ type: "repeats", value: 99 }).repeats).toBe(MAX_REPEATS);
    expect(replay({ type: "repeats", value: 0 }).repeats).toBe(1);
    const ds = replay({ type: "dataset", name: "tickets" }, { type: "datasetVersion", sel: "2" });
    expect([ds.dataset, ds.datasetVersion]).toEqual(["tickets", "2"]);
    expect(setupReducer(ds, { type: "dataset", name: "other" }).datasetVersion).toBe("");
    const ev = replay(
      { type: "addEvaluator", spec: { type: "is-json" } },
      { type: "addEvaluator", spec: { type: "contains", value: "a" } },
      { type: "removeEvaluator", index: 0 },
    );
    expect(ev.evaluators).toEqual([{ type: "contains", value: "a" }]);
  });

  it("a run keeps the baseline among its columns", () => {
    const s = replay({ type: "toggleModel", id: "a" }, { type: "baseline", column: 3 });
    expect(setupReducer(s, { type: "started", columns: 4 }).baseline).toBe(3);
    expect(setupReducer(s, { type: "started", columns: 2 }).baseline).toBe(0);
  });
});
