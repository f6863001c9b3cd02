export interface WindowInput {
  /** Pixels scrolled from the top of the list. */
  scrollTop: number;
  /** Height of the visible area in pixels. */
  viewportHeight: number;
  /** Fixed height of one row in pixels. */
  rowHeight: number;
  /** Number of rows in the list. */
  count: number;
  /** Extra rows rendered above and below the visible ones. */
  overscan?: number;
}

export interface WindowRange {
  /** First row to render (inclusive). */
  start: number;
  /** Row after the last one to render (exclusive). */
  end: number;
  /** Spacer height above the rendered rows. */
  padTop: number;
  /** Spacer height below the rendered rows. */
  padBottom: number;
  /** Height of the whole list. */
  totalHeight: number;
}

/** Which rows of a fixed-height list to render for a scroll position. */
export function visibleWindow({ scrollTop, viewportHeight, rowHeight, count, overscan = 3 }: WindowInput): WindowRange {
  const totalHeight = Math.max(0, count) * rowHeight;
  if (count <= 0 || rowHeight <= 0) return { start: 0, end: 0, padTop: 0, padBottom: 0, totalHeight: 0 };
  const maxScroll = Math.max(0, totalHeight - viewportHeight);
  const top = Math.min(Math.max(0, scrollTop), maxScroll);
  const first = Math.floor(top / rowHeight);
  const visible = Math.ceil((top + Math.max(0, viewportHeight)) / rowHeight) - first;
  const start = Math.max(0, first - overscan);
  const end = Math.min(count, first + Math.max(1, visible) + overscan);
  return {
    start,
    end,
    padTop: start * rowHeight,
    padBottom: (count - end) * rowHeight,
    totalHeight,
  };
}

/** The scrollTop that brings row `index` fully into view (unchanged if it already is). */
export function scrollToRow(index: number, scrollTop: number, viewportHeight: number, rowHeight: number): number {
  const top = index * rowHeight;
  const bottom = top + rowHeight;
  if (top < scrollTop) return top;
  if (bottom > scrollTop + viewportHeight) return Math.max(0, bottom - viewportHeight);
  return scrollTop;
}
