import { useMemo, useState } from "react";
import { api, errorMessage, type Summary } from "../../lib/api";
import { useResource } from "../../lib/resources";
import { Empty, ErrorText } from "../../components/ui";
import { NEW_PROMPT_DRAFT } from "./draft";
import { PromptEditor } from "./PromptEditor";

interface Props {
  initialSlug: string | null;
  onOpen: (slug: string) => void;
}

export function PromptsScreen({ initialSlug, onOpen }: Props) {
  const prompts = useResource("prompts");
  const [query, setQuery] = useState("");
  const [picked, setSelected] = useState<string | null>(initialSlug);
  const [creating, setCreating] = useState(false);

  const list = useMemo(() => prompts.data ?? [], [prompts.data]);
  // Until one is picked, the first prompt is open.
  const selected = picked ?? list[0]?.slug ?? null;

  const filtered = useMemo(() => {
    const q = query.trim().toLowerCase();
    if (!q) return list;
    return list.filter((p) => p.slug.includes(q) || (p.description ?? "").toLowerCase().includes(q) || (p.model ?? "").toLowerCase().includes(q));
  }, [list, query]);

  const open = (slug: string) => {
    setSelected(slug);
    onOpen(slug);
  };

  return (
    <div className="prompts-layout">
      <aside className="sidebar">
        <div className="sidebar-head">
          <input
            type="search"
            className="input"
            placeholder="Search prompts"
            aria-label="Search prompts"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
          />
          <button type="button" className="btn btn-primary" data-testid="new-prompt" onClick={() => setCreating((c) => !c)}>
            New prompt
          </button>
        </div>
        {creating && (
          <NewPromptForm
            onCreated={(slug) => {
              setCreating(false);
              prompts.reload();
              open(slug);
            }}
            onCancel={() => setCreating(false)}
          />
        )}
        <ErrorText error={prompts.error} />
        <ul className="prompt-list" aria-label="Prompts">
          {filtered.map((p) => (
            <PromptListItem key={p.id} p={p} active={p.slug === selected} onClick={() => open(p.slug)} />
          ))}
        </ul>
        {!prompts.loading && list.length === 0 && !prompts.error && (
          <Empty title="No prompts yet">Click “New prompt” to create one with a system and a user message.</Empty>
        )}
        {list.length > 0 && filtered.length === 0 && <div className="muted pad">No prompt matches “{query}”.</div>}
      </aside>
      <div className="editor-area">
        {selected ? (
          <PromptEditor key={selected} slug={selected} onSaved={prompts.reload} />
        ) : (
          <Empty title="Pick a prompt">Select a prompt on the left, or create a new one.</Empty>
        )}
      </div>
    </div>
  );
}

function PromptListItem({ p, active, onClick }: { p: Summary; active: boolean; onClick: () => void }) {
  return (
    <li>
      <button type="button" className={`prompt-item ${active ? "active" : ""}`} data-testid={`prompt-item-${p.slug}`} onClick={onClick}>
        <span className="prompt-item-top">
          <span className="mono prompt-slug">{p.slug}</span>
          <span className="muted small">v{p.latest_version}</span>
        </span>
        {p.description && <span className="prompt-desc">{p.description}</span>}
        {p.labels.length > 0 && (
          <span className="labels">
            {p.labels.map((l) => (
              <span key={l.name} className="label-chip">
                {l.name}@{l.version}
              </span>
            ))}
          </span>
        )}
      </button>
    </li>
  );
}

function NewPromptForm({ onCreated, onCancel }: { onCreated: (slug: string) => void; onCancel: () => void }) {
  const [slug, setSlug] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const create = async () => {
    const s = slug.trim();
    if (!s) {
      setError("Type a slug first, e.g. release-notes.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const r = await api.createPrompt(s, NEW_PROMPT_DRAFT, "Create prompt");
      onCreated(r.slug);
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form
      className="new-prompt"
      onSubmit={(e) => {
        e.preventDefault();
        void create();
      }}
    >
      <label className="field">
        <span>Slug</span>
        <input
          className="input mono"
          data-testid="new-prompt-slug"
          placeholder="my-prompt"
          value={slug}
          autoFocus
          onChange={(e) => setSlug(e.target.value)}
        />
      </label>
      <div className="row gap">
        <button type="submit" className="btn btn-primary" data-testid="create-prompt" disabled={busy}>
          Create
        </button>
        <button type="button" className="btn" onClick={onCancel}>
          Cancel
        </button>
      </div>
      <div className="muted small">Starts with one system and one user message.</div>
      <ErrorText error={error} />
    </form>
  );
}
