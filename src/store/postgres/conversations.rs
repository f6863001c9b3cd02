//! The Responses API's stored responses on the shared store, so a conversation continued through
//! any replica (`previous_response_id`) finds the response another replica kept.

use std::sync::Arc;

use async_trait::async_trait;

use super::PgStore;
use crate::error::Result;
use crate::store::StoredResponse;
use crate::store::backend::Conversations;

/// The stored responses of a team gateway.
pub struct PgConversations {
    store: Arc<PgStore>,
}

impl PgConversations {
    pub fn new(store: Arc<PgStore>) -> Self {
        PgConversations { store }
    }
}

#[async_trait]
impl Conversations for PgConversations {
    async fn save_response(&self, r: StoredResponse, retention_days: u32) -> Result<()> {
        let client = self.store.client().await?;
        client
            .execute(
                "INSERT INTO responses(id, created_at, owner, previous_id, items, response)
                 VALUES($1, $2, $3, $4, $5::text::jsonb, $6::text::jsonb)
                 ON CONFLICT (id) DO UPDATE SET created_at = excluded.created_at,
                     owner = excluded.owner, previous_id = excluded.previous_id,
                     items = excluded.items, response = excluded.response",
                &[
                    &r.id,
                    &r.created_at_ms,
                    &r.owner,
                    &r.previous_id,
                    &serde_json::to_string(&r.items)?,
                    &r.response.to_string(),
                ],
            )
            .await
            .map_err(|e| self.store.fail(e))?;
        if retention_days > 0 {
            let cutoff = r.created_at_ms - i64::from(retention_days) * 86_400_000;
            client
                .execute("DELETE FROM responses WHERE created_at < $1", &[&cutoff])
                .await
                .map_err(|e| self.store.fail(e))?;
        }
        Ok(())
    }

    async fn get_response(&self, id: &str) -> Result<Option<StoredResponse>> {
        let client = self.store.client().await?;
        let row = client
            .query_opt(
                "SELECT id, created_at, owner, previous_id, items::text, response::text
                 FROM responses WHERE id = $1",
                &[&id],
            )
            .await
            .map_err(|e| self.store.fail(e))?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(StoredResponse {
            id: r.get(0),
            created_at_ms: r.get(1),
            owner: r.get(2),
            previous_id: r.get(3),
            items: serde_json::from_str(r.get::<_, &str>(4))?,
            response: serde_json::from_str(r.get::<_, &str>(5))?,
        }))
    }

    async fn delete_response(&self, id: &str) -> Result<bool> {
        let client = self.store.client().await?;
        let n = client
            .execute("DELETE FROM responses WHERE id = $1", &[&id])
            .await
            .map_err(|e| self.store.fail(e))?;
        Ok(n > 0)
    }
}
