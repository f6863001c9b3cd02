//! OpenTelemetry export: every call (and each of its attempts) as spans following the GenAI
//! semantic conventions, sent over OTLP/HTTP (protobuf) to the collector the settings name.
//!
//! Spans are built from the call's log record once the call has ended (its real start time and
//! duration, its attempts as child spans): the record is handed to a bounded queue without
//! waiting, and one task per configuration builds the spans and exports them in batches with the maintained `opentelemetry-otlp` exporter,
//! through Portolan's own HTTP client. A collector that is down, slow or refusing never slows or
//! fails a call: a full queue drops spans, a failed export drops its batch, and both are counted
//! ([`OtelStats`], shown by `portolan status`).
//!
//! Trace ids: a call that came with a W3C `traceparent` continues the caller's trace under the
//! caller's span; otherwise the call's own trace id is the trace's (Portolan's trace ids are 32
//! hex digits; an id given in another form, e.g. `x-portkey-trace-id: checkout-42`, is hashed to
//! one and kept as `portolan.trace_id`). Message content is exported only when switched on, after
//! PII redaction, whatever the call's own guardrail.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use tokio::sync::mpsc;

use crate::logs::{AttemptRecord, CallRecord};
use crate::secrets::SecretString;
use crate::store::Catalog;

/// Calls waiting for export; more are dropped (and their spans counted) rather than waited for.
const QUEUE: usize = 2048;
/// Spans per export request.
const BATCH: usize = 512;
/// How long spans wait for others to share their export request (one request per call would
/// cost the gateway a quarter of its throughput; measured with `bench/gateway.sh`).
const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// How long one export may take before its batch counts as dropped.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(3);
/// The file the serving process writes its counters to, for `portolan status`.
pub const STATS_FILE: &str = "otel-stats.json";

/// Where and how calls are exported; off (no endpoint) by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OtelSettings {
    /// The OTLP/HTTP traces endpoint, used as given (`http://collector:4318/v1/traces`).
    pub endpoint: Option<String>,
    /// Headers sent with every export (a backend's API key…), each value sealed with the master
    /// key: neither the settings nor the audit log hold them in clear.
    pub headers: BTreeMap<String, String>,
    /// Export message content (`gen_ai.input.messages`, `gen_ai.output.messages`), after PII
    /// redaction. Off by default.
    pub content: bool,
}

impl OtelSettings {
    /// The sealing record id of a header (its name), so a sealed value cannot be moved to
    /// another header.
    pub fn header_record_id(name: &str) -> String {
        format!("otel-header:{}", name.to_ascii_lowercase())
    }
}

/// What the exporter has done since the process started.
#[derive(Debug, Default)]
pub struct OtelStats {
    pub exported: AtomicU64,
    /// Spans dropped: the queue was full, or their export failed (collector down or refusing).
    pub dropped: AtomicU64,
    /// Export requests that failed.
    pub failed_exports: AtomicU64,
}

/// The counters as `portolan status` reads them from [`STATS_FILE`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtelStatsSnapshot {
    pub endpoint: Option<String>,
    pub exported: u64,
    pub dropped: u64,
    pub failed_exports: u64,
    pub last_error: Option<String>,
    pub updated_at: String,
}

struct Running {
    config: OtelSettings,
    /// Finished calls; the export task turns them into spans, off the request path.
    tx: mpsc::Sender<CallRecord>,
}

/// The export pipeline of one engine.
pub struct OtelExport {
    running: Mutex<Option<Running>>,
    stats: Arc<OtelStats>,
    stats_file: Option<PathBuf>,
    last_error: Arc<Mutex<Option<String>>>,
}

impl OtelExport {
    pub fn new(data_dir: Option<PathBuf>) -> Self {
        OtelExport {
            running: Mutex::new(None),
            stats: Arc::new(OtelStats::default()),
            stats_file: data_dir.map(|d| d.join(STATS_FILE)),
            last_error: Arc::new(Mutex::new(None)),
        }
    }

    pub fn stats(&self) -> &OtelStats {
        &self.stats
    }

    /// The counters now, with the last export error.
    pub fn snapshot(&self, endpoint: Option<String>) -> OtelStatsSnapshot {
        OtelStatsSnapshot {
            endpoint,
            exported: self.stats.exported.load(Ordering::Relaxed),
            dropped: self.stats.dropped.load(Ordering::Relaxed),
            failed_exports: self.stats.failed_exports.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            updated_at: chrono::Utc::now().to_rfc3339(),
        }
    }

    /// Queues the spans of a finished call, if export is on. Never waits.
    pub fn record(
        &self,
        settings: &OtelSettings,
        catalog: &Arc<dyn Catalog>,
        client: &reqwest::Client,
        record: &CallRecord,
    ) {
        let Some(endpoint) = settings.endpoint.clone().filter(|e| !e.is_empty()) else {
            return;
        };
        let span_count = 1 + record.attempts.len() as u64;
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if running.as_ref().is_none_or(|r| &r.config != settings) {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                self.stats.dropped.fetch_add(span_count, Ordering::Relaxed);
                return;
            };
            let (tx, rx) = mpsc::channel(QUEUE);
            let task = ExportTask {
                endpoint,
                content: settings.content,
                headers: settings.headers.clone(),
                catalog: catalog.clone(),
                client: client.clone(),
                stats: self.stats.clone(),
                stats_file: self.stats_file.clone(),
                last_error: self.last_error.clone(),
            };
            runtime.spawn(task.run(rx));
            // The previous task ends once it has exported what it holds.
            *running = Some(Running {
                config: settings.clone(),
                tx,
            });
        }
        let Some(r) = running.as_ref() else { return };
        if r.tx.try_send(record.clone()).is_err() {
            self.stats.dropped.fetch_add(span_count, Ordering::Relaxed);
        }
    }
}

struct ExportTask {
    endpoint: String,
    content: bool,
    headers: BTreeMap<String, String>,
    catalog: Arc<dyn Catalog>,
    client: reqwest::Client,
    stats: Arc<OtelStats>,
    stats_file: Option<PathBuf>,
    last_error: Arc<Mutex<Option<String>>>,
}

impl ExportTask {
    fn fail(&self, message: String) {
        tracing::warn!(endpoint = %self.endpoint, "OpenTelemetry export: {message}");
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
    }

    async fn exporter(&self) -> Result<opentelemetry_otlp::SpanExporter, String> {
        use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
        let mut headers = std::collections::HashMap::new();
        for (name, sealed) in &self.headers {
            let value = self
                .catalog
                .open_sealed(&OtelSettings::header_record_id(name), name, sealed)
                .await
                .map_err(|e| format!("the header {name} cannot be unsealed: {e}"))?;
            headers.insert(name.clone(), value.expose().to_owned());
        }
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(self.endpoint.clone())
            .with_headers(headers)
            .with_timeout(EXPORT_TIMEOUT)
            .with_http_client(Client {
                client: self.client.clone(),
            })
            .build()
            .map_err(|e| format!("cannot export to {}: {e}", self.endpoint))?;
        exporter.set_resource(
            &Resource::builder()
                .with_service_name("portolan")
                .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
                .build(),
        );
        Ok(exporter)
    }

    async fn run(self, mut rx: mpsc::Receiver<CallRecord>) {
        let exporter = match self.exporter().await {
            Ok(e) => Some(e),
            Err(message) => {
                self.fail(message);
                None
            }
        };
        while let Some(first) = rx.recv().await {
            let mut batch = spans_of(&first, self.content);
            let flush_at = tokio::time::Instant::now() + FLUSH_EVERY;
            while batch.len() < BATCH {
                match tokio::time::timeout_at(flush_at, rx.recv()).await {
                    Ok(Some(record)) => batch.extend(spans_of(&record, self.content)),
                    // Closed (the settings changed) or time to send.
                    Ok(None) | Err(_) => break,
                }
            }
            let n = batch.len() as u64;
            let outcome = match &exporter {
                Some(e) => e.export(batch).await.map_err(|e| e.to_string()),
                None => Err("the exporter could not be set up".to_owned()),
            };
            match outcome {
                Ok(()) => {
                    self.stats.exported.fetch_add(n, Ordering::Relaxed);
                }
                Err(message) => {
                    self.stats.dropped.fetch_add(n, Ordering::Relaxed);
                    self.stats.failed_exports.fetch_add(1, Ordering::Relaxed);
                    self.fail(message);
                }
            }
            self.write_stats();
        }
    }

    /// Writes the counters for `portolan status` (best effort: a failure is only logged).
    fn write_stats(&self) {
        let Some(path) = &self.stats_file else { return };
        let snapshot = OtelStatsSnapshot {
            endpoint: Some(self.endpoint.clone()),
            exported: self.stats.exported.load(Ordering::Relaxed),
            dropped: self.stats.dropped.load(Ordering::Relaxed),
            failed_exports: self.stats.failed_exports.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            updated_at: chrono::Utc::now().to_rfc3339(),
        };
        let tmp = path.with_extension("json.tmp");
        let written = serde_json::to_vec_pretty(&snapshot)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            tracing::debug!(error = %e, "could not write {}", path.display());
        }
    }
}

/// The counters the serving process last wrote, if export ever ran in this data directory.
pub fn read_stats(data_dir: &std::path::Path) -> Option<OtelStatsSnapshot> {
    let text = std::fs::read_to_string(data_dir.join(STATS_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// OTLP over Portolan's own HTTP client (the exporter's own client features stay off).
#[derive(Debug, Clone)]
struct Client {
    client: reqwest::Client,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for Client {
    async fn send_bytes(
        &self,
        request: opentelemetry_http::Request<opentelemetry_http::Bytes>,
    ) -> Result<
        opentelemetry_http::Response<opentelemetry_http::Bytes>,
        opentelemetry_http::HttpError,
    > {
        let (parts, body) = request.into_parts();
        let response = self
            .client
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .timeout(EXPORT_TIMEOUT)
            .send()
            .await?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await?;
        let mut out = opentelemetry_http::Response::builder()
            .status(status)
            .body(bytes)?;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// Spans
// ---------------------------------------------------------------------------------------------

fn sha256(text: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// The OTel trace id of a call: its own trace id when that is 32 hex digits (Portolan's, or a
/// `traceparent`'s), else a hash of it.
pub fn trace_id_of(trace_id: &str) -> TraceId {
    if trace_id.len() == 32
        && trace_id.bytes().all(|b| b.is_ascii_hexdigit())
        && let Ok(id) = TraceId::from_hex(&trace_id.to_ascii_lowercase())
        && id != TraceId::INVALID
    {
        return id;
    }
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&sha256(trace_id)[..16]);
    TraceId::from_bytes(bytes)
}

fn span_id_of(seed: &str) -> SpanId {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&sha256(seed)[..8]);
    SpanId::from_bytes(bytes)
}

/// `gen_ai.provider.name` for a Portolan provider id (the conventions' names where they have
/// one).
pub fn provider_name(provider: &str) -> &str {
    match provider {
        "bedrock" => "aws.bedrock",
        "vertex" => "gcp.vertex_ai",
        "gemini" => "gcp.gemini",
        "azure-openai" => "azure.ai.openai",
        "mistral" => "mistral_ai",
        "xai" => "x_ai",
        other => other,
    }
}

fn time(ms: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

fn strings(values: Vec<String>) -> Value {
    Value::Array(Array::String(
        values.into_iter().map(StringValue::from).collect(),
    ))
}

/// The text of a message's `content` (a string, or parts with text).
fn content_text(content: &Json) -> String {
    match content {
        Json::String(s) => s.clone(),
        Json::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Json::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn redacted(text: &str) -> String {
    crate::guardrails::redact_pii(text)
}

/// `gen_ai.input.messages` (and system instructions apart) in the conventions' JSON shape.
fn input_messages(request: &Json) -> (Option<String>, Option<String>) {
    let Some(messages) = request.get("messages").and_then(Json::as_array) else {
        return (None, None);
    };
    let mut system = Vec::new();
    let mut input = Vec::new();
    for m in messages {
        let role = m.get("role").and_then(Json::as_str).unwrap_or("user");
        let text = redacted(&m.get("content").map(content_text).unwrap_or_default());
        let part = serde_json::json!({"type": "text", "content": text});
        if role == "system" || role == "developer" {
            system.push(part);
        } else {
            input.push(serde_json::json!({"role": role, "parts": [part]}));
        }
    }
    let to_string = |v: Vec<Json>| (!v.is_empty()).then(|| Json::Array(v).to_string());
    (to_string(input), to_string(system))
}

/// The spans of one finished call: the call, and a child per attempt.
pub fn spans_of(record: &CallRecord, content: bool) -> Vec<SpanData> {
    let trace_id = trace_id_of(&record.trace_id);
    let span_id = span_id_of(&record.id);
    let parent = record
        .parent_span_id
        .as_deref()
        .and_then(|p| SpanId::from_hex(p).ok())
        .filter(|p| *p != SpanId::INVALID);
    let request: Option<Json> = record
        .request
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok());
    let response: Option<Json> = record
        .response
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok());
    let operation = if record.source == "embeddings" {
        "embeddings"
    } else {
        "chat"
    };
    let requested_model = request
        .as_ref()
        .and_then(|r| r.get("model"))
        .and_then(Json::as_str)
        .map(str::to_owned)
        .or_else(|| record.model.clone())
        .unwrap_or_default();
    let provider = record.provider.as_deref().unwrap_or("unknown");
    let mut attrs = vec![
        KeyValue::new("gen_ai.operation.name", operation),
        KeyValue::new("gen_ai.provider.name", provider_name(provider).to_owned()),
        KeyValue::new("gen_ai.system", provider_name(provider).to_owned()),
        KeyValue::new("gen_ai.request.model", requested_model.clone()),
        KeyValue::new("portolan.call_id", record.id.clone()),
        KeyValue::new("portolan.trace_id", record.trace_id.clone()),
        KeyValue::new(
            "portolan.cache_status",
            record.cache_status.as_str().to_owned(),
        ),
        KeyValue::new("portolan.source", record.source.clone()),
        KeyValue::new("portolan.retry_count", i64::from(record.retry_count)),
        KeyValue::new("http.response.status_code", i64::from(record.status)),
        KeyValue::new("gen_ai.request.stream", record.stream),
    ];
    if let Some(model) = &record.model {
        attrs.push(KeyValue::new("gen_ai.response.model", model.clone()));
    }
    if let Some(n) = record.prompt_tokens {
        attrs.push(KeyValue::new("gen_ai.usage.input_tokens", n as i64));
    }
    if let Some(n) = record.completion_tokens {
        attrs.push(KeyValue::new("gen_ai.usage.output_tokens", n as i64));
    }
    if let Some(n) = record.cached_tokens.filter(|n| *n > 0) {
        attrs.push(KeyValue::new(
            "gen_ai.usage.cache_read.input_tokens",
            n as i64,
        ));
    }
    if let Some(cost) = record.cost_usd {
        attrs.push(KeyValue::new("portolan.cost_usd", cost));
    }
    if let Some(key) = &record.key_name {
        attrs.push(KeyValue::new("portolan.virtual_key", key.clone()));
    }
    if let Some(id) = &record.prompt_id {
        attrs.push(KeyValue::new("portolan.prompt_id", id.clone()));
    }
    if let Some(v) = record.prompt_version {
        attrs.push(KeyValue::new("portolan.prompt_version", v));
    }
    if let Some(ttft) = record.ttft_ms.filter(|_| record.stream) {
        attrs.push(KeyValue::new(
            "gen_ai.response.time_to_first_chunk",
            ttft as f64 / 1000.0,
        ));
    }
    for (k, v) in &record.metadata {
        attrs.push(KeyValue::new(format!("portolan.metadata.{k}"), v.clone()));
    }
    if let Some(r) = &request {
        for (field, name) in [
            ("temperature", "gen_ai.request.temperature"),
            ("top_p", "gen_ai.request.top_p"),
        ] {
            if let Some(x) = r.get(field).and_then(Json::as_f64) {
                attrs.push(KeyValue::new(name, x));
            }
        }
        if let Some(x) = r
            .get("max_completion_tokens")
            .or_else(|| r.get("max_tokens"))
            .and_then(Json::as_i64)
        {
            attrs.push(KeyValue::new("gen_ai.request.max_tokens", x));
        }
    }
    if let Some(r) = &response {
        if let Some(id) = r.get("id").and_then(Json::as_str) {
            attrs.push(KeyValue::new("gen_ai.response.id", id.to_owned()));
        }
        let reasons: Vec<String> = r
            .get("choices")
            .and_then(Json::as_array)
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c.get("finish_reason").and_then(Json::as_str))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if !reasons.is_empty() {
            attrs.push(KeyValue::new(
                "gen_ai.response.finish_reasons",
                strings(reasons),
            ));
        }
    }
    if content {
        if let Some(r) = &request {
            let (input, system) = input_messages(r);
            if let Some(input) = input {
                attrs.push(KeyValue::new("gen_ai.input.messages", input));
            }
            if let Some(system) = system {
                attrs.push(KeyValue::new("gen_ai.system_instructions", system));
            }
        }
        if let Some(choices) = response
            .as_ref()
            .and_then(|r| r.get("choices"))
            .and_then(Json::as_array)
        {
            let output: Vec<Json> = choices
                .iter()
                .map(|c| {
                    let text = redacted(
                        &c.pointer("/message/content")
                            .map(content_text)
                            .unwrap_or_default(),
                    );
                    serde_json::json!({
                        "role": "assistant",
                        "parts": [{"type": "text", "content": text}],
                        "finish_reason": c.get("finish_reason").cloned().unwrap_or(Json::Null),
                    })
                })
                .collect();
            attrs.push(KeyValue::new(
                "gen_ai.output.messages",
                Json::Array(output).to_string(),
            ));
        }
    }
    let status = if record.success {
        Status::Ok
    } else {
        let kind = if record.status == 0 {
            "_OTHER".to_owned()
        } else {
            record.status.to_string()
        };
        attrs.push(KeyValue::new("error.type", kind));
        Status::error(record.error.clone().unwrap_or_default())
    };
    let scope = InstrumentationScope::builder("portolan")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    let start = time(record.created_at);
    let call = SpanData {
        span_context: SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: parent.unwrap_or(SpanId::INVALID),
        parent_span_is_remote: parent.is_some(),
        span_kind: SpanKind::Client,
        name: Cow::Owned(format!("{operation} {requested_model}")),
        start_time: start,
        end_time: start + Duration::from_millis(record.latency_ms),
        attributes: attrs,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status,
        instrumentation_scope: scope.clone(),
    };
    let mut out = vec![call];
    for attempt in &record.attempts {
        out.push(attempt_span(record, attempt, trace_id, span_id, &scope));
    }
    out
}

fn attempt_span(
    record: &CallRecord,
    attempt: &AttemptRecord,
    trace_id: TraceId,
    parent: SpanId,
    scope: &InstrumentationScope,
) -> SpanData {
    let provider = attempt.provider.as_deref().unwrap_or("unknown");
    let model = attempt.model.clone().unwrap_or_default();
    let mut attrs = vec![
        KeyValue::new("gen_ai.operation.name", "chat"),
        KeyValue::new("gen_ai.provider.name", provider_name(provider).to_owned()),
        KeyValue::new("gen_ai.request.model", model.clone()),
        KeyValue::new("portolan.attempt", i64::from(attempt.n) + 1),
        KeyValue::new("portolan.target_path", attempt.target_path.clone()),
        KeyValue::new("http.response.status_code", i64::from(attempt.status)),
    ];
    if let Some(key) = &attempt.key_name {
        attrs.push(KeyValue::new("portolan.virtual_key", key.clone()));
    }
    let status = match &attempt.error {
        None => Status::Ok,
        Some(e) => {
            attrs.push(KeyValue::new("error.type", attempt.status.to_string()));
            Status::error(e.clone())
        }
    };
    let start = time(attempt.started_at);
    SpanData {
        span_context: SpanContext::new(
            trace_id,
            span_id_of(&format!("{}#{}", record.id, attempt.n)),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: parent,
        parent_span_is_remote: false,
        span_kind: SpanKind::Client,
        name: Cow::Owned(format!("attempt {} {provider} {model}", attempt.n + 1)),
        start_time: start,
        end_time: start + Duration::from_millis(attempt.latency_ms),
        attributes: attrs,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status,
        instrumentation_scope: scope.clone(),
    }
}

/// A sealed header value as stored in the settings (base64 of the sealed bytes).
pub fn seal_header(
    seal: impl Fn(&str, &[u8]) -> Vec<u8>,
    name: &str,
    value: &SecretString,
) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(seal(
        &OtelSettings::header_record_id(name),
        value.expose().as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_are_the_calls_own_or_a_hash_of_them() {
        let own = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(trace_id_of(own).to_string(), own);
        let a = trace_id_of("checkout-42");
        assert_eq!(a, trace_id_of("checkout-42"), "stable");
        assert_ne!(a, trace_id_of("checkout-43"));
        assert_ne!(trace_id_of(&"0".repeat(32)), TraceId::INVALID);
        assert_eq!(provider_name("bedrock"), "aws.bedrock");
        assert_eq!(provider_name("openai"), "openai");
    }
}
