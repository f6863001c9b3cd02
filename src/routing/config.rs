//! Routing configs in the vocabulary of Portkey's gateway configs, so users can bring theirs:
//! a recursive object of `strategy` (single, fallback, loadbalance, conditional), `targets`,
//! `retry`, `cache`, `request_timeout`, `override_params` and provider/key selection. Children
//! inherit retry, cache, timeouts, custom host and override_params from their parent; their own
//! values win.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A provider key the caller brings in a config: sent with the call, hashed into the cache key,
/// never printed (`Debug` shows a mask).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallerKey(String);

impl CallerKey {
    pub fn new(key: impl Into<String>) -> Self {
        CallerKey(key.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for CallerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallerKey(***)")
    }
}

/// One node of a routing config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<RouteConfig>,
    /// Name a `conditional` strategy's `then` / `default` refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_key: Option<String>,
    /// A raw provider key (Portkey allows it); it is used for the call and never logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<CallerKey>,
    /// Shorthand for `override_params.model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheConfig>,
    /// Per attempt, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<u64>,
    /// Longest silence between two stream chunks, in milliseconds (Portolan extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_idle_timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_params: Option<Map<String, Value>>,
    /// Fallback trigger on a target (Portkey accepts it on targets as well as on the strategy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_status_codes: Option<Vec<u16>>,
    /// Guardrails run on the request before it leaves the machine (top level only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_guardrails: Vec<crate::guardrails::PiiConfig>,
    /// Guardrails run on the answer (complete answers; streamed answers get placeholders restored).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_guardrails: Vec<crate::guardrails::PiiConfig>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Single,
    Fallback,
    Loadbalance,
    Conditional,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Strategy {
    pub mode: Mode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_status_codes: Option<Vec<u16>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub query: Value,
    pub then: String,
}

pub use crate::providers::DEFAULT_RETRY_STATUS;
pub const MAX_RETRY_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_status_codes: Option<Vec<u16>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_retry_after_header: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheMode {
    Simple,
    Semantic,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    pub mode: CacheMode,
    /// Seconds an entry stays valid (default 7 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u64>,
    /// Cosine similarity a semantic hit needs (default: the embedder's own, see
    /// [`crate::embeddings::default_threshold`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_refresh: Option<bool>,
}

pub const DEFAULT_CACHE_MAX_AGE_SECS: u64 = 7 * 24 * 3600;

/// A config that cannot be used, with the path to the offending node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("routing config {path}: {reason}")]
pub struct ConfigError {
    pub path: String,
    pub reason: String,
}

impl RouteConfig {
    /// Parses JSON text, explaining unknown fields and bad values.
    pub fn from_json(text: &str) -> Result<RouteConfig, ConfigError> {
        let config: RouteConfig = serde_json::from_str(text).map_err(|e| ConfigError {
            path: "(root)".into(),
            reason: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    pub fn mode(&self) -> Mode {
        self.strategy.as_ref().map_or(Mode::Single, |s| s.mode)
    }

    /// Checks the whole tree: a strategy has targets, a conditional's names exist, weights and
    /// retry counts are in range, thresholds make sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_at("(root)")
    }

    fn validate_at(&self, path: &str) -> Result<(), ConfigError> {
        let err = |reason: String| ConfigError {
            path: path.to_owned(),
            reason,
        };
        if let Some(r) = &self.retry
            && r.attempts > MAX_RETRY_ATTEMPTS
        {
            return Err(err(format!(
                "retry.attempts is {}, at most {MAX_RETRY_ATTEMPTS}",
                r.attempts
            )));
        }
        if let Some(w) = self.weight
            && !(w.is_finite() && w >= 0.0)
        {
            return Err(err(format!("weight must be a number ≥ 0, not {w}")));
        }
        if let Some(c) = &self.cache
            && let Some(t) = c.threshold
            && !(0.0..=1.0).contains(&t)
        {
            return Err(err(format!(
                "cache.threshold must be between 0 and 1, not {t}"
            )));
        }
        for g in self.input_guardrails.iter().chain(&self.output_guardrails) {
            g.validate().map_err(|e| err(e.to_string()))?;
        }
        if path != "(root)"
            && !(self.input_guardrails.is_empty() && self.output_guardrails.is_empty())
        {
            return Err(err(
                "guardrails belong on the top level of a config, not on a target".into(),
            ));
        }
        if self.request_timeout == Some(0) {
            return Err(err("request_timeout must be more than 0 ms".into()));
        }
        match self.strategy.as_ref().map(|s| s.mode) {
            None => {
                if !self.targets.is_empty() {
                    return Err(err(
                        "targets need a strategy (single, fallback, loadbalance or conditional)"
                            .into(),
                    ));
                }
            }
            Some(mode) => {
                if self.targets.is_empty() {
                    return Err(err(
                        format!("strategy {mode:?} needs at least one target").to_lowercase()
                    ));
                }
                if mode == Mode::Loadbalance && self.targets.iter().all(|t| t.weight == Some(0.0)) {
                    return Err(err("loadbalance targets all have weight 0".into()));
                }
                if mode == Mode::Conditional {
                    let s = self.strategy.as_ref().expect("mode came from it");
                    let names: Vec<&str> = self
                        .targets
                        .iter()
                        .filter_map(|t| t.name.as_deref())
                        .collect();
                    for name in s
                        .conditions
                        .iter()
                        .map(|c| c.then.as_str())
                        .chain(s.default.as_deref())
                    {
                        if !names.contains(&name) {
                            return Err(err(format!(
                                "conditional refers to target '{name}', but no target has that name"
                            )));
                        }
                    }
                    for c in &s.conditions {
                        super::conditions::validate(&c.query).map_err(|e| err(e.0))?;
                    }
                }
            }
        }
        for (i, t) in self.targets.iter().enumerate() {
            t.validate_at(&format!("{path}.targets[{i}]"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_portkey_configs() {
        let c = RouteConfig::from_json(
            r#"{"strategy": {"mode": "fallback", "on_status_codes": [429, 503]},
                "retry": {"attempts": 3},
                "cache": {"mode": "semantic", "max_age": 60},
                "targets": [
                  {"virtual_key": "openai-main", "override_params": {"model": "gpt-4o"}},
                  {"strategy": {"mode": "loadbalance"}, "targets": [
                     {"provider": "anthropic", "weight": 0.7, "override_params": {"model": "claude-3-5-haiku-latest"}},
                     {"provider": "demo", "model": "demo/small", "weight": 0.3}]}]}"#,
        )
        .unwrap();
        assert_eq!(c.mode(), Mode::Fallback);
        assert_eq!(c.targets[1].targets.len(), 2);
    }

    #[test]
    fn bad_configs_say_where() {
        let e = RouteConfig::from_json(r#"{"strategy": {"mode": "fallback"}}"#).unwrap_err();
        assert!(e.to_string().contains("needs at least one target"), "{e}");
        let e = RouteConfig::from_json(r#"{"retry": {"attempts": 9}}"#).unwrap_err();
        assert!(e.to_string().contains("at most 5"), "{e}");
        let e = RouteConfig::from_json(r#"{"stratgy": {}}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `stratgy`"), "{e}");
        let e = RouteConfig::from_json(
            r#"{"strategy": {"mode": "conditional", "conditions": [{"query": {"metadata.tier": {"$eq": "pro"}}, "then": "big"}]},
                "targets": [{"name": "small", "model": "demo/small"}]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("no target has that name"), "{e}");
        let e = RouteConfig::from_json(
            r#"{"strategy": {"mode": "loadbalance"}, "targets": [{"model": "a"}, {"model": "b", "weight": -1}]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("targets[1]"), "{e}");
    }
}
