//! The commands layer without a window: a throwaway data directory and the demo provider.

use super::*;

fn desktop() -> (tempfile::TempDir, Desktop) {
    let dir = tempfile::tempdir().unwrap();
    // SAFETY-free: only this test binary's process environment, set before any thread reads it.
    let d = Desktop::open(Some(dir.path())).unwrap();
    (dir, d)
}

fn draft(system: &str, user: &str) -> PromptDraft {
    PromptDraft {
        description: Some("test".into()),
        model: Some("demo/fast".into()),
        params_json: "{\"temperature\": 0.2}".into(),
        variables: vec![VariableDto {
            name: "tone".into(),
            description: None,
            default_json: Some("\"kind\"".into()),
        }],
        messages: vec![
            MessageDto::text("system", system),
            MessageDto::text("user", user),
        ],
    }
}

#[test]
fn prompts_versions_preview_and_diff() {
    let (_dir, d) = desktop();
    assert!(
        d.list_prompts()
            .unwrap()
            .iter()
            .any(|p| p.slug == "summarize"),
        "samples are seeded"
    );
    let created = d
        .create_prompt("qa", &draft("Be {{tone}}.", "{{q}}"), Some("first"))
        .unwrap();
    assert_eq!(created.version, 1);
    let same = d
        .save_prompt("qa", &draft("Be {{tone}}.", "{{q}}"), None)
        .unwrap();
    assert!(!same.created);
    let v2 = d
        .save_prompt("qa", &draft("Be very {{tone}}.", "{{q}}"), Some("second"))
        .unwrap();
    assert_eq!((v2.version, v2.created), (2, true));
    let v = d.get_version("qa", None).unwrap();
    assert_eq!(v.variables_used, ["tone", "q"]);
    assert_eq!(
        v.draft.variables[0].default_json.as_deref(),
        Some("\"kind\"")
    );
    assert!(v.file_text.starts_with("---\nname: qa\n"));
    assert_eq!(d.list_versions("qa").unwrap().len(), 2);
    let diff = d.diff("qa", 1, 2).unwrap();
    assert!(diff.changed);
    assert!(
        diff.sections[1]
            .words
            .iter()
            .any(|w| w.tag == "insert" && w.text.contains("very"))
    );
    let preview = d
        .preview(
            "qa",
            &draft("Be {{tone}}!", "{{q}}"),
            serde_json::json!({"q": "why"}).as_object().unwrap(),
        )
        .unwrap();
    assert_eq!(preview.messages[0].content, "Be kind!");
    let err = d
        .preview("qa", &draft("Be {{tone", "{{q}}"), &Map::new())
        .unwrap_err();
    assert_eq!(err.kind, "template_syntax");
    assert!(err.message.contains("line 1, column 4"), "{}", err.message);
    let err = d
        .preview("qa", &draft("Be {{tone}}", "{{q}}"), &Map::new())
        .unwrap_err();
    assert_eq!(err.message, "missing template variables: q");
    let mut bad = draft("x", "y");
    bad.params_json = "{nope".into();
    assert_eq!(
        d.save_prompt("qa", &bad, None).unwrap_err().kind,
        "invalid_params"
    );
    d.set_label("qa", 1, "production").unwrap();
    assert_eq!(
        d.list_prompts()
            .unwrap()
            .iter()
            .find(|p| p.slug == "qa")
            .unwrap()
            .labels[0]
            .version,
        1
    );
    assert!(
        d.store()
            .audit_entries(20)
            .unwrap()
            .iter()
            .any(|e| e.actor == "app" && e.action == "prompt.save")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_streams_events_and_logs_every_cell() {
    let (_dir, d) = desktop();
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = events.clone();
    let request = CompareRequest {
        prompt: "summarize".into(),
        version: None,
        models: vec!["demo/fast".into(), "demo/small".into(), "demo/large".into()],
        variable_sets: vec![
            serde_json::json!({"text": "Portolan keeps prompts local."})
                .as_object()
                .unwrap()
                .clone(),
        ],
        concurrency: 4,
        tools: None,
    };
    let result = d
        .run_compare(request, move |batch| sink.lock().unwrap().extend(batch))
        .await
        .unwrap();
    assert_eq!(result.cells[0].len(), 3);
    assert!(
        result.cells[0].iter().all(|c| c.error.is_none()
            && c.cost_usd.unwrap() > 0.0
            && c.output.starts_with("[demo:"))
    );
    let events = events.lock().unwrap().clone();
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, CompareEventDto::Finished { .. }))
            .count(),
        3
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, CompareEventDto::Delta { .. }))
    );
    let logs = d.list_logs(&LogQuery::default()).unwrap();
    assert_eq!(logs.len(), 3);
    let detail = d.get_log(&logs[0].id).unwrap();
    assert!(detail.request.unwrap().contains("\"messages\""));
    d.feedback(&logs[0].trace_id, 1).unwrap();
    assert_eq!(d.get_log(&logs[0].id).unwrap().feedback, [1]);
    assert_eq!(d.cost_by_day(7).unwrap()[0].calls, 3);
    assert_eq!(d.latency_by_model(7).unwrap().len(), 3);
    let err = d
        .run_compare(
            CompareRequest {
                prompt: "summarize".into(),
                version: None,
                models: vec![],
                variable_sets: vec![],
                concurrency: 1,
                tools: None,
            },
            |_| {},
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, "invalid_compare");
}

#[test]
fn cloud_keys_take_their_fields_and_keep_them_when_rotated() {
    let (_dir, d) = desktop();
    let aws = |secret: &str, region: Option<&str>| NewKeyDto {
        name: "aws".into(),
        provider: "bedrock".into(),
        base_url: None,
        notes: None,
        secret: format!(
            r#"{{"access_key_id": "AKIAFAKEEXAMPLE12345", "secret_access_key": "{secret}"}}"#
        ),
        region: region.map(Into::into),
        location: None,
        project: None,
        secret_file: None,
    };
    let err = d.add_key(&aws("s3cr3t-value", None)).unwrap_err();
    assert!(err.message.contains("no AWS region"), "{}", err.message);
    let key = d.add_key(&aws("s3cr3t-value", Some("eu-west-3"))).unwrap();
    assert_eq!(key.mask, "AKI…2345 (eu-west-3)");
    d.rotate_key(
        "aws",
        r#"{"access_key_id": "AKIAFAKEEXAMPLE99999", "secret_access_key": "new-secret"}"#,
    )
    .unwrap();
    let listed = d.list_keys().unwrap();
    assert_eq!(listed[0].mask, "AKI…9999 (eu-west-3)", "the region is kept");
    assert!(
        !serde_json::to_string(&listed)
            .unwrap()
            .contains("new-secret")
    );
    let vertex = providers().into_iter().find(|p| p.id == "vertex").unwrap();
    assert_eq!(vertex.credentials, "service_account");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_write_only_and_the_gateway_switches() {
    let (_dir, d) = desktop();
    let key = d
        .add_key(&NewKeyDto {
            name: "local".into(),
            provider: "ollama".into(),
            base_url: Some("http://127.0.0.1:9/v1".into()),
            notes: None,
            secret: "".into(),
            region: None,
            location: None,
            project: None,
            secret_file: None,
        })
        .unwrap();
    assert_eq!(key.provider, "ollama");
    let test = d.test_key("local", Some("llama3")).await.unwrap();
    assert!(
        !test.ok && test.message.contains("could not connect"),
        "{}",
        test.message
    );
    let added = d
        .add_key(&NewKeyDto {
            name: "oa".into(),
            provider: "openai".into(),
            base_url: None,
            notes: None,
            secret: "sk-abcdefghijklmnopqrstuvwxyz123456".into(),
            region: None,
            location: None,
            project: None,
            secret_file: None,
        })
        .unwrap();
    assert_eq!(added.mask, "sk-…3456");
    assert!(
        !serde_json::to_string(&d.list_keys().unwrap())
            .unwrap()
            .contains("abcdefghijkl")
    );
    d.remove_key("oa").unwrap();
    assert!(
        d.list_models()
            .await
            .unwrap()
            .iter()
            .any(|m| m.id == "demo/small" && m.demo)
    );

    let status = d.gateway_start(0).await.unwrap();
    assert!(status.running);
    let url = status.url.clone().unwrap();
    let token = d.create_token("app").unwrap();
    let body = r#"{"model":"demo/fast","messages":[{"role":"user","content":"hi"}]}"#;
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .to_owned();
    let reply = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            c,
            "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut s = String::new();
        c.read_to_string(&mut s).unwrap();
        s
    })
    .await
    .unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert_eq!(d.gateway_status().await.unwrap().requests, 1);
    assert!(!d.gateway_stop().await.unwrap().running);
}

#[tokio::test]
async fn a_budget_crossing_its_alert_threshold_reaches_the_window() {
    use portolan::store::{BudgetUnit, Period};
    let (_dir, d) = desktop();
    d.create_token("ci").unwrap();
    let token = d
        .store()
        .list_tokens()
        .unwrap()
        .into_iter()
        .find(|t| t.name == "ci")
        .unwrap();
    let subject = Subject {
        kind: SubjectKind::Token,
        id: token.id.clone(),
        name: token.name.clone(),
    };
    d.store()
        .set_budget(
            &subject,
            BudgetUnit::Tokens,
            10_000.0,
            Period::Daily,
            Some(0.000_1),
            &Actor::App,
        )
        .unwrap();
    let mut alerts = d.budget_alerts();
    let request = ChatRequest {
        model: "demo/fast".into(),
        messages: vec![ChatMessage::new("user", "hello there")],
        max_tokens: Some(50),
        ..Default::default()
    };
    let options = CallOptions {
        token: Some(subject),
        ..Default::default()
    };
    d.engine.chat(request, options).await.unwrap();
    let alert = alerts.next().await.unwrap();
    assert_eq!(
        (alert.kind.as_str(), alert.name.as_str()),
        ("gateway token", "ci")
    );
    assert_eq!(alert.unit, "tokens");
    assert!(alert.spent > 0.0 && alert.limit == 10_000.0, "{alert:?}");
    assert!(
        alert.message.starts_with("gateway token 'ci' has used")
            && alert.message.contains("of 10000 tokens"),
        "{}",
        alert.message
    );
}

/// Writes a generated file of the UI's bindings, unless it already holds `text`.
fn write_binding(name: &str, text: String) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../ui/src/bindings")
        .join(name);
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(&path, text).unwrap();
    }
}

/// The key form's provider list and the name rule are generated from the engine, like the
/// TypeScript types (`./test` fails when the committed copies are stale).
#[test]
fn export_provider_registry_and_name_rule() {
    write_binding(
        "providers.json",
        serde_json::to_string_pretty(&providers()).unwrap() + "\n",
    );
    let rules = serde_json::json!({
        "slug_pattern": portolan::ids::SLUG_PATTERN,
        "slug_rule": portolan::ids::SLUG_RULE,
    });
    write_binding(
        "rules.json",
        serde_json::to_string_pretty(&rules).unwrap() + "\n",
    );
    assert!(
        providers()
            .iter()
            .any(|p| p.id == "openai" && p.needs_secret)
    );
    assert!(providers().iter().all(|p| p.id != "demo"));
}

fn rows(questions: &[&str]) -> Vec<portolan::datasets::Row> {
    questions
        .iter()
        .map(|q| portolan::datasets::Row {
            vars: serde_json::json!({"q": q}).as_object().unwrap().clone(),
            ..Default::default()
        })
        .collect()
}

fn column(version: &str) -> portolan::evals::experiment::ColumnSpec {
    portolan::evals::experiment::ColumnSpec {
        prompt: "qa".into(),
        version: Some(version.into()),
        model: Some("demo/fast".into()),
        params: Default::default(),
    }
}

fn qa_prompts(d: &Desktop) {
    d.create_prompt("qa", &draft("Be {{tone}}.", "{{q}}"), None)
        .unwrap();
    d.save_prompt("qa", &draft("Be {{tone}}.", "Answer: {{q}}"), None)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datasets_experiments_history_and_rows_from_calls() {
    let (dir, d) = desktop();
    qa_prompts(&d);
    let saved = d
        .save_dataset("qs", &rows(&["a b", "c d", "e f"]), Some("first"))
        .unwrap();
    assert_eq!((saved.version, saved.created), (1, true));
    assert!(
        !d.save_dataset("qs", &rows(&["a b", "c d", "e f"]), None)
            .unwrap()
            .created
    );
    assert_eq!(d.list_datasets().unwrap()[0].rows, 3);
    // Files in and out.
    let csv = dir.path().join("more.csv");
    std::fs::write(&csv, "q,expected\nhello,hi\n").unwrap();
    let read = d.read_dataset_file(csv.to_str().unwrap()).unwrap();
    assert_eq!(read[0].vars["q"], "hello");
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "q\na\nb,c\n").unwrap();
    assert!(
        d.read_dataset_file(bad.to_str().unwrap())
            .unwrap_err()
            .message
            .contains("bad.csv:3")
    );
    let out = dir.path().join("qs.jsonl");
    assert_eq!(
        d.export_dataset("qs", None, out.to_str().unwrap()).unwrap(),
        3
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 3);
    // Assertions are checked as they are typed.
    use portolan::evals::assertions::AssertionSpec;
    let bad_regex = AssertionSpec::new("regex", Some(serde_json::json!("(")));
    assert!(
        d.check_assertion(&bad_regex)
            .unwrap_err()
            .message
            .contains("invalid pattern")
    );
    let contains = AssertionSpec::new("not-contains", Some(serde_json::json!("Answer")));
    d.check_assertion(&contains).unwrap();
    // Plan and run two versions on the dataset.
    let request = ExperimentRequest {
        name: Some("qa check".into()),
        columns: vec![column("1"), column("2")],
        dataset: Some("qs".into()),
        dataset_version: None,
        rows: vec![],
        assertions: vec![contains],
        gates: vec![],
        repeats: 1,
        baseline: 0,
        judge_model: None,
        concurrency: 4,
        tools: None,
    };
    let plan = d.plan_experiment(&request).await.unwrap();
    assert_eq!((plan.calls, plan.judge_calls), (6, 0));
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = events.clone();
    let e = d
        .run_experiment(&request, move |batch| sink.lock().unwrap().extend(batch))
        .await
        .unwrap();
    assert!(!e.id.is_empty() && !e.cancelled);
    assert_eq!(e.summary.columns[0].pass_rate.mean, 1.0);
    assert_eq!(e.summary.columns[1].pass_rate.mean, 0.0);
    assert_eq!(
        e.summary.comparisons[0].finding,
        portolan::evals::stats::Finding::Worse,
        "every row fails on version 2"
    );
    let events = events.lock().unwrap().clone();
    let evaluated = events
        .iter()
        .filter(|e| matches!(e, ExperimentEventDto::Evaluated { .. }))
        .count();
    assert_eq!(evaluated, 6);
    assert!(events.iter().any(|e| matches!(
        e,
        ExperimentEventDto::Cell { event: CompareEventDto::Finished { cell }, .. } if cell.row < 3
    )));
    // History, a version's latest eval, the diff.
    assert_eq!(d.list_experiments().unwrap()[0].id, e.id);
    assert_eq!(d.get_experiment(&e.id).unwrap().cells.len(), 6);
    let evals = d.version_evals("qa").unwrap();
    assert_eq!(
        evals
            .iter()
            .map(|v| (v.version, v.pass_rate))
            .collect::<Vec<_>>(),
        [(1, 1.0), (2, 0.0)]
    );
    assert!(d.diff_experiments(&e.id, &e.id).unwrap().is_empty());
    // The experiment's calls carry their variables: they can become rows.
    let logs = d.list_logs(&LogQuery::default()).unwrap();
    let ids: Vec<String> = logs.iter().take(2).map(|l| l.id.clone()).collect();
    let rows = d.rows_from_calls(&ids, true).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].vars.contains_key("q"));
    assert!(
        rows[0]
            .expected
            .as_ref()
            .unwrap()
            .as_str()
            .unwrap()
            .starts_with("[demo:fast]")
    );
    // Invalid input is refused before anything runs.
    let mut missing = request.clone();
    missing.dataset = None;
    missing.rows = vec![portolan::datasets::Row::default()];
    let err = d.plan_experiment(&missing).await.unwrap_err();
    assert!(err.message.contains("the variable 'q'"), "{}", err.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_an_experiment_keeps_the_cells_that_finished() {
    let (_dir, d) = desktop();
    qa_prompts(&d);
    let qs: Vec<String> = (0..12).map(|i| format!("question {i}")).collect();
    let refs: Vec<&str> = qs.iter().map(String::as_str).collect();
    let mut slow = column("1");
    slow.model = Some("demo/large".into());
    let request = ExperimentRequest {
        name: None,
        columns: vec![slow],
        dataset: None,
        dataset_version: None,
        rows: rows(&refs),
        assertions: vec![],
        gates: vec![],
        repeats: 1,
        baseline: 0,
        judge_model: None,
        concurrency: 1,
        tools: None,
    };
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let runner = d.clone();
    let run = tokio::spawn(async move {
        runner
            .run_experiment(&request, move |batch| {
                for e in batch {
                    if matches!(e, ExperimentEventDto::Evaluated { .. }) {
                        let _ = seen_tx.send(());
                    }
                }
            })
            .await
    });
    seen_rx.recv().await.unwrap();
    d.cancel_compare();
    let e = run.await.unwrap().unwrap();
    assert!(e.cancelled);
    assert!(
        !e.cells.is_empty() && e.cells.len() < 12,
        "{} cells",
        e.cells.len()
    );
    assert!(e.cells.iter().all(|c| c.error.is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_label_gate_refuses_a_regression_and_an_override_is_audited() {
    let (_dir, d) = desktop();
    qa_prompts(&d);
    d.save_dataset("qs", &rows(&["a b", "c d"]), None).unwrap();
    d.set_label("qa", 1, "production").unwrap();
    d.save_eval(
        "qa-check",
        "prompts: [qa]\nmodels: [demo/fast]\ndataset: qs\nassert:\n  - type: not-contains\n    value: Answer\n    gate: pass_rate >= 0.9\n",
    )
    .unwrap();
    assert_eq!(d.list_evals().unwrap()[0].name, "qa-check");
    let outcome = d
        .set_label_gated("qa", 2, "production", "qa-check")
        .await
        .unwrap();
    assert!(!outcome.allowed);
    assert_eq!(outcome.regressed.len(), 2, "{:?}", outcome.regressed);
    assert!(
        outcome.failed_gates[0].contains("pass_rate >= 0.9"),
        "{:?}",
        outcome.failed_gates
    );
    let label = |d: &Desktop| {
        d.list_prompts()
            .unwrap()
            .iter()
            .find(|p| p.slug == "qa")
            .unwrap()
            .labels[0]
            .version
    };
    assert_eq!(label(&d), 1, "the label stayed");
    assert!(
        d.set_label_override("qa", 2, "production", "qa-check", "  ")
            .is_err()
    );
    d.set_label_override("qa", 2, "production", "qa-check", "hotfix, checked by hand")
        .unwrap();
    assert_eq!(label(&d), 2);
    let audit = d.store().audit_entries(10).unwrap();
    let o = audit.iter().find(|e| e.action == "label.override").unwrap();
    assert!(
        o.details.to_string().contains("hotfix, checked by hand"),
        "{:?}",
        o.details
    );
    // Back to the good version: the gate allows it.
    let back = d
        .set_label_gated("qa", 1, "production", "qa-check")
        .await
        .unwrap();
    assert!(back.allowed, "{back:?}");
    assert_eq!(label(&d), 1);
}

#[test]
fn drafts_keep_tool_calls_and_parameters_are_checked_as_typed() {
    let (_dir, d) = desktop();
    let mut draft = draft("You help with {{tone}} weather.", "Weather in {{city}}?");
    draft.params_json = r#"{"tools": [{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]}"#
        .into();
    draft.messages.push(MessageDto {
        tool_calls: vec![portolan::message::ToolCallTemplate {
            id: "call_1".into(),
            name: "get_weather".into(),
            arguments: r#"{"city": "{{city}}"}"#.into(),
        }],
        ..MessageDto::text("assistant", "")
    });
    draft.messages.push(MessageDto {
        tool_call_id: Some("call_1".into()),
        ..MessageDto::text("tool", r#"{"temp_c": 21}"#)
    });
    d.create_prompt("weather", &draft, None).unwrap();
    let v = d.get_version("weather", None).unwrap();
    assert_eq!(v.draft.messages, draft.messages);
    assert!(
        v.file_text.contains("tool_call call_1 get_weather:"),
        "{}",
        v.file_text
    );
    // The tools editor's inline check names where a schema breaks.
    let e = d
        .check_params(r#"{"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"x": {"type": "strng"}}}}}]}"#)
        .unwrap_err();
    assert!(
        e.message
            .contains("tools[0].function.parameters at /properties/x/type"),
        "{}",
        e.message
    );
    d.check_params(&draft.params_json).unwrap();
    // Images: a file becomes a data URL; anything else is refused with the reason.
    let png = _dir.path().join("dot.png");
    std::fs::write(&png, [0x89, b'P', b'N', b'G']).unwrap();
    assert!(
        d.image_data_url(png.to_str().unwrap())
            .unwrap()
            .starts_with("data:image/png;base64,")
    );
    let e = d.image_data_url("/etc/hostname").unwrap_err();
    assert!(e.message.contains("not a PNG"), "{}", e.message);
}
