//! A throwaway data directory and helpers to run the CLI against it.

pub mod postgres;
pub mod redis;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct Env {
    pub dir: tempfile::TempDir,
    files: tempfile::TempDir,
    seed: bool,
    master_key: Option<String>,
}

impl Env {
    /// A new data directory; the first command seeds the sample prompts.
    pub fn new() -> Self {
        Env {
            dir: tempfile::tempdir().unwrap(),
            files: tempfile::tempdir().unwrap(),
            seed: true,
            master_key: None,
        }
    }

    /// A new data directory that stays empty (no samples).
    pub fn empty() -> Self {
        let mut env = Env::new();
        env.seed = false;
        env
    }

    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    pub fn with_master_key(mut self, key: &str) -> Self {
        self.master_key = Some(key.to_owned());
        self
    }

    pub fn set_master_key(&mut self, key: Option<&str>) {
        self.master_key = key.map(str::to_owned);
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_portolan"));
        cmd.args(args)
            .env("PORTOLAN_HOME", self.home())
            .env("PORTOLAN_KEYRING", "0")
            .env("PORTOLAN_SEED", if self.seed { "1" } else { "0" })
            .env("NO_COLOR", "1")
            .env_remove("PORTOLAN_MASTER_KEY")
            .env_remove("PORTOLAN_STORE")
            .env_remove("PORTOLAN_REDIS")
            .env_remove("PORTOLAN_LOG");
        if let Some(k) = &self.master_key {
            cmd.env("PORTOLAN_MASTER_KEY", k);
        }
        cmd
    }

    pub fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_with_stdin(args, "")
    }

    pub fn ok_with_stdin(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "portolan {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a command that must fail with one line on stderr; returns that stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        self.fails_with_stdin(args, "")
    }

    pub fn fails_with_stdin(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run(args, stdin);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            !out.status.success(),
            "portolan {args:?} should have failed; stdout:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            stderr.starts_with("error: "),
            "stderr should be one clear error: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        stderr
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.files.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn write_str(&self, name: &str, text: &str) -> String {
        self.write(name, text).to_string_lossy().into_owned()
    }
}

/// A minimal valid prompt file.
pub fn prompt_file(name: &str, system: &str, user: &str) -> String {
    format!(
        "---\nname: {name}\nmodel:\n  id: gpt-4o-mini\n---\nsystem:\n{system}\n\nuser:\n{user}\n"
    )
}

/// A library in a throwaway directory (the samples in it when `seed_samples`) with one virtual
/// key per name in `keys`, all pointing at a fake OpenAI on 127.0.0.1 that accepts only
/// `secret`: the starting point of the engine, gateway and governance tests.
pub async fn library_with_fake_openai(
    seed_samples: bool,
    keys: &[&str],
    secret: &str,
) -> (
    tempfile::TempDir,
    std::sync::Arc<portolan::Store>,
    fake_providers::FakeServer,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(
        portolan::Store::open_with(
            dir.path(),
            portolan::StoreOptions {
                seed_samples,
                use_keyring: false,
                master_key: Some("ab".repeat(32)),
            },
        )
        .unwrap(),
    );
    let fake = fake_providers::FakeServer::start().await;
    fake.expect_key(secret);
    for name in keys {
        store
            .add_key(
                &portolan::keys::NewKey {
                    name: (*name).into(),
                    provider: "openai".into(),
                    base_url: Some(format!("{}/v1", fake.base_url())),
                    notes: None,
                },
                &portolan::secrets::SecretString::new(secret.into()),
                &portolan::store::Actor::Cli,
            )
            .unwrap();
    }
    (dir, store, fake)
}
