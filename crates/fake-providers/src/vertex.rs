//! Google Vertex AI: the service-account token endpoint (`POST /token`, a JWT-bearer grant whose
//! RS256 signature is checked against the test key's public half) and the model paths
//! `/v1/projects/{p}/locations/{l}/publishers/{google|anthropic}/models/{model}:{method}`, which
//! take only the access tokens this server issued (`Authorization: Bearer ya29.…`) and are then
//! answered by the Gemini and Anthropic fakes.

use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::StatusCode;
use ring::signature::{KeyPair, RSA_PKCS1_2048_8192_SHA256, RsaKeyPair, UnparsedPublicKey};
use serde_json::{Value, json};

use crate::respond::Ctx;

/// A 2048-bit RSA key for tests only (it signs nothing outside them): the private key of the
/// service account [`crate::FakeServer::vertex_service_account`] describes.
pub const TEST_RSA_KEY: &str = include_str!("test-rsa-key.pem");

const TEST_CLIENT_EMAIL: &str = "portolan-test@fake-project.iam.gserviceaccount.com";

pub(crate) fn service_account_json(token_uri: &str, project: &str) -> String {
    json!({
        "type": "service_account",
        "project_id": project,
        "private_key_id": "fake0123456789",
        "private_key": TEST_RSA_KEY,
        "client_email": TEST_CLIENT_EMAIL,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "universe_domain": "googleapis.com"
    })
    .to_string()
}

fn public_key() -> Vec<u8> {
    let body: String = TEST_RSA_KEY
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = STANDARD.decode(body).expect("the test key is base64");
    let pair = RsaKeyPair::from_pkcs8(&der).expect("the test key is PKCS#8 RSA");
    pair.public_key().as_ref().to_vec()
}

fn token_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut resp = Response::new(axum::body::Body::from(
        json!({"error": error, "error_description": description}).to_string(),
    ));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

fn form_field(form: &str, name: &str) -> Option<String> {
    crate::text::query_param(Some(form), name)
}

/// Checks a JWT-bearer grant and issues an access token.
pub(crate) fn token(ctx: &Ctx) -> Response {
    let form = String::from_utf8_lossy(&ctx.raw).into_owned();
    if form_field(&form, "grant_type").as_deref()
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return token_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Invalid grant_type: ",
        );
    }
    let Some(jwt) = form_field(&form, "assertion") else {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: assertion",
        );
    };
    let parts: Vec<&str> = jwt.split('.').collect();
    let invalid = |d: &str| token_error(StatusCode::BAD_REQUEST, "invalid_grant", d);
    if parts.len() != 3 {
        return invalid(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.",
        );
    }
    let decode = |p: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()
    };
    let (Some(header), Some(claims), Ok(signature)) = (
        decode(parts[0]),
        decode(parts[1]),
        URL_SAFE_NO_PAD.decode(parts[2]),
    ) else {
        return invalid("Invalid JWT: could not be decoded.");
    };
    if header["alg"] != "RS256" {
        return invalid("Invalid JWT: alg must be RS256.");
    }
    let signed = format!("{}.{}", parts[0], parts[1]);
    let key = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key());
    if key.verify(signed.as_bytes(), &signature).is_err() {
        return invalid("Invalid JWT Signature.");
    }
    if claims["iss"] != TEST_CLIENT_EMAIL {
        return token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The OAuth client was not found.",
        );
    }
    if claims["scope"] != "https://www.googleapis.com/auth/cloud-platform" {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.",
        );
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap_or(0),
        claims["exp"].as_u64().unwrap_or(0),
    );
    if exp <= iat || exp - iat > 3600 || iat > now + 300 || exp < now {
        return invalid(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
        );
    }
    let token = ctx.shared.issue_token();
    let mut resp = Response::new(axum::body::Body::from(
        json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}).to_string(),
    ));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

fn unauthenticated(message: &str, reason: &str) -> Response {
    let doc = json!({"error": {
        "code": 401,
        "message": message,
        "status": "UNAUTHENTICATED",
        "details": [{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": "googleapis.com",
            "metadata": {"service": "aiplatform.googleapis.com"}
        }]
    }});
    let mut resp = Response::new(axum::body::Body::from(doc.to_string()));
    *resp.status_mut() = StatusCode::UNAUTHORIZED;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    resp
}

/// `…/publishers/{publisher}/models/{model}:{method}` after the bearer token is checked.
pub(crate) async fn model_method(
    ctx: &Ctx,
    publisher: &str,
    model: &str,
    method: &str,
) -> Response {
    let token = ctx
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "));
    match token {
        None => {
            return unauthenticated(
                "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
                "CREDENTIALS_MISSING",
            );
        }
        Some(t) if !ctx.shared.token_valid(t) => {
            return unauthenticated(
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
                "ACCESS_TOKEN_EXPIRED",
            );
        }
        Some(_) => {}
    }
    match (publisher, method) {
        ("anthropic", "rawPredict") => {
            crate::anthropic::vertex_raw_predict(ctx, model, false).await
        }
        ("anthropic", "streamRawPredict") => {
            crate::anthropic::vertex_raw_predict(ctx, model, true).await
        }
        ("google", "predict") => crate::gemini::vertex_predict(ctx).await,
        ("google", _) => crate::gemini::model_method(ctx, model, method).await,
        _ => crate::openai::not_found(ctx),
    }
}
