//! Bundles through the CLI: export, history replay as commits, import, round trip, idempotence,
//! refusal of broken bundles, no secrets.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::support::{Env, prompt_file};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every file under `dir` except `.git`, by relative path.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name != ".git" && e.path().is_file() {
            out.insert(name, std::fs::read(e.path()).unwrap());
        }
    }
    out
}

fn library_with_history() -> Env {
    let env = Env::new();
    let shown = env.ok(&["prompts", "show", "summarize", "--raw"]);
    let edited = env.write_str(
        "s2.prompt.md",
        &shown.replace("Write exactly", "Write at most"),
    );
    env.ok(&[
        "prompts",
        "save",
        "summarize",
        "--file",
        &edited,
        "-m",
        "Allow fewer bullets",
    ]);
    env.ok(&["prompts", "label", "summarize", "1", "staging"]);
    env
}

#[test]
fn history_replays_as_commits_and_round_trips_through_git() {
    let env = library_with_history();
    let repo = tempfile::tempdir().unwrap();
    let bundle = repo.path().join("prompts");
    git(repo.path(), &["init", "-q"]);
    let out = env.ok(&[
        "bundle",
        "export",
        bundle.to_str().unwrap(),
        "--all-versions",
        "--author",
        "Ada <ada@example.com>",
    ]);
    // One per version: the 8 samples' first versions and summarize's second.
    assert!(out.contains("9 commits"), "{out}");
    let log = git(
        repo.path(),
        &[
            "log",
            "--format=%an|%s",
            "--",
            "prompts/summarize.prompt.md",
        ],
    );
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        [
            "Ada|Allow fewer bullets",
            "Ada|Sample prompt shipped with Portolan"
        ]
    );
    let patch = git(
        repo.path(),
        &[
            "log",
            "-p",
            "-1",
            "--format=",
            "--",
            "prompts/summarize.prompt.md",
        ],
    );
    assert!(
        patch.contains("-Write exactly") && patch.contains("+Write at most"),
        "{patch}"
    );
    assert_eq!(
        git(repo.path(), &["rev-list", "--count", "HEAD"]).trim(),
        "9"
    );
    // Re-exporting with no change makes no commit.
    let again = env.ok(&[
        "bundle",
        "export",
        bundle.to_str().unwrap(),
        "--all-versions",
    ]);
    assert!(again.contains("nothing to commit"), "{again}");
    let again = env.ok(&["bundle", "export", bundle.to_str().unwrap(), "--commit"]);
    assert!(again.contains("nothing to commit"), "{again}");
    assert_eq!(
        git(repo.path(), &["rev-list", "--count", "HEAD"]).trim(),
        "9"
    );

    // Import into an empty library: same ids, versions, labels; exporting again gives the same bytes.
    let fresh = Env::empty();
    let imported = fresh.ok(&["bundle", "import", bundle.to_str().unwrap()]);
    assert!(
        imported.contains("create  summarize (2 versions)"),
        "{imported}"
    );
    let original: Vec<serde_json::Value> =
        serde_json::from_value(env.json(&["prompts", "list", "--json"])).unwrap();
    let copy: Vec<serde_json::Value> =
        serde_json::from_value(fresh.json(&["prompts", "list", "--json"])).unwrap();
    for (a, b) in original.iter().zip(&copy) {
        assert_eq!(
            (&a["id"], &a["slug"], &a["latest_version"]),
            (&b["id"], &b["slug"], &b["latest_version"])
        );
        let la: Vec<_> = a["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["name"].clone(), l["version"].clone()))
            .collect();
        let lb: Vec<_> = b["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["name"].clone(), l["version"].clone()))
            .collect();
        assert_eq!(la, lb, "labels of {}", a["slug"]);
    }
    let v1 = fresh.json(&["prompts", "show", "summarize", "--version", "1", "--json"]);
    assert_eq!(v1["message"], "Sample prompt shipped with Portolan");
    let second = tempfile::tempdir().unwrap();
    fresh.ok(&["bundle", "export", second.path().to_str().unwrap()]);
    assert_eq!(
        tree(&bundle),
        tree(second.path()),
        "export → import → export changed the files"
    );
    // Importing the same bundle again changes nothing.
    let twice = fresh.ok(&["bundle", "import", bundle.to_str().unwrap()]);
    assert!(twice.contains("nothing to change"), "{twice}");
}

#[test]
fn import_from_a_git_url_and_dry_run() {
    let env = Env::new();
    let repo = tempfile::tempdir().unwrap();
    env.ok(&[
        "bundle",
        "export",
        repo.path().to_str().unwrap(),
        "--commit",
        "-m",
        "Initial prompts",
    ]);
    assert_eq!(
        git(repo.path(), &["log", "--format=%s"]).trim(),
        "Initial prompts"
    );
    let url = format!("file://{}", repo.path().display());
    let fresh = Env::empty();
    let dry = fresh.ok(&["bundle", "import", &url, "--dry-run"]);
    assert!(
        dry.contains("would create  summarize")
            && dry.contains("would label   summarize production → v1"),
        "{dry}"
    );
    assert_eq!(
        fresh.json(&["prompts", "list", "--json"]),
        serde_json::json!([])
    );
    let out = fresh.ok(&["bundle", "import", &url]);
    assert!(out.contains("create  support-reply (1 version)"), "{out}");
    assert_eq!(
        fresh
            .json(&["prompts", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        portolan::seed::sample_files().len()
    );
    // The partial resolves in the imported library.
    let r = fresh.json(&[
        "prompts",
        "render",
        "support-reply",
        "--var",
        "customer_name=A",
        "--var",
        "ticket=B",
    ]);
    assert!(
        r["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("under 150 words")
    );
}

#[test]
fn hand_edits_become_versions_and_labels_move_as_the_files_say() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    env.ok(&["bundle", "export", dir.path().to_str().unwrap()]);
    let path = dir.path().join("summarize.prompt.md");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("a busy engineer", "a product manager")
            .replace("- production", "- production\n- staging"),
    )
    .unwrap();
    let out = env.ok(&["bundle", "import", dir.path().to_str().unwrap()]);
    assert!(out.contains("update  summarize (+1 version)"), "{out}");
    assert!(
        out.contains("label   summarize production → v2")
            && out.contains("label   summarize staging → v2"),
        "{out}"
    );
    assert!(out.contains("unchanged support-reply"), "{out}");
    let v = env.json(&["prompts", "show", "summarize", "--json"]);
    assert_eq!(v["version"], 2);
    assert_eq!(
        v["content"]["variables"]["audience"]["default"],
        "a product manager"
    );
    assert!(
        env.ok(&["bundle", "import", dir.path().to_str().unwrap()])
            .contains("nothing to change")
    );
}

#[test]
fn a_broken_bundle_is_refused_whole() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    env.ok(&["bundle", "export", dir.path().to_str().unwrap()]);
    let fresh = Env::empty();
    // One good new file and one broken edit: nothing at all is imported.
    std::fs::write(
        dir.path().join("new-one.prompt.md"),
        prompt_file("new-one", "Fine.", "{{q}}"),
    )
    .unwrap();
    let path = dir.path().join("summarize.prompt.md");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("{{bullets}} bullet", "{{#if bullets}} bullet"),
    )
    .unwrap();
    let err = fresh.fails(&["bundle", "import", dir.path().to_str().unwrap()]);
    assert!(err.contains("was not imported"), "{err}");
    assert!(
        err.contains(
            "summarize.prompt.md:23: column 15: template syntax error in message 1 (system)"
        ),
        "{err}"
    );
    assert_eq!(
        fresh.json(&["prompts", "list", "--json"]),
        serde_json::json!([])
    );
    // An unknown partial is refused too.
    std::fs::write(&path, text.clone()).unwrap();
    std::fs::write(
        dir.path().join("new-one.prompt.md"),
        prompt_file("new-one", "{{> nowhere}}", "{{q}}"),
    )
    .unwrap();
    let err = fresh.fails(&["bundle", "import", dir.path().to_str().unwrap()]);
    assert!(
        err.contains("partial '{{> nowhere}}' names no prompt"),
        "{err}"
    );
    // A newer bundle format is refused clearly.
    std::fs::remove_file(dir.path().join("new-one.prompt.md")).unwrap();
    let manifest = dir.path().join("portolan.toml");
    let m = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        m.replace("format_version = 1", "format_version = 2"),
    )
    .unwrap();
    let err = fresh.fails(&["bundle", "import", dir.path().to_str().unwrap()]);
    assert!(
        err.contains("bundle format version 2; this Portolan reads version 1 (upgrade Portolan"),
        "{err}"
    );
    assert_eq!(
        fresh.json(&["prompts", "list", "--json"]),
        serde_json::json!([])
    );
}

#[test]
fn no_secret_reaches_a_bundle_or_its_history() {
    let env = Env::new().with_master_key(&"ab".repeat(32));
    let secret = "sk-proj-SECRETSECRETSECRET-0123456789";
    env.ok_with_stdin(
        &["keys", "add", "openai-main", "--provider", "openai"],
        secret,
    );
    let f = env.write_str(
        "k.prompt.md",
        &prompt_file("keyed", "x", "{{q}}").replace("gpt-4o-mini", "\"@openai-main/gpt-4o\""),
    );
    env.ok(&["prompts", "create", "keyed", "--file", &f]);
    let repo = tempfile::tempdir().unwrap();
    env.ok(&[
        "bundle",
        "export",
        repo.path().to_str().unwrap(),
        "--all-versions",
    ]);
    let files: Vec<u8> = tree(repo.path()).into_values().flatten().collect();
    let history = git(repo.path(), &["log", "-p", "--all"]);
    assert!(
        String::from_utf8_lossy(&files).contains("@openai-main/gpt-4o"),
        "the key is referred to by name"
    );
    assert!(!String::from_utf8_lossy(&files).contains(secret) && !history.contains(secret));
    assert!(!history.contains("SECRETSECRET"));
}

#[test]
fn a_fresh_library_exports_the_sample_bundle_byte_for_byte() {
    let env = Env::new();
    let out = tempfile::tempdir().unwrap();
    env.ok(&["bundle", "export", out.path().to_str().unwrap()]);
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    assert_eq!(tree(out.path()), tree(&samples));
}

#[test]
fn prompt_ids_and_version_numbers_travel_with_the_bundle() {
    // Machine A: a prompt of its own, and a sample edited twice (version 3).
    let a = Env::new();
    let file = a.write_str(
        "greet.prompt.md",
        &prompt_file("greet", "Be kind.", "Greet {{name}}."),
    );
    a.ok(&["prompts", "create", "greet", "--file", &file]);
    let shown = a.ok(&["prompts", "show", "summarize", "--raw"]);
    for (i, text) in ["Write at most", "Write no more than"].iter().enumerate() {
        let edited = a.write_str(
            &format!("s{i}.prompt.md"),
            &shown.replace("Write exactly", text),
        );
        a.ok(&["prompts", "save", "summarize", "--file", &edited]);
    }
    let bundle = tempfile::tempdir().unwrap();
    let dir = bundle.path().to_str().unwrap();
    a.ok(&["bundle", "export", dir]);
    let exported = tree(bundle.path());
    let ids = |env: &Env| -> BTreeMap<String, String> {
        env.json(&["prompts", "list", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["slug"].as_str().unwrap().to_owned(),
                    p["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };

    // Machine B already has a `greet` of its own making (another id): it adopts the bundle's.
    let b = Env::new();
    let own = b.write_str(
        "greet.prompt.md",
        &prompt_file("greet", "Be brief.", "Hi {{name}}."),
    );
    b.ok(&["prompts", "create", "greet", "--file", &own]);
    assert_ne!(ids(&b)["greet"], ids(&a)["greet"]);
    let report = b.ok(&["bundle", "import", dir]);
    assert!(report.contains("adopt"), "{report}");
    assert_eq!(ids(&b), ids(&a), "every prompt has the bundle's id");
    // `@3` is the same content on both machines, and `greet`'s own version 1 is still there.
    assert_eq!(
        b.ok(&[
            "prompts",
            "show",
            &ids(&a)["summarize"],
            "--version",
            "3",
            "--raw"
        ]),
        a.ok(&["prompts", "show", "summarize", "--version", "3", "--raw"])
    );
    assert!(
        b.ok(&["prompts", "show", "greet", "--version", "1", "--raw"])
            .contains("Be brief.")
    );

    // Importing into a fresh machine and exporting again gives the bundle back, byte for byte.
    let c = Env::new();
    c.ok(&["bundle", "import", dir]);
    let again = tempfile::tempdir().unwrap();
    c.ok(&["bundle", "export", again.path().to_str().unwrap()]);
    assert_eq!(tree(again.path()), exported);
    assert_eq!(ids(&c), ids(&a));
}
