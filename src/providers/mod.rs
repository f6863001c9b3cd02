//! Provider adapters: each turns the unified OpenAI-shaped request into one provider's wire format
//! and its answers (JSON or SSE) back into the unified shape, and maps its errors to one
//! [`ProviderError`] that says whether a retry can help.
//!
//! OpenAI, Azure OpenAI and the OpenAI-compatible services share [`openai`]; [`anthropic`] and
//! [`gemini`] translate; [`demo`] answers locally with no key and no network.

pub mod anthropic;
pub mod bedrock;
pub mod cohere;
pub mod demo;
mod error;
pub mod gemini;
pub mod openai;
pub mod registry;
pub mod scrub;
mod sse;
#[cfg(test)]
pub(crate) mod test_support;
pub mod vertex;

use std::pin::Pin;
use std::time::Duration;

use futures_util::Stream;

use crate::chat::{ChatChunk, ChatRequest, ChatResponse};
use crate::secrets::SecretString;

pub use error::{DEFAULT_RETRY_STATUS, FailureKind, ProviderError, UpstreamReply};
pub use registry::{Protocol, Provider, ProviderSpec, UnknownProvider};

/// Where and how to send one attempt.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub provider: Provider,
    pub base_url: String,
    pub api_key: Option<SecretString>,
    /// The virtual key's name, for logs (never the secret).
    pub key_name: Option<String>,
    /// The virtual key's id (budgets and limits are attached to it).
    pub key_id: Option<String>,
    /// The model name as the provider knows it (for Azure, the deployment).
    pub model: String,
}

impl Endpoint {
    pub fn protocol(&self) -> Protocol {
        self.provider.protocol()
    }
}

/// Maps a reqwest failure (connect, timeout, body read).
pub(crate) fn from_reqwest(provider: &str, e: &reqwest::Error, timeout: Duration) -> ProviderError {
    if e.is_timeout() {
        ProviderError::timeout(provider, timeout)
    } else if e.is_connect() {
        ProviderError::connect(format!(
            "could not connect to {provider}: {}",
            root_cause(e)
        ))
    } else if e.is_decode() || e.is_body() {
        ProviderError::incomplete(provider, &root_cause(e))
    } else {
        ProviderError::connect(format!("{provider} request failed: {}", root_cause(e)))
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Reads `Retry-After` (seconds or an HTTP date) and `retry-after-ms`.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
    {
        return Some(Duration::from_secs_f64(ms.max(0.0) / 1000.0));
    }
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<f64>() {
        return Some(Duration::from_secs_f64(secs.max(0.0)));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// A stream of chunks; an `Err` item ends it.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<ChatChunk, ProviderError>> + Send>>;

/// Limits for one attempt.
#[derive(Debug, Clone, Copy)]
pub struct AttemptLimits {
    /// Until the answer (or, for streams, the response headers) arrives.
    pub request_timeout: Duration,
    /// Longest silence allowed between two stream events.
    pub idle_timeout: Duration,
    pub body: BodyLimits,
}

/// The most Portolan reads of an upstream's answer, so memory stays bounded whatever it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// A complete (non-streamed) answer or error body.
    pub max_response_bytes: usize,
    /// One server-sent event (all its lines).
    pub max_event_bytes: usize,
    /// A whole stream.
    pub max_stream_bytes: usize,
}

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits {
            max_response_bytes: 16 << 20,
            max_event_bytes: 1 << 20,
            max_stream_bytes: 64 << 20,
        }
    }
}

/// Sends a non-streaming request.
pub async fn complete(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    request: &ChatRequest,
    limits: AttemptLimits,
) -> Result<ChatResponse, ProviderError> {
    match endpoint.protocol() {
        Protocol::OpenAi | Protocol::AzureOpenAi => {
            openai::complete(client, endpoint, request, limits).await
        }
        Protocol::Anthropic => anthropic::complete(client, endpoint, request, limits).await,
        Protocol::Gemini => gemini::complete(client, endpoint, request, limits).await,
        Protocol::Bedrock => bedrock::complete(client, endpoint, request, limits).await,
        Protocol::Vertex => vertex::complete(client, endpoint, request, limits).await,
        Protocol::Cohere => cohere::complete(client, endpoint, request, limits).await,
        Protocol::Demo => demo::complete(endpoint, request).await,
    }
}

/// Starts a streaming request. Resolves once the provider accepted it (status 2xx); errors
/// after that arrive on the stream.
pub async fn stream(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    request: &ChatRequest,
    limits: AttemptLimits,
) -> Result<ChunkStream, ProviderError> {
    match endpoint.protocol() {
        Protocol::OpenAi | Protocol::AzureOpenAi => {
            openai::stream(client, endpoint, request, limits).await
        }
        Protocol::Anthropic => anthropic::stream(client, endpoint, request, limits).await,
        Protocol::Gemini => gemini::stream(client, endpoint, request, limits).await,
        Protocol::Bedrock => bedrock::stream(client, endpoint, request, limits).await,
        Protocol::Vertex => vertex::stream(client, endpoint, request, limits).await,
        Protocol::Cohere => cohere::stream(client, endpoint, request, limits).await,
        Protocol::Demo => demo::stream(endpoint, request).await,
    }
}

/// Embeds texts with an embedding model (OpenAI-compatible `/embeddings`, Ollama included, or
/// Gemini `batchEmbedContents`).
pub async fn embed(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    inputs: &[String],
    limits: AttemptLimits,
) -> Result<Vec<Vec<f32>>, ProviderError> {
    match endpoint.protocol() {
        Protocol::OpenAi | Protocol::AzureOpenAi => {
            openai::embed(client, endpoint, inputs, limits).await
        }
        Protocol::Gemini => gemini::embed(client, endpoint, inputs, limits).await,
        Protocol::Vertex => vertex::embed(client, endpoint, inputs, limits).await,
        Protocol::Cohere => cohere::embed(client, endpoint, inputs, limits).await,
        Protocol::Bedrock => Err(ProviderError::config(
            "Bedrock embeddings are not supported yet; configure an OpenAI-compatible, Ollama, Gemini, Vertex or Cohere embedding model",
        )),
        Protocol::Anthropic => Err(ProviderError::config(
            "Anthropic offers no embedding API; configure an OpenAI-compatible, Ollama or Gemini embedding model",
        )),
        Protocol::Demo => Err(ProviderError::config(
            "the demo provider has no embedding model; use the local embedder",
        )),
    }
}

/// Where one request goes and how it is authorised, for adapters whose wire format several
/// services speak (Anthropic's Messages API directly and on Vertex AI; Gemini's generateContent
/// on AI Studio and on Vertex AI).
#[derive(Clone)]
pub(crate) struct Access {
    /// The URL (for Gemini: up to and including the model, before `:method`).
    pub url: String,
    pub auth: Auth,
}

/// How a request proves who sends it.
#[derive(Clone)]
pub(crate) enum Auth {
    /// A secret in a header of the provider's choosing (`x-api-key`, `x-goog-api-key`).
    Header(&'static str, SecretString),
    /// `Authorization: Bearer …` (an OAuth access token).
    Bearer(SecretString),
    None,
}

impl Auth {
    pub(crate) fn apply(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::Header(name, secret) => builder.header(*name, secret.expose()),
            Auth::Bearer(token) => builder.bearer_auth(token.expose()),
            Auth::None => builder,
        }
    }
}

/// How one provider writes its error bodies: where the message is, and (Gemini's `RetryInfo`)
/// where a retry delay may be.
#[derive(Clone, Copy)]
pub(crate) struct ErrorFormat {
    pub message: fn(&serde_json::Value) -> Option<String>,
    pub retry_delay: fn(&serde_json::Value) -> Option<Duration>,
    /// A header naming the error's kind, added to the message (AWS's `x-amzn-ErrorType`:
    /// `ThrottlingException:http://…` reads `(ThrottlingException)`).
    pub kind_header: Option<&'static str>,
}

impl ErrorFormat {
    /// Errors whose retry delay, if any, is only in the `Retry-After` headers.
    pub const fn headers_only(message: fn(&serde_json::Value) -> Option<String>) -> Self {
        ErrorFormat {
            message,
            retry_delay: |_| None,
            kind_header: None,
        }
    }
}

/// Sends one prepared request: bounded by the request timeout (`whole_timeout` also bounds
/// reading the body; streams are bounded by their idle timeout instead), transport failures
/// mapped to [`ProviderError`]s, and an error status read in the provider's own format.
pub(crate) async fn send_request(
    endpoint: &Endpoint,
    builder: reqwest::RequestBuilder,
    limits: AttemptLimits,
    whole_timeout: bool,
    errors: ErrorFormat,
) -> Result<reqwest::Response, ProviderError> {
    let builder = if whole_timeout {
        builder.timeout(limits.request_timeout)
    } else {
        builder
    };
    let provider = endpoint.provider.id();
    let response = tokio::time::timeout(limits.request_timeout, builder.send())
        .await
        .map_err(|_| ProviderError::timeout(provider, limits.request_timeout))?
        .map_err(|e| from_reqwest(provider, &e, limits.request_timeout))?;
    if !response.status().is_success() {
        return Err(error_from_response(provider, response, errors).await);
    }
    Ok(response)
}

/// The whole body of a successful answer as text, read up to the response size limit; a
/// connection cut while reading it is a transport error (retryable), like one cut before the
/// answer.
pub(crate) async fn body_text(
    endpoint: &Endpoint,
    response: reqwest::Response,
    limits: AttemptLimits,
) -> Result<String, ProviderError> {
    let provider = endpoint.provider.id();
    let bytes = read_capped(response, limits.body.max_response_bytes)
        .await
        .map_err(|e| match e {
            CappedRead::Transport(e) => from_reqwest(provider, &e, limits.request_timeout),
            CappedRead::TooLarge => {
                ProviderError::too_large(provider, "an answer", limits.body.max_response_bytes)
            }
        })?;
    String::from_utf8(bytes).map_err(|e| ProviderError::malformed(provider, e))
}

enum CappedRead {
    Transport(reqwest::Error),
    TooLarge,
}

/// Reads a body chunk by chunk, refusing one longer than `limit` (by its Content-Length before
/// reading, or as it arrives).
async fn read_capped(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, CappedRead> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(CappedRead::TooLarge);
    }
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(CappedRead::Transport)? {
        if out.len() + chunk.len() > limit {
            return Err(CappedRead::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// A tool call's arguments as the JSON object that Anthropic (`input`) and Gemini (`args`)
/// want: empty is `{}`; anything but an object is refused with the call named.
pub(crate) fn tool_call_arguments(
    provider: &str,
    call: &crate::chat::ToolCall,
) -> Result<serde_json::Value, ProviderError> {
    let raw = call.function.arguments.trim();
    let args: serde_json::Value = if raw.is_empty() {
        serde_json::json!({})
    } else {
        serde_json::from_str(raw).map_err(|e| {
            ProviderError::config(format!(
                "{provider}: the arguments of tool call '{}' ({}) are not valid JSON: {e}",
                call.id, call.function.name
            ))
        })?
    };
    if !args.is_object() {
        return Err(ProviderError::config(format!(
            "{provider}: the arguments of tool call '{}' ({}) must be a JSON object",
            call.id, call.function.name
        )));
    }
    Ok(args)
}

/// Reads an error response into a [`ProviderError`]: the provider's message from its error
/// JSON (else the start of the body), and the retry delay from the headers or the body.
pub(crate) async fn error_from_response(
    provider: &str,
    response: reqwest::Response,
    format: ErrorFormat,
) -> ProviderError {
    let status = response.status().as_u16();
    let header_retry = retry_after(response.headers());
    let kind = format
        .kind_header
        .and_then(|name| response.headers().get(name))
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(':').next().unwrap_or(v).to_owned())
        .filter(|k| !k.is_empty());
    // An error body is read only as far as is worth keeping; the rest is not waited for.
    let body = match read_capped(response, ERROR_BODY_READ).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    };
    let parsed = serde_json::from_str::<serde_json::Value>(&body).ok();
    let snippet: String = body.chars().take(ERROR_BODY_KEPT).collect();
    let message = parsed.as_ref().and_then(format.message).unwrap_or_else(|| {
        let start: String = snippet.chars().take(200).collect();
        if start.trim().is_empty() {
            "no details".into()
        } else {
            start
        }
    });
    let retry = header_retry.or_else(|| parsed.as_ref().and_then(format.retry_delay));
    let message = match kind {
        Some(kind) => format!("{provider} returned {status}: {message} ({kind})"),
        None => format!("{provider} returned {status}: {message}"),
    };
    ProviderError::upstream(
        status,
        message,
        (!snippet.trim().is_empty()).then_some(snippet),
    )
    .with_retry_after(retry)
}

/// How much of a provider's error body is kept with the error.
const ERROR_BODY_KEPT: usize = 2048;
/// How much of an error body is read at all (a larger one is treated as having no details).
const ERROR_BODY_READ: usize = 256 << 10;

/// Appends a turn's content blocks, merging them into the previous turn when the role repeats
/// (Anthropic and Gemini both require alternating roles); empty turns are dropped.
pub(crate) fn merge_turn(
    turns: &mut Vec<(&'static str, Vec<serde_json::Value>)>,
    role: &'static str,
    items: Vec<serde_json::Value>,
) {
    if items.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some((last, existing)) if *last == role => existing.extend(items),
        _ => turns.push((role, items)),
    }
}

/// OpenAI's `tool_choice`, read once for the adapters that translate it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ToolChoice {
    Auto,
    None,
    /// Some tool must be called (`"required"`).
    Required,
    /// This function must be called.
    Function(String),
}

/// Refuses `parallel_tool_calls: false` (with tools) for a provider that cannot turn parallel
/// calls off: answering with several calls where the caller asked for one at a time would
/// break its loop.
pub(crate) fn refuse_serial_tool_calls(
    provider: &str,
    request: &ChatRequest,
) -> Result<(), ProviderError> {
    let has_tools = request.tools.as_ref().is_some_and(|t| !t.is_empty());
    if has_tools
        && request.extra.get("parallel_tool_calls") == Some(&serde_json::Value::Bool(false))
    {
        return Err(ProviderError::config(format!(
            "{provider} cannot honour parallel_tool_calls: false (it has no way to ask for one call at a time); remove it for this model"
        )));
    }
    Ok(())
}

/// Reads OpenAI's `tool_choice` (`"auto"`, `"none"`, `"required"`, or
/// `{"type": "function", "function": {"name": …}}`), naming `provider` in errors.
pub(crate) fn tool_choice(
    provider: &str,
    choice: &serde_json::Value,
) -> Result<ToolChoice, ProviderError> {
    use serde_json::Value;
    match choice {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" | "any" => Ok(ToolChoice::Required),
            other => Err(ProviderError::config(format!(
                "{provider}: unknown tool_choice '{other}'"
            ))),
        },
        Value::Object(o) => o
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .map(|name| ToolChoice::Function(name.to_owned()))
            .ok_or_else(|| {
                ProviderError::config(format!(
                    "{provider}: tool_choice object needs function.name"
                ))
            }),
        _ => Err(ProviderError::config(format!(
            "{provider}: tool_choice must be a string or an object"
        ))),
    }
}

/// Rough token count for providers that report none: about four characters a token.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64)
        .div_ceil(4)
        .max(if text.is_empty() { 0 } else { 1 })
}

pub(crate) fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub(crate) fn new_completion_id() -> String {
    crate::ids::new_id("chatcmpl")
}
