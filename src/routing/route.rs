//! The routing step of a call: walking the config's target tree — `single`, `fallback` (with
//! its `on_status_codes`), weighted `loadbalance`, `conditional` — with what a parent passes down
//! to its children (retry, timeouts, custom host, override params). Each leaf is tried by
//! [`super::attempt`]; every attempt is recorded here, as data.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde_json::{Map, Value};

use super::admit::Admitted;
use super::attempt::Served;
use super::call::CallOptions;
use super::conditions::{self, Facts};
use super::config::{Mode, RetryConfig, RouteConfig};
use super::engine::Engine;
use super::record::{ms, now_ms};
use crate::chat::ChatRequest;
use crate::logs::AttemptRecord;
use crate::providers::{Endpoint, ProviderError};
use crate::store::{Actor, TokenScopes};

/// A routed call: the target that served it, or the last failure; every attempt either way.
pub(super) struct Routed {
    pub outcome: Result<Served, ProviderError>,
    pub attempts: Vec<AttemptRecord>,
    /// Time spent waiting on providers.
    pub upstream: Duration,
}

pub(super) async fn route(engine: &Engine, admitted: &Admitted, options: &CallOptions) -> Routed {
    let mut run = Run {
        engine,
        request: &admitted.request,
        stream: admitted.request.is_stream(),
        metadata: &options.metadata,
        attempts: Vec::new(),
        upstream: Duration::ZERO,
        scopes: options.scopes.as_ref(),
        retry_override: options.retry_attempts,
        timeout_override: options.request_timeout_ms,
        actor: options.actor(),
    };
    let outcome = run
        .node(&admitted.config, Inherited::default(), String::new())
        .await;
    Routed {
        outcome,
        attempts: run.attempts,
        upstream: run.upstream,
    }
}

/// What a parent passes down; a child's own values win.
#[derive(Debug, Clone, Default)]
pub(super) struct Inherited {
    pub retry: Option<RetryConfig>,
    pub request_timeout: Option<u64>,
    pub idle_timeout: Option<u64>,
    pub custom_host: Option<String>,
    pub override_params: Map<String, Value>,
}

impl Inherited {
    fn child(&self, node: &RouteConfig) -> Inherited {
        let mut params = self.override_params.clone();
        if let Some(p) = &node.override_params {
            for (k, v) in p {
                params.insert(k.clone(), v.clone());
            }
        }
        if let Some(m) = &node.model {
            params.insert("model".into(), Value::String(m.clone()));
        }
        Inherited {
            retry: node.retry.clone().or_else(|| self.retry.clone()),
            request_timeout: node.request_timeout.or(self.request_timeout),
            idle_timeout: node.stream_idle_timeout.or(self.idle_timeout),
            custom_host: node
                .custom_host
                .clone()
                .or_else(|| self.custom_host.clone()),
            override_params: params,
        }
    }
}

/// One call's walk through its target tree.
pub(super) struct Run<'a> {
    pub engine: &'a Engine,
    pub request: &'a ChatRequest,
    pub stream: bool,
    pub metadata: &'a BTreeMap<String, String>,
    pub attempts: Vec<AttemptRecord>,
    pub upstream: Duration,
    pub scopes: Option<&'a TokenScopes>,
    pub retry_override: Option<u32>,
    pub timeout_override: Option<u64>,
    pub actor: Actor,
}

type NodeFuture<'b> = Pin<Box<dyn Future<Output = Result<Served, ProviderError>> + Send + 'b>>;

fn join_path(parent: &str, i: usize) -> String {
    if parent.is_empty() {
        i.to_string()
    } else {
        format!("{parent}.{i}")
    }
}

impl<'a> Run<'a> {
    fn node<'b>(
        &'b mut self,
        node: &'b RouteConfig,
        parent: Inherited,
        path: String,
    ) -> NodeFuture<'b>
    where
        'a: 'b,
    {
        Box::pin(async move {
            let inherited = parent.child(node);
            if node.targets.is_empty() {
                let path = if path.is_empty() { "0".into() } else { path };
                return self.leaf(node, &inherited, path).await;
            }
            match node.mode() {
                Mode::Single => {
                    self.node(&node.targets[0], inherited, join_path(&path, 0))
                        .await
                }
                Mode::Loadbalance => {
                    let i = pick_weighted(&node.targets);
                    self.node(&node.targets[i], inherited, join_path(&path, i))
                        .await
                }
                Mode::Conditional => {
                    let i = self.choose(node)?;
                    self.node(&node.targets[i], inherited, join_path(&path, i))
                        .await
                }
                Mode::Fallback => {
                    let codes = node
                        .strategy
                        .as_ref()
                        .and_then(|s| s.on_status_codes.clone());
                    let mut last = None;
                    for (i, target) in node.targets.iter().enumerate() {
                        match self
                            .node(target, inherited.clone(), join_path(&path, i))
                            .await
                        {
                            Ok(s) => return Ok(s),
                            Err(e) => {
                                let falls_through = match (&codes, &target.on_status_codes) {
                                    (_, Some(own)) => own.contains(&e.status()),
                                    (Some(c), None) => c.contains(&e.status()),
                                    (None, None) => true,
                                };
                                if !falls_through {
                                    return Err(e);
                                }
                                last = Some(e);
                            }
                        }
                    }
                    Err(last.unwrap_or_else(|| ProviderError::config("fallback has no targets")))
                }
            }
        })
    }

    /// The target a conditional router picks for this call.
    fn choose(&self, node: &RouteConfig) -> Result<usize, ProviderError> {
        let Some(strategy) = node.strategy.as_ref() else {
            return Err(ProviderError::config(
                "a conditional router needs a strategy",
            ));
        };
        let params = serde_json::to_value(self.request)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
        let facts = Facts {
            metadata: self.metadata,
            params: &params,
        };
        let chosen = strategy
            .conditions
            .iter()
            .find(|c| conditions::matches(&c.query, &facts))
            .map(|c| c.then.as_str())
            .or(strategy.default.as_deref())
            .ok_or_else(|| {
                ProviderError::config(
                    "no condition matched and the conditional router has no default",
                )
            })?;
        node.targets
            .iter()
            .position(|t| t.name.as_deref() == Some(chosen))
            .ok_or_else(|| ProviderError::config(format!("no target named '{chosen}'")))
    }

    /// Records one attempt, as data.
    pub(super) fn record(
        &mut self,
        path: &str,
        endpoint: Option<&Endpoint>,
        model: &str,
        result: Result<(), &ProviderError>,
        elapsed: Duration,
    ) {
        let n = self.attempts.len() as u32;
        let (status, error) = match result {
            Ok(()) => (200, None),
            Err(e) => (e.status(), Some(e.message.clone())),
        };
        self.attempts.push(AttemptRecord {
            n,
            target_path: path.to_owned(),
            provider: endpoint.map(|e| e.provider.id().to_owned()),
            model: Some(model.to_owned()),
            key_name: endpoint.and_then(|e| e.key_name.clone()),
            status,
            error,
            latency_ms: ms(elapsed),
            started_at: now_ms() - ms(elapsed) as i64,
        });
    }
}

/// Weighted random choice (weight defaults to 1).
pub(super) fn pick_weighted(targets: &[RouteConfig]) -> usize {
    let weights: Vec<f64> = targets
        .iter()
        .map(|t| t.weight.unwrap_or(1.0).max(0.0))
        .collect();
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return 0;
    }
    let r = u64::from_le_bytes(crate::ids::random_bytes::<8>()) as f64 / u64::MAX as f64 * total;
    let mut acc = 0.0;
    for (i, w) in weights.iter().enumerate() {
        acc += w;
        if r < acc {
            return i;
        }
    }
    weights.iter().rposition(|w| *w > 0.0).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_pick_follows_weights() {
        let targets: Vec<RouteConfig> = [3.0, 1.0, 0.0]
            .iter()
            .map(|w| RouteConfig {
                weight: Some(*w),
                ..Default::default()
            })
            .collect();
        let mut counts = [0u32; 3];
        for _ in 0..4000 {
            counts[pick_weighted(&targets)] += 1;
        }
        assert_eq!(counts[2], 0);
        let share = counts[0] as f64 / 4000.0;
        assert!((0.70..0.80).contains(&share), "{counts:?}");
    }

    #[test]
    fn children_inherit_and_override() {
        let parent = Inherited {
            request_timeout: Some(100),
            custom_host: Some("http://127.0.0.1:1".into()),
            ..Default::default()
        };
        let node = RouteConfig {
            request_timeout: Some(50),
            model: Some("gpt-4o".into()),
            ..Default::default()
        };
        let child = parent.child(&node);
        assert_eq!(child.request_timeout, Some(50));
        assert_eq!(child.custom_host.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(child.override_params["model"], "gpt-4o");
        assert_eq!(join_path("", 2), "2");
        assert_eq!(join_path("1", 0), "1.0");
    }
}
