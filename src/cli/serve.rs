//! `portolan serve` and `portolan tokens`.

use std::sync::Arc;

use clap::{Args, Subcommand};

use portolan::gateway::{self, GatewayConfig};
use portolan::routing::Engine;
use portolan::{Error, Store};

use super::{CliResult, print_json};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Interface to listen on; anything but a loopback address exposes the gateway to your network
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = gateway::DEFAULT_PORT)]
    port: u16,
    /// Largest request body accepted, in bytes
    #[arg(long, default_value_t = gateway::DEFAULT_BODY_LIMIT)]
    max_body: usize,
}

#[derive(Subcommand, Debug)]
pub enum TokensCmd {
    /// Create a gateway token (shown once)
    Create { name: String },
    /// List gateway tokens (prefixes only)
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a gateway token
    Revoke { name: String },
}

pub fn serve(store: Store, args: ServeArgs) -> CliResult {
    let store = Arc::new(store);
    let mut first_token = None;
    if store.list_tokens()?.is_empty() {
        first_token = Some(store.create_token("default")?);
    }
    let engine = Engine::new(store.clone())?;
    let config = GatewayConfig {
        host: args.host.clone(),
        port: args.port,
        body_limit: args.max_body,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Io {
            context: "could not start the async runtime".into(),
            source: e,
        })?;
    rt.block_on(async move {
        let bound = gateway::bind(engine.clone(), &config)
            .await
            .map_err(|e| Error::Io { context: format!("could not listen on {}:{}", config.host, config.port), source: e })?;
        let addr = bound.local_addr().map_err(|e| Error::Io { context: "no local address".into(), source: e })?;
        let host = if addr.ip().is_loopback() { addr.ip().to_string() } else { config.host.clone() };
        let host = if host.contains(':') { format!("[{host}]") } else { host };
        println!("Portolan gateway listening on http://{host}:{}/v1", addr.port());
        match &first_token {
            Some(t) => println!(
                "Created gateway token 'default' (shown only now): {}\n  e.g. curl http://{host}:{}/v1/chat/completions -H \"Authorization: Bearer {}\" -H 'content-type: application/json' -d '{{\"model\":\"demo/small\",\"messages\":[{{\"role\":\"user\",\"content\":\"hi\"}}]}}'",
                t.secret,
                addr.port(),
                t.secret
            ),
            None => println!("Authenticate with a gateway token: `portolan tokens list` shows them, `portolan tokens create <name>` makes one."),
        }
        if !addr.ip().is_loopback() {
            eprintln!("warning: listening on {} — other machines on your network can reach this gateway (tokens are still required)", addr.ip());
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let shutdown = async {
            let ctrl_c = tokio::signal::ctrl_c();
            #[cfg(unix)]
            {
                let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {},
                }
            }
            #[cfg(not(unix))]
            let _ = ctrl_c.await;
            eprintln!("shutting down: finishing in-flight requests");
        };
        bound.serve(shutdown).await.map_err(|e| Error::Io { context: "the gateway stopped".into(), source: e })?;
        engine.flush_logs();
        Ok(())
    })
}

pub fn tokens(store: Store, cmd: TokensCmd) -> CliResult {
    match cmd {
        TokensCmd::Create { name } => {
            let t = store.create_token(&name)?;
            println!(
                "created gateway token '{}' — copy it now, it is not shown again:\n{}",
                t.token.name, t.secret
            );
            Ok(())
        }
        TokensCmd::List { json } => {
            let tokens = store.list_tokens()?;
            if json {
                return print_json(&tokens);
            }
            if tokens.is_empty() {
                println!("No gateway tokens. Create one with: portolan tokens create <name>");
                return Ok(());
            }
            println!(
                "{:<20}  {:<14}  {:<17}  LAST USED",
                "NAME", "TOKEN", "CREATED"
            );
            for t in tokens {
                println!(
                    "{:<20}  {:<14}  {:<17}  {}",
                    t.name,
                    t.prefix,
                    t.created_at.format("%Y-%m-%d %H:%M"),
                    t.last_used_at
                        .map_or("never".into(), |d| d.format("%Y-%m-%d %H:%M").to_string())
                );
            }
            Ok(())
        }
        TokensCmd::Revoke { name } => {
            store.revoke_token(&name)?;
            println!("revoked gateway token '{name}'");
            Ok(())
        }
    }
}
