import { useState } from "react";
import { ErrorText, Section } from "../../components/ui";
import { api, errorMessage, type Version } from "../../lib/api";
import { formatRelative, formatTime } from "../../lib/format";

interface Props {
  slug: string;
  versions: Version[];
  current: number;
  onOpen: (v: Version) => void;
  onLabelSet: () => void;
}

/** Every saved version, newest first, with labels and a way to move a label. */
export function VersionTimeline({ slug, versions, current, onOpen, onLabelSet }: Props) {
  const [selected, setSelected] = useState<number | null>(null);
  const [label, setLabel] = useState("production");
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);

  const setLabelOn = async (version: number) => {
    setError(null);
    setNote(null);
    try {
      await api.setLabel(slug, version, label.trim());
      setNote(`“${label.trim()}” now points at version ${version}.`);
      onLabelSet();
    } catch (e) {
      setError(errorMessage(e));
    }
  };

  return (
    <Section
      title="Versions"
      aside={
        <span className="muted small">{versions.length} saved</span>
      }
    >
      <ol className="timeline">
        {versions.map((v) => {
          const open = selected === v.version;
          return (
            <li key={v.version} className={`timeline-item ${open ? "open" : ""} ${v.version === current ? "current" : ""}`} data-testid={`version-item-${v.version}`}>
              <button type="button" className="timeline-main" aria-expanded={open} onClick={() => setSelected(open ? null : v.version)}>
                <span className="mono version-num">v{v.version}</span>
                <span className="timeline-msg">{v.message ?? <em className="muted">no message</em>}</span>
                <span className="labels">
                  {v.labels.map((l) => (
                    <span key={l} className="label-chip">
                      {l}
                    </span>
                  ))}
                </span>
                <time className="muted small" dateTime={v.created_at} title={formatTime(v.created_at)}>
                  {formatRelative(v.created_at)}
                </time>
              </button>
              {open && (
                <div className="timeline-actions row gap wrap">
                  <input
                    className="input mono"
                    aria-label={`Label for version ${v.version}`}
                    value={label}
                    onChange={(e) => setLabel(e.target.value)}
                  />
                  <button type="button" className="btn btn-small" disabled={!label.trim()} onClick={() => void setLabelOn(v.version)}>
                    Set label
                  </button>
                  <button type="button" className="btn btn-small btn-ghost" onClick={() => onOpen(v)}>
                    Open in editor
                  </button>
                </div>
              )}
            </li>
          );
        })}
      </ol>
      {versions.length === 0 && <div className="muted">No versions yet.</div>}
      <ErrorText error={error} />
      {note && <div className="muted small">{note}</div>}
    </Section>
  );
}
