//! [`AccessStore`] for [`PostgresStore`]: the API's tokens and the UI's sessions, by hash.

use async_trait::async_trait;
use tidewater_core::Timestamp;
use tidewater_store::{
    AccessStore, NewSession, NewToken, SecretHash, SessionRecord, StoreError, TokenId, TokenName,
    TokenRecord,
};
use tokio_postgres::Row;

use super::PostgresStore;
use super::codec::{decode_timestamp, decode_token_scope, encode_timestamp, encode_token_scope};
use super::failure::{OrStore, backend, is_unique_violation};

macro_rules! select_tokens {
    ($rest:literal) => {
        concat!(
            "SELECT tokens.id, tokens.name, tokens.scope, tokens.created_at, tokens.last_used_at,
                    tokens.revoked_at FROM tokens ",
            $rest
        )
    };
}

#[async_trait]
impl AccessStore for PostgresStore {
    async fn create_token(&self, token: NewToken) -> Result<TokenRecord, StoreError> {
        let client = self.pool.get().await?;
        // One insert; which unique index refused it tells the name taken from the hash.
        let inserted = client
            .query_one(
                "INSERT INTO tokens (name, scope, secret_hash, created_at)
                 VALUES ($1, $2, $3, $4) RETURNING id",
                &[
                    &token.name.as_str(),
                    &encode_token_scope(token.scope),
                    &token.hash.0.as_slice(),
                    &encode_timestamp(token.created_at),
                ],
            )
            .await;
        let id: i64 = match inserted {
            Ok(row) => row.try_get(0).db()?,
            Err(error) => {
                let constraint = error
                    .as_db_error()
                    .and_then(|refusal| refusal.constraint())
                    .map(str::to_owned);
                let error = backend(error);
                if !is_unique_violation(&error) {
                    return Err(error);
                }
                return Err(match constraint.as_deref() {
                    Some("tokens_active_name") => StoreError::TokenNameTaken(token.name),
                    _ => StoreError::TokenHashTaken,
                });
            }
        };
        Ok(TokenRecord {
            id: TokenId(id),
            name: token.name,
            scope: token.scope,
            created_at: token.created_at,
            last_used_at: None,
            revoked_at: None,
        })
    }

    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(select_tokens!("ORDER BY created_at, id"), &[])
            .await
            .db()?;
        rows.iter().map(read_token).collect()
    }

    async fn has_tokens(&self) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        client
            .query_one("SELECT EXISTS (SELECT 1 FROM tokens)", &[])
            .await
            .db()?
            .try_get(0)
            .db()
    }

    async fn has_active_tokens(&self) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM tokens WHERE revoked_at IS NULL)",
                &[],
            )
            .await
            .db()?
            .try_get(0)
            .db()
    }

    async fn active_token(&self, hash: &SecretHash) -> Result<Option<TokenRecord>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                select_tokens!("WHERE secret_hash = $1 AND revoked_at IS NULL"),
                &[&hash.0.as_slice()],
            )
            .await
            .db()?;
        row.as_ref().map(read_token).transpose()
    }

    async fn revoke_token(
        &self,
        name: &TokenName,
        at: Timestamp,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await.db()?;
        let row = transaction
            .query_opt(
                "UPDATE tokens SET revoked_at = $2
                 WHERE name = $1 AND revoked_at IS NULL
                 RETURNING id, name, scope, created_at, last_used_at, revoked_at",
                &[&name.as_str(), &encode_timestamp(at)],
            )
            .await
            .db()?;
        if let Some(row) = &row {
            let id: i64 = row.try_get(0).db()?;
            transaction
                .execute("DELETE FROM sessions WHERE token_id = $1", &[&id])
                .await
                .db()?;
        }
        transaction.commit().await.db()?;
        row.as_ref().map(read_token).transpose()
    }

    async fn record_token_use(&self, id: TokenId, at: Timestamp) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE tokens SET last_used_at = $2
                 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
                &[&id.0, &encode_timestamp(at)],
            )
            .await
            .db()?;
        Ok(())
    }

    async fn create_session(&self, session: NewSession) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await.db()?;
        transaction
            .execute(
                "DELETE FROM sessions WHERE expires_at <= $1",
                &[&encode_timestamp(session.created_at)],
            )
            .await
            .db()?;
        // `FOR SHARE` holds the token's row until commit: a revocation (an `UPDATE` of it)
        // waits, so a session can never outlive its token's revocation.
        let inserted = transaction
            .execute(
                "INSERT INTO sessions (secret_hash, token_id, created_at, expires_at)
                 SELECT $1, id, $3, $4 FROM tokens
                 WHERE id = $2 AND revoked_at IS NULL FOR SHARE",
                &[
                    &session.hash.0.as_slice(),
                    &session.token.0,
                    &encode_timestamp(session.created_at),
                    &encode_timestamp(session.expires_at),
                ],
            )
            .await
            .db()?;
        if inserted == 0 {
            return Err(StoreError::NoSuchToken(session.token));
        }
        transaction.commit().await.db()
    }

    async fn active_session(
        &self,
        hash: &SecretHash,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT tokens.id, tokens.name, tokens.scope, tokens.created_at,
                        tokens.last_used_at, tokens.revoked_at,
                        sessions.created_at, sessions.expires_at
                 FROM sessions JOIN tokens ON tokens.id = sessions.token_id
                 WHERE sessions.secret_hash = $1 AND sessions.expires_at > $2
                   AND tokens.revoked_at IS NULL",
                &[&hash.0.as_slice(), &encode_timestamp(now)],
            )
            .await
            .db()?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(SessionRecord {
            token: read_token(&row)?,
            created_at: decode_timestamp(row.try_get(6).db()?, "session created_at")?,
            expires_at: decode_timestamp(row.try_get(7).db()?, "session expires_at")?,
        }))
    }

    async fn end_session(&self, hash: &SecretHash) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        Ok(client
            .execute(
                "DELETE FROM sessions WHERE secret_hash = $1",
                &[&hash.0.as_slice()],
            )
            .await
            .db()?
            == 1)
    }
}

fn read_token(row: &Row) -> Result<TokenRecord, StoreError> {
    let time = |micros: Option<i64>, what| {
        micros
            .map(|micros| decode_timestamp(micros, what))
            .transpose()
    };
    Ok(TokenRecord {
        id: TokenId(row.try_get(0).db()?),
        name: TokenName::new(row.try_get::<_, String>(1).db()?),
        scope: decode_token_scope(row.try_get(2).db()?)?,
        created_at: decode_timestamp(row.try_get(3).db()?, "token created_at")?,
        last_used_at: time(row.try_get(4).db()?, "token last_used_at")?,
        revoked_at: time(row.try_get(5).db()?, "token revoked_at")?,
    })
}
