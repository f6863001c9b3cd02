//! The engine: what a process shares across calls (storage, the HTTP client, prices, settings,
//! decrypted keys) and [`Engine::chat`], which runs one call as a list of steps, each in its own
//! module: [`admit`](super::admit), [`cache`](super::cache), [`route`](super::route) (with
//! [`attempt`](super::attempt) for each target), [`relay`](super::relay), with
//! [`record`](super::record) building what every outcome leaves in the log.

use std::sync::Arc;
use std::time::Duration;

use super::admit;
use super::cache::{self, Lookup};
use super::call::{Call, CallError, CallOptions};
use super::record::Ledger;
use super::relay::{self, Delivery};
use super::resolve::{KeyCache, TargetSpec, resolve};
use super::route::{self, Routed};
use super::settings::EngineSettings;
use crate::chat::{ChatRequest, Usage};
use crate::embeddings::{LOCAL_EMBEDDER, LocalHashEmbedder, normalize};
use crate::logs::CallRecord;
use crate::pricing::{PriceTable, TokenUsage, cost_usd};
use crate::providers::{self, AttemptLimits, Endpoint, ProviderError};
use crate::store::{
    Actor, Backends, BudgetAlert, CacheStore, CallLog, Catalog, Governance, Reservation, Store,
};

struct Inner {
    backends: Backends,
    client: reqwest::Client,
    prices: PriceTable,
    settings: EngineSettings,
    keys: KeyCache,
    /// Budgets crossing their alert threshold, for whoever shows them (the app's notifications).
    alerts: tokio::sync::broadcast::Sender<BudgetAlert>,
}

/// The routing engine. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// An engine on the embedded SQLite store, with the settings saved in it.
    pub fn new(store: Arc<Store>) -> crate::Result<Engine> {
        let settings = EngineSettings::load(&store)?;
        Engine::with_settings(store, settings)
    }

    /// An engine on the embedded SQLite store, with these settings. Prices are the built-in
    /// table with the data directory's `prices.json` laid over it.
    pub fn with_settings(store: Arc<Store>, settings: EngineSettings) -> crate::Result<Engine> {
        let prices =
            PriceTable::with_overrides(&store.data_dir().join(crate::pricing::OVERRIDES_FILE))?;
        let backends = Backends::sqlite(store, settings.log_retention_days)?;
        Engine::with_backends(backends, settings, prices)
    }

    /// An engine on any storage.
    pub fn with_backends(
        backends: Backends,
        settings: EngineSettings,
        prices: PriceTable,
    ) -> crate::Result<Engine> {
        // reqwest is built without a default crypto provider; ring is the one used everywhere.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            // Provider APIs do not redirect; following one would silently re-send (or, for 301
            // and 302, turn a POST into a GET). A 3xx is reported as the provider's answer.
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("portolan/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| crate::Error::HttpClient(e.to_string()))?;
        Ok(Engine {
            inner: Arc::new(Inner {
                backends,
                client,
                prices,
                settings,
                keys: KeyCache::default(),
                alerts: tokio::sync::broadcast::channel(64).0,
            }),
        })
    }

    /// Runs one call: admission, the cache, the routing tree, then the answer relayed to the
    /// caller while it is settled, cached and logged.
    pub async fn chat(
        &self,
        request: ChatRequest,
        options: CallOptions,
    ) -> Result<Call, CallError> {
        let mut ledger = Ledger::new(&options, request.is_stream(), &request.model);
        let actor = options.actor();

        // 1. Admission: a valid request, the input guardrail, the gateway token's budget.
        let admitted = admit::admit(self, request, &options, &mut ledger).await?;

        // 2. The cache: a hit is the answer; a miss is noted on the record.
        let cache = cache::plan(self, &options, &admitted).await;
        if let Some(plan) = &cache {
            match plan.lookup(self).await {
                Lookup::Hit(response, status) => {
                    let call =
                        relay::cached(self, ledger, admitted, response, status, &actor).await;
                    return Ok(call);
                }
                Lookup::Miss(status) => ledger.set_cache_status(status),
            }
        }

        // 3. Routing: the target tree, with retries, fallbacks and every attempt recorded.
        let Routed {
            outcome,
            attempts,
            upstream,
        } = route::route(self, &admitted, &options).await;
        let served = match outcome {
            Ok(served) => served,
            Err(cause) => {
                self.settle(admitted.token_reservation.as_ref(), Some(0.0), 0, &actor)
                    .await;
                let (record, error) = ledger.failed(cause, attempts);
                self.log(record);
                return Err(error);
            }
        };

        // 4. Relay: the answer to the caller; settled, cached and logged as it ends.
        let delivery = Delivery {
            engine: self.clone(),
            ledger,
            admitted,
            cache,
            actor,
            attempts,
            upstream_us: upstream.as_micros() as u64,
        };
        relay::deliver(delivery, served).await
    }

    pub fn catalog(&self) -> &dyn Catalog {
        self.inner.backends.catalog.as_ref()
    }

    pub fn governance(&self) -> &dyn Governance {
        self.inner.backends.governance.as_ref()
    }

    pub fn call_log(&self) -> &dyn CallLog {
        self.inner.backends.calls.as_ref()
    }

    pub fn cache_store(&self) -> &dyn CacheStore {
        self.inner.backends.cache.as_ref()
    }

    /// Budget alerts from now on, as calls settle (each budget alerts once per period; headless,
    /// the same alert is a warning on stderr and an audit entry).
    pub fn budget_alerts(&self) -> tokio::sync::broadcast::Receiver<BudgetAlert> {
        self.inner.alerts.subscribe()
    }

    pub fn prices(&self) -> &PriceTable {
        &self.inner.prices
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.inner.settings
    }

    pub(super) fn http(&self) -> &reqwest::Client {
        &self.inner.client
    }

    pub(super) fn log(&self, record: CallRecord) {
        self.call_log().log(record);
    }

    /// Waits (blocking the thread) until every log record queued so far is stored.
    pub fn flush_logs(&self) {
        self.call_log().flush_blocking();
    }

    /// Waits until every log record queued so far is stored.
    pub async fn flush_logs_async(&self) {
        self.call_log().flush().await;
    }

    /// Log records dropped because the writer fell behind.
    pub fn logs_dropped(&self) -> u64 {
        self.call_log().dropped()
    }

    /// Resolves a model string the way a call would (for listing and key tests).
    pub async fn resolve(&self, model: &str) -> Result<Endpoint, ProviderError> {
        self.resolve_target(&TargetSpec::default(), model).await
    }

    pub(super) async fn resolve_target(
        &self,
        spec: &TargetSpec<'_>,
        model: &str,
    ) -> Result<Endpoint, ProviderError> {
        resolve(
            self.catalog(),
            &self.inner.keys,
            &self.inner.prices,
            spec,
            model,
        )
        .await
    }

    /// Cost of `usage` on `provider`/`model`, if the model's price is known.
    pub fn cost(&self, provider: &str, model: &str, usage: &Usage) -> Option<f64> {
        let price = self.inner.prices.lookup(provider, model)?;
        cost_usd(
            price,
            &TokenUsage {
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
                cached_prompt_tokens: usage.cached_tokens(),
                cache_write_tokens: 0,
            },
        )
    }

    /// Replaces a reservation's estimate with the actual use; errors are logged, not raised (the
    /// call itself already happened). Alerts go to the subscribers.
    pub(super) async fn settle(
        &self,
        reservation: Option<&Reservation>,
        usd: Option<f64>,
        tokens: u64,
        actor: &Actor,
    ) {
        let Some(r) = reservation.filter(|r| !r.is_empty()) else {
            return;
        };
        match self.governance().settle(r, usd, tokens, actor).await {
            // No subscriber (headless) is fine: the alert is already logged and audited.
            Ok(alerts) => alerts.into_iter().for_each(|a| {
                let _ = self.inner.alerts.send(a);
            }),
            Err(e) => tracing::error!(error = %e, "could not settle a budget reservation"),
        }
    }

    /// Embeds texts with a model string (`@key/model`, `ollama/nomic-embed-text`…), or with the
    /// local hashing embedder when `model` is `local-hash-v1`. Returns the embedder's name.
    pub async fn embed(
        &self,
        model: &str,
        inputs: &[String],
    ) -> Result<(Vec<Vec<f32>>, String), ProviderError> {
        let (mut vectors, name) = self.embed_raw(model, inputs).await?;
        for v in &mut vectors {
            normalize(v);
        }
        Ok((vectors, name))
    }

    /// As [`Engine::embed`], with the provider's vectors as they came (the gateway's
    /// `/v1/embeddings` passes them through).
    pub async fn embed_raw(
        &self,
        model: &str,
        inputs: &[String],
    ) -> Result<(Vec<Vec<f32>>, String), ProviderError> {
        if model == LOCAL_EMBEDDER {
            return Ok((
                inputs.iter().map(|t| LocalHashEmbedder.embed(t)).collect(),
                LOCAL_EMBEDDER.into(),
            ));
        }
        let endpoint = self.resolve(model).await?;
        let limits = AttemptLimits {
            request_timeout: Duration::from_millis(self.inner.settings.request_timeout_ms),
            idle_timeout: Duration::from_millis(self.inner.settings.stream_idle_timeout_ms),
        };
        let vectors = providers::embed(&self.inner.client, &endpoint, inputs, limits).await?;
        Ok((vectors, format!("{}/{}", endpoint.provider, endpoint.model)))
    }
}
