//! Gateway tokens: created and rotated from the CLI or the app, shown once, stored as a SHA-256
//! hash. A request's bearer token is hashed and looked up; nothing reversible is kept.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::audit::{Actor, Change};
use super::{Store, fmt_time, now, parse_time};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GatewayToken {
    pub id: String,
    pub name: String,
    /// The token's first characters, to recognise it (`pt_3f9k…`).
    pub prefix: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    pub scopes: TokenScopes,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// What a gateway token may do. Empty lists mean "no restriction".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TokenScopes {
    /// Prompt ids or slugs, or `label:<name>` (only versions carrying that label). A token with
    /// prompts listed may only call prompts, not raw chat completions.
    pub prompts: Vec<String>,
    /// Virtual key names (`demo` for the demo provider).
    pub keys: Vec<String>,
    /// Model names; a trailing `*` matches a prefix (`gpt-4o*`).
    pub models: Vec<String>,
    /// Render and read only: no model calls.
    pub read_only: bool,
    /// May send calls to a routing config's `custom_host` (with its own `api_key`, or to a
    /// provider that needs no key). Stored keys never go to another host, whatever this says.
    pub allow_custom_host: bool,
    /// May weaken the PII guardrail set with `portolan settings pii` (it is a floor otherwise).
    pub allow_guardrail_override: bool,
    /// The stored scopes could not be read: the token is refused (fail closed), never treated as
    /// unrestricted.
    #[serde(skip)]
    pub unreadable: bool,
}

impl TokenScopes {
    /// Scopes that allow nothing, for a token whose stored scopes cannot be read.
    pub fn unreadable() -> Self {
        TokenScopes {
            read_only: true,
            unreadable: true,
            ..Default::default()
        }
    }

    pub fn is_unrestricted(&self) -> bool {
        self.prompts.is_empty()
            && self.keys.is_empty()
            && self.models.is_empty()
            && !self.read_only
            && !self.unreadable
    }

    pub fn allows_model(&self, model: &str) -> bool {
        self.models.is_empty()
            || self.models.iter().any(|m| match m.strip_suffix('*') {
                Some(prefix) => model.starts_with(prefix),
                None => m == model,
            })
    }

    pub fn allows_key(&self, key: Option<&str>) -> bool {
        self.keys.is_empty()
            || self
                .keys
                .iter()
                .any(|k| Some(k.as_str()) == key || (k == "demo" && key.is_none()))
    }
}

/// A token just created: the only time its secret is available (never printed by `Debug`).
#[derive(Clone, Serialize)]
pub struct NewToken {
    pub token: GatewayToken,
    pub secret: String,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("token", &self.token)
            .field("secret", &"***")
            .finish()
    }
}

pub fn hash_token(secret: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, secret.as_bytes()).as_ref())
}

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

pub(crate) fn new_secret() -> String {
    let bytes = crate::ids::random_bytes::<32>();
    let body: String = bytes
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect();
    format!("pt_{body}")
}

impl Store {
    pub fn create_token(&self, name: &str, actor: &Actor) -> Result<NewToken> {
        self.create_token_scoped(name, TokenScopes::default(), None, actor)
    }

    /// Creates a token limited by `scopes`, valid until `expires_at` if given.
    pub fn create_token_scoped(
        &self,
        name: &str,
        scopes: TokenScopes,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
        actor: &Actor,
    ) -> Result<NewToken> {
        crate::ids::validate_slug("token name", name)?;
        let conn = self.conn();
        let exists: bool = conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM gateway_tokens WHERE name = ?1 AND revoked_at IS NULL)",
            [name],
            |r| r.get(0),
        )?;
        if exists {
            return Err(Error::DuplicateToken(name.to_owned()));
        }
        // A revoked token keeps its row for the audit trail but frees its name.
        conn.execute(
            "DELETE FROM gateway_tokens WHERE name = ?1 AND revoked_at IS NOT NULL",
            [name],
        )?;
        let secret = new_secret();
        let id = crate::ids::new_id("tok");
        let prefix = format!("{}…", &secret[..8]);
        let at = now();
        conn.execute(
            "INSERT INTO gateway_tokens(id, name, hash, prefix, created_at, scopes, expires_at)
             VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                id,
                name,
                hash_token(&secret),
                prefix,
                fmt_time(&at),
                serde_json::to_string(&scopes)?,
                expires_at.as_ref().map(fmt_time)
            ],
        )?;
        self.audit(
            &conn,
            actor,
            Change {
                action: "token.create",
                object_kind: "gateway_token",
                object_id: Some(&id),
                object_name: Some(name),
                details: serde_json::json!({"prefix": prefix, "scopes": scopes, "expires_at": expires_at}),
            },
        )?;
        Ok(NewToken {
            token: GatewayToken {
                id,
                name: name.to_owned(),
                prefix,
                created_at: at,
                last_used_at: None,
                scopes,
                expires_at,
            },
            secret,
        })
    }

    pub fn list_tokens(&self) -> Result<Vec<GatewayToken>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, name, prefix, created_at, last_used_at, scopes, expires_at FROM gateway_tokens WHERE revoked_at IS NULL ORDER BY name",
        )?;
        let rows = stmt
            .query_map([], token_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn revoke_token(&self, name: &str, actor: &Actor) -> Result<()> {
        let conn = self.conn();
        let n = conn.execute(
            "UPDATE gateway_tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
            params![name, fmt_time(&now())],
        )?;
        if n == 0 {
            return Err(Error::TokenNotFound(name.to_owned()));
        }
        self.audit(
            &conn,
            actor,
            Change {
                action: "token.revoke",
                object_kind: "gateway_token",
                object_id: None,
                object_name: Some(name),
                details: serde_json::json!({}),
            },
        )?;
        Ok(())
    }

    /// The live token whose hash is `hash`, if any; marks it used.
    pub fn token_by_hash(&self, hash: &str) -> Result<Option<GatewayToken>> {
        let conn = self.conn();
        let found = conn
            .prepare_cached(
                "SELECT id, name, prefix, created_at, last_used_at, scopes, expires_at FROM gateway_tokens
                 WHERE hash = ?1 AND revoked_at IS NULL",
            )?
            .query_row([hash], token_from_row)
            .optional()?;
        Ok(found)
    }

    pub fn touch_token(&self, id: &str) -> Result<()> {
        self.conn()
            .prepare_cached("UPDATE gateway_tokens SET last_used_at = ?2 WHERE id = ?1")?
            .execute(params![id, fmt_time(&now())])?;
        Ok(())
    }
}

fn token_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<GatewayToken> {
    Ok(GatewayToken {
        id: r.get(0)?,
        name: r.get(1)?,
        prefix: r.get(2)?,
        created_at: parse_time(&r.get::<_, String>(3)?)?,
        last_used_at: r
            .get::<_, Option<String>>(4)?
            .map(|s| parse_time(&s))
            .transpose()?,
        scopes: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "a gateway token's stored scopes cannot be read; it is refused");
            TokenScopes::unreadable()
        }),
        expires_at: r
            .get::<_, Option<String>>(6)?
            .map(|s| parse_time(&s))
            .transpose()?,
    })
}
