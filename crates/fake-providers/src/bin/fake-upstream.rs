//! A standalone fake provider for benchmarks: answers every request at once with a short reply
//! (streams included), on 127.0.0.1. Prints its base URL, then serves until killed.
//! Usage: fake-upstream [PORT]

use fake_providers::{Behavior, FakeServer};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let server = if port == 0 {
        FakeServer::start().await
    } else {
        match FakeServer::try_start_on(port).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("fake-upstream: cannot listen on 127.0.0.1:{port}: {e}");
                std::process::exit(1);
            }
        }
    };
    server.set_default(Behavior::reply("ok, this is a short benchmark answer"));
    server.set_recording(false);
    println!("{}", server.base_url());
    use std::io::Write;
    let _ = std::io::stdout().flush();
    std::future::pending::<()>().await;
}
