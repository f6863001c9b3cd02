//! Datasets and eval files in a bundle, beside the prompts: `datasets/<name>.jsonl` (a dataset's
//! latest version, one row per line) and `evals/<name>.eval.yaml` (an eval definition as
//! written), each listed in the manifest with its SHA-256. Import validates every one of them
//! (with the prompts) before anything is written; a dataset whose rows changed gets a new
//! version, an eval definition is replaced.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Manifest, ensure_regular_or_absent, io, plain_file_name, sha256, write_if_changed};
use crate::datasets::{self, Row};
use crate::error::{BundleError, Error, Result};
use crate::evals::file::{EXTENSION as EVAL_EXTENSION, EvalFile};
use crate::store::{Actor, Store};

pub const DATASETS_DIR: &str = "datasets";
pub const EVALS_DIR: &str = "evals";
const DATASET_EXTENSION: &str = ".jsonl";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetEntry {
    pub file: String,
    /// The library version the file holds.
    pub version: i64,
    pub rows: usize,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalEntry {
    pub file: String,
    pub sha256: String,
}

/// What import did (or would do) to a dataset or an eval definition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExtraAction {
    /// `dataset` or `eval`.
    pub kind: &'static str,
    pub name: String,
    /// `create`, `update` or `unchanged`.
    pub change: String,
}

/// A real folder inside the bundle (a symlink or a file there is refused), or None.
fn subdir(dir: &Path, name: &str) -> Result<Option<PathBuf>> {
    let path = dir.join(name);
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(
            format!("could not inspect {}", path.display()),
            e,
        )),
        Ok(m) if m.file_type().is_dir() => Ok(Some(path)),
        Ok(_) => Err(BundleError::NotAPlainFile {
            path,
            kind: "not a folder",
        }
        .into()),
    }
}

/// Writes every dataset and eval definition of the library; returns the files written (relative
/// to the bundle) and those removed because the library no longer has them.
pub(super) fn export(
    store: &Store,
    dir: &Path,
    manifest: &mut Manifest,
    old: &Manifest,
    written: &mut Vec<String>,
    unchanged: &mut Vec<String>,
) -> Result<(Vec<String>, Vec<String>)> {
    let mut touched = Vec::new();
    let datasets = store.list_datasets()?;
    if !datasets.is_empty() {
        std::fs::create_dir_all(dir.join(DATASETS_DIR))
            .map_err(io(format!("could not create {DATASETS_DIR}/")))?;
    }
    for d in &datasets {
        let v = store.get_dataset(&d.name, None)?;
        let text = datasets::to_jsonl(&v.rows);
        let file = format!("{DATASETS_DIR}/{}{DATASET_EXTENSION}", d.name);
        if write_if_changed(&dir.join(&file), &text)? {
            written.push(file.clone());
        } else {
            unchanged.push(file.clone());
        }
        manifest.datasets.insert(
            d.name.clone(),
            DatasetEntry {
                file: file.clone(),
                version: v.version,
                rows: v.rows.len(),
                sha256: sha256(&text),
            },
        );
        touched.push(file);
    }
    let evals = store.eval_definitions()?;
    if !evals.is_empty() {
        std::fs::create_dir_all(dir.join(EVALS_DIR))
            .map_err(io(format!("could not create {EVALS_DIR}/")))?;
    }
    for (name, body) in &evals {
        let file = format!("{EVALS_DIR}/{name}{EVAL_EXTENSION}");
        if write_if_changed(&dir.join(&file), body)? {
            written.push(file.clone());
        } else {
            unchanged.push(file.clone());
        }
        manifest.evals.insert(
            name.clone(),
            EvalEntry {
                file: file.clone(),
                sha256: sha256(body),
            },
        );
        touched.push(file);
    }
    // Files of datasets and evals the library no longer has: only plain files the old manifest
    // names inside their folder are removed.
    let mut removed = Vec::new();
    let stale = old
        .datasets
        .iter()
        .filter(|(n, _)| !manifest.datasets.contains_key(*n))
        .map(|(_, e)| (DATASETS_DIR, e.file.clone()))
        .chain(
            old.evals
                .iter()
                .filter(|(n, _)| !manifest.evals.contains_key(*n))
                .map(|(_, e)| (EVALS_DIR, e.file.clone())),
        );
    for (folder, file) in stale {
        let Some(name) = file.strip_prefix(&format!("{folder}/")) else {
            continue;
        };
        if !plain_file_name(name) || subdir(dir, folder)?.is_none() {
            continue;
        }
        let path = dir.join(folder).join(name);
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file()) {
            std::fs::remove_file(&path).map_err(io(format!("could not remove {file}")))?;
            removed.push(file);
        }
    }
    Ok((touched, removed))
}

/// The datasets and eval files of a bundle, read and validated.
pub(super) struct Extras {
    datasets: Vec<(String, Vec<Row>)>,
    evals: Vec<(String, String)>,
}

fn files_in(folder: &Path, extension: &str) -> Result<Vec<(String, PathBuf)>> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(folder)
        .map_err(io(format!("could not read {}", folder.display())))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let stem = name.strip_suffix(extension)?.to_owned();
            Some((stem, e.path()))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Reads every dataset and eval file; every problem is collected, with its file and line.
pub(super) fn read(dir: &Path, errors: &mut Vec<String>) -> Result<Extras> {
    let mut extras = Extras {
        datasets: Vec::new(),
        evals: Vec::new(),
    };
    if let Some(folder) = subdir(dir, DATASETS_DIR)? {
        for (name, path) in files_in(&folder, DATASET_EXTENSION)? {
            if let Err(e) = ensure_regular_or_absent(&path) {
                errors.push(e.to_string());
                continue;
            }
            if let Err(e) = crate::ids::validate_slug("dataset name", &name) {
                errors.push(format!("{}: {e}", path.display()));
                continue;
            }
            match std::fs::read_to_string(&path) {
                Err(e) => errors.push(format!("{}: {e}", path.display())),
                Ok(text) => match datasets::parse(
                    &text,
                    datasets::Format::Jsonl,
                    &path.display().to_string(),
                ) {
                    Ok(rows) => extras.datasets.push((name, rows)),
                    Err(e) => errors.push(e.to_string()),
                },
            }
        }
    }
    if let Some(folder) = subdir(dir, EVALS_DIR)? {
        for (name, path) in files_in(&folder, EVAL_EXTENSION)? {
            if let Err(e) = ensure_regular_or_absent(&path) {
                errors.push(e.to_string());
                continue;
            }
            match std::fs::read_to_string(&path) {
                Err(e) => errors.push(format!("{}: {e}", path.display())),
                Ok(text) => match EvalFile::parse(&text, &path.display().to_string()) {
                    Ok(_) => extras.evals.push((name, text)),
                    Err(e) => errors.push(e.to_string()),
                },
            }
        }
    }
    Ok(extras)
}

/// Writes what was read into the library (nothing when `dry_run`).
pub(super) fn apply(
    store: &Store,
    extras: Extras,
    source: &str,
    dry_run: bool,
    actor: &Actor,
) -> Result<Vec<ExtraAction>> {
    let mut actions = Vec::new();
    for (name, rows) in extras.datasets {
        let change = match store.get_dataset(&name, None) {
            Ok(existing) if existing.rows == rows => "unchanged",
            Ok(_) => {
                if !dry_run {
                    store.save_dataset_version(
                        &name,
                        &rows,
                        Some(&format!("Imported from {source}")),
                        actor,
                    )?;
                }
                "update"
            }
            Err(Error::Dataset(datasets::DatasetError::NotFound(_))) => {
                if !dry_run {
                    store.create_dataset(
                        &name,
                        &rows,
                        None,
                        Some(&format!("Imported from {source}")),
                        actor,
                    )?;
                }
                "create"
            }
            Err(e) => return Err(e),
        };
        actions.push(ExtraAction {
            kind: "dataset",
            name,
            change: change.into(),
        });
    }
    for (name, body) in extras.evals {
        let change = match store.eval_definition(&name)? {
            Some(old) if old == body => "unchanged",
            existing => {
                if !dry_run {
                    store.save_eval_definition(&name, &body, actor)?;
                }
                if existing.is_some() {
                    "update"
                } else {
                    "create"
                }
            }
        };
        actions.push(ExtraAction {
            kind: "eval",
            name,
            change: change.into(),
        });
    }
    Ok(actions)
}

/// Entries of the manifest for datasets and evals (empty maps are left out of the file).
pub(super) type DatasetEntries = BTreeMap<String, DatasetEntry>;
pub(super) type EvalEntries = BTreeMap<String, EvalEntry>;
