//! Budgets, rate limits, PII settings and the audit log from the command line.

use chrono::Utc;
use clap::Args;

use portolan::guardrails::PiiAction;
use portolan::routing::EngineSettings;
use portolan::store::Actor;
use portolan::store::{BudgetUnit, Period, RateUnit, Subject, SubjectKind, Window};
use portolan::{Error, Store};

use super::{CliError, CliResult, print_json};

#[derive(Args, Debug)]
pub struct BudgetArgs {
    pub name: String,
    /// Spend limit in US dollars
    #[arg(long, conflicts_with = "tokens", required_unless_present = "tokens")]
    pub usd: Option<f64>,
    /// Token limit (prompt + completion)
    #[arg(long)]
    pub tokens: Option<u64>,
    /// Reset the spend at the start of each period (UTC)
    #[arg(long, default_value = "none", value_parser = ["none", "daily", "weekly", "monthly"])]
    pub period: String,
    /// Warn when this fraction of the budget is used (e.g. 0.8)
    #[arg(long)]
    pub alert: Option<f64>,
}

#[derive(Args, Debug)]
pub struct LimitArgs {
    pub name: String,
    /// Requests per minute
    #[arg(long)]
    pub rpm: Option<u64>,
    /// Requests per hour
    #[arg(long)]
    pub rph: Option<u64>,
    /// Requests per day
    #[arg(long)]
    pub rpd: Option<u64>,
    /// Tokens per minute
    #[arg(long)]
    pub tpm: Option<u64>,
    /// Tokens per hour
    #[arg(long)]
    pub tph: Option<u64>,
    /// Tokens per day
    #[arg(long)]
    pub tpd: Option<u64>,
}

pub fn key_subject(store: &Store, name: &str) -> Result<Subject, Error> {
    let k = store.get_key(name)?;
    Ok(Subject {
        kind: SubjectKind::Key,
        id: k.id,
        name: k.name,
    })
}

pub fn token_subject(store: &Store, name: &str) -> Result<Subject, Error> {
    let t = store
        .list_tokens()?
        .into_iter()
        .find(|t| t.name == name)
        .ok_or_else(|| Error::TokenNotFound(name.to_owned()))?;
    Ok(Subject {
        kind: SubjectKind::Token,
        id: t.id,
        name: t.name,
    })
}

pub fn set_budget(store: &Store, subject: Subject, args: &BudgetArgs) -> CliResult {
    let (period, unit, limit) = wanted_budget(args)?;
    store.set_budget(&subject, unit, limit, period, args.alert, &Actor::Cli)?;
    println!(
        "budget for {}: {}",
        subject.name,
        describe_budget(store, &subject)?
    );
    Ok(())
}

/// The limits the flags ask for, at least one.
pub fn wanted_limits(args: &LimitArgs) -> Result<Vec<(RateUnit, Window, u64)>, CliError> {
    let wanted: Vec<(RateUnit, Window, u64)> = [
        (RateUnit::Requests, Window::Minute, args.rpm),
        (RateUnit::Requests, Window::Hour, args.rph),
        (RateUnit::Requests, Window::Day, args.rpd),
        (RateUnit::Tokens, Window::Minute, args.tpm),
        (RateUnit::Tokens, Window::Hour, args.tph),
        (RateUnit::Tokens, Window::Day, args.tpd),
    ]
    .into_iter()
    .filter_map(|(unit, window, v)| v.map(|v| (unit, window, v)))
    .collect();
    if wanted.is_empty() {
        return Err(CliError::Usage(
            "give at least one of --rpm --rph --rpd --tpm --tph --tpd".into(),
        ));
    }
    Ok(wanted)
}

/// The budget the flags ask for: its period, unit and limit.
pub fn wanted_budget(args: &BudgetArgs) -> Result<(Period, BudgetUnit, f64), CliError> {
    let period: Period = args
        .period
        .parse()
        .map_err(|e: portolan::store::UnknownPeriod| CliError::Usage(e.to_string()))?;
    let (unit, limit) = match (args.usd, args.tokens) {
        (Some(usd), _) => (BudgetUnit::Usd, usd),
        (None, Some(t)) => (BudgetUnit::Tokens, t as f64),
        (None, None) => return Err(CliError::Usage("give --usd or --tokens".into())),
    };
    Ok((period, unit, limit))
}

pub fn set_limits(store: &Store, subject: Subject, args: &LimitArgs) -> CliResult {
    for (unit, window, v) in wanted_limits(args)? {
        store.set_rate_limit(&subject, unit, window, v, &Actor::Cli)?;
    }
    println!(
        "rate limits for {}: {}",
        subject.name,
        describe_limits(store, &subject)?
    );
    Ok(())
}

fn amount(unit: BudgetUnit, v: f64) -> String {
    match unit {
        BudgetUnit::Usd => format!("${v:.2}"),
        BudgetUnit::Tokens => format!("{} tok", v.round() as i64),
    }
}

/// `$1.23 / $10.00 monthly (12%)`, or `-`.
pub fn describe_budget(store: &Store, subject: &Subject) -> Result<String, Error> {
    Ok(match store.budget(subject.kind, &subject.id, Utc::now())? {
        None => "-".into(),
        Some(b) => {
            let pct = if b.limit > 0.0 {
                b.spent / b.limit * 100.0
            } else {
                100.0
            };
            let period = match b.period {
                Period::None => String::new(),
                p => format!(
                    " {}",
                    serde_json::to_value(p)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                ),
            };
            format!(
                "{} / {}{period} ({pct:.0}%)",
                amount(b.unit, b.spent),
                amount(b.unit, b.limit)
            )
        }
    })
}

/// `60 rpm (3 used), 100000 tpm`, or `-`.
pub fn describe_limits(store: &Store, subject: &Subject) -> Result<String, Error> {
    let limits = store.rate_limits(subject.kind, &subject.id, Utc::now())?;
    if limits.is_empty() {
        return Ok("-".into());
    }
    Ok(limits
        .iter()
        .map(|l| {
            let unit = match (l.unit, l.window) {
                (RateUnit::Requests, Window::Minute) => "rpm",
                (RateUnit::Requests, Window::Hour) => "rph",
                (RateUnit::Requests, Window::Day) => "rpd",
                (RateUnit::Tokens, Window::Minute) => "tpm",
                (RateUnit::Tokens, Window::Hour) => "tph",
                (RateUnit::Tokens, Window::Day) => "tpd",
            };
            format!("{} {unit} ({} used)", l.max, l.used)
        })
        .collect::<Vec<_>>()
        .join(", "))
}

/// Budget and limits as JSON, for `--json` listings.
pub fn usage_json(store: &Store, subject: &Subject) -> Result<serde_json::Value, Error> {
    Ok(serde_json::json!({
        "budget": store.budget(subject.kind, &subject.id, Utc::now())?,
        "rate_limits": store.rate_limits(subject.kind, &subject.id, Utc::now())?,
    }))
}

pub fn pii(store: &Store, mode: &str, restore: bool) -> CliResult {
    let action: PiiAction = mode
        .parse()
        .map_err(|e: portolan::guardrails::GuardrailError| CliError::Usage(e.to_string()))?;
    let mut settings = EngineSettings::load(store)?;
    settings.pii = action;
    settings.pii_restore = restore;
    settings.save(store, &Actor::Cli)?;
    println!(
        "PII guardrail for every call: {mode}{}",
        if restore && action == PiiAction::Redact {
            " (originals restored in answers)"
        } else {
            ""
        }
    );
    Ok(())
}

pub fn otel(
    store: &Store,
    endpoint: Option<String>,
    headers: &[String],
    content: bool,
    off: bool,
) -> CliResult {
    let mut settings = EngineSettings::load(store)?;
    if off {
        settings.otel = Default::default();
        settings.save(store, &Actor::Cli)?;
        println!("OpenTelemetry export: off");
        return Ok(());
    }
    let endpoint = endpoint.unwrap_or_default();
    let url = url::Url::parse(&endpoint)
        .map_err(|e| CliError::Usage(format!("--endpoint '{endpoint}' is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(CliError::Usage(format!(
            "--endpoint '{endpoint}' must be an http:// or https:// URL (OTLP/HTTP)"
        )));
    }
    let mut sealed = std::collections::BTreeMap::new();
    for h in headers {
        let (name, value) = h.split_once('=').ok_or_else(|| {
            CliError::Usage(format!("--header '{h}' should look like name=value"))
        })?;
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() || reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(CliError::Usage(format!("'{name}' is not a header name")));
        }
        let record_id = portolan::otel::OtelSettings::header_record_id(&name);
        sealed.insert(name, store.seal_value(&record_id, value.trim())?);
    }
    settings.otel = portolan::otel::OtelSettings {
        endpoint: Some(endpoint.clone()),
        headers: sealed,
        content,
    };
    settings.save(store, &Actor::Cli)?;
    println!(
        "OpenTelemetry export: {endpoint}{}{}",
        if headers.is_empty() {
            String::new()
        } else {
            format!(
                " with {} header{} (sealed)",
                headers.len(),
                if headers.len() == 1 { "" } else { "s" }
            )
        },
        if content {
            "; message content on (PII redacted)"
        } else {
            ""
        }
    );
    Ok(())
}

pub fn show_settings(store: &Store, json: bool) -> CliResult {
    print_settings(&EngineSettings::load(store)?, json)
}

pub fn set_setting(store: &Store, name: &str, value: &str) -> CliResult {
    let settings = with_setting(EngineSettings::load(store)?, name, value)?;
    settings.save(store, &Actor::Cli)?;
    println!("{name} = {value}");
    Ok(())
}

/// `settings` with `name` set to `value` (JSON, else text), or why it cannot be.
pub fn with_setting(
    settings: EngineSettings,
    name: &str,
    value: &str,
) -> Result<EngineSettings, CliError> {
    let mut fields = match serde_json::to_value(settings)? {
        serde_json::Value::Object(fields) => fields,
        _ => unreachable!("settings serialise as an object"),
    };
    if !fields.contains_key(name) {
        let known: Vec<&str> = fields.keys().map(String::as_str).collect();
        return Err(CliError::Usage(format!(
            "there is no setting '{name}'; the settings are {}",
            known.join(", ")
        )));
    }
    let parsed =
        serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
    fields.insert(name.to_owned(), parsed);
    serde_json::from_value(serde_json::Value::Object(fields))
        .map_err(|e| CliError::Usage(format!("'{value}' does not fit setting '{name}': {e}")))
}

/// Prints the engine settings, one per line or as JSON.
pub fn print_settings(settings: &EngineSettings, json: bool) -> CliResult {
    if json {
        return print_json(settings);
    }
    if let serde_json::Value::Object(fields) = serde_json::to_value(settings)? {
        for (name, value) in fields {
            println!("{name:<26} {value}");
        }
    }
    Ok(())
}

pub fn audit(store: &Store, limit: u32, json: bool) -> CliResult {
    let entries = store.audit_entries(limit)?;
    if json {
        return print_json(&entries);
    }
    if entries.is_empty() {
        println!("The audit log is empty.");
        return Ok(());
    }
    for e in entries.iter().rev() {
        let object = e
            .object_name
            .clone()
            .or(e.object_id.clone())
            .unwrap_or_default();
        let details = if e.details.as_object().is_some_and(|o| o.is_empty()) {
            String::new()
        } else {
            format!("  {}", e.details)
        };
        println!(
            "{}  {:<14} {:<16} {:<14} {object}{details}",
            &e.at[..19],
            e.actor,
            e.action,
            e.object_kind
        );
    }
    Ok(())
}
