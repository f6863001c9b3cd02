import { useCallback, useEffect, useReducer, useRef } from "react";
import type { Experiment } from "../../bindings/Experiment";
import type { ExperimentEventDto } from "../../bindings/ExperimentEventDto";
import type { ExperimentRequest } from "../../bindings/ExperimentRequest";
import { api, Channel, errorMessage, toAppError } from "../../lib/api";
import { experimentReducer, idleExperiment, type ExperimentStart, type ExperimentState } from "../../lib/experimentState";

export interface ExperimentRun {
  state: ExperimentState;
  /** Runs an experiment that was planned (and confirmed when it costs more than the setting). */
  run: (req: ExperimentRequest, start: ExperimentStart, onSettled?: () => void) => void;
  /** Stops it; the cells that finished are kept. */
  cancel: () => void;
  /** Shows a saved experiment (from the history). */
  open: (experiment: Experiment) => void;
}

/**
 * Owns one experiment at a time. As for comparisons, the channel's batches are queued and applied
 * once per animation frame. The state lives in the Compare screen, which stays mounted when
 * another screen is shown, so leaving the screen does not stop or lose a run.
 */
export function useExperimentRun(): ExperimentRun {
  const [state, dispatch] = useReducer(experimentReducer, idleExperiment);
  const runId = useRef(0);
  const queue = useRef<ExperimentEventDto[]>([]);
  const frame = useRef(0);
  const channel = useRef<Channel<ExperimentEventDto[]> | null>(null);
  const cancelling = useRef(false);

  const flush = useCallback(() => {
    if (frame.current) cancelAnimationFrame(frame.current);
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

  /** Drops the previous run's channel and pending events. */
  const detach = useCallback(() => {
    if (channel.current) channel.current.onmessage = () => undefined;
    channel.current = null;
    queue.current = [];
  }, []);

  const run = useCallback(
    (req: ExperimentRequest, start: ExperimentStart, onSettled?: () => void) => {
      const id = ++runId.current;
      detach();
      cancelling.current = false;
      dispatch({ type: "start", runId: id, ...start });
      const ch = new Channel<ExperimentEventDto[]>();
      ch.onmessage = (events) => {
        if (id !== runId.current) return;
        for (const e of events) queue.current.push(e);
        if (!frame.current) frame.current = requestAnimationFrame(flush);
      };
      channel.current = ch;
      api.runExperiment(req, ch).then(
        (experiment) => {
          if (id !== runId.current) return;
          flush();
          dispatch({ type: "result", runId: id, experiment });
          onSettled?.();
        },
        (e: unknown) => {
          if (id !== runId.current) return;
          flush();
          const cancelled = cancelling.current || toAppError(e).kind === "cancelled";
          dispatch({ type: "failed", runId: id, message: cancelled ? "Cancelled." : errorMessage(e), cancelled });
          onSettled?.();
        },
      );
    },
    [flush, detach],
  );

  const cancel = useCallback(() => {
    cancelling.current = true;
    api.cancelExperiment().catch(() => undefined);
  }, []);

  const open = useCallback((experiment: Experiment) => {
    const id = ++runId.current;
    detach();
    dispatch({ type: "open", runId: id, experiment });
  }, [detach]);

  return { state, run, cancel, open };
}
