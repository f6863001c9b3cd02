//! Queries for virtual keys. Secrets are sealed before they reach SQL and opened only by
//! [`Store::key_secret`], which the routing engine calls at request time.

use rusqlite::{OptionalExtension, Row, params};

use super::audit::{Actor, Change};
use super::{Store, fmt_time, now, parse_time};
use crate::error::{Error, Result};
use crate::ids::new_id;
use crate::keys::{NewKey, VirtualKey};
use crate::secrets::SecretString;

const COLUMNS: &str =
    "id, name, provider, base_url, notes, mask, created_at, updated_at, last_used_at";

impl Store {
    /// Adds a virtual key; the secret is sealed under the master key with the record id as
    /// associated data.
    pub fn add_key(
        &self,
        key: &NewKey,
        secret: &SecretString,
        actor: &Actor,
    ) -> Result<VirtualKey> {
        let plain = secret.expose().trim();
        key.validate(plain)?;
        let master = self.master_key()?;
        let id = new_id("vk");
        let sealed = master.seal(&id, plain.as_bytes());
        let at = fmt_time(&now());
        let conn = self.conn();
        let exists: bool = conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM virtual_keys WHERE name = ?1)",
            [&key.name],
            |r| r.get(0),
        )?;
        if exists {
            return Err(Error::DuplicateKey(key.name.clone()));
        }
        conn.execute(
            "INSERT INTO virtual_keys(id, name, provider, base_url, notes, secret, mask,
                 created_at, updated_at)
             VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
            params![
                id,
                key.name,
                key.provider,
                key.base_url,
                key.notes,
                sealed,
                crate::cloud_credentials::mask(&key.provider, plain),
                at
            ],
        )?;
        self.audit(
            &conn,
            actor,
            Change {
                action: "key.add",
                object_kind: "virtual_key",
                object_id: Some(&id),
                object_name: Some(&key.name),
                details: serde_json::json!({"provider": key.provider, "base_url": key.base_url}),
            },
        )?;
        drop(conn);
        self.get_key(&key.name)
    }

    pub fn list_keys(&self) -> Result<Vec<VirtualKey>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare(&format!("SELECT {COLUMNS} FROM virtual_keys ORDER BY name"))?;
        let keys = stmt
            .query_map([], key_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(keys)
    }

    pub fn get_key(&self, name: &str) -> Result<VirtualKey> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM virtual_keys WHERE name = ?1 OR id = ?1"),
                [name],
                key_from_row,
            )
            .optional()?
            .ok_or_else(|| Error::KeyNotFound(name.to_owned()))
    }

    /// Replaces a key's secret, keeping its id and name.
    pub fn rotate_key(
        &self,
        name: &str,
        secret: &SecretString,
        actor: &Actor,
    ) -> Result<VirtualKey> {
        let current = self.get_key(name)?;
        let plain = secret.expose().trim();
        NewKey {
            name: current.name.clone(),
            provider: current.provider.clone(),
            base_url: current.base_url.clone(),
            notes: None,
        }
        .validate(plain)?;
        let sealed = self.master_key()?.seal(&current.id, plain.as_bytes());
        let conn = self.conn();
        conn.execute(
            "UPDATE virtual_keys SET secret = ?2, mask = ?3, updated_at = ?4 WHERE id = ?1",
            params![
                current.id,
                sealed,
                crate::cloud_credentials::mask(&current.provider, plain),
                fmt_time(&now())
            ],
        )?;
        self.audit(
            &conn,
            actor,
            Change {
                action: "key.rotate",
                object_kind: "virtual_key",
                object_id: Some(&current.id),
                object_name: Some(&current.name),
                details: serde_json::json!({}),
            },
        )?;
        drop(conn);
        self.get_key(&current.id)
    }

    pub fn remove_key(&self, name: &str, actor: &Actor) -> Result<VirtualKey> {
        let current = self.get_key(name)?;
        let conn = self.conn();
        conn.execute("DELETE FROM virtual_keys WHERE id = ?1", [&current.id])?;
        conn.execute(
            "DELETE FROM budgets WHERE subject_kind = 'key' AND subject_id = ?1",
            [&current.id],
        )?;
        conn.execute(
            "DELETE FROM rate_limits WHERE subject_kind = 'key' AND subject_id = ?1",
            [&current.id],
        )?;
        self.audit(
            &conn,
            actor,
            Change {
                action: "key.remove",
                object_kind: "virtual_key",
                object_id: Some(&current.id),
                object_name: Some(&current.name),
                details: serde_json::json!({"provider": current.provider}),
            },
        )?;
        Ok(current)
    }

    /// The key and its decrypted secret, for a request about to be sent. Marks the key used.
    pub fn key_secret(&self, name: &str) -> Result<(VirtualKey, SecretString)> {
        let (key, secret) = self.open_key(name)?;
        self.touch_key(&key.id)?;
        Ok((key, secret))
    }

    /// The key and its decrypted secret, without marking it used.
    pub fn open_key(&self, name: &str) -> Result<(VirtualKey, SecretString)> {
        let key = self.get_key(name)?;
        let sealed: Vec<u8> = self.conn().query_row(
            "SELECT secret FROM virtual_keys WHERE id = ?1",
            [&key.id],
            |r| r.get(0),
        )?;
        let secret = self.master_key()?.open(&key.id, &key.name, &sealed)?;
        Ok((key, secret))
    }

    /// Records that a key was just used.
    pub fn touch_key(&self, id: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE virtual_keys SET last_used_at = ?2 WHERE id = ?1",
            params![id, fmt_time(&now())],
        )?;
        Ok(())
    }
}

fn key_from_row(r: &Row<'_>) -> rusqlite::Result<VirtualKey> {
    Ok(VirtualKey {
        id: r.get(0)?,
        name: r.get(1)?,
        provider: r.get(2)?,
        base_url: r.get(3)?,
        notes: r.get(4)?,
        mask: r.get(5)?,
        created_at: parse_time(&r.get::<_, String>(6)?)?,
        updated_at: parse_time(&r.get::<_, String>(7)?)?,
        last_used_at: r
            .get::<_, Option<String>>(8)?
            .map(|s| parse_time(&s))
            .transpose()?,
    })
}
