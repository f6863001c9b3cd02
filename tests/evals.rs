//! Evaluations through the CLI, against fake providers on 127.0.0.1: datasets from JSONL, CSV,
//! promptfoo YAML and the call log; gates and exit codes; JUnit; judges that answer verdicts and
//! judges that answer garbage; pairwise in both orders; repeats and flaky rows; reproducible
//! intervals; the label gate; invalid input refused before any call; bundles carrying datasets
//! and eval files.

use std::collections::BTreeMap;
use std::path::Path;

use fake_providers::{Behavior, FakeServer};
use serde_json::Value;

use crate::support::Env;

const SECRET: &str = "sk-evals-test-0123456789abcdef";
const JUDGE_SECRET: &str = "sk-judge-test-0123456789abcdef";

/// A library with the key `openai` on a fake OpenAI (whose default reply repeats the first
/// words of the request: "Fake reply to: …"), the key `judge` on a second fake for judges, and
/// the prompt `order` (user message `{{q}}`, on gpt-4o-mini).
struct Lab {
    env: Env,
    fake: FakeServer,
    judge: FakeServer,
}

fn lab() -> Lab {
    let env = Env::new();
    let fake = FakeServer::start_blocking();
    fake.expect_key(SECRET);
    let judge = FakeServer::start_blocking();
    judge.expect_key(JUDGE_SECRET);
    for (name, server, secret) in [("openai", &fake, SECRET), ("judge", &judge, JUDGE_SECRET)] {
        env.ok_with_stdin(
            &[
                "keys",
                "add",
                name,
                "--provider",
                "openai",
                "--base-url",
                &format!("{}/v1", server.base_url()),
            ],
            secret,
        );
    }
    save_prompt(&env, "{{q}}");
    Lab { env, fake, judge }
}

fn save_prompt(env: &Env, user: &str) {
    let text = format!(
        "---\nname: order\nmodel:\n  id: gpt-4o-mini\nvariables:\n  q:\n    description: The question\n---\nuser:\n{user}\n"
    );
    let file = env.write_str("order.prompt.md", &text);
    if env.run(&["prompts", "show", "order"], "").status.success() {
        env.ok(&["prompts", "save", "order", "--file", &file]);
    } else {
        env.ok(&["prompts", "create", "order", "--file", &file]);
    }
}

fn dataset(env: &Env, name: &str, questions: &[&str]) -> String {
    let rows: String = questions
        .iter()
        .map(|q| format!("{}\n", serde_json::json!({"q": q})))
        .collect();
    let file = env.write_str(&format!("{name}-{}.jsonl", questions.len()), &rows);
    if env.run(&["datasets", "show", name], "").status.success() {
        env.ok(&["datasets", "add", name, "--replace", "--file", &file]);
    } else {
        env.ok(&["datasets", "create", name, "--file", &file]);
    }
    file
}

/// Runs `portolan eval …`: exit code, stdout, stderr.
fn eval(env: &Env, args: &[&str]) -> (i32, String, String) {
    let mut full = vec!["eval"];
    full.extend_from_slice(args);
    let out = env.run(&full, "");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

fn eval_json(env: &Env, args: &[&str]) -> (i32, Value) {
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let (code, stdout, stderr) = eval(env, &with_json);
    let v = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\n{stderr}"));
    (code, v)
}

fn pass_rate(e: &Value, column: usize) -> f64 {
    e["summary"]["columns"][column]["pass_rate"]["mean"]
        .as_f64()
        .unwrap()
}

#[test]
fn a_regex_gate_fails_on_one_dataset_version_and_passes_on_the_next() {
    let l = lab();
    dataset(
        &l.env,
        "orders",
        &["hello there", "good morning", "thanks a lot"],
    );
    let args = [
        "run",
        "--prompt",
        "order",
        "--dataset",
        "orders",
        "--assert",
        r"regex=\d{5}",
        "--gate",
        "pass_rate>=0.9",
    ];
    let junit = l.env.home().join("results.xml");
    let mut with_junit = args.to_vec();
    with_junit.extend(["--junit", junit.to_str().unwrap()]);
    let (code, e) = eval_json(&l.env, &with_junit);
    assert_eq!(code, 1, "a failed gate exits 1");
    assert_eq!(pass_rate(&e, 0), 0.0);
    assert_eq!(e["summary"]["passed"], false);
    assert_eq!(e["dataset"]["version"], 1);
    // The JUnit file parses and names the failing rows.
    let check = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, xml.etree.ElementTree as E\n\
             t = E.parse(sys.argv[1]).getroot()\n\
             fails = [c.get('name') for c in t.iter('testcase') if c.find('failure') is not None]\n\
             print(t.get('tests'), t.get('failures'))\n\
             print('\\n'.join(fails))",
        )
        .arg(&junit)
        .output()
        .unwrap();
    let parsed = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let mut lines = parsed.lines();
    assert_eq!(lines.next(), Some("3 3"));
    let names: Vec<&str> = lines.collect();
    assert!(
        names[0].starts_with("row 1: ") && names[0].contains("hello there"),
        "{names:?}"
    );
    // Version 2 of the dataset: every answer repeats an order number.
    dataset(
        &l.env,
        "orders",
        &["order 12345 late", "order 55555 lost", "order 77777 ok"],
    );
    let (code, e) = eval_json(&l.env, &args);
    assert_eq!(code, 0, "every gate holds");
    assert_eq!(pass_rate(&e, 0), 1.0);
    assert_eq!(e["dataset"]["version"], 2);
    // Both runs are saved; the diff shows the rows that changed.
    let list = l.env.json(&["eval", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (newer, older) = (
        list[0]["id"].as_str().unwrap(),
        list[1]["id"].as_str().unwrap(),
    );
    let (_, shown, _) = eval(&l.env, &["show", newer]);
    assert!(shown.contains("every gate holds"), "{shown}");
    let (code, diff, _) = eval(&l.env, &["diff", older, newer]);
    assert_eq!(code, 0);
    assert!(
        diff.contains("no row changed"),
        "rows differ between versions, so none match: {diff}"
    );
}

#[test]
fn invalid_input_is_refused_before_any_call_with_exit_code_2() {
    let l = lab();
    let file = l.env.write_str(
        "rows.jsonl",
        "{\"q\": \"fine\"}\n{\"question\": \"wrong name\"}\n{\"other\": 1}\n",
    );
    l.env.ok(&["datasets", "create", "bad", "--file", &file]);
    let (code, _, stderr) = eval(
        &l.env,
        &[
            "run",
            "--prompt",
            "order",
            "--dataset",
            "bad",
            "--assert",
            "contains=x",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("rows 2, 3 lack the variable 'q'"),
        "{stderr}"
    );
    for bad in ["regex=(", "contian=x", "json-schema={\"type\": 12}"] {
        let (code, _, stderr) = eval(
            &l.env,
            &[
                "run",
                "--prompt",
                "order",
                "--dataset",
                "bad",
                "--assert",
                bad,
            ],
        );
        assert_eq!(code, 2, "{bad}: {stderr}");
    }
    let ragged = l
        .env
        .write_str("rows.csv", "q,expected\nhello,hi\nhow,are,you\n");
    let out = l
        .env
        .run(&["datasets", "create", "ragged", "--file", &ragged], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rows.csv:3: this row has 3 fields"));
    // A run its key's budget could not pay for, or above the confirmation amount, is refused.
    dataset(&l.env, "good", &["fine"]);
    let run = [
        "run",
        "--prompt",
        "order",
        "--dataset",
        "good",
        "--assert",
        "contains=x",
    ];
    l.env
        .ok(&["keys", "budget", "openai", "--usd", "0.0000001"]);
    let (code, _, stderr) = eval(&l.env, &run);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("on key 'openai', which has $0.0000 of its budget left"),
        "{stderr}"
    );
    l.env.ok(&["keys", "budget", "openai", "--usd", "100"]);
    l.env
        .ok(&["settings", "set", "eval_confirm_above_usd", "0"]);
    let (code, _, stderr) = eval(&l.env, &run);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("run again with --yes") && stderr.contains("estimated cost at most $"),
        "{stderr}"
    );
    assert_eq!(l.fake.request_count(), 0, "nothing was called");
    let mut confirmed = run.to_vec();
    confirmed.push("--yes");
    let (code, _, stderr) = eval(&l.env, &confirmed);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(l.fake.request_count(), 1);
}

#[test]
fn judges_grade_with_verdicts_and_a_garbage_verdict_is_an_error_never_a_pass() {
    let l = lab();
    dataset(&l.env, "qs", &["where is my order", "cancel it please"]);
    let args = [
        "run",
        "--prompt",
        "order",
        "--dataset",
        "qs",
        "--judge",
        "The answer is polite.",
        "--judge-model",
        "@judge/gpt-4o-mini",
    ];
    l.judge.set_default(Behavior::reply(
        "{\"reason\": \"Polite and clear.\", \"pass\": true}",
    ));
    let (code, e) = eval_json(&l.env, &args);
    assert_eq!(code, 0);
    assert_eq!(pass_rate(&e, 0), 1.0);
    let verdict = &e["cells"][0]["verdicts"][0];
    assert_eq!(
        (verdict["pass"].as_bool(), verdict["reason"].as_str()),
        (Some(true), Some("Polite and clear."))
    );
    // The judge saw the rubric and the answer it grades.
    let sent = l.judge.last_request().unwrap().body;
    let user = sent["messages"][1]["content"].as_str().unwrap();
    assert!(
        user.contains("The answer is polite.") && user.contains("Fake reply to:"),
        "{user}"
    );
    // Judging is costed apart from the outputs.
    let col = &e["summary"]["columns"][0];
    assert!(col["judge_cost_usd"].as_f64().unwrap() > 0.0, "{col}");
    assert!(col["cost_usd"].as_f64().unwrap() > 0.0, "{col}");
    // A judge that answers garbage: error cells, never a pass.
    l.judge.set_default(Behavior::reply("PASS"));
    let (code, e) = eval_json(&l.env, &args);
    assert_eq!(code, 0, "no gate, so no failure exit");
    assert_eq!(pass_rate(&e, 0), 0.0);
    let verdict = &e["cells"][0]["verdicts"][0];
    assert!(verdict["pass"].is_null(), "{verdict}");
    assert!(
        verdict["error"]
            .as_str()
            .unwrap()
            .contains("not the JSON object"),
        "{verdict}"
    );
    assert_eq!(e["summary"]["columns"][0]["assertions"][0]["errors"], 2);
}

#[test]
fn pairwise_is_judged_in_both_orders_so_a_position_bias_is_a_tie() {
    let l = lab();
    dataset(&l.env, "qs", &["where is my order", "cancel it please"]);
    save_prompt(&l.env, "Please answer kindly: {{q}}");
    // This judge always prefers the second answer it is shown.
    l.judge.set_default(Behavior::reply(
        "{\"reason\": \"B reads better.\", \"winner\": \"B\"}",
    ));
    let file = l.env.write_str(
        "pair.eval.yaml",
        "name: pair\nprompts: [order@1, order@2]\ndataset: qs\njudge_model: '@judge/gpt-4o-mini'\nassert:\n  - type: pairwise\n    value: Which answer is kinder?\n",
    );
    let (code, e) = eval_json(&l.env, &["run", "--file", &file]);
    assert_eq!(code, 0);
    // Column 2 against the baseline: "B" in both orders is once each side — a tie per row.
    let v = &e["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == 1)
        .unwrap()["verdicts"][0];
    assert_eq!(v["score"], 0.5, "{v}");
    assert!(v["reason"].as_str().unwrap().contains("disagreed"), "{v}");
    // Two judge calls per row, each order once.
    let judged: Vec<String> = l
        .judge
        .requests()
        .iter()
        .map(|r| {
            r.body["messages"][1]["content"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(judged.len(), 4);
    let baseline_first = judged
        .iter()
        .filter(|t| {
            t.contains("Answer A:\nFake reply to: where")
                || t.contains("Answer A:\nFake reply to: cancel")
        })
        .count();
    let candidate_first = judged
        .iter()
        .filter(|t| t.contains("Answer A:\nFake reply to: Please"))
        .count();
    assert_eq!(
        (baseline_first, candidate_first),
        (2, 2),
        "each row is judged once with each answer first: {judged:?}"
    );
    // The baseline column has no pairwise verdict of its own.
    let base = &e["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == 0)
        .unwrap()["verdicts"][0];
    assert!(base["pass"].is_null() && base["error"].is_null(), "{base}");
}

#[test]
fn repeats_flag_a_flaky_row_and_intervals_are_reproducible_with_a_seed() {
    let l = lab();
    dataset(&l.env, "one", &["order status"]);
    for reply in ["order 12345", "no idea", "order 12345", "no idea"] {
        l.fake.push(Behavior::reply(reply));
    }
    let (_, e) = eval_json(
        &l.env,
        &[
            "run",
            "--prompt",
            "order",
            "--dataset",
            "one",
            "--assert",
            r"regex=\d{5}",
            "--repeats",
            "4",
        ],
    );
    assert_eq!(e["cells"].as_array().unwrap().len(), 4);
    assert_eq!(e["summary"]["flaky"][0]["row"], 0, "{}", e["summary"]);
    assert_eq!(pass_rate(&e, 0), 0.5);
    // Repeats bypass the cache: four calls reached the provider.
    assert_eq!(l.fake.request_count(), 4);
    // The same run with the same seed gives the same intervals.
    dataset(
        &l.env,
        "many",
        &[
            "a 11111", "b", "c 22222", "d", "e 33333", "f", "g 44444", "h",
        ],
    );
    let run = |seed: &str| {
        eval_json(
            &l.env,
            &[
                "run",
                "--prompt",
                "order",
                "--dataset",
                "many",
                "--assert",
                r"regex=\d{5}",
                "--seed",
                seed,
            ],
        )
        .1["summary"]["columns"][0]["pass_rate"]
            .clone()
    };
    let (a, b) = (run("7"), run("7"));
    assert_eq!(a, b);
    assert_eq!(a["mean"], 0.5);
    assert!(
        a["low"].as_f64().unwrap() < 0.5 && a["high"].as_f64().unwrap() > 0.5,
        "{a}"
    );
}

#[test]
fn the_label_gate_refuses_a_regression_and_allows_an_improvement() {
    let l = lab();
    save_prompt(&l.env, "{{q}} order 12345"); // v2: passes
    save_prompt(&l.env, "{{q}}"); // v3: fails
    save_prompt(&l.env, "{{q}} order 67890"); // v4: passes
    l.env.ok(&["prompts", "label", "order", "2", "production"]);
    dataset(&l.env, "orders", &["where is it", "when will it come"]);
    let file = l.env.write_str(
        "order-check.eval.yaml",
        "name: order-check\nprompts: [order]\ndataset: orders\nassert:\n  - type: regex\n    value: '\\d{5}'\n    gate: pass_rate >= 0.9\n",
    );
    l.env.ok(&["eval", "save", &file]);
    let out = l.env.run(
        &[
            "prompts",
            "label",
            "order",
            "3",
            "production",
            "--gate",
            "order-check",
        ],
        "",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("label 'production' was not moved to version 3"),
        "{stderr}"
    );
    assert!(
        stderr.contains("row 1:") && stderr.contains("does not match"),
        "{stderr}"
    );
    let shown = l.env.json(&[
        "prompts",
        "show",
        "order",
        "--label",
        "production",
        "--json",
    ]);
    assert_eq!(shown["version"], 2, "the label stayed");
    // An improvement (or an equal) moves it.
    l.env.ok(&[
        "prompts",
        "label",
        "order",
        "4",
        "production",
        "--gate",
        "order-check",
    ]);
    let shown = l.env.json(&[
        "prompts",
        "show",
        "order",
        "--label",
        "production",
        "--json",
    ]);
    assert_eq!(shown["version"], 4);
}

#[test]
fn datasets_come_from_promptfoo_yaml_csv_and_the_call_log() {
    let l = lab();
    let yaml = l.env.write_str(
        "promptfooconfig.yaml",
        "prompts: [p.txt]\ntests:\n  - description: greeting\n    vars: {q: hello}\n    assert:\n      - type: icontains\n        value: hello\n  - vars: {q: bye}\n    assert:\n      - type: equals\n        value: 'Fake reply to: bye'\n",
    );
    l.env.ok(&["datasets", "create", "pf", "--file", &yaml]);
    let pf = l.env.json(&["datasets", "show", "pf", "--json"]);
    assert_eq!(pf["rows"][1]["expected"], "Fake reply to: bye");
    // The rows' own assertions run with the eval.
    let (code, e) = eval_json(&l.env, &["run", "--prompt", "order", "--dataset", "pf"]);
    assert_eq!(code, 0);
    assert_eq!(pass_rate(&e, 0), 1.0, "{}", e["cells"]);
    let csv = l
        .env
        .write_str("rows.csv", "q,expected,tags\n\"hello, world\",hi,\"a,b\"\n");
    l.env.ok(&["datasets", "create", "csv", "--file", &csv]);
    let c = l.env.json(&["datasets", "show", "csv", "--json"]);
    assert_eq!(c["rows"][0]["vars"]["q"], "hello, world");
    assert_eq!(c["rows"][0]["tags"], serde_json::json!(["a", "b"]));
    // Production calls through the prompt become rows with their variables and answers.
    l.env.ok(&["run", "order", "--var", "q=where is my parcel"]);
    l.env.ok(&[
        "datasets",
        "from-logs",
        "prod",
        "--prompt",
        "order",
        "--with-answers",
    ]);
    let prod = l.env.json(&["datasets", "show", "prod", "--json"]);
    assert_eq!(prod["rows"][0]["vars"]["q"], "where is my parcel");
    assert_eq!(
        prod["rows"][0]["expected"],
        "Fake reply to: where is my parcel"
    );
    // Exports as CSV and JSONL.
    let out = l.env.home().join("prod.csv");
    l.env.ok(&[
        "datasets",
        "export",
        "prod",
        "--file",
        out.to_str().unwrap(),
    ]);
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .starts_with("q,expected,tags\n")
    );
}

/// Every file under `dir` (subfolders too, .git aside), by relative path.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if e.file_name() == ".git" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn bundles_carry_datasets_and_eval_files_and_round_trip() {
    let l = lab();
    dataset(&l.env, "orders", &["where is it", "when"]);
    let file = l.env.write_str(
        "order-check.eval.yaml",
        "name: order-check\nprompts: [order]\ndataset: orders\nassert:\n  - type: contains\n    value: Fake\n",
    );
    l.env.ok(&["eval", "save", &file]);
    let bundle = tempfile::tempdir().unwrap();
    let dir = bundle.path().to_str().unwrap();
    l.env.ok(&["bundle", "export", dir]);
    let exported = tree(bundle.path());
    assert!(
        exported.contains_key("datasets/orders.jsonl"),
        "{:?}",
        exported.keys()
    );
    assert!(exported.contains_key("evals/order-check.eval.yaml"));
    let manifest = String::from_utf8(exported["portolan.toml"].clone()).unwrap();
    assert!(
        manifest.contains("[datasets.orders]") && manifest.contains("[evals.order-check]"),
        "{manifest}"
    );
    // Into a fresh library and out again: the same files.
    let other = Env::new();
    let report = other.ok(&["bundle", "import", dir]);
    assert!(
        report.contains("create  dataset orders") && report.contains("create  eval order-check"),
        "{report}"
    );
    let again = tempfile::tempdir().unwrap();
    other.ok(&["bundle", "export", again.path().to_str().unwrap()]);
    assert_eq!(tree(again.path()), exported);
    // A broken dataset file stops the whole import, naming its line.
    std::fs::write(
        bundle.path().join("datasets/orders.jsonl"),
        "{\"q\": 1}\nnot json\n",
    )
    .unwrap();
    let third = Env::new();
    let e = third.fails(&["bundle", "import", dir]);
    assert!(e.contains("orders.jsonl:2: not valid JSON"), "{e}");
    assert!(
        third
            .fails(&["datasets", "show", "orders"])
            .contains("does not exist")
    );
}
