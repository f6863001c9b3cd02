import { useEffect, useLayoutEffect, useRef, type RefObject } from "react";

/**
 * Calls `onShown` each time the element comes back into view after being out of it: its screen
 * shown again (screens stay mounted, hidden), or the element scrolled back into view. Does
 * nothing where IntersectionObserver is missing.
 */
export function useShownAgain(ref: RefObject<HTMLElement | null>, onShown: () => void): void {
  const callback = useRef(onShown);
  useLayoutEffect(() => {
    callback.current = onShown;
  });
  useEffect(() => {
    const el = ref.current;
    if (!el || typeof IntersectionObserver === "undefined") return;
    let visible: boolean | null = null;
    const io = new IntersectionObserver((entries) => {
      const now = entries.some((e) => e.isIntersecting);
      if (now && visible === false) callback.current();
      visible = now;
    });
    io.observe(el);
    return () => io.disconnect();
  }, [ref]);
}
