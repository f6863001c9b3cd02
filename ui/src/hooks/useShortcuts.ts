import { useEffect, useLayoutEffect, useRef } from "react";

export interface Shortcuts {
  /** Ctrl/Cmd+Enter. */
  onRun?: () => void;
  /** Ctrl/Cmd+S. */
  onSave?: () => void;
}

/**
 * Window-wide Ctrl/Cmd+Enter and Ctrl/Cmd+S while the calling screen is mounted. Listens in the
 * capture phase so editors (which bind Mod-Enter themselves) do not swallow them.
 */
export function useShortcuts(shortcuts: Shortcuts): void {
  const ref = useRef(shortcuts);
  useLayoutEffect(() => {
    ref.current = shortcuts;
  });
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (!(e.ctrlKey || e.metaKey) || e.altKey) return;
      const s = ref.current;
      if (e.key === "Enter" && s.onRun) {
        e.preventDefault();
        e.stopPropagation();
        s.onRun();
      } else if ((e.key === "s" || e.key === "S") && !e.shiftKey && s.onSave) {
        e.preventDefault();
        e.stopPropagation();
        s.onSave();
      }
    };
    window.addEventListener("keydown", onKey, true);
    return () => window.removeEventListener("keydown", onKey, true);
  }, []);
}
