use std::fmt;

use async_trait::async_trait;
use tidewater_core::Timestamp;

use crate::StoreError;

/// Who may use the HTTP API: its tokens and the UI's sessions. The store keeps only hashes
/// of their secrets ([`SecretHash`]); making and hashing the secrets is the caller's. Every
/// method is atomic.
///
/// A token is never deleted (revoking it records when): whether any token was ever created
/// is what turns access control on, and it must not turn off again when the last token is
/// revoked. Reading a token or a session is one indexed lookup, cheap enough for every
/// request.
#[async_trait]
pub trait AccessStore: Send + Sync {
    /// Records a token. [`StoreError::TokenNameTaken`] when an unrevoked token has that
    /// name (a revoked token's name may be given again); the same hash twice is refused as
    /// a bug of the caller ([`StoreError::TokenHashTaken`]).
    async fn create_token(&self, token: NewToken) -> Result<TokenRecord, StoreError>;

    /// Every token, revoked ones too, by creation (then id).
    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// True once any token was created, even if all are revoked since.
    async fn has_tokens(&self) -> Result<bool, StoreError>;

    /// True if some token is not revoked.
    async fn has_active_tokens(&self) -> Result<bool, StoreError>;

    /// The unrevoked token whose secret hashes to `hash`, if any.
    async fn active_token(&self, hash: &SecretHash) -> Result<Option<TokenRecord>, StoreError>;

    /// Revokes the unrevoked token named `name` and ends its sessions; the token as revoked,
    /// or `None` (nothing recorded) when no unrevoked token has that name.
    async fn revoke_token(
        &self,
        name: &TokenName,
        at: Timestamp,
    ) -> Result<Option<TokenRecord>, StoreError>;

    /// Records that a token was used at `at` (never moving `last_used_at` back). Callers
    /// record a use now and then, not on every request: it is a write.
    async fn record_token_use(&self, id: TokenId, at: Timestamp) -> Result<(), StoreError>;

    /// Records a session of an unrevoked token, and forgets sessions expired at
    /// `session.created_at`. [`StoreError::NoSuchToken`] when the token is unknown or revoked.
    async fn create_session(&self, session: NewSession) -> Result<(), StoreError>;

    /// The session whose id hashes to `hash`, if it has not expired at `now` and its token
    /// is not revoked, with its token.
    async fn active_session(
        &self,
        hash: &SecretHash,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError>;

    /// Ends the session whose id hashes to `hash`; false if there was none.
    async fn end_session(&self, hash: &SecretHash) -> Result<bool, StoreError>;
}

/// The id of one token, assigned by the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenId(pub i64);

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A token's name, which people use to list and revoke it; never secret.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenName(String);

impl TokenName {
    pub fn new(name: impl Into<String>) -> TokenName {
        TokenName(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a token lets its holder do; each scope includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TokenScope {
    /// Read anything (GET and HEAD).
    Read,
    /// Also act: trigger, retry, clear, cancel, pause, backfill.
    Operate,
    /// Also manage tokens.
    Admin,
    /// Only the worker endpoints (`/api/v1/workers/...`: claim, heartbeat, log, report),
    /// for `tidewater worker`; nothing else, not even reading.
    Worker,
}

impl TokenScope {
    pub const ALL: [TokenScope; 4] = [
        TokenScope::Read,
        TokenScope::Operate,
        TokenScope::Admin,
        TokenScope::Worker,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Operate => "operate",
            TokenScope::Admin => "admin",
            TokenScope::Worker => "worker",
        }
    }

    /// The scope named `text` (`read`, `operate`, `admin`).
    pub fn parse(text: &str) -> Option<TokenScope> {
        TokenScope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == text)
    }

    /// True if this scope includes everything `needed` allows: `read` < `operate` < `admin`,
    /// and `worker` beside them, allowing only itself (an admin may also act as a worker).
    pub fn allows(self, needed: TokenScope) -> bool {
        match (self, needed) {
            (TokenScope::Worker, needed) => needed == TokenScope::Worker,
            (scope, TokenScope::Worker) => scope == TokenScope::Admin,
            (scope, needed) => scope >= needed,
        }
    }
}

impl fmt::Display for TokenScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The SHA-256 of a secret (a token, a session id). Its `Debug` shows nothing of it, so
/// that a record printed in a log or an error never carries it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretHash(pub [u8; 32]);

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub name: TokenName,
    pub scope: TokenScope,
    pub hash: SecretHash,
    pub created_at: Timestamp,
}

/// A token as the store keeps it: no secret, and its hash only for lookups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: TokenId,
    pub name: TokenName,
    pub scope: TokenScope,
    pub created_at: Timestamp,
    /// When it was last recorded used (see [`AccessStore::record_token_use`]).
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub hash: SecretHash,
    pub token: TokenId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A live session and the token it was opened with, whose scope it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub token: TokenRecord,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}
