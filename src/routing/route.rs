//! The routing step of a call: walking the config's target tree — `single`, `fallback` (with
//! its `on_status_codes`), weighted `loadbalance`, `conditional` — with what a parent passes down
//! to its children (retry, timeouts, custom host, override params). Each leaf is tried by
//! [`super::attempt`]; every attempt is recorded here, as data.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::admit::Admitted;
use super::attempt::{self, Attempts, CallTargets, Inherited, Served};
use super::call::CallOptions;
use super::conditions::{self, Facts};
use super::config::{Mode, RouteConfig};
use super::services::Services;
use super::targets::join_path;
use crate::logs::AttemptRecord;
use crate::providers::ProviderError;

/// A routed call: the target that served it, or the last failure; every attempt either way.
pub(super) struct Routed {
    pub outcome: Result<Served, ProviderError>,
    pub attempts: Vec<AttemptRecord>,
    /// Time spent waiting on providers.
    pub upstream: Duration,
}

pub(super) async fn route(
    services: &Services,
    admitted: &Admitted,
    options: &CallOptions,
) -> Routed {
    let actor = options.actor();
    let mut run = Run {
        call: CallTargets {
            services,
            request: &admitted.request,
            stream: admitted.request.is_stream(),
            scopes: options.scopes.as_ref(),
            retry_override: options.retry_attempts,
            timeout_override: options.request_timeout_ms,
            actor: &actor,
            allow_custom_host: options.custom_hosts_allowed(),
        },
        metadata: &options.metadata,
        attempts: Attempts::default(),
    };
    let outcome = run
        .node(&admitted.config, Inherited::default(), String::new())
        .await;
    Routed {
        outcome,
        attempts: run.attempts.list,
        upstream: run.attempts.upstream,
    }
}

/// One call's walk through its target tree.
struct Run<'a> {
    call: CallTargets<'a>,
    /// The call's tags, which conditions may test.
    metadata: &'a BTreeMap<String, String>,
    attempts: Attempts,
}

type NodeFuture<'b> = Pin<Box<dyn Future<Output = Result<Served, ProviderError>> + Send + 'b>>;

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
                return attempt::try_target(&self.call, &mut self.attempts, node, &inherited, path)
                    .await;
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
        let params = serde_json::to_value(self.call.request)
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
