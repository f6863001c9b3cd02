//! `portolan bundle export|import`.

use std::path::PathBuf;

use clap::Subcommand;

use portolan::Store;
use portolan::bundle::{self, ExportOptions, ImportOptions};

use super::{CliResult, print_json};

#[derive(Subcommand, Debug)]
pub enum BundleCmd {
    /// Write prompts as <slug>.prompt.md files plus a portolan.toml manifest
    Export {
        dir: PathBuf,
        /// Only these prompts (id or slug; repeatable)
        #[arg(long = "prompt")]
        prompts: Vec<String>,
        /// Export the version this label points at (default: latest)
        #[arg(long)]
        label: Option<String>,
        /// Replay every version as its own git commit (implies --commit)
        #[arg(long)]
        all_versions: bool,
        /// Commit the change to the git repository holding DIR (initialised if needed)
        #[arg(long)]
        commit: bool,
        #[arg(short, long)]
        message: Option<String>,
        /// Commit author, "Name <mail>"
        #[arg(long)]
        author: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Import a bundle from a folder, a git work tree or a git URL
    Import {
        source: String,
        /// Show what would change, change nothing
        #[arg(long)]
        dry_run: bool,
        /// Do not replay a new prompt's git history as versions
        #[arg(long)]
        no_history: bool,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(store: Store, cmd: BundleCmd) -> CliResult {
    match cmd {
        BundleCmd::Export {
            dir,
            prompts,
            label,
            all_versions,
            commit,
            message,
            author,
            json,
        } => {
            let report = bundle::export(
                &store,
                &dir,
                &ExportOptions {
                    prompts,
                    label,
                    all_versions,
                    commit: commit || all_versions,
                    message,
                    author,
                },
            )?;
            if json {
                return print_json(&report);
            }
            for w in &report.written {
                println!("wrote     {w}");
            }
            for r in &report.removed {
                println!("removed   {r}");
            }
            for s in &report.skipped {
                println!("skipped   {s}");
            }
            println!(
                "{} written, {} unchanged{}",
                report.written.len(),
                report.unchanged.len(),
                match report.commits.len() {
                    0 if commit || all_versions => ", nothing to commit".to_owned(),
                    0 => String::new(),
                    1 => format!(", committed {}", &report.commits[0][..12]),
                    n => format!(", {n} commits"),
                }
            );
            Ok(())
        }
        BundleCmd::Import {
            source,
            dry_run,
            no_history,
            json,
        } => {
            let report = bundle::import(
                &store,
                &source,
                &ImportOptions {
                    dry_run,
                    history: !no_history,
                    actor: portolan::store::Actor::Cli,
                },
            )?;
            if json {
                return print_json(&report);
            }
            let verb = if dry_run { "would " } else { "" };
            for a in &report.actions {
                if let Some(id) = &a.adopted_id {
                    println!("{verb}adopt   {} takes the bundle's id {id}", a.slug);
                }
                match a.change.as_str() {
                    "create" => println!(
                        "{verb}create  {} ({} version{})",
                        a.slug,
                        a.new_versions,
                        if a.new_versions == 1 { "" } else { "s" }
                    ),
                    "update" => println!("{verb}update  {} (+1 version)", a.slug),
                    _ => println!("unchanged {}", a.slug),
                }
                for (l, v) in &a.labels {
                    println!("{verb}label   {} {l} → v{v}", a.slug);
                }
            }
            for e in &report.extras {
                match e.change.as_str() {
                    "unchanged" => println!("unchanged {} {}", e.kind, e.name),
                    change => println!("{verb}{change}  {} {}", e.kind, e.name),
                }
            }
            if !report.changed() {
                println!("nothing to change: the library already matches the bundle");
            }
            Ok(())
        }
    }
}
