//! The Vertex AI adapter: the service account's JWT exchanged for a token (the fake checks its
//! RS256 signature), the token cached and renewed after a 401, Gemini and Claude on Vertex URLs.

use std::time::Duration;

use fake_providers::{Behavior, FakeServer};
use serde_json::json;

use super::*;
use crate::providers::test_support::{Folded, client, drain, fold, limits};
use crate::providers::{FailureKind, Provider};

fn endpoint(server: &FakeServer, model: &str) -> Endpoint {
    // Each test has its own server, so its own token endpoint: the token cache (keyed by
    // account and endpoint) does not leak between tests.
    let creds = cloud_credentials::vertex_from_input(
        &server.vertex_service_account("fake-project"),
        "us-east5",
        None,
    )
    .unwrap();
    Endpoint {
        provider: Provider::Vertex,
        base_url: server.base_url(),
        api_key: Some(SecretString::new(serde_json::to_string(&creds).unwrap())),
        key_name: Some("gcp".into()),
        key_id: None,
        model: model.into(),
    }
}

fn request(stream: bool) -> ChatRequest {
    ChatRequest {
        model: "alias".into(),
        messages: vec![
            crate::chat::ChatMessage::new("system", "Be nice."),
            crate::chat::ChatMessage::new("user", "Say hello"),
        ],
        stream: stream.then_some(true),
        ..Default::default()
    }
}

#[test]
fn urls_follow_project_location_and_publisher() {
    let creds = VertexCredentials {
        service_account: ServiceAccount {
            kind: "service_account".into(),
            project_id: "own".into(),
            private_key_id: String::new(),
            private_key: String::new(),
            client_email: "a@b".into(),
            token_uri: String::new(),
        },
        location: "us-central1".into(),
        project: Some("billing-proj".into()),
    };
    let e = |model: &str| Endpoint {
        provider: Provider::Vertex,
        base_url: String::new(),
        api_key: None,
        key_name: None,
        key_id: None,
        model: model.into(),
    };
    assert_eq!(
        model_url(
            &e("gemini-2.5-flash"),
            &creds,
            publisher("gemini-2.5-flash")
        ),
        "https://us-central1-aiplatform.googleapis.com/v1/projects/billing-proj/locations/us-central1/publishers/google/models/gemini-2.5-flash"
    );
    let global = VertexCredentials {
        location: "global".into(),
        ..creds.clone()
    };
    assert_eq!(
        model_url(
            &e("claude-sonnet-4-5@20250929"),
            &global,
            publisher("claude-sonnet-4-5@20250929")
        ),
        "https://aiplatform.googleapis.com/v1/projects/billing-proj/locations/global/publishers/anthropic/models/claude-sonnet-4-5@20250929"
    );
}

#[tokio::test]
async fn gemini_on_vertex_with_a_cached_token() {
    let server = FakeServer::start().await;
    let e = endpoint(&server, "gemini-2.5-flash");
    server.push(Behavior::reply("Hello from Vertex"));
    let r = complete(&client(), &e, &request(false), limits())
        .await
        .unwrap();
    assert_eq!(r.text(), "Hello from Vertex");
    let sent = server.last_request().unwrap();
    assert_eq!(
        sent.path,
        "/v1/projects/fake-project/locations/us-east5/publishers/google/models/gemini-2.5-flash:generateContent"
    );
    assert!(
        sent.header("authorization")
            .unwrap()
            .starts_with("Bearer ya29.fake-")
    );
    assert!(sent.header("x-goog-api-key").is_none());
    // The token request carried a JWT-bearer grant; the fake checked its signature.
    let grant = server
        .requests()
        .into_iter()
        .find(|r| r.path == "/token")
        .unwrap();
    assert_eq!(
        grant.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );

    // A second call (streamed) reuses the token.
    server.push(Behavior::chunks(["a", "b"], Duration::ZERO, Duration::ZERO));
    let (chunks, err) = drain(
        stream(&client(), &e, &request(true), limits())
            .await
            .unwrap(),
    )
    .await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(fold(&chunks).text, "ab");
    assert_eq!(server.token_grants(), 1, "one token for both calls");
    assert_eq!(
        server.last_request().unwrap().query.as_deref(),
        Some("alt=sse")
    );
}

#[tokio::test]
async fn a_revoked_token_is_renewed_once() {
    let server = FakeServer::start().await;
    let e = endpoint(&server, "gemini-2.5-flash");
    complete(&client(), &e, &request(false), limits())
        .await
        .unwrap();
    server.revoke_tokens();
    complete(&client(), &e, &request(false), limits())
        .await
        .unwrap();
    assert_eq!(server.token_grants(), 2);
}

#[tokio::test]
async fn claude_on_vertex_uses_raw_predict() {
    let server = FakeServer::start().await;
    let e = endpoint(&server, "claude-sonnet-4-5@20250929");
    server.push(Behavior::reply("Bonjour"));
    let r = complete(&client(), &e, &request(false), limits())
        .await
        .unwrap();
    assert_eq!(r.text(), "Bonjour");
    let sent = server.last_request().unwrap();
    assert!(
        sent.path
            .ends_with("/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"),
        "{}",
        sent.path
    );
    assert_eq!(sent.body["anthropic_version"], ANTHROPIC_VERTEX_VERSION);
    assert!(sent.body.get("model").is_none());

    server.push(Behavior::chunks(
        ["Bon", "jour"],
        Duration::ZERO,
        Duration::ZERO,
    ));
    let (chunks, err) = drain(
        stream(&client(), &e, &request(true), limits())
            .await
            .unwrap(),
    )
    .await;
    assert!(err.is_none(), "{err:?}");
    let Folded {
        text,
        tools: _,
        finish,
        usage,
    } = fold(&chunks);
    assert_eq!(
        (text.as_str(), finish.as_deref()),
        ("Bonjour", Some("stop"))
    );
    assert!(usage.is_some());
    assert!(
        server
            .last_request()
            .unwrap()
            .path
            .ends_with(":streamRawPredict")
    );
}

#[tokio::test]
async fn a_refused_service_account_is_a_clear_401() {
    let server = FakeServer::start().await;
    let mut e = endpoint(&server, "gemini-2.5-flash");
    // Another key than the one the token endpoint knows: the JWT's signature does not verify.
    let other = rsa_other_key();
    let mut creds = cloud_credentials::vertex(e.api_key.as_ref().unwrap().expose()).unwrap();
    creds.service_account.private_key = other;
    e.api_key = Some(SecretString::new(serde_json::to_string(&creds).unwrap()));
    let err = complete(&client(), &e, &request(false), limits())
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.retryable()), (401, false));
    assert!(
        err.message.contains("Invalid JWT Signature"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("portolan-test@"),
        "names the account: {}",
        err.message
    );
}

#[tokio::test]
async fn vertex_errors_in_google_shape() {
    let server = FakeServer::start().await;
    let e = endpoint(&server, "gemini-2.5-flash");
    server.push(Behavior::rate_limited(1));
    let err = complete(&client(), &e, &request(false), limits())
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.retryable()), (429, true));
    assert!(
        err.message.contains("RESOURCE_EXHAUSTED"),
        "{}",
        err.message
    );
    server.push(Behavior::DropMidStream { chunks_before: 1 });
    let (_, err) = drain(
        stream(&client(), &e, &request(true), limits())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(err.unwrap().kind, FailureKind::Incomplete);
}

#[tokio::test]
async fn text_embeddings_through_predict() {
    let server = FakeServer::start().await;
    let e = endpoint(&server, "text-embedding-005");
    let v = embed(
        &client(),
        &e,
        &["a b".to_string(), "c".to_string()],
        limits(),
    )
    .await
    .unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(
        server.last_request().unwrap().body,
        json!({"instances": [{"content": "a b"}, {"content": "c"}]})
    );
}

/// An RSA key (PKCS#8 PEM, made for this test only) that is not the service account's: its
/// JWTs do not verify against the account's public key.
fn rsa_other_key() -> String {
    include_str!("other-test-key.pem").to_owned()
}
