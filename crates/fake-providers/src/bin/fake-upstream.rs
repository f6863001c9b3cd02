//! A standalone fake provider for benchmarks and the desktop end-to-end test: answers every
//! request at once with a short reply (streams included), on 127.0.0.1. Prints its base URL,
//! then serves until killed.
//!
//! Usage: fake-upstream [PORT] [--rate-limit-first N] [--retry-after-ms MS] [--reply TEXT]
//!
//! `--reply TEXT` answers every request with TEXT (a judge's JSON verdict, say) instead of the
//! short default answer.
//!
//! `--rate-limit-first N` answers the first N chat requests with 429 (OpenAI's error shape,
//! `retry-after-ms: MS`, default 200) before the replies start.

use fake_providers::{Behavior, FakeServer};

struct Args {
    port: u16,
    rate_limit_first: usize,
    retry_after_ms: u64,
    reply: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: 0,
        rate_limit_first: 0,
        retry_after_ms: 200,
        reply: "ok, this is a short benchmark answer".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| format!("{name} needs a number"))
        };
        if a == "--reply" {
            args.reply = it.next().ok_or("--reply needs a text")?;
            continue;
        }
        match a.as_str() {
            "--rate-limit-first" => args.rate_limit_first = value(&a)? as usize,
            "--retry-after-ms" => args.retry_after_ms = value(&a)?,
            p => {
                args.port = p.parse().map_err(|_| {
                    format!(
                        "unknown argument '{p}' (a port, --rate-limit-first N, --retry-after-ms MS, --reply TEXT)"
                    )
                })?
            }
        }
    }
    Ok(args)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fake-upstream: {e}");
            std::process::exit(2);
        }
    };
    let server = if args.port == 0 {
        FakeServer::start().await
    } else {
        match FakeServer::try_start_on(args.port).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!(
                    "fake-upstream: cannot listen on 127.0.0.1:{}: {e}",
                    args.port
                );
                std::process::exit(1);
            }
        }
    };
    for _ in 0..args.rate_limit_first {
        server.push(Behavior::Status {
            status: 429,
            message: "Rate limit reached for requests (fake-upstream)".into(),
            retry_after: None,
            retry_after_ms: Some(args.retry_after_ms),
        });
    }
    server.set_default(Behavior::reply(args.reply));
    server.set_recording(false);
    println!("{}", server.base_url());
    use std::io::Write;
    let _ = std::io::stdout().flush();
    std::future::pending::<()>().await;
}
