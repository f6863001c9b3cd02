//! Portkey-compatible request headers (`x-portkey-*`, and the same under `x-portolan-*`) turned
//! into call options, and the response headers that report what happened.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use super::error::ApiError;
use crate::routing::{CacheConfig, CacheMode, CallInfo, CallOptions, RouteConfig};

/// The request's `x-portolan-*` and `x-portkey-*` headers by suffix, read in one pass over the
/// headers (a request has a handful; looking up each of the dozen names under both prefixes
/// would build and hash two dozen names per call). `x-portolan-` wins over `x-portkey-`.
struct RoutingHeaders<'a> {
    found: Vec<(&'a str, &'a str, bool)>,
}

impl<'a> RoutingHeaders<'a> {
    fn read(headers: &'a HeaderMap) -> Self {
        let mut found = Vec::new();
        for (name, value) in headers {
            let name = name.as_str();
            let (suffix, portolan) = if let Some(s) = name.strip_prefix("x-portolan-") {
                (s, true)
            } else if let Some(s) = name.strip_prefix("x-portkey-") {
                (s, false)
            } else {
                continue;
            };
            if let Ok(v) = value.to_str() {
                let v = v.trim();
                if !v.is_empty() {
                    found.push((suffix, v, portolan));
                }
            }
        }
        RoutingHeaders { found }
    }

    fn get(&self, suffix: &str) -> Option<&'a str> {
        let mut portkey = None;
        for &(s, v, portolan) in &self.found {
            if s == suffix {
                if portolan {
                    return Some(v);
                }
                portkey = portkey.or(Some(v));
            }
        }
        portkey
    }
}

fn truthy(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes")
}

/// The trace id of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`).
#[cfg(test)]
fn traceparent_trace(v: &str) -> Option<String> {
    traceparent_parts(v).map(|(trace, _)| trace)
}

/// The trace id and the caller's span id of a W3C `traceparent`; `None` when malformed or
/// either id is all zeros.
fn traceparent_parts(v: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = v.trim().split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit()) && s.bytes().any(|b| b != b'0')
    };
    (parts.len() == 4 && hex(parts[1], 32) && hex(parts[2], 16))
        .then(|| (parts[1].to_ascii_lowercase(), parts[2].to_ascii_lowercase()))
}

/// Reads the routing headers. A saved config id is not supported: a non-JSON value is an error
/// naming the header.
pub fn call_options(headers: &HeaderMap) -> Result<CallOptions, ApiError> {
    let mut options = CallOptions {
        source: Some("gateway".into()),
        ..Default::default()
    };
    let routing = RoutingHeaders::read(headers);
    let mut config: Option<RouteConfig> = None;
    if let Some(text) = routing.get("config") {
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
    let provider = routing.get("provider").map(str::to_owned);
    let virtual_key = routing.get("virtual-key").map(str::to_owned);
    if provider.is_some() || virtual_key.is_some() {
        let c = config.get_or_insert_with(RouteConfig::default);
        if c.targets.is_empty() {
            c.provider = c.provider.take().or(provider);
            c.virtual_key = c.virtual_key.take().or(virtual_key);
        }
    }
    if let Some(list) = routing.get("fallbacks") {
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
    let parent = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(traceparent_parts);
    options.trace_id = routing
        .get("trace-id")
        .map(str::to_owned)
        .or_else(|| parent.as_ref().map(|(trace, _)| trace.clone()));
    // The caller's span is the parent when the call continues the caller's trace.
    options.parent_span_id = parent
        .filter(|(trace, _)| options.trace_id.as_deref() == Some(trace.as_str()))
        .map(|(_, span)| span);
    if let Some(text) = routing.get("metadata") {
        let meta: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|e| {
                ApiError::bad_request(format!(
                    "x-portkey-metadata must be a JSON object of strings: {e}"
                ))
            })?;
        let mut tags = BTreeMap::new();
        for (k, v) in meta {
            if crate::logs::is_reserved_metadata_key(&k) {
                return Err(ApiError::bad_request(format!(
                    "x-portkey-metadata key '{k}' is reserved: keys starting with '_' (but _user) are Portolan's own"
                )));
            }
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
    if let Some(mode) = routing.get("cache") {
        let mode = match mode.to_ascii_lowercase().as_str() {
            "simple" => CacheMode::Simple,
            "semantic" => CacheMode::Semantic,
            other => {
                return Err(ApiError::bad_request(format!(
                    "x-portkey-cache must be simple or semantic, not '{other}'"
                )));
            }
        };
        let max_age = routing.get("cache-max-age").and_then(|v| v.parse().ok());
        options.cache = Some(CacheConfig {
            mode,
            max_age,
            threshold: None,
            force_refresh: None,
        });
    }
    options.force_refresh = routing.get("cache-force-refresh").is_some_and(truthy);
    if let Some(n) = routing.get("retry-count") {
        options.retry_attempts =
            Some(n.parse::<u32>().ok().filter(|n| *n <= 5).ok_or_else(|| {
                ApiError::bad_request(format!("x-portkey-retry-count must be 0 to 5, not '{n}'"))
            })?);
    }
    if let Some(ms) = routing.get("request-timeout") {
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
) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::with_capacity(13);
    let mut both = |names: [&'static str; 2], value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            out.push((HeaderName::from_static(names[0]), v.clone()));
            out.push((HeaderName::from_static(names[1]), v));
        }
    };
    both(
        ["x-portkey-trace-id", "x-portolan-trace-id"],
        &info.trace_id,
    );
    both(
        ["x-portkey-cache-status", "x-portolan-cache-status"],
        info.cache_status.as_str(),
    );
    both(
        [
            "x-portkey-retry-attempt-count",
            "x-portolan-retry-attempt-count",
        ],
        &info.retry_count.to_string(),
    );
    if let Some(path) = &info.target_path {
        // Portkey reports the index of the top-level option that served the call.
        both(
            [
                "x-portkey-last-used-option-index",
                "x-portolan-last-used-option-index",
            ],
            path.split('.').next().unwrap_or("0"),
        );
        both(["x-portkey-target-path", "x-portolan-target-path"], path);
    }
    if let Some(p) = &info.provider {
        both(["x-portkey-provider", "x-portolan-provider"], p);
    }
    if let Ok(v) = HeaderValue::from_str(&format!(
        "gateway;dur={gateway_ms:.3};desc=\"Portolan\", upstream;dur={upstream_ms:.3}"
    )) {
        out.push((HeaderName::from_static("server-timing"), v));
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
