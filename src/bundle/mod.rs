//! Prompt bundles: the library as a folder of plain files (`<slug>.prompt.md` plus a
//! `portolan.toml` manifest) that lives in a git repository, is reviewed in pull requests and
//! imports back without loss.
//!
//! Export writes only files whose bytes change and, with `commit`, commits them (git2); with
//! `all_versions` it replays each prompt's versions as successive commits with their messages and
//! times, so `git log -p <slug>.prompt.md` reads like the version history. Import validates every
//! file first (nothing is written if one is broken), creates versions only where content
//! differs, moves labels as the files and manifest say, and, from a git work tree, replays a new
//! prompt's file history as its versions. No secret goes into a bundle: virtual keys appear only
//! by name inside model strings.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{BundleError, Error, Result};
use crate::prompt_file::{self, EXTENSION, PromptFile};
use crate::prompts::{PromptContent, PromptVersion, VersionSelector};
use crate::store::{Actor, Store};

pub mod evals;
pub use evals::ExtraAction;

pub const MANIFEST: &str = "portolan.toml";
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format_version: u32,
    #[serde(default)]
    pub generator: String,
    #[serde(default)]
    pub prompts: BTreeMap<String, ManifestEntry>,
    /// Datasets (`datasets/<name>.jsonl`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub datasets: evals::DatasetEntries,
    /// Eval files (`evals/<name>.eval.yaml`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub evals: evals::EvalEntries,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    pub id: String,
    pub file: String,
    /// The library version the file holds.
    pub version: i64,
    /// Labels on that version (also in the file's front matter).
    #[serde(default)]
    pub labels: Vec<String>,
    /// Where every label of the prompt pointed when exported (label → version).
    #[serde(default)]
    pub label_versions: BTreeMap<String, i64>,
    /// SHA-256 of the file's bytes.
    pub sha256: String,
}

fn sha256(text: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref())
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::io(context, e)
}

/// Reads `<dir>/portolan.toml`, if there is one.
pub fn read_manifest(dir: &Path) -> Result<Option<Manifest>> {
    let path = dir.join(MANIFEST);
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(None);
    }
    ensure_regular_or_absent(&path)?;
    let text =
        std::fs::read_to_string(&path).map_err(io(format!("could not read {}", path.display())))?;
    let manifest_error = |e: toml::de::Error| BundleError::Manifest {
        path: path.clone(),
        reason: e.message().to_owned(),
    };
    let value: toml::Value = toml::from_str(&text).map_err(manifest_error)?;
    let version = value
        .get("format_version")
        .and_then(toml::Value::as_integer)
        .unwrap_or(0);
    if version != FORMAT_VERSION as i64 {
        return Err(BundleError::FormatVersion {
            path,
            found: version,
            supported: FORMAT_VERSION as i64,
        }
        .into());
    }
    Ok(toml::from_str(&text).map(Some).map_err(manifest_error)?)
}

fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<bool> {
    let text = format!(
        "# Portolan prompt bundle: one <slug>.prompt.md per prompt. Written by `portolan bundle export`.\n{}",
        toml::to_string_pretty(manifest).map_err(|e| BundleError::ManifestWrite(e.to_string()))?
    );
    write_if_changed(&dir.join(MANIFEST), &text)
}

/// Writes `text` unless the file already holds exactly it. Returns whether it wrote. A symlink
/// in the file's place is refused: writing through it would write wherever it points.
fn write_if_changed(path: &Path, text: &str) -> Result<bool> {
    ensure_regular_or_absent(path)?;
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(false);
    }
    std::fs::write(path, text).map_err(io(format!("could not write {}", path.display())))?;
    Ok(true)
}

/// Refuses a path that is a symlink, a device or anything but a regular file (a missing one is
/// fine): a bundle's files are plain files inside the bundle, whatever a manifest or a cloned
/// repository says.
fn ensure_regular_or_absent(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(
            format!("could not inspect {}", path.display()),
            e,
        )),
        Ok(m) if m.file_type().is_file() => Ok(()),
        Ok(m) => Err(BundleError::NotAPlainFile {
            path: path.to_path_buf(),
            kind: if m.file_type().is_symlink() {
                "a symbolic link"
            } else if m.is_dir() {
                "a folder"
            } else {
                "a special file"
            },
        }
        .into()),
    }
}

/// Whether a manifest's file name names a file directly in the bundle folder (not `../x`, an
/// absolute path or a subfolder).
fn plain_file_name(name: &str) -> bool {
    let p = Path::new(name);
    !name.is_empty()
        && p.components().count() == 1
        && matches!(p.components().next(), Some(std::path::Component::Normal(_)))
}

#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Prompts to export (ids or slugs); empty means all.
    pub prompts: Vec<String>,
    /// Export the version this label points at instead of the latest.
    pub label: Option<String>,
    pub all_versions: bool,
    pub commit: bool,
    pub message: Option<String>,
    /// `Name <mail>`; default: the repository's git config, else `Portolan <portolan@localhost>`.
    pub author: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportReport {
    pub written: Vec<String>,
    pub unchanged: Vec<String>,
    pub removed: Vec<String>,
    pub skipped: Vec<String>,
    pub commits: Vec<String>,
}

fn file_for(version: &PromptVersion) -> PromptFile {
    PromptFile {
        name: version.slug.clone(),
        content: version.content.clone(),
        labels: version.labels.clone(),
    }
}

fn entry_for(store: &Store, version: &PromptVersion, text: &str) -> Result<ManifestEntry> {
    let prompt = store.get_prompt(&version.prompt_id)?;
    Ok(ManifestEntry {
        id: version.prompt_id.clone(),
        file: prompt_file::file_name(&version.slug),
        version: version.version,
        labels: version.labels.clone(),
        label_versions: prompt
            .labels
            .iter()
            .map(|l| (l.name.clone(), l.version))
            .collect(),
        sha256: sha256(text),
    })
}

/// Exports prompts into `dir`.
pub fn export(store: &Store, dir: &Path, options: &ExportOptions) -> Result<ExportReport> {
    std::fs::create_dir_all(dir).map_err(io(format!("could not create {}", dir.display())))?;
    let slugs: Vec<String> = if options.prompts.is_empty() {
        store.list_prompts()?.into_iter().map(|p| p.slug).collect()
    } else {
        options
            .prompts
            .iter()
            .map(|r| store.get_prompt(r).map(|p| p.slug))
            .collect::<Result<_>>()?
    };
    let old = read_manifest(dir)?.unwrap_or_default();
    let mut manifest = Manifest {
        format_version: FORMAT_VERSION,
        generator: format!("portolan {}", env!("CARGO_PKG_VERSION")),
        prompts: if options.prompts.is_empty() {
            BTreeMap::new()
        } else {
            old.prompts.clone()
        },
        // Exporting some prompts leaves the datasets and evals as they are.
        datasets: if options.prompts.is_empty() {
            BTreeMap::new()
        } else {
            old.datasets.clone()
        },
        evals: if options.prompts.is_empty() {
            BTreeMap::new()
        } else {
            old.evals.clone()
        },
    };
    let mut report = ExportReport::default();
    let repo = if options.commit || options.all_versions {
        Some(open_or_init_repo(dir)?)
    } else {
        None
    };

    if options.all_versions {
        let repo = repo.as_ref().expect("opened above");
        // Every version not yet in the bundle, oldest first across prompts.
        let mut steps: Vec<PromptVersion> = Vec::new();
        for slug in &slugs {
            let done = old.prompts.get(slug).map_or(0, |e| e.version);
            for v in store.list_versions(slug)? {
                if v.version > done {
                    steps.push(v);
                }
            }
        }
        steps.sort_by(|a, b| {
            (a.created_at, &a.slug, a.version).cmp(&(b.created_at, &b.slug, b.version))
        });
        for v in steps {
            let text = prompt_file::render(&file_for(&v));
            let file = prompt_file::file_name(&v.slug);
            write_if_changed(&dir.join(&file), &text)?;
            manifest
                .prompts
                .insert(v.slug.clone(), entry_for(store, &v, &text)?);
            for (slug, entry) in &old.prompts {
                manifest
                    .prompts
                    .entry(slug.clone())
                    .or_insert_with(|| entry.clone());
            }
            write_manifest(dir, &manifest)?;
            let message = v
                .message
                .clone()
                .unwrap_or_else(|| format!("{}: version {}", v.slug, v.version));
            let message = format!("{message}\n\nportolan: {} version {}\n", v.slug, v.version);
            if let Some(oid) = commit(
                repo,
                dir,
                &[file.clone(), MANIFEST.into()],
                &[],
                &message,
                options.author.as_deref(),
                Some(v.created_at),
            )? {
                report.commits.push(oid);
            }
            report.written.push(format!("{file} (v{})", v.version));
        }
    }

    let mut touched = Vec::new();
    for slug in &slugs {
        let selector = match &options.label {
            Some(l) => VersionSelector::Label(l.clone()),
            None => VersionSelector::Latest,
        };
        let version = match store.get_version(slug, &selector) {
            Ok(v) => v,
            Err(Error::LabelNotFound { .. }) => {
                report.skipped.push(format!(
                    "{slug} (no label '{}')",
                    options.label.as_deref().unwrap_or("")
                ));
                continue;
            }
            Err(e) => return Err(e),
        };
        let text = prompt_file::render(&file_for(&version));
        let file = prompt_file::file_name(slug);
        if write_if_changed(&dir.join(&file), &text)? {
            if !options.all_versions {
                report.written.push(file.clone());
            }
        } else if !options.all_versions || !report.written.iter().any(|w| w.starts_with(&file)) {
            report.unchanged.push(file.clone());
        }
        manifest
            .prompts
            .insert(slug.clone(), entry_for(store, &version, &text)?);
        touched.push(file);
    }
    let mut removed = Vec::new();
    if options.prompts.is_empty() {
        let keep: HashSet<&String> = slugs.iter().collect();
        for (slug, entry) in &old.prompts {
            // Only a plain file of this folder that the manifest says is a prompt's is removed;
            // a manifest naming `../x`, an absolute path or a symlink removes nothing.
            let path = dir.join(&entry.file);
            if keep.contains(slug)
                || !plain_file_name(&entry.file)
                || !entry.file.ends_with(EXTENSION)
            {
                continue;
            }
            if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file()) {
                std::fs::remove_file(&path)
                    .map_err(io(format!("could not remove {}", entry.file)))?;
                removed.push(entry.file.clone());
            }
        }
    }
    if options.prompts.is_empty() {
        let (files, gone) = evals::export(
            store,
            dir,
            &mut manifest,
            &old,
            &mut report.written,
            &mut report.unchanged,
        )?;
        touched.extend(files);
        removed.extend(gone);
    }
    report.removed = removed.clone();
    write_manifest(dir, &manifest)?;
    touched.push(MANIFEST.into());
    if let Some(repo) = &repo {
        let message = options.message.clone().unwrap_or_else(|| {
            let n = report.written.len() + removed.len();
            format!(
                "Update prompts ({n} file{} changed)",
                if n == 1 { "" } else { "s" }
            )
        });
        if let Some(oid) = commit(
            repo,
            dir,
            &touched,
            &removed,
            &message,
            options.author.as_deref(),
            None,
        )? {
            report.commits.push(oid);
        }
    }
    Ok(report)
}

fn open_or_init_repo(dir: &Path) -> Result<git2::Repository> {
    match git2::Repository::discover(dir) {
        Ok(r) if r.workdir().is_some() => Ok(r),
        _ => Ok(git2::Repository::init(dir)?),
    }
}

fn signature(
    repo: &git2::Repository,
    author: Option<&str>,
    at: Option<DateTime<Utc>>,
) -> Result<git2::Signature<'static>> {
    let (name, email) = match author {
        Some(a) => {
            let (name, rest) = a
                .split_once('<')
                .ok_or_else(|| BundleError::Author(a.to_owned()))?;
            (
                name.trim().to_owned(),
                rest.trim_end_matches('>').trim().to_owned(),
            )
        }
        None => match repo.signature() {
            Ok(s) => (
                s.name().unwrap_or("Portolan").to_owned(),
                s.email().unwrap_or("portolan@localhost").to_owned(),
            ),
            Err(_) => ("Portolan".to_owned(), "portolan@localhost".to_owned()),
        },
    };
    Ok(match at {
        Some(t) => git2::Signature::new(&name, &email, &git2::Time::new(t.timestamp(), 0))?,
        None => git2::Signature::now(&name, &email)?,
    })
}

/// Stages `paths` (relative to `dir`) and removals, and commits if the tree changed.
fn commit(
    repo: &git2::Repository,
    dir: &Path,
    paths: &[String],
    removed: &[String],
    message: &str,
    author: Option<&str>,
    at: Option<DateTime<Utc>>,
) -> Result<Option<String>> {
    let workdir = repo
        .workdir()
        .ok_or_else(|| Error::Git("the repository has no work tree".into()))?;
    let root = workdir
        .canonicalize()
        .map_err(io(format!("could not resolve {}", workdir.display())))?;
    let here = dir
        .canonicalize()
        .map_err(io(format!("could not resolve {}", dir.display())))?;
    let rel = here
        .strip_prefix(&root)
        .map_err(|_| {
            Error::Git(format!(
                "{} is not inside the repository at {}",
                here.display(),
                root.display()
            ))
        })?
        .to_path_buf();
    let mut index = repo.index()?;
    for p in paths {
        index.add_path(&rel.join(p))?;
    }
    for p in removed {
        let _ = index.remove_path(&rel.join(p));
    }
    index.write()?;
    let tree_id = index.write_tree()?;
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    if parent.as_ref().is_some_and(|p| p.tree_id() == tree_id) {
        return Ok(None);
    }
    let tree = repo.find_tree(tree_id)?;
    let sig = signature(repo, author, at)?;
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    let oid = repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)?;
    Ok(Some(oid.to_string()))
}

/// A version to create on import: its time and message (from git history) and content.
type ReplayStep<'a> = (Option<DateTime<Utc>>, Option<String>, &'a PromptContent);

/// One file of a bundle, parsed and validated.
#[derive(Debug, Clone)]
struct BundleFile {
    file: String,
    prompt: PromptFile,
    /// Earlier contents from git history, oldest first: (time, message, content).
    history: Vec<(DateTime<Utc>, String, PromptContent)>,
}

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub dry_run: bool,
    /// Replay a new prompt's git history as its versions (when the bundle is in a git work tree).
    pub history: bool,
    /// Who the import's changes are attributed to in the audit log.
    pub actor: Actor,
}

/// What an import does (or, dry, would do) to one prompt.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ImportAction {
    pub slug: String,
    /// `create`, `update` or `unchanged`.
    pub change: String,
    /// Versions created.
    pub new_versions: usize,
    /// Label moves: (label, version).
    pub labels: Vec<(String, i64)>,
    /// The bundle's id, taken by a prompt of this library that had another.
    pub adopted_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub source: String,
    pub actions: Vec<ImportAction>,
    /// Datasets and eval definitions.
    pub extras: Vec<ExtraAction>,
    pub dry_run: bool,
}

impl ImportReport {
    pub fn changed(&self) -> bool {
        self.actions
            .iter()
            .any(|a| a.change != "unchanged" || !a.labels.is_empty() || a.adopted_id.is_some())
            || self.extras.iter().any(|e| e.change != "unchanged")
    }
}

fn is_remote(source: &str) -> bool {
    source.contains("://")
        || (source.contains('@') && source.contains(':') && !Path::new(source).exists())
}

/// Imports a bundle from a folder, a git work tree (or a folder inside one), or a git URL.
pub fn import(store: &Store, source: &str, options: &ImportOptions) -> Result<ImportReport> {
    let _clone;
    let dir: PathBuf = if is_remote(source) {
        let tmp = tempdir()?;
        git2::build::RepoBuilder::new()
            .clone(source, tmp.path())
            .map_err(|e| Error::Git(format!("could not clone {source}: {}", e.message())))?;
        let path = tmp.path().to_path_buf();
        _clone = Some(tmp);
        path
    } else {
        _clone = None;
        let p = PathBuf::from(source);
        if !p.is_dir() {
            return Err(BundleError::NotASource(source.to_owned()).into());
        }
        p
    };
    let manifest = read_manifest(&dir)?;
    let files = read_bundle(&dir, options.history)?;
    let mut extra_errors = Vec::new();
    let extras = evals::read(&dir, &mut extra_errors)?;
    if !extra_errors.is_empty() {
        return Err(BundleError::InvalidFiles(extra_errors).into());
    }
    check_partials(store, &files)?;

    let mut report = ImportReport {
        source: source.to_owned(),
        actions: Vec::new(),
        extras: Vec::new(),
        dry_run: options.dry_run,
    };
    for f in &files {
        let slug = &f.prompt.name;
        let entry = manifest.as_ref().and_then(|m| m.prompts.get(slug));
        // The bundle's version number, so `@N` names the same content wherever it is imported.
        let bundle_version = entry.map(|e| e.version).filter(|v| *v >= 1);
        let mut existing = match entry.and_then(|e| store.get_prompt(&e.id).ok()) {
            Some(p) if &p.slug == slug => Some(p),
            _ => store.get_prompt(slug).ok(),
        };
        let mut action = ImportAction {
            slug: slug.clone(),
            change: "unchanged".into(),
            new_versions: 0,
            labels: Vec::new(),
            adopted_id: None,
        };
        // The same prompt under another id here (a sample seeded by an older version, a prompt
        // made by hand before the bundle arrived): it takes the bundle's id, so calls by id work
        // the same on every machine.
        if let (Some(p), Some(e)) = (&existing, entry)
            && p.id != e.id
            && crate::store::is_prompt_id(&e.id)
            && store.get_prompt(&e.id).is_err()
        {
            action.adopted_id = Some(e.id.clone());
            if !options.dry_run {
                store.rekey_prompt(&p.id, &e.id, &options.actor)?;
                existing = Some(store.get_prompt(&e.id)?);
            }
        }
        let target_version: i64;
        let mut replayed = false;
        match &existing {
            None => {
                action.change = "create".into();
                let steps: Vec<ReplayStep<'_>> = {
                    let mut s: Vec<_> = f
                        .history
                        .iter()
                        .map(|(t, m, c)| (Some(*t), Some(m.clone()), c))
                        .collect();
                    if s.last()
                        .is_none_or(|(_, _, c)| c.content_hash() != f.prompt.content.content_hash())
                    {
                        s.push((None, None, &f.prompt.content));
                    }
                    s
                };
                replayed = steps.len() > 1;
                action.new_versions = steps.len();
                target_version = (steps.len() as i64).max(bundle_version.unwrap_or(0));
                if !options.dry_run {
                    let last = steps.len() - 1;
                    let mut id = String::new();
                    for (i, (at, msg, content)) in steps.into_iter().enumerate() {
                        let msg = msg
                            .map(|m| first_line(&m))
                            .unwrap_or_else(|| format!("Imported from {}", f.file));
                        let at = at.unwrap_or_else(Utc::now);
                        // The file's content gets the bundle's version number.
                        let number = if i == last { bundle_version } else { None };
                        if i == 0 {
                            id = store
                                .create_prompt_as(
                                    slug,
                                    entry.map(|e| e.id.as_str()),
                                    content,
                                    Some(&msg),
                                    at,
                                    number,
                                    &options.actor,
                                )?
                                .prompt_id;
                        } else {
                            store.save_version_at(
                                &id,
                                content,
                                Some(&msg),
                                at,
                                number,
                                &options.actor,
                            )?;
                        }
                    }
                }
            }
            Some(p) => {
                let latest = store.get_version(&p.id, &VersionSelector::Latest)?;
                if latest.content_hash == f.prompt.content.content_hash() {
                    target_version = latest.version;
                } else {
                    action.change = "update".into();
                    action.new_versions = 1;
                    target_version = (latest.version + 1).max(bundle_version.unwrap_or(0));
                    if !options.dry_run {
                        store.save_version_at(
                            &p.id,
                            &f.prompt.content,
                            Some(&format!("Imported from {}", f.file)),
                            Utc::now(),
                            bundle_version,
                            &options.actor,
                        )?;
                    }
                }
            }
        }
        // Labels: those in the file go on the file's version; with a replayed history the
        // manifest's label positions are restored too.
        let mut wanted: BTreeMap<String, i64> = f
            .prompt
            .labels
            .iter()
            .map(|l| (l.clone(), target_version))
            .collect();
        if replayed && let Some(e) = entry {
            for (l, v) in &e.label_versions {
                if *v <= target_version {
                    wanted.entry(l.clone()).or_insert(*v);
                }
            }
        }
        let current: BTreeMap<String, i64> = existing
            .as_ref()
            .map(|p| {
                p.labels
                    .iter()
                    .map(|l| (l.name.clone(), l.version))
                    .collect()
            })
            .unwrap_or_default();
        for (label, version) in wanted {
            if current.get(&label) != Some(&version) {
                action.labels.push((label.clone(), version));
                if !options.dry_run {
                    store.set_label(slug, version, &label, &options.actor)?;
                }
            }
        }
        report.actions.push(action);
    }
    report.extras = evals::apply(store, extras, source, options.dry_run, &options.actor)?;
    Ok(report)
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or("").trim().to_owned()
}

/// A private folder for a clone: a random name, created (not reused) owner-only, so no other
/// user can read the clone or swap files in it.
fn tempdir() -> Result<TempDir> {
    let base =
        std::env::temp_dir().join(format!("portolan-bundle-{}", crate::ids::new_id("clone")));
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(&base)
        .map_err(io(format!("could not create {}", base.display())))?;
    Ok(TempDir(base))
}

struct TempDir(PathBuf);
impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Reads and validates every prompt file; any error stops the import before anything is written.
fn read_bundle(dir: &Path, history: bool) -> Result<Vec<BundleFile>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(io(format!("could not read {}", dir.display())))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(EXTENSION) || n.ends_with(".prompty"))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(BundleError::Empty(dir.to_path_buf()).into());
    }
    let repo = if history {
        git2::Repository::discover(dir)
            .ok()
            .filter(|r| r.workdir().is_some())
    } else {
        None
    };
    let mut errors = Vec::new();
    let mut files = Vec::new();
    let mut seen = BTreeSet::new();
    for name in names {
        let path = dir.join(&name);
        if let Err(e) = ensure_regular_or_absent(&path) {
            errors.push(e.to_string());
            continue;
        }
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        match parse_and_validate(&text, &path) {
            Ok(prompt) => {
                if !seen.insert(prompt.name.clone()) {
                    errors.push(format!(
                        "{}: a second file for prompt '{}'",
                        path.display(),
                        prompt.name
                    ));
                    continue;
                }
                let history = match &repo {
                    Some(r) => file_history(r, &path).unwrap_or_default(),
                    None => Vec::new(),
                };
                files.push(BundleFile {
                    file: name,
                    prompt,
                    history,
                });
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        return Err(BundleError::InvalidFiles(errors).into());
    }
    Ok(files)
}

/// Parses a file and validates it, reporting template errors at their file line and column.
fn parse_and_validate(text: &str, path: &Path) -> Result<PromptFile> {
    let (prompt, starts) = if path.extension().is_some_and(|e| e == "prompty") {
        (crate::prompty::parse(text, path)?, Vec::new())
    } else {
        prompt_file::parse_located(text, path)?
    };
    crate::ids::validate_slug("prompt name", &prompt.name).map_err(|e| Error::PromptFileAt {
        path: path.to_path_buf(),
        line: 2,
        reason: e.to_string(),
    })?;
    for label in &prompt.labels {
        crate::ids::validate_label(label).map_err(|e| Error::PromptFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    }
    prompt.content.validate().map_err(|e| match e {
        Error::TemplateSyntax { position, reason } => {
            let line = starts
                .get(position.message_index)
                .map_or(position.line, |s| s + position.line - 1);
            Error::PromptFileAt {
                path: path.to_path_buf(),
                line,
                reason: format!(
                    "column {}: template syntax error in message {} ({}): {reason}",
                    position.column,
                    position.message_index + 1,
                    position.role
                ),
            }
        }
        other => Error::PromptFile {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    })?;
    Ok(prompt)
}

/// The versions of `path` in the repository's history, oldest first, as (commit time, message,
/// content), skipping commits where the file did not change or did not parse.
fn file_history(
    repo: &git2::Repository,
    path: &Path,
) -> Result<Vec<(DateTime<Utc>, String, PromptContent)>> {
    let workdir = repo
        .workdir()
        .ok_or_else(|| Error::Git("no work tree".into()))?;
    let abs = path
        .canonicalize()
        .map_err(io(format!("could not resolve {}", path.display())))?;
    let rel = abs
        .strip_prefix(
            workdir
                .canonicalize()
                .map_err(io("could not resolve the work tree".into()))?,
        )
        .map_err(|_| Error::Git("the bundle is outside the repository".into()))?
        .to_path_buf();
    let mut walk = repo.revwalk()?;
    if walk.push_head().is_err() {
        return Ok(Vec::new());
    }
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
    let mut out: Vec<(DateTime<Utc>, String, PromptContent)> = Vec::new();
    let mut last_blob = None;
    for oid in walk {
        let commit = repo.find_commit(oid?)?;
        let Ok(entry) = commit.tree()?.get_path(&rel) else {
            continue;
        };
        if last_blob == Some(entry.id()) {
            continue;
        }
        last_blob = Some(entry.id());
        let blob = repo.find_blob(entry.id())?;
        let Ok(text) = std::str::from_utf8(blob.content()) else {
            continue;
        };
        if let Ok(p) = parse_and_validate(text, path) {
            let when = Utc
                .timestamp_opt(commit.time().seconds(), 0)
                .single()
                .unwrap_or_else(Utc::now);
            let message = commit.message().unwrap_or("").to_owned();
            if out
                .last()
                .is_none_or(|(_, _, c)| c.content_hash() != p.content.content_hash())
            {
                out.push((when, message, p.content));
            }
        }
    }
    Ok(out)
}

/// Every `{{> partial}}` must name a prompt in the bundle or the library.
fn check_partials(store: &Store, files: &[BundleFile]) -> Result<()> {
    let in_bundle: HashSet<&str> = files.iter().map(|f| f.prompt.name.as_str()).collect();
    let mut errors = Vec::new();
    for f in files {
        let refs = f.prompt.content.references()?;
        for p in refs.partials {
            if !in_bundle.contains(p.as_str()) && store.get_prompt(&p).is_err() {
                errors.push(format!(
                    "{}: partial '{{{{> {p}}}}}' names no prompt in the bundle or the library",
                    f.file
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(BundleError::Partials(errors).into())
    }
}
