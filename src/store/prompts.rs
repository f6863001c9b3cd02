//! Queries for prompts, their versions and labels, and rendering through the compiled-template
//! cache.

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use serde_json::{Map, Value};

use super::audit::{Actor, Change};
use super::{CachedRender, Store, fmt_time, now, parse_time};
use crate::error::{Error, Result};
use crate::ids::{new_id, validate_label, validate_slug};
use crate::prompts::{
    Label, Message, Prompt, PromptContent, PromptVersion, SaveOutcome, VersionSelector,
};
use crate::template::{self, CompiledPrompt, TemplateRefs};

/// A prompt rendered for a call: messages filled in, plus the model and parameters to send.
#[derive(Debug, Clone, Serialize)]
pub struct RenderedPrompt {
    pub prompt_id: String,
    pub slug: String,
    pub version: i64,
    pub model: Option<String>,
    pub params: Map<String, Value>,
    pub messages: Vec<Message>,
}

impl RenderedPrompt {
    /// The rendered messages as chat messages (images as image parts, tool calls with their
    /// arguments); `access` says whether image paths may be read from this machine.
    pub fn chat_messages(
        &self,
        access: crate::images::ImageAccess,
    ) -> Result<Vec<crate::chat::ChatMessage>> {
        crate::message::to_chat_messages(&self.messages, access)
    }
}

const PARTIAL_DEPTH_LIMIT: usize = 16;

/// Whether `id` has the shape of a prompt id (`pr_` and letters, digits or `_`).
pub fn is_prompt_id(id: &str) -> bool {
    id.starts_with("pr_")
        && id.len() > 3
        && id.len() <= 40
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Store {
    /// Creates a prompt with `content` as version 1.
    pub fn create_prompt(
        &self,
        slug: &str,
        content: &PromptContent,
        message: Option<&str>,
        actor: &Actor,
    ) -> Result<SaveOutcome> {
        self.create_prompt_as(slug, None, content, message, now(), None, actor)
    }

    /// As [`Store::create_prompt`], keeping a given id (a bundle's, so calls by id keep working
    /// on another machine) when it is free, a given creation time, and a given first version
    /// number (a bundle's, so `@N` names the same content on every machine that imported it).
    #[allow(clippy::too_many_arguments)]
    pub fn create_prompt_as(
        &self,
        slug: &str,
        id: Option<&str>,
        content: &PromptContent,
        message: Option<&str>,
        at: chrono::DateTime<chrono::Utc>,
        number: Option<i64>,
        actor: &Actor,
    ) -> Result<SaveOutcome> {
        validate_slug("prompt slug", slug)?;
        content.validate()?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM prompts WHERE slug = ?1)",
            [slug],
            |r| r.get(0),
        )?;
        if exists {
            return Err(Error::DuplicateSlug(slug.to_owned()));
        }
        let wanted = id.filter(|i| is_prompt_id(i));
        let taken = match wanted {
            Some(i) => tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM prompts WHERE id = ?1)",
                [i],
                |r| r.get::<_, bool>(0),
            )?,
            None => true,
        };
        let id = match wanted {
            Some(i) if !taken => i.to_owned(),
            _ => new_id("pr"),
        };
        let at = fmt_time(&at);
        let version = number.unwrap_or(1).max(1);
        tx.execute(
            "INSERT INTO prompts(id, slug, created_at, updated_at) VALUES(?1, ?2, ?3, ?3)",
            params![id, slug, at],
        )?;
        insert_version(&tx, &id, version, content, message, &at)?;
        self.audit(
            &tx,
            actor,
            Change {
                action: "prompt.create",
                object_kind: "prompt",
                object_id: Some(&id),
                object_name: Some(slug),
                details: serde_json::json!({"version": version, "message": message}),
            },
        )?;
        tx.commit()?;
        self.touch();
        Ok(SaveOutcome {
            prompt_id: id,
            slug: slug.to_owned(),
            version,
            created: true,
        })
    }

    /// Saves `content` as the next version of a prompt, unless it equals the latest version, in
    /// which case nothing is written and the latest version is returned.
    pub fn save_version(
        &self,
        reference: &str,
        content: &PromptContent,
        message: Option<&str>,
        actor: &Actor,
    ) -> Result<SaveOutcome> {
        self.save_version_at(reference, content, message, now(), None, actor)
    }

    /// As [`Store::save_version`], with the version's creation time given (bundle imports keep
    /// the times of the history they replay) and, when `number` is above the next version, that
    /// number (a bundle's: the versions in between are not in this library).
    pub fn save_version_at(
        &self,
        reference: &str,
        content: &PromptContent,
        message: Option<&str>,
        at: chrono::DateTime<chrono::Utc>,
        number: Option<i64>,
        actor: &Actor,
    ) -> Result<SaveOutcome> {
        content.validate()?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let (id, slug) = resolve(&tx, reference)?;
        let (latest, hash): (i64, String) = tx.query_row(
            "SELECT version, content_hash FROM prompt_versions WHERE prompt_id = ?1
             ORDER BY version DESC LIMIT 1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if hash == content.content_hash() {
            return Ok(SaveOutcome {
                prompt_id: id,
                slug,
                version: latest,
                created: false,
            });
        }
        let version = (latest + 1).max(number.unwrap_or(0));
        let at = fmt_time(&at);
        insert_version(&tx, &id, version, content, message, &at)?;
        tx.execute(
            "UPDATE prompts SET updated_at = ?2 WHERE id = ?1",
            params![id, at],
        )?;
        self.audit(
            &tx,
            actor,
            Change {
                action: "prompt.save",
                object_kind: "prompt",
                object_id: Some(&id),
                object_name: Some(&slug),
                details: serde_json::json!({"version": version, "message": message}),
            },
        )?;
        tx.commit()?;
        self.touch();
        Ok(SaveOutcome {
            prompt_id: id,
            slug,
            version,
            created: true,
        })
    }

    /// Gives prompt `reference` the id `new_id` (a bundle's, so calls by id work the same on
    /// every machine that imported it), with its versions, labels, logged calls and saved runs.
    /// Refused when `new_id` is not a prompt id or belongs to another prompt.
    pub fn rekey_prompt(&self, reference: &str, new_id: &str, actor: &Actor) -> Result<()> {
        if !is_prompt_id(new_id) {
            return Err(Error::InvalidPromptId(new_id.to_owned()));
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let (old_id, slug) = resolve(&tx, reference)?;
        if old_id == new_id {
            return Ok(());
        }
        let taken: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM prompts WHERE id = ?1)",
            [new_id],
            |r| r.get(0),
        )?;
        if taken {
            return Err(Error::PromptIdTaken(new_id.to_owned()));
        }
        // Versions are immutable (no UPDATE): the rows are copied under the new id and the old
        // prompt deleted; the slug is free for the copy only once the old row is gone.
        tx.execute(
            "INSERT INTO prompts(id, slug, created_at, updated_at)
             SELECT ?2, ?2, created_at, updated_at FROM prompts WHERE id = ?1",
            params![old_id, new_id],
        )?;
        tx.execute(
            "INSERT INTO prompt_versions(prompt_id, version, content, content_hash, model, description, message, created_at)
             SELECT ?2, version, content, content_hash, model, description, message, created_at
             FROM prompt_versions WHERE prompt_id = ?1",
            params![old_id, new_id],
        )?;
        tx.execute(
            "INSERT INTO prompt_labels(prompt_id, name, version, updated_at)
             SELECT ?2, name, version, updated_at FROM prompt_labels WHERE prompt_id = ?1",
            params![old_id, new_id],
        )?;
        tx.execute("DELETE FROM prompts WHERE id = ?1", [&old_id])?;
        tx.execute(
            "UPDATE prompts SET slug = ?2 WHERE id = ?1",
            params![new_id, slug],
        )?;
        tx.execute(
            "UPDATE calls SET prompt_id = ?2 WHERE prompt_id = ?1",
            params![old_id, new_id],
        )?;
        tx.execute(
            "UPDATE compare_runs SET prompt_id = ?2 WHERE prompt_id = ?1",
            params![old_id, new_id],
        )?;
        self.audit(
            &tx,
            actor,
            Change {
                action: "prompt.rekey",
                object_kind: "prompt",
                object_id: Some(new_id),
                object_name: Some(&slug),
                details: serde_json::json!({"previous_id": old_id}),
            },
        )?;
        tx.commit()?;
        self.touch();
        Ok(())
    }

    /// All prompts, by slug.
    pub fn list_prompts(&self) -> Result<Vec<Prompt>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT p.id, p.slug, p.created_at, p.updated_at, v.version, v.description, v.model
             FROM prompts p
             JOIN prompt_versions v ON v.prompt_id = p.id
              AND v.version = (SELECT MAX(version) FROM prompt_versions WHERE prompt_id = p.id)
             ORDER BY p.slug",
        )?;
        let mut prompts = stmt
            .query_map([], prompt_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for p in &mut prompts {
            p.labels = labels_of(&conn, &p.id)?;
        }
        Ok(prompts)
    }

    /// One prompt by id or slug.
    pub fn get_prompt(&self, reference: &str) -> Result<Prompt> {
        let conn = self.conn();
        let (id, _) = resolve(&conn, reference)?;
        let mut prompt = conn.query_row(
            "SELECT p.id, p.slug, p.created_at, p.updated_at, v.version, v.description, v.model
             FROM prompts p JOIN prompt_versions v ON v.prompt_id = p.id
             WHERE p.id = ?1 ORDER BY v.version DESC LIMIT 1",
            [&id],
            prompt_from_row,
        )?;
        prompt.labels = labels_of(&conn, &id)?;
        Ok(prompt)
    }

    /// One version of a prompt.
    pub fn get_version(
        &self,
        reference: &str,
        selector: &VersionSelector,
    ) -> Result<PromptVersion> {
        let conn = self.conn();
        let (id, slug) = resolve(&conn, reference)?;
        let version = select_version(&conn, &id, &slug, selector)?;
        load_version(&conn, &id, &slug, version)
    }

    /// Every version of a prompt, oldest first.
    pub fn list_versions(&self, reference: &str) -> Result<Vec<PromptVersion>> {
        let conn = self.conn();
        let (id, slug) = resolve(&conn, reference)?;
        let numbers: Vec<i64> = conn
            .prepare("SELECT version FROM prompt_versions WHERE prompt_id = ?1 ORDER BY version")?
            .query_map([&id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        numbers
            .into_iter()
            .map(|v| load_version(&conn, &id, &slug, v))
            .collect()
    }

    /// Points `label` at `version`, moving it if it pointed elsewhere.
    /// Moves a label although its gate refused the version, recording who did it and why
    /// (`label.override` in the audit log, then the move itself).
    pub fn set_label_overriding_gate(
        &self,
        reference: &str,
        version: i64,
        label: &str,
        gate: &str,
        reason: &str,
        actor: &Actor,
    ) -> Result<Label> {
        validate_label(label)?;
        if reason.trim().is_empty() {
            return Err(Error::InvalidVariables(
                "say why the gate is overridden: the reason goes in the audit log".into(),
            ));
        }
        {
            let conn = self.conn();
            let (id, slug) = resolve(&conn, reference)?;
            select_version(&conn, &id, &slug, &VersionSelector::Number(version))?;
            self.audit(
                &conn,
                actor,
                Change {
                    action: "label.override",
                    object_kind: "prompt",
                    object_id: Some(&id),
                    object_name: Some(&slug),
                    details: serde_json::json!({"label": label, "version": version, "gate": gate, "reason": reason}),
                },
            )?;
        }
        self.set_label(reference, version, label, actor)
    }

    pub fn set_label(
        &self,
        reference: &str,
        version: i64,
        label: &str,
        actor: &Actor,
    ) -> Result<Label> {
        validate_label(label)?;
        let conn = self.conn();
        let (id, slug) = resolve(&conn, reference)?;
        select_version(&conn, &id, &slug, &VersionSelector::Number(version))?;
        let at = now();
        let previous: Option<i64> = conn
            .query_row(
                "SELECT version FROM prompt_labels WHERE prompt_id = ?1 AND name = ?2",
                params![id, label],
                |r| r.get(0),
            )
            .optional()?;
        if previous != Some(version) {
            conn.execute(
                "INSERT INTO prompt_labels(prompt_id, name, version, updated_at) VALUES(?1, ?2, ?3, ?4)
                 ON CONFLICT(prompt_id, name) DO UPDATE SET version = excluded.version,
                     updated_at = excluded.updated_at",
                params![id, label, version, fmt_time(&at)],
            )?;
            self.audit(
            &conn,
            actor,
            Change {
                action: "label.set",
                object_kind: "prompt",
                object_id: Some(&id),
                object_name: Some(&slug),
                details: serde_json::json!({"label": label, "version": version, "previous": previous}),
            },
        )?;
        }
        drop(conn);
        self.touch();
        let labels = self.get_prompt(&id)?.labels;
        labels
            .into_iter()
            .find(|l| l.name == label)
            .ok_or_else(|| Error::LabelNotFound {
                slug,
                label: label.to_owned(),
            })
    }

    /// Removes a label from a prompt.
    pub fn remove_label(&self, reference: &str, label: &str, actor: &Actor) -> Result<()> {
        let conn = self.conn();
        let (id, slug) = resolve(&conn, reference)?;
        let n = conn.execute(
            "DELETE FROM prompt_labels WHERE prompt_id = ?1 AND name = ?2",
            params![id, label],
        )?;
        if n == 0 {
            return Err(Error::LabelNotFound {
                slug,
                label: label.to_owned(),
            });
        }
        self.audit(
            &conn,
            actor,
            Change {
                action: "label.remove",
                object_kind: "prompt",
                object_id: Some(&id),
                object_name: Some(&slug),
                details: serde_json::json!({"label": label}),
            },
        )?;
        drop(conn);
        self.touch();
        Ok(())
    }

    /// Variables and partials a version uses, following partials into the prompts they include.
    pub fn references(&self, version: &PromptVersion) -> Result<TemplateRefs> {
        let mut refs = version.content.references()?;
        let conn = self.conn();
        for (_, source) in partial_sources(&conn, &version.content, &version.slug)? {
            let inner = template::references_in(0, crate::prompts::Role::User, &source)?;
            refs.merge(TemplateRefs {
                variables: inner.variables,
                partials: Vec::new(),
            });
        }
        Ok(refs)
    }

    /// Renders unsaved content (the editor's live preview), resolving partials from the library.
    pub fn render_draft(
        &self,
        slug: &str,
        content: &PromptContent,
        variables: &Map<String, Value>,
    ) -> Result<Vec<Message>> {
        content.validate()?;
        let partials = partial_sources(&self.conn(), content, slug)?;
        content.compile(&partials)?.render(variables)
    }

    /// Variables and partials of unsaved content, following partials into the library.
    pub fn draft_references(&self, slug: &str, content: &PromptContent) -> Result<TemplateRefs> {
        let mut refs = content.references()?;
        for (_, source) in partial_sources(&self.conn(), content, slug)? {
            let inner = template::references_in(0, crate::prompts::Role::User, &source)?;
            refs.merge(TemplateRefs {
                variables: inner.variables,
                partials: Vec::new(),
            });
        }
        Ok(refs)
    }

    /// Renders a prompt version with `variables`. Compiled templates are cached per version; a
    /// prompt that includes partials is recompiled after any change to the library.
    pub fn render(
        &self,
        reference: &str,
        selector: &VersionSelector,
        variables: &Map<String, Value>,
    ) -> Result<RenderedPrompt> {
        let version = self.compiled(reference, selector)?;
        let messages = version.compiled.render(variables)?;
        Ok(RenderedPrompt {
            prompt_id: version.prompt_id,
            slug: version.slug,
            version: version.version,
            model: version.content.model.clone(),
            params: version.content.params.clone(),
            messages,
        })
    }

    /// The compiled form of a version, from the cache when still valid. A hit costs two indexed
    /// lookups (the prompt, then the version the selector names) and no parsing.
    pub fn compiled(&self, reference: &str, selector: &VersionSelector) -> Result<CompiledVersion> {
        let conn = self.conn();
        let (id, slug) = resolve(&conn, reference)?;
        let number = select_version(&conn, &id, &slug, selector)?;
        let key = (id.clone(), number);
        {
            let cache = self.renders.read().unwrap_or_else(|e| e.into_inner());
            if let Some(entry) = cache.get(&key) {
                let fresh = match entry.valid_at {
                    None => true,
                    Some(at) => self.change_marker(&conn)? == at,
                };
                if fresh {
                    return Ok(CompiledVersion {
                        prompt_id: id,
                        slug,
                        version: number,
                        content: entry.content.clone(),
                        compiled: entry.compiled.clone(),
                    });
                }
            }
        }
        let version = load_version(&conn, &id, &slug, number)?;
        let partials = partial_sources(&conn, &version.content, &slug)?;
        let compiled = Arc::new(version.content.compile(&partials)?);
        let valid_at = if partials.is_empty() {
            None
        } else {
            Some(self.change_marker(&conn)?)
        };
        drop(conn);
        let content = Arc::new(version.content);
        self.renders
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                key,
                CachedRender {
                    compiled: compiled.clone(),
                    content: content.clone(),
                    valid_at,
                },
            );
        Ok(CompiledVersion {
            prompt_id: id,
            slug,
            version: number,
            content,
            compiled,
        })
    }
}

/// A version ready to render: what the cache hands out.
#[derive(Debug, Clone)]
pub struct CompiledVersion {
    pub prompt_id: String,
    pub slug: String,
    pub version: i64,
    pub content: Arc<PromptContent>,
    pub compiled: Arc<CompiledPrompt>,
}

/// Finds a prompt by id or slug: `(id, slug)`.
pub(crate) fn resolve(conn: &Connection, reference: &str) -> Result<(String, String)> {
    conn.prepare_cached("SELECT id, slug FROM prompts WHERE id = ?1 OR slug = ?1 LIMIT 1")?
        .query_row([reference], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| Error::PromptNotFound(reference.to_owned()))
}

fn select_version(
    conn: &Connection,
    id: &str,
    slug: &str,
    selector: &VersionSelector,
) -> Result<i64> {
    let latest: i64 = conn
        .prepare_cached("SELECT MAX(version) FROM prompt_versions WHERE prompt_id = ?1")?
        .query_row([id], |r| r.get(0))?;
    let label = |name: &str| -> Result<Option<i64>> {
        Ok(conn
            .prepare_cached("SELECT version FROM prompt_labels WHERE prompt_id = ?1 AND name = ?2")?
            .query_row(params![id, name], |r| r.get(0))
            .optional()?)
    };
    match selector {
        VersionSelector::Latest => Ok(latest),
        VersionSelector::Default => Ok(label("production")?.unwrap_or(latest)),
        VersionSelector::Number(n) if *n >= 1 && *n <= latest => Ok(*n),
        VersionSelector::Number(n) => Err(Error::VersionNotFound {
            slug: slug.to_owned(),
            version: *n,
            latest,
        }),
        VersionSelector::Label(name) if name == "latest" => Ok(latest),
        VersionSelector::Label(name) => label(name)?.ok_or_else(|| Error::LabelNotFound {
            slug: slug.to_owned(),
            label: name.clone(),
        }),
    }
}

fn insert_version(
    conn: &Connection,
    id: &str,
    version: i64,
    content: &PromptContent,
    message: Option<&str>,
    at: &str,
) -> Result<()> {
    let message = message.map(str::trim).filter(|m| !m.is_empty());
    conn.execute(
        "INSERT INTO prompt_versions(prompt_id, version, content, content_hash, model,
             description, message, created_at)
         VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            id,
            version,
            serde_json::to_string(content)?,
            content.content_hash(),
            content.model,
            content.description,
            message,
            at
        ],
    )?;
    Ok(())
}

fn load_version(conn: &Connection, id: &str, slug: &str, version: i64) -> Result<PromptVersion> {
    let (content, hash, message, created_at): (String, String, Option<String>, String) = conn
        .query_row(
            "SELECT content, content_hash, message, created_at FROM prompt_versions
             WHERE prompt_id = ?1 AND version = ?2",
            params![id, version],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
    let labels = conn
        .prepare_cached(
            "SELECT name FROM prompt_labels WHERE prompt_id = ?1 AND version = ?2 ORDER BY name",
        )?
        .query_map(params![id, version], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(PromptVersion {
        prompt_id: id.to_owned(),
        slug: slug.to_owned(),
        version,
        content: serde_json::from_str(&content)?,
        message,
        content_hash: hash,
        created_at: parse_time(&created_at)?,
        labels,
    })
}

fn labels_of(conn: &Connection, id: &str) -> Result<Vec<Label>> {
    Ok(conn
        .prepare_cached(
            "SELECT name, version, updated_at FROM prompt_labels WHERE prompt_id = ?1 ORDER BY name",
        )?
        .query_map([id], |r| {
            Ok(Label {
                name: r.get(0)?,
                version: r.get(1)?,
                updated_at: parse_time(&r.get::<_, String>(2)?)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?)
}

fn prompt_from_row(r: &Row<'_>) -> rusqlite::Result<Prompt> {
    Ok(Prompt {
        id: r.get(0)?,
        slug: r.get(1)?,
        created_at: parse_time(&r.get::<_, String>(2)?)?,
        updated_at: parse_time(&r.get::<_, String>(3)?)?,
        latest_version: r.get(4)?,
        description: r.get(5)?,
        model: r.get(6)?,
        labels: Vec::new(),
    })
}

/// The text of a prompt used as a partial: its messages' templates joined by blank lines, from
/// its `production` version if it has one, else its latest.
fn partial_text(content: &PromptContent) -> String {
    content
        .messages
        .iter()
        .map(|m| m.content.as_str())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Every partial `content` needs, transitively, as `(slug, source)`; cycles are an error.
fn partial_sources(
    conn: &Connection,
    content: &PromptContent,
    own_slug: &str,
) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut stack = vec![own_slug.to_owned()];
    let refs = content.references()?;
    collect_partials(conn, &refs.partials, &mut stack, &mut out)?;
    Ok(out)
}

fn collect_partials(
    conn: &Connection,
    names: &[String],
    stack: &mut Vec<String>,
    out: &mut Vec<(String, String)>,
) -> Result<()> {
    for name in names {
        if stack.contains(name) {
            let mut cycle = stack.clone();
            cycle.push(name.clone());
            let start = cycle.iter().position(|s| s == name).unwrap_or(0);
            return Err(Error::PartialCycle(cycle[start..].to_vec()));
        }
        if out.iter().any(|(s, _)| s == name) {
            continue;
        }
        if stack.len() > PARTIAL_DEPTH_LIMIT {
            return Err(Error::PartialCycle(stack.clone()));
        }
        let (id, slug) = resolve(conn, name).map_err(|e| match e {
            Error::PromptNotFound(_) => Error::UnknownPartial(name.clone()),
            other => other,
        })?;
        let number = select_version(conn, &id, &slug, &VersionSelector::Default)?;
        let version = load_version(conn, &id, &slug, number)?;
        let text = partial_text(&version.content);
        let inner = template::references_in(0, crate::prompts::Role::User, &text)?;
        out.push((name.clone(), text));
        stack.push(name.clone());
        collect_partials(conn, &inner.partials, stack, out)?;
        stack.pop();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Message, Role};

    fn content(text: &str) -> PromptContent {
        PromptContent {
            messages: vec![Message::new(Role::User, text)],
            ..Default::default()
        }
    }

    #[test]
    fn rekeying_moves_versions_labels_and_logged_calls_and_refuses_taken_ids() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(
            dir.path(),
            super::super::StoreOptions {
                seed_samples: false,
                use_keyring: false,
                master_key: Some("ab".repeat(32)),
            },
        )
        .unwrap();
        let a = store
            .create_prompt("greet", &content("Hi {{name}}"), None, &Actor::Cli)
            .unwrap();
        store
            .save_version("greet", &content("Hello {{name}}"), None, &Actor::Cli)
            .unwrap();
        store
            .set_label("greet", 1, "production", &Actor::Cli)
            .unwrap();
        store
            .conn()
            .execute(
                "INSERT INTO calls(id, trace_id, created_at, source, prompt_id, status, success, stream, cache_status, latency_ms, retry_count)
                 VALUES('c1', 't1', 0, 'cli', ?1, 200, 1, 0, 'MISS', 1, 0)",
                [&a.prompt_id],
            )
            .unwrap();
        store
            .rekey_prompt("greet", "pr_sharedid0001", &Actor::Cli)
            .unwrap();
        let p = store.get_prompt("greet").unwrap();
        assert_eq!(p.id, "pr_sharedid0001");
        assert_eq!(p.latest_version, 2);
        assert_eq!(p.labels[0].name, "production");
        assert_eq!(p.labels[0].version, 1);
        assert!(store.get_prompt(&a.prompt_id).is_err());
        let moved: String = store
            .conn()
            .query_row("SELECT prompt_id FROM calls WHERE id = 'c1'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(moved, "pr_sharedid0001");
        // Versions stay immutable afterwards; a taken or malformed id is refused.
        assert!(
            store
                .conn()
                .execute("UPDATE prompt_versions SET content = 'x'", [])
                .is_err()
        );
        store
            .create_prompt("other", &content("x"), None, &Actor::Cli)
            .unwrap();
        assert!(matches!(
            store.rekey_prompt("other", "pr_sharedid0001", &Actor::Cli),
            Err(Error::PromptIdTaken(_))
        ));
        assert!(matches!(
            store.rekey_prompt("other", "../etc", &Actor::Cli),
            Err(Error::InvalidPromptId(_))
        ));
    }
}
