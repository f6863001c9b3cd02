import { useCallback, useEffect, useMemo, useState } from "react";
import type { GatewayStatus } from "../../bindings/GatewayStatus";
import type { OtelStatusDto } from "../../bindings/OtelStatusDto";
import { CopyButton, Empty, ErrorText, Section } from "../../components/ui";
import { useAsync } from "../../hooks/useAsync";
import { useResource } from "../../lib/resources";
import { api, errorMessage } from "../../lib/api";
import { formatRelative, formatTime } from "../../lib/format";
import { gatewaySnippets } from "../../lib/snippets";
import { buildVariableFields, exampleVariables } from "../../lib/variables";

const POLL_MS = 2000;

/** Polls gateway_status every 2 s while the screen is shown and the window visible. */
function useGatewayStatus(active: boolean) {
  const [status, setStatus] = useState<GatewayStatus | null>(null);
  const [error, setError] = useState<string | null>(null);
  const refresh = useCallback(() => {
    api.gatewayStatus().then(
      (s) => {
        setStatus(s);
        setError(null);
      },
      (e: unknown) => setError(errorMessage(e)),
    );
  }, []);
  useEffect(() => {
    if (!active) return;
    refresh();
    const t = window.setInterval(() => {
      if (document.visibilityState === "visible") refresh();
    }, POLL_MS);
    return () => window.clearInterval(t);
  }, [refresh, active]);
  return { status, setStatus, error, setError, refresh };
}

export function GatewayScreen({ initialSlug, active = true }: { initialSlug: string | null; active?: boolean }) {
  const { status, setStatus, error, setError, refresh } = useGatewayStatus(active);
  // The port field shows the gateway's port until the user types another.
  const [typedPort, setPort] = useState<string | null>(null);
  const port = typedPort ?? String(status?.port || 8787);
  const [busy, setBusy] = useState(false);
  const running = status?.running ?? false;

  const toggle = async () => {
    setBusy(true);
    setError(null);
    try {
      if (running) setStatus(await api.gatewayStop());
      else {
        const n = Number(port);
        if (!Number.isInteger(n) || n < 1 || n > 65535) throw { kind: "client", message: "The port must be a number from 1 to 65535." };
        setStatus(await api.gatewayStart(n));
      }
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="gateway">
      <section className="panel">
        <header className="panel-head">
          <h2>Local gateway</h2>
          <span className="muted small">OpenAI-compatible, on this machine only (127.0.0.1)</span>
        </header>
        <div className="panel-body gateway-main">
          <label className="switch">
            <input type="checkbox" role="switch" data-testid="gateway-toggle" checked={running} disabled={busy || !status} onChange={() => void toggle()} />
            <span className="switch-track" aria-hidden="true" />
            <span>{busy ? (running ? "Stopping…" : "Starting…") : running ? "Running" : "Stopped"}</span>
          </label>
          <label className="inline-field">
            <span>Port</span>
            <input
              className="input mono port"
              type="number"
              min={1}
              max={65535}
              value={port}
              disabled={running}
              aria-label="Gateway port"
              onChange={(e) => setPort(e.target.value)}
            />
          </label>
          <div className="stat">
            <span className="muted small">URL</span>
            <span className="mono" data-testid="gateway-url">
              {status?.url ?? "—"}
            </span>
            {status?.url && <CopyButton text={status.url} />}
          </div>
          <div className="stat">
            <span className="muted small">Requests</span>
            <span className="mono stat-num" data-testid="gateway-requests">
              {status?.requests ?? 0}
            </span>
          </div>
          <button type="button" className="btn btn-small btn-ghost" onClick={refresh}>
            Refresh
          </button>
        </div>
        <div className="panel-body">
          <ErrorText error={error} />
          {!running && <div className="muted small">Turn the gateway on to call your prompts from any OpenAI SDK; every call is logged on the Logs screen.</div>}
        </div>
      </section>
      {status && <Telemetry otel={status.otel} />}
      <div className="gateway-grid">
        <Tokens status={status} onChanged={refresh} />
        <SnippetsPanel url={status?.url ?? `http://127.0.0.1:${port || 8787}/v1`} running={running} initialSlug={initialSlug} />
      </div>
    </div>
  );
}

/** OpenTelemetry export: where spans go and how many made it (set with `portolan settings otel`). */
export function Telemetry({ otel }: { otel: OtelStatusDto }) {
  return (
    <section className="panel" data-testid="otel-panel">
      <header className="panel-head">
        <h2>OpenTelemetry</h2>
        <span className="muted small">Every call as GenAI spans over OTLP/HTTP</span>
      </header>
      <div className="panel-body gateway-main">
        {otel.endpoint ? (
          <>
            <div className="stat">
              <span className="muted small">Collector</span>
              <span className="mono" data-testid="otel-endpoint">
                {otel.endpoint}
              </span>
            </div>
            <div className="stat">
              <span className="muted small">Content</span>
              <span>{otel.content ? "on (PII redacted)" : "off"}</span>
            </div>
            {otel.headers.length > 0 && (
              <div className="stat">
                <span className="muted small">Headers (sealed)</span>
                <span className="mono">{otel.headers.join(", ")}</span>
              </div>
            )}
            <div className="stat">
              <span className="muted small">Spans exported / dropped</span>
              <span className="mono stat-num" data-testid="otel-counts">
                {otel.exported} / {otel.dropped}
              </span>
            </div>
            {otel.last_error && <div className="tone-warn small">Last export failed: {otel.last_error}</div>}
          </>
        ) : (
          <span className="muted small" data-testid="otel-off">
            Off. Switch it on with <code>portolan settings otel --endpoint http://collector:4318/v1/traces</code>; calls are never slowed by it.
          </span>
        )}
      </div>
    </section>
  );
}

function Tokens({ status, onChanged }: { status: GatewayStatus | null; onChanged: () => void }) {
  const [name, setName] = useState("");
  const [secret, setSecret] = useState<{ name: string; token: string } | null>(null);
  const [confirm, setConfirm] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const create = async () => {
    const n = name.trim();
    if (!n) {
      setError("Name the token first, e.g. my-script.");
      return;
    }
    setError(null);
    try {
      const token = await api.createToken(n);
      setSecret({ name: n, token });
      setName("");
      onChanged();
    } catch (e) {
      setError(errorMessage(e));
    }
  };
  const revoke = async (n: string) => {
    setError(null);
    try {
      await api.revokeToken(n);
      setConfirm(null);
      onChanged();
    } catch (e) {
      setError(errorMessage(e));
    }
  };
  const tokens = status?.tokens ?? [];
  return (
    <Section
      title="Tokens"
      aside={
        <span className="muted small">Every gateway request needs one (Authorization: Bearer …)</span>
      }
    >
      <form
        className="row gap"
        onSubmit={(e) => {
          e.preventDefault();
          void create();
        }}
      >
        <input className="input mono grow" aria-label="New token name" placeholder="token name" value={name} onChange={(e) => setName(e.target.value)} data-testid="token-name" />
        <button type="submit" className="btn btn-primary" data-testid="create-token">
          Create token
        </button>
      </form>
      {secret && (
        <div className="secret-once" role="status">
          <div>
            Token “{secret.name}”. <strong>Copy it now: it is shown only once.</strong>
          </div>
          <div className="row gap">
            <code className="mono grow secret-text" data-testid="token-secret">
              {secret.token}
            </code>
            <CopyButton text={secret.token} />
            <button type="button" className="btn btn-small btn-ghost" onClick={() => setSecret(null)}>
              Done
            </button>
          </div>
        </div>
      )}
      <ErrorText error={error} />
      {tokens.length === 0 ? (
        <Empty title="No tokens">Create one above and put it in PORTOLAN_TOKEN for the snippets.</Empty>
      ) : (
        <table className="table compact">
          <thead>
            <tr>
              <th>Name</th>
              <th>Prefix</th>
              <th>Created</th>
              <th>Last used</th>
              <th aria-label="Actions" />
            </tr>
          </thead>
          <tbody>
            {tokens.map((t) => (
              <tr key={t.name} data-testid={`token-row-${t.name}`}>
                <td className="mono">{t.name}</td>
                <td className="mono">{t.prefix}…</td>
                <td title={formatTime(t.created_at)}>{formatRelative(t.created_at)}</td>
                <td>{t.last_used_at ? formatRelative(t.last_used_at) : <span className="muted">never</span>}</td>
                <td className="actions">
                  {confirm === t.name ? (
                    <>
                      <button type="button" className="btn btn-small btn-danger" onClick={() => void revoke(t.name)}>
                        Confirm revoke
                      </button>
                      <button type="button" className="btn btn-small" onClick={() => setConfirm(null)}>
                        Keep
                      </button>
                    </>
                  ) : (
                    <button type="button" className="btn btn-small btn-danger-ghost" onClick={() => setConfirm(t.name)}>
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

function SnippetsPanel({ url, running, initialSlug }: { url: string; running: boolean; initialSlug: string | null }) {
  const prompts = useResource("prompts");
  const [slug, setSlug] = useState(initialSlug ?? "");
  // The prompt opened in the editor becomes the one the snippets call.
  const [followed, setFollowed] = useState(initialSlug);
  if (initialSlug !== followed) {
    setFollowed(initialSlug);
    if (initialSlug) setSlug(initialSlug);
  }
  const [lang, setLang] = useState<"curl" | "python" | "js">("curl");
  const list = prompts.data ?? [];
  const effective = slug || list[0]?.slug || "";
  const version = useAsync(useCallback(() => (effective ? api.getVersion(effective, null) : Promise.resolve(null)), [effective]));
  const snippets = useMemo(() => {
    const fields = version.data ? buildVariableFields(version.data.variables_used, version.data.draft.variables) : [];
    return gatewaySnippets({ url, slug: effective || "<prompt>", variables: exampleVariables(fields) });
  }, [url, effective, version.data]);
  const text = snippets[lang];
  return (
    <Section
      title="Call a prompt"
      aside={
        <div className="segmented" role="radiogroup" aria-label="Snippet language">
          {(
            [
              ["curl", "curl"],
              ["python", "Python"],
              ["js", "JavaScript"],
            ] as const
          ).map(([id, label]) => (
            <button key={id} type="button" role="radio" aria-checked={lang === id} className={lang === id ? "on" : ""} onClick={() => setLang(id)}>
              {label}
            </button>
          ))}
        </div>
      }
    >
      <div className="row gap">
        <label className="inline-field">
          <span>Prompt</span>
          <select className="input" value={effective} onChange={(e) => setSlug(e.target.value)} data-testid="snippet-prompt">
            {list.map((p) => (
              <option key={p.id} value={p.slug}>
                {p.slug}
              </option>
            ))}
          </select>
        </label>
        <span className="grow" />
        <CopyButton text={text} label="Copy snippet" />
      </div>
      {!running && <div className="muted small">The gateway is off: start it first for these to answer.</div>}
      <pre className="snippet" data-testid={`snippet-${lang}`}>
        {text}
      </pre>
      <div className="muted small">
        {lang === "python" ? "pip install openai" : lang === "js" ? "npm install openai" : "Set PORTOLAN_TOKEN to a token from the left."} · The body’s
        “variables” fill the template; other fields (model, temperature, stream) override the saved ones.
      </div>
    </Section>
  );
}
