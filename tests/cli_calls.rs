//! `run`, `chat`, `compare`, `logs` and `feedback` through the binary, against a fake provider.

use std::time::Duration;

use fake_providers::{Behavior, FakeServer};
use serde_json::Value;

use crate::support::Env;

const KEY: &str = "sk-test-cli-0123456789abcdefghijklmnop";

fn env_with_fake() -> (Env, FakeServer) {
    let fake = FakeServer::start_blocking();
    fake.expect_key(KEY);
    let env = Env::new().with_master_key(&"cd".repeat(32));
    let base = format!("{}/v1", fake.base_url());
    env.ok_with_stdin(
        &[
            "keys",
            "add",
            "openai",
            "--provider",
            "openai",
            "--base-url",
            &base,
        ],
        KEY,
    );
    (env, fake)
}

#[test]
fn compare_runs_the_matrix_concurrently_and_logs_every_call() {
    let (env, fake) = env_with_fake();
    fake.set_default(Behavior::reply_after(
        "A drafted reply to the customer.",
        Duration::from_millis(300),
    ));
    let out = env.json(&[
        "compare",
        "support-reply",
        "--model",
        "gpt-4o-mini",
        "--model",
        "gpt-4o",
        "--model",
        "gpt-4.1-mini",
        "--var",
        "customer_name=Ada",
        "--var",
        "ticket=It crashes on export",
        "--json",
    ]);
    let cells = out["cells"][0].as_array().unwrap();
    assert_eq!(cells.len(), 3);
    let mut sum = 0;
    for c in cells {
        assert!(c["error"].is_null(), "{c}");
        assert_eq!(c["output"], "A drafted reply to the customer.");
        assert!(c["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
        assert!(c["cost_usd"].as_f64().unwrap() > 0.0, "{c}");
        sum += c["latency_ms"].as_u64().unwrap();
    }
    let wall = out["wall_ms"].as_u64().unwrap();
    assert!(
        wall * 2 < sum,
        "cells ran one after another: wall {wall} ms, cells {sum} ms"
    );
    assert_eq!(out["totals"].as_array().unwrap().len(), 3);
    // The rendered prompt reached the provider.
    let sent = fake.requests();
    assert_eq!(sent.len(), 3);
    assert!(
        sent[0].body["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains("It crashes on export")
    );

    let logs = env.json(&["logs", "--json"]);
    let logs = logs.as_array().unwrap();
    assert_eq!(logs.len(), 3);
    assert!(
        logs.iter().all(|l| l["source"] == "compare"
            && l["success"] == true
            && l["prompt_id"].is_string())
    );
    let text = env.ok(&[
        "compare",
        "support-reply",
        "--model",
        "gpt-4o-mini",
        "--model",
        "demo/fast",
        "--var",
        "customer_name=Bo",
        "--var",
        "ticket=Hi",
    ]);
    assert!(
        text.contains("totals") && text.contains("demo/fast") && text.contains('$'),
        "{text}"
    );
}

#[test]
fn compare_refuses_a_row_with_missing_variables_before_calling_anything() {
    let (env, fake) = env_with_fake();
    let rows = env.write_str(
        "rows.jsonl",
        "{\"customer_name\": \"Ada\", \"ticket\": \"x\"}\n{\"customer_name\": \"Bo\"}\n",
    );
    let err = env.fails(&[
        "compare",
        "support-reply",
        "--model",
        "gpt-4o-mini",
        "--vars-file",
        &rows,
    ]);
    assert!(err.contains("variable set 2 is missing ticket"), "{err}");
    assert_eq!(fake.request_count(), 0);
    let bad = env.write_str("bad.jsonl", "{\"a\": 1}\nnot json\n");
    assert!(
        env.fails(&[
            "compare",
            "summarize",
            "--model",
            "demo/fast",
            "--vars-file",
            &bad
        ])
        .contains("bad.jsonl:2:")
    );
}

#[test]
fn run_and_chat_print_answers_and_footers() {
    let (env, fake) = env_with_fake();
    fake.push(Behavior::reply("Three bullets."));
    let out = env.run(
        &[
            "run",
            "summarize",
            "--var",
            "text=Some long text",
            "--tag",
            "team=docs",
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Three bullets."
    );
    let footer = String::from_utf8_lossy(&out.stderr);
    // Trace ids are 32 hex digits, as W3C and OpenTelemetry write them.
    let trace = footer.split("trace ").nth(1).unwrap_or("").trim();
    assert!(
        footer.contains("openai/gpt-4o-mini")
            && trace.len() == 32
            && trace.bytes().all(|b| b.is_ascii_hexdigit())
            && footer.contains('$'),
        "{footer}"
    );
    // Saved params went along.
    assert_eq!(fake.last_request().unwrap().body["max_tokens"], 400);

    fake.push(Behavior::Status {
        status: 429,
        message: "busy".into(),
        retry_after: None,
        retry_after_ms: Some(20),
    });
    fake.push(Behavior::chunks(
        ["streamed", " answer"],
        Duration::ZERO,
        Duration::from_millis(5),
    ));
    let json: Value =
        serde_json::from_str(&env.ok(&["chat", "--model", "gpt-4o-mini", "hello", "--json"]))
            .unwrap();
    assert_eq!(json["output"], "streamed answer");
    assert_eq!(json["info"]["retry_count"], 1);
    assert!(
        json["summary"]["usage"]["completion_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );

    let out = env.ok(&["chat", "--model", "demo/fast", "hi there"]);
    assert!(out.starts_with("[demo:fast]"), "{out}");

    let err = env.fails(&["chat", "--model", "anthropic/claude-haiku-4-5", "hi"]);
    assert!(
        err.contains("no virtual key for provider 'anthropic'") && err.contains("demo/small"),
        "{err}"
    );
    let err = env.fails(&[
        "run",
        "summarize",
        "--var",
        "text=x",
        "--config",
        &env.write_str("c.json", "{\"strategy\": 1}"),
    ]);
    assert!(err.contains("c.json"), "{err}");
}

#[test]
fn logs_filter_show_attempts_and_take_feedback() {
    let (env, fake) = env_with_fake();
    fake.push(Behavior::status(500, "flaky"));
    fake.push(Behavior::reply("fine"));
    let json: Value =
        serde_json::from_str(&env.ok(&["chat", "--model", "gpt-4o-mini", "hello", "--json"]))
            .unwrap();
    let trace = json["info"]["trace_id"].as_str().unwrap().to_owned();
    env.ok(&["chat", "--model", "demo/fast", "other"]);
    let all = env.json(&["logs", "--json"]);
    assert_eq!(all.as_array().unwrap().len(), 2);
    let only = env.json(&["logs", "--model", "gpt-4o-mini", "--json"]);
    assert_eq!(only.as_array().unwrap().len(), 1);
    let detail = env.ok(&["logs", "--trace", &trace]);
    assert!(
        detail.contains("#1 target 0")
            && detail.contains("→ 500")
            && detail.contains("#2 target 0"),
        "{detail}"
    );
    let table = env.ok(&["logs"]);
    assert!(
        table.contains("openai/gpt-4o-mini") && table.contains("demo/fast"),
        "{table}"
    );

    let out = env.ok(&["feedback", &trace, "-1", "--weight", "0.5"]);
    assert!(out.contains("recorded on trace"), "{out}");
    let detail = env.json(&["logs", "--trace", &trace, "--json"]);
    assert_eq!(detail["feedback"][0]["value"], -1);
    assert_eq!(detail["feedback"][0]["weight"], 0.5);
    assert!(
        env.fails(&["feedback", "trace_nope", "1"])
            .contains("no logged call has trace id 'trace_nope'")
    );
    assert!(env.fails(&["feedback", &trace, "42"]).contains("-10 to 10"));
    // The key's secret is nowhere in the logs.
    assert!(!env.ok(&["logs", "--trace", &trace, "--json"]).contains(KEY));
}
