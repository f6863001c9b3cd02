import { useState } from "react";
import type { KeyDto } from "../../bindings/KeyDto";
import type { KeyTestDto } from "../../bindings/KeyTestDto";
import { Empty, ErrorText, Section } from "../../components/ui";
import { useResource } from "../../lib/resources";
import { api, errorMessage } from "../../lib/api";
import { formatLatency, formatRelative, formatTime } from "../../lib/format";
import { EMPTY_CLOUD, PROVIDERS, keyRequest, providerInfo, rotatePlaceholder, validateKeyForm } from "../../lib/providers";
import type { CloudFields } from "../../lib/providers";

export function KeysScreen() {
  const keys = useResource("keys");
  const list = keys.data ?? [];
  return (
    <div className="keys">
      <AddKeyForm onAdded={keys.reload} />
      <Section
        title="Keys"
        aside={
          <span className="muted small">Secrets are sealed at rest and never shown again; only a mask is listed.</span>
        }
      >
        <ErrorText error={keys.error} />
        {list.length === 0 && !keys.loading && !keys.error ? (
          <Empty title="No keys yet">
            The demo models work without one. Add a provider key above to compare real models; it is then offered on the Compare screen.
          </Empty>
        ) : (
          <table className="table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Provider</th>
                <th>Secret</th>
                <th>Last used</th>
                <th>Budget</th>
                <th aria-label="Actions" />
              </tr>
            </thead>
            <tbody>
              {list.map((k) => (
                <KeyRow key={k.id} k={k} onChanged={keys.reload} />
              ))}
            </tbody>
          </table>
        )}
      </Section>
    </div>
  );
}

function AddKeyForm({ onAdded }: { onAdded: () => void }) {
  const [name, setName] = useState("");
  const [provider, setProvider] = useState("openai");
  const [baseUrl, setBaseUrl] = useState("");
  const [secret, setSecret] = useState("");
  const [cloud, setCloud] = useState<CloudFields>(EMPTY_CLOUD);
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const info = providerInfo(provider);
  const setField = (field: keyof CloudFields) => (e: { target: { value: string } }) =>
    setCloud((c) => ({ ...c, [field]: e.target.value }));

  const submit = async () => {
    const problem = validateKeyForm({ name, provider, baseUrl, secret, cloud });
    if (problem) {
      setError(problem);
      return;
    }
    setBusy(true);
    setError(null);
    setNote(null);
    try {
      const k = await api.addKey(keyRequest({ name, provider, baseUrl, secret, cloud }));
      setNote(`Added “${k.name}” (${k.mask}).`);
      setName("");
      setBaseUrl("");
      onAdded();
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setSecret(""); // write-only: never kept around after a submit
      setCloud((c) => ({ ...EMPTY_CLOUD, region: c.region, location: c.location }));
      setBusy(false);
    }
  };

  return (
    <section className="panel">
      <header className="panel-head">
        <h2>Add a key</h2>
      </header>
      <form
        className="panel-body key-form"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <label className="field">
          <span>Name</span>
          <input className="input mono" data-testid="key-name" placeholder={provider} value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label className="field">
          <span>Provider</span>
          <select className="input" data-testid="key-provider" value={provider} onChange={(e) => setProvider(e.target.value)}>
            {PROVIDERS.map((p) => (
              <option key={p.id} value={p.id}>
                {p.label}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Base URL{info.needs_base_url ? "" : " (optional)"}</span>
          <input
            className="input mono"
            data-testid="key-base-url"
            placeholder={info.base_url_hint || "default"}
            value={baseUrl}
            onChange={(e) => setBaseUrl(e.target.value)}
          />
        </label>
        {info.credentials === "aws" && (
          <>
            <label className="field">
              <span>Access key id</span>
              <input className="input mono" data-testid="key-aws-id" autoComplete="off" spellCheck={false} placeholder="AKIA…" value={cloud.accessKeyId} onChange={setField("accessKeyId")} />
            </label>
            <label className="field">
              <span>Secret access key</span>
              <input className="input mono secret" data-testid="key-aws-secret" autoComplete="off" spellCheck={false} value={cloud.secretAccessKey} onChange={setField("secretAccessKey")} />
            </label>
            <label className="field">
              <span>Session token (optional)</span>
              <input className="input mono secret" data-testid="key-aws-token" autoComplete="off" spellCheck={false} placeholder="for temporary credentials" value={cloud.sessionToken} onChange={setField("sessionToken")} />
            </label>
            <label className="field">
              <span>Region</span>
              <input className="input mono" data-testid="key-aws-region" placeholder="us-east-1" value={cloud.region} onChange={setField("region")} />
            </label>
          </>
        )}
        {info.credentials === "service_account" && (
          <>
            <div className="field span-all">
              <span>Service account key file</span>
              <div className="row">
                <button
                  type="button"
                  className="btn btn-small"
                  data-testid="key-sa-file"
                  onClick={() =>
                    void api.pickFile(false, null, "any").then((path) => path && setCloud((c) => ({ ...c, serviceAccountFile: path, serviceAccount: "" })))
                  }
                >
                  Choose file…
                </button>
                {cloud.serviceAccountFile ? (
                  <span className="mono small">
                    {cloud.serviceAccountFile}{" "}
                    <button type="button" className="btn btn-small" onClick={() => setCloud((c) => ({ ...c, serviceAccountFile: null }))}>
                      Clear
                    </button>
                  </span>
                ) : (
                  <textarea
                    className="input mono secret grow"
                    data-testid="key-sa-json"
                    rows={3}
                    spellCheck={false}
                    placeholder='or paste it: {"type": "service_account", …}'
                    value={cloud.serviceAccount}
                    onChange={setField("serviceAccount")}
                  />
                )}
              </div>
            </div>
            <label className="field">
              <span>Location</span>
              <input className="input mono" data-testid="key-gcp-location" placeholder="us-central1" value={cloud.location} onChange={setField("location")} />
            </label>
            <label className="field">
              <span>Project (optional)</span>
              <input className="input mono" data-testid="key-gcp-project" placeholder="the key file's own" value={cloud.project} onChange={setField("project")} />
            </label>
          </>
        )}
        {info.credentials === "api_key" && (
          <label className="field">
            <span>Secret{info.needs_secret ? "" : " (optional)"}</span>
            <input
              className="input mono secret"
              type="text"
              autoComplete="off"
              spellCheck={false}
              data-testid="key-secret"
              placeholder={info.needs_secret ? "sk-…" : "not needed"}
              value={secret}
              onChange={(e) => setSecret(e.target.value)}
            />
          </label>
        )}
        <div className="field key-submit">
          <button type="submit" className="btn btn-primary" data-testid="add-key" disabled={busy}>
            Add key
          </button>
        </div>
        <div className="span-all">
          <ErrorText error={error} />
          {note && (
            <div className="tone-ok small" data-testid="key-added">
              {note}
            </div>
          )}
        </div>
      </form>
    </section>
  );
}

function KeyRow({ k, onChanged }: { k: KeyDto; onChanged: () => void }) {
  const [mode, setMode] = useState<"idle" | "rotate" | "remove">("idle");
  const [secret, setSecret] = useState("");
  const [testModel, setTestModel] = useState("");
  const [test, setTest] = useState<KeyTestDto | null>(null);
  const [testing, setTesting] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const act = async (f: () => Promise<unknown>, after?: () => void) => {
    setError(null);
    try {
      await f();
      after?.();
      onChanged();
    } catch (e) {
      setError(errorMessage(e));
    }
  };

  const runTest = async () => {
    setTesting(true);
    setError(null);
    setTest(null);
    try {
      setTest(await api.testKey(k.name, testModel.trim() || null));
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setTesting(false);
    }
  };

  return (
    <>
      <tr data-testid={`key-row-${k.name}`}>
        <td className="mono">{k.name}</td>
        <td>
          {providerInfo(k.provider).label}
          {k.base_url && <div className="muted small mono">{k.base_url}</div>}
        </td>
        <td className="mono">{k.mask}</td>
        <td title={k.last_used_at ? formatTime(k.last_used_at) : ""}>{k.last_used_at ? formatRelative(k.last_used_at) : <span className="muted">never</span>}</td>
        <td>{k.budget ?? <span className="muted">none</span>}</td>
        <td className="actions">
          <input
            className="input mono select-small"
            aria-label={`Model to test ${k.name} with`}
            placeholder="model (optional)"
            value={testModel}
            onChange={(e) => setTestModel(e.target.value)}
          />
          <button type="button" className="btn btn-small" disabled={testing} onClick={() => void runTest()}>
            {testing ? "Testing…" : "Test"}
          </button>
          <button type="button" className="btn btn-small" onClick={() => setMode(mode === "rotate" ? "idle" : "rotate")}>
            Rotate
          </button>
          <button type="button" className="btn btn-small btn-danger-ghost" onClick={() => setMode(mode === "remove" ? "idle" : "remove")}>
            Remove
          </button>
        </td>
      </tr>
      {(mode !== "idle" || test || error) && (
        <tr className="key-subrow">
          <td colSpan={6}>
            {mode === "rotate" && (
              <form
                className="row gap"
                onSubmit={(e) => {
                  e.preventDefault();
                  if (!secret) return;
                  void act(
                    () => api.rotateKey(k.name, secret),
                    () => setMode("idle"),
                  ).finally(() => setSecret(""));
                }}
              >
                <input
                  type="text"
                  autoComplete="off"
                  spellCheck={false}
                  className="input mono grow secret"
                  aria-label={`New secret for ${k.name}`}
                  placeholder={rotatePlaceholder(k.provider)}
                  value={secret}
                  onChange={(e) => setSecret(e.target.value)}
                />
                <button type="submit" className="btn btn-small btn-primary" disabled={!secret}>
                  Save new secret
                </button>
                <button type="button" className="btn btn-small" onClick={() => setMode("idle")}>
                  Cancel
                </button>
              </form>
            )}
            {mode === "remove" && (
              <div className="row gap">
                <span>Remove “{k.name}”? Calls routed through it will fail.</span>
                <button type="button" className="btn btn-small btn-danger" onClick={() => void act(() => api.removeKey(k.name))}>
                  Confirm remove
                </button>
                <button type="button" className="btn btn-small" onClick={() => setMode("idle")}>
                  Keep
                </button>
              </div>
            )}
            {test && (
              <div className={test.ok ? "tone-ok" : "tone-error"} role="status">
                {test.ok ? "✓ Works" : "✕ Failed"}: {test.message} ({formatLatency(test.latency_ms)})
              </div>
            )}
            <ErrorText error={error} />
          </td>
        </tr>
      )}
    </>
  );
}
