//! Google Vertex AI: Gemini models through `generateContent`/`streamGenerateContent` and
//! Anthropic's models through `rawPredict`/`streamRawPredict`, on the project and location of the
//! virtual key ([`crate::cloud_credentials::VertexCredentials`]).
//!
//! Vertex takes no API key: the service account signs a JWT (RS256, with ring), Google's token
//! endpoint exchanges it for an OAuth access token, and that token is cached until shortly before
//! it expires. A 401 from Vertex (a revoked or expired token) drops the cached token and the call
//! is tried once more with a new one. The bodies and answers are Gemini's and Anthropic's own, so
//! those adapters do the translating.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::{Value, json};

use super::{
    Access, AttemptLimits, Auth, ChunkStream, Endpoint, ProviderError, anthropic, body_text,
    from_reqwest, gemini, send_request,
};
use crate::chat::{ChatRequest, ChatResponse};
use crate::cloud_credentials::{self, ServiceAccount, VertexCredentials};
use crate::secrets::SecretString;

const PROVIDER: &str = "vertex";
/// The Messages API version Anthropic's models on Vertex take (in the body, not a header).
pub const ANTHROPIC_VERTEX_VERSION: &str = "vertex-2023-10-16";
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// A token is renewed this long before Google says it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(120);

/// The private key of a service account, ready to sign.
pub(crate) fn signing_key(pem: &str) -> Result<RsaKeyPair, String> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = STANDARD
        .decode(body)
        .map_err(|_| "the service account's private_key is not valid base64 PEM".to_owned())?;
    RsaKeyPair::from_pkcs8(&der)
        .map_err(|e| format!("the service account's private_key is not an RSA PKCS#8 key: {e}"))
}

/// The JWT a service account presents to the token endpoint.
fn assertion(sa: &ServiceAccount, now: u64) -> Result<String, ProviderError> {
    let key = signing_key(&sa.private_key).map_err(ProviderError::config)?;
    let mut header = json!({"alg": "RS256", "typ": "JWT"});
    if !sa.private_key_id.is_empty() {
        header["kid"] = json!(sa.private_key_id);
    }
    let claims = json!({
        "iss": sa.client_email,
        "scope": SCOPE,
        "aud": sa.token_uri,
        "iat": now,
        "exp": now + 3600,
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signature = vec![0u8; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| ProviderError::internal("vertex: signing the service account's JWT failed"))?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// A service account (its email) at a token endpoint.
type Account = (String, String);
/// An access token and when to renew it.
type Token = (SecretString, Instant);

/// Access tokens by service account and token endpoint.
static TOKENS: LazyLock<Mutex<HashMap<Account, Token>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn cache_key(sa: &ServiceAccount) -> Account {
    (sa.client_email.clone(), sa.token_uri.clone())
}

fn forget_token(sa: &ServiceAccount) {
    TOKENS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&cache_key(sa));
}

/// A valid access token for `sa`: the cached one, or a new one from the token endpoint.
async fn access_token(
    client: &reqwest::Client,
    sa: &ServiceAccount,
    limits: AttemptLimits,
) -> Result<SecretString, ProviderError> {
    if let Some((token, renew_at)) = TOKENS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&cache_key(sa))
        && Instant::now() < *renew_at
    {
        return Ok(token.clone());
    }
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let jwt = assertion(sa, now)?;
    let form = format!(
        "grant_type={}&assertion={jwt}",
        "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
    );
    let response = client
        .post(&sa.token_uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .timeout(limits.request_timeout)
        .send()
        .await
        .map_err(|e| from_reqwest("vertex (token endpoint)", &e, limits.request_timeout))?;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        let reason = match (v["error"].as_str(), v["error_description"].as_str()) {
            (Some(e), Some(d)) => format!("{d} ({e})"),
            (Some(e), None) => e.to_owned(),
            _ => text.chars().take(200).collect(),
        };
        // A refused grant is a credentials problem, whatever status the endpoint chose.
        let status = if (400..500).contains(&status) && status != 429 {
            401
        } else {
            status
        };
        return Err(ProviderError::upstream(
            status,
            format!(
                "vertex: Google refused the service account {}: {reason}",
                sa.client_email
            ),
            Some(text.chars().take(2048).collect()),
        ));
    }
    let token = v["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ProviderError::malformed("vertex (token endpoint)", "no access_token in the answer")
        })?;
    let lifetime = Duration::from_secs(v["expires_in"].as_u64().unwrap_or(3600));
    let renew_at = Instant::now() + lifetime.saturating_sub(RENEW_BEFORE);
    let token = SecretString::new(token.to_owned());
    TOKENS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(cache_key(sa), (token.clone(), renew_at));
    Ok(token)
}

fn credentials(endpoint: &Endpoint) -> Result<VertexCredentials, ProviderError> {
    let secret = endpoint.api_key.as_ref().ok_or_else(|| {
        ProviderError::config("vertex needs a service account: add its key file to the virtual key")
    })?;
    cloud_credentials::vertex(secret.expose()).map_err(|e| ProviderError::config(e.0))
}

/// Which publisher's API a model is served through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Publisher {
    Google,
    Anthropic,
}

fn publisher(model: &str) -> Publisher {
    if model.starts_with("claude") {
        Publisher::Anthropic
    } else {
        Publisher::Google
    }
}

/// `…/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{model}`, on the
/// key's base URL when it names one, else the location's endpoint (`global` has no prefix).
fn model_url(endpoint: &Endpoint, creds: &VertexCredentials, publisher: Publisher) -> String {
    let base = endpoint.base_url.trim().trim_end_matches('/');
    let base = if !base.is_empty() {
        base.to_owned()
    } else if creds.location == "global" {
        "https://aiplatform.googleapis.com".to_owned()
    } else {
        format!("https://{}-aiplatform.googleapis.com", creds.location)
    };
    let publisher = match publisher {
        Publisher::Google => "google",
        Publisher::Anthropic => "anthropic",
    };
    format!(
        "{base}/v1/projects/{}/locations/{}/publishers/{publisher}/models/{}",
        creds.project(),
        creds.location,
        endpoint.model
    )
}

/// The Messages body as Vertex takes it: the model in the URL, the version in the body.
fn anthropic_body(request: &ChatRequest, stream: bool) -> Result<Value, ProviderError> {
    let mut body = anthropic::request_body("", request, stream)?;
    if let Some(o) = body.as_object_mut() {
        o.remove("model");
        o.insert("anthropic_version".into(), json!(ANTHROPIC_VERTEX_VERSION));
    }
    Ok(body)
}

async fn access(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    creds: &VertexCredentials,
    limits: AttemptLimits,
    method: Option<&str>,
) -> Result<Access, ProviderError> {
    let token = access_token(client, &creds.service_account, limits).await?;
    let publisher = publisher(&endpoint.model);
    let url = model_url(endpoint, creds, publisher);
    Ok(Access {
        url: match method {
            Some(m) => format!("{url}:{m}"),
            None => url,
        },
        auth: Auth::Bearer(token),
    })
}

/// Runs `call` with a token; after a 401 (the token revoked or expired early), once more with a
/// new one.
async fn with_token<T, F, Fut>(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    limits: AttemptLimits,
    method: Option<&str>,
    call: F,
) -> Result<T, ProviderError>
where
    F: Fn(Access) -> Fut,
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    let creds = credentials(endpoint)?;
    let first = call(access(client, endpoint, &creds, limits, method).await?).await;
    match first {
        Err(e) if e.status() == 401 => {
            forget_token(&creds.service_account);
            call(access(client, endpoint, &creds, limits, method).await?).await
        }
        other => other,
    }
}

pub async fn complete(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    request: &ChatRequest,
    limits: AttemptLimits,
) -> Result<ChatResponse, ProviderError> {
    match publisher(&endpoint.model) {
        Publisher::Anthropic => {
            let body = anthropic_body(request, false)?;
            let prefill = anthropic::json_prefill(request);
            with_token(client, endpoint, limits, Some("rawPredict"), |access| {
                let body = &body;
                async move {
                    anthropic::complete_at(client, endpoint, &access, body, prefill, limits).await
                }
            })
            .await
        }
        Publisher::Google => {
            with_token(client, endpoint, limits, None, |access| async move {
                gemini::complete_at(client, endpoint, &access, request, limits).await
            })
            .await
        }
    }
}

pub async fn stream(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    request: &ChatRequest,
    limits: AttemptLimits,
) -> Result<ChunkStream, ProviderError> {
    match publisher(&endpoint.model) {
        Publisher::Anthropic => {
            let body = anthropic_body(request, true)?;
            let prefill = anthropic::json_prefill(request);
            with_token(
                client,
                endpoint,
                limits,
                Some("streamRawPredict"),
                |access| {
                    let body = &body;
                    async move {
                        anthropic::stream_at(client, endpoint, &access, body, prefill, limits).await
                    }
                },
            )
            .await
        }
        Publisher::Google => {
            with_token(client, endpoint, limits, None, |access| async move {
                gemini::stream_at(client, endpoint, &access, request, limits).await
            })
            .await
        }
    }
}

/// Embeds texts with a Vertex text-embedding model (`:predict`, one instance per text).
pub async fn embed(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    inputs: &[String],
    limits: AttemptLimits,
) -> Result<Vec<Vec<f32>>, ProviderError> {
    if inputs.is_empty() {
        return Ok(Vec::new());
    }
    let instances: Vec<Value> = inputs.iter().map(|t| json!({"content": t})).collect();
    let body = json!({"instances": instances});
    let text = with_token(client, endpoint, limits, Some("predict"), |access| {
        let body = &body;
        async move {
            let builder = access.auth.apply(client.post(&access.url).json(body));
            let response =
                send_request(endpoint, builder, limits, true, gemini::GEMINI_ERRORS).await?;
            body_text(endpoint, response, limits).await
        }
    })
    .await?;
    let v: Value =
        serde_json::from_str(&text).map_err(|e| ProviderError::malformed(PROVIDER, e))?;
    let vectors: Vec<Vec<f32>> = v["predictions"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    p["embeddings"]["values"]
                        .as_array()
                        .map(|xs| {
                            xs.iter()
                                .filter_map(Value::as_f64)
                                .map(|f| f as f32)
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default();
    if vectors.len() != inputs.len() || vectors.iter().any(Vec::is_empty) {
        return Err(ProviderError::malformed(
            PROVIDER,
            "fewer embeddings than inputs",
        ));
    }
    Ok(vectors)
}

#[cfg(test)]
mod tests;
