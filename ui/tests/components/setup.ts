// What jsdom lacks and the components use.
import { afterEach } from "vitest";
import { cleanup } from "@testing-library/react";

class NoopResizeObserver {
  observe() {}
  unobserve() {}
  disconnect() {}
}
globalThis.ResizeObserver ??= NoopResizeObserver as unknown as typeof ResizeObserver;

afterEach(() => cleanup());

// CodeMirror measures text ranges; jsdom does no layout, so ranges have no boxes.
if (typeof Range !== "undefined") {
  const none = () => ({ length: 0, item: () => null, [Symbol.iterator]: [][Symbol.iterator] }) as unknown as DOMRectList;
  Range.prototype.getClientRects ??= none;
  Range.prototype.getBoundingClientRect ??= () => new DOMRect(0, 0, 0, 0);
}
