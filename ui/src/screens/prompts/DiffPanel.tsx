import { useState } from "react";
import type { DiffLineDto } from "../../bindings/DiffLineDto";
import type { DiffSectionDto } from "../../bindings/DiffSectionDto";
import { ErrorText, Section } from "../../components/ui";
import { api, errorMessage, type Diff, type Version } from "../../lib/api";
import { linePrefix, sideBySide, tagClass } from "../../lib/diffView";

type Mode = "words" | "lines" | "side";

interface Props {
  slug: string;
  versions: Version[];
}

/** Pick two versions and see what changed, section by section. */
export function DiffPanel({ slug, versions }: Props) {
  const [from, setFrom] = useState<string>("");
  const [to, setTo] = useState<string>("");
  const [mode, setMode] = useState<Mode>("words");
  const [diff, setDiff] = useState<Diff | null>(null);
  const [error, setError] = useState<string | null>(null);

  const newest = versions[0]?.version;
  const fromV = from || String(versions[1]?.version ?? newest ?? "");
  const toV = to || String(newest ?? "");

  const show = async () => {
    setError(null);
    try {
      setDiff(await api.diffVersions(slug, Number(fromV), Number(toV)));
    } catch (e) {
      setError(errorMessage(e));
      setDiff(null);
    }
  };

  const options = versions.map((v) => (
    <option key={v.version} value={String(v.version)}>
      v{v.version}
      {v.labels.length ? ` (${v.labels.join(", ")})` : ""}
    </option>
  ));

  return (
    <Section
      title="Diff"
      aside={
        <div className="segmented" role="radiogroup" aria-label="Diff view">
          {(
            [
              ["words", "Inline words"],
              ["lines", "Lines"],
              ["side", "Side by side"],
            ] as const
          ).map(([m, label]) => (
            <button key={m} type="button" role="radio" aria-checked={mode === m} className={mode === m ? "on" : ""} onClick={() => setMode(m)}>
              {label}
            </button>
          ))}
        </div>
      }
    >
      <div className="row gap wrap">
        <label className="inline-field">
          <span>From</span>
          <select className="input" data-testid="diff-from" value={fromV} onChange={(e) => setFrom(e.target.value)}>
            {options}
          </select>
        </label>
        <label className="inline-field">
          <span>To</span>
          <select className="input" data-testid="diff-to" value={toV} onChange={(e) => setTo(e.target.value)}>
            {options}
          </select>
        </label>
        <button type="button" className="btn" data-testid="show-diff" disabled={versions.length === 0} onClick={() => void show()}>
          Show diff
        </button>
      </div>
      <ErrorText error={error} />
      <div className="diff-view" data-testid="diff-view">
        {!diff && !error && <div className="muted small">Choose two versions and press “Show diff”.</div>}
        {diff && !diff.changed && <div className="muted">v{diff.from} and v{diff.to} have the same content.</div>}
        {diff &&
          diff.sections
            .filter((s) => s.change !== "unchanged")
            .map((s, i) => <DiffSection key={`${diff.from}-${diff.to}-${i}`} section={s} mode={mode} />)}
      </div>
    </Section>
  );
}

function DiffSection({ section, mode }: { section: DiffSectionDto; mode: Mode }) {
  return (
    <div className={`diff-section change-${section.change}`}>
      <div className="diff-title">
        <span>{section.title}</span>
        <span className="tag">{section.change}</span>
      </div>
      {mode === "words" && (
        <pre className="diff-words">
          {section.words.map((w, i) => (
            <span key={i} className={tagClass(w.tag)}>
              {w.text}
            </span>
          ))}
        </pre>
      )}
      {mode === "lines" && (
        <div className="diff-lines">
          {section.lines.map((l, i) => (
            <div key={i} className={`diff-line ${tagClass(l.tag)}`}>
              <span className="ln">{l.old_line ?? ""}</span>
              <span className="ln">{l.new_line ?? ""}</span>
              <span className="sign">{linePrefix(l.tag)}</span>
              <Segments line={l} />
            </div>
          ))}
        </div>
      )}
      {mode === "side" && (
        <div className="diff-side">
          {sideBySide(section.lines).map((r, i) => (
            <div key={i} className="diff-side-row">
              <div className={`diff-line ${r.left ? tagClass(r.left.line.tag) : "diff-blank"}`}>
                <span className="ln">{r.left?.number ?? ""}</span>
                {r.left && <Segments line={r.left.line} />}
              </div>
              <div className={`diff-line ${r.right ? tagClass(r.right.line.tag) : "diff-blank"}`}>
                <span className="ln">{r.right?.number ?? ""}</span>
                {r.right && <Segments line={r.right.line} />}
              </div>
            </div>
          ))}
        </div>
      )}
    </div>
  );
}

function Segments({ line }: { line: DiffLineDto }) {
  return (
    <span className="diff-text">
      {line.segments.map((s, i) =>
        s.emphasized ? (
          <mark key={i} className="diff-em">
            {s.text}
          </mark>
        ) : (
          <span key={i}>{s.text}</span>
        ),
      )}
    </span>
  );
}
