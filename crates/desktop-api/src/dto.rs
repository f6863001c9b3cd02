//! The shapes the desktop UI sends and receives. TypeScript types for them are generated with
//! ts-rs into `ui/src/bindings/` (`cargo test -p portolan-desktop-api`), so the front end and the
//! commands cannot drift apart.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// An error as the UI gets it: a stable kind to branch on and a sentence to show.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct AppError {
    pub kind: String,
    pub message: String,
}

impl From<portolan::Error> for AppError {
    fn from(e: portolan::Error) -> Self {
        AppError {
            kind: e.kind().to_owned(),
            message: e.to_string(),
        }
    }
}

impl AppError {
    pub fn new(kind: &str, message: impl Into<String>) -> Self {
        AppError {
            kind: kind.to_owned(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub type ApiResult<T> = Result<T, AppError>;

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct LabelDto {
    pub name: String,
    #[ts(type = "number")]
    pub version: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct PromptSummary {
    pub id: String,
    pub slug: String,
    #[ts(type = "number")]
    pub latest_version: i64,
    pub description: Option<String>,
    pub model: Option<String>,
    pub labels: Vec<LabelDto>,
    /// RFC 3339.
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct MessageDto {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    pub content: String,
    /// An assistant message's tool calls (few-shot examples of tool use).
    #[serde(default)]
    pub tool_calls: Vec<portolan::message::ToolCallTemplate>,
    /// A tool message: the id of the call it answers.
    #[serde(default)]
    pub tool_call_id: Option<String>,
}

impl MessageDto {
    /// A message of text only.
    pub fn text(role: &str, content: impl Into<String>) -> MessageDto {
        MessageDto {
            role: role.into(),
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    pub fn of(m: &portolan::prompts::Message) -> MessageDto {
        MessageDto {
            role: m.role.to_string(),
            content: m.content.clone(),
            tool_calls: m.tool_calls.clone(),
            tool_call_id: m.tool_call_id.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct VariableDto {
    pub name: String,
    pub description: Option<String>,
    /// The default as JSON text (`"friendly"`, `3`, `["a","b"]`), or null.
    pub default_json: Option<String>,
}

/// What the editor holds; saved as a new version when it differs from the latest.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct PromptDraft {
    pub description: Option<String>,
    pub model: Option<String>,
    /// Model parameters as a JSON object text (`{"temperature": 0.2}`).
    pub params_json: String,
    pub variables: Vec<VariableDto>,
    pub messages: Vec<MessageDto>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct VersionDto {
    pub prompt_id: String,
    pub slug: String,
    #[ts(type = "number")]
    pub version: i64,
    #[ts(type = "number")]
    pub latest_version: i64,
    pub message: Option<String>,
    pub created_at: String,
    pub labels: Vec<String>,
    pub draft: PromptDraft,
    /// Variables the templates use (partials included), in order of first use.
    pub variables_used: Vec<String>,
    pub partials: Vec<String>,
    /// The version as a `.prompt.md` file.
    pub file_text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct SaveResult {
    pub prompt_id: String,
    pub slug: String,
    #[ts(type = "number")]
    pub version: i64,
    /// False when the draft equalled the latest version.
    pub created: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct PreviewDto {
    pub messages: Vec<MessageDto>,
    /// Per message, the lines of its rendered content (0-based) that are sent as images: the
    /// image lines a user message's template writes, never text a variable brought in.
    pub image_lines: Vec<Vec<u32>>,
    pub variables_used: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct SegmentDto {
    pub text: String,
    pub emphasized: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct DiffLineDto {
    /// `equal`, `delete` or `insert`.
    pub tag: String,
    pub old_line: Option<u32>,
    pub new_line: Option<u32>,
    pub segments: Vec<SegmentDto>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct WordDto {
    pub tag: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct DiffSectionDto {
    pub title: String,
    /// `unchanged`, `modified`, `added` or `removed`.
    pub change: String,
    pub lines: Vec<DiffLineDto>,
    pub words: Vec<WordDto>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct DiffDto {
    pub slug: String,
    #[ts(type = "number")]
    pub from: i64,
    #[ts(type = "number")]
    pub to: i64,
    pub changed: bool,
    pub sections: Vec<DiffSectionDto>,
}

/// A provider a virtual key can be for, as the key form needs it (from the provider registry).
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct ProviderDto {
    pub id: String,
    pub label: String,
    pub needs_base_url: bool,
    pub needs_secret: bool,
    /// A placeholder for the base URL field (the provider's default address, if any).
    pub base_url_hint: String,
    /// The model a key test uses; none means the user names one.
    pub test_model: Option<String>,
    /// What its secret is: `api_key`, `aws` (access key id, secret, optional session token, and
    /// a region) or `service_account` (Google's key file, and a location).
    pub credentials: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct ModelOption {
    /// The model string to send (`demo/small`, `gpt-4o-mini`, `@my-key/model`).
    pub id: String,
    pub provider: String,
    pub demo: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct CompareRequest {
    pub prompt: String,
    #[ts(type = "number | null")]
    pub version: Option<i64>,
    pub models: Vec<String>,
    /// One object of variables per row.
    #[ts(type = "Array<Record<string, unknown>>")]
    pub variable_sets: Vec<serde_json::Map<String, serde_json::Value>>,
    pub concurrency: u32,
    /// Simulated tool results (none: a tool call ends the cell).
    #[serde(default)]
    #[ts(optional)]
    pub tools: Option<portolan::tools::simulate::ToolSimulation>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct CellDto {
    pub row: u32,
    pub column: u32,
    pub model: String,
    pub provider: Option<String>,
    pub output: String,
    pub error: Option<String>,
    pub latency_ms: u32,
    pub ttft_ms: Option<u32>,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    pub cost_usd: Option<f64>,
    pub cache_status: Option<String>,
    pub trace_id: Option<String>,
    /// The calls the answer ended with, checked against the tools' schemas.
    #[serde(default)]
    pub tool_calls: Vec<portolan::tools::CheckedCall>,
    /// Earlier turns of a simulated tool exchange.
    #[serde(default)]
    pub steps: Vec<portolan::tools::ToolStep>,
}

/// Sent on the comparison's channel as cells progress.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
#[ts(export)]
pub enum CompareEventDto {
    Started {
        row: u32,
        column: u32,
    },
    Delta {
        row: u32,
        column: u32,
        text: String,
    },
    /// The provider answered 429: at most `limit` of its calls run at once now, new ones wait
    /// `pause_ms`, and this cell is queued again.
    Throttled {
        row: u32,
        column: u32,
        provider: String,
        limit: u32,
        pause_ms: u32,
    },
    Finished {
        cell: Box<CellDto>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct ColumnTotalDto {
    pub model: String,
    pub cells: u32,
    pub errors: u32,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub cost_usd: Option<f64>,
    pub mean_latency_ms: u32,
}

/// A saved comparison run, as listed ("Recent runs").
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct CompareRunSummary {
    pub id: String,
    /// Unix milliseconds.
    #[ts(type = "number")]
    pub created_at: i64,
    pub slug: String,
    #[ts(type = "number")]
    pub version: i64,
    pub models: Vec<String>,
    pub rows: u32,
    pub cost_usd: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct CompareResultDto {
    /// The saved run's id (runs are kept and can be reopened).
    pub run_id: Option<String>,
    pub prompt_id: String,
    pub slug: String,
    #[ts(type = "number")]
    pub version: i64,
    pub models: Vec<String>,
    pub cells: Vec<Vec<CellDto>>,
    pub totals: Vec<ColumnTotalDto>,
    pub wall_ms: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Default)]
#[ts(export)]
pub struct LogQuery {
    pub limit: Option<u32>,
    pub model: Option<String>,
    pub status: Option<u16>,
    pub search: Option<String>,
    pub prompt_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct LogRow {
    pub id: String,
    pub trace_id: String,
    /// Unix milliseconds.
    #[ts(type = "number")]
    pub created_at: i64,
    pub source: String,
    pub prompt_id: Option<String>,
    #[ts(type = "number | null")]
    pub prompt_version: Option<i64>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub key_name: Option<String>,
    pub status: u16,
    pub success: bool,
    pub error: Option<String>,
    pub cache_status: String,
    pub latency_ms: u32,
    pub ttft_ms: Option<u32>,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    pub cost_usd: Option<f64>,
    pub retry_count: u32,
    pub target_path: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct AttemptDto {
    pub n: u32,
    pub target_path: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub status: u16,
    pub error: Option<String>,
    pub latency_ms: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct LogDetail {
    pub call: LogRow,
    /// Pretty-printed JSON (redacted and size-capped as logged).
    pub request: Option<String>,
    pub response: Option<String>,
    pub attempts: Vec<AttemptDto>,
    #[ts(type = "Array<number>")]
    pub feedback: Vec<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct DayCostDto {
    pub day: String,
    pub calls: u32,
    pub cost_usd: f64,
    pub unpriced_calls: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct ModelLatencyDto {
    pub model: String,
    pub calls: u32,
    pub p50_ms: u32,
    pub p90_ms: u32,
    pub p99_ms: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct KeyDto {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub base_url: Option<String>,
    pub notes: Option<String>,
    pub mask: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    /// `$1.23 / $10.00 monthly (12%)`, or null.
    pub budget: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct NewKeyDto {
    pub name: String,
    pub provider: String,
    pub base_url: Option<String>,
    pub notes: Option<String>,
    /// Write-only: never sent back. For AWS: a JSON object with `access_key_id`,
    /// `secret_access_key` and optionally `session_token`; for Vertex AI: the service account's
    /// key file.
    pub secret: String,
    /// Bedrock's AWS region.
    #[serde(default)]
    #[ts(optional)]
    pub region: Option<String>,
    /// Vertex AI's location.
    #[serde(default)]
    #[ts(optional)]
    pub location: Option<String>,
    /// Vertex AI's project, when not the service account's own.
    #[serde(default)]
    #[ts(optional)]
    pub project: Option<String>,
    /// A file to read the secret from when `secret` is empty (a service account key file
    /// chosen in the system dialog: its content goes straight to the sealed store, not through
    /// the window).
    #[serde(default)]
    #[ts(optional)]
    pub secret_file: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct KeyTestDto {
    pub ok: bool,
    pub message: String,
    pub latency_ms: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct TokenDto {
    pub name: String,
    pub prefix: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct GatewayStatus {
    pub running: bool,
    /// `http://127.0.0.1:8787/v1` while running.
    pub url: Option<String>,
    pub port: u16,
    #[ts(type = "number")]
    pub requests: u64,
    pub tokens: Vec<TokenDto>,
    pub otel: OtelStatusDto,
}

/// OpenTelemetry export as the Gateway screen shows it (set with `portolan settings otel`).
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct OtelStatusDto {
    /// The collector's URL; none when export is off.
    pub endpoint: Option<String>,
    /// Whether message content is exported (after PII redaction).
    pub content: bool,
    /// The names of the headers sent (their values are sealed, never shown).
    pub headers: Vec<String>,
    /// Spans exported and dropped since the app started.
    #[ts(type = "number")]
    pub exported: u64,
    #[ts(type = "number")]
    pub dropped: u64,
    pub last_error: Option<String>,
}

/// A budget crossing its alert threshold, pushed to the window as the `budget-alert` event.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct BudgetAlertDto {
    /// "virtual key" or "gateway token".
    pub kind: String,
    pub name: String,
    pub spent: f64,
    pub limit: f64,
    /// "usd" or "tokens".
    pub unit: String,
    /// The sentence to show.
    pub message: String,
}
