//! The catalog on the shared store: prompts with their versions and labels, virtual keys sealed
//! with the team's master key, gateway tokens and settings — what every replica serves from.
//!
//! Reads go to the database each call for what can change (which version a label or `latest`
//! names, a token, a key), so a change made through one replica is what the next call through
//! any replica sees; only what cannot change is kept in memory: the compiled templates of a
//! version (versions are immutable) that includes no partials. A version with partials is
//! compiled again each time, since the prompts it includes may have changed.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::PgStore;
use crate::error::{Error, Result};
use crate::ids::{new_id, validate_label, validate_slug};
use crate::keys::{NewKey, VirtualKey};
use crate::prompts::{
    Label, Prompt, PromptContent, PromptVersion, Role, SaveOutcome, VersionSelector,
};
use crate::secrets::{MasterKey, SecretString};
use crate::store::audit::{Actor, Change};
use crate::store::backend::Catalog;
use crate::store::tokens::new_secret;
use crate::store::{GatewayToken, NewToken, RenderedPrompt, TokenScopes, hash_token};
use crate::template::{self, CompiledPrompt, TemplateRefs};

type PgResult<T> = std::result::Result<T, tokio_postgres::Error>;

/// How deep partials may include partials.
const PARTIAL_DEPTH_LIMIT: usize = 16;

/// A compiled version kept in memory.
struct Compiled {
    content: Arc<PromptContent>,
    compiled: Arc<CompiledPrompt>,
}

/// The catalog of a team gateway, as one replica reads it.
pub struct PgCatalog {
    store: Arc<PgStore>,
    /// The team's master key (PORTOLAN_MASTER_KEY), to open keys and sealed settings.
    master: Option<MasterKey>,
    compiled: RwLock<HashMap<(String, i64), Arc<Compiled>>>,
}

impl PgCatalog {
    /// The catalog of `store`; without `master`, keys cannot be opened (a call through one is a
    /// clear error naming PORTOLAN_MASTER_KEY).
    pub fn new(store: Arc<PgStore>, master: Option<MasterKey>) -> Self {
        PgCatalog {
            store,
            master,
            compiled: RwLock::new(HashMap::new()),
        }
    }

    fn master(&self) -> Result<&MasterKey> {
        self.master.as_ref().ok_or_else(|| {
            Error::SharedStore(
                "keys are sealed with the team's master key: set PORTOLAN_MASTER_KEY (the same on every replica)".into(),
            )
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Client> {
        self.store.client().await
    }

    fn fail(&self, e: tokio_postgres::Error) -> Error {
        self.store.fail(e)
    }

    /// Creates a prompt with `content` as version 1.
    pub async fn create_prompt(
        &self,
        slug: &str,
        content: &PromptContent,
        message: Option<&str>,
        actor: &Actor,
    ) -> Result<SaveOutcome> {
        validate_slug("prompt slug", slug)?;
        content.validate()?;
        let id = new_id("pr");
        let at = super::now_ms();
        let mut client = self.client().await?;
        let result: PgResult<std::result::Result<(), Error>> = async {
            let tx = client.transaction().await?;
            let inserted = tx
                .execute(
                    "INSERT INTO prompts(id, slug, created_at, updated_at) VALUES($1, $2, $3, $3)
                     ON CONFLICT (slug) DO NOTHING",
                    &[&id, &slug, &at],
                )
                .await?;
            if inserted == 0 {
                return Ok(Err(Error::DuplicateSlug(slug.to_owned())));
            }
            insert_version(&tx, &id, 1, content, message, at).await?;
            PgStore::audit(
                &tx,
                actor,
                Change {
                    action: "prompt.create",
                    object_kind: "prompt",
                    object_id: Some(&id),
                    object_name: Some(slug),
                    details: serde_json::json!({"version": 1, "message": message}),
                },
            )
            .await?;
            tx.commit().await?;
            Ok(Ok(()))
        }
        .await;
        result.map_err(|e| self.fail(e))??;
        Ok(SaveOutcome {
            prompt_id: id,
            slug: slug.to_owned(),
            version: 1,
            created: true,
        })
    }

    /// Saves `content` as the next version, unless it equals the latest (then nothing is
    /// written). Replicas saving at once get consecutive versions: the prompt's row is locked.
    pub async fn save_version(
        &self,
        reference: &str,
        content: &PromptContent,
        message: Option<&str>,
        actor: &Actor,
    ) -> Result<SaveOutcome> {
        content.validate()?;
        let hash = content.content_hash();
        let mut client = self.client().await?;
        let result: PgResult<std::result::Result<SaveOutcome, Error>> = async {
            let tx = client.transaction().await?;
            let Some(row) = tx
                .query_opt(
                    "SELECT id, slug FROM prompts WHERE id = $1 OR slug = $1 LIMIT 1 FOR UPDATE",
                    &[&reference],
                )
                .await?
            else {
                return Ok(Err(Error::PromptNotFound(reference.to_owned())));
            };
            let (id, slug): (String, String) = (row.get(0), row.get(1));
            let latest = tx
                .query_one(
                    "SELECT version, content_hash FROM prompt_versions WHERE prompt_id = $1
                     ORDER BY version DESC LIMIT 1",
                    &[&id],
                )
                .await?;
            let (number, latest_hash): (i64, String) = (latest.get(0), latest.get(1));
            if latest_hash == hash {
                return Ok(Ok(SaveOutcome {
                    prompt_id: id,
                    slug,
                    version: number,
                    created: false,
                }));
            }
            let at = super::now_ms();
            insert_version(&tx, &id, number + 1, content, message, at).await?;
            tx.execute(
                "UPDATE prompts SET updated_at = $2 WHERE id = $1",
                &[&id, &at],
            )
            .await?;
            PgStore::audit(
                &tx,
                actor,
                Change {
                    action: "prompt.save",
                    object_kind: "prompt",
                    object_id: Some(&id),
                    object_name: Some(&slug),
                    details: serde_json::json!({"version": number + 1, "message": message}),
                },
            )
            .await?;
            tx.commit().await?;
            Ok(Ok(SaveOutcome {
                prompt_id: id,
                slug,
                version: number + 1,
                created: true,
            }))
        }
        .await;
        result.map_err(|e| self.fail(e))?
    }

    /// Points `label` at `version` of a prompt.
    pub async fn set_label(
        &self,
        reference: &str,
        version: i64,
        label: &str,
        actor: &Actor,
    ) -> Result<()> {
        validate_label(label)?;
        let (id, slug) = self.resolve(reference).await?;
        let latest = self.latest(&id).await?;
        if version < 1 || version > latest {
            return Err(Error::VersionNotFound {
                slug,
                version,
                latest,
            });
        }
        let mut client = self.client().await?;
        let result: PgResult<()> = async {
            let tx = client.transaction().await?;
            tx.execute(
                "INSERT INTO prompt_labels(prompt_id, name, version, updated_at) VALUES($1, $2, $3, $4)
                 ON CONFLICT (prompt_id, name) DO UPDATE SET version = excluded.version,
                     updated_at = excluded.updated_at",
                &[&id, &label, &version, &super::now_ms()],
            )
            .await?;
            PgStore::audit(
                &tx,
                actor,
                Change {
                    action: "prompt.label",
                    object_kind: "prompt",
                    object_id: Some(&id),
                    object_name: Some(&slug),
                    details: serde_json::json!({"label": label, "version": version}),
                },
            )
            .await?;
            tx.commit().await
        }
        .await;
        result.map_err(|e| self.fail(e))
    }

    /// Adds a virtual key, its secret sealed with the team's master key.
    pub async fn add_key(
        &self,
        key: &NewKey,
        secret: &SecretString,
        actor: &Actor,
    ) -> Result<VirtualKey> {
        let plain = secret.expose().trim();
        key.validate(plain)?;
        let id = new_id("vk");
        let sealed = self.master()?.seal(&id, plain.as_bytes());
        let mask = crate::cloud_credentials::mask(&key.provider, plain);
        let at = super::now_ms();
        let mut client = self.client().await?;
        let result: PgResult<u64> = async {
            let tx = client.transaction().await?;
            let n = tx
                .execute(
                    "INSERT INTO virtual_keys(id, name, provider, base_url, notes, secret, mask, created_at, updated_at)
                     VALUES($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (name) DO NOTHING",
                    &[&id, &key.name, &key.provider, &key.base_url, &key.notes, &sealed, &mask, &at],
                )
                .await?;
            if n == 1 {
                PgStore::audit(
                    &tx,
                    actor,
                    Change {
                        action: "key.add",
                        object_kind: "virtual_key",
                        object_id: Some(&id),
                        object_name: Some(&key.name),
                        details: serde_json::json!({"provider": key.provider}),
                    },
                )
                .await?;
            }
            tx.commit().await?;
            Ok(n)
        }
        .await;
        if result.map_err(|e| self.fail(e))? == 0 {
            return Err(Error::DuplicateKey(key.name.clone()));
        }
        Ok(VirtualKey {
            id,
            name: key.name.clone(),
            provider: key.provider.clone(),
            base_url: key.base_url.clone(),
            notes: key.notes.clone(),
            mask,
            created_at: super::utc(at),
            updated_at: super::utc(at),
            last_used_at: None,
        })
    }

    /// Creates a gateway token; its secret is in the answer and nowhere else (the store keeps
    /// its SHA-256).
    pub async fn create_token(
        &self,
        name: &str,
        scopes: TokenScopes,
        expires_at: Option<DateTime<Utc>>,
        actor: &Actor,
    ) -> Result<NewToken> {
        validate_slug("token name", name)?;
        let secret = new_secret();
        let id = new_id("tok");
        let prefix = format!("{}…", &secret[..8]);
        let at = super::now_ms();
        let scopes_json = serde_json::to_string(&scopes)?;
        let expires = expires_at.map(|t| t.timestamp_millis());
        let mut client = self.client().await?;
        let result: PgResult<bool> = async {
            let tx = client.transaction().await?;
            let live: bool = tx
                .query_one(
                    "SELECT EXISTS(SELECT 1 FROM gateway_tokens WHERE name = $1 AND revoked_at IS NULL)",
                    &[&name],
                )
                .await?
                .get(0);
            if live {
                return Ok(false);
            }
            // A revoked token keeps its audit entries but frees its name.
            tx.execute(
                "DELETE FROM gateway_tokens WHERE name = $1 AND revoked_at IS NOT NULL",
                &[&name],
            )
            .await?;
            tx.execute(
                "INSERT INTO gateway_tokens(id, name, prefix, hash, scopes, created_at, expires_at)
                 VALUES($1, $2, $3, $4, $5::text::jsonb, $6, $7)",
                &[&id, &name, &prefix, &hash_token(&secret), &scopes_json, &at, &expires],
            )
            .await?;
            PgStore::audit(
                &tx,
                actor,
                Change {
                    action: "token.create",
                    object_kind: "gateway_token",
                    object_id: Some(&id),
                    object_name: Some(name),
                    details: serde_json::json!({"scopes": scopes}),
                },
            )
            .await?;
            tx.commit().await?;
            Ok(true)
        }
        .await;
        if !result.map_err(|e| self.fail(e))? {
            return Err(Error::DuplicateToken(name.to_owned()));
        }
        Ok(NewToken {
            token: GatewayToken {
                id,
                name: name.to_owned(),
                prefix,
                created_at: super::utc(at),
                last_used_at: None,
                scopes,
                expires_at,
            },
            secret,
        })
    }

    /// Revokes a token by name; calls with it are refused from the next one on, on every
    /// replica.
    pub async fn revoke_token(&self, name: &str) -> Result<()> {
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE gateway_tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
                &[&name, &super::now_ms()],
            )
            .await
            .map_err(|e| self.fail(e))?;
        if n == 0 {
            return Err(Error::TokenNotFound(name.to_owned()));
        }
        Ok(())
    }

    /// The id of the live token named `name`.
    pub async fn token_id(&self, name: &str) -> Result<String> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT id FROM gateway_tokens WHERE name = $1 AND revoked_at IS NULL",
                &[&name],
            )
            .await
            .map_err(|e| self.fail(e))?;
        row.map(|r| r.get(0))
            .ok_or_else(|| Error::TokenNotFound(name.to_owned()))
    }

    /// The id of the virtual key named `name`.
    pub async fn key_id(&self, name: &str) -> Result<String> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT id FROM virtual_keys WHERE name = $1", &[&name])
            .await
            .map_err(|e| self.fail(e))?;
        row.map(|r| r.get(0))
            .ok_or_else(|| Error::KeyNotFound(name.to_owned()))
    }

    /// Live gateway tokens, by name.
    pub async fn list_tokens(&self) -> Result<Vec<GatewayToken>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, name, prefix, created_at, last_used_at, scopes::text, expires_at
                 FROM gateway_tokens WHERE revoked_at IS NULL ORDER BY name",
                &[],
            )
            .await
            .map_err(|e| self.fail(e))?;
        rows.iter().map(token_from_row).collect()
    }

    /// Whether any live gateway token exists.
    pub async fn has_tokens(&self) -> Result<bool> {
        let client = self.client().await?;
        Ok(client
            .query_one(
                "SELECT EXISTS(SELECT 1 FROM gateway_tokens WHERE revoked_at IS NULL)",
                &[],
            )
            .await
            .map_err(|e| self.fail(e))?
            .get(0))
    }

    /// Sets the settings document `key`.
    pub async fn set_setting(&self, key: &str, value: &Value) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO settings(key, value, updated_at) VALUES($1, $2::text::jsonb, $3)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                &[&key, &value.to_string(), &super::now_ms()],
            )
            .await
            .map_err(|e| self.fail(e))?;
        Ok(())
    }

    /// A prompt's id and slug by either.
    async fn resolve(&self, reference: &str) -> Result<(String, String)> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT id, slug FROM prompts WHERE id = $1 OR slug = $1 LIMIT 1",
                &[&reference],
            )
            .await
            .map_err(|e| self.fail(e))?
            .ok_or_else(|| Error::PromptNotFound(reference.to_owned()))?;
        Ok((row.get(0), row.get(1)))
    }

    async fn latest(&self, id: &str) -> Result<i64> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT COALESCE(max(version), 0) FROM prompt_versions WHERE prompt_id = $1",
                &[&id],
            )
            .await
            .map_err(|e| self.fail(e))?;
        Ok(row.get(0))
    }

    /// The version number `selector` names now.
    async fn select_version(
        &self,
        id: &str,
        slug: &str,
        selector: &VersionSelector,
    ) -> Result<i64> {
        let client = self.client().await?;
        let label = match selector {
            VersionSelector::Default => Some("production"),
            VersionSelector::Label(name) if name != "latest" => Some(name.as_str()),
            _ => None,
        };
        let row = client
            .query_one(
                "SELECT (SELECT max(version) FROM prompt_versions WHERE prompt_id = $1),
                        (SELECT version FROM prompt_labels WHERE prompt_id = $1 AND name = $2)",
                &[&id, &label.unwrap_or("")],
            )
            .await
            .map_err(|e| self.fail(e))?;
        let latest: i64 = row.get::<_, Option<i64>>(0).unwrap_or(0);
        let labelled: Option<i64> = row.get(1);
        match selector {
            VersionSelector::Latest => Ok(latest),
            VersionSelector::Default => Ok(labelled.unwrap_or(latest)),
            VersionSelector::Number(n) if *n >= 1 && *n <= latest => Ok(*n),
            VersionSelector::Number(n) => Err(Error::VersionNotFound {
                slug: slug.to_owned(),
                version: *n,
                latest,
            }),
            VersionSelector::Label(name) if name == "latest" => Ok(latest),
            VersionSelector::Label(name) => labelled.ok_or_else(|| Error::LabelNotFound {
                slug: slug.to_owned(),
                label: name.clone(),
            }),
        }
    }

    async fn load_version(&self, id: &str, slug: &str, version: i64) -> Result<PromptVersion> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT content::text, content_hash, message, created_at FROM prompt_versions
                 WHERE prompt_id = $1 AND version = $2",
                &[&id, &version],
            )
            .await
            .map_err(|e| self.fail(e))?;
        let labels = client
            .query(
                "SELECT name FROM prompt_labels WHERE prompt_id = $1 AND version = $2 ORDER BY name",
                &[&id, &version],
            )
            .await
            .map_err(|e| self.fail(e))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        Ok(PromptVersion {
            prompt_id: id.to_owned(),
            slug: slug.to_owned(),
            version,
            content: serde_json::from_str(row.get::<_, &str>(0))?,
            message: row.get(2),
            content_hash: row.get(1),
            created_at: super::utc(row.get(3)),
            labels,
        })
    }

    /// Every partial `content` needs, transitively, as `(slug, source)`; a cycle is an error.
    async fn partial_sources(&self, content: &PromptContent) -> Result<Vec<(String, String)>> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut stack: Vec<(String, Vec<String>)> = content
            .references()?
            .partials
            .into_iter()
            .rev()
            .map(|p| (p, Vec::new()))
            .collect();
        while let Some((name, path)) = stack.pop() {
            if let Some(at) = path.iter().position(|p| *p == name) {
                let mut cycle = path[at..].to_vec();
                cycle.push(name);
                return Err(Error::PartialCycle(cycle));
            }
            if out.iter().any(|(s, _)| *s == name) {
                continue;
            }
            if path.len() > PARTIAL_DEPTH_LIMIT {
                return Err(Error::PartialCycle(path));
            }
            let (id, slug) = self.resolve(&name).await.map_err(|e| match e {
                Error::PromptNotFound(_) => Error::UnknownPartial(name.clone()),
                other => other,
            })?;
            let number = self
                .select_version(&id, &slug, &VersionSelector::Default)
                .await?;
            let version = self.load_version(&id, &slug, number).await?;
            let text = version
                .content
                .messages
                .iter()
                .map(|m| m.content.as_str())
                .collect::<Vec<_>>()
                .join("\n\n");
            let inner = template::references_in(0, Role::User, &text)?;
            out.push((name.clone(), text));
            let mut deeper = path.clone();
            deeper.push(name);
            for p in inner.partials.into_iter().rev() {
                stack.push((p, deeper.clone()));
            }
        }
        Ok(out)
    }

    /// The compiled form of the version `selector` names (kept when it has no partials).
    async fn compiled(
        &self,
        reference: &str,
        selector: &VersionSelector,
    ) -> Result<(String, String, i64, Arc<Compiled>)> {
        let (id, slug) = self.resolve(reference).await?;
        let number = self.select_version(&id, &slug, selector).await?;
        let key = (id.clone(), number);
        if let Some(hit) = self
            .compiled
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok((id, slug, number, hit.clone()));
        }
        let version = self.load_version(&id, &slug, number).await?;
        let partials = self.partial_sources(&version.content).await?;
        let compiled = Arc::new(Compiled {
            compiled: Arc::new(version.content.compile(&partials)?),
            content: Arc::new(version.content),
        });
        if partials.is_empty() {
            self.compiled
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, compiled.clone());
        }
        Ok((id, slug, number, compiled))
    }

    async fn labels_of(&self, id: &str) -> Result<Vec<Label>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT name, version, updated_at FROM prompt_labels WHERE prompt_id = $1 ORDER BY name",
                &[&id],
            )
            .await
            .map_err(|e| self.fail(e))?;
        Ok(rows
            .iter()
            .map(|r| Label {
                name: r.get(0),
                version: r.get(1),
                updated_at: super::utc(r.get(2)),
            })
            .collect())
    }

    async fn prompts_where(&self, reference: Option<&str>) -> Result<Vec<Prompt>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT p.id, p.slug, p.created_at, p.updated_at, v.version, v.content::text
                 FROM prompts p JOIN prompt_versions v ON v.prompt_id = p.id
                  AND v.version = (SELECT max(version) FROM prompt_versions WHERE prompt_id = p.id)
                 WHERE $1::text IS NULL OR p.id = $1 OR p.slug = $1
                 ORDER BY p.slug",
                &[&reference],
            )
            .await
            .map_err(|e| self.fail(e))?;
        drop(client);
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let content: PromptContent = serde_json::from_str(r.get::<_, &str>(5))?;
            let id: String = r.get(0);
            let labels = self.labels_of(&id).await?;
            out.push(Prompt {
                id,
                slug: r.get(1),
                created_at: super::utc(r.get(2)),
                updated_at: super::utc(r.get(3)),
                latest_version: r.get(4),
                description: content.description,
                model: content.model,
                labels,
            });
        }
        Ok(out)
    }
}

async fn insert_version(
    tx: &tokio_postgres::Transaction<'_>,
    id: &str,
    version: i64,
    content: &PromptContent,
    message: Option<&str>,
    at: i64,
) -> PgResult<()> {
    // Serialising prompt content cannot fail (strings, numbers and maps only).
    let json = serde_json::to_string(content).unwrap_or_default();
    tx.execute(
        "INSERT INTO prompt_versions(prompt_id, version, content, content_hash, message, created_at)
         VALUES($1, $2, $3::text::jsonb, $4, $5, $6)",
        &[&id, &version, &json, &content.content_hash(), &message, &at],
    )
    .await?;
    Ok(())
}

fn key_from_row(r: &tokio_postgres::Row) -> VirtualKey {
    VirtualKey {
        id: r.get(0),
        name: r.get(1),
        provider: r.get(2),
        base_url: r.get(3),
        notes: r.get(4),
        mask: r.get(5),
        created_at: super::utc(r.get(6)),
        updated_at: super::utc(r.get(7)),
        last_used_at: r.get::<_, Option<i64>>(8).map(super::utc),
    }
}

fn token_from_row(r: &tokio_postgres::Row) -> Result<GatewayToken> {
    Ok(GatewayToken {
        id: r.get(0),
        name: r.get(1),
        prefix: r.get(2),
        created_at: super::utc(r.get(3)),
        last_used_at: r.get::<_, Option<i64>>(4).map(super::utc),
        scopes: serde_json::from_str(r.get::<_, &str>(5))?,
        expires_at: r.get::<_, Option<i64>>(6).map(super::utc),
    })
}

const KEY_COLUMNS: &str =
    "id, name, provider, base_url, notes, mask, created_at, updated_at, last_used_at";

#[async_trait]
impl Catalog for PgCatalog {
    async fn render(
        &self,
        reference: &str,
        selector: &VersionSelector,
        variables: &Map<String, Value>,
    ) -> Result<RenderedPrompt> {
        let (prompt_id, slug, version, c) = self.compiled(reference, selector).await?;
        let messages = c.compiled.render(variables)?;
        Ok(RenderedPrompt {
            prompt_id,
            slug,
            version,
            model: c.content.model.clone(),
            params: c.content.params.clone(),
            messages,
        })
    }

    async fn get_version(
        &self,
        reference: &str,
        selector: &VersionSelector,
    ) -> Result<PromptVersion> {
        let (id, slug) = self.resolve(reference).await?;
        let number = self.select_version(&id, &slug, selector).await?;
        self.load_version(&id, &slug, number).await
    }

    async fn get_prompt(&self, reference: &str) -> Result<Prompt> {
        self.prompts_where(Some(reference))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::PromptNotFound(reference.to_owned()))
    }

    async fn list_prompts(&self) -> Result<Vec<Prompt>> {
        self.prompts_where(None).await
    }

    async fn references(&self, version: &PromptVersion) -> Result<TemplateRefs> {
        let mut refs = version.content.references()?;
        for (_, source) in self.partial_sources(&version.content).await? {
            let inner = template::references_in(0, Role::User, &source)?;
            refs.merge(TemplateRefs {
                variables: inner.variables,
                partials: Vec::new(),
            });
        }
        Ok(refs)
    }

    async fn list_keys(&self) -> Result<Vec<VirtualKey>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("SELECT {KEY_COLUMNS} FROM virtual_keys ORDER BY name"),
                &[],
            )
            .await
            .map_err(|e| self.fail(e))?;
        Ok(rows.iter().map(key_from_row).collect())
    }

    async fn open_key(&self, name: &str) -> Result<(VirtualKey, SecretString)> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {KEY_COLUMNS}, secret FROM virtual_keys WHERE name = $1"),
                &[&name],
            )
            .await
            .map_err(|e| self.fail(e))?
            .ok_or_else(|| Error::KeyNotFound(name.to_owned()))?;
        let key = key_from_row(&row);
        let sealed: Vec<u8> = row.get(9);
        let secret = self.master()?.open(&key.id, &key.name, &sealed)?;
        Ok((key, secret))
    }

    async fn touch_key(&self, id: &str) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE virtual_keys SET last_used_at = $2 WHERE id = $1",
                &[&id, &super::now_ms()],
            )
            .await
            .map_err(|e| self.fail(e))?;
        Ok(())
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<GatewayToken>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT id, name, prefix, created_at, last_used_at, scopes::text, expires_at
                 FROM gateway_tokens WHERE hash = $1 AND revoked_at IS NULL",
                &[&hash],
            )
            .await
            .map_err(|e| self.fail(e))?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn touch_token(&self, id: &str) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE gateway_tokens SET last_used_at = $2 WHERE id = $1",
                &[&id, &super::now_ms()],
            )
            .await
            .map_err(|e| self.fail(e))?;
        Ok(())
    }

    async fn open_sealed(&self, record_id: &str, name: &str, sealed: &str) -> Result<SecretString> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed.trim())
            .map_err(|_| Error::SecretTampered {
                name: name.to_owned(),
            })?;
        self.master()?.open(record_id, name, &bytes)
    }

    async fn setting(&self, key: &str) -> Result<Option<Value>> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT value::text FROM settings WHERE key = $1", &[&key])
            .await
            .map_err(|e| self.fail(e))?;
        match row {
            Some(r) => Ok(Some(serde_json::from_str(r.get::<_, &str>(0))?)),
            None => Ok(None),
        }
    }
}
