//! Prompts with tools, schemas and images through the binary, on three wire formats at once
//! (OpenAI, Anthropic, Gemini, each a fake on 127.0.0.1): the tools, the image and the schema
//! reach each provider in its own format, a tool call is shown and checked against the tool's
//! schema, and simulated results carry a two-step exchange to the final answer on every model.

use fake_providers::{Behavior, FakeServer};
use serde_json::{Value, json};

use crate::support::Env;

const SECRET: &str = "sk-test-tools-0123456789abcdefghijklmnop";
/// A 1×1 PNG.
const PIXEL: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

const WEATHER: &str = r#"---
name: weather
model:
  id: gpt-4o-mini
  parameters:
    tools:
    - type: function
      function:
        name: get_weather
        description: The weather now in a city
        parameters:
          type: object
          properties:
            city:
              type: string
          required:
          - city
    tool_choice: auto
variables:
  photo:
    description: A photo of the sky
---
system:
You answer questions about the weather. Call get_weather for facts.

user:
Here is the sky:
![sky]({{photo}})
What is the weather in {{city}}?
"#;

struct Three {
    env: Env,
    fakes: [FakeServer; 3],
    models: [&'static str; 3],
}

fn three_providers() -> Three {
    let env = Env::new().with_master_key(&"ef".repeat(32));
    let fakes = [
        FakeServer::start_blocking(),
        FakeServer::start_blocking(),
        FakeServer::start_blocking(),
    ];
    for (fake, (name, provider, prefix)) in fakes.iter().zip([
        ("oa", "openai", "/v1"),
        ("an", "anthropic", ""),
        ("ge", "gemini", ""),
    ]) {
        fake.expect_key(SECRET);
        let base = format!("{}{prefix}", fake.base_url());
        env.ok_with_stdin(
            &[
                "keys",
                "add",
                name,
                "--provider",
                provider,
                "--base-url",
                &base,
            ],
            SECRET,
        );
    }
    Three {
        env,
        fakes,
        models: [
            "@oa/gpt-4o-mini",
            "@an/claude-sonnet-4-5",
            "@ge/gemini-2.5-flash",
        ],
    }
}

fn compare_args<'a>(t: &'a Three, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["compare", "weather"];
    for m in &t.models {
        args.extend(["--model", m]);
    }
    args.extend(extra);
    args.push("--json");
    args
}

#[test]
fn a_two_step_tool_exchange_reaches_the_final_answer_on_each_wire_format() {
    let t = three_providers();
    let file = t.env.write_str("weather.prompt.md", WEATHER);
    t.env.ok(&["prompts", "create", "weather", "--file", &file]);
    let sky = t.env.write("sky.png", "");
    std::fs::write(&sky, base64_decode(PIXEL)).unwrap();
    let photo = format!("photo={}", sky.display());
    for fake in &t.fakes {
        fake.push(Behavior::tool_call("get_weather", json!({"city": "Oslo"})));
        fake.push(Behavior::reply("It is 21 °C and clear in Oslo."));
    }
    let out = t.env.json(&compare_args(
        &t,
        &[
            "--var",
            &photo,
            "--var",
            "city=Oslo",
            "--tool-result",
            r#"get_weather=template:{"city": "{{city}}", "temp_c": 21}"#,
        ],
    ));
    let logs = t.env.json(&["logs", "--json", "--limit", "50"]);
    for (c, model) in t.models.iter().enumerate() {
        let cell = &out["cells"][0][c];
        assert!(cell["error"].is_null(), "{model}: {cell}");
        assert_eq!(cell["output"], "It is 21 °C and clear in Oslo.", "{model}");
        let step = &cell["steps"][0];
        assert_eq!(step["calls"][0]["name"], "get_weather", "{model}: {cell}");
        assert!(step["calls"][0]["problem"].is_null(), "{model}: {cell}");
        assert_eq!(
            step["results"][0]["content"], r#"{"city": "Oslo", "temp_c": 21}"#,
            "{model}"
        );
        assert!(cell["tool_calls"].as_array().is_none_or(Vec::is_empty));
        // Both steps are logged under the cell's one trace, and the cell's cost is their sum.
        let trace = cell["trace_id"].as_str().unwrap();
        let steps: Vec<&Value> = logs
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["trace_id"] == trace)
            .collect();
        assert_eq!(steps.len(), 2, "{model}: {logs}");
        let logged: f64 = steps.iter().filter_map(|l| l["cost_usd"].as_f64()).sum();
        let cost = cell["cost_usd"].as_f64().unwrap();
        assert!((cost - logged).abs() < 1e-12, "{model}: {cost} vs {logged}");
    }

    let sent = |i: usize| t.fakes[i].requests();
    let image = format!("data:image/png;base64,{PIXEL}");
    // OpenAI: function tools, an image_url part, then a `tool` message answering the call.
    let oa = sent(0);
    assert_eq!(oa.len(), 2);
    assert_eq!(oa[0].body["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(oa[0].body["tool_choice"], "auto");
    let parts = oa[0].body["messages"][1]["content"].as_array().unwrap();
    assert!(
        parts
            .iter()
            .any(|p| p["type"] == "image_url" && p["image_url"]["url"] == image.as_str()),
        "{parts:?}"
    );
    let msgs = oa[1].body["messages"].as_array().unwrap();
    let call_id = msgs[2]["tool_calls"][0]["id"].as_str().unwrap();
    assert_eq!(msgs[3]["role"], "tool");
    assert_eq!(msgs[3]["tool_call_id"], call_id);
    assert_eq!(msgs[3]["content"], r#"{"city": "Oslo", "temp_c": 21}"#);
    // Anthropic: tools with input_schema, a base64 image block, then a tool_result block.
    let an = sent(1);
    assert_eq!(an[0].body["tools"][0]["name"], "get_weather");
    assert_eq!(
        an[0].body["tools"][0]["input_schema"]["required"],
        json!(["city"])
    );
    let blocks = an[0].body["messages"][0]["content"].as_array().unwrap();
    assert!(
        blocks.iter().any(|b| b["type"] == "image"
            && b["source"]["type"] == "base64"
            && b["source"]["media_type"] == "image/png"
            && b["source"]["data"] == PIXEL),
        "{blocks:?}"
    );
    let last = an[1].body["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["role"], "user");
    assert_eq!(last["content"][0]["type"], "tool_result", "{last}");
    // Gemini: functionDeclarations, inlineData, then a functionResponse part.
    let ge = sent(2);
    assert_eq!(
        ge[0].body["tools"][0]["functionDeclarations"][0]["name"],
        "get_weather"
    );
    let parts = ge[0].body["contents"][0]["parts"].as_array().unwrap();
    assert!(
        parts.iter().any(|p| p["inlineData"]["mimeType"] == "image/png"
            && p["inlineData"]["data"] == PIXEL),
        "{parts:?}"
    );
    let contents = ge[1].body["contents"].as_array().unwrap();
    let response = contents
        .iter()
        .flat_map(|c| c["parts"].as_array().cloned().unwrap_or_default())
        .find(|p| p.get("functionResponse").is_some())
        .expect("a functionResponse part");
    assert_eq!(response["functionResponse"]["name"], "get_weather");
}

#[test]
fn invalid_arguments_are_flagged_and_calls_without_results_end_the_cell() {
    let t = three_providers();
    let file = t.env.write_str("weather.prompt.md", WEATHER);
    t.env.ok(&["prompts", "create", "weather", "--file", &file]);
    for fake in &t.fakes {
        fake.push(Behavior::tool_call("get_weather", json!({"town": "Oslo"})));
    }
    let out = t.env.json(&compare_args(
        &t,
        &[
            "--var",
            "photo=https://example.invalid/sky.png",
            "--var",
            "city=Oslo",
        ],
    ));
    for (c, model) in t.models.iter().enumerate() {
        let cell = &out["cells"][0][c];
        assert!(cell["error"].is_null(), "{model}: {cell}");
        assert!(cell["steps"].as_array().is_none_or(Vec::is_empty));
        let call = &cell["tool_calls"][0];
        assert_eq!(call["name"], "get_weather");
        let problem = call["problem"].as_str().unwrap_or_default();
        assert!(
            problem.contains("\"city\" is a required property"),
            "{model}: {call}"
        );
    }
    // `run` shows the call pretty-printed and flagged.
    t.fakes[0].push(Behavior::tool_call("get_weather", json!({"town": "Oslo"})));
    let text = t.env.ok(&[
        "run",
        "weather",
        "--model",
        "@oa/gpt-4o-mini",
        "--var",
        "photo=https://example.invalid/sky.png",
        "--var",
        "city=Oslo",
    ]);
    assert!(
        text.contains("→ get_weather {\n  \"town\": \"Oslo\"\n}")
            && text.contains("✗ invalid arguments"),
        "{text}"
    );
    // A tool-using `run` follows --config like any other and streams the text with --stream;
    // its steps are logged as the CLI's.
    t.fakes[0].push(Behavior::tool_call("get_weather", json!({"city": "Oslo"})));
    t.fakes[0].push(Behavior::reply("Clear in Oslo."));
    let config = t
        .env
        .write_str("cfg.json", r#"{"override_params": {"temperature": 0.25}}"#);
    let text = t.env.ok(&[
        "run",
        "weather",
        "--model",
        "@oa/gpt-4o-mini",
        "--var",
        "photo=https://example.invalid/sky.png",
        "--var",
        "city=Oslo",
        "--tool-result",
        r#"get_weather={"temp_c": 21}"#,
        "--config",
        &config,
        "--stream",
    ]);
    assert!(
        text.starts_with("Clear in Oslo.\n") && text.contains("← get_weather {\"temp_c\":21}"),
        "{text}"
    );
    let sent = t.fakes[0].requests();
    let last_two = &sent[sent.len() - 2..];
    assert!(
        last_two.iter().all(|r| r.body["temperature"] == 0.25),
        "{:?}",
        last_two
            .iter()
            .map(|r| &r.body["temperature"])
            .collect::<Vec<_>>()
    );
    let logs = t.env.json(&["logs", "--json", "--limit", "2"]);
    assert!(
        logs.as_array()
            .unwrap()
            .iter()
            .all(|l| l["source"] == "cli"),
        "{logs}"
    );
}

#[test]
fn structured_output_reaches_each_provider_in_its_format() {
    let t = three_providers();
    let schema = json!({"type": "object", "properties": {"answer": {"type": "string"}},
        "required": ["answer"], "additionalProperties": false});
    let text = format!(
        "---\nname: reply\nmodel:\n  id: gpt-4o-mini\n  parameters:\n    response_format:\n      type: json_schema\n      json_schema:\n        name: reply\n        schema: {schema}\n---\nuser:\nSay hi as JSON.\n"
    );
    let file = t.env.write_str("reply.prompt.md", &text);
    t.env.ok(&["prompts", "create", "reply", "--file", &file]);
    for fake in &t.fakes {
        fake.push(Behavior::reply(r#"{"answer": "hi"}"#));
    }
    let mut args = vec!["compare", "reply"];
    for m in &t.models {
        args.extend(["--model", *m]);
    }
    args.push("--json");
    let out = t.env.json(&args);
    for c in 0..3 {
        assert_eq!(out["cells"][0][c]["output"], r#"{"answer": "hi"}"#);
    }
    let first = |i: usize| t.fakes[i].requests()[0].body.clone();
    assert_eq!(first(0)["response_format"]["json_schema"]["schema"], schema);
    assert_eq!(first(1)["output_config"]["format"]["schema"], schema);
    let config = &first(2)["generationConfig"];
    assert_eq!(config["responseMimeType"], "application/json");
    assert!(
        config
            .get("responseJsonSchema")
            .or(config.get("responseSchema"))
            .is_some(),
        "{config}"
    );

    // A schema that is not a schema is refused at save time, with where it breaks.
    let broken = text.replace("type\":\"string", "type\":\"strng");
    let file = t.env.write_str("broken.prompt.md", &broken);
    let err = t.env.fails(&["prompts", "save", "reply", "--file", &file]);
    assert!(
        err.contains("response_format.json_schema.schema at /properties/answer/type"),
        "{err}"
    );
}

#[test]
fn an_eval_file_grades_tool_use_and_the_final_answer_on_each_model() {
    let t = three_providers();
    let text = WEATHER.replace(
        "    tool_choice: auto\n",
        "    tool_choice: auto\n    response_format:\n      type: json_schema\n      json_schema:\n        name: report\n        schema: {\"type\": \"object\", \"required\": [\"temp_c\"]}\n",
    );
    let file = t.env.write_str("weather.prompt.md", &text);
    t.env.ok(&["prompts", "create", "weather", "--file", &file]);
    let eval = format!(
        r#"name: weather-tools
prompts: [weather]
models: ["{}", "{}", "{}"]
rows:
  - {{vars: {{city: Oslo, photo: "https://example.invalid/sky.png"}}}}
assert:
  - {{type: tool-called, value: {{name: get_weather, times: 1, arguments: {{path: $.city, equals: Oslo}}}}}}
  - {{type: tool-args-valid}}
  - {{type: final-json-schema}}
tools:
  results:
    get_weather: {{fixed: {{temp_c: 21}}}}
  max_steps: 3
"#,
        t.models[0], t.models[1], t.models[2]
    );
    let path = t.env.write_str("weather.eval.yaml", &eval);
    // Column 1 answers well; column 2 calls with bad arguments, then answers; column 3 ends
    // with prose instead of JSON.
    t.fakes[0].push(Behavior::tool_call("get_weather", json!({"city": "Oslo"})));
    t.fakes[0].push(Behavior::reply(r#"{"temp_c": 21}"#));
    t.fakes[1].push(Behavior::tool_call("get_weather", json!({"town": "Oslo"})));
    t.fakes[1].push(Behavior::reply(r#"{"temp_c": 21}"#));
    t.fakes[2].push(Behavior::tool_call("get_weather", json!({"city": "Oslo"})));
    t.fakes[2].push(Behavior::reply("It is 21 degrees."));
    let out = t
        .env
        .run(&["eval", "run", "--file", &path, "--json", "--yes"], "");
    let e: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|err| panic!("{err}: {}", String::from_utf8_lossy(&out.stderr)));
    let verdicts = |c: usize| -> Vec<Option<bool>> {
        let cell = e["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["column"] == c)
            .unwrap();
        cell["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["pass"].as_bool())
            .collect()
    };
    assert_eq!(verdicts(0), [Some(true), Some(true), Some(true)], "{e}");
    assert_eq!(verdicts(1), [Some(false), Some(false), Some(true)], "{e}");
    assert_eq!(verdicts(2), [Some(true), Some(true), Some(false)], "{e}");
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}
