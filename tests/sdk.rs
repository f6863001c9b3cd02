//! The official OpenAI SDKs (Python `openai`, npm `openai`) against `portolan serve`, as users
//! would write them: chat, streamed chat, a prompt by id, and errors. `./test` installs both and
//! sets PORTOLAN_REQUIRE_SDK_TESTS=1, so there a missing SDK fails the test; elsewhere it is
//! reported and skipped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

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
    let home = tempfile::tempdir().unwrap();
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
