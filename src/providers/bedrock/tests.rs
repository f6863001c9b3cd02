//! The Bedrock adapter: Converse mapping, SigV4 checked by the fake (it recomputes the signature
//! with AWS's crate), ConverseStream's binary frames, AWS's error kinds.

use std::time::Duration;

use fake_providers::{Behavior, FakeServer};
use serde_json::json;

use super::*;
use crate::chat::{FunctionDef, Tool};
use crate::providers::test_support::{Folded, client, drain, fold, limits, short_idle};
use crate::providers::{FailureKind, Provider};
use crate::secrets::SecretString;

const AKID: &str = "AKIAFAKEEXAMPLE12345";
const SECRET: &str = "fake/secret+access/key0123456789abcdef";
const MODEL: &str = "us.anthropic.claude-haiku-4-5-20251001-v1:0";

fn secret(akid: &str, secret: &str, token: Option<&str>) -> SecretString {
    let creds = AwsCredentials {
        access_key_id: akid.into(),
        secret_access_key: secret.into(),
        session_token: token.map(str::to_owned),
        region: "us-east-1".into(),
    };
    SecretString::new(serde_json::to_string(&creds).unwrap())
}

fn endpoint(server: &FakeServer, secret: SecretString) -> Endpoint {
    Endpoint {
        provider: Provider::Bedrock,
        base_url: server.base_url(),
        api_key: Some(secret),
        key_name: Some("aws".into()),
        key_id: None,
        model: MODEL.into(),
    }
}

fn good(server: &FakeServer) -> Endpoint {
    endpoint(server, secret(AKID, SECRET, None))
}

fn request(stream: bool) -> ChatRequest {
    ChatRequest {
        model: "alias".into(),
        messages: vec![
            ChatMessage::new("system", "Be nice."),
            ChatMessage::new("user", "Say hello"),
        ],
        stream: stream.then_some(true),
        max_tokens: Some(100),
        ..Default::default()
    }
}

async fn server() -> FakeServer {
    let server = FakeServer::start().await;
    server.expect_aws(AKID, SECRET, None);
    server
}

#[test]
fn converse_bodies_and_urls() {
    let mut r = request(false);
    r.temperature = Some(0.2);
    r.extra.insert("top_k".into(), json!(5));
    r.tools = Some(vec![Tool {
        kind: "function".into(),
        function: FunctionDef {
            name: "f".into(),
            description: None,
            parameters: Some(json!({"type": "object"})),
        },
    }]);
    r.tool_choice = Some(json!("required"));
    let body = request_body(&r).unwrap();
    assert_eq!(body["system"], json!([{"text": "Be nice."}]));
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": [{"text": "Say hello"}]}])
    );
    assert_eq!(
        body["inferenceConfig"],
        json!({"maxTokens": 100, "temperature": 0.2})
    );
    assert_eq!(body["additionalModelRequestFields"], json!({"top_k": 5}));
    assert_eq!(body["toolConfig"]["toolChoice"], json!({"any": {}}));
    assert_eq!(
        body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"],
        json!({"type": "object"})
    );

    // Options Converse cannot carry are refused by name, never dropped.
    let mut r = request(false);
    r.presence_penalty = Some(0.5);
    assert!(
        request_body(&r)
            .unwrap_err()
            .message
            .contains("presence_penalty")
    );
    let mut r = request(false);
    r.response_format = Some(json!({"type": "json_object"}));
    assert!(
        request_body(&r)
            .unwrap_err()
            .message
            .contains("response_format")
    );
    let mut r = request(false);
    r.messages.push(ChatMessage {
        content: Some(MessageContent::Parts(vec![ContentPart::ImageUrl {
            image_url: crate::chat::ImageUrl {
                url: "https://example.com/cat.png".into(),
                detail: None,
            },
        }])),
        ..ChatMessage::new("user", "")
    });
    assert!(request_body(&r).unwrap_err().message.contains("data URLs"));

    assert_eq!(
        url(
            "https://bedrock-runtime.us-east-1.amazonaws.com",
            MODEL,
            "converse"
        ),
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0/converse"
    );
    assert_eq!(
        url(
            "http://h",
            "arn:aws:bedrock:us-east-1:1:inference-profile/x",
            "converse-stream"
        ),
        "http://h/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fx/converse-stream"
    );
}

#[tokio::test]
async fn a_signed_converse_call_is_accepted_and_read() {
    let server = server().await;
    server.set_cached_tokens(2);
    server.push(Behavior::reply("Hello there"));
    let r = complete(&client(), &good(&server), &request(false), limits())
        .await
        .unwrap();
    assert_eq!(r.text(), "Hello there");
    assert_eq!(r.choices[0].finish_reason.as_deref(), Some("stop"));
    let usage = r.usage.unwrap();
    assert_eq!(usage.cached_tokens(), 2);
    assert_eq!(usage.completion_tokens, 2);
    let sent = server.last_request().unwrap();
    assert_eq!(
        sent.path,
        "/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0/converse"
    );
    let auth = sent.header("authorization").unwrap();
    assert!(
        auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={AKID}/")),
        "{auth}"
    );
    assert!(auth.contains("/us-east-1/bedrock/aws4_request"), "{auth}");
    assert!(!auth.contains(SECRET));
    assert!(sent.header("x-amz-date").is_some());
}

#[tokio::test]
async fn temporary_credentials_sign_with_their_session_token() {
    let server = FakeServer::start().await;
    server.expect_aws(AKID, SECRET, Some("session-token-xyz"));
    let e = endpoint(&server, secret(AKID, SECRET, Some("session-token-xyz")));
    complete(&client(), &e, &request(false), limits())
        .await
        .unwrap();
    assert_eq!(
        server
            .last_request()
            .unwrap()
            .header("x-amz-security-token"),
        Some("session-token-xyz")
    );
    // Once they expire, AWS says so, and it is not worth retrying.
    server.expire_aws_credentials();
    let err = complete(&client(), &e, &request(false), limits())
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.retryable()), (403, false));
    assert!(
        err.message.contains("ExpiredTokenException"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn wrong_credentials_are_refused_with_aws_error_kinds() {
    let server = server().await;
    let err = complete(
        &client(),
        &endpoint(&server, secret(AKID, "wrong-secret", None)),
        &request(false),
        limits(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), 403);
    assert!(
        err.message.contains("InvalidSignatureException"),
        "{}",
        err.message
    );
    let err = complete(
        &client(),
        &endpoint(&server, secret("AKIAOTHER", SECRET, None)),
        &request(false),
        limits(),
    )
    .await
    .unwrap_err();
    assert!(
        err.message.contains("UnrecognizedClientException"),
        "{}",
        err.message
    );
    // A key whose secret is not AWS credentials says how to fix it.
    let err = complete(
        &client(),
        &endpoint(&server, SecretString::new("sk-plain".into())),
        &request(false),
        limits(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, FailureKind::Config);
    assert!(err.message.contains("keys rotate"), "{}", err.message);
}

#[tokio::test]
async fn throttling_and_server_errors() {
    let server = server().await;
    let (c, e) = (client(), good(&server));
    server.push(Behavior::rate_limited(1));
    let err = complete(&c, &e, &request(false), limits())
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.retryable()), (429, true));
    assert!(
        err.message.contains("(ThrottlingException)"),
        "{}",
        err.message
    );
    assert_eq!(err.retry_after, Some(Duration::from_secs(1)));
    server.push(Behavior::status(503, "Service unavailable"));
    let err = stream(&c, &e, &request(true), limits())
        .await
        .err()
        .unwrap();
    assert_eq!((err.status(), err.retryable()), (503, true));
    assert!(
        err.message.contains("ServiceUnavailableException"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn converse_stream_frames_become_chunks() {
    let server = server().await;
    server.set_cached_tokens(1);
    server.push(Behavior::chunks(
        ["Hel", "lo", " you"],
        Duration::ZERO,
        Duration::ZERO,
    ));
    let s = stream(&client(), &good(&server), &request(true), limits())
        .await
        .unwrap();
    let (chunks, err) = drain(s).await;
    assert!(err.is_none(), "{err:?}");
    let Folded {
        text,
        tools: _,
        finish,
        usage,
    } = fold(&chunks);
    assert_eq!(text, "Hello you");
    assert_eq!(finish.as_deref(), Some("stop"));
    let usage = usage.expect("usage from the metadata event");
    assert_eq!(usage.cached_tokens(), 1);
    assert!(usage.completion_tokens > 0);
    let sent = server.last_request().unwrap();
    assert!(sent.path.ends_with("/converse-stream"));
}

#[tokio::test]
async fn tool_use_complete_and_streamed() {
    let server = server().await;
    let mut r = request(false);
    r.tools = Some(vec![Tool {
        kind: "function".into(),
        function: FunctionDef {
            name: "get_weather".into(),
            description: Some("Weather".into()),
            parameters: Some(json!({"type": "object", "properties": {"city": {"type": "string"}}})),
        },
    }]);
    server.push(Behavior::tool_call("get_weather", json!({"city": "Lyon"})));
    let resp = complete(&client(), &good(&server), &r, limits())
        .await
        .unwrap();
    let call = resp.choices[0]
        .message
        .tool_calls
        .clone()
        .unwrap()
        .remove(0);
    assert_eq!(call.function.name, "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(&call.function.arguments).unwrap(),
        json!({"city": "Lyon"})
    );
    assert_eq!(resp.choices[0].finish_reason.as_deref(), Some("tool_calls"));

    r.stream = Some(true);
    server.push(Behavior::tool_call("get_weather", json!({"city": "Lyon"})));
    let (chunks, err) = drain(
        stream(&client(), &good(&server), &r, limits())
            .await
            .unwrap(),
    )
    .await;
    assert!(err.is_none(), "{err:?}");
    let Folded {
        text: _,
        tools,
        finish,
        usage: _,
    } = fold(&chunks);
    assert_eq!(tools[0].0, "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(&tools[0].1).unwrap(),
        json!({"city": "Lyon"})
    );
    assert_eq!(finish.as_deref(), Some("tool_calls"));

    // The tool's result goes back as a toolResult block in a user turn.
    let mut follow = request(false);
    let mut assistant = ChatMessage::new("assistant", "");
    assistant.tool_calls = Some(vec![call.clone()]);
    let mut result = ChatMessage::new("tool", "{\"temp\": 21}");
    result.tool_call_id = Some(call.id.clone());
    follow.messages.extend([assistant, result]);
    complete(&client(), &good(&server), &follow, limits())
        .await
        .unwrap();
    let sent = server.last_request().unwrap();
    assert_eq!(
        sent.body["messages"][1]["content"][0]["toolUse"]["input"],
        json!({"city": "Lyon"})
    );
    assert_eq!(
        sent.body["messages"][2]["content"][0]["toolResult"],
        json!({"toolUseId": call.id, "content": [{"json": {"temp": 21}}]})
    );
}

#[tokio::test]
async fn cut_stalled_and_malformed_streams() {
    let server = server().await;
    let (c, e) = (client(), good(&server));
    server.push(Behavior::DropMidStream { chunks_before: 2 });
    let (chunks, err) = drain(stream(&c, &e, &request(true), limits()).await.unwrap()).await;
    assert_eq!(
        err.expect("a cut stream is an error").kind,
        FailureKind::Incomplete
    );
    assert!(
        chunks
            .iter()
            .all(|c| c.choices.iter().all(|ch| ch.finish_reason.is_none()))
    );

    server.push(Behavior::StallMidStream {
        chunks_before: 1,
        stall: Duration::from_secs(2),
    });
    let (_, err) = drain(stream(&c, &e, &request(true), short_idle()).await.unwrap()).await;
    assert_eq!(err.unwrap().kind, FailureKind::Stalled);

    server.push(Behavior::Malformed);
    let (_, err) = drain(stream(&c, &e, &request(true), limits()).await.unwrap()).await;
    assert_eq!(err.unwrap().kind, FailureKind::Malformed);

    server.push(Behavior::Malformed);
    let err = complete(&c, &e, &request(false), limits())
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::Malformed);
}

#[test]
fn an_exception_frame_mid_stream_is_an_error_with_its_status() {
    use aws_smithy_types::event_stream::{Header, HeaderValue};
    let frame = |message_type: &str, type_name: &str, kind: &str, payload: &str| {
        Message::new(payload.as_bytes().to_vec())
            .add_header(Header::new(
                ":message-type",
                HeaderValue::String(message_type.to_owned().into()),
            ))
            .add_header(Header::new(
                type_name.to_owned(),
                HeaderValue::String(kind.to_owned().into()),
            ))
    };
    let mut state = StreamState::new(MODEL);
    let out = state
        .on_message(&frame(
            "event",
            ":event-type",
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"abc"}"#,
        ))
        .unwrap();
    assert_eq!(out[0].choices[0].delta.content.as_deref(), Some("Hi"));
    let err = state
        .on_message(&frame(
            "exception",
            ":exception-type",
            "throttlingException",
            r#"{"message":"Too many tokens, please wait before trying again."}"#,
        ))
        .unwrap_err();
    assert_eq!((err.status(), err.retryable()), (429, true));
    assert!(err.message.contains("Too many tokens"), "{}", err.message);
    let err = StreamState::new(MODEL)
        .on_message(&frame(
            "exception",
            ":exception-type",
            "validationException",
            r#"{"message":"bad"}"#,
        ))
        .unwrap_err();
    assert_eq!((err.status(), err.retryable()), (400, false));
}
