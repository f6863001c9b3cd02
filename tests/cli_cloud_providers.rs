//! Bedrock, Vertex AI and Cohere through the `portolan` binary: credentials read from stdin or a
//! file (never argv), checked when added, masked as who they are, and calls priced from the
//! table, each against its fake on 127.0.0.1.

use fake_providers::{Behavior, FakeServer};

use crate::support::Env;

const AKID: &str = "AKIAFAKEEXAMPLE12345";
const AWS_SECRET: &str = "fake/secret+access/key0123456789abcdef";

#[test]
fn bedrock_keys_take_aws_credentials_and_calls_are_signed_and_priced() {
    let fake = FakeServer::start_blocking();
    fake.expect_aws(AKID, AWS_SECRET, Some("session-xyz"));
    let env = Env::new().with_master_key(&"ab".repeat(32));
    // `aws sts get-session-token` prints this shape.
    let sts = format!(
        r#"{{"Credentials": {{"AccessKeyId": "{AKID}", "SecretAccessKey": "{AWS_SECRET}", "SessionToken": "session-xyz", "Expiration": "2026-12-05T00:00:00Z"}}}}"#
    );
    // No region: a clear sentence, nothing stored.
    let err = env.fails_with_stdin(&["keys", "add", "aws", "--provider", "bedrock"], &sts);
    assert!(err.contains("no AWS region"), "{err}");
    let out = env.ok_with_stdin(
        &[
            "keys",
            "add",
            "aws",
            "--provider",
            "bedrock",
            "--region",
            "us-east-1",
            "--base-url",
            &fake.base_url(),
        ],
        &sts,
    );
    assert!(out.contains("AKI…2345 (us-east-1)"), "{out}");
    let list = env.ok(&["keys", "list"]);
    assert!(
        !list.contains(AWS_SECRET) && !list.contains("session-xyz"),
        "{list}"
    );

    fake.push(Behavior::reply("Hello from Bedrock"));
    let v: serde_json::Value = serde_json::from_str(&env.ok(&[
        "chat",
        "--model",
        "bedrock/us.anthropic.claude-sonnet-4-6",
        "hello",
        "--json",
    ]))
    .unwrap();
    assert_eq!(v["output"], "Hello from Bedrock");
    assert!(
        v["summary"]["usage"]["completion_tokens"].as_u64().unwrap() > 0,
        "{v}"
    );
    let sent = fake.last_request().unwrap();
    assert_eq!(
        sent.path,
        "/model/us.anthropic.claude-sonnet-4-6/converse-stream"
    );
    assert!(
        sent.header("authorization")
            .unwrap()
            .contains("/us-east-1/bedrock/aws4_request")
    );
    // Priced from the table's bedrock/ entry.
    let logs = env.json(&["logs", "--json", "--limit", "1"]);
    let cost = logs[0]["cost_usd"].as_f64().expect("a known cost");
    assert!(cost > 0.0, "{logs}");

    // A wrong secret is refused by AWS (the fake recomputes the signature).
    let bad = sts.replace(AWS_SECRET, "not-the-secret");
    env.ok_with_stdin(&["keys", "rotate", "aws", "--region", "us-east-1"], &bad);
    let err = env.fails(&[
        "chat",
        "--model",
        "bedrock/us.anthropic.claude-sonnet-4-6",
        "hi",
    ]);
    assert!(err.contains("InvalidSignatureException"), "{err}");
}

#[test]
fn vertex_keys_take_a_service_account_file() {
    let fake = FakeServer::start_blocking();
    let env = Env::new().with_master_key(&"ab".repeat(32));
    let file = env.write("sa.json", &fake.vertex_service_account("my-project"));
    let file = file.to_str().unwrap();
    let err = env.fails(&[
        "keys",
        "add",
        "gcp",
        "--provider",
        "vertex",
        "--secret-file",
        file,
    ]);
    assert!(err.contains("--location"), "{err}");
    let err = env.fails_with_stdin(
        &[
            "keys",
            "add",
            "gcp",
            "--provider",
            "vertex",
            "--location",
            "us-east5",
        ],
        "{\"type\": \"authorized_user\"}",
    );
    assert!(err.contains("service account"), "{err}");
    let out = env.ok(&[
        "keys",
        "add",
        "gcp",
        "--provider",
        "vertex-ai",
        "--location",
        "us-east5",
        "--secret-file",
        file,
        "--base-url",
        &fake.base_url(),
    ]);
    assert!(
        out.contains("(vertex, vk_") && out.contains("portolan-test@"),
        "{out}"
    );
    assert!(!env.ok(&["keys", "list", "--json"]).contains("PRIVATE KEY"));

    fake.push(Behavior::reply("Hello from Gemini on Vertex"));
    let out = env.ok(&["chat", "--model", "vertex/gemini-2.5-flash", "hello"]);
    assert!(out.contains("Hello from Gemini on Vertex"), "{out}");
    fake.push(Behavior::reply("Hello from Claude on Vertex"));
    let out = env.ok(&[
        "chat",
        "--model",
        "vertex/claude-sonnet-4-5@20250929",
        "hello",
    ]);
    assert!(out.contains("Hello from Claude on Vertex"), "{out}");
    let paths: Vec<String> = fake.requests().into_iter().map(|r| r.path).collect();
    assert!(
        paths.iter().any(
            |p| p.ends_with("/publishers/google/models/gemini-2.5-flash:streamGenerateContent")
        ),
        "{paths:?}"
    );
    assert!(
        paths.iter().any(|p| p.ends_with(":streamRawPredict")),
        "{paths:?}"
    );
    let logs = env.json(&["logs", "--json", "--limit", "2"]);
    assert!(
        logs.as_array()
            .unwrap()
            .iter()
            .all(|l| l["cost_usd"].as_f64().is_some()),
        "{logs}"
    );
}

#[test]
fn cohere_keys_are_api_keys_and_its_models_are_inferred() {
    let fake = FakeServer::start_blocking();
    fake.expect_key("co-key-0123456789abcdef");
    let env = Env::new().with_master_key(&"ab".repeat(32));
    let err = env.fails_with_stdin(
        &["keys", "add", "co", "--provider", "cohere", "--region", "x"],
        "co-key-0123456789abcdef",
    );
    assert!(
        err.contains("a region is for Bedrock or Vertex AI keys"),
        "{err}"
    );
    env.ok_with_stdin(
        &[
            "keys",
            "add",
            "co",
            "--provider",
            "cohere",
            "--base-url",
            &fake.base_url(),
        ],
        "co-key-0123456789abcdef",
    );
    fake.push(Behavior::reply("Hello from Cohere"));
    // A bare Cohere model name finds its provider through the price table.
    let out = env.ok(&["chat", "--model", "command-a-03-2025", "hello"]);
    assert!(out.contains("Hello from Cohere"), "{out}");
    assert_eq!(fake.last_request().unwrap().path, "/v2/chat");
}
