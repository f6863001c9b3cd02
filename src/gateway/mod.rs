//! The local gateway: an HTTP server that speaks the OpenAI API and serves prompts by id, on the
//! same routing engine as the app. It binds 127.0.0.1 unless told otherwise, requires a bearer
//! token, refuses non-local `Host` and foreign `Origin` headers, limits body sizes, never echoes
//! secrets, and drains in-flight streams on shutdown.

mod calls;
mod completions;
mod error;
mod guard;
mod handlers;
mod headers;
mod messages;
mod responses;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};

pub use error::ApiError;
pub use guard::is_loopback_name;

use crate::routing::Engine;

/// Default largest request body: 4 MiB (room for a few images as data URLs).
pub const DEFAULT_BODY_LIMIT: usize = 4 * 1024 * 1024;
pub const DEFAULT_PORT: u16 = 8787;

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub host: String,
    pub port: u16,
    pub body_limit: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            host: "127.0.0.1".into(),
            port: DEFAULT_PORT,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }
}

pub struct AppState {
    pub engine: Engine,
    /// Host names besides loopback ones that requests may name (the bind host, when the user
    /// chose a non-local interface on purpose).
    pub extra_hosts: Vec<String>,
    tokens: guard::TokenCache,
    /// Requests served since start (shown in the app).
    pub requests: Arc<AtomicU64>,
    /// Becomes true when the drain deadline of a shutdown has passed: open streams then end
    /// with an error event.
    pub closing: tokio::sync::watch::Receiver<bool>,
}

/// Ends the streams still open when a shutdown's drain deadline passes (see
/// [`Bound::closer`]).
#[derive(Clone)]
pub struct Closer(Arc<tokio::sync::watch::Sender<bool>>);

impl Closer {
    pub fn close(&self) {
        self.0.send_replace(true);
    }
}

/// The router, for `serve` and for tests that drive it in-process.
pub fn router(engine: Engine, config: &GatewayConfig) -> Router {
    let (_closer, closing) = tokio::sync::watch::channel(false);
    router_with(engine, config, Arc::new(AtomicU64::new(0)), closing)
}

fn router_with(
    engine: Engine,
    config: &GatewayConfig,
    requests: Arc<AtomicU64>,
    closing: tokio::sync::watch::Receiver<bool>,
) -> Router {
    let extra_hosts =
        if is_loopback_name(&config.host) || config.host == "0.0.0.0" || config.host == "::" {
            Vec::new()
        } else {
            vec![config.host.clone()]
        };
    let state = Arc::new(AppState {
        engine,
        extra_hosts,
        tokens: guard::TokenCache::default(),
        requests,
        closing,
    });
    let api = Router::new()
        .route("/v1/chat/completions", post(handlers::chat_completions))
        .route("/chat/completions", post(handlers::chat_completions))
        .route("/v1/prompts", get(handlers::list_prompts))
        .route("/v1/prompts/{id}", get(handlers::get_prompt))
        .route(
            "/v1/prompts/{id}/completions",
            post(handlers::prompt_completions),
        )
        .route("/v1/prompts/{id}/render", post(handlers::prompt_render))
        .route("/v1/completions", post(completions::create))
        .route("/completions", post(completions::create))
        .route("/v1/responses", post(responses::create))
        .route("/responses", post(responses::create))
        .route(
            "/v1/responses/{id}",
            get(responses::get).delete(responses::delete),
        )
        .route("/v1/models", get(handlers::list_models))
        .route("/v1/embeddings", post(handlers::embeddings))
        .route("/v1/feedback", post(handlers::feedback))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            guard::authenticated,
        ));
    // Anthropic's Messages API, whose errors (the gateway's own included) take Anthropic's shape.
    let anthropic = Router::new()
        .route("/v1/messages", post(messages::create))
        .route("/v1/messages/count_tokens", post(messages::count_tokens))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            guard::authenticated,
        ))
        .route_layer(middleware::from_fn(messages::anthropic_errors));
    Router::new()
        .route("/healthz", get(handlers::healthz))
        .merge(api)
        .merge(anthropic)
        .fallback(handlers::not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guard::local_only,
        ))
        .layer(DefaultBodyLimit::max(config.body_limit))
        .with_state(state)
}

/// A bound, not yet serving gateway (so callers can print the address first).
pub struct Bound {
    listener: tokio::net::TcpListener,
    app: Router,
    requests: Arc<AtomicU64>,
    closer: Closer,
}

impl Bound {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Requests served so far (the app's live counter).
    pub fn requests(&self) -> Arc<AtomicU64> {
        self.requests.clone()
    }

    /// Ends the streams still open (with an error event) once a shutdown should not wait for
    /// them any longer.
    pub fn closer(&self) -> Closer {
        self.closer.clone()
    }

    /// Serves until `shutdown` resolves, then stops accepting and waits for in-flight requests
    /// (streams included) to finish.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        use axum::serve::ListenerExt;
        // No Nagle: a response goes out as soon as it is written, not when the previous
        // segment is acknowledged.
        let listener = self.listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, self.app)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

pub async fn bind(engine: Engine, config: &GatewayConfig) -> std::io::Result<Bound> {
    let listener = tokio::net::TcpListener::bind((config.host.as_str(), config.port)).await?;
    let requests = Arc::new(AtomicU64::new(0));
    let (closer, closing) = tokio::sync::watch::channel(false);
    Ok(Bound {
        listener,
        app: router_with(engine, config, requests.clone(), closing),
        requests,
        closer: Closer(Arc::new(closer)),
    })
}
