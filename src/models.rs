//! The models a user can call right now: the demo models, every priced model of a provider they
//! have a key for, and, for servers whose models Portolan cannot know (Ollama, vLLM…), a
//! `@key/<model>` pattern. One list, shared by the gateway's `/v1/models` and the desktop.

use crate::error::Result;
use crate::providers::Provider;
use crate::routing::Engine;

/// One callable model (or, with `pattern`, the shape of one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelEntry {
    /// The model string to call it with.
    pub id: String,
    pub provider: Provider,
    /// `@key/<model>`: a server whose models are not listed; fill in the model's name.
    pub pattern: bool,
}

/// The models reachable through the configured keys, demo models first.
pub async fn available(engine: &Engine) -> Result<Vec<ModelEntry>> {
    let mut out: Vec<ModelEntry> = Provider::DEMO_MODELS
        .iter()
        .map(|m| ModelEntry {
            id: (*m).to_owned(),
            provider: Provider::Demo,
            pattern: false,
        })
        .collect();
    let keys = engine.catalog().list_keys().await?;
    let mut providers: Vec<Provider> = keys
        .iter()
        .filter_map(|k| Provider::from_id(&k.provider))
        .collect();
    providers.sort();
    providers.dedup();
    for p in providers {
        let priced = engine.prices().models_for_provider(p.id());
        if priced.is_empty() {
            for k in keys.iter().filter(|k| k.provider == p.id()) {
                out.push(ModelEntry {
                    id: format!("@{}/<model>", k.name),
                    provider: p,
                    pattern: true,
                });
            }
        }
        out.extend(priced.into_iter().map(|m| ModelEntry {
            id: p.listed_model_id(m),
            provider: p,
            pattern: false,
        }));
    }
    Ok(out)
}
