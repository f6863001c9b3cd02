import type { Notice } from "../lib/notices";

/** The notification stack in the window's corner. */
export function Notices({ notices, onDismiss }: { notices: Notice[]; onDismiss: (key: string) => void }) {
  if (notices.length === 0) return null;
  return (
    <div className="notices" aria-live="polite">
      {notices.map((n) => (
        <div key={n.key} className={`notice notice-${n.tone}`} role="alert" data-testid="notice">
          <div className="notice-body">
            <strong>{n.title}</strong>
            <div>{n.message}</div>
          </div>
          <button type="button" className="btn btn-small" aria-label="Dismiss" onClick={() => onDismiss(n.key)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
