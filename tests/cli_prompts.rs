//! Prompts through the CLI: versions, no-op saves, labels, rendering, partials, diffs, files.

use serde_json::json;

use crate::support::{Env, prompt_file};

#[test]
fn new_install_seeds_the_sample_bundle_once() {
    let env = Env::new();
    let list = env.json(&["prompts", "list", "--json"]);
    let slugs: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["slug"].as_str().unwrap())
        .collect();
    for want in ["extract-json", "house-style", "summarize", "support-reply"] {
        assert!(slugs.contains(&want), "{slugs:?}");
    }
    let summarize = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["slug"] == "summarize")
        .unwrap();
    assert_eq!(summarize["labels"][0]["name"], "production");
    assert!(summarize["id"].as_str().unwrap().starts_with("pr_"));
    // A second run does not import them again.
    let again = env.json(&["prompts", "list", "--json"]);
    assert_eq!(
        again.as_array().unwrap().len(),
        list.as_array().unwrap().len()
    );
    assert_eq!(again[0]["latest_version"], 1);
}

#[test]
fn saves_create_versions_only_when_content_changes() {
    let env = Env::empty();
    let f1 = env.write_str(
        "v1.prompt.md",
        &prompt_file("ignored", "Be brief.", "{{q}}"),
    );
    let out = env.ok(&["prompts", "create", "qa", "--file", &f1, "-m", "first"]);
    assert!(
        out.starts_with("created qa (pr_") && out.trim_end().ends_with("version 1"),
        "{out}"
    );
    let same = env.ok(&["prompts", "save", "qa", "--file", &f1]);
    assert!(
        same.contains("unchanged") && same.contains("version 1"),
        "{same}"
    );
    let f2 = env.write_str(
        "v2.prompt.md",
        &prompt_file("qa", "Be very brief.", "{{q}}"),
    );
    assert_eq!(
        env.ok(&["prompts", "save", "qa", "--file", &f2, "-m", "tighter"])
            .trim(),
        "saved qa version 2"
    );
    assert!(
        env.ok(&["prompts", "save", "qa", "--file", &f2])
            .contains("unchanged")
    );
    let versions = env.json(&["prompts", "versions", "qa", "--json"]);
    assert_eq!(versions.as_array().unwrap().len(), 2);
    assert_eq!(versions[0]["message"], "first");
    assert_eq!(versions[1]["message"], "tighter");
    // The id works wherever the slug does, and the slug argument won over `name: ignored`.
    let id = env.json(&["prompts", "list", "--json"])[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(env.json(&["prompts", "show", &id, "--json"])["slug"], "qa");
    let v1 = env.json(&["prompts", "show", "qa", "--version", "1", "--json"]);
    assert_eq!(v1["content"]["messages"][0]["content"], "Be brief.");
}

#[test]
fn duplicate_slug_bad_slug_and_unknown_prompt_are_clear_errors() {
    let env = Env::empty();
    let f = env.write_str("p.prompt.md", &prompt_file("p", "x", "y"));
    env.ok(&["prompts", "create", "p", "--file", &f]);
    let err = env.fails(&["prompts", "create", "p", "--file", &f]);
    assert_eq!(err.trim(), "error: a prompt with slug 'p' already exists");
    let err = env.fails(&["prompts", "create", "Bad Slug", "--file", &f]);
    assert!(err.contains("not a valid prompt slug"), "{err}");
    let err = env.fails(&["prompts", "show", "nope"]);
    assert_eq!(err.trim(), "error: no prompt with id or slug 'nope'");
    let err = env.fails(&["prompts", "show", "p", "--version", "7"]);
    assert!(err.contains("has no version 7 (latest is 1)"), "{err}");
    let err = env.fails(&[
        "prompts",
        "create",
        "q",
        "--file",
        "/nonexistent/file.prompt.md",
    ]);
    assert!(
        err.contains("could not read /nonexistent/file.prompt.md"),
        "{err}"
    );
}

#[test]
fn template_syntax_errors_name_line_and_column_and_write_nothing() {
    let env = Env::empty();
    let f = env.write_str(
        "bad.prompt.md",
        &prompt_file("bad", "Fine.", "Line one\nHello {{#if vip}}VIP"),
    );
    let err = env.fails(&["prompts", "create", "bad", "--file", &f]);
    assert!(
        err.contains("message 2 (user) at line 2, column 7"),
        "{err}"
    );
    assert!(err.contains("'{{#if}}' is never closed"), "{err}");
    assert_eq!(env.json(&["prompts", "list", "--json"]), json!([]));

    let good = env.write_str("good.prompt.md", &prompt_file("good", "Fine.", "{{q}}"));
    env.ok(&["prompts", "create", "good", "--file", &good]);
    let broken = env.write_str(
        "broken.prompt.md",
        &prompt_file("good", "Fine {{name", "{{q}}"),
    );
    let err = env.fails(&["prompts", "save", "good", "--file", &broken]);
    assert!(
        err.contains("message 1 (system) at line 1, column 6"),
        "{err}"
    );
    assert_eq!(
        env.json(&["prompts", "show", "good", "--json"])["version"],
        1
    );
}

#[test]
fn malformed_prompt_files_are_refused_with_their_line() {
    let env = Env::empty();
    let f = env.write_str(
        "typo.prompt.md",
        "---\nname: t\nmodle: gpt-4o\n---\nuser:\nhi\n",
    );
    let err = env.fails(&["prompts", "create", "t", "--file", &f]);
    assert!(
        err.contains("typo.prompt.md:3:") && err.contains("modle"),
        "{err}"
    );
    let f = env.write_str(
        "params.prompt.md",
        "---\nname: t\nmodel:\n  id: m\n  parameters:\n    temperature: 9\n---\nuser:\nhi\n",
    );
    let err = env.fails(&["prompts", "create", "t", "--file", &f]);
    assert!(
        err.contains("temperature") && err.contains("0 to 2"),
        "{err}"
    );
}

#[test]
fn labels_point_at_versions_and_move() {
    let env = Env::empty();
    let f1 = env.write_str("a.prompt.md", &prompt_file("a", "one", "{{q}}"));
    let f2 = env.write_str("b.prompt.md", &prompt_file("a", "two", "{{q}}"));
    env.ok(&["prompts", "create", "a", "--file", &f1]);
    env.ok(&["prompts", "save", "a", "--file", &f2]);
    // Without a production label, render serves the latest version.
    let r = env.json(&["prompts", "render", "a", "--var", "q=hi"]);
    assert_eq!(
        (r["version"].clone(), r["messages"][0]["content"].clone()),
        (json!(2), json!("two"))
    );
    assert_eq!(
        env.ok(&["prompts", "label", "a", "1", "production"]).trim(),
        "production → a version 1"
    );
    let r = env.json(&["prompts", "render", "a", "--var", "q=hi"]);
    assert_eq!(r["version"], 1);
    assert_eq!(
        env.json(&[
            "prompts", "render", "a", "--label", "latest", "--var", "q=hi"
        ])["version"],
        2
    );
    env.ok(&["prompts", "label", "a", "2", "production"]);
    env.ok(&["prompts", "label", "a", "1", "staging"]);
    assert_eq!(
        env.json(&["prompts", "render", "a", "--var", "q=hi"])["version"],
        2
    );
    assert_eq!(
        env.json(&["prompts", "show", "a", "--label", "staging", "--json"])["version"],
        1
    );
    let labels = env.json(&["prompts", "show", "a", "--json"])["labels"].clone();
    assert_eq!(labels, json!(["production"]));
    assert!(
        env.fails(&["prompts", "label", "a", "3", "production"])
            .contains("has no version 3")
    );
    assert!(
        env.fails(&["prompts", "label", "a", "1", "Prod!"])
            .contains("not a valid label")
    );
    assert!(
        env.fails(&["prompts", "label", "a", "1", "latest"])
            .contains("'latest' always means")
    );
    assert!(
        env.fails(&["prompts", "show", "a", "--label", "canary"])
            .contains("has no label 'canary'")
    );
}

#[test]
fn rendering_is_strict_and_lists_every_missing_variable() {
    let env = Env::new();
    let err = env.fails(&["prompts", "render", "support-reply"]);
    assert_eq!(
        err.trim(),
        "error: missing template variables: customer_name, ticket"
    );
    let vars = env.write_str(
        "vars.json",
        r#"{"customer_name": "Ada", "ticket": "It crashes", "tone": "formal"}"#,
    );
    let r = env.json(&[
        "prompts",
        "render",
        "support-reply",
        "--vars-file",
        &vars,
        "--var",
        "tone=apologetic",
    ]);
    let system = r["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("Write in a apologetic tone."), "{system}");
    // The house-style partial is included.
    assert!(system.contains("Keep replies under 150 words."), "{system}");
    assert_eq!(r["messages"][1]["content"], "Customer: Ada\n\nIt crashes");
    assert_eq!(r["model"], "gpt-4o-mini");
    assert_eq!(r["params"]["max_tokens"], 500);
    // Typed variables with :=
    let r = env.json(&[
        "prompts",
        "render",
        "extract-json",
        "--var",
        "text=x",
        "--var",
        r#"fields:=["a","b"]"#,
    ]);
    assert!(
        r["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains(r#"keys: "a", "b"."#)
    );
    let bad = env.write_str("bad.json", "{not json");
    assert!(
        env.fails(&["prompts", "render", "summarize", "--vars-file", &bad])
            .contains("is not valid JSON")
    );
    assert!(
        env.fails(&["prompts", "render", "summarize", "--var", "novalue"])
            .contains("name=value")
    );
}

#[test]
fn partials_include_other_prompts_and_cycles_are_refused() {
    let env = Env::empty();
    let sig = env.write_str(
        "sig.prompt.md",
        "---\nname: sig\n---\nsystem:\nRegards, {{agent}}\n",
    );
    env.ok(&["prompts", "create", "sig", "--file", &sig]);
    let mail = env.write_str(
        "mail.prompt.md",
        &prompt_file("mail", "Write mail.", "{{body}}\n{{> sig}}"),
    );
    env.ok(&["prompts", "create", "mail", "--file", &mail]);
    let shown = env.json(&["prompts", "show", "mail", "--json"]);
    assert_eq!(shown["variables_used"], json!(["body", "agent"]));
    assert_eq!(shown["partials"], json!(["sig"]));
    let err = env.fails(&["prompts", "render", "mail"]);
    assert_eq!(err.trim(), "error: missing template variables: body, agent");
    let r = env.json(&[
        "prompts",
        "render",
        "mail",
        "--var",
        "body=Hi",
        "--var",
        "agent=Sam",
    ]);
    assert_eq!(r["messages"][1]["content"], "Hi\nRegards, Sam");
    // A new version of the partial is picked up by the including prompt.
    let sig2 = env.write_str(
        "sig2.prompt.md",
        "---\nname: sig\n---\nsystem:\nBest, {{agent}}\n",
    );
    env.ok(&["prompts", "save", "sig", "--file", &sig2]);
    let r = env.json(&[
        "prompts",
        "render",
        "mail",
        "--var",
        "body=Hi",
        "--var",
        "agent=Sam",
    ]);
    assert_eq!(r["messages"][1]["content"], "Hi\nBest, Sam");
    // Unknown partials and cycles.
    let orphan = env.write_str(
        "orphan.prompt.md",
        &prompt_file("o", "x", "{{> missing-one}}"),
    );
    env.ok(&["prompts", "create", "orphan", "--file", &orphan]);
    assert!(
        env.fails(&["prompts", "render", "orphan"])
            .contains("'{{> missing-one}}' refers to no prompt")
    );
    let loop_a = env.write_str("la.prompt.md", "---\nname: la\n---\nsystem:\nA {{> lb}}\n");
    let loop_b = env.write_str("lb.prompt.md", "---\nname: lb\n---\nsystem:\nB {{> la}}\n");
    env.ok(&["prompts", "create", "la", "--file", &loop_a]);
    env.ok(&["prompts", "create", "lb", "--file", &loop_b]);
    let err = env.fails(&["prompts", "render", "la"]);
    assert!(err.contains("cycle: la -> lb -> la"), "{err}");
}

#[test]
fn diffs_as_text_words_and_json() {
    let env = Env::empty();
    let f1 = env.write_str(
        "d1.prompt.md",
        &prompt_file("d", "Answer in English.\nBe brief.", "{{q}}"),
    );
    let f2 = env.write_str(
        "d2.prompt.md",
        "---\nname: d\nmodel:\n  id: gpt-4o\n---\nsystem:\nAnswer in French.\nBe brief.\n\nuser:\n{{q}}\n",
    );
    env.ok(&["prompts", "create", "d", "--file", &f1]);
    env.ok(&["prompts", "save", "d", "--file", &f2]);
    let text = env.ok(&["prompts", "diff", "d", "1", "2"]);
    assert!(
        text.contains("--- v1/settings")
            && text.contains("-  id: gpt-4o-mini")
            && text.contains("+  id: gpt-4o"),
        "{text}"
    );
    assert!(
        text.contains("-Answer in English.\n+Answer in French.\n Be brief."),
        "{text}"
    );
    assert!(
        !text.contains("message 2"),
        "unchanged sections are left out: {text}"
    );
    let words = env.ok(&["prompts", "diff", "d", "1", "2", "--words"]);
    assert!(
        words.contains("Answer in [-English.-]{+French.+}"),
        "{words}"
    );
    let json = env.json(&["prompts", "diff", "d", "v1", "latest", "--json"]);
    assert_eq!(json["changed"], true);
    assert_eq!(json["sections"][1]["change"], "modified");
    assert_eq!(json["sections"][2]["change"], "unchanged");
    let same = env.ok(&["prompts", "diff", "d", "2", "2"]);
    assert!(same.contains("identical"), "{same}");
}

#[test]
fn prompt_files_round_trip_byte_for_byte() {
    let env = Env::new();
    let original = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/prompts/support-reply.prompt.md"
    ))
    .unwrap();
    assert_eq!(
        env.ok(&["prompts", "show", "support-reply", "--raw"]),
        original
    );
    // Import a file, export it, import the export: same bytes and no new version.
    let env = Env::empty();
    let text = "---\nname: rt\ndescription: |-\n  Two lines\n  of description.\nmodel:\n  id: gpt-4o-mini\n  parameters:\n    max_tokens: 50\n    temperature: 0.7\n    stop:\n    - END\nvariables:\n  who:\n    description: Name\n    default: world\nlabels:\n- production\n---\nsystem:\n\\user:\n\\\\user:\n\nuser:\nHello {{who}}\n\nassistant:\nHi!\n";
    let f = env.write_str("rt.prompt.md", text);
    env.ok(&["prompts", "create", "rt", "--file", &f]);
    let exported = env.ok(&["prompts", "show", "rt", "--raw"]);
    assert_eq!(exported, text);
    let shown = env.json(&["prompts", "show", "rt", "--json"]);
    assert_eq!(shown["content"]["messages"][0]["content"], "user:\n\\user:");
    let again = env.write_str("rt2.prompt.md", &exported);
    assert!(
        env.ok(&["prompts", "save", "rt", "--file", &again])
            .contains("unchanged")
    );
}

#[test]
fn prompty_files_import() {
    let env = Env::empty();
    let f = env.write_str(
        "basic.prompty",
        "---\nname: Basic Prompt\ndescription: Answers questions\nmodel:\n  api: chat\n  configuration:\n    type: openai\n    name: gpt-4o-mini\n  parameters:\n    max_tokens: 64\ninputs:\n  question:\n    type: string\nsample:\n  question: Why is the sky blue?\n---\nsystem:\nYou are helpful.\n\nuser:\n{{ question }}\n",
    );
    let out = env.ok(&["prompts", "create", "basic", "--file", &f]);
    assert!(out.contains("created basic"), "{out}");
    let r = env.json(&["prompts", "render", "basic"]);
    assert_eq!(r["messages"][1]["content"], "Why is the sky blue?");
    assert_eq!(r["params"]["max_tokens"], 64);
}

#[test]
fn data_dir_flag_and_newer_schema() {
    let env = Env::empty();
    let other = tempfile::tempdir().unwrap();
    let dir = other.path().join("nested/data");
    let out = env.ok(&["--data-dir", dir.to_str().unwrap(), "status"]);
    assert!(out.contains(dir.to_str().unwrap()), "{out}");
    assert!(dir.join("portolan.db").exists());
    let conn = rusqlite::Connection::open(dir.join("portolan.db")).unwrap();
    conn.pragma_update(None, "user_version", 42).unwrap();
    drop(conn);
    let err = env.fails(&["--data-dir", dir.to_str().unwrap(), "prompts", "list"]);
    assert!(
        err.contains(&format!(
            "schema version 42, newer than this Portolan understands ({})",
            portolan::store::SCHEMA_VERSION
        )),
        "{err}"
    );
}

#[test]
fn versions_are_immutable_in_the_database() {
    let env = Env::new();
    env.ok(&["prompts", "list"]);
    let conn = rusqlite::Connection::open(env.home().join("portolan.db")).unwrap();
    let err = conn
        .execute("UPDATE prompt_versions SET content = '{}'", [])
        .unwrap_err();
    assert!(err.to_string().contains("immutable"), "{err}");
}
