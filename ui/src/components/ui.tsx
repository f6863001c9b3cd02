import { useState, type ReactNode } from "react";

export function ErrorText({ error, testId }: { error: string | null | undefined; testId?: string }) {
  if (!error) return null;
  return (
    <div className="error-text" role="alert" data-testid={testId}>
      {error}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <div className="empty-title">{title}</div>
      {children && <div className="empty-body">{children}</div>}
    </div>
  );
}

export function Banner({ children, tone = "info" }: { children: ReactNode; tone?: "info" | "warn" }) {
  return <div className={`banner banner-${tone}`}>{children}</div>;
}

/** A titled panel: the header holds the title and `aside` (counts, toggles, buttons), the body
 * the content. */
export function Section({
  title,
  aside,
  children,
  className,
  bodyClassName,
  bodyTestId,
}: {
  title: string;
  aside?: ReactNode;
  children: ReactNode;
  className?: string;
  bodyClassName?: string;
  bodyTestId?: string;
}) {
  return (
    <section className={className ? `panel ${className}` : "panel"}>
      <header className="panel-head">
        <h2>{title}</h2>
        {aside}
      </header>
      <div className={bodyClassName ? `panel-body ${bodyClassName}` : "panel-body"} data-testid={bodyTestId}>
        {children}
      </div>
    </section>
  );
}

/** Copies text to the clipboard and says so for a moment. */
export function CopyButton({ text, label = "Copy", testId }: { text: string; label?: string; testId?: string }) {
  const [done, setDone] = useState<"idle" | "ok" | "fail">("idle");
  const copy = () => {
    const ok = () => setDone("ok");
    const fail = () => setDone("fail");
    if (navigator.clipboard?.writeText) navigator.clipboard.writeText(text).then(ok, fail);
    else fail();
    window.setTimeout(() => setDone("idle"), 1500);
  };
  return (
    <button type="button" className="btn btn-small" onClick={copy} data-testid={testId}>
      {done === "ok" ? "Copied" : done === "fail" ? "Select and copy" : label}
    </button>
  );
}

export function Kbd({ children }: { children: ReactNode }) {
  return <kbd className="kbd">{children}</kbd>;
}

export const isMac = typeof navigator !== "undefined" && /Mac|iPhone|iPad/.test(navigator.platform);
export const modKey = isMac ? "⌘" : "Ctrl";

/** A thumbs-up outline icon (flipped for thumbs down); inline so no icon font is needed. */
export function ThumbIcon({ down = false }: { down?: boolean }) {
  return (
    <svg width="13" height="13" viewBox="0 0 24 24" aria-hidden="true" style={down ? { transform: "scaleY(-1)" } : undefined}>
      <path
        d="M2 10h4v11H2zM8 21h9.3a2 2 0 0 0 2-1.6l1.6-7.5A2 2 0 0 0 19 9.5h-5.5l.9-4.3a1.8 1.8 0 0 0-3.3-1.3L8 9.5z"
        fill="none"
        stroke="currentColor"
        strokeWidth="1.8"
        strokeLinejoin="round"
      />
    </svg>
  );
}
