import { useEffect, useSyncExternalStore } from "react";
import type { KeyDto } from "../bindings/KeyDto";
import type { ModelOption } from "../bindings/ModelOption";
import { api, errorMessage, onApiChange, type Summary } from "./api";

/**
 * Lists several screens show (prompts, keys, models), fetched once and shared: every screen reads
 * the same copy, and a change made anywhere invalidates it (`invalidate("prompts")`), so the next
 * reader fetches afresh and every screen showing it re-renders with the new list.
 */
export interface ResourceState<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
}

interface Entry<T> {
  state: ResourceState<T>;
  /** Bumped by invalidate; a fetch started before it does not overwrite newer data. */
  generation: number;
  inFlight: number | null;
  /** The generation the current data (or error) belongs to. */
  loaded: number | null;
  load: () => Promise<T>;
  listeners: Set<() => void>;
}

export type ResourceName = "prompts" | "keys" | "models";

type Loaders = { prompts: Summary[]; keys: KeyDto[]; models: ModelOption[] };

const loaders: { [K in ResourceName]: () => Promise<Loaders[K]> } = {
  prompts: () => api.listPrompts(),
  keys: () => api.listKeys(),
  models: () => api.listModels(),
};

const entries = new Map<ResourceName, Entry<unknown>>();

function entry<K extends ResourceName>(name: K): Entry<Loaders[K]> {
  let e = entries.get(name) as Entry<Loaders[K]> | undefined;
  if (!e) {
    e = { state: { data: null, error: null, loading: false }, generation: 0, inFlight: null, loaded: null, load: loaders[name], listeners: new Set() };
    entries.set(name, e as Entry<unknown>);
  }
  return e;
}

function publish<T>(e: Entry<T>, state: ResourceState<T>) {
  e.state = state;
  for (const l of e.listeners) l();
}

/** Fetches `name` unless a fetch for the current generation is already running or done. */
function ensure(name: ResourceName) {
  const e = entry(name);
  if (e.inFlight === e.generation || e.loaded === e.generation) return;
  const gen = e.generation;
  e.inFlight = gen;
  publish(e, { ...e.state, loading: true });
  e.load().then(
    (data) => {
      if (gen !== e.generation) return;
      e.inFlight = null;
      e.loaded = gen;
      publish(e, { data, error: null, loading: false });
    },
    (err: unknown) => {
      if (gen !== e.generation) return;
      e.inFlight = null;
      e.loaded = gen;
      publish(e, { data: e.state.data, error: errorMessage(err), loading: false });
    },
  );
}

/** Marks lists stale after a change; readers on screen fetch them again at once. */
export function invalidate(...names: ResourceName[]) {
  for (const name of names) {
    const e = entry(name);
    e.generation++;
    // Readers keep showing the old list until the new one arrives; with no reader on screen the
    // next read fetches it.
    if (e.listeners.size > 0) ensure(name);
  }
}

// A change made through the api makes the lists it affects stale.
onApiChange((what) => {
  if (what === "prompts") invalidate("prompts");
  else if (what === "keys") invalidate("keys", "models");
  // Datasets are not among the shared lists: their screen fetches its own.
});

/** For tests: forget everything (and use other loaders). */
export function resetResources(replace?: Partial<{ [K in ResourceName]: () => Promise<Loaders[K]> }>) {
  entries.clear();
  if (replace) Object.assign(loaders, replace);
}

/** The shared copy of `name`, fetched on first use and after every invalidation. */
export function useResource<K extends ResourceName>(name: K): ResourceState<Loaders[K]> & { reload: () => void } {
  const e = entry(name);
  const state = useSyncExternalStore(
    (onChange) => {
      e.listeners.add(onChange);
      return () => e.listeners.delete(onChange);
    },
    () => e.state,
  );
  useEffect(() => ensure(name), [name, state]);
  return { ...state, reload: () => invalidate(name) };
}
