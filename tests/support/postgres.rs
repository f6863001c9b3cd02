//! A throwaway PostgreSQL server for the team-store tests: a new cluster in a temporary
//! directory, listening on 127.0.0.1 on an unused port, stopped (by its postmaster's PID) when
//! the value is dropped. `scripts/setup.sh --test` installs the server; without it the tests
//! skip, except under `CI=true` or `./test` (`PORTOLAN_REQUIRE_POSTGRES=1`), where a missing
//! server is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct TestPostgres {
    dir: tempfile::TempDir,
    pub port: u16,
    bin: PathBuf,
    /// The server's options (`pg_ctl -o`), to start it again on the same port.
    options: String,
    as_postgres: bool,
}

/// The directory holding `initdb` and `pg_ctl`, newest version first.
fn server_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// An unused port on 127.0.0.1 (free when asked; the server takes it at once).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

impl TestPostgres {
    /// Starts a server, or None (after saying why) when none is installed outside CI.
    pub fn start() -> Option<TestPostgres> {
        let Some(bin) = server_bin() else {
            let required = std::env::var("CI").as_deref() == Ok("true")
                || std::env::var("PORTOLAN_REQUIRE_POSTGRES").as_deref() == Ok("1");
            assert!(
                !required,
                "PostgreSQL is not installed (scripts/setup.sh --test installs it); under CI=true or ./test the team-store tests must run"
            );
            eprintln!("skipped: PostgreSQL is not installed (scripts/setup.sh --test)");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("portolan-pg-")
            .tempdir()
            .expect("a temporary directory");
        let as_postgres = is_root();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        if as_postgres {
            // initdb refuses to run as root: the cluster belongs to the `postgres` user the
            // package created.
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(status.success(), "chown of {}", dir.path().display());
        }
        let data_s = data.to_str().unwrap();
        run(
            as_postgres,
            &bin.join("initdb"),
            &[
                "-D",
                data_s,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        let port = free_port();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c full_page_writes=off -c max_connections=200",
            dir.path().display()
        );
        let server = TestPostgres {
            dir,
            port,
            bin,
            options,
            as_postgres,
        };
        server.start_again();
        Some(server)
    }

    /// Starts the server (again, after [`TestPostgres::stop`]) on the same port and data.
    pub fn start_again(&self) {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("server.log");
        run(
            self.as_postgres,
            &self.bin.join("pg_ctl"),
            &[
                "-w",
                "-D",
                data.to_str().unwrap(),
                "-o",
                &self.options,
                "-l",
                log.to_str().unwrap(),
                "start",
            ],
        );
    }

    /// The connection URL of a new database on this server (each test its own).
    pub fn database(&self, name: &str) -> String {
        let admin = self.url("postgres");
        let url = self.url(name);
        let name = name.to_owned();
        // A blocking client on its own thread: tests call this from inside a runtime.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
                    .await
                    .expect("connect to the test server");
                tokio::spawn(conn);
                client
                    .batch_execute(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create the test database");
            });
        })
        .join()
        .unwrap();
        url
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// The postmaster's PID, from its pid file.
    fn pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }
}

impl TestPostgres {
    /// Stops the server at once, as a crash would (see [`TestPostgres::start_again`]).
    pub fn stop(&self) {
        // SIGQUIT: the postmaster stops at once (no checkpoint; recovery runs on the next
        // start).
        if let Some(pid) = self.pid() {
            // SAFETY: kill has no memory preconditions; the PID is the server we started.
            unsafe {
                libc::kill(pid, libc::SIGQUIT);
            }
            // Wait (bounded) until it has exited, so the directory can be removed. Its parent
            // is not this process, so it may linger as a zombie: that counts as gone.
            let stat = format!("/proc/{pid}/stat");
            for _ in 0..500 {
                let gone = match std::fs::read_to_string(&stat) {
                    Ok(s) => s
                        .rsplit(')')
                        .next()
                        .is_some_and(|r| r.trim_start().starts_with('Z')),
                    Err(_) => true,
                };
                if gone {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs a PostgreSQL tool, as the `postgres` user when we are root.
fn run(as_postgres: bool, program: &Path, args: &[&str]) {
    let mut cmd = if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    let out = cmd.args(args).output().expect("run a PostgreSQL tool");
    assert!(
        out.status.success(),
        "{} {args:?}: {}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
