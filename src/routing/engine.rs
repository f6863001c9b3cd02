//! The engine: one per process, cheap to clone, sharing the [`Services`] every call uses.
//! [`Engine::chat`] runs one call as a list of steps, each in its own module:
//! [`admit`](super::admit), [`cache`](super::cache), [`route`](super::route) (with
//! [`attempt`](super::attempt) for each target), [`relay`](super::relay), with
//! [`record`](super::record) building what every outcome leaves in the log.

use std::sync::Arc;

use super::admit;
use super::cache::{self, Lookup};
use super::call::{Call, CallError, CallOptions};
use super::record::Ledger;
use super::relay::{self, Delivery};
use super::resolve::TargetSpec;
use super::route::{self, Routed};
use super::services::Services;
use super::settings::EngineSettings;
use crate::chat::{ChatRequest, Usage};
use crate::pricing::PriceTable;
use crate::providers::{Endpoint, ProviderError};
use crate::store::{
    Backends, BudgetAlert, CacheStore, CallLog, Catalog, Conversations, Governance, Store,
};

/// The routing engine. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Engine {
    services: Arc<Services>,
}

/// What a call could cost at most (see [`Engine::estimate`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CallEstimate {
    pub usd: Option<f64>,
    pub tokens: u64,
    pub key_name: Option<String>,
}

impl Engine {
    /// An engine on the embedded SQLite store, with the settings saved in it.
    pub fn new(store: Arc<Store>) -> crate::Result<Engine> {
        let settings = EngineSettings::load(&store)?;
        let prices = PriceTable::for_data_dir(store.data_dir())?;
        let backends = Backends::sqlite(store, settings.log_retention_days)?;
        Engine::following_store(backends, settings, prices)
    }

    /// An engine on the embedded SQLite store, with these settings. Prices are the built-in
    /// table with the data directory's `prices.json` laid over it.
    pub fn with_settings(store: Arc<Store>, settings: EngineSettings) -> crate::Result<Engine> {
        let prices = PriceTable::for_data_dir(store.data_dir())?;
        let backends = Backends::sqlite(store, settings.log_retention_days)?;
        Engine::with_backends(backends, settings, prices)
    }

    /// An engine whose settings start as `settings` and then follow the store's as they change
    /// (set by the CLI, the app, or through any replica of a team gateway), within half a
    /// second.
    pub fn following_store(
        backends: Backends,
        settings: EngineSettings,
        prices: PriceTable,
    ) -> crate::Result<Engine> {
        Ok(Engine {
            services: Arc::new(Services::new(backends, settings, prices, true)?),
        })
    }

    /// An engine on any storage, with these settings (kept: they do not follow the store's).
    pub fn with_backends(
        backends: Backends,
        settings: EngineSettings,
        prices: PriceTable,
    ) -> crate::Result<Engine> {
        Ok(Engine {
            services: Arc::new(Services::new(backends, settings, prices, false)?),
        })
    }

    /// Runs one call: admission, the cache, the routing tree, then the answer relayed to the
    /// caller while it is settled, cached and logged.
    pub async fn chat(
        &self,
        request: ChatRequest,
        options: CallOptions,
    ) -> Result<Call, CallError> {
        let services = &self.services;
        services.start_background();
        let busy = services.enter();
        let mut ledger = Ledger::new(&options, request.is_stream(), &request.model);
        let actor = options.actor();

        // 1. Admission: a valid request, the input guardrail, the gateway token's budget.
        let admitted = admit::admit(services, request, &options, &mut ledger).await?;

        // 2. The cache: a hit is the answer; a miss is noted on the record.
        let cache = cache::plan(services, &options, &admitted).await;
        if let Some(plan) = &cache {
            match plan.lookup(services).await {
                Lookup::Hit(response, status) => {
                    let call =
                        relay::cached(services, ledger, admitted, response, status, &actor).await;
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
        } = route::route(services, &admitted, &options).await;
        let served = match outcome {
            Ok(served) => served,
            Err(cause) => {
                services
                    .settle(admitted.token_reservation.as_ref(), Some(0.0), 0, &actor)
                    .await;
                let (record, error) = ledger.failed(cause, attempts);
                services.log(record);
                return Err(error);
            }
        };

        // 4. Relay: the answer to the caller; settled, cached and logged as it ends.
        let delivery = Delivery {
            services: services.clone(),
            client: options.client.clone(),
            ledger,
            admitted,
            cache,
            actor,
            attempts,
            upstream_us: upstream.as_micros() as u64,
            _busy: busy,
        };
        relay::deliver(delivery, served).await
    }

    /// Embeds `inputs` as a call: admitted like chat (scopes, guardrail, budgets, rate limits),
    /// settled, and logged with its tokens and cost.
    pub async fn embeddings(
        &self,
        model: &str,
        inputs: Vec<String>,
        options: CallOptions,
    ) -> Result<super::embed::Embeddings, CallError> {
        self.services.start_background();
        super::embed::embed(&self.services, model, inputs, &options).await
    }

    pub fn catalog(&self) -> &dyn Catalog {
        self.services.catalog()
    }

    pub fn governance(&self) -> &dyn Governance {
        self.services.governance()
    }

    pub fn call_log(&self) -> &dyn CallLog {
        self.services.call_log()
    }

    /// Responses kept for the Responses API.
    pub fn conversations(&self) -> &dyn Conversations {
        self.services.conversations()
    }

    pub fn cache_store(&self) -> &dyn CacheStore {
        self.services.cache_store()
    }

    /// Budget alerts from now on, as calls settle (each budget alerts once per period; headless,
    /// the same alert is a warning on stderr and an audit entry).
    pub fn budget_alerts(&self) -> tokio::sync::broadcast::Receiver<BudgetAlert> {
        self.services.alerts().subscribe()
    }

    pub fn prices(&self) -> &PriceTable {
        self.services.prices()
    }

    /// The settings in force now (an engine made by [`Engine::new`] follows the stored ones).
    pub fn settings(&self) -> Arc<EngineSettings> {
        self.services.settings()
    }

    /// Waits until no call is in flight (streams included: until they are settled and logged),
    /// or `timeout` passes; returns whether all finished.
    pub async fn wait_idle(&self, timeout: std::time::Duration) -> bool {
        self.services.wait_idle(timeout).await
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

    /// What the OpenTelemetry exporter has done since this engine started.
    pub fn otel_stats(&self) -> &crate::otel::OtelStats {
        self.services.otel_stats()
    }

    /// The exporter's endpoint and counters now (with its last error).
    pub fn otel_snapshot(&self) -> crate::otel::OtelStatsSnapshot {
        self.services.otel_snapshot()
    }

    /// Resolves a model string the way a call would (for listing and key tests).
    pub async fn resolve(&self, model: &str) -> Result<Endpoint, ProviderError> {
        self.services
            .resolve_target(&TargetSpec::default(), model)
            .await
    }

    /// The worst case of a call as its budget reservation prices it (prompt estimate plus the
    /// completion limit): USD when the model's price is known, tokens, and the virtual key it
    /// would use. For estimates shown before a run (an eval's cost).
    pub async fn estimate(&self, request: &ChatRequest) -> Result<CallEstimate, ProviderError> {
        let endpoint = self.resolve(&request.model).await?;
        let (usd, tokens) = super::budget::estimate(
            self.prices(),
            &super::budget::Target::of(&endpoint, request),
        );
        Ok(CallEstimate {
            usd,
            tokens,
            key_name: endpoint.key_name,
        })
    }

    /// Cost of `usage` on `provider`/`model`, if the model's price is known.
    pub fn cost(&self, provider: &str, model: &str, usage: &Usage) -> Option<f64> {
        self.services.cost(provider, model, usage)
    }

    /// Embeds texts with a model string (`@key/model`, `ollama/nomic-embed-text`…), or with the
    /// local hashing embedder when `model` is `local-hash-v1`; vectors normalised to unit
    /// length. Returns the embedder's name.
    pub async fn embed(
        &self,
        model: &str,
        inputs: &[String],
    ) -> Result<(Vec<Vec<f32>>, String), ProviderError> {
        self.services.embed(model, inputs).await
    }

    /// As [`Engine::embed`], with the provider's vectors as they came (the gateway's
    /// `/v1/embeddings` passes them through).
    pub async fn embed_raw(
        &self,
        model: &str,
        inputs: &[String],
    ) -> Result<(Vec<Vec<f32>>, String), ProviderError> {
        self.services.embed_raw(model, inputs).await
    }
}
