//! What a process shares across calls: storage, the HTTP client, prices, settings, decrypted
//! keys and the budget-alert channel, with the small operations every step of a call uses
//! (resolve a target, price usage, settle a reservation, log a record, embed text). The steps
//! take these services, not the engine, so they depend on nothing that depends on them.

use std::sync::{Arc, OnceLock, RwLock, Weak};
use std::time::Duration;

use super::resolve::{KeyCache, TargetSpec, resolve};
use super::settings::EngineSettings;
use crate::chat::Usage;
use crate::embeddings::{
    LOCAL_EMBEDDER, LOCAL_MODEL, LocalHashEmbedder, embed_with_local_model, normalize,
};
use crate::logs::CallRecord;
use crate::pricing::{PriceTable, TokenUsage, cost_usd};
use crate::providers::{self, Endpoint, ProviderError};
use crate::store::{
    Actor, Backends, BudgetAlert, CacheStore, CallLog, Catalog, Conversations, Governance,
    Reservation,
};

pub(crate) struct Services {
    backends: Backends,
    client: reqwest::Client,
    prices: PriceTable,
    /// The settings in force; replaced when the stored ones change (see `follow`).
    settings: RwLock<Arc<EngineSettings>>,
    /// Whether the settings follow the stored ones (an engine made with explicit settings keeps
    /// them).
    follow: bool,
    /// The background task (settings refresh, lease sweep), started with the first call.
    background: OnceLock<()>,
    /// Calls not finished yet (a stream until its relay has settled and logged it).
    busy: Arc<Busy>,
    keys: KeyCache,
    /// Budgets crossing their alert threshold, for whoever shows them (the app's notifications).
    alerts: tokio::sync::broadcast::Sender<BudgetAlert>,
    /// OpenTelemetry export of finished calls.
    otel: crate::otel::OtelExport,
}

impl Services {
    pub fn new(
        backends: Backends,
        settings: EngineSettings,
        prices: PriceTable,
        follow: bool,
    ) -> crate::Result<Services> {
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
        let backends_dir = backends.data_dir.clone();
        Ok(Services {
            backends,
            client,
            prices,
            settings: RwLock::new(Arc::new(settings)),
            follow,
            background: OnceLock::new(),
            busy: Arc::new(Busy::default()),
            keys: KeyCache::default(),
            alerts: tokio::sync::broadcast::channel(64).0,
            otel: crate::otel::OtelExport::new(backends_dir),
        })
    }

    pub fn catalog(&self) -> &dyn Catalog {
        self.backends.catalog.as_ref()
    }

    pub fn governance(&self) -> &dyn Governance {
        self.backends.governance.as_ref()
    }

    pub fn call_log(&self) -> &dyn CallLog {
        self.backends.calls.as_ref()
    }

    pub fn conversations(&self) -> &dyn Conversations {
        self.backends.conversations.as_ref()
    }

    pub fn cache_store(&self) -> &dyn CacheStore {
        self.backends.cache.as_ref()
    }

    pub fn alerts(&self) -> &tokio::sync::broadcast::Sender<BudgetAlert> {
        &self.alerts
    }

    pub fn prices(&self) -> &PriceTable {
        &self.prices
    }

    /// The settings in force now.
    pub fn settings(&self) -> Arc<EngineSettings> {
        self.settings
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Counts a call as in flight until the returned guard is dropped.
    pub fn enter(&self) -> BusyGuard {
        self.busy
            .count
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        BusyGuard(self.busy.clone())
    }

    /// Waits until no call is in flight, or `timeout` passes; returns whether all finished.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.busy.idle.notified();
            if self.busy.count.load(std::sync::atomic::Ordering::Acquire) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }

    /// Starts (once, from within a runtime) the task that keeps a long-running process in step
    /// with the store: settings changed by the CLI or the app take effect within
    /// [`SETTINGS_REFRESH`], and expired reservation leases are swept as often as the
    /// governance store asks ([`crate::store::Governance::sweep_every`]).
    pub fn start_background(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let sweep_every = (self.governance().sweep_every().as_millis()
            / SETTINGS_REFRESH.as_millis())
        .max(1) as u64;
        self.background.get_or_init(|| {
            let weak: Weak<Services> = Arc::downgrade(self);
            runtime.spawn(async move {
                let mut ticks = 0u64;
                loop {
                    tokio::time::sleep(SETTINGS_REFRESH).await;
                    let Some(services) = weak.upgrade() else {
                        return;
                    };
                    if services.follow {
                        services.refresh_settings().await;
                    }
                    ticks += 1;
                    if ticks.is_multiple_of(sweep_every)
                        && let Err(e) = services
                            .governance()
                            .sweep_expired_leases(&Actor::System)
                            .await
                    {
                        tracing::warn!(error = %e, "could not sweep expired budget reservations");
                    }
                }
            });
        });
    }

    /// Reads the stored settings and puts them in force if they changed.
    pub async fn refresh_settings(&self) {
        match self.catalog().setting(super::settings::KEY).await {
            Ok(stored) => {
                let next = match stored {
                    Some(v) => match serde_json::from_value::<EngineSettings>(v) {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::warn!(error = %e, "the stored engine settings cannot be read; keeping the current ones");
                            return;
                        }
                    },
                    None => EngineSettings::default(),
                };
                if *self.settings() != next
                    && let Ok(mut s) = self.settings.write()
                {
                    tracing::info!("engine settings changed; in force from now on");
                    *s = Arc::new(next);
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not read the engine settings"),
        }
    }

    /// How long a budget reservation holds before a sweep may charge and release it.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.settings().reservation_lease_secs.max(1))
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.client
    }

    pub fn log(&self, record: CallRecord) {
        self.export(&record);
        self.call_log().log(record);
    }

    /// Logs an answered call: stored before this returns when the log is durable (see
    /// [`crate::store::CallLog::log_answered`]).
    pub async fn log_answered(&self, record: CallRecord) {
        self.export(&record);
        self.call_log().log_answered(record).await;
    }

    fn export(&self, record: &CallRecord) {
        let settings = self.settings();
        self.otel
            .record(&settings.otel, &self.backends.catalog, &self.client, record);
    }

    /// What the OpenTelemetry exporter has done since the engine started.
    pub fn otel_stats(&self) -> &crate::otel::OtelStats {
        self.otel.stats()
    }

    /// The exporter's settings and counters now.
    pub fn otel_snapshot(&self) -> crate::otel::OtelStatsSnapshot {
        self.otel.snapshot(self.settings().otel.endpoint.clone())
    }

    pub async fn resolve_target(
        &self,
        spec: &TargetSpec<'_>,
        model: &str,
    ) -> Result<Endpoint, ProviderError> {
        resolve(self.catalog(), &self.keys, &self.prices, spec, model).await
    }

    /// Cost of `usage` on `provider`/`model`, if the model's price is known.
    pub fn cost(&self, provider: &str, model: &str, usage: &Usage) -> Option<f64> {
        let price = self.prices.lookup(provider, model)?;
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
    pub async fn settle(
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
                let _ = self.alerts.send(a);
            }),
            Err(e) => tracing::error!(error = %e, "could not settle a budget reservation"),
        }
    }

    /// Embeds texts, normalised to unit length (see [`Services::embed_raw`]).
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

    /// Embeds texts with a model string (`@key/model`, `ollama/nomic-embed-text`…), or with the
    /// local hashing embedder when `model` is `local-hash-v1`. Returns the embedder's name.
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
        if model == LOCAL_MODEL {
            // Inference takes milliseconds of CPU: off the executor's threads.
            let texts = inputs.to_vec();
            let vectors = tokio::task::spawn_blocking(move || embed_with_local_model(&texts))
                .await
                .map_err(|e| ProviderError::internal(format!("the local embedder stopped: {e}")))?
                .map_err(|e| ProviderError::internal(format!("the local embedder failed: {e}")))?;
            return Ok((vectors, LOCAL_MODEL.into()));
        }
        let endpoint = self.resolve_target(&TargetSpec::default(), model).await?;
        let settings = self.settings();
        let limits =
            settings.attempt_limits(settings.request_timeout_ms, settings.stream_idle_timeout_ms);
        let vectors = providers::embed(&self.client, &endpoint, inputs, limits).await?;
        Ok((vectors, format!("{}/{}", endpoint.provider, endpoint.model)))
    }
}

#[derive(Default)]
struct Busy {
    count: std::sync::atomic::AtomicUsize,
    idle: tokio::sync::Notify,
}

/// A call in flight; dropping it counts the call finished.
pub(crate) struct BusyGuard(Arc<Busy>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        if self
            .0
            .count
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel)
            == 1
        {
            self.0.idle.notify_waiters();
        }
    }
}

/// How often a long-running process rereads the stored settings.
pub const SETTINGS_REFRESH: Duration = Duration::from_millis(500);

/// Services on a throwaway SQLite store, for the steps' unit tests.
#[cfg(test)]
pub(crate) fn for_tests(
    settings: EngineSettings,
) -> (tempfile::TempDir, std::sync::Arc<crate::Store>, Services) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = std::sync::Arc::new(
        crate::Store::open_with(
            dir.path(),
            crate::StoreOptions {
                seed_samples: false,
                use_keyring: false,
                master_key: Some("ab".repeat(32)),
            },
        )
        .expect("store"),
    );
    let backends = Backends::sqlite(store.clone(), 0).expect("backends");
    let services =
        Services::new(backends, settings, PriceTable::builtin().clone(), false).expect("services");
    (dir, store, services)
}
