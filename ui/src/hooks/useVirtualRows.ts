import { useCallback, useEffect, useState, type RefObject } from "react";
import { visibleWindow, type WindowRange } from "../lib/windowing";

/** Tracks a scroll container and returns which fixed-height rows to render. */
export function useVirtualRows(
  ref: RefObject<HTMLElement | null>,
  count: number,
  rowHeight: number,
  overscan = 3,
  /** Height of sticky content above the rows (headers) inside the scroller. */
  headerHeight = 0,
): WindowRange {
  const [view, setView] = useState({ scrollTop: 0, height: 600 });
  const measure = useCallback(() => {
    const el = ref.current;
    if (!el) return;
    setView((v) =>
      v.scrollTop === el.scrollTop && v.height === el.clientHeight ? v : { scrollTop: el.scrollTop, height: el.clientHeight },
    );
  }, [ref]);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    measure();
    let frame = 0;
    const onScroll = () => {
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        measure();
      });
    };
    el.addEventListener("scroll", onScroll, { passive: true });
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => {
      el.removeEventListener("scroll", onScroll);
      ro.disconnect();
      if (frame) cancelAnimationFrame(frame);
    };
  }, [ref, measure]);
  return visibleWindow({
    scrollTop: Math.max(0, view.scrollTop - headerHeight),
    viewportHeight: Math.max(0, view.height - headerHeight),
    rowHeight,
    count,
    overscan,
  });
}
