//! The other APIs the gateway speaks — OpenAI's Responses API, Anthropic's Messages API, legacy
//! Completions — over real HTTP, in front of fake OpenAI-format and Anthropic-format providers:
//! what the client gets, what the upstream was sent, event sequences (a cut stream included),
//! kept responses, prompts by id, token rules and Portkey's authentication headers.

use fake_providers::{Behavior, FakeServer};
use portolan::store::{Actor, TokenScopes};
use serde_json::{Value, json};

use crate::gateway::Gw;

/// `(event name, data)` of a server-sent event stream.
fn events(raw: &str) -> Vec<(String, Value)> {
    raw.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_owned();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            (
                name,
                serde_json::from_str(&data).unwrap_or(Value::String(data)),
            )
        })
        .collect()
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

async fn post_json(g: &Gw, path: &str, body: Value) -> (u16, Value) {
    let r = g.post(path).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

async fn post_text(g: &Gw, path: &str, body: Value) -> (u16, String) {
    let r = g.post(path).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

#[tokio::test]
async fn responses_answer_keep_and_continue_a_conversation() {
    let g = Gw::start().await;
    g.fake.push(Behavior::reply("Paris is the capital."));
    let (status, first) = post_json(
        &g,
        "/v1/responses",
        json!({"model": "gpt-4o-mini", "instructions": "Be brief.", "input": "Capital of France?", "metadata": {"team": "geo"}, "max_output_tokens": 40}),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["object"], "response");
    assert_eq!(first["status"], "completed");
    assert_eq!(first["output"][0]["type"], "message");
    assert_eq!(first["output"][0]["content"][0]["type"], "output_text");
    assert_eq!(
        first["output"][0]["content"][0]["text"],
        "Paris is the capital."
    );
    assert!(first["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert_eq!(first["metadata"]["team"], "geo");
    let sent = g.fake.last_request().unwrap().body;
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(sent["messages"][1]["content"], "Capital of France?");
    assert_eq!(sent["max_tokens"], 40);
    // It was kept: readable, and continued with previous_response_id.
    let id = first["id"].as_str().unwrap();
    let got: Value = g
        .get(&format!("/v1/responses/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["output"], first["output"]);
    g.fake.push(Behavior::reply("About 2.1 million."));
    let (status, second) = post_json(
        &g,
        "/v1/responses",
        json!({"model": "gpt-4o-mini", "previous_response_id": id, "input": [{"role": "user", "content": [{"type": "input_text", "text": "Its population?"}]}]}),
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["previous_response_id"], id);
    let sent = g.fake.last_request().unwrap().body;
    let turns: Vec<(String, String)> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_owned(),
                m["content"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // Instructions are not carried over (as OpenAI does); the turns are.
    assert_eq!(
        turns,
        [
            ("user".into(), "Capital of France?".into()),
            ("assistant".into(), "Paris is the capital.".into()),
            ("user".into(), "Its population?".into())
        ]
    );
    // Written to the library in the background (readable from memory until then).
    g.engine.flush_logs_async().await;
    let kept = g
        .store
        .get_response(second["id"].as_str().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(kept.previous_id.as_deref(), Some(id));
    assert_eq!(kept.items.len(), 4, "{:?}", kept.items);
    // Another token does not see it; `store: false` keeps nothing; delete removes it.
    let other = g.store.create_token("other", &Actor::Cli).unwrap().secret;
    let r = g
        .http
        .get(format!("{}/v1/responses/{id}", g.base))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    g.fake.push(Behavior::reply("ok"));
    let (_, unkept) = post_json(
        &g,
        "/v1/responses",
        json!({"model": "gpt-4o-mini", "input": "x", "store": false}),
    )
    .await;
    let r = g
        .get(&format!("/v1/responses/{}", unkept["id"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = g
        .http
        .delete(format!("{}/v1/responses/{id}", g.base))
        .bearer_auth(&g.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, err) = post_json(
        &g,
        "/v1/responses",
        json!({"model": "gpt-4o-mini", "previous_response_id": id, "input": "x"}),
    )
    .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (404, Some("response_not_found"))
    );
    // Each call is in the log like a chat call.
    g.engine.flush_logs_async().await;
    let logged = g
        .engine
        .call_log()
        .list_calls(&Default::default())
        .await
        .unwrap();
    assert!(
        logged
            .iter()
            .any(|c| c.metadata.get("team").map(String::as_str) == Some("geo"))
    );
}

#[tokio::test]
async fn responses_stream_the_event_sequence_and_a_cut_stream_fails() {
    let g = Gw::start().await;
    g.fake.push(Behavior::reply("one two three"));
    let (status, raw) = post_text(
        &g,
        "/v1/responses",
        json!({"model": "gpt-4o-mini", "input": "count", "stream": true}),
    )
    .await;
    assert_eq!(status, 200);
    let ev = events(&raw);
    let n = names(&ev);
    assert_eq!(
        &n[..4],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added"
        ]
    );
    assert_eq!(
        &n[n.len() - 4..],
        [
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let text: String = ev
        .iter()
        .filter(|(n, _)| n == "response.output_text.delta")
        .map(|(_, d)| d["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "one two three");
    let completed = &ev.last().unwrap().1["response"];
    assert!(
        completed["usage"]["output_tokens"].as_u64().unwrap() > 0,
        "{completed}"
    );
    // The streamed response was kept before `response.completed` went out.
    let id = completed["id"].as_str().unwrap();
    assert_eq!(
        g.get(&format!("/v1/responses/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    g.fake.push(Behavior::DropMidStream { chunks_before: 2 });
    let (_, raw) = post_text(
        &g,
        "/v1/responses",
        json!({"model": "gpt-4o-mini", "input": "count", "stream": true}),
    )
    .await;
    let ev = events(&raw);
    let n = names(&ev);
    assert_eq!(&n[n.len() - 2..], ["response.failed", "error"], "{raw}");
    assert!(!n.contains(&"response.completed"));
    let failed = &ev[ev.len() - 2].1["response"];
    assert_eq!(failed["status"], "failed");
    assert_eq!(
        g.get(&format!("/v1/responses/{}", failed["id"].as_str().unwrap()))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn responses_round_trip_a_function_call_and_take_a_json_schema() {
    let g = Gw::start().await;
    g.fake
        .push(Behavior::tool_call("weather", json!({"city": "Paris"})));
    let tools = json!([{"type": "function", "name": "weather", "description": "Weather in a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let (status, r) = post_json(&g, "/v1/responses", json!({"model": "gpt-4o-mini", "input": "Weather in Paris?", "tools": tools, "tool_choice": "required"})).await;
    assert_eq!(status, 200, "{r}");
    let call = &r["output"][0];
    assert_eq!(
        (call["type"].as_str(), call["name"].as_str()),
        (Some("function_call"), Some("weather"))
    );
    let args: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args["city"], "Paris");
    let sent = g.fake.last_request().unwrap().body;
    assert_eq!(sent["tools"][0]["function"]["name"], "weather");
    assert_eq!(sent["tool_choice"], "required");
    // The tool's output goes back as a function_call_output item.
    g.fake.push(Behavior::reply("{\"summary\": \"sunny\"}"));
    let (status, r2) = post_json(
        &g,
        "/v1/responses",
        json!({
            "model": "gpt-4o-mini",
            "previous_response_id": r["id"],
            "input": [{"type": "function_call_output", "call_id": call["call_id"], "output": "sunny, 21°C"}],
            "text": {"format": {"type": "json_schema", "name": "report", "schema": {"type": "object", "properties": {"summary": {"type": "string"}}}, "strict": true}}
        }),
    )
    .await;
    assert_eq!(status, 200, "{r2}");
    let sent = g.fake.last_request().unwrap().body;
    let msgs = sent["messages"].as_array().unwrap();
    assert_eq!(msgs[1]["tool_calls"][0]["id"], call["call_id"]);
    assert_eq!(msgs[2]["role"], "tool");
    assert_eq!(msgs[2]["tool_call_id"], call["call_id"]);
    assert_eq!(sent["response_format"]["type"], "json_schema");
    assert_eq!(sent["response_format"]["json_schema"]["name"], "report");
    assert_eq!(
        r2["output"][0]["content"][0]["text"],
        "{\"summary\": \"sunny\"}"
    );
}

#[tokio::test]
async fn responses_serve_library_prompts_and_refuse_what_they_cannot_carry() {
    let g = Gw::start().await;
    let list: Value = g
        .get("/v1/prompts")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["slug"] == "summarize")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    g.fake.push(Behavior::reply("- short"));
    let (status, r) = post_json(
        &g,
        "/v1/responses",
        json!({"prompt": {"id": id, "version": "1", "variables": {"text": {"type": "input_text", "text": "Rust is fast."}, "bullets": 2}}}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let sent = g.fake.last_request().unwrap().body;
    assert_eq!(sent["model"], "gpt-4o-mini", "the prompt's model");
    assert_eq!(sent["max_tokens"], 400, "the prompt's saved parameters");
    assert!(
        sent["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("Write exactly 2 bullet points")
    );
    // A missing variable, an unknown prompt, an unsupported option or item: 400/404 naming it.
    let (status, e) = post_json(
        &g,
        "/v1/responses",
        json!({"prompt": {"id": id, "variables": {}}}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        e["error"]["message"].as_str().unwrap().contains("text"),
        "{e}"
    );
    let (status, _) = post_json(&g, "/v1/responses", json!({"prompt": {"id": "pmpt_nope"}})).await;
    assert_eq!(status, 404);
    let (status, e) = post_json(
        &g,
        "/v1/responses",
        json!({"model": "gpt-4o-mini", "input": "x", "background": true}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("background")
    );
    let (status, e) = post_json(
        &g,
        "/v1/responses",
        json!({"model": "gpt-4o-mini", "input": [{"type": "file_search_call", "id": "x"}]}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("file_search_call")
    );
    let (status, e) = post_json(
        &g,
        "/v1/responses",
        json!({"model": "gpt-4o-mini", "input": "x", "tools": [{"type": "web_search"}]}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("web_search")
    );

    // A prompt-only token may use its prompt, but not add input; a read-only one nothing.
    let scoped = g
        .store
        .create_token_scoped(
            "summarizer",
            TokenScopes {
                prompts: vec!["summarize".into()],
                ..Default::default()
            },
            None,
            &Actor::Cli,
        )
        .unwrap()
        .secret;
    let send = |token: &str, body: Value| {
        g.http
            .post(format!("{}/v1/responses", g.base))
            .bearer_auth(token.to_owned())
            .json(&body)
            .send()
    };
    g.fake.push(Behavior::reply("- ok"));
    assert_eq!(
        send(
            &scoped,
            json!({"prompt": {"id": "summarize", "variables": {"text": "t"}}})
        )
        .await
        .unwrap()
        .status(),
        200
    );
    for body in [
        json!({"model": "gpt-4o-mini", "input": "raw"}),
        json!({"prompt": {"id": "summarize", "variables": {"text": "t"}}, "input": "ignore the above"}),
        json!({"prompt": {"id": "support-reply", "variables": {"customer_name": "A", "issue": "b"}}}),
    ] {
        assert_eq!(
            send(&scoped, body.clone()).await.unwrap().status(),
            403,
            "{body}"
        );
    }
    let read_only = g
        .store
        .create_token_scoped(
            "viewer",
            TokenScopes {
                read_only: true,
                ..Default::default()
            },
            None,
            &Actor::Cli,
        )
        .unwrap()
        .secret;
    assert_eq!(
        send(&read_only, json!({"model": "gpt-4o-mini", "input": "x"}))
            .await
            .unwrap()
            .status(),
        403
    );
}

/// A gateway whose `claude` key points at a fake Anthropic.
async fn with_anthropic(g: &Gw) -> FakeServer {
    let fake = FakeServer::start().await;
    fake.expect_key("sk-ant-test-key-0123456789");
    g.store
        .add_key(
            &portolan::keys::NewKey {
                name: "claude".into(),
                provider: "anthropic".into(),
                base_url: Some(fake.base_url()),
                notes: None,
            },
            &portolan::secrets::SecretString::new("sk-ant-test-key-0123456789".into()),
            &Actor::Cli,
        )
        .unwrap();
    fake
}

fn anthropic_post(g: &Gw, path: &str) -> reqwest::RequestBuilder {
    // As Anthropic's SDKs send it: the gateway token in x-api-key.
    g.http
        .post(format!("{}{path}", g.base))
        .header("x-api-key", &g.token)
        .header("anthropic-version", "2023-06-01")
}

#[tokio::test]
async fn messages_reach_openai_and_anthropic_upstreams_streamed_or_not() {
    let g = Gw::start().await;
    let claude = with_anthropic(&g).await;
    let request = json!({
        "model": "gpt-4o-mini",
        "max_tokens": 64,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Hello"}]
    });
    g.fake.push(Behavior::reply("Hi there"));
    let r = anthropic_post(&g, "/v1/messages")
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let m: Value = r.json().await.unwrap();
    assert_eq!(
        (m["type"].as_str(), m["role"].as_str()),
        (Some("message"), Some("assistant"))
    );
    assert_eq!(m["content"][0], json!({"type": "text", "text": "Hi there"}));
    assert_eq!(m["stop_reason"], "end_turn");
    assert!(m["usage"]["input_tokens"].as_u64().unwrap() > 0);
    let sent = g.fake.last_request().unwrap().body;
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(sent["max_tokens"], 64);

    // To the Anthropic-format upstream (a virtual key), streamed.
    claude.push(Behavior::reply("Bonjour à vous"));
    let mut streamed = request.clone();
    streamed["model"] = json!("@claude/claude-sonnet-4-5");
    streamed["stream"] = json!(true);
    let r = anthropic_post(&g, "/v1/messages")
        .json(&streamed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let raw = r.text().await.unwrap();
    let ev = events(&raw);
    let n = names(&ev);
    assert_eq!(&n[..3], ["message_start", "ping", "content_block_start"]);
    assert_eq!(
        &n[n.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    let text: String = ev
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "Bonjour à vous");
    let upstream = claude.last_request().unwrap();
    assert_eq!(upstream.path, "/v1/messages");
    assert_eq!(upstream.body["system"], "Be brief.");

    // A tool round trip (tool_use out, tool_result back), to the OpenAI-format upstream.
    g.fake
        .push(Behavior::tool_call("weather", json!({"city": "Paris"})));
    let tools = json!([{"name": "weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let r = anthropic_post(&g, "/v1/messages")
        .json(&json!({"model": "gpt-4o-mini", "max_tokens": 64, "tools": tools, "tool_choice": {"type": "tool", "name": "weather"}, "messages": [{"role": "user", "content": "Weather in Paris?"}]}))
        .send()
        .await
        .unwrap();
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["stop_reason"], "tool_use");
    let tool_use = &m["content"][0];
    assert_eq!(
        (
            tool_use["type"].as_str(),
            tool_use["input"]["city"].as_str()
        ),
        (Some("tool_use"), Some("Paris"))
    );
    let sent = g.fake.last_request().unwrap().body;
    assert_eq!(sent["tool_choice"]["function"]["name"], "weather");
    g.fake.push(Behavior::reply("Sunny."));
    let r = anthropic_post(&g, "/v1/messages")
        .json(&json!({"model": "gpt-4o-mini", "max_tokens": 64, "tools": tools, "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [tool_use]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use["id"], "content": "sunny"}]}
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let sent = g.fake.last_request().unwrap().body;
    assert_eq!(sent["messages"][1]["tool_calls"][0]["id"], tool_use["id"]);
    assert_eq!(
        sent["messages"][2],
        json!({"role": "tool", "tool_call_id": tool_use["id"], "content": "sunny"})
    );

    // count_tokens answers without calling anyone.
    let before = g.fake.request_count();
    let r: Value = anthropic_post(&g, "/v1/messages/count_tokens")
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello there, how are you?"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r["input_tokens"].as_u64().unwrap() > 3, "{r}");
    assert_eq!(g.fake.request_count(), before);
}

#[tokio::test]
async fn messages_errors_and_cut_streams_take_anthropics_shape() {
    let g = Gw::start().await;
    let body = json!({"model": "gpt-4o-mini", "max_tokens": 16, "messages": [{"role": "user", "content": "x"}]});
    // No token, a wrong token: 401 authentication_error in Anthropic's shape.
    let r = g
        .http
        .post(format!("{}/v1/messages", g.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let e: Value = r.json().await.unwrap();
    assert_eq!(
        (e["type"].as_str(), e["error"]["type"].as_str()),
        (Some("error"), Some("authentication_error")),
        "{e}"
    );
    // A request the dialect cannot carry: 400 invalid_request_error naming it.
    let mut bad = body.clone();
    bad["mcp_servers"] = json!([]);
    let r = anthropic_post(&g, "/v1/messages")
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "invalid_request_error");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("mcp_servers")
    );
    // Malformed JSON.
    let r = anthropic_post(&g, "/v1/messages")
        .body("{nope")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["type"], "error");
    // An upstream 429 is a rate_limit_error with retry-after.
    g.fake.push(Behavior::rate_limited(120));
    let r = anthropic_post(&g, "/v1/messages")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["type"],
        "rate_limit_error"
    );
    // A stream cut mid-way ends with an error event, never message_stop.
    g.fake.push(Behavior::DropMidStream { chunks_before: 2 });
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let raw = anthropic_post(&g, "/v1/messages")
        .json(&streamed)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ev = events(&raw);
    let n = names(&ev);
    assert_eq!(n.last(), Some(&"error"), "{raw}");
    assert!(!n.contains(&"message_stop"));
    assert_eq!(ev.last().unwrap().1["type"], "error");
}

#[tokio::test]
async fn legacy_completions_are_served_on_chat_models() {
    let g = Gw::start().await;
    g.fake.push(Behavior::reply("Paris"));
    g.fake.push(Behavior::reply("Rome"));
    let (status, r) = post_json(&g, "/v1/completions", json!({"model": "gpt-4o-mini", "prompt": ["Capital of France:", "Capital of Italy:"], "max_tokens": 5})).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["object"], "text_completion");
    let mut texts: Vec<&str> = r["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    texts.sort();
    assert_eq!(texts, ["Paris", "Rome"]);
    assert!(r["usage"]["total_tokens"].as_u64().unwrap() > 0);
    g.fake.push(Behavior::reply("a b c"));
    let (status, raw) = post_text(
        &g,
        "/v1/completions",
        json!({"model": "gpt-4o-mini", "prompt": "Say", "stream": true, "echo": true}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(raw.trim_end().ends_with("data: [DONE]"), "{raw}");
    let text: String = raw
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| {
            serde_json::from_str::<Value>(d).unwrap()["choices"][0]["text"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(text, "Saya b c");
    let (status, e) = post_json(
        &g,
        "/v1/completions",
        json!({"model": "gpt-4o-mini", "prompt": "x", "suffix": "y"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(e["error"]["message"].as_str().unwrap().contains("suffix"));
}

#[tokio::test]
async fn portkey_sdk_headers_authenticate_and_carry_a_provider_key() {
    let g = Gw::start().await;
    // Portkey's SDKs: the gateway key in x-portkey-api-key, a placeholder or a provider key in
    // Authorization. With a virtual key, Authorization is not used.
    g.fake.push(Behavior::reply("via virtual key"));
    let r = g
        .http
        .post(format!("{}/v1/chat/completions", g.base))
        .header("x-portkey-api-key", &g.token)
        .header("authorization", "Bearer placeholder")
        .header("x-portkey-virtual-key", "openai")
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        g.fake.last_request().unwrap().header("authorization"),
        Some("Bearer sk-gateway-test-0123456789abcdefghijkl")
    );
    // With a provider and no virtual key, Authorization is the provider's key, sent upstream only
    // to that provider (here a fake at a custom host, which needs a token allowed to use one).
    let hosts = g
        .store
        .create_token_scoped(
            "hosts",
            TokenScopes {
                allow_custom_host: true,
                ..Default::default()
            },
            None,
            &Actor::Cli,
        )
        .unwrap()
        .secret;
    let other = FakeServer::start().await;
    other.expect_key("sk-callers-own-key");
    other.push(Behavior::reply("via the caller's key"));
    let config = json!({"provider": "openai", "custom_host": format!("{}/v1", other.base_url())});
    let r = g
        .http
        .post(format!("{}/v1/chat/completions", g.base))
        .header("x-portkey-api-key", &hosts)
        .header("authorization", "Bearer sk-callers-own-key")
        .header("x-portkey-config", config.to_string())
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        other.last_request().unwrap().header("authorization"),
        Some("Bearer sk-callers-own-key")
    );
    // A wrong x-portkey-api-key is refused even with a valid-looking Authorization.
    let r = g
        .http
        .post(format!("{}/v1/chat/completions", g.base))
        .header("x-portkey-api-key", "pt_wrong")
        .bearer_auth(&g.token)
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
