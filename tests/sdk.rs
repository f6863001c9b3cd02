//! Real client libraries against `portolan serve`, as users write them: the OpenAI SDKs (Python
//! and npm: chat, streamed chat, a prompt by id, errors; the Responses API), Anthropic's Python
//! SDK (the Messages API), Portkey's SDKs (Python and npm) and LangChain's `ChatOpenAI`. Those
//! that need model answers reach fake providers on 127.0.0.1 (an OpenAI-format one behind the
//! virtual key `openai`, an Anthropic-format one behind `anthropic`) that each script queues
//! answers on. `./test` installs every library (tests/sdk/requirements.txt, package.json) and
//! sets PORTOLAN_REQUIRE_SDK_TESTS=1, so there a missing one fails the test; elsewhere it is
//! reported and skipped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use fake_providers::FakeServer;

struct Served {
    child: Child,
    base: String,
    token: String,
    _home: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        // SIGTERM: the gateway drains and exits (nextest's slow-timeout guards a hang).
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

fn serve() -> Served {
    serve_in(tempfile::tempdir().unwrap())
}

/// The secret each fake provider expects (so a test sees the virtual key's secret went upstream).
const OPENAI_SECRET: &str = "sk-fake-openai-key";
const ANTHROPIC_SECRET: &str = "sk-ant-fake-key";

/// `portolan serve` with virtual keys `openai` and `anthropic` pointing at fake providers.
struct WithFakes {
    served: Served,
    openai: FakeServer,
    anthropic: FakeServer,
}

fn serve_with_fakes() -> WithFakes {
    let home = tempfile::tempdir().unwrap();
    let openai = FakeServer::start_blocking();
    openai.expect_key(OPENAI_SECRET);
    let anthropic = FakeServer::start_blocking();
    anthropic.expect_key(ANTHROPIC_SECRET);
    for (name, provider, url, secret) in [
        (
            "openai",
            "openai",
            format!("{}/v1", openai.base_url()),
            OPENAI_SECRET,
        ),
        (
            "anthropic",
            "anthropic",
            anthropic.base_url(),
            ANTHROPIC_SECRET,
        ),
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_portolan"))
            .args([
                "keys",
                "add",
                name,
                "--provider",
                provider,
                "--base-url",
                &url,
            ])
            .env("PORTOLAN_HOME", home.path())
            .env("PORTOLAN_KEYRING", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(secret.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "keys add {name}");
    }
    WithFakes {
        served: serve_in(home),
        openai,
        anthropic,
    }
}

/// Runs `program script args…` from tests/sdk and checks it passed `checks` checks.
fn run_script(program: &std::path::Path, script: &str, args: &[&str], checks: usize) {
    let out = Command::new(program)
        .arg(sdk_dir().join(script))
        .args(args)
        .current_dir(sdk_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script}:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("{checks} checks passed")),
        "{script}:\n{stdout}"
    );
}

/// Whether the Python environment has `module`; a missing one fails under ./test.
fn python_has(module: &str) -> bool {
    let has = Command::new(python())
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    if !has {
        assert!(
            !required(),
            "the Python package {module} is not installed (./test installs tests/sdk/requirements.txt)"
        );
        eprintln!("skipped: the Python package {module} is not installed");
    }
    has
}

/// Whether tests/sdk has the npm package `name`; a missing one fails under ./test.
fn node_has(name: &str) -> bool {
    let has = sdk_dir()
        .join(format!("node_modules/{name}/package.json"))
        .exists()
        && Command::new("node")
            .arg("--version")
            .status()
            .is_ok_and(|s| s.success());
    if !has {
        assert!(
            !required(),
            "the npm package {name} is not installed in tests/sdk (./test installs it)"
        );
        eprintln!("skipped: run `npm install` in tests/sdk");
    }
    has
}

#[test]
fn python_openai_sdk_uses_the_responses_api() {
    if !python_has("openai") {
        return;
    }
    let f = serve_with_fakes();
    let fake = f.openai.base_url();
    run_script(
        &python(),
        "openai_responses_test.py",
        &[&f.served.base, &f.served.token, &fake],
        7,
    );
}

#[test]
fn js_openai_sdk_uses_the_responses_api() {
    if !node_has("openai") {
        return;
    }
    let f = serve_with_fakes();
    let fake = f.openai.base_url();
    run_script(
        std::path::Path::new("node"),
        "openai_responses_test.mjs",
        &[&f.served.base, &f.served.token, &fake],
        5,
    );
}

#[test]
fn python_anthropic_sdk_uses_the_messages_api_on_both_upstream_formats() {
    if !python_has("anthropic") {
        return;
    }
    let f = serve_with_fakes();
    let root = f.served.base.trim_end_matches("/v1").to_owned();
    let (openai, anthropic) = (f.openai.base_url(), f.anthropic.base_url());
    run_script(
        &python(),
        "anthropic_sdk_test.py",
        &[&root, &f.served.token, &openai, &anthropic],
        9,
    );
}

#[test]
fn python_portkey_sdk_works_against_portolan_serve() {
    if !python_has("portkey_ai") {
        return;
    }
    let f = serve_with_fakes();
    let fake = f.openai.base_url();
    run_script(
        &python(),
        "portkey_sdk_test.py",
        &[&f.served.base, &f.served.token, &fake],
        7,
    );
}

#[test]
fn js_portkey_sdk_works_against_portolan_serve() {
    if !node_has("portkey-ai") {
        return;
    }
    let f = serve_with_fakes();
    let fake = f.openai.base_url();
    run_script(
        std::path::Path::new("node"),
        "portkey_sdk_test.mjs",
        &[&f.served.base, &f.served.token, &fake],
        6,
    );
}

#[test]
fn langchain_chat_openai_works_against_portolan_serve() {
    if !python_has("langchain_openai") {
        return;
    }
    let f = serve_with_fakes();
    let fake = f.openai.base_url();
    run_script(
        &python(),
        "langchain_test.py",
        &[&f.served.base, &f.served.token, &fake],
        4,
    );
}

fn serve_in(home: tempfile::TempDir) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portolan"))
        .args(["serve", "--port", "0"])
        .env("PORTOLAN_HOME", home.path())
        .env("PORTOLAN_KEYRING", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let base = first.rsplit(' ').next().unwrap().to_owned();
    let second = lines.next().unwrap().unwrap();
    let token = second.rsplit(' ').next().unwrap().to_owned();
    assert!(
        base.starts_with("http://127.0.0.1:") && base.ends_with("/v1"),
        "{first}"
    );
    assert!(token.starts_with("pt_"), "{second}");
    std::thread::spawn(move || for _ in lines {});
    Served {
        child,
        base,
        token,
        _home: home,
    }
}

fn required() -> bool {
    std::env::var("PORTOLAN_REQUIRE_SDK_TESTS").is_ok_and(|v| v == "1")
}

fn sdk_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk")
}

/// The virtualenv `./test` makes, else the system's python3.
fn python() -> std::path::PathBuf {
    let venv = sdk_dir().join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

#[test]
fn python_openai_sdk_works_against_portolan_serve() {
    let has_sdk = Command::new(python())
        .args(["-c", "import openai"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_sdk {
        assert!(
            !required(),
            "the openai Python package is not installed (./test installs it)"
        );
        eprintln!("skipped: the openai Python package is not installed (pip install openai)");
        return;
    }
    let s = serve();
    let out = Command::new(python())
        .arg(sdk_dir().join("openai_sdk_test.py"))
        .args([&s.base, &s.token])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("5 checks passed"));
}

#[test]
fn js_openai_sdk_works_against_portolan_serve() {
    let has_sdk = sdk_dir().join("node_modules/openai/package.json").exists()
        && Command::new("node")
            .arg("--version")
            .status()
            .is_ok_and(|s| s.success());
    if !has_sdk {
        assert!(
            !required(),
            "the openai npm package is not installed in tests/sdk (./test installs it)"
        );
        eprintln!("skipped: run `npm install` in tests/sdk to test the JS SDK");
        return;
    }
    let s = serve();
    let out = Command::new("node")
        .arg(sdk_dir().join("openai_sdk_test.mjs"))
        .args([&s.base, &s.token])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("5 checks passed"));
}

#[test]
fn serve_answers_health_and_shuts_down_cleanly_on_sigterm() {
    use std::io::{Read, Write};
    let mut s = serve();
    let addr = s
        .base
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .to_owned();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("\"status\":\"ok\""), "{reply}");
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(s.child.id().to_string())
        .status();
    let status = s.child.wait().unwrap();
    assert!(status.success(), "serve exited with {status}");
}
