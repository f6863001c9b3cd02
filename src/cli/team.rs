//! The CLI on a team's shared store (`--store postgres://…`): managing the prompts, keys, tokens,
//! budgets and rate limits every replica of the team gateway serves from.

use portolan::prompts::PromptContent;
use portolan::secrets::{MasterKey, MasterKeySource};
use portolan::store::postgres::{PgCatalog, PgStore};
use portolan::store::{Actor, Subject, SubjectKind};
use portolan::{Error, Store};

use super::governance::{BudgetArgs, LimitArgs};
use super::{CliError, CliResult, Command, KeysCmd, PromptsCmd, SettingsCmd, print_json};
use crate::cli::serve::TokensCmd;

/// Runs `command` against the shared store at `url`.
pub(super) fn run(local: Store, url: &str, command: Command) -> CliResult {
    // serve starts a runtime of its own.
    if let Command::Serve(args) = command {
        return super::serve::serve(local, args, Some(url));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Io {
            context: "could not start the async runtime".into(),
            source: e,
        })?;
    match command {
        Command::Prompts(cmd) => rt.block_on(async { prompts(&connect(url).await?, cmd).await }),
        Command::Keys(cmd) => rt.block_on(async { keys(&connect(url).await?, cmd).await }),
        Command::Tokens(cmd) => rt.block_on(async { tokens(&connect(url).await?, cmd).await }),
        Command::Settings(SettingsCmd::Show { json }) => rt.block_on(async {
            let team = connect(url).await?;
            let settings = portolan::routing::EngineSettings::load_shared(&team.catalog).await?;
            super::governance::print_settings(&settings, json)
        }),
        Command::Settings(SettingsCmd::Set { name, value }) => rt.block_on(async {
            let team = connect(url).await?;
            let current = portolan::routing::EngineSettings::load_shared(&team.catalog).await?;
            let next = super::governance::with_setting(current, &name, &value)?;
            next.save_shared(&team.catalog).await?;
            println!("{name} = {value} (every replica follows within a second)");
            Ok(())
        }),
        other => Err(CliError::Usage(format!(
            "`portolan {}` works on this machine's library, not on the shared store yet; run it without --store (or unset PORTOLAN_STORE). With --store: serve, prompts list/create/save/label, keys add/list/budget/limit, tokens create/list/revoke/budget/limit, settings show/set",
            command_name(&other)
        ))),
    }
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Prompts(_) => "prompts",
        Command::Keys(_) => "keys",
        Command::Run(_) => "run",
        Command::Chat(_) => "chat",
        Command::Compare(_) => "compare",
        Command::Logs(_) => "logs",
        Command::Feedback(_) => "feedback",
        Command::Bundle(_) => "bundle",
        Command::Datasets(_) => "datasets",
        Command::Eval(_) => "eval",
        Command::Serve(_) => "serve",
        Command::Tokens(_) => "tokens",
        Command::Settings(_) => "settings",
        Command::Audit { .. } => "audit",
        Command::Status { .. } => "status",
    }
}

/// The shared store and its catalog; keys open with PORTOLAN_MASTER_KEY when it is set.
struct Team {
    store: std::sync::Arc<PgStore>,
    catalog: PgCatalog,
    /// Whether PORTOLAN_MASTER_KEY was given (keys can be added and opened).
    has_master: bool,
}

/// The team's master key, from PORTOLAN_MASTER_KEY (the same on every replica), if set.
pub(super) fn team_master_key() -> Result<Option<MasterKey>, Error> {
    match std::env::var("PORTOLAN_MASTER_KEY") {
        Ok(text) => Ok(Some(MasterKey::parse(&text, MasterKeySource::Environment)?)),
        Err(_) => Ok(None),
    }
}

async fn connect(url: &str) -> Result<Team, CliError> {
    let store = std::sync::Arc::new(PgStore::connect(url).await?);
    let master = team_master_key()?;
    Ok(Team {
        has_master: master.is_some(),
        catalog: PgCatalog::new(store.clone(), master),
        store,
    })
}

async fn prompts(team: &Team, cmd: PromptsCmd) -> CliResult {
    use portolan::store::Catalog;
    match cmd {
        PromptsCmd::List { json } => {
            let list = team.catalog.list_prompts().await?;
            if json {
                return print_json(&list);
            }
            for p in list {
                let labels: Vec<String> = p
                    .labels
                    .iter()
                    .map(|l| format!("{}→v{}", l.name, l.version))
                    .collect();
                println!(
                    "{}  {}  v{}  {}",
                    p.slug,
                    p.id,
                    p.latest_version,
                    labels.join(" ")
                );
            }
            Ok(())
        }
        PromptsCmd::Create {
            slug,
            file,
            message,
        } => {
            let parsed = portolan::prompt_source::read(&file)?;
            let saved = team
                .catalog
                .create_prompt(&slug, &parsed.content, message.as_deref(), &Actor::Cli)
                .await?;
            for label in &parsed.labels {
                team.catalog
                    .set_label(&saved.prompt_id, saved.version, label, &Actor::Cli)
                    .await?;
            }
            println!(
                "created {} ({}) version {} in the shared store",
                saved.slug, saved.prompt_id, saved.version
            );
            Ok(())
        }
        PromptsCmd::Save {
            prompt,
            file,
            message,
        } => {
            let parsed = portolan::prompt_source::read(&file)?;
            let content: &PromptContent = &parsed.content;
            let saved = team
                .catalog
                .save_version(&prompt, content, message.as_deref(), &Actor::Cli)
                .await?;
            if saved.created {
                println!(
                    "saved {} version {} in the shared store",
                    saved.slug, saved.version
                );
            } else {
                println!(
                    "unchanged: {} is still at version {} (the file matches it)",
                    saved.slug, saved.version
                );
            }
            Ok(())
        }
        PromptsCmd::Label {
            prompt,
            version,
            label,
            gate,
        } => {
            if gate.is_some() {
                return Err(CliError::Usage(
                    "--gate runs an eval on this machine's library; it does not work with --store yet".into(),
                ));
            }
            team.catalog
                .set_label(&prompt, version, &label, &Actor::Cli)
                .await?;
            println!("{label} → {prompt} version {version} in the shared store");
            Ok(())
        }
        _ => Err(CliError::Usage(
            "with --store, `prompts` can list, create, save and label; show, versions, render and diff work on this machine's library".into(),
        )),
    }
}

async fn keys(team: &Team, cmd: KeysCmd) -> CliResult {
    use portolan::store::Catalog;
    match cmd {
        KeysCmd::Add {
            name,
            provider,
            base_url,
            notes,
            cloud,
        } => {
            let provider = portolan::providers::Provider::from_id(&provider)
                .map_or(provider, |p| p.id().to_owned());
            let new = portolan::keys::NewKey {
                name,
                provider,
                base_url,
                notes,
            };
            new.validate_fields()?;
            if !team.has_master {
                return Err(CliError::Usage(
                    "keys in the shared store are sealed with the team's master key: set PORTOLAN_MASTER_KEY (the same on every replica)".into(),
                ));
            }
            let secret = super::cloud_secret(
                &new.name,
                &new.provider,
                &cloud,
                &format!("Secret for virtual key '{}': ", new.name),
                None,
            )?;
            let key = team.catalog.add_key(&new, &secret, &Actor::Cli).await?;
            println!(
                "added virtual key {} ({}, {}) {} to the shared store",
                key.name, key.provider, key.id, key.mask
            );
            Ok(())
        }
        KeysCmd::List { json } => {
            let keys = team.catalog.list_keys().await?;
            if json {
                return print_json(&keys);
            }
            for k in keys {
                println!("{}  {}  {}  {}", k.name, k.provider, k.id, k.mask);
            }
            Ok(())
        }
        KeysCmd::Budget(args) => {
            let id = team.catalog.key_id(&args.name).await?;
            budget(team, subject(SubjectKind::Key, id, &args.name), &args).await
        }
        KeysCmd::Limit(args) => {
            let id = team.catalog.key_id(&args.name).await?;
            limits(team, subject(SubjectKind::Key, id, &args.name), &args).await
        }
        _ => Err(CliError::Usage(
            "with --store, `keys` can add, list, budget and limit".into(),
        )),
    }
}

async fn tokens(team: &Team, cmd: TokensCmd) -> CliResult {
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
                team.catalog.key_id(k).await?;
            }
            let (scopes, expires) = super::serve::token_terms(
                prompts,
                keys,
                models,
                [read_only, allow_custom_host, allow_guardrail_override],
                expires_days,
            );
            let t = team
                .catalog
                .create_token(&name, scopes, expires, &Actor::Cli)
                .await?;
            println!(
                "created gateway token '{}' in the shared store — copy it now, it is not shown again:\n{}",
                t.token.name, t.secret
            );
            Ok(())
        }
        TokensCmd::List { json } => {
            let tokens = team.catalog.list_tokens().await?;
            if json {
                return print_json(&tokens);
            }
            for t in tokens {
                println!("{}  {}  {}", t.name, t.prefix, t.id);
            }
            Ok(())
        }
        TokensCmd::Revoke { name } => {
            team.catalog.revoke_token(&name).await?;
            println!("revoked gateway token '{name}' (refused by every replica within seconds)");
            Ok(())
        }
        TokensCmd::Budget(args) => {
            let id = team.catalog.token_id(&args.name).await?;
            budget(team, subject(SubjectKind::Token, id, &args.name), &args).await
        }
        TokensCmd::Limit(args) => {
            let id = team.catalog.token_id(&args.name).await?;
            limits(team, subject(SubjectKind::Token, id, &args.name), &args).await
        }
    }
}

fn subject(kind: SubjectKind, id: String, name: &str) -> Subject {
    Subject {
        kind,
        id,
        name: name.to_owned(),
    }
}

async fn budget(team: &Team, subject: Subject, args: &BudgetArgs) -> CliResult {
    let (period, unit, limit) = super::governance::wanted_budget(args)?;
    team.store
        .set_budget(&subject, unit, limit, period, args.alert, &Actor::Cli)
        .await?;
    println!("budget for {} set in the shared store", subject.name);
    Ok(())
}

async fn limits(team: &Team, subject: Subject, args: &LimitArgs) -> CliResult {
    for (unit, window, v) in super::governance::wanted_limits(args)? {
        team.store
            .set_rate_limit(&subject, unit, window, v, &Actor::Cli)
            .await?;
    }
    println!("rate limits for {} set in the shared store", subject.name);
    Ok(())
}
