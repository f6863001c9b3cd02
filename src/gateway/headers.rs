//! Portkey-compatible request headers (`x-portkey-*`, and the same under `x-portolan-*`) turned
//! into call options, and the response headers that report what happened.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, HeaderValue};

use super::error::ApiError;
use crate::routing::{CacheConfig, CacheMode, CallInfo, CallOptions, RouteConfig};
use crate::store::Store;

fn header<'a>(headers: &'a HeaderMap, suffix: &str) -> Option<&'a str> {
    for prefix in ["x-portolan-", "x-portkey-"] {
        if let Some(v) = headers
            .get(format!("{prefix}{suffix}"))
            .and_then(|v| v.to_str().ok())
        {
            let v = v.trim();
            if !v.is_empty() {
                return Some(v);
            }
        }
    }
    None
}

fn truthy(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes")
}

/// The trace id of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`).
fn traceparent_trace(v: &str) -> Option<String> {
    let parts: Vec<&str> = v.trim().split('-').collect();
    (parts.len() == 4
        && parts[1].len() == 32
        && parts[1].bytes().all(|b| b.is_ascii_hexdigit())
        && parts[1] != "0".repeat(32))
    .then(|| parts[1].to_ascii_lowercase())
}

/// Reads the routing headers. A saved config id is looked up in `saved_configs` (none yet: a
/// non-JSON value is an error naming the header).
pub fn call_options(headers: &HeaderMap, _store: &Store) -> Result<CallOptions, ApiError> {
    let mut options = CallOptions {
        source: Some("gateway".into()),
        ..Default::default()
    };
    let mut config: Option<RouteConfig> = None;
    if let Some(text) = header(headers, "config") {
        if !text.starts_with('{') {
            return Err(ApiError::bad_request(format!(
                "x-portkey-config must be a JSON routing config; saved config ids like '{text}' are not supported"
            )));
        }
        config = Some(
            RouteConfig::from_json(text)
                .map_err(|e| ApiError::bad_request(format!("x-portkey-config: {e}")))?,
        );
    }
    let provider = header(headers, "provider").map(str::to_owned);
    let virtual_key = header(headers, "virtual-key").map(str::to_owned);
    if provider.is_some() || virtual_key.is_some() {
        let c = config.get_or_insert_with(RouteConfig::default);
        if c.targets.is_empty() {
            c.provider = c.provider.take().or(provider);
            c.virtual_key = c.virtual_key.take().or(virtual_key);
        }
    }
    if let Some(list) = header(headers, "fallbacks") {
        // A JSON list of targets tried after the request's own model.
        let targets: Vec<RouteConfig> = serde_json::from_str(list).map_err(|e| {
            ApiError::bad_request(format!(
                "x-portkey-fallbacks must be a JSON list of targets: {e}"
            ))
        })?;
        let first = config.take().unwrap_or_default();
        let mut all = vec![first];
        all.extend(targets);
        let c = RouteConfig {
            strategy: Some(crate::routing::config::Strategy {
                mode: crate::routing::config::Mode::Fallback,
                ..Default::default()
            }),
            targets: all,
            ..Default::default()
        };
        c.validate()
            .map_err(|e| ApiError::bad_request(format!("x-portkey-fallbacks: {e}")))?;
        config = Some(c);
    }
    options.config = config;
    options.trace_id = header(headers, "trace-id").map(str::to_owned).or_else(|| {
        headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(traceparent_trace)
    });
    if let Some(text) = header(headers, "metadata") {
        let meta: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|e| {
                ApiError::bad_request(format!(
                    "x-portkey-metadata must be a JSON object of strings: {e}"
                ))
            })?;
        let mut tags = BTreeMap::new();
        for (k, v) in meta {
            let s = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            if s.chars().count() > 128 {
                return Err(ApiError::bad_request(format!(
                    "x-portkey-metadata value for '{k}' is longer than 128 characters"
                )));
            }
            tags.insert(k, s);
        }
        options.metadata = tags;
    }
    if let Some(mode) = header(headers, "cache") {
        let mode = match mode.to_ascii_lowercase().as_str() {
            "simple" => CacheMode::Simple,
            "semantic" => CacheMode::Semantic,
            other => {
                return Err(ApiError::bad_request(format!(
                    "x-portkey-cache must be simple or semantic, not '{other}'"
                )));
            }
        };
        let max_age = header(headers, "cache-max-age").and_then(|v| v.parse().ok());
        options.cache = Some(CacheConfig {
            mode,
            max_age,
            threshold: None,
            force_refresh: None,
        });
    }
    options.force_refresh = header(headers, "cache-force-refresh").is_some_and(truthy);
    if let Some(n) = header(headers, "retry-count") {
        options.retry_attempts =
            Some(n.parse::<u32>().ok().filter(|n| *n <= 5).ok_or_else(|| {
                ApiError::bad_request(format!("x-portkey-retry-count must be 0 to 5, not '{n}'"))
            })?);
    }
    if let Some(ms) = header(headers, "request-timeout") {
        options.request_timeout_ms =
            Some(ms.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "x-portkey-request-timeout must be milliseconds, not '{ms}'"
                ))
            })?);
    }
    Ok(options)
}

/// Response headers for a served call, under both prefixes, plus `Server-Timing`.
pub fn response_headers(
    info: &CallInfo,
    gateway_ms: f64,
    upstream_ms: f64,
) -> Vec<(String, HeaderValue)> {
    let mut out = Vec::new();
    let mut both = |name: &str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            out.push((format!("x-portkey-{name}"), v.clone()));
            out.push((format!("x-portolan-{name}"), v));
        }
    };
    both("trace-id", info.trace_id.clone());
    both("cache-status", info.cache_status.as_str().to_owned());
    both("retry-attempt-count", info.retry_count.to_string());
    if let Some(path) = &info.target_path {
        // Portkey reports the index of the top-level option that served the call.
        both(
            "last-used-option-index",
            path.split('.').next().unwrap_or("0").to_owned(),
        );
        both("target-path", path.clone());
    }
    if let Some(p) = &info.provider {
        both("provider", p.clone());
    }
    if let Ok(v) = HeaderValue::from_str(&format!(
        "gateway;dur={gateway_ms:.3};desc=\"Portolan\", upstream;dur={upstream_ms:.3}"
    )) {
        out.push(("server-timing".into(), v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent() {
        assert_eq!(
            traceparent_trace("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(traceparent_trace("garbage"), None);
        assert_eq!(
            traceparent_trace(&format!("00-{}-00f067aa0ba902b7-01", "0".repeat(32))),
            None
        );
    }
}
