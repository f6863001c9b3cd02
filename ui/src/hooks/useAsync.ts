import { useCallback, useEffect, useState } from "react";
import { errorMessage } from "../lib/api";

export interface AsyncState<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

interface Settled<T> {
  load: () => Promise<unknown>;
  tick: number;
  data: T | null;
  error: string | null;
}

/**
 * Runs `load` on mount and whenever it changes (wrap it in `useCallback` with what it reads, so the
 * hooks linter checks those dependencies); results of superseded calls are dropped. While a new
 * load runs, the previous data stays on screen and `loading` is true.
 */
export function useAsync<T>(load: () => Promise<T>): AsyncState<T> {
  const [tick, setTick] = useState(0);
  const [settled, setSettled] = useState<Settled<T> | null>(null);
  useEffect(() => {
    let live = true;
    load().then(
      (data) => live && setSettled({ load, tick, data, error: null }),
      (e: unknown) => live && setSettled((s) => ({ load, tick, data: s?.data ?? null, error: errorMessage(e) })),
    );
    return () => {
      live = false;
    };
  }, [load, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const current = settled !== null && settled.load === load && settled.tick === tick;
  return { data: settled?.data ?? null, error: current ? settled.error : null, loading: !current, reload };
}
