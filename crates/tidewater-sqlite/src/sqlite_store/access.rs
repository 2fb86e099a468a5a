//! [`AccessStore`] for [`SqliteStore`]: the API's tokens and the UI's sessions, by hash
//! (migration `0008_tokens.sql`).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};
use tidewater_core::Timestamp;
use tidewater_store::{
    AccessStore, NewSession, NewToken, SecretHash, SessionRecord, StoreError, TokenId, TokenName,
    TokenRecord,
};

use super::SqliteStore;
use super::codec::{decode_timestamp, decode_token_scope, encode_timestamp, encode_token_scope};
use super::connection::is_unique_violation;
use super::failure::Failure;

/// `SELECT` of every column a [`TokenRow`] needs (of table `tokens`), then the rest.
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
impl AccessStore for SqliteStore {
    async fn create_token(&self, token: NewToken) -> Result<TokenRecord, StoreError> {
        let id = self
            .link
            .write(|transaction| {
                let is_taken: bool = transaction
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM tokens
                                        WHERE name = ?1 AND revoked_at IS NULL)",
                    )?
                    .query_row([token.name.as_str()], |row| row.get(0))?;
                if is_taken {
                    return Err(StoreError::TokenNameTaken(token.name.clone()).into());
                }
                let inserted = transaction
                    .prepare_cached(
                        "INSERT INTO tokens (name, scope, secret_hash, created_at)
                         VALUES (?1, ?2, ?3, ?4) RETURNING id",
                    )?
                    .query_row(
                        params![
                            token.name.as_str(),
                            encode_token_scope(token.scope),
                            token.hash.0.as_slice(),
                            encode_timestamp(token.created_at),
                        ],
                        |row| row.get::<_, i64>(0),
                    );
                match inserted {
                    // The name was free: the unique index that refused is the hash's.
                    Err(error) if is_unique_violation(&error) => {
                        Err(StoreError::TokenHashTaken.into())
                    }
                    other => Ok(other?),
                }
            })
            .await?;
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
        let rows = self
            .link
            .call(|connection| {
                Ok(connection
                    .prepare_cached(select_tokens!("ORDER BY created_at, id"))?
                    .query_map([], TokenRow::read)?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        rows.into_iter().map(TokenRow::decode).collect()
    }

    async fn has_tokens(&self) -> Result<bool, StoreError> {
        self.link
            .call(|connection| {
                Ok(connection
                    .prepare_cached("SELECT EXISTS (SELECT 1 FROM tokens)")?
                    .query_row([], |row| row.get(0))?)
            })
            .await
    }

    async fn has_active_tokens(&self) -> Result<bool, StoreError> {
        self.link
            .call(|connection| {
                // `tokens_active_name` holds exactly the unrevoked tokens.
                Ok(connection
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM tokens INDEXED BY tokens_active_name
                                        WHERE revoked_at IS NULL)",
                    )?
                    .query_row([], |row| row.get(0))?)
            })
            .await
    }

    async fn active_token(&self, hash: &SecretHash) -> Result<Option<TokenRecord>, StoreError> {
        let row = self
            .link
            .call(|connection| {
                Ok(connection
                    .prepare_cached(select_tokens!(
                        "WHERE secret_hash = ?1 AND revoked_at IS NULL"
                    ))?
                    .query_row([hash.0.as_slice()], TokenRow::read)
                    .optional()?)
            })
            .await?;
        row.map(TokenRow::decode).transpose()
    }

    async fn revoke_token(
        &self,
        name: &TokenName,
        at: Timestamp,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let row = self
            .link
            .write(|transaction| {
                let row = transaction
                    .prepare_cached(
                        "UPDATE tokens SET revoked_at = ?2
                         WHERE name = ?1 AND revoked_at IS NULL
                         RETURNING id, name, scope, created_at, last_used_at, revoked_at",
                    )?
                    .query_row(params![name.as_str(), encode_timestamp(at)], TokenRow::read)
                    .optional()?;
                if let Some(row) = &row {
                    transaction
                        .prepare_cached("DELETE FROM sessions WHERE token_id = ?1")?
                        .execute([row.id])?;
                }
                Ok(row)
            })
            .await?;
        row.map(TokenRow::decode).transpose()
    }

    async fn record_token_use(&self, id: TokenId, at: Timestamp) -> Result<(), StoreError> {
        self.link
            .write(|transaction| {
                transaction
                    .prepare_cached(
                        "UPDATE tokens SET last_used_at = ?2
                         WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
                    )?
                    .execute(params![id.0, encode_timestamp(at)])?;
                Ok(())
            })
            .await
    }

    async fn create_session(&self, session: NewSession) -> Result<(), StoreError> {
        self.link
            .write(|transaction| {
                transaction
                    .prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
                    .execute([encode_timestamp(session.created_at)])?;
                // Inserted only for a live token, checked in the same transaction as revoking
                // is: a session can never outlive its token's revocation.
                let inserted = transaction
                    .prepare_cached(
                        "INSERT INTO sessions (secret_hash, token_id, created_at, expires_at)
                         SELECT ?1, id, ?3, ?4 FROM tokens WHERE id = ?2 AND revoked_at IS NULL",
                    )?
                    .execute(params![
                        session.hash.0.as_slice(),
                        session.token.0,
                        encode_timestamp(session.created_at),
                        encode_timestamp(session.expires_at),
                    ])?;
                if inserted == 0 {
                    return Err(Failure::from(StoreError::NoSuchToken(session.token)));
                }
                Ok(())
            })
            .await
    }

    async fn active_session(
        &self,
        hash: &SecretHash,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let row = self
            .link
            .call(|connection| {
                Ok(connection
                    .prepare_cached(
                        "SELECT tokens.id, tokens.name, tokens.scope, tokens.created_at,
                                tokens.last_used_at, tokens.revoked_at,
                                sessions.created_at, sessions.expires_at
                         FROM sessions JOIN tokens ON tokens.id = sessions.token_id
                         WHERE sessions.secret_hash = ?1 AND sessions.expires_at > ?2
                           AND tokens.revoked_at IS NULL",
                    )?
                    .query_row(params![hash.0.as_slice(), encode_timestamp(now)], |row| {
                        Ok((
                            TokenRow::read(row)?,
                            row.get::<_, i64>(6)?,
                            row.get::<_, i64>(7)?,
                        ))
                    })
                    .optional()?)
            })
            .await?;
        let Some((token, created_at, expires_at)) = row else {
            return Ok(None);
        };
        Ok(Some(SessionRecord {
            token: token.decode()?,
            created_at: decode_timestamp(created_at, "session created_at")?,
            expires_at: decode_timestamp(expires_at, "session expires_at")?,
        }))
    }

    async fn end_session(&self, hash: &SecretHash) -> Result<bool, StoreError> {
        self.link
            .write(|transaction| {
                Ok(transaction
                    .prepare_cached("DELETE FROM sessions WHERE secret_hash = ?1")?
                    .execute([hash.0.as_slice()])?
                    == 1)
            })
            .await
    }
}

/// A `tokens` row as read, decoded outside the connection's lock.
struct TokenRow {
    id: i64,
    name: String,
    scope: String,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TokenRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<TokenRow> {
        Ok(TokenRow {
            id: row.get(0)?,
            name: row.get(1)?,
            scope: row.get(2)?,
            created_at: row.get(3)?,
            last_used_at: row.get(4)?,
            revoked_at: row.get(5)?,
        })
    }

    fn decode(self) -> Result<TokenRecord, StoreError> {
        Ok(TokenRecord {
            id: TokenId(self.id),
            name: TokenName::new(self.name),
            scope: decode_token_scope(&self.scope)?,
            created_at: decode_timestamp(self.created_at, "token created_at")?,
            last_used_at: self
                .last_used_at
                .map(|micros| decode_timestamp(micros, "token last_used_at"))
                .transpose()?,
            revoked_at: self
                .revoked_at
                .map(|micros| decode_timestamp(micros, "token revoked_at"))
                .transpose()?,
        })
    }
}
