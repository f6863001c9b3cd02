//! `portolan datasets …`: versioned tables of rows to evaluate prompts on.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::Value;

use portolan::Store;
use portolan::datasets::{self, Row};
use portolan::logs::LogFilter;
use portolan::store::Actor;

use super::{CliError, CliResult, print_json};

#[derive(Subcommand, Debug)]
pub enum DatasetsCmd {
    /// Create a dataset from a .jsonl, .csv or promptfoo .yaml file (version 1)
    Create {
        name: String,
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        description: Option<String>,
    },
    /// List datasets
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a dataset's rows (default: the latest version)
    Show {
        name: String,
        #[arg(long)]
        version: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// Add the rows of a file as a new version (with --replace, the file's rows alone)
    Add {
        name: String,
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        replace: bool,
        #[arg(short, long)]
        message: Option<String>,
    },
    /// Turn logged calls of a prompt into rows (their variables; with --with-answers, their
    /// answers as the expected output): a new dataset, or a new version of an existing one
    FromLogs(FromLogsArgs),
    /// Write a dataset's rows to a .jsonl or .csv file
    Export {
        name: String,
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        version: Option<i64>,
    },
}

#[derive(Args, Debug)]
pub struct FromLogsArgs {
    pub name: String,
    /// The prompt (id or slug) whose calls to take
    #[arg(long)]
    pub prompt: String,
    /// Only calls since this long ago (`7d`, `24h`, `30m`) or this date (2026-12-01)
    #[arg(long)]
    pub since: Option<String>,
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Keep each call's answer as the row's expected output
    #[arg(long)]
    pub with_answers: bool,
    /// Successful calls only (the default); --include-failed takes failed ones too
    #[arg(long)]
    pub include_failed: bool,
    /// Take the calls of evaluations too (left out by default: they are not production traffic)
    #[arg(long)]
    pub include_evals: bool,
}

pub fn run(store: &Store, cmd: DatasetsCmd) -> CliResult {
    match cmd {
        DatasetsCmd::Create {
            name,
            file,
            description,
        } => {
            let rows = datasets::read_file(&file)?;
            let saved = store.create_dataset(
                &name,
                &rows,
                description.as_deref(),
                Some(&format!("Imported from {}", file.display())),
                &Actor::Cli,
            )?;
            println!(
                "created dataset {} version 1 ({} row{})",
                saved.name,
                saved.rows,
                plural(saved.rows)
            );
            Ok(())
        }
        DatasetsCmd::List { json } => {
            let list = store.list_datasets()?;
            if json {
                return print_json(&list);
            }
            if list.is_empty() {
                println!("No datasets yet: portolan datasets create <name> --file rows.jsonl");
            }
            for d in list {
                println!(
                    "{:<24} v{:<4} {:>6} row{}  {}",
                    d.name,
                    d.latest_version,
                    d.rows,
                    plural(d.rows),
                    d.description.unwrap_or_default()
                );
            }
            Ok(())
        }
        DatasetsCmd::Show {
            name,
            version,
            json,
        } => {
            let v = store.get_dataset(&name, version)?;
            if json {
                return print_json(&v);
            }
            println!("{} version {} ({} rows)", v.name, v.version, v.rows.len());
            for (i, r) in v.rows.iter().enumerate() {
                let expected = r
                    .expected_text()
                    .map(|e| format!("  → {}", short(&e, 50)))
                    .unwrap_or_default();
                let tags = if r.tags.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", r.tags.join(", "))
                };
                println!(
                    "{:>4}  {}{expected}{tags}",
                    i + 1,
                    short(&Value::Object(r.vars.clone()).to_string(), 80)
                );
            }
            Ok(())
        }
        DatasetsCmd::Add {
            name,
            file,
            replace,
            message,
        } => {
            let new_rows = datasets::read_file(&file)?;
            let rows = if replace {
                new_rows
            } else {
                let mut rows = store.get_dataset(&name, None)?.rows;
                rows.extend(new_rows);
                rows
            };
            let message = message.unwrap_or_else(|| format!("Rows from {}", file.display()));
            let saved = store.save_dataset_version(&name, &rows, Some(&message), &Actor::Cli)?;
            if saved.created {
                println!(
                    "saved dataset {} version {} ({} rows)",
                    saved.name, saved.version, saved.rows
                );
            } else {
                println!(
                    "unchanged: version {} already has these rows",
                    saved.version
                );
            }
            Ok(())
        }
        DatasetsCmd::FromLogs(args) => from_logs(store, args),
        DatasetsCmd::Export {
            name,
            file,
            version,
        } => {
            let v = store.get_dataset(&name, version)?;
            let text = match datasets::Format::of(&file).map_err(portolan::Error::from)? {
                datasets::Format::Csv => datasets::to_csv(&v.rows),
                datasets::Format::Jsonl => datasets::to_jsonl(&v.rows),
                datasets::Format::PromptfooYaml => {
                    return Err(CliError::Usage(
                        "export writes .jsonl or .csv (promptfoo's YAML is read, not written)"
                            .into(),
                    ));
                }
            };
            std::fs::write(&file, text).map_err(|e| {
                portolan::Error::io(format!("could not write {}", file.display()), e)
            })?;
            println!(
                "wrote {} rows of {} version {} to {}",
                v.rows.len(),
                v.name,
                v.version,
                file.display()
            );
            Ok(())
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// `7d`, `24h`, `30m` ago, or a date/time, as unix milliseconds.
pub fn parse_since(text: &str) -> Result<i64, CliError> {
    let now = chrono::Utc::now();
    let t = text.trim();
    let (num, unit) = t.split_at(t.len().saturating_sub(1));
    if let Ok(n) = num.parse::<i64>() {
        let d = match unit {
            "d" => chrono::Duration::days(n),
            "h" => chrono::Duration::hours(n),
            "m" => chrono::Duration::minutes(n),
            _ => chrono::Duration::zero(),
        };
        if !d.is_zero() {
            return Ok((now - d).timestamp_millis());
        }
    }
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(t) {
        return Ok(dt.timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
        && let Some(dt) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(dt.and_utc().timestamp_millis());
    }
    Err(CliError::Usage(format!(
        "--since takes 7d, 24h, 30m or a date such as 2026-12-01, not '{text}'"
    )))
}

/// The answer text of a logged response body.
fn answer_text(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    v["choices"][0]["message"]["content"]
        .as_str()
        .map(str::to_owned)
}

fn from_logs(store: &Store, args: FromLogsArgs) -> CliResult {
    let prompt = store.get_prompt(&args.prompt)?;
    let filter = LogFilter {
        prompt_id: Some(prompt.id.clone()),
        since_ms: args.since.as_deref().map(parse_since).transpose()?,
        success: (!args.include_failed).then_some(true),
        limit: Some(args.limit),
        ..Default::default()
    };
    let calls = store.list_calls(&filter)?;
    let mut rows = Vec::new();
    let mut without_variables = 0;
    for c in calls.iter().rev() {
        if !args.include_evals && matches!(c.source.as_str(), "eval" | "judge") {
            continue;
        }
        let Some(vars) = c
            .variables
            .as_deref()
            .and_then(|v| serde_json::from_str::<serde_json::Map<String, Value>>(v).ok())
        else {
            without_variables += 1;
            continue;
        };
        let expected = if args.with_answers {
            c.response
                .as_deref()
                .and_then(answer_text)
                .map(Value::String)
        } else {
            None
        };
        rows.push(Row {
            vars,
            expected,
            tags: vec![format!("trace:{}", c.trace_id)],
            ..Default::default()
        });
    }
    if rows.is_empty() {
        return Err(CliError::Usage(format!(
            "no logged calls of '{}' with their variables{} (calls made through the prompt — `portolan run`, the gateway's /v1/prompts/{{id}}/completions, compare, evals — keep them)",
            prompt.slug,
            if args.since.is_some() {
                " in that time"
            } else {
                ""
            }
        )));
    }
    let message = format!("{} rows from the calls of {}", rows.len(), prompt.slug);
    let saved = match store.get_dataset(&args.name, None) {
        Ok(existing) => {
            let mut all = existing.rows;
            all.extend(rows);
            store.save_dataset_version(&args.name, &all, Some(&message), &Actor::Cli)?
        }
        Err(portolan::Error::Dataset(datasets::DatasetError::NotFound(_))) => {
            store.create_dataset(&args.name, &rows, None, Some(&message), &Actor::Cli)?
        }
        Err(e) => return Err(e.into()),
    };
    println!(
        "dataset {} version {}: {} rows{}",
        saved.name,
        saved.version,
        saved.rows,
        if without_variables > 0 {
            format!(" ({without_variables} calls without variables skipped)")
        } else {
            String::new()
        }
    );
    Ok(())
}
