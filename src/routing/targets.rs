//! Every target a routing config can reach, known before anything is sent: each leaf with what
//! it inherits, where it resolves to, how many attempts the whole tree can make, and what the
//! most expensive target could cost. Admission checks a token's scopes on all of them (so no
//! cached answer of a target it may not use is ever served), refuses a tree that could fan out
//! without bound, and reserves the worst case of them all; the cache keys its entries by them.

use super::attempt::Inherited;
use super::config::{MAX_RETRY_ATTEMPTS, Mode, RouteConfig};
use super::resolve::TargetSpec;
use super::services::Services;
use crate::chat::ChatRequest;
use crate::providers::{Endpoint, ProviderError};

/// A position in the tree: `0`, `1.0` (first target of the second group), …
pub(super) fn join_path(parent: &str, i: usize) -> String {
    if parent.is_empty() {
        i.to_string()
    } else {
        format!("{parent}.{i}")
    }
}

/// One target of the tree with what it inherits.
pub(super) struct Leaf<'a> {
    pub node: &'a RouteConfig,
    pub inherited: Inherited,
    pub path: String,
}

/// Every leaf of `config`, whichever branch a call would take.
pub(super) fn leaves(config: &RouteConfig) -> Vec<Leaf<'_>> {
    fn walk<'a>(node: &'a RouteConfig, parent: &Inherited, path: String, out: &mut Vec<Leaf<'a>>) {
        let inherited = parent.child(node);
        if node.targets.is_empty() {
            let path = if path.is_empty() { "0".into() } else { path };
            out.push(Leaf {
                node,
                inherited,
                path,
            });
            return;
        }
        let reachable = match node.mode() {
            Mode::Single => &node.targets[..1],
            _ => &node.targets[..],
        };
        for (i, child) in reachable.iter().enumerate() {
            walk(child, &inherited, join_path(&path, i), out);
        }
    }
    let mut out = Vec::new();
    walk(config, &Inherited::default(), String::new(), &mut out);
    out
}

/// The most upstream attempts a call through `config` can make: a fallback may try every
/// target, the other strategies one of them; each target makes its retries plus one.
pub(super) fn max_attempts(
    config: &RouteConfig,
    default_retries: u32,
    retry_override: Option<u32>,
) -> u64 {
    fn walk(node: &RouteConfig, parent: &Inherited, default: u32, over: Option<u32>) -> u64 {
        let inherited = parent.child(node);
        if node.targets.is_empty() {
            let retries = over
                .or(inherited.retry.as_ref().map(|r| r.attempts))
                .unwrap_or(default)
                .min(MAX_RETRY_ATTEMPTS);
            return u64::from(retries) + 1;
        }
        let children = node
            .targets
            .iter()
            .map(|c| walk(c, &inherited, default, over));
        match node.mode() {
            Mode::Fallback => children.sum(),
            Mode::Single => walk(&node.targets[0], &inherited, default, over),
            Mode::Loadbalance | Mode::Conditional => children.max().unwrap_or(0),
        }
    }
    walk(
        config,
        &Inherited::default(),
        default_retries,
        retry_override,
    )
}

/// A leaf resolved: where it goes, and what it sends.
pub(super) struct Reachable {
    pub path: String,
    /// The request as this target would send it (its override params applied).
    pub request: Result<ChatRequest, ProviderError>,
    pub endpoint: Result<Endpoint, ProviderError>,
}

impl Reachable {
    /// Who answers this target, as the cache keys it: its position, provider, virtual key,
    /// address and model (or why it cannot be resolved).
    pub fn identity(&self) -> String {
        match &self.endpoint {
            Ok(e) => format!(
                "{}|{}|{}|{}|{}",
                self.path,
                e.provider.id(),
                e.key_id.as_deref().unwrap_or("-"),
                e.base_url,
                e.model
            ),
            Err(e) => format!("{}|unresolved|{}", self.path, e.message),
        }
    }
}

/// Resolves every leaf of `config` for `request`.
pub(super) async fn reachable(
    services: &Services,
    config: &RouteConfig,
    request: &ChatRequest,
    allow_custom_host: bool,
) -> Vec<Reachable> {
    let mut out = Vec::new();
    for leaf in leaves(config) {
        let mut req = request.clone();
        let req = match req.apply_params(&leaf.inherited.override_params) {
            Ok(()) => Ok(req),
            Err(e) => Err(ProviderError::config(format!(
                "override_params do not fit a chat request: {e}"
            ))),
        };
        let endpoint = match &req {
            Ok(r) => {
                let spec = TargetSpec {
                    provider: leaf.node.provider.as_deref(),
                    virtual_key: leaf.node.virtual_key.as_deref(),
                    api_key: leaf.node.api_key.as_ref().map(|k| k.expose()),
                    custom_host: leaf.inherited.custom_host.as_deref(),
                    allow_custom_host,
                };
                services.resolve_target(&spec, &r.model).await
            }
            Err(e) => Err(e.clone()),
        };
        out.push(Reachable {
            path: leaf.path,
            request: req,
            endpoint,
        });
    }
    out
}

/// Whether some target of the tree replaces the prompt's messages (`override_params.messages`),
/// which a token limited to prompts may not do.
pub(super) fn replaces_messages(config: &RouteConfig) -> bool {
    leaves(config)
        .iter()
        .any(|l| l.inherited.override_params.contains_key("messages"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: serde_json::Value) -> RouteConfig {
        RouteConfig::from_json(&json.to_string()).unwrap()
    }

    #[test]
    fn leaves_cover_every_branch_with_inherited_values() {
        let c = config(serde_json::json!({
            "strategy": {"mode": "fallback"},
            "override_params": {"max_tokens": 5},
            "targets": [
                {"virtual_key": "a"},
                {"strategy": {"mode": "loadbalance"}, "targets": [
                    {"virtual_key": "b", "weight": 1},
                    {"virtual_key": "c", "weight": 1, "override_params": {"max_tokens": 9}}
                ]}
            ]
        }));
        let l = leaves(&c);
        let paths: Vec<&str> = l.iter().map(|x| x.path.as_str()).collect();
        assert_eq!(paths, ["0", "1.0", "1.1"]);
        assert_eq!(l[0].inherited.override_params["max_tokens"], 5);
        assert_eq!(l[2].inherited.override_params["max_tokens"], 9);
        assert_eq!(leaves(&RouteConfig::default()).len(), 1);
    }

    #[test]
    fn attempts_multiply_through_fallbacks_and_take_the_worst_branch_elsewhere() {
        let c = config(serde_json::json!({
            "strategy": {"mode": "fallback"},
            "retry": {"attempts": 2},
            "targets": [
                {"virtual_key": "a"},
                {"virtual_key": "b", "retry": {"attempts": 5}},
                {"strategy": {"mode": "loadbalance"}, "targets": [
                    {"virtual_key": "c"}, {"virtual_key": "d", "retry": {"attempts": 4}}
                ]}
            ]
        }));
        assert_eq!(max_attempts(&c, 2, None), 3 + 6 + 5);
        assert_eq!(max_attempts(&c, 2, Some(0)), 3);
        assert_eq!(max_attempts(&RouteConfig::default(), 2, None), 3);
        assert!(!replaces_messages(&c));
        let m = config(serde_json::json!({"override_params": {"messages": []}}));
        assert!(replaces_messages(&m));
    }
}
