//! `portolan eval …`: run experiments from eval files or flags, gate CI on them, list, show and
//! compare saved ones. Exit codes: 0 when every gate holds, 1 when one fails, 2 for input that
//! cannot run (an unknown assertion, a missing variable, a ragged CSV…), before any call.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};

use portolan::Store;
use portolan::evals::assertions::AssertionSpec;
use portolan::evals::experiment::{self, Experiment, ExperimentEvent};
use portolan::evals::file::EvalFile;
use portolan::evals::{EvalError, report};
use portolan::routing::Engine;

use super::{CliError, CliResult, print_json};

#[derive(Subcommand, Debug)]
pub enum EvalCmd {
    /// Run an evaluation: an eval file, flags, or both (flags win)
    Run(RunArgs),
    /// Keep an eval file in the library (under its name), so label gates and bundles have it
    Save { file: PathBuf },
    /// Saved experiments, newest first
    List {
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// One saved experiment (`latest` for the newest)
    Show {
        id: String,
        #[arg(long)]
        json: bool,
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// Rows whose outcome changed between two experiments, regressions first
    Diff {
        before: String,
        after: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug, Default)]
pub struct RunArgs {
    /// An eval file (`evals/<name>.eval.yaml`), or the name of one in the library
    #[arg(long)]
    pub file: Option<String>,
    /// A column's prompt: `slug`, `slug@12`, `slug:production` (repeatable; replaces the file's)
    #[arg(long = "prompt", value_name = "P[@N|:LABEL]")]
    pub prompts: Vec<String>,
    /// A model to run every prompt on (repeatable; replaces the file's)
    #[arg(long = "model")]
    pub models: Vec<String>,
    /// A dataset (`name` or `name@version`)
    #[arg(long)]
    pub dataset: Option<String>,
    /// A check, `TYPE[=ARG]` (`contains=Paris`, `is-json`, `regex=^\d+$`, `latency=2000`)
    #[arg(long = "assert", value_name = "TYPE[=ARG]")]
    pub asserts: Vec<String>,
    /// An LLM judge's rubric (pass/fail)
    #[arg(long)]
    pub judge: Option<String>,
    /// The judge's model
    #[arg(long)]
    pub judge_model: Option<String>,
    #[arg(long)]
    pub repeats: Option<u32>,
    /// A gate on the share of rows passing every check (`pass_rate>=0.9`)
    #[arg(long = "gate")]
    pub gates: Vec<String>,
    /// Run even when the estimated cost is above the confirmation threshold
    #[arg(long)]
    pub yes: bool,
    #[arg(long)]
    pub json: bool,
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Seed of the bootstrap intervals
    #[arg(long)]
    pub seed: Option<u64>,
}

pub fn run(store: Store, cmd: EvalCmd) -> CliResult {
    match cmd {
        EvalCmd::Run(args) => {
            let store = Arc::new(store);
            let experiment = run_eval(&store, &args, true)?;
            if let Some(path) = &args.junit {
                write_junit(path, &experiment)?;
            }
            if args.json {
                print_json(&experiment)?;
            } else {
                print!("{}", report::summary(&experiment));
                println!("saved as experiment {}", experiment.id);
            }
            if experiment.summary.passed {
                Ok(())
            } else {
                Err(CliError::GateFailed(format!(
                    "{} gate{} failed",
                    experiment.summary.gates.iter().filter(|g| !g.holds).count(),
                    if experiment.summary.gates.iter().filter(|g| !g.holds).count() == 1 {
                        ""
                    } else {
                        "s"
                    }
                )))
            }
        }
        EvalCmd::Save { file } => {
            let text = std::fs::read_to_string(&file).map_err(|e| {
                portolan::Error::io(format!("could not read {}", file.display()), e)
            })?;
            let parsed = EvalFile::read(&file)?;
            let name = parsed.name.clone().ok_or_else(|| {
                CliError::Usage(format!(
                    "{} needs a `name:` (or a file name ending in .eval.yaml)",
                    file.display()
                ))
            })?;
            // Check it fully against the library before keeping it.
            parsed.to_spec(&store)?;
            let changed = store.save_eval_definition(&name, &text, &portolan::store::Actor::Cli)?;
            println!(
                "{} eval {name}",
                if changed { "saved" } else { "unchanged:" }
            );
            Ok(())
        }
        EvalCmd::List { limit, json } => {
            let list = store.list_experiments(limit)?;
            if json {
                return print_json(&list);
            }
            if list.is_empty() {
                println!(
                    "No experiments yet: portolan eval run --prompt <p> --dataset <d> --assert …"
                );
            }
            for e in list {
                let when = chrono::DateTime::from_timestamp_millis(e.created_at_ms)
                    .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default();
                let cols: Vec<String> = e
                    .columns
                    .iter()
                    .map(|(l, p)| format!("{l} {:.0}%", p * 100.0))
                    .collect();
                println!(
                    "{}  {when}  {} {}  {}",
                    e.id,
                    if e.passed { "✓" } else { "✗" },
                    e.name,
                    cols.join(" | ")
                );
            }
            Ok(())
        }
        EvalCmd::Show { id, json, junit } => {
            let e = store.get_experiment(&id)?;
            if let Some(path) = &junit {
                write_junit(path, &e)?;
            }
            if json {
                return print_json(&e);
            }
            print!("{}", report::summary(&e));
            Ok(())
        }
        EvalCmd::Diff {
            before,
            after,
            json,
        } => {
            let (a, b) = (
                store.get_experiment(&before)?,
                store.get_experiment(&after)?,
            );
            let changes = report::diff(&a, &b);
            if json {
                return print_json(&changes);
            }
            if changes.is_empty() {
                println!("no row changed outcome between {} and {}", a.id, b.id);
            }
            for c in changes {
                let arrow = if c.after < c.before {
                    "regressed"
                } else {
                    "improved"
                };
                println!(
                    "row {:>3} [{}] {arrow}: {:.0}% → {:.0}%",
                    c.row + 1,
                    c.column,
                    c.before * 100.0,
                    c.after * 100.0
                );
                for f in c.failures {
                    println!("        {f}");
                }
            }
            Ok(())
        }
    }
}

fn write_junit(path: &std::path::Path, e: &Experiment) -> CliResult {
    std::fs::write(path, report::junit(e))
        .map_err(|err| portolan::Error::io(format!("could not write {}", path.display()), err))?;
    Ok(())
}

/// Reads the eval file named by `--file` (a path, else a library eval's name).
pub fn load_eval_file(store: &Store, reference: &str) -> Result<EvalFile, CliError> {
    let path = std::path::Path::new(reference);
    if path.exists() {
        return Ok(EvalFile::read(path)?);
    }
    match store.eval_definition(reference)? {
        Some(body) => {
            let mut f = EvalFile::parse(&body, reference)?;
            f.name.get_or_insert_with(|| reference.to_owned());
            Ok(f)
        }
        None => Err(portolan::Error::from(EvalError::EvalNotFound(reference.to_owned())).into()),
    }
}

/// Builds, checks, prices and runs an experiment from the arguments; saves it.
pub fn run_eval(
    store: &Arc<Store>,
    args: &RunArgs,
    progress: bool,
) -> Result<Experiment, CliError> {
    let mut file = match &args.file {
        Some(f) => load_eval_file(store, f)?,
        None => EvalFile::default(),
    };
    if !args.prompts.is_empty() {
        file.prompts = args
            .prompts
            .iter()
            .map(|p| portolan::evals::file::PromptEntry::Reference(p.clone()))
            .collect();
    }
    if !args.models.is_empty() {
        file.models = args.models.clone();
    }
    if let Some(d) = &args.dataset {
        file.dataset = Some(match d.rsplit_once('@') {
            Some((name, v)) => match v.trim_start_matches('v').parse() {
                Ok(version) => portolan::evals::file::DatasetEntry::Version {
                    name: name.to_owned(),
                    version,
                },
                Err(_) => {
                    return Err(CliError::Usage(format!(
                        "--dataset takes name or name@version, not '{d}'"
                    )));
                }
            },
            None => portolan::evals::file::DatasetEntry::Name(d.clone()),
        });
        file.rows.clear();
    }
    for a in &args.asserts {
        file.assertions.push(
            AssertionSpec::parse_cli(a)
                .map_err(|e| portolan::Error::from(EvalError::Invalid(vec![e.to_string()])))?,
        );
    }
    if let Some(rubric) = &args.judge {
        let mut j = AssertionSpec::new("judge", Some(serde_json::Value::String(rubric.clone())));
        j.model = args.judge_model.clone();
        file.assertions.push(j);
    }
    if args.judge_model.is_some() {
        file.judge_model = args.judge_model.clone();
    }
    if let Some(r) = args.repeats {
        file.repeats = Some(r);
    }
    if let Some(s) = args.seed {
        file.seed = Some(s);
    }
    file.gates.extend(args.gates.iter().cloned());
    if file.prompts.is_empty() {
        return Err(CliError::Usage(
            "nothing to evaluate: give --file or --prompt (and --dataset, --assert …)".into(),
        ));
    }
    if file.name.is_none() {
        file.name = Some(
            file.columns()
                .first()
                .map(|c| c.prompt.clone())
                .unwrap_or_else(|| "eval".into()),
        );
    }
    let spec = file.to_spec(store)?;
    run_spec(store, spec, args.yes, progress && !args.json)
}

/// Plans (validating and pricing), runs and saves an experiment.
pub fn run_spec(
    store: &Arc<Store>,
    spec: portolan::evals::ExperimentSpec,
    yes: bool,
    progress: bool,
) -> Result<Experiment, CliError> {
    let engine = Engine::new(store.clone())?;
    let rt = super::calls::runtime()?;
    let experiment = rt.block_on(async {
        let plan = experiment::plan(&engine, spec).await?;
        let est = &plan.estimate;
        let cells = est.calls;
        let cost = match est.total_usd() {
            Some(c) => format!("at most ${c:.4}"),
            None => format!("unknown (no price for {})", est.unpriced.join(", ")),
        };
        eprintln!(
            "{} calls{}; estimated cost {cost}",
            cells,
            if est.judge_calls > 0 {
                format!(" + {} judge calls", est.judge_calls)
            } else {
                String::new()
            }
        );
        // Refuse what a key's budget could not pay for.
        plan.check_budgets(store)?;
        let confirm_above = engine.settings().eval_confirm_above_usd;
        if let Some(c) = est.total_usd()
            && c > confirm_above
            && !yes
        {
            return Err(CliError::Usage(format!(
                "the run could cost up to ${c:.2} (above ${confirm_above:.2}, the setting eval_confirm_above_usd); run again with --yes"
            )));
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let bar = (progress && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new(cells as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {pos}/{len} cells {wide_bar} {elapsed}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        });
        let shown = bar.clone();
        let progress = tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                if let (ExperimentEvent::Evaluated { .. }, Some(b)) = (&ev, &shown) {
                    b.inc(1);
                }
            }
        });
        let result = experiment::run(&engine, plan, Some(tx)).await;
        let _ = progress.await;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        engine.flush_logs_async().await;
        Ok::<_, CliError>(result?)
    })?;
    let mut experiment = experiment;
    experiment.id = store.save_experiment(&experiment)?;
    Ok(experiment)
}

/// The label gate: runs `eval` on the version a label is to move to and on the one it points
/// at now; the move is refused when a gate fails or the new version is significantly worse.
pub fn label_gate(
    store: &Arc<Store>,
    prompt: &str,
    version: i64,
    label: &str,
    eval: &str,
) -> Result<(), CliError> {
    let file = load_eval_file(store, eval)?;
    let engine = Engine::new(store.clone())?;
    let rt = super::calls::runtime()?;
    let (outcome, experiment) = rt.block_on(portolan::evals::gate::run(
        &engine, store, &file, prompt, version, label,
    ))?;
    print!("{}", report::summary(&experiment));
    if outcome.allowed {
        Ok(())
    } else {
        Err(CliError::GateFailed(outcome.refusal(label, version)))
    }
}
