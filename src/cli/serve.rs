//! `portolan serve` and `portolan tokens`.

use std::sync::Arc;

use clap::{Args, Subcommand};

use portolan::gateway::{self, GatewayConfig};
use portolan::routing::Engine;
use portolan::store::Actor;
use portolan::{Error, Store};

use super::{CliError, CliResult, print_json};

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
    /// On SIGTERM/Ctrl-C, how long calls in flight may take to finish before open streams are
    /// ended (a second signal ends them at once)
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    drain_timeout: u64,
    /// With --store (a team gateway's replica): count rate-limit windows in this Redis
    /// (redis://host:port/db) rather than in PostgreSQL
    #[arg(long, env = "PORTOLAN_REDIS", value_name = "URL")]
    redis: Option<String>,
    /// With --store: `sync` answers a call only once its log record is committed (a replica
    /// killed loses no answered call); `async` queues it (a crash loses at most the queue)
    #[arg(long, env = "PORTOLAN_LOG_DURABILITY", default_value = "async", value_parser = ["async", "sync"])]
    log_durability: String,
}

/// An engine on the team's shared store, and the first token when the store had none.
async fn team_engine(
    local: &Store,
    url: &str,
    redis: Option<&str>,
    sync_log: bool,
) -> Result<(Engine, Option<portolan::store::NewToken>), CliError> {
    use portolan::store::postgres::{Durability, TeamStore};
    let master = super::team::team_master_key()?;
    if master.is_none() {
        eprintln!(
            "warning: PORTOLAN_MASTER_KEY is not set: calls through the team's virtual keys will be refused until it is"
        );
    }
    let durability = if sync_log {
        Durability::Sync
    } else {
        Durability::Async
    };
    let team = TeamStore::connect(url, redis, master, local.data_dir(), durability).await?;
    let mut first_token = None;
    if !team.catalog.has_tokens().await? {
        first_token = Some(
            team.catalog
                .create_token("default", Default::default(), None, &Actor::Cli)
                .await?,
        );
    }
    let settings = portolan::routing::EngineSettings::load_shared(team.catalog.as_ref()).await?;
    let prices = portolan::pricing::PriceTable::for_data_dir(local.data_dir())?;
    let engine = Engine::following_store(team.backends, settings, prices)?;
    eprintln!(
        "team gateway: shared store {}, {} log{}",
        team.store.endpoint(),
        if sync_log { "sync" } else { "async" },
        if redis.is_some() {
            ", rate limits in Redis"
        } else {
            ""
        }
    );
    Ok((engine, first_token))
}

/// A new token's scopes and expiry, from `tokens create`'s flags (`flags`: read only, custom
/// host allowed, guardrail override allowed).
pub(super) fn token_terms(
    prompts: Vec<String>,
    keys: Vec<String>,
    models: Vec<String>,
    flags: [bool; 3],
    expires_days: Option<u32>,
) -> (
    portolan::store::TokenScopes,
    Option<chrono::DateTime<chrono::Utc>>,
) {
    let [read_only, allow_custom_host, allow_guardrail_override] = flags;
    let scopes = portolan::store::TokenScopes {
        prompts,
        keys,
        models,
        read_only,
        allow_custom_host,
        allow_guardrail_override,
        unreadable: false,
    };
    let expires = expires_days.map(|d| chrono::Utc::now() + chrono::Duration::days(d as i64));
    (scopes, expires)
}

#[derive(Subcommand, Debug)]
pub enum TokensCmd {
    /// Create a gateway token (shown once), optionally limited in scope and time
    Create {
        name: String,
        /// Only these prompts (id, slug, or label:<name>; repeatable)
        #[arg(long = "prompt")]
        prompts: Vec<String>,
        /// Only these virtual keys (`demo` for the demo provider; repeatable)
        #[arg(long = "key")]
        keys: Vec<String>,
        /// Only these models (a trailing * matches a prefix; repeatable)
        #[arg(long = "model")]
        models: Vec<String>,
        /// Render and read only: no model calls
        #[arg(long)]
        read_only: bool,
        /// May call a routing config's custom_host with its own api_key, or a keyless provider
        /// there (stored keys never go to another host)
        #[arg(long)]
        allow_custom_host: bool,
        /// May weaken the PII guardrail set with `portolan settings pii` (a floor otherwise)
        #[arg(long)]
        allow_guardrail_override: bool,
        /// Expire after this many days
        #[arg(long)]
        expires_days: Option<u32>,
    },
    /// Set a spend or token budget on a token
    Budget(super::governance::BudgetArgs),
    /// Set rate limits on a token
    Limit(super::governance::LimitArgs),
    /// List gateway tokens (prefixes only)
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a gateway token
    Revoke { name: String },
}

/// Runs the gateway on this machine's library, or, with `shared` (`--store`), as a replica of
/// a team gateway on that PostgreSQL.
pub fn serve(store: Store, args: ServeArgs, shared: Option<&str>) -> CliResult {
    if args.redis.is_some() && shared.is_none() {
        return Err(CliError::Usage(
            "--redis counts a team gateway's rate limits: give --store postgres://… too".into(),
        ));
    }
    let store = Arc::new(store);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Io {
            context: "could not start the async runtime".into(),
            source: e,
        })?;
    let (engine, first_token) = match shared {
        None => {
            let mut first_token = None;
            if store.list_tokens()?.is_empty() {
                first_token = Some(store.create_token("default", &Actor::Cli)?);
            }
            (Engine::new(store.clone())?, first_token)
        }
        Some(url) => rt.block_on(team_engine(
            &store,
            url,
            args.redis.as_deref(),
            args.log_durability == "sync",
        ))?,
    };
    let config = GatewayConfig {
        host: args.host.clone(),
        port: args.port,
        body_limit: args.max_body,
    };
    rt.block_on(async move {
        // Install the signal handlers before the port is open: a SIGTERM that arrives as soon as
        // the gateway answers must stop it gracefully, not kill it with the default action.
        let mut stop = ShutdownSignals::install()?;
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
        // Shutdown: the first signal stops accepting and lets calls in flight finish for up to
        // the drain timeout; then (or at a second signal) open streams are ended with an error
        // event. Every call is then settled and logged, and the log queue flushed.
        let closer = bound.closer();
        let drain = std::time::Duration::from_secs(args.drain_timeout);
        let shutdown = async move {
            stop.recv().await;
            eprintln!(
                "shutting down: finishing calls in flight (at most {} s; a second signal ends them now)",
                drain.as_secs()
            );
            tokio::spawn(async move {
                tokio::select! {
                    _ = tokio::time::sleep(drain) => eprintln!("drain timeout: ending open streams"),
                    _ = stop.recv() => eprintln!("second signal: ending open streams now"),
                }
                closer.close();
            });
        };
        // On a worker thread, not this one: `block_on` would run the accept loop here, and every
        // accepted connection would then wake a worker on another thread.
        let served = tokio::spawn(bound.serve(shutdown))
            .await
            .map_err(|e| CliError::Call(format!("the gateway stopped unexpectedly: {e}")))?;
        served.map_err(|e| Error::Io { context: "the gateway stopped".into(), source: e })?;
        // Streams ended by the closer are settled and logged by their relays; give them a
        // moment, then write out the log queue.
        if !engine.wait_idle(std::time::Duration::from_secs(5)).await {
            eprintln!("warning: some calls were still finishing; their reservations expire and are charged later");
        }
        engine.flush_logs_async().await;
        eprintln!("gateway stopped");
        Ok(())
    })
}

pub fn tokens(store: Store, cmd: TokensCmd) -> CliResult {
    match cmd {
        TokensCmd::Create {
            name,
            prompts,
            keys,
            models,
            read_only,
            allow_custom_host,
            allow_guardrail_override,
            expires_days,
        } => {
            for k in keys.iter().filter(|k| k.as_str() != "demo") {
                store.get_key(k)?;
            }
            let (scopes, expires) = token_terms(
                prompts,
                keys,
                models,
                [read_only, allow_custom_host, allow_guardrail_override],
                expires_days,
            );
            let t = store.create_token_scoped(&name, scopes, expires, &Actor::Cli)?;
            println!(
                "created gateway token '{}' — copy it now, it is not shown again:\n{}",
                t.token.name, t.secret
            );
            Ok(())
        }
        TokensCmd::Budget(args) => super::governance::set_budget(
            &store,
            super::governance::token_subject(&store, &args.name)?,
            &args,
        ),
        TokensCmd::Limit(args) => super::governance::set_limits(
            &store,
            super::governance::token_subject(&store, &args.name)?,
            &args,
        ),
        TokensCmd::List { json } => {
            let tokens = store.list_tokens()?;
            if json {
                let mut out = Vec::new();
                for t in &tokens {
                    let mut v = serde_json::to_value(t)?;
                    let usage = super::governance::usage_json(
                        &store,
                        &super::governance::token_subject(&store, &t.name)?,
                    )?;
                    v["budget"] = usage["budget"].clone();
                    v["rate_limits"] = usage["rate_limits"].clone();
                    out.push(v);
                }
                return print_json(&out);
            }
            if tokens.is_empty() {
                println!("No gateway tokens. Create one with: portolan tokens create <name>");
                return Ok(());
            }
            println!(
                "{:<20}  {:<14}  {:<17}  {:<17}  {:<26}  {:<24}  SCOPE",
                "NAME", "TOKEN", "CREATED", "LAST USED", "BUDGET", "LIMITS"
            );
            for t in tokens {
                let subject = super::governance::token_subject(&store, &t.name)?;
                let mut scope = Vec::new();
                if t.scopes.unreadable {
                    scope.push("UNREADABLE (refused; recreate it)".to_owned());
                }
                if t.scopes.allow_custom_host {
                    scope.push("custom hosts".to_owned());
                }
                if t.scopes.allow_guardrail_override {
                    scope.push("guardrail override".to_owned());
                }
                if t.scopes.read_only {
                    scope.push("read-only".to_owned());
                }
                if !t.scopes.prompts.is_empty() {
                    scope.push(format!("prompts {}", t.scopes.prompts.join(",")));
                }
                if !t.scopes.keys.is_empty() {
                    scope.push(format!("keys {}", t.scopes.keys.join(",")));
                }
                if !t.scopes.models.is_empty() {
                    scope.push(format!("models {}", t.scopes.models.join(",")));
                }
                if let Some(e) = t.expires_at {
                    scope.push(format!("expires {}", e.format("%Y-%m-%d")));
                }
                println!(
                    "{:<20}  {:<14}  {:<17}  {:<17}  {:<26}  {:<24}  {}",
                    t.name,
                    t.prefix,
                    t.created_at.format("%Y-%m-%d %H:%M"),
                    t.last_used_at
                        .map_or("never".into(), |d| d.format("%Y-%m-%d %H:%M").to_string()),
                    super::governance::describe_budget(&store, &subject)?,
                    super::governance::describe_limits(&store, &subject)?,
                    if scope.is_empty() {
                        "all".to_owned()
                    } else {
                        scope.join("; ")
                    }
                );
            }
            Ok(())
        }
        TokensCmd::Revoke { name } => {
            store.revoke_token(&name, &Actor::Cli)?;
            println!("revoked gateway token '{name}'");
            Ok(())
        }
    }
}

/// SIGINT/SIGTERM (Ctrl-C elsewhere), registered eagerly so no signal is lost between the port
/// opening and the server polling its shutdown future.
struct ShutdownSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn install() -> Result<Self, Error> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let io = |e| Error::Io {
                context: "could not install the shutdown signal handlers".into(),
                source: e,
            };
            Ok(Self {
                interrupt: signal(SignalKind::interrupt()).map_err(io)?,
                terminate: signal(SignalKind::terminate()).map_err(io)?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {},
            _ = self.terminate.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
