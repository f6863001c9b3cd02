//! The cache step of a call: a plan made from the request (its exact key, its semantic
//! partition and embedding), a lookup before routing, and a fill after a complete answer. A
//! lookup that fails is a miss (the provider is asked); a fill that fails is logged. Answers under
//! an output guardrail are never cached: a hit is served without the provider, so it would also
//! be served without the guardrail.

use super::admit::Admitted;
use super::call::CallOptions;
use super::config::{CacheMode, DEFAULT_CACHE_MAX_AGE_SECS};
use super::record::now_ms;
use super::services::Services;
use super::targets::{self, Reachable};
use crate::cache::{CacheEntry, CacheStatus, exact_key, near_miss, partition_key};
use crate::chat::ChatResponse;
use crate::embeddings::LOCAL_MODEL as DEFAULT_EMBEDDER;

/// Where a call's answer is looked for and kept.
pub(super) struct CachePlan {
    exact: String,
    partition: String,
    semantic: Option<Semantic>,
    max_age: u64,
    mode: CacheMode,
    force_refresh: bool,
    /// False under an output guardrail.
    fill: bool,
}

/// How a call is looked for by similarity.
struct Semantic {
    embedder: String,
    /// The last user message's vector, and the message itself (for the near-miss check).
    vector: Vec<f32>,
    query: String,
    /// The similarity a hit needs.
    threshold: f32,
}

/// Candidates above the threshold checked for a near-miss before one is served.
const SEMANTIC_CANDIDATES: usize = 5;

/// What the lookup found.
pub(super) enum Lookup {
    Hit(ChatResponse, CacheStatus),
    Miss(CacheStatus),
}

/// The plan for a call, or None when caching is off for it.
pub(super) async fn plan(
    services: &Services,
    options: &CallOptions,
    admitted: &Admitted,
) -> Option<CachePlan> {
    let cfg = options
        .cache
        .clone()
        .or_else(|| admitted.config.cache.clone())?;
    let request = &admitted.request;
    // Everything that decides what the answer was and who may see it is part of the key: the
    // routing config, every target it can reach as resolved now (provider, virtual key, address,
    // model; a rotated or re-pointed key is another partition) and the similarity a semantic hit
    // needs. Worked out only when caching is on.
    // The embedder decides the default threshold (each has its own scale).
    let embedder = services
        .settings()
        .embedding_model
        .clone()
        .unwrap_or_else(|| DEFAULT_EMBEDDER.into());
    let threshold = cfg
        .threshold
        .unwrap_or_else(|| crate::embeddings::default_threshold(&embedder));
    let fingerprint = {
        let mut c = admitted.config.clone();
        c.cache = None;
        let owned;
        let reach = match &admitted.reachable {
            Some(r) => r,
            None => {
                owned = targets::reachable(
                    services,
                    &admitted.config,
                    request,
                    options.custom_hosts_allowed(),
                )
                .await;
                &owned
            }
        };
        let identities: Vec<String> = reach.iter().map(Reachable::identity).collect();
        format!(
            "{}\u{0}{}\u{0}{threshold}",
            serde_json::to_string(&c).unwrap_or_default(),
            identities.join("\u{1}")
        )
    };
    let mut semantic = None;
    if cfg.mode == CacheMode::Semantic
        && let Some(text) = request.last_user_text()
    {
        match services.embed(&embedder, std::slice::from_ref(&text)).await {
            Ok((mut v, name)) if !v.is_empty() => {
                semantic = Some(Semantic {
                    embedder: name,
                    vector: v.remove(0),
                    threshold,
                    query: text,
                });
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "embedding for the semantic cache failed; exact matching only")
            }
        }
    }
    Some(CachePlan {
        exact: exact_key(request, &fingerprint),
        partition: partition_key(request, &fingerprint),
        semantic,
        max_age: cfg.max_age.unwrap_or(DEFAULT_CACHE_MAX_AGE_SECS),
        mode: cfg.mode,
        force_refresh: options.force_refresh || cfg.force_refresh.unwrap_or(false),
        fill: admitted.output_guard.is_none(),
    })
}

impl CachePlan {
    fn miss_status(&self) -> CacheStatus {
        match self.mode {
            CacheMode::Semantic => CacheStatus::SemanticMiss,
            CacheMode::Simple => CacheStatus::Miss,
        }
    }

    /// An exact hit, else the nearest semantic entry above the threshold, else a miss. A forced
    /// refresh skips the lookup.
    pub async fn lookup(&self, services: &Services) -> Lookup {
        if self.force_refresh {
            return Lookup::Miss(CacheStatus::Refresh);
        }
        let now = now_ms();
        let cache = services.cache_store();
        match cache.get_exact(&self.exact, now).await {
            Ok(Some(r)) => return Lookup::Hit(r, CacheStatus::Hit),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cache lookup failed; calling the provider");
                return Lookup::Miss(CacheStatus::Miss);
            }
        }
        if let Some(s) = &self.semantic {
            let candidates = match cache
                .get_nearest(
                    &self.partition,
                    &s.embedder,
                    &s.vector,
                    s.threshold,
                    now,
                    SEMANTIC_CANDIDATES,
                )
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "cache lookup failed; calling the provider");
                    return Lookup::Miss(CacheStatus::Miss);
                }
            };
            // Similar is not enough: the two must agree on numbers, names, negations, order.
            let signature = near_miss::signature(&s.query);
            for c in candidates {
                let Some(query) = &c.query else { continue };
                if let Err(why) = near_miss::agrees_with(&signature, query) {
                    tracing::debug!(similarity = c.similarity, %why, "semantic near-miss, not served");
                    continue;
                }
                match cache.get_exact(&c.key, now).await {
                    Ok(Some(r)) => return Lookup::Hit(r, CacheStatus::SemanticHit),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "cache lookup failed; calling the provider");
                        return Lookup::Miss(CacheStatus::Miss);
                    }
                }
            }
        }
        Lookup::Miss(self.miss_status())
    }

    /// Keeps a complete answer (not under an output guardrail; empty answers are skipped).
    pub async fn fill(&self, services: &Services, response: &ChatResponse) {
        if !self.fill {
            return;
        }
        let entry = CacheEntry {
            key: self.exact.clone(),
            partition: self.partition.clone(),
            response: response.clone(),
            embedding: self
                .semantic
                .as_ref()
                .map(|s| (s.embedder.clone(), s.vector.clone())),
            query: self.semantic.as_ref().map(|s| s.query.clone()),
            now_ms: now_ms(),
            max_age_secs: self.max_age,
        };
        if let Err(e) = services.cache_store().put(entry).await {
            tracing::warn!(error = %e, "could not store the answer in the cache");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{ChatMessage, ChatRequest, ChatResponse, Choice};
    use crate::routing::config::{CacheConfig, RouteConfig};
    use crate::routing::guard::Guard;
    use crate::routing::services::for_tests;
    use crate::routing::settings::EngineSettings;

    fn admitted(text: &str, output_guard: bool) -> Admitted {
        let config = RouteConfig::default();
        let guard_config = crate::guardrails::PiiConfig::new(crate::guardrails::PiiAction::Redact);
        Admitted {
            request: ChatRequest {
                model: "demo/small".into(),
                messages: vec![ChatMessage::new("user", text)],
                ..Default::default()
            },
            output_guard: output_guard.then(|| Guard {
                scanner: crate::guardrails::PiiScanner::new(&guard_config).unwrap(),
                config: guard_config,
            }),
            config,
            input_guard: None,
            redactions: Default::default(),
            token_reservation: None,
            reachable: None,
        }
    }

    fn options(mode: CacheMode, force: bool) -> CallOptions {
        CallOptions {
            cache: Some(CacheConfig {
                mode,
                max_age: None,
                threshold: None,
                force_refresh: Some(force),
            }),
            ..Default::default()
        }
    }

    fn answer(text: &str) -> ChatResponse {
        ChatResponse {
            id: "c".into(),
            object: "chat.completion".into(),
            created: 0,
            model: "demo/small".into(),
            choices: vec![Choice {
                index: 0,
                message: ChatMessage::new("assistant", text),
                finish_reason: Some("stop".into()),
                logprobs: None,
            }],
            usage: None,
            system_fingerprint: None,
        }
    }

    #[tokio::test]
    async fn no_cache_config_means_no_plan() {
        let (_d, _s, services) = for_tests(EngineSettings::default());
        assert!(
            plan(&services, &CallOptions::default(), &admitted("q", false))
                .await
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_filled_answer_is_an_exact_then_a_semantic_hit() {
        let (_d, _s, services) = for_tests(EngineSettings::default());
        let opts = options(CacheMode::Semantic, false);
        let p = plan(
            &services,
            &opts,
            &admitted("What is the capital of France?", false),
        )
        .await
        .unwrap();
        assert!(matches!(
            p.lookup(&services).await,
            Lookup::Miss(CacheStatus::SemanticMiss)
        ));
        p.fill(&services, &answer("Paris")).await;
        assert!(matches!(
            p.lookup(&services).await,
            Lookup::Hit(_, CacheStatus::Hit)
        ));
        let near = plan(
            &services,
            &opts,
            &admitted("what is the capital of france", false),
        )
        .await
        .unwrap();
        match near.lookup(&services).await {
            Lookup::Hit(r, CacheStatus::SemanticHit) => assert_eq!(r.text(), "Paris"),
            _ => panic!("expected a semantic hit"),
        }
    }

    #[tokio::test]
    async fn a_forced_refresh_skips_the_lookup_and_an_output_guardrail_skips_the_fill() {
        let (_d, _s, services) = for_tests(EngineSettings::default());
        let guarded = plan(
            &services,
            &options(CacheMode::Simple, false),
            &admitted("q", true),
        )
        .await
        .unwrap();
        guarded.fill(&services, &answer("a")).await;
        assert!(matches!(
            guarded.lookup(&services).await,
            Lookup::Miss(CacheStatus::Miss)
        ));
        let forced = plan(
            &services,
            &options(CacheMode::Simple, true),
            &admitted("q", false),
        )
        .await
        .unwrap();
        forced.fill(&services, &answer("a")).await;
        assert!(matches!(
            forced.lookup(&services).await,
            Lookup::Miss(CacheStatus::Refresh)
        ));
    }
}
