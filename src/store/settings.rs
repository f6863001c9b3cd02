//! Settings: named JSON documents in the `settings` table, shared by the CLI, the app and the
//! gateway. A change is audited with the fields it changed.

use rusqlite::{OptionalExtension, params};
use serde_json::{Map, Value};

use super::Store;
use super::audit::{Actor, Change};
use crate::error::Result;

impl Store {
    /// The settings document named `key`, if one was ever saved.
    pub fn setting(&self, key: &str) -> Result<Option<Value>> {
        let text: Option<String> = self
            .conn()
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    /// Replaces the settings document `key`, auditing the top-level fields that changed.
    /// `plaintext` sealed with the master key for `record_id`, as base64 (for secrets kept in
    /// settings).
    pub fn seal_value(&self, record_id: &str, plaintext: &str) -> Result<String> {
        use base64::Engine;
        let sealed = self.master_key()?.seal(record_id, plaintext.as_bytes());
        Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
    }

    /// Opens what [`Store::seal_value`] sealed.
    pub fn open_sealed(
        &self,
        record_id: &str,
        name: &str,
        sealed: &str,
    ) -> Result<crate::secrets::SecretString> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|_| crate::error::Error::SecretTampered {
                name: name.to_owned(),
            })?;
        self.master_key()?.open(record_id, name, &bytes)
    }

    pub fn save_setting(&self, key: &str, value: &Value, actor: &Actor) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let before: Option<String> = tx
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?;
        let before: Value = before
            .map(|t| serde_json::from_str(&t))
            .transpose()?
            .unwrap_or(Value::Null);
        tx.execute(
            "INSERT INTO settings(key, value) VALUES(?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, serde_json::to_string(value)?],
        )?;
        let changed: Map<String, Value> = value
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, v)| before.get(k.as_str()) != Some(v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.audit(
            &tx,
            actor,
            Change {
                action: "settings.update",
                object_kind: "settings",
                object_id: None,
                object_name: Some(key),
                details: Value::Object(changed),
            },
        )?;
        tx.commit()?;
        Ok(())
    }
}
