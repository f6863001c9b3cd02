//! Command definitions and their output. Every command prints a human form by default and JSON
//! with `--json`; errors are one sentence on stderr and a non-zero exit.

mod bundle;
mod calls;
mod datasets;
mod eval;
mod governance;
mod serve;
mod team;

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use serde_json::{Map, Value};

use portolan::diff::{Colour, diff_versions};
use portolan::keys::NewKey;
use portolan::prompt_file::{self, PromptFile};
use portolan::prompts::VersionSelector;
use portolan::secrets::SecretString;
use portolan::store::Actor;
use portolan::{Error, Store};

#[derive(Parser, Debug)]
#[command(
    name = "portolan",
    version,
    about = "Local prompt-engineering workbench"
)]
pub struct Cli {
    /// Data directory (default: $PORTOLAN_HOME, else the platform data directory)
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// A team's shared store (postgres://user@host:port/db): `serve` runs as a replica of the team
    /// gateway on it; prompts, keys, tokens, budgets and limits are managed there
    #[arg(long, global = true, env = "PORTOLAN_STORE", value_name = "URL")]
    store: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Manage prompt templates and their versions
    #[command(subcommand)]
    Prompts(PromptsCmd),
    /// Manage virtual keys (provider API keys, stored encrypted)
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Render a prompt and call its model (or --model) through the routing engine
    Run(calls::RunArgs),
    /// Send one message to a model and stream the answer
    Chat(calls::ChatArgs),
    /// Run a prompt on several models (and variable sets) side by side
    Compare(calls::CompareArgs),
    /// List logged calls, or show one with --trace
    Logs(calls::LogsArgs),
    /// Attach feedback to a logged call by trace id
    Feedback(calls::FeedbackArgs),
    /// Export prompts to, or import them from, a folder of files in git
    #[command(subcommand)]
    Bundle(bundle::BundleCmd),
    /// Manage datasets: versioned rows to evaluate prompts on
    #[command(subcommand)]
    Datasets(datasets::DatasetsCmd),
    /// Evaluate prompt versions × models on a dataset; gate CI and label moves on the result
    #[command(subcommand)]
    Eval(eval::EvalCmd),
    /// Start the local OpenAI-compatible gateway
    Serve(serve::ServeArgs),
    /// Manage gateway tokens
    #[command(subcommand)]
    Tokens(serve::TokensCmd),
    /// Settings shared by the CLI, the gateway and the app
    #[command(subcommand)]
    Settings(SettingsCmd),
    /// Show the audit log of changes
    Audit {
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Show where data lives and what the library holds
    Status {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum SettingsCmd {
    /// The PII guardrail applied to every call whose config names none
    Pii {
        #[arg(value_parser = ["off", "detect", "redact", "deny"])]
        mode: String,
        /// With redact: put the original values back into answers
        #[arg(long)]
        restore: bool,
    },
    /// Print every engine setting (retries, timeouts, logging, limits, retention…)
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Change one engine setting, e.g. `settings set responses_retention_days 7`; the value is
    /// JSON (numbers, true/false, null, "text") or else plain text
    Set { name: String, value: String },
    /// Export every call as OpenTelemetry spans (GenAI conventions) over OTLP/HTTP; off by default
    Otel {
        /// The collector's OTLP/HTTP traces URL, e.g. http://127.0.0.1:4318/v1/traces
        #[arg(long, required_unless_present = "off")]
        endpoint: Option<String>,
        /// A header sent with every export (repeatable), e.g. x-api-key=… (stored sealed)
        #[arg(long = "header", value_name = "K=V")]
        headers: Vec<String>,
        /// Export message content (after PII redaction)
        #[arg(long, value_parser = ["on", "off"], default_value = "off")]
        content: String,
        /// Stop exporting
        #[arg(long, conflicts_with_all = ["endpoint", "headers"])]
        off: bool,
    },
}

#[derive(Args, Debug)]
struct Select {
    /// Version number
    #[arg(long, conflicts_with = "label")]
    version: Option<i64>,
    /// Label name (e.g. production); `latest` is the newest version
    #[arg(long)]
    label: Option<String>,
}

#[derive(Subcommand, Debug)]
enum PromptsCmd {
    /// List prompts
    List {
        #[arg(long)]
        json: bool,
    },
    /// Create a prompt from a .prompt.md or .prompty file (its labels are applied)
    Create {
        slug: String,
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// Commit-style message for version 1
        #[arg(short, long)]
        message: Option<String>,
    },
    /// Save a file as the next version of a prompt (nothing happens if unchanged; labels in the
    /// file are not moved: use `prompts label`)
    Save {
        prompt: String,
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        #[arg(short, long)]
        message: Option<String>,
    },
    /// Show one version (default: latest)
    Show {
        prompt: String,
        #[command(flatten)]
        select: Select,
        /// Print only the prompt file, ready to edit and save
        #[arg(long, conflicts_with = "json")]
        raw: bool,
        #[arg(long)]
        json: bool,
    },
    /// List the versions of a prompt
    Versions {
        prompt: String,
        #[arg(long)]
        json: bool,
    },
    /// Render a prompt's messages as JSON (default version: the `production` label, else latest,
    /// as the gateway serves it)
    Render {
        prompt: String,
        #[command(flatten)]
        select: Select,
        /// A variable: `name=text`, or `name:=<json>` for numbers, lists and objects
        #[arg(long = "var", value_name = "K=V")]
        vars: Vec<String>,
        /// A JSON object of variables (flags given with --var win)
        #[arg(long, value_name = "F.json")]
        vars_file: Option<PathBuf>,
    },
    /// Show what changed between two versions (numbers or labels)
    Diff {
        prompt: String,
        from: String,
        to: String,
        /// Word-level inline diff instead of a unified line diff
        #[arg(long)]
        words: bool,
        #[arg(long)]
        json: bool,
    },
    /// Point a label at a version (moving it if it exists)
    Label {
        prompt: String,
        version: i64,
        label: String,
        /// Move the label only if this eval (a file, or a library eval's name) passes on the new
        /// version and finds it no worse than the one the label points at now
        #[arg(long, value_name = "EVAL")]
        gate: Option<String>,
    },
}

/// The `--provider` help, from the provider registry.
fn provider_help() -> String {
    format!(
        "The provider: {}",
        portolan::providers::Provider::key_provider_ids().join(", ")
    )
}

/// Where a secret comes from, and what cloud credentials need beside it.
#[derive(clap::Args, Debug, Default)]
struct CloudArgs {
    /// Read the secret (or the credentials file) from this file instead of stdin
    #[arg(long, value_name = "FILE")]
    secret_file: Option<std::path::PathBuf>,
    /// AWS region of a Bedrock key (us-east-1…)
    #[arg(long)]
    region: Option<String>,
    /// Vertex AI location of a Vertex key (us-central1, europe-west4, global…)
    #[arg(long)]
    location: Option<String>,
    /// Google Cloud project of a Vertex key, when not the service account's own
    #[arg(long)]
    project: Option<String>,
}

#[derive(Subcommand, Debug)]
enum KeysCmd {
    /// Add a key; the secret is read from stdin (or asked for, without echo, on a terminal), or
    /// from --secret-file. Bedrock takes AWS credentials (the JSON `aws sts` prints, or a
    /// credentials file section) and --region; Vertex AI takes a service account key file and
    /// --location
    Add {
        name: String,
        #[arg(long, help = provider_help())]
        provider: String,
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
        #[arg(long)]
        notes: Option<String>,
        #[command(flatten)]
        cloud: CloudArgs,
    },
    /// List keys (secrets are shown masked)
    List {
        #[arg(long)]
        json: bool,
    },
    /// Replace a key's secret (read from stdin or --secret-file), keeping its name and id
    Rotate {
        name: String,
        #[command(flatten)]
        cloud: CloudArgs,
    },
    /// Remove a key
    Remove { name: String },
    /// Set a spend or token budget on a key
    Budget(governance::BudgetArgs),
    /// Set rate limits on a key
    Limit(governance::LimitArgs),
}

pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PORTOLAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

/// What went wrong in a command: an engine error, a command line that cannot work, or a call
/// that failed; each prints as one sentence.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Engine(#[from] Error),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Call(String),
    /// An evaluation ran and a gate failed.
    #[error("{0}")]
    GateFailed(String),
}

impl CliError {
    /// 1 for a failed gate or call, 2 for input that could not be used (nothing was called).
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Engine(
                Error::Eval(_)
                | Error::Dataset(_)
                | Error::MissingVariables(_)
                | Error::InvalidVariables(_)
                | Error::PromptNotFound(_)
                | Error::VersionNotFound { .. }
                | Error::LabelNotFound { .. },
            ) => 2,
            _ => 1,
        }
    }
}

impl From<serde_json::Error> for CliError {
    fn from(e: serde_json::Error) -> Self {
        CliError::Engine(e.into())
    }
}

pub(crate) type CliResult = Result<(), CliError>;

pub fn run(cli: Cli) -> CliResult {
    let data_dir = portolan::paths::resolve_data_dir(cli.data_dir.as_deref())?;
    let store = Store::open(&data_dir)?;
    if let Some(url) = cli.store.as_deref() {
        return team::run(store, url, cli.command);
    }
    match cli.command {
        Command::Prompts(cmd) => prompts(&store, cmd),
        Command::Keys(cmd) => keys(&store, cmd),
        Command::Status { json } => status(&store, json),
        Command::Settings(SettingsCmd::Pii { mode, restore }) => {
            governance::pii(&store, &mode, restore)
        }
        Command::Settings(SettingsCmd::Show { json }) => governance::show_settings(&store, json),
        Command::Settings(SettingsCmd::Otel {
            endpoint,
            headers,
            content,
            off,
        }) => governance::otel(&store, endpoint, &headers, content == "on", off),
        Command::Settings(SettingsCmd::Set { name, value }) => {
            governance::set_setting(&store, &name, &value)
        }
        Command::Audit { limit, json } => governance::audit(&store, limit, json),
        Command::Run(args) => calls::run(store, args),
        Command::Serve(args) => serve::serve(store, args, None),
        Command::Bundle(cmd) => bundle::run(store, cmd),
        Command::Datasets(cmd) => datasets::run(&store, cmd),
        Command::Eval(cmd) => eval::run(store, cmd),
        Command::Tokens(cmd) => serve::tokens(store, cmd),
        Command::Chat(args) => calls::chat(store, args),
        Command::Compare(args) => calls::compare(store, args),
        Command::Logs(args) => calls::logs(store, args),
        Command::Feedback(args) => calls::feedback(store, args),
    }
}

pub(crate) fn print_json(value: &impl serde::Serialize) -> CliResult {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out).ok();
    Ok(())
}

fn selector(select: &Select, default: VersionSelector) -> VersionSelector {
    if select.version.is_none() && select.label.is_none() {
        default
    } else {
        VersionSelector::from_options(select.version, select.label.clone())
    }
}

fn parse_version_ref(text: &str) -> VersionSelector {
    let t = text.trim_start_matches('v');
    match t.parse::<i64>() {
        Ok(n) => VersionSelector::Number(n),
        Err(_) if text == "latest" => VersionSelector::Latest,
        Err(_) => VersionSelector::Label(text.to_owned()),
    }
}

fn prompts(store: &Store, cmd: PromptsCmd) -> CliResult {
    match cmd {
        PromptsCmd::List { json } => {
            let list = store.list_prompts()?;
            if json {
                return print_json(&list);
            }
            if list.is_empty() {
                println!(
                    "No prompts yet. Create one with: portolan prompts create <slug> --file <FILE>"
                );
                return Ok(());
            }
            let width = list.iter().map(|p| p.slug.len()).max().unwrap_or(4).max(4);
            println!(
                "{:<width$}  {:<15}  {:>7}  {:<20}  LABELS",
                "SLUG", "ID", "VERSION", "MODEL"
            );
            for p in list {
                let labels: Vec<String> = p
                    .labels
                    .iter()
                    .map(|l| format!("{}→v{}", l.name, l.version))
                    .collect();
                println!(
                    "{:<width$}  {:<15}  {:>7}  {:<20}  {}",
                    p.slug,
                    p.id,
                    p.latest_version,
                    p.model.as_deref().unwrap_or("-"),
                    labels.join(", ")
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
            let saved =
                store.create_prompt(&slug, &parsed.content, message.as_deref(), &Actor::Cli)?;
            for label in &parsed.labels {
                store.set_label(&saved.prompt_id, saved.version, label, &Actor::Cli)?;
            }
            println!(
                "created {} ({}) version {}",
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
            let saved =
                store.save_version(&prompt, &parsed.content, message.as_deref(), &Actor::Cli)?;
            if saved.created {
                println!("saved {} version {}", saved.slug, saved.version);
            } else {
                println!(
                    "unchanged: {} is still at version {} (the file matches it)",
                    saved.slug, saved.version
                );
            }
            Ok(())
        }
        PromptsCmd::Show {
            prompt,
            select,
            raw,
            json,
        } => {
            let version =
                store.get_version(&prompt, &selector(&select, VersionSelector::Latest))?;
            let file = PromptFile {
                name: version.slug.clone(),
                content: version.content.clone(),
                labels: version.labels.clone(),
            };
            if raw {
                print!("{}", prompt_file::render(&file));
                return Ok(());
            }
            let refs = store.references(&version)?;
            if json {
                let mut value = serde_json::to_value(&version)?;
                value["variables_used"] = serde_json::to_value(&refs.variables)?;
                value["partials"] = serde_json::to_value(&refs.partials)?;
                return print_json(&value);
            }
            let latest = store.get_prompt(&version.prompt_id)?.latest_version;
            println!("prompt:    {} ({})", version.slug, version.prompt_id);
            println!("version:   {} of {}", version.version, latest);
            if !version.labels.is_empty() {
                println!("labels:    {}", version.labels.join(", "));
            }
            println!(
                "saved:     {}",
                version.created_at.format("%Y-%m-%d %H:%M:%S UTC")
            );
            if let Some(m) = &version.message {
                println!("message:   {m}");
            }
            println!(
                "variables: {}",
                if refs.variables.is_empty() {
                    "-".into()
                } else {
                    refs.variables.join(", ")
                }
            );
            if !refs.partials.is_empty() {
                println!("partials:  {}", refs.partials.join(", "));
            }
            println!();
            print!("{}", prompt_file::render(&file));
            Ok(())
        }
        PromptsCmd::Versions { prompt, json } => {
            let versions = store.list_versions(&prompt)?;
            if json {
                return print_json(&versions);
            }
            for v in versions.iter().rev() {
                let labels = if v.labels.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", v.labels.join(", "))
                };
                println!(
                    "v{:<4} {}  {}{}",
                    v.version,
                    v.created_at.format("%Y-%m-%d %H:%M"),
                    v.message.as_deref().unwrap_or("(no message)"),
                    labels
                );
            }
            Ok(())
        }
        PromptsCmd::Render {
            prompt,
            select,
            vars,
            vars_file,
        } => {
            let variables = collect_vars(&vars, vars_file.as_deref())?;
            let rendered = store.render(
                &prompt,
                &selector(&select, VersionSelector::Default),
                &variables,
            )?;
            print_json(&rendered)
        }
        PromptsCmd::Diff {
            prompt,
            from,
            to,
            words,
            json,
        } => {
            let a = store.get_version(&prompt, &parse_version_ref(&from))?;
            let b = store.get_version(&prompt, &parse_version_ref(&to))?;
            let diff = diff_versions(&a, &b);
            if json {
                return print_json(&diff);
            }
            let colour =
                if std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
                    Colour::Ansi
                } else {
                    Colour::Never
                };
            print!("{}", diff.to_text(words, colour));
            Ok(())
        }
        PromptsCmd::Label {
            prompt,
            version,
            label,
            gate,
        } => {
            if let Some(eval) = gate {
                // The versions must exist before anything is run.
                store.get_version(&prompt, &VersionSelector::Number(version))?;
                let shared = std::sync::Arc::new(Store::open(store.data_dir())?);
                eval::label_gate(&shared, &prompt, version, &label, &eval)?;
            }
            let l = store.set_label(&prompt, version, &label, &Actor::Cli)?;
            let p = store.get_prompt(&prompt)?;
            println!("{} → {} version {}", l.name, p.slug, l.version);
            Ok(())
        }
    }
}

/// Variables from `--vars-file` then `--var` flags: `k=v` is a string, `k:=json` a JSON value.
pub(crate) fn collect_vars(
    flags: &[String],
    file: Option<&Path>,
) -> Result<Map<String, Value>, Error> {
    let mut vars = Map::new();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            context: format!("could not read {}", path.display()),
            source: e,
        })?;
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => vars.extend(map),
            Ok(_) => {
                return Err(Error::InvalidVariables(format!(
                    "{} must hold a JSON object of variable names to values",
                    path.display()
                )));
            }
            Err(e) => {
                return Err(Error::InvalidVariables(format!(
                    "{} is not valid JSON: {e}",
                    path.display()
                )));
            }
        }
    }
    for flag in flags {
        if let Some((k, json)) = flag.split_once(":=") {
            let value = serde_json::from_str(json).map_err(|e| {
                Error::InvalidVariables(format!("--var {k}:= needs a JSON value: {e}"))
            })?;
            vars.insert(k.to_owned(), value);
        } else if let Some((k, v)) = flag.split_once('=') {
            vars.insert(k.to_owned(), Value::String(v.to_owned()));
        } else {
            return Err(Error::InvalidVariables(format!(
                "--var '{flag}' should look like name=value (or name:=<json>)"
            )));
        }
    }
    Ok(vars)
}

fn read_secret(prompt: &str) -> Result<SecretString, Error> {
    if std::io::stdin().is_terminal() {
        let s = rpassword::prompt_password(prompt).map_err(|e| Error::Io {
            context: "could not read the secret".into(),
            source: e,
        })?;
        return Ok(SecretString::new(s));
    }
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| Error::Io {
            context: "could not read the secret from stdin".into(),
            source: e,
        })?;
    let trimmed = s.trim_end_matches(['\n', '\r']).to_owned();
    zeroize::Zeroize::zeroize(&mut s);
    Ok(SecretString::new(trimmed))
}

/// The secret to store for a key: read from --secret-file or stdin (never the command line),
/// made into checked cloud credentials with the flags for Bedrock and Vertex AI (when rotating,
/// the previous secret's region, location and project are kept unless given again).
fn cloud_secret(
    name: &str,
    provider: &str,
    cloud: &CloudArgs,
    prompt: &str,
    previous: Option<&SecretString>,
) -> Result<SecretString, Error> {
    let raw = match &cloud.secret_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::io(format!("could not read {}", path.display()), e))?;
            SecretString::new(text.trim_end_matches(['\n', '\r']).to_owned())
        }
        None => read_secret(prompt)?,
    };
    let fields = portolan::cloud_credentials::CloudFields {
        region: cloud.region.as_deref(),
        location: cloud.location.as_deref(),
        project: cloud.project.as_deref(),
    };
    portolan::cloud_credentials::secret_for(
        provider,
        raw.expose(),
        fields,
        previous.map(SecretString::expose),
    )
    .map(SecretString::new)
    .map_err(|e| Error::InvalidCredentials {
        name: name.to_owned(),
        reason: e.0,
    })
}

fn keys(store: &Store, cmd: KeysCmd) -> CliResult {
    match cmd {
        KeysCmd::Add {
            name,
            provider,
            base_url,
            notes,
            cloud,
        } => {
            // Portkey's provider names ("vertex-ai") are stored under Portolan's.
            let provider = portolan::providers::Provider::from_id(&provider)
                .map_or(provider, |p| p.id().to_owned());
            let new = NewKey {
                name,
                provider,
                base_url,
                notes,
            };
            new.validate_fields()?;
            if store.list_keys()?.iter().any(|k| k.name == new.name) {
                return Err(Error::DuplicateKey(new.name).into());
            }
            let secret = cloud_secret(
                &new.name,
                &new.provider,
                &cloud,
                &format!("Secret for virtual key '{}': ", new.name),
                None,
            )?;
            let key = store.add_key(&new, &secret, &Actor::Cli)?;
            println!(
                "added virtual key {} ({}, {}) {}",
                key.name, key.provider, key.id, key.mask
            );
            Ok(())
        }
        KeysCmd::Budget(args) => {
            governance::set_budget(store, governance::key_subject(store, &args.name)?, &args)
        }
        KeysCmd::Limit(args) => {
            governance::set_limits(store, governance::key_subject(store, &args.name)?, &args)
        }
        KeysCmd::List { json } => {
            let keys = store.list_keys()?;
            if json {
                let mut out = Vec::new();
                for k in &keys {
                    let mut v = serde_json::to_value(k)?;
                    let usage =
                        governance::usage_json(store, &governance::key_subject(store, &k.name)?)?;
                    v["budget"] = usage["budget"].clone();
                    v["rate_limits"] = usage["rate_limits"].clone();
                    out.push(v);
                }
                return print_json(&out);
            }
            if keys.is_empty() {
                println!(
                    "No virtual keys. Add one with: portolan keys add <name> --provider openai < key.txt"
                );
                return Ok(());
            }
            println!(
                "{:<20}  {:<18}  {:<12}  {:<16}  {:<16}  {:<28}  LIMITS",
                "NAME", "PROVIDER", "SECRET", "ID", "LAST USED", "BUDGET"
            );
            for k in keys {
                let subject = governance::key_subject(store, &k.name)?;
                println!(
                    "{:<20}  {:<18}  {:<12}  {:<16}  {:<16}  {:<28}  {}",
                    k.name,
                    k.provider,
                    k.mask,
                    k.id,
                    k.last_used_at
                        .map_or("never".into(), |t| t.format("%Y-%m-%d %H:%M").to_string()),
                    governance::describe_budget(store, &subject)?,
                    governance::describe_limits(store, &subject)?
                );
            }
            Ok(())
        }
        KeysCmd::Rotate { name, cloud } => {
            let (current, previous) = store.key_secret(&name)?;
            let secret = cloud_secret(
                &name,
                &current.provider,
                &cloud,
                &format!("New secret for virtual key '{name}': "),
                Some(&previous),
            )?;
            let key = store.rotate_key(&name, &secret, &Actor::Cli)?;
            println!("rotated virtual key {} {}", key.name, key.mask);
            Ok(())
        }
        KeysCmd::Remove { name } => {
            let key = store.remove_key(&name, &Actor::Cli)?;
            println!("removed virtual key {} ({})", key.name, key.id);
            Ok(())
        }
    }
}

fn status(store: &Store, json: bool) -> CliResult {
    let prompts = store.list_prompts()?;
    let keys = store.list_keys()?;
    let otel = portolan::routing::EngineSettings::load(store)?.otel;
    let stats = portolan::otel::read_stats(store.data_dir());
    let value = serde_json::json!({
        "data_dir": store.data_dir(),
        "database": store.db_path(),
        "prompts": prompts.len(),
        "virtual_keys": keys.len(),
        "otel": {
            "endpoint": otel.endpoint,
            "content": otel.content,
            "exported": stats.as_ref().map(|s| s.exported),
            "dropped": stats.as_ref().map(|s| s.dropped),
            "failed_exports": stats.as_ref().map(|s| s.failed_exports),
            "last_error": stats.as_ref().and_then(|s| s.last_error.clone()),
            "updated_at": stats.as_ref().map(|s| s.updated_at.clone()),
        },
    });
    if json {
        return print_json(&value);
    }
    println!("data directory: {}", store.data_dir().display());
    println!("database:       {}", store.db_path().display());
    println!("prompts:        {}", prompts.len());
    println!("virtual keys:   {}", keys.len());
    match (&otel.endpoint, &stats) {
        (None, _) => println!("OpenTelemetry:  off"),
        (Some(url), None) => println!("OpenTelemetry:  {url} (nothing exported yet)"),
        (Some(url), Some(s)) => println!(
            "OpenTelemetry:  {url}: {} spans exported, {} dropped (as of {}){}",
            s.exported,
            s.dropped,
            s.updated_at,
            s.last_error
                .as_deref()
                .map(|e| format!("; last error: {e}"))
                .unwrap_or_default()
        ),
    }
    Ok(())
}
