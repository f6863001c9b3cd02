/**
 * Dev-only: runs the UI in a plain browser against a fake backend (`npx vite` then open
 * /dev/mock.html). Not part of the build.
 */
import { mockIPC } from "@tauri-apps/api/mocks";
import type { CompareEventDto } from "../src/bindings/CompareEventDto";
import type { CellDto } from "../src/bindings/CellDto";
import type { CompareReq, Log, Version } from "../src/lib/api";

const now = Date.now();
const version = (slug: string, n: number, latest: number, labels: string[]): Version => ({
  prompt_id: `pr_${slug}`,
  slug,
  version: n,
  latest_version: latest,
  message: n === 1 ? "Initial version" : `Tweak tone (${n})`,
  created_at: new Date(now - (latest - n) * 3_600_000).toISOString(),
  labels,
  draft: {
    description: "Drafts a reply to a customer support ticket.",
    model: "gpt-4o-mini",
    params_json: '{"temperature": 0.5, "max_tokens": 500}',
    variables: [
      { name: "tone", description: "How the reply should sound", default_json: '"friendly"' },
      { name: "customer_name", description: "The customer's first name", default_json: null },
    ],
    messages: [
      { role: "system", content: `You are a support agent. Write in a {{tone}} tone.\n{{> house-style}}\n{{#if known_issue}}\nKnown issue: {{known_issue}}.\n{{/if}}`, tool_calls: [], tool_call_id: null },
      { role: "user", content: "Customer: {{customer_name}}\n\n{{ticket}}", tool_calls: [], tool_call_id: null },
    ],
  },
  variables_used: ["tone", "known_issue", "customer_name", "ticket"],
  partials: ["house-style"],
  file_text: "",
});

const logs: Log[] = Array.from({ length: 400 }, (_, i) => ({
  id: `call_${i}`,
  trace_id: `tr_${(1e6 + i).toString(36)}`,
  created_at: now - i * 60_000,
  source: i % 3 ? "compare" : "gateway",
  prompt_id: "pr_support-reply",
  prompt_version: 3,
  provider: "demo",
  model: ["demo/small", "demo/large", "demo/fast"][i % 3],
  key_name: null,
  status: i % 17 === 0 ? 502 : 200,
  success: i % 17 !== 0,
  error: i % 17 === 0 ? "upstream timed out" : null,
  cache_status: i % 5 === 0 ? "HIT" : "MISS",
  latency_ms: 200 + ((i * 37) % 900),
  ttft_ms: 80,
  prompt_tokens: 120,
  completion_tokens: 60 + (i % 40),
  cost_usd: i % 11 === 0 ? null : 0.000123 * (1 + (i % 3)),
  retry_count: i % 17 === 0 ? 2 : 0,
  target_path: "0",
  metadata: { env: "dev" },
}));

let gatewayOn = false;
let requests = 0;
const w = window as unknown as { __TAURI_INTERNALS__: { runCallback: (id: number, data: unknown) => void } };

const texts = [
  "Hi Ada, thanks for reaching out! The export button issue is a known bug in 1.2; a fix ships this week.",
  "Hello Ada, thank you for writing. The export button is affected by a known issue in version 1.2, and the fix will ship this week.",
  "Hi Ada! Export is broken in 1.2, fix coming this week.",
];

function compare(req: CompareReq, channel: { id: number }) {
  let index = 0;
  const send = (m: CompareEventDto) => w.__TAURI_INTERNALS__.runCallback(channel.id, { index: index++, message: m });
  return new Promise((resolve) => {
    const cells: CellDto[][] = req.variable_sets.map(() => []);
    let pending = req.variable_sets.length * req.models.length;
    req.variable_sets.forEach((_, row) =>
      req.models.forEach((model, column) => {
        const text = texts[column % texts.length];
        const words = text.split(/(?<= )/);
        setTimeout(() => send({ type: "started", row, column }), 50 * row);
        words.forEach((wd, k) => setTimeout(() => send({ type: "delta", row, column, text: wd }), 50 * row + 40 * (k + 1) * (column + 1)));
        setTimeout(() => {
          const cell: CellDto = {
            row, column, model, provider: "demo", output: text, error: null, latency_ms: 400 * (column + 1), ttft_ms: 60,
            prompt_tokens: 140, completion_tokens: words.length, cost_usd: 0.000123 * (column + 1), cache_status: "MISS", trace_id: `tr-${row}-${column}`,
            tool_calls: [], steps: [],
          };
          cells[row][column] = cell;
          send({ type: "finished", cell });
          if (--pending === 0)
            resolve({ prompt_id: "pr_x", slug: req.prompt, version: 3, models: req.models, cells, totals: req.models.map((m, c) => ({ model: m, cells: cells.length, errors: 0, prompt_tokens: 140 * cells.length, completion_tokens: 20 * cells.length, cost_usd: 0.000123 * (c + 1) * cells.length, mean_latency_ms: 400 * (c + 1) })), wall_ms: 2300 });
        }, 50 * row + 40 * (words.length + 1) * (column + 1));
      }),
    );
  });
}

mockIPC(async (cmd, raw) => {
  const a = (raw ?? {}) as Record<string, unknown>;
  switch (cmd) {
    case "app_info": return { data_dir: "/tmp/portolan", version: "0.1.0" };
    case "list_prompts":
      return ["support-reply", "summarize", "extract-json", "house-style"].map((slug, i) => ({
        id: `pr_${slug}`, slug, latest_version: 3 - (i % 2), description: slug === "support-reply" ? "Drafts a reply to a customer support ticket in a chosen tone." : "Sample prompt", model: "gpt-4o-mini",
        labels: i === 0 ? [{ name: "production", version: 2 }] : [], updated_at: new Date(now).toISOString(),
      }));
    case "get_version": return version(a.prompt as string, (a.version as number | null) ?? 3, 3, a.version === 2 ? ["production"] : []);
    case "list_versions": return [3, 2, 1].map((n) => version(a.prompt as string, n, 3, n === 2 ? ["production"] : []));
    case "save_prompt": return { prompt_id: "pr_x", slug: a.prompt, version: 4, created: true };
    case "create_prompt": return { prompt_id: "pr_new", slug: a.slug, version: 1, created: true };
    case "preview": {
      const vars = a.variables as Record<string, string>;
      const draft = a.draft as Version["draft"];
      const missing: string[] = [];
      const messages = draft.messages.map((m) => ({
        role: m.role,
        content: m.content
          .replace(/\{\{> ([\w-]+)\}\}/g, "Be concise and kind.")
          .replace(/\{\{#if (\w+)\}\}([\s\S]*?)\{\{\/if\}\}/g, (_, v: string, body: string) => (vars[v] ? body : ""))
          .replace(/\{\{(\w+)\}\}/g, (_, v: string) => {
            if (v === "tone") return vars[v] ?? "friendly";
            if (!(v in vars)) missing.push(v);
            return vars[v] ?? "";
          }),
      }));
      if (missing.length) throw { kind: "missing_variables", message: `missing variables: ${missing.join(", ")}` };
      return { messages, variables_used: ["tone", "known_issue", "customer_name", "ticket"] };
    }
    case "diff_versions":
      return { slug: "support-reply", from: a.from, to: a.to, changed: true, sections: [{ title: "message 1 (system)", change: "modified", lines: [
        { tag: "equal", old_line: 1, new_line: 1, segments: [{ text: "You are a support agent.", emphasized: false }] },
        { tag: "delete", old_line: 2, new_line: null, segments: [{ text: "Write in a ", emphasized: false }, { text: "calm", emphasized: true }, { text: " tone.", emphasized: false }] },
        { tag: "insert", old_line: null, new_line: 2, segments: [{ text: "Write in a ", emphasized: false }, { text: "{{tone}}", emphasized: true }, { text: " tone.", emphasized: false }] },
      ], words: [{ tag: "equal", text: "You are a support agent.\nWrite in a " }, { tag: "delete", text: "calm" }, { tag: "insert", text: "{{tone}}" }, { tag: "equal", text: " tone." }] }] };
    case "list_models": return ["demo/small", "demo/large", "demo/fast"].map((id) => ({ id, provider: "demo", demo: true })).concat([{ id: "gpt-4o-mini", provider: "openai", demo: false }]);
    case "run_compare": return compare(a.request as CompareReq, a.onEvent as { id: number });
    case "cancel_compare": case "send_feedback": case "set_label": case "rotate_key": case "remove_key": case "revoke_token": return null;
    case "list_logs": return logs;
    case "get_log": return { call: logs.find((l) => l.id === a.id), request: JSON.stringify({ model: "demo/small", messages: [{ role: "user", content: "Hi" }] }, null, 2), response: JSON.stringify({ choices: [{ message: { content: "Hello!" } }] }, null, 2), attempts: [{ n: 1, target_path: "0", provider: "demo", model: "demo/small", status: 200, error: null, latency_ms: 320 }], feedback: [1] };
    case "cost_by_day": return Array.from({ length: 30 }, (_, i) => ({ day: new Date(now - (29 - i) * 86_400_000).toISOString().slice(0, 10), calls: i, cost_usd: i % 4 === 0 ? 0 : 0.001 * i, unpriced_calls: i % 7 === 0 ? 1 : 0 }));
    case "latency_by_model": return [{ model: "demo/small", calls: 100, p50_ms: 320, p90_ms: 610, p99_ms: 900 }, { model: "demo/large", calls: 80, p50_ms: 720, p90_ms: 1100, p99_ms: 1600 }, { model: "demo/fast", calls: 50, p50_ms: 120, p90_ms: 200, p99_ms: 380 }];
    case "list_keys": return [{ id: "k1", name: "openai", provider: "openai", base_url: null, notes: null, mask: "sk-…abcd", created_at: new Date(now).toISOString(), last_used_at: new Date(now - 600_000).toISOString(), budget: "$1.23 / $10.00 monthly (12%)" }];
    case "add_key": return { id: "k2", name: (a.key as { name: string }).name, provider: "x", base_url: null, notes: null, mask: "…", created_at: "", last_used_at: null, budget: null };
    case "test_key": return { ok: true, message: "answered in 1 token", latency_ms: 420 };
    case "gateway_status": requests += gatewayOn ? 1 : 0; return { running: gatewayOn, url: gatewayOn ? "http://127.0.0.1:8787/v1" : null, port: 8787, requests, tokens: [{ name: "default", prefix: "pt_ab12", created_at: new Date(now - 86_400_000).toISOString(), last_used_at: null }] };
    case "gateway_start": gatewayOn = true; return { running: true, url: "http://127.0.0.1:8787/v1", port: a.port, requests, tokens: [] };
    case "gateway_stop": gatewayOn = false; return { running: false, url: null, port: 8787, requests, tokens: [] };
    case "create_token": return "pt_secret_1234567890";
  }
  throw { kind: "unknown", message: `mock has no ${cmd}` };
});

await import("../src/main");
