//! What every request must pass before a handler runs: a local `Host` (DNS rebinding), no foreign
//! `Origin` (a web page posting to localhost), and a valid gateway token. Verified tokens are
//! remembered for a few seconds so the hot path does not hash-and-query on every request; a
//! revoked token stops working within that time.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use crate::store::hash_token;

/// How long an authenticated token is trusted without asking the store again: a token revoked
/// elsewhere (by the CLI while `serve` runs, or through another replica of a team gateway) is
/// refused within this.
const TOKEN_CACHE_TTL: Duration = Duration::from_secs(1);
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// The authenticated caller, available to handlers as a request extension.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_id: String,
    pub token_name: String,
    pub scopes: crate::store::TokenScopes,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// A provider key the caller sent in `Authorization` while authenticating with
    /// `x-portkey-api-key` (Portkey's rule); used for a provider named without a virtual key.
    pub provider_key: Option<crate::secrets::SecretString>,
}

impl Caller {
    /// The token as a budget subject.
    pub fn subject(&self) -> crate::store::Subject {
        crate::store::Subject {
            kind: crate::store::SubjectKind::Token,
            id: self.token_id.clone(),
            name: self.token_name.clone(),
        }
    }
}

#[derive(Default)]
pub struct TokenCache {
    entries: RwLock<HashMap<String, (Caller, Instant, Instant)>>,
}

fn host_name(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    })
}

pub fn is_loopback_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name == "::1"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn host_allowed(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get("host").and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = host_name(host);
    is_loopback_name(name)
        || state
            .extra_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name))
}

fn origin_allowed(state: &AppState, origin: &str) -> bool {
    if origin == "tauri://localhost" {
        return true;
    }
    match url::Url::parse(origin) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("");
            let host = host.trim_start_matches('[').trim_end_matches(']');
            matches!(u.scheme(), "http" | "https" | "tauri")
                && (is_loopback_name(host)
                    || state
                        .extra_hosts
                        .iter()
                        .any(|h| h.eq_ignore_ascii_case(host)))
        }
        Err(_) => false,
    }
}

/// The gateway token a request authenticates with, and a provider key it carries besides.
///
/// As on Portkey's gateway: `x-portkey-api-key` (or `x-portolan-api-key`) authenticates, and then
/// `Authorization: Bearer` carries a provider key (the Portkey SDKs send their gateway key that
/// way and a placeholder or the provider's key in `Authorization`). Without it, `Authorization:
/// Bearer` is the gateway token (the OpenAI SDKs), else `x-api-key` (the Anthropic SDKs).
pub struct Credentials {
    pub token: Option<String>,
    pub provider_key: Option<String>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn authorization_bearer(headers: &HeaderMap) -> Option<&str> {
    let v = header(headers, "authorization")?;
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

pub fn credentials(headers: &HeaderMap) -> Credentials {
    if let Some(key) =
        header(headers, "x-portolan-api-key").or(header(headers, "x-portkey-api-key"))
    {
        return Credentials {
            token: Some(key.to_owned()),
            provider_key: authorization_bearer(headers).map(str::to_owned),
        };
    }
    Credentials {
        token: authorization_bearer(headers)
            .or(header(headers, "x-api-key"))
            .map(str::to_owned),
        provider_key: None,
    }
}

/// Host and Origin checks, for every route including `/healthz`.
pub async fn local_only(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if !host_allowed(&state, request.headers()) {
        let host = request
            .headers()
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("(none)")
            .to_owned();
        return ApiError::new(
            403,
            "host_not_allowed",
            format!("requests for host '{host}' are refused: the gateway answers only on local addresses"),
        )
        .into_response();
    }
    if let Some(origin) = request
        .headers()
        .get("origin")
        .and_then(|o| o.to_str().ok())
        && !origin_allowed(&state, origin)
    {
        return ApiError::new(
            403,
            "origin_not_allowed",
            format!("requests from web pages at '{origin}' are refused"),
        )
        .into_response();
    }
    next.run(request).await
}

/// Token check for the API routes.
pub async fn authenticated(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Credentials {
        token,
        provider_key,
    } = credentials(request.headers());
    let Some(token) = token else {
        return ApiError::new(
            401,
            "missing_token",
            "a gateway token is required: send `Authorization: Bearer <token>`, `x-portkey-api-key` or `x-api-key` (create one with `portolan tokens create <name>`)",
        )
        .into_response();
    };
    let hash = hash_token(&token);
    let now = Instant::now();
    let cached = state.tokens.entries.read().ok().and_then(|m| {
        m.get(&hash)
            .filter(|(_, at, _)| now.duration_since(*at) < TOKEN_CACHE_TTL)
            .cloned()
    });
    let caller = match cached {
        Some((caller, _, touched)) => {
            if now.duration_since(touched) > TOUCH_EVERY {
                let _ = state.engine.catalog().touch_token(&caller.token_id).await;
                if let Ok(mut m) = state.tokens.entries.write()
                    && let Some(e) = m.get_mut(&hash)
                {
                    e.2 = now;
                }
            }
            caller
        }
        None => match state.engine.catalog().token_by_hash(&hash).await {
            Ok(Some(t)) => {
                let _ = state.engine.catalog().touch_token(&t.id).await;
                let caller = Caller {
                    token_id: t.id,
                    token_name: t.name,
                    scopes: t.scopes,
                    expires_at: t.expires_at,
                    provider_key: None,
                };
                if let Ok(mut m) = state.tokens.entries.write() {
                    m.insert(hash, (caller.clone(), now, now));
                }
                caller
            }
            Ok(None) => {
                return ApiError::new(
                    401,
                    "invalid_token",
                    "the gateway token is not valid (unknown or revoked)",
                )
                .into_response();
            }
            Err(e) => return ApiError::from(e).into_response(),
        },
    };
    if caller.scopes.unreadable {
        return ApiError::new(
            403,
            "token_scopes_unreadable",
            format!(
                "gateway token '{}' is refused: its stored scopes cannot be read; revoke it and create it again",
                caller.token_name
            ),
        )
        .into_response();
    }
    if let Some(exp) = caller.expires_at
        && exp <= chrono::Utc::now()
    {
        return ApiError::new(
            401,
            "token_expired",
            format!(
                "gateway token '{}' expired on {}",
                caller.token_name,
                exp.format("%Y-%m-%d %H:%M UTC")
            ),
        )
        .into_response();
    }
    let mut caller = caller;
    caller.provider_key = provider_key.map(crate::secrets::SecretString::new);
    request.extensions_mut().insert(caller);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        assert_eq!(host_name("localhost:8787"), "localhost");
        assert_eq!(host_name("[::1]:8787"), "::1");
        assert_eq!(host_name("127.0.0.1"), "127.0.0.1");
        assert!(is_loopback_name("127.0.0.2"));
        assert!(is_loopback_name("app.localhost"));
        assert!(!is_loopback_name("evil.example"));
        assert!(!is_loopback_name("localhost.evil.example"));
        assert!(!is_loopback_name("192.168.1.5"));
    }
}
