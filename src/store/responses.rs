//! Responses kept for OpenAI's Responses API (`store: true`): each is the Response object a
//! client got and the conversation it ends (every earlier turn, its input and its output items),
//! so a later request can continue it with `previous_response_id` and `GET /v1/responses/{id}`
//! can return it. A response belongs to the gateway token that created it; responses older than
//! the retention setting are deleted as new ones are saved.

use rusqlite::{OptionalExtension, params};
use serde_json::Value;

use super::Store;
use crate::error::Result;

/// A kept response.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    pub id: String,
    pub created_at_ms: i64,
    /// The gateway token that created it ("" for a caller without one).
    pub owner: String,
    pub previous_id: Option<String>,
    /// The conversation up to and including this response's output, as Responses input items.
    pub items: Vec<Value>,
    /// The Response object as the client got it.
    pub response: Value,
}

/// Writes one response row (replacing one with the same id).
pub(crate) fn insert(conn: &rusqlite::Connection, r: &StoredResponse) -> rusqlite::Result<()> {
    // Serialising a JSON value cannot fail.
    conn.prepare_cached(
        "INSERT OR REPLACE INTO responses(id, created_at, owner, previous_id, items, response)
         VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        r.id,
        r.created_at_ms,
        r.owner,
        r.previous_id,
        // A list of JSON values always serialises.
        serde_json::to_string(&r.items).unwrap_or_default(),
        r.response.to_string(),
    ])?;
    Ok(())
}

impl Store {
    /// Saves a response and deletes those older than `retention_days` (0 keeps all).
    pub fn save_response(&self, r: &StoredResponse, retention_days: u32) -> Result<()> {
        let conn = self.conn();
        insert(&conn, r)?;
        if retention_days > 0 {
            let cutoff = r.created_at_ms - i64::from(retention_days) * 86_400_000;
            conn.execute("DELETE FROM responses WHERE created_at < ?1", [cutoff])?;
        }
        Ok(())
    }

    pub fn get_response(&self, id: &str) -> Result<Option<StoredResponse>> {
        let row = self
            .conn()
            .query_row(
                "SELECT id, created_at, owner, previous_id, items, response FROM responses WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                    ))
                },
            )
            .optional()?;
        let Some((id, created_at_ms, owner, previous_id, items, response)) = row else {
            return Ok(None);
        };
        Ok(Some(StoredResponse {
            id,
            created_at_ms,
            owner,
            previous_id,
            items: serde_json::from_str(&items)?,
            response: serde_json::from_str(&response)?,
        }))
    }

    /// Deletes a kept response; false when there was none.
    pub fn delete_response(&self, id: &str) -> Result<bool> {
        Ok(self
            .conn()
            .execute("DELETE FROM responses WHERE id = ?1", [id])?
            > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn response(id: &str, at: i64) -> StoredResponse {
        StoredResponse {
            id: id.into(),
            created_at_ms: at,
            owner: "ci".into(),
            previous_id: None,
            items: vec![json!({"role": "user", "content": "hi"})],
            response: json!({"id": id, "object": "response"}),
        }
    }

    #[test]
    fn responses_are_kept_read_and_expire_with_the_retention() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let day = 86_400_000;
        store.save_response(&response("resp_old", 0), 30).unwrap();
        let got = store.get_response("resp_old").unwrap().unwrap();
        assert_eq!(got, response("resp_old", 0));
        // Saving one 31 days later removes the first; 0 keeps everything.
        store
            .save_response(&response("resp_new", 31 * day), 0)
            .unwrap();
        assert!(store.get_response("resp_old").unwrap().is_some());
        store
            .save_response(&response("resp_newer", 31 * day), 30)
            .unwrap();
        assert!(store.get_response("resp_old").unwrap().is_none());
        assert!(store.get_response("resp_new").unwrap().is_some());
        assert!(store.delete_response("resp_new").unwrap());
        assert!(!store.delete_response("resp_new").unwrap());
        assert!(store.get_response("nope").unwrap().is_none());
    }
}
