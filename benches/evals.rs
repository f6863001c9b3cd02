//! Evaluation figures. Prints; asserts nothing.
//!
//! - Deterministic checks: `contains` (with a variable), `regex` and `json-schema` on typical
//!   answers, one thread: checks per second.
//! - An experiment of 1,000 rows × 4 columns × 3 checks (4,000 cells) on the demo provider's
//!   `demo/fast` model and on a fast fake upstream on 127.0.0.1: wall time and cells per second.
//! - The runner's cost per cell: the same cells one at a time through `Engine::chat` (streamed,
//!   read to the end) and through an experiment with one call in flight; the difference per cell
//!   is the runner's and the checks'.
//! - Memory: the process's resident size after each of five repeated 4,000-cell runs.
//! - Tool use: tool calls checked against their schemas per second, the tool evaluators per
//!   second, and an experiment whose cells run a two-step tool exchange (demo/fast calls the
//!   tool, a simulated result goes back, it answers) against the same prompt without tools.
//!
//! `cargo bench --bench evals`; `PORTOLAN_BENCH_ROWS` sets the rows (default 1000).

use std::sync::Arc;
use std::time::Instant;

use fake_providers::{Behavior, FakeServer};
use futures_util::StreamExt;
use portolan::chat::ChatRequest;
use portolan::datasets::Row;
use portolan::evals::assertions::{Assertion, AssertionSpec, CellView};
use portolan::evals::experiment::{self, ColumnSpec, ExperimentSpec};
use portolan::keys::NewKey;
use portolan::prompts::VersionSelector;
use portolan::routing::{CallBody, CallOptions, Engine, EngineSettings};
use portolan::secrets::SecretString;
use portolan::store::Actor;
use portolan::{Store, StoreOptions};
use serde_json::json;

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn assertions() -> Vec<AssertionSpec> {
    let mut len = AssertionSpec::new("length", None);
    len.max = Some(2000);
    vec![
        AssertionSpec::new("icontains", Some(json!("{{topic}}"))),
        AssertionSpec::new("regex", Some(json!(r"(?i)\b(demo|reply|ok)\b"))),
        len,
    ]
}

fn rows(n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| Row {
            vars: json!({"text": format!("Row {i}: the shipment of order {i} is late."), "topic": "order"})
                .as_object()
                .unwrap()
                .clone(),
            ..Default::default()
        })
        .collect()
}

fn spec(model: &str, rows: Vec<Row>, concurrency: usize) -> ExperimentSpec {
    let columns = (0..4)
        .map(|i| ColumnSpec {
            prompt: "bench".into(),
            version: None,
            model: Some(model.into()),
            params: json!({"temperature": i as f64 / 10.0})
                .as_object()
                .unwrap()
                .clone(),
        })
        .collect();
    ExperimentSpec {
        name: "bench".into(),
        columns,
        rows,
        assertions: assertions(),
        per_provider_concurrency: concurrency,
        ..Default::default()
    }
}

fn main() {
    let n_rows: usize = std::env::var("PORTOLAN_BENCH_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);

    // Deterministic checks, one thread.
    let compiled: Vec<Assertion> = assertions()
        .iter()
        .chain(std::iter::once(&AssertionSpec::new(
            "json-schema",
            Some(json!({"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}})),
        )))
        .map(|s| Assertion::compile(s).expect("compiles"))
        .collect();
    let vars = json!({"topic": "order"}).as_object().unwrap().clone();
    let outputs = [
        "Your order is on its way; the carrier reports a delay of two days.",
        "{\"city\": \"Paris\", \"country\": \"France\"}",
        "I am sorry, I cannot find that shipment. Could you send the order number?",
    ];
    let checks = 300_000;
    let started = Instant::now();
    let mut passed = 0usize;
    for i in 0..checks {
        let a = &compiled[i % compiled.len()];
        let v = a.check(&CellView::of_text(
            outputs[i % outputs.len()],
            &vars,
            None,
            10,
            Some(0.0),
        ));
        passed += usize::from(v.pass == Some(true));
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "deterministic checks (contains with a variable, regex, length, json-schema): {:.0} checks/s on one thread ({passed} of {checks} passed)",
        checks as f64 / secs
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(
        Store::open_with(
            dir.path(),
            StoreOptions {
                seed_samples: false,
                use_keyring: false,
                master_key: Some("ab".repeat(32)),
            },
        )
        .expect("store"),
    );
    let prompt = portolan::prompt_file::parse(
        "---\nname: bench\nmodel:\n  id: demo/fast\n---\nuser:\nSummarise: {{text}}\n",
        std::path::Path::new("bench.prompt.md"),
    )
    .expect("prompt");
    store
        .create_prompt("bench", &prompt.content, None, &Actor::Cli)
        .expect("create");
    let fake = rt.block_on(FakeServer::start());
    fake.set_default(Behavior::reply("ok, your order reply"));
    fake.set_recording(false);
    store
        .add_key(
            &NewKey {
                name: "openai".into(),
                provider: "openai".into(),
                base_url: Some(format!("{}/v1", fake.base_url())),
                notes: None,
            },
            &SecretString::new("sk-bench-0000000000000000".into()),
            &Actor::Cli,
        )
        .expect("key");
    let engine = Engine::with_settings(store.clone(), EngineSettings::default()).expect("engine");

    for (label, model) in [
        ("demo/fast", "demo/fast"),
        ("a fake upstream on 127.0.0.1", "gpt-4o-mini"),
    ] {
        let cells = n_rows * 4;
        let started = Instant::now();
        let e = rt.block_on(async {
            let plan = experiment::plan(&engine, spec(model, rows(n_rows), 16))
                .await
                .expect("plan");
            experiment::run(&engine, plan, None).await.expect("run")
        });
        let secs = started.elapsed().as_secs_f64();
        let errors: usize = e.summary.columns.iter().map(|c| c.errors).sum();
        println!(
            "experiment on {label}: {n_rows} rows × 4 columns × 3 checks = {cells} cells in {secs:.2} s ({:.0} cells/s, {errors} failed calls)",
            cells as f64 / secs
        );
    }

    // The runner's and the checks' cost per cell: one call at a time, straight through the engine
    // and as an experiment.
    let sequential = 400.min(n_rows);
    let direct = rt.block_on(async {
        let rendered = engine
            .catalog()
            .render("bench", &VersionSelector::Latest, &rows(1)[0].vars)
            .await
            .expect("render");
        let started = Instant::now();
        for _ in 0..sequential {
            let request = ChatRequest {
                model: "gpt-4o-mini".into(),
                messages: rendered
                    .messages
                    .iter()
                    .map(|m| portolan::chat::ChatMessage::new(m.role.as_str(), m.content.clone()))
                    .collect(),
                stream: Some(true),
                ..Default::default()
            };
            let call = engine
                .chat(request, CallOptions::default())
                .await
                .expect("call");
            if let CallBody::Stream(mut s) = call.body {
                while s.next().await.is_some() {}
            }
        }
        started.elapsed().as_secs_f64()
    });
    let mut one_column = spec("gpt-4o-mini", rows(sequential), 1);
    one_column.columns.truncate(1);
    let through_runner = rt.block_on(async {
        let plan = experiment::plan(&engine, one_column).await.expect("plan");
        let started = Instant::now();
        experiment::run(&engine, plan, None).await.expect("run");
        started.elapsed().as_secs_f64()
    });
    println!(
        "per cell, one call in flight: engine.chat {:.3} ms, as an experiment cell {:.3} ms → the runner and 3 checks add {:.3} ms",
        direct * 1000.0 / sequential as f64,
        through_runner * 1000.0 / sequential as f64,
        (through_runner - direct) * 1000.0 / sequential as f64
    );

    // Memory across repeated runs.
    let mut sizes = Vec::new();
    for _ in 0..5 {
        rt.block_on(async {
            let plan = experiment::plan(&engine, spec("gpt-4o-mini", rows(n_rows), 16))
                .await
                .expect("plan");
            experiment::run(&engine, plan, None).await.expect("run");
        });
        engine.flush_logs();
        sizes.push(format!("{:.0}", rss_mb()));
    }
    println!(
        "resident memory after each of 5 runs of {} cells: {} MB",
        n_rows * 4,
        sizes.join(", ")
    );

    tool_use(&rt, &engine, &store, n_rows);
}

fn tool_use(rt: &tokio::runtime::Runtime, engine: &Engine, store: &Store, n_rows: usize) {
    use portolan::chat::{FunctionCall, ToolCall};
    use portolan::tools::{ToolSchemas, parse_tools, simulate::ToolSimulation};
    let tools = parse_tools(
        &json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"},
            "unit": {"type": "string", "enum": ["c", "f"]}}, "required": ["city"],
            "additionalProperties": false}}}]),
    )
    .expect("tools");
    let schemas = ToolSchemas::new(&tools);
    let calls: Vec<ToolCall> = [
        r#"{"city":"Oslo","unit":"c"}"#,
        r#"{"town":"Oslo"}"#,
        "{city",
    ]
    .iter()
    .map(|a| ToolCall {
        id: "c".into(),
        kind: "function".into(),
        function: FunctionCall {
            name: "get_weather".into(),
            arguments: (*a).into(),
        },
    })
    .collect();
    let n = 300_000;
    let started = Instant::now();
    let mut invalid = 0usize;
    for i in 0..n {
        invalid += usize::from(schemas.check(&calls[i % calls.len()]).problem.is_some());
    }
    println!(
        "tool calls checked against their schema: {:.0} calls/s on one thread ({invalid} of {n} invalid)",
        n as f64 / started.elapsed().as_secs_f64()
    );
    let checked: Vec<_> = calls.iter().map(|c| schemas.check(c)).collect();
    let evaluators: Vec<Assertion> = [
        json!({"type": "tool-called", "value": {"name": "get_weather", "arguments": {"path": "$.city", "equals": "Oslo"}}}),
        json!({"type": "tool-args-valid"}),
        json!({"type": "final-json-schema", "value": {"type": "object", "required": ["temp_c"]}}),
    ]
    .into_iter()
    .map(|v| Assertion::compile(&serde_json::from_value::<AssertionSpec>(v).unwrap()).unwrap())
    .collect();
    let vars = serde_json::Map::new();
    let view = CellView {
        output: r#"{"temp_c": 21}"#,
        vars: &vars,
        expected: None,
        latency_ms: 1,
        cost_usd: None,
        steps: &[],
        tool_calls: &checked[..1],
        response_schema: None,
    };
    let started = Instant::now();
    for i in 0..n {
        std::hint::black_box(evaluators[i % evaluators.len()].check(&view));
    }
    println!(
        "tool evaluators (tool-called with an argument path, tool-args-valid, final-json-schema): {:.0} checks/s on one thread",
        n as f64 / started.elapsed().as_secs_f64()
    );

    let text = "---\nname: weather\nmodel:\n  id: demo/fast\n  parameters:\n    tools:\n    - type: function\n      function:\n        name: get_weather\n        parameters:\n          type: object\n          properties:\n            city:\n              type: string\n          required: [city]\n---\nuser:\nWhat is the weather in {{text}}?\n";
    let prompt = portolan::prompt_file::parse(text, std::path::Path::new("weather.prompt.md"))
        .expect("prompt");
    store
        .create_prompt("weather", &prompt.content, None, &Actor::Cli)
        .expect("create");
    let mut simulation = ToolSimulation::default();
    simulation
        .parse_cli(r#"get_weather=template:{"city": "{{city}}", "temp_c": 21}"#)
        .expect("simulation");
    for (label, prompt, tools) in [
        (
            "without tools (bench prompt)",
            "bench",
            ToolSimulation::default(),
        ),
        ("with a two-step tool exchange", "weather", simulation),
    ] {
        let columns = ["demo/fast", "demo/fast"]
            .iter()
            .map(|m| ColumnSpec {
                prompt: prompt.into(),
                version: None,
                model: Some((*m).into()),
                params: Default::default(),
            })
            .collect();
        let spec = ExperimentSpec {
            name: "tools".into(),
            columns,
            rows: rows(n_rows),
            per_provider_concurrency: 16,
            tools,
            ..Default::default()
        };
        let started = Instant::now();
        let e = rt.block_on(async {
            let plan = experiment::plan(engine, spec).await.expect("plan");
            experiment::run(engine, plan, None).await.expect("run")
        });
        let secs = started.elapsed().as_secs_f64();
        let steps: usize = e.cells.iter().map(|c| c.steps.len() + 1).sum();
        println!(
            "experiment {label} on demo/fast: {} cells, {steps} model calls in {secs:.2} s ({:.0} cells/s)",
            e.cells.len(),
            e.cells.len() as f64 / secs
        );
    }
}
