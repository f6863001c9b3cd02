//! A throwaway Redis for the team-store tests: `redis-server` on 127.0.0.1 on an unused port,
//! nothing saved to disk, killed when the value is dropped. Installed by `scripts/setup.sh
//! --test`; missing, the tests skip, except under `CI=true` or `./test`
//! (`PORTOLAN_REQUIRE_POSTGRES=1`), where it is a failure.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct TestRedis {
    child: Child,
    pub port: u16,
}

impl TestRedis {
    pub fn start() -> Option<TestRedis> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !installed {
            let required = std::env::var("CI").as_deref() == Ok("true")
                || std::env::var("PORTOLAN_REQUIRE_POSTGRES").as_deref() == Ok("1");
            assert!(
                !required,
                "redis-server is not installed (scripts/setup.sh --test installs it); under CI=true or ./test the team-store tests must run"
            );
            eprintln!("skipped: redis-server is not installed (scripts/setup.sh --test)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port on 127.0.0.1");
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--maxmemory-policy", "noeviction"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let redis = TestRedis { child, port };
        // Ready when it answers PING (bounded).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if redis.ping() {
                break;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
