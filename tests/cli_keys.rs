//! Virtual keys through the CLI and the engine: sealed at rest, masked in listings, tamper- and
//! wrong-key-evident.

use portolan::{Error, Store, StoreOptions};

use crate::support::Env;

const SECRET: &str = "sk-proj-Zq8vJ3kLmN0pQrStUvWxYz0123456789abcd";

fn store_options(master_key: Option<&str>) -> StoreOptions {
    StoreOptions {
        seed_samples: false,
        use_keyring: false,
        master_key: master_key.map(str::to_owned),
    }
}

/// Every file the database consists of, concatenated.
fn database_bytes(env: &Env) -> Vec<u8> {
    let mut bytes = Vec::new();
    for name in ["portolan.db", "portolan.db-wal", "portolan.db-shm"] {
        if let Ok(b) = std::fs::read(env.home().join(name)) {
            bytes.extend(b);
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn keys_are_sealed_masked_and_never_printed() {
    let env = Env::empty();
    let out = env.ok_with_stdin(
        &[
            "keys",
            "add",
            "openai-main",
            "--provider",
            "openai",
            "--notes",
            "team key",
        ],
        &format!("{SECRET}\n"),
    );
    assert!(
        out.contains("added virtual key openai-main (openai, vk_") && out.contains("sk-…abcd"),
        "{out}"
    );
    assert!(!out.contains(SECRET));
    let list = env.ok(&["keys", "list"]);
    assert!(
        list.contains("openai-main") && list.contains("sk-…abcd") && !list.contains(SECRET),
        "{list}"
    );
    let json = env.json(&["keys", "list", "--json"]);
    assert_eq!(json[0]["mask"], "sk-…abcd");
    assert_eq!(json[0]["notes"], "team key");
    assert!(json[0].get("secret").is_none());
    // Not in the database, its WAL, or anything else in the data directory.
    assert!(!contains(&database_bytes(&env), SECRET.as_bytes()));
    assert!(!contains(&database_bytes(&env), &SECRET.as_bytes()[8..24]));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.home().join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The engine can open it for a request.
    let store = Store::open_with(env.home(), store_options(None)).unwrap();
    let (key, secret) = store.key_secret("openai-main").unwrap();
    assert_eq!(secret.expose(), SECRET);
    assert!(!format!("{key:?}{secret:?}").contains(SECRET));
    assert!(store.get_key("openai-main").unwrap().last_used_at.is_some());
}

#[test]
fn rotate_keeps_identity_and_remove_deletes() {
    let env = Env::empty();
    env.ok_with_stdin(
        &["keys", "add", "k", "--provider", "anthropic"],
        "sk-ant-old-0000000000000000000000001111",
    );
    let before = env.json(&["keys", "list", "--json"])[0].clone();
    let out = env.ok_with_stdin(
        &["keys", "rotate", "k"],
        "sk-ant-new-0000000000000000000000002222\n",
    );
    assert!(out.contains("rotated virtual key k sk-…2222"), "{out}");
    let after = env.json(&["keys", "list", "--json"])[0].clone();
    assert_eq!(before["id"], after["id"]);
    assert_eq!(after["mask"], "sk-…2222");
    let store = Store::open_with(env.home(), store_options(None)).unwrap();
    assert_eq!(
        store.key_secret("k").unwrap().1.expose(),
        "sk-ant-new-0000000000000000000000002222"
    );
    drop(store);
    assert!(
        env.ok(&["keys", "remove", "k"])
            .contains("removed virtual key k")
    );
    assert_eq!(env.json(&["keys", "list", "--json"]), serde_json::json!([]));
    assert_eq!(
        env.fails(&["keys", "remove", "k"]).trim(),
        "error: no virtual key named 'k'"
    );
    assert_eq!(
        env.fails_with_stdin(&["keys", "rotate", "k"], "x").trim(),
        "error: no virtual key named 'k'"
    );
}

#[test]
fn bad_key_input_is_refused_before_reading_the_secret() {
    let env = Env::empty();
    let err = env.fails(&["keys", "add", "x", "--provider", "nope"]);
    assert!(
        err.contains("unknown provider 'nope' (known: openai,"),
        "{err}"
    );
    let err = env.fails(&["keys", "add", "x", "--provider", "azure-openai"]);
    assert!(err.contains("needs --base-url"), "{err}");
    let err = env.fails(&[
        "keys",
        "add",
        "x",
        "--provider",
        "openai",
        "--base-url",
        "not a url",
    ]);
    assert!(err.contains("is not a URL"), "{err}");
    let err = env.fails_with_stdin(&["keys", "add", "x", "--provider", "openai"], "\n");
    assert_eq!(err.trim(), "error: the secret for virtual key 'x' is empty");
    env.ok_with_stdin(
        &["keys", "add", "x", "--provider", "openai"],
        "sk-1234567890abcdefghijkl",
    );
    let err = env.fails_with_stdin(&["keys", "add", "x", "--provider", "openai"], "sk-other");
    assert_eq!(err.trim(), "error: a virtual key named 'x' already exists");
    // Local servers need no secret.
    env.ok_with_stdin(
        &[
            "keys",
            "add",
            "local",
            "--provider",
            "ollama",
            "--base-url",
            "http://127.0.0.1:11434/v1",
        ],
        "",
    );
}

#[test]
fn a_flipped_ciphertext_byte_fails_to_decrypt_naming_the_key() {
    let env = Env::empty();
    env.ok_with_stdin(&["keys", "add", "main", "--provider", "openai"], SECRET);
    let conn = rusqlite::Connection::open(env.home().join("portolan.db")).unwrap();
    let mut sealed: Vec<u8> = conn
        .query_row("SELECT secret FROM virtual_keys", [], |r| r.get(0))
        .unwrap();
    let last = sealed.len() - 1;
    sealed[last] ^= 0x01;
    conn.execute("UPDATE virtual_keys SET secret = ?1", [&sealed])
        .unwrap();
    drop(conn);
    let store = Store::open_with(env.home(), store_options(None)).unwrap();
    let err = store.key_secret("main").unwrap_err();
    assert!(
        matches!(err, Error::SecretTampered { ref name } if name == "main"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("virtual key 'main' could not be decrypted"),
        "{err}"
    );
}

#[test]
fn a_different_master_key_fails_clearly() {
    let key_a = "11".repeat(32);
    let key_b = "22".repeat(32);
    let mut env = Env::empty().with_master_key(&key_a);
    env.ok_with_stdin(&["keys", "add", "main", "--provider", "openai"], SECRET);
    assert!(
        !env.home().join("master.key").exists(),
        "an explicit master key writes no key file"
    );
    env.set_master_key(Some(&key_b));
    let err = env.fails_with_stdin(&["keys", "rotate", "main"], "sk-another-secret-000000000");
    assert!(
        err.contains("the master key (PORTOLAN_MASTER_KEY) is not the one"),
        "{err}"
    );
    let store = Store::open_with(env.home(), store_options(Some(&key_b))).unwrap();
    assert!(matches!(
        store.key_secret("main"),
        Err(Error::WrongMasterKey { .. })
    ));
    let store = Store::open_with(env.home(), store_options(Some(&key_a))).unwrap();
    assert_eq!(store.key_secret("main").unwrap().1.expose(), SECRET);
    // Listing needs no master key at all.
    env.set_master_key(None);
    assert!(env.ok(&["keys", "list"]).contains("main"));
    let err = env.fails(&["keys", "rotate", "main"]);
    assert!(err.contains("empty") || err.contains("master key"), "{err}");
}

#[test]
fn budgets_limits_scoped_tokens_pii_and_audit_from_the_cli() {
    let env = Env::empty().with_master_key(&"ef".repeat(32));
    env.ok_with_stdin(&["keys", "add", "main", "--provider", "openai"], SECRET);
    let out = env.ok(&[
        "keys", "budget", "main", "--usd", "25", "--period", "monthly", "--alert", "0.8",
    ]);
    assert_eq!(out.trim(), "budget for main: $0.00 / $25.00 monthly (0%)");
    let out = env.ok(&["keys", "limit", "main", "--rpm", "60", "--tpm", "90000"]);
    assert!(
        out.contains("60 rpm (0 used)") && out.contains("90000 tpm (0 used)"),
        "{out}"
    );
    let list = env.json(&["keys", "list", "--json"]);
    assert_eq!(list[0]["budget"]["limit"], 25.0);
    assert_eq!(list[0]["budget"]["period"], "monthly");
    assert_eq!(list[0]["rate_limits"].as_array().unwrap().len(), 2);
    assert!(
        env.ok(&["keys", "list"])
            .contains("$0.00 / $25.00 monthly (0%)")
    );
    assert!(
        env.fails(&["keys", "budget", "main", "--usd", "5", "--alert", "3"])
            .contains("between 0 and 1")
    );
    assert!(
        env.fails(&["keys", "budget", "nope", "--usd", "5"])
            .contains("no virtual key named 'nope'")
    );

    let out = env.ok(&[
        "tokens",
        "create",
        "ci",
        "--prompt",
        "summarize",
        "--key",
        "main",
        "--model",
        "gpt-4o*",
        "--read-only",
        "--expires-days",
        "30",
    ]);
    assert!(out.contains("pt_"), "{out}");
    assert!(
        env.fails(&["tokens", "create", "bad", "--key", "ghost"])
            .contains("no virtual key named 'ghost'")
    );
    env.ok(&[
        "tokens", "budget", "ci", "--tokens", "100000", "--period", "daily",
    ]);
    let tokens = env.json(&["tokens", "list", "--json"]);
    assert_eq!(tokens[0]["scopes"]["read_only"], true);
    assert_eq!(
        tokens[0]["scopes"]["models"],
        serde_json::json!(["gpt-4o*"])
    );
    assert_eq!(tokens[0]["budget"]["unit"], "tokens");
    assert!(tokens[0]["expires_at"].is_string());
    let table = env.ok(&["tokens", "list"]);
    assert!(
        table.contains("read-only; prompts summarize; keys main; models gpt-4o*; expires"),
        "{table}"
    );

    assert!(
        env.ok(&["settings", "pii", "redact", "--restore"])
            .contains("redact (originals restored in answers)")
    );
    let audit = env.json(&["audit", "--json"]);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for want in [
        "key.add",
        "key.budget",
        "key.limit",
        "token.create",
        "token.budget",
        "settings.update",
    ] {
        assert!(actions.contains(&want), "{want} missing from {actions:?}");
    }
    assert!(!serde_json::to_string(&audit).unwrap().contains(SECRET));
    assert!(env.ok(&["audit"]).contains("key.budget"));
}

#[test]
fn engine_settings_are_shown_and_set_by_name_with_clear_errors() {
    let env = Env::new();
    let shown = env.ok(&["settings", "show"]);
    assert!(shown.contains("responses_retention_days"), "{shown}");
    env.ok(&["settings", "set", "responses_retention_days", "7"]);
    env.ok(&[
        "settings",
        "set",
        "embedding_model",
        "ollama/nomic-embed-text",
    ]);
    let v = env.json(&["settings", "show", "--json"]);
    assert_eq!(v["responses_retention_days"], 7);
    assert_eq!(v["embedding_model"], "ollama/nomic-embed-text");
    let e = env.fails(&["settings", "set", "retention", "7"]);
    assert!(
        e.contains("no setting 'retention'") && e.contains("responses_retention_days"),
        "{e}"
    );
    let e = env.fails(&["settings", "set", "responses_retention_days", "soon"]);
    assert!(e.contains("does not fit"), "{e}");
    // Nothing was changed by the refused ones.
    assert_eq!(
        env.json(&["settings", "show", "--json"])["responses_retention_days"],
        7
    );
}
