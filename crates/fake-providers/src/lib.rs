//! In-process fake LLM provider servers for tests and benchmarks.
//!
//! [`FakeServer`] binds `127.0.0.1` on a random port and answers the real wire
//! formats of OpenAI Chat Completions / Embeddings / Models (also under any
//! path prefix, for OpenAI-compatible vendors), Azure OpenAI, Anthropic
//! Messages and Google Gemini `generateContent` / `streamGenerateContent`,
//! so HTTP adapters written against the real APIs can be exercised unchanged,
//! including their failure handling. What each model request does is
//! scripted with a queue of [`Behavior`]s; every request is recorded as a
//! [`RecordedRequest`].
//!
//! ```no_run
//! # async fn demo() {
//! use fake_providers::{Behavior, FakeServer};
//! let server = FakeServer::start().await;
//! server.push(Behavior::rate_limited(1));
//! server.push(Behavior::reply("Hello there"));
//! // point the adapter at server.base_url() …
//! assert_eq!(server.request_count(), 0);
//! # }
//! ```
//!
//! # Endpoints
//!
//! | Provider | Endpoint | Auth checked by [`FakeServer::expect_key`] |
//! | --- | --- | --- |
//! | OpenAI (any prefix) | `POST …/chat/completions`, `POST …/embeddings`, `GET …/models`, `GET …/models/{id}` | `Authorization: Bearer KEY` |
//! | Azure OpenAI | `POST /openai/deployments/{d}/chat/completions?api-version=…`, `…/embeddings?api-version=…` | `api-key: KEY` (or bearer) |
//! | Anthropic | `POST /v1/messages`, `POST /v1/messages/count_tokens`, `GET /v1/models` (with `anthropic-version`) | `x-api-key: KEY` (always required) |
//! | Gemini | `POST /v1beta/models/{m}:generateContent`, `:streamGenerateContent[?alt=sse]`, `:embedContent`, `:batchEmbedContents`, `:countTokens`, `GET /v1beta/models[/{m}]` | `x-goog-api-key: KEY` or `?key=KEY` |
//!
//! Chat-like requests (chat completions, messages, generate/streamGenerate)
//! pop the behaviour queue ([`FakeServer::push`]); embeddings requests pop a
//! separate queue ([`FakeServer::push_embedding`]); model listings and token
//! counting pop nothing. Requests rejected by validation (auth, missing
//! `anthropic-version`/`max_tokens`/`api-version`, bad JSON) do not pop.
//!
//! Tests in other languages script the server over HTTP: `POST /__fake/push` queues behaviours
//! given as JSON and `GET /__fake/last` returns the last model request (see [`behavior_from_json`]).
//!
//! # Token accounting
//!
//! Prompt tokens are the whitespace-separated words of all message texts
//! (system included) plus 3 per message; completion tokens are the words of
//! the answer (at least 1). With [`FakeServer::set_cached_tokens`]`(n)`,
//! OpenAI reports `prompt_tokens_details.cached_tokens = n` and Gemini
//! `cachedContentTokenCount = n`, both inside a prompt count raised to at
//! least `n`; Anthropic reports `cache_read_input_tokens = n` and, as the real
//! API does, `input_tokens` excluding them (`prompt - n`, saturating).
//! A request's output limit (`max_tokens`, `max_completion_tokens`,
//! `generationConfig.maxOutputTokens`) cuts text answers to that many words,
//! with finish reason `length` / `max_tokens` / `MAX_TOKENS`.

mod anthropic;
mod bedrock;
mod behavior;
mod body;
mod cohere;
mod conn;
mod control;
mod gemini;
mod openai;
mod respond;
mod router;
mod state;
mod text;
mod vertex;
mod wire;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::sync::oneshot;

pub use behavior::{Behavior, RecordedRequest};
pub use control::behavior_from_json;
pub use vertex::TEST_RSA_KEY;

use conn::{ConnMeta, KillListener};
use state::Shared;

/// A running fake provider server on `127.0.0.1`.
///
/// Dropping it stops accepting connections (requests already in flight may
/// finish; every behaviour is bounded in time).
pub struct FakeServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

/// Serves `listener` until `shutdown` fires (or its sender is dropped).
async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    shutdown: oneshot::Receiver<()>,
) {
    let app = Router::new()
        .fallback(router::dispatch)
        .with_state(shared)
        .into_make_service_with_connect_info::<ConnMeta>();
    let server = axum::serve(KillListener::new(listener), app);
    tokio::select! {
        _ = server => {}
        _ = shutdown => {}
    }
}

impl FakeServer {
    /// Binds `127.0.0.1:0` and serves in a background task of the current
    /// tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or if no loopback port can be bound (see
    /// [`FakeServer::try_start`] for the fallible form).
    pub async fn start() -> FakeServer {
        match Self::try_start().await {
            Ok(s) => s,
            Err(e) => panic!("fake-providers: cannot bind 127.0.0.1:0: {e}"),
        }
    }

    /// Like [`FakeServer::start`], returning the bind error instead of panicking.
    pub async fn try_start() -> io::Result<FakeServer> {
        Self::try_start_on(0).await
    }

    /// As [`FakeServer::try_start`], on a given port of 127.0.0.1 (0 picks a free one).
    pub async fn try_start_on(port: u16) -> io::Result<FakeServer> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let (tx, rx) = oneshot::channel();
        tokio::spawn(serve(listener, shared.clone(), rx));
        Ok(FakeServer {
            addr,
            shared,
            shutdown: Some(tx),
        })
    }

    /// Starts the server on its own runtime in a background thread, for plain
    /// `#[test]` functions and blocking clients.
    ///
    /// # Panics
    ///
    /// If the thread, the runtime or the socket cannot be created (see
    /// [`FakeServer::try_start_blocking`]).
    pub fn start_blocking() -> FakeServer {
        match Self::try_start_blocking() {
            Ok(s) => s,
            Err(e) => panic!("fake-providers: cannot start the blocking server: {e}"),
        }
    }

    /// Like [`FakeServer::start_blocking`], returning errors instead of panicking.
    pub fn try_start_blocking() -> io::Result<FakeServer> {
        let shared = Arc::new(Shared::default());
        let (tx, rx) = oneshot::channel();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel::<io::Result<SocketAddr>>();
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("fake-providers".to_string())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = addr_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    let bound = async {
                        let l = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
                        let a = l.local_addr()?;
                        Ok::<_, io::Error>((l, a))
                    };
                    match bound.await {
                        Ok((listener, addr)) => {
                            let _ = addr_tx.send(Ok(addr));
                            serve(listener, thread_shared, rx).await;
                        }
                        Err(e) => {
                            let _ = addr_tx.send(Err(e));
                        }
                    }
                });
                // Dropping the runtime here cancels connections still open.
            })?;
        let addr = addr_rx
            .recv()
            .map_err(|_| io::Error::other("fake-providers: server thread exited early"))??;
        Ok(FakeServer {
            addr,
            shared,
            shutdown: Some(tx),
        })
    }

    /// The bound address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `base_url()` followed by `path` (which should start with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// Queues a behaviour; each model request (chat completions, messages,
    /// generateContent/streamGenerateContent, any provider) pops the next one.
    pub fn push(&self, b: Behavior) {
        self.shared.push(b);
    }

    /// Queues a behaviour for embeddings requests (OpenAI, Azure, Gemini).
    /// `Status`, `Hang`, `DropMidStream`, `StallMidStream` and `Malformed`
    /// act as for a non-streaming chat; `Reply { delay }` and
    /// `Chunks { first_delay }` delay a normal answer; `ToolCall` is a normal
    /// answer. With the queue empty, embeddings succeed at once.
    pub fn push_embedding(&self, b: Behavior) {
        self.shared.push_embedding(b);
    }

    /// Behaviours still queued for model requests.
    pub fn pending(&self) -> usize {
        self.shared.pending()
    }

    /// Replaces the behaviour used when the queue is empty. The initial
    /// default is a reply `"Fake reply to: <first 8 words of the last user
    /// message>"` with no delay.
    pub fn set_default(&self, b: Behavior) {
        self.shared.set_default(b);
    }

    /// From now on, requests whose key (see the crate docs per provider)
    /// differs from `key`, or is missing, get the provider's 401 error.
    pub fn expect_key(&self, key: &str) {
        self.shared.expect_key(key);
    }

    /// Bedrock: from now on, requests must carry a SigV4 signature made with these credentials
    /// (recomputed and compared); another access key id gets `UnrecognizedClientException`, a
    /// wrong signature `InvalidSignatureException`.
    pub fn expect_aws(
        &self,
        access_key_id: &str,
        secret_access_key: &str,
        session_token: Option<&str>,
    ) {
        self.shared.expect_aws(state::AwsExpected {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret_access_key.to_owned(),
            session_token: session_token.map(str::to_owned),
            expired: false,
        });
    }

    /// Bedrock: the expected (temporary) credentials have expired: every request gets 403
    /// `ExpiredTokenException`.
    pub fn expire_aws_credentials(&self) {
        if let Some(mut aws) = self.shared.expected_aws() {
            aws.expired = true;
            self.shared.expect_aws(aws);
        }
    }

    /// Vertex: a service account key file (JSON) whose token endpoint is this server's
    /// `/token`, signed with the test key [`TEST_RSA_KEY`].
    pub fn vertex_service_account(&self, project: &str) -> String {
        vertex::service_account_json(&self.url("/token"), project)
    }

    /// Vertex: forgets every access token issued so far (as a revocation or an early expiry
    /// does), so the next model call gets 401 until the client fetches a new one.
    pub fn revoke_tokens(&self) {
        self.shared.revoke_tokens();
    }

    /// Vertex: how many service-account token requests were granted.
    pub fn token_grants(&self) -> usize {
        self.shared.token_grants()
    }

    /// Reports `n` cached prompt tokens in usage (see the crate docs).
    pub fn set_cached_tokens(&self, n: u64) {
        self.shared.set_cached_tokens(n);
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// The most recent request, if any.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.shared.requests().pop()
    }

    /// Number of requests received so far.
    /// Stops (or resumes) keeping request records; `request_count` still counts. For load
    /// tests, whose memory should not grow with every request.
    pub fn set_recording(&self, on: bool) {
        self.shared.set_recording(on);
    }

    pub fn request_count(&self) -> usize {
        self.shared.request_count()
    }

    /// Back to the state right after start: empties both behaviour queues and
    /// the request log, restores the built-in default behaviour, forgets the
    /// expected key and sets cached tokens back to 0.
    pub fn reset(&self) {
        self.shared.reset();
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl std::fmt::Debug for FakeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}
