import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { EvalDefDto } from "../../bindings/EvalDefDto";
import type { GateOutcome } from "../../bindings/GateOutcome";
import type { VersionEvalDto } from "../../bindings/VersionEvalDto";
import { ErrorText, Section } from "../../components/ui";
import { useShownAgain } from "../../hooks/useShownAgain";
import { api, errorMessage, type Version } from "../../lib/api";
import { formatRelative, formatTime } from "../../lib/format";

interface Props {
  slug: string;
  versions: Version[];
  current: number;
  onOpen: (v: Version) => void;
  onLabelSet: () => void;
}

/** A label move its gate refused, with what the gate found. */
interface Refusal {
  version: number;
  label: string;
  evalName: string;
  outcome: GateOutcome;
}

const percent = (rate: number) => `${Math.round(rate * 100)}%`;

/**
 * Every saved version, newest first, with labels, its latest evaluation, and a way to move a
 * label: directly, or through a gate (an eval run on the version, which must pass and must not
 * regress on the version the label points at now).
 */
export function VersionTimeline({ slug, versions, current, onOpen, onLabelSet }: Props) {
  const [selected, setSelected] = useState<number | null>(null);
  const [label, setLabel] = useState("production");
  const [gate, setGate] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [running, setRunning] = useState<number | null>(null);
  const [refused, setRefused] = useState<Refusal | null>(null);

  // Each version's latest eval and the evals a gate can run, fetched again when the versions
  // change, when a gate has run, and when the timeline comes back into view.
  const [tick, setTick] = useState(0);
  const again = useCallback(() => setTick((t) => t + 1), []);
  const [results, setResults] = useState<{ slug: string; list: VersionEvalDto[] } | null>(null);
  const [evals, setEvals] = useState<EvalDefDto[]>([]);
  const [loadError, setLoadError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    api.versionEvals(slug).then(
      (list) => {
        if (!live) return;
        setResults({ slug, list });
        setLoadError(null);
      },
      (e: unknown) => live && setLoadError(errorMessage(e)),
    );
    return () => {
      live = false;
    };
  }, [slug, versions, tick]);
  useEffect(() => {
    let live = true;
    api.listEvals().then(
      (list) => live && setEvals(list),
      (e: unknown) => live && setLoadError(errorMessage(e)),
    );
    return () => {
      live = false;
    };
  }, [tick]);
  const section = useRef<HTMLDivElement>(null);
  useShownAgain(section, again);
  const latestEval = useMemo(
    () => new Map((results?.slug === slug ? results.list : []).map((r) => [r.version, r] as const)),
    [results, slug],
  );
  // A gate chosen before the evals were fetched again, and since removed, is no gate.
  const gateName = evals.some((e) => e.name === gate) ? gate : "";

  const setLabelOn = async (version: number) => {
    const name = label.trim();
    setError(null);
    setNote(null);
    setRefused(null);
    if (!gateName) {
      try {
        await api.setLabel(slug, version, name);
        setNote(`“${name}” now points at version ${version}.`);
        onLabelSet();
      } catch (e) {
        setError(errorMessage(e));
      }
      return;
    }
    setRunning(version);
    try {
      const outcome = await api.setLabelGated(slug, version, name, gateName);
      if (outcome.allowed) {
        setNote(`“${name}” now points at version ${version} (gate passed: ${percent(outcome.pass_rate)}).`);
        onLabelSet();
      } else {
        setRefused({ version, label: name, evalName: gateName, outcome });
      }
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setRunning(null);
      // The gate's experiment is the version's latest eval now.
      again();
    }
  };

  return (
    <Section title="Versions" aside={<span className="muted small">{versions.length} saved</span>}>
      <div ref={section}>
        <ol className="timeline">
          {versions.map((v) => {
            const open = selected === v.version;
            const ev = latestEval.get(v.version);
            return (
              <li key={v.version} className={`timeline-item ${open ? "open" : ""} ${v.version === current ? "current" : ""}`} data-testid={`version-item-${v.version}`}>
                <button type="button" className="timeline-main with-eval" aria-expanded={open} onClick={() => setSelected(open ? null : v.version)}>
                  <span className="mono version-num">v{v.version}</span>
                  <span className="timeline-msg">{v.message ?? <em className="muted">no message</em>}</span>
                  <span className="labels">
                    {v.labels.map((l) => (
                      <span key={l} className="label-chip">
                        {l}
                      </span>
                    ))}
                  </span>
                  {ev ? (
                    <span
                      className={`eval-chip ${ev.passed ? "eval-pass" : "eval-fail"}`}
                      data-testid={`version-eval-${v.version}`}
                      title={`${ev.name} · ${ev.model} · ${formatTime(ev.created_at_ms)}${ev.passed ? "" : " · a gate failed"}`}
                    >
                      eval {percent(ev.pass_rate)}
                    </span>
                  ) : (
                    <span />
                  )}
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
                    <label className="inline-field" title={evals.length === 0 ? "No eval in the library yet (portolan eval save)" : "Run this eval first; the label moves only if it passes"}>
                      <span>Gate</span>
                      <select className="input select-small" data-testid="label-gate-eval" value={gateName} onChange={(e) => setGate(e.target.value)}>
                        <option value="">no gate</option>
                        {evals.map((e) => (
                          <option key={e.name} value={e.name}>
                            {e.name}
                          </option>
                        ))}
                      </select>
                    </label>
                    <button
                      type="button"
                      className="btn btn-small"
                      data-testid={`set-label-${v.version}`}
                      disabled={!label.trim() || running !== null}
                      onClick={() => void setLabelOn(v.version)}
                    >
                      Set label
                    </button>
                    <button type="button" className="btn btn-small btn-ghost" onClick={() => onOpen(v)}>
                      Open in editor
                    </button>
                    {running === v.version && (
                      <span className="muted small" role="status" data-testid="gate-running">
                        running the gate…
                      </span>
                    )}
                  </div>
                )}
              </li>
            );
          })}
        </ol>
      </div>
      {versions.length === 0 && <div className="muted">No versions yet.</div>}
      <ErrorText error={loadError} />
      <ErrorText error={error} />
      {note && (
        <div className="muted small" data-testid="label-status" role="status">
          {note}
        </div>
      )}
      {refused && (
        <GateRefused
          key={refused.outcome.experiment_id}
          slug={slug}
          refusal={refused}
          onOverridden={(text) => {
            setRefused(null);
            setNote(text);
            onLabelSet();
          }}
          onDismiss={() => setRefused(null)}
        />
      )}
    </Section>
  );
}

/** What the gate found, and a way to move the label anyway with a reason for the audit log. */
function GateRefused({
  slug,
  refusal,
  onOverridden,
  onDismiss,
}: {
  slug: string;
  refusal: Refusal;
  onOverridden: (note: string) => void;
  onDismiss: () => void;
}) {
  const { version, label, evalName, outcome } = refusal;
  const [overriding, setOverriding] = useState(false);
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const override = async () => {
    const why = reason.trim();
    if (!why) return;
    setBusy(true);
    setError(null);
    try {
      await api.setLabelOverride(slug, version, label, evalName, why);
      onOverridden(`“${label}” now points at version ${version} (gate overridden; your reason is in the audit log).`);
    } catch (e) {
      setError(errorMessage(e));
      setBusy(false);
    }
  };

  return (
    <div className="gate-refused" data-testid="gate-refused">
      <div className="row gap">
        <strong className="grow">
          “{label}” was not moved: the gate “{evalName}” refused version {version}.
        </strong>
        <button type="button" className="btn btn-small btn-ghost" aria-label="Dismiss" onClick={onDismiss}>
          ✕
        </button>
      </div>
      <div className="small">
        {percent(outcome.pass_rate)} of rows passed every check. Experiment <span className="mono">{outcome.experiment_id}</span>.
      </div>
      {outcome.failed_gates.length > 0 && (
        <>
          <div className="small">Failed gates:</div>
          <ul className="gate-list">
            {outcome.failed_gates.map((g) => (
              <li key={g} data-testid="gate-failed">
                {g}
              </li>
            ))}
          </ul>
        </>
      )}
      {outcome.worse_than !== null && <div className="small">Version {version} is significantly worse than version {outcome.worse_than}.</div>}
      {outcome.regressed.length > 0 && (
        <>
          <div className="small">Rows that pass on the labelled version and fail on this one:</div>
          <ul className="gate-list">
            {outcome.regressed.map((r, i) => (
              <li key={i} className="mono" data-testid="gate-regressed-row">
                {r}
              </li>
            ))}
          </ul>
        </>
      )}
      {!overriding ? (
        <button type="button" className="btn btn-small" data-testid="gate-override" onClick={() => setOverriding(true)}>
          Override…
        </button>
      ) : (
        <form
          className="row gap wrap"
          onSubmit={(e) => {
            e.preventDefault();
            void override();
          }}
        >
          <input
            className="input grow"
            data-testid="gate-override-reason"
            aria-label="Reason for the override"
            placeholder="Why the label should move anyway"
            value={reason}
            autoFocus
            onChange={(e) => setReason(e.target.value)}
          />
          <button type="submit" className="btn btn-small btn-danger" data-testid="gate-override-confirm" disabled={!reason.trim() || busy}>
            Move “{label}” anyway
          </button>
          <span className="muted small">The override and its reason are recorded in the audit log.</span>
        </form>
      )}
      <ErrorText error={error} />
    </div>
  );
}
