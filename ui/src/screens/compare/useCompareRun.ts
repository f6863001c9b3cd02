import { useCallback, useEffect, useReducer, useRef, useState } from "react";
import type { CompareEventDto } from "../../bindings/CompareEventDto";
import { api, Channel, errorMessage, toAppError, type CompareReq, type CompareResult } from "../../lib/api";
import { compareReducer, idleState, type CompareState } from "../../lib/compareState";

export interface CompareRun {
  state: CompareState;
  /** Variable sets of the current run, one per row. */
  rows: Record<string, unknown>[];
  run: (req: CompareReq) => void;
  cancel: () => void;
  /** Shows a saved run (from "Recent runs") in the grid. */
  open: (result: CompareResult) => void;
}

/**
 * Owns one comparison at a time. Channel events are queued and applied once per animation
 * frame, so a burst of deltas costs one render. Starting a run drops the previous run's state.
 */
export function useCompareRun(): CompareRun {
  const [state, dispatch] = useReducer(compareReducer, idleState);
  const runId = useRef(0);
  const queue = useRef<CompareEventDto[]>([]);
  const frame = useRef(0);
  const [rows, setRows] = useState<Record<string, unknown>[]>([]);
  const channel = useRef<Channel<CompareEventDto[]> | null>(null);
  const cancelling = useRef(false);

  const flush = useCallback(() => {
    frame.current = 0;
    if (queue.current.length === 0) return;
    const events = queue.current;
    queue.current = [];
    dispatch({ type: "events", runId: runId.current, events });
  }, []);

  useEffect(
    () => () => {
      if (frame.current) cancelAnimationFrame(frame.current);
      if (channel.current) channel.current.onmessage = () => undefined;
    },
    [],
  );

  const run = useCallback(
    (req: CompareReq) => {
      const id = ++runId.current;
      // Detach the previous run's channel and pending events: nothing of it is kept.
      if (channel.current) channel.current.onmessage = () => undefined;
      queue.current = [];
      cancelling.current = false;
      setRows(req.variable_sets);
      dispatch({ type: "start", runId: id, models: req.models, rows: req.variable_sets.length });
      // The engine sends events in batches (one message per ~32 ms).
      const ch = new Channel<CompareEventDto[]>();
      ch.onmessage = (events) => {
        if (id !== runId.current) return;
        for (const e of events) queue.current.push(e);
        if (!frame.current) frame.current = requestAnimationFrame(flush);
      };
      channel.current = ch;
      api.runCompare(req, ch).then(
        (result) => {
          if (id !== runId.current) return;
          flush();
          dispatch({ type: "result", runId: id, result });
        },
        (e: unknown) => {
          if (id !== runId.current) return;
          flush();
          const err = toAppError(e);
          const cancelled = cancelling.current || err.kind === "cancelled";
          dispatch({ type: "failed", runId: id, message: cancelled ? "Cancelled." : errorMessage(e), cancelled });
        },
      );
    },
    [flush],
  );

  const cancel = useCallback(() => {
    cancelling.current = true;
    api.cancelCompare().catch(() => undefined);
  }, []);

  const open = useCallback((result: CompareResult) => {
    const id = ++runId.current;
    if (channel.current) channel.current.onmessage = () => undefined;
    queue.current = [];
    setRows(result.cells.map(() => ({})));
    dispatch({ type: "start", runId: id, models: result.models, rows: result.cells.length });
    dispatch({ type: "result", runId: id, result });
  }, []);

  return { state, rows, run, cancel, open };
}
