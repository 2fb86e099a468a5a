//! Who may use the HTTP API: creating, listing and revoking tokens, and opening and ending
//! the UI's sessions with them. The secrets are made and hashed here; the store keeps only
//! their SHA-256 ([`SecretHash`]).
//!
//! A token is `tw_` and 64 hex digits: 256 random bits from the operating system's generator
//! (through `rand`'s thread generator, a CSPRNG seeded from it). A plain SHA-256 is the right
//! hash for secrets that random (a slow password hash protects guessable secrets; nobody
//! guesses 256 bits). A token is found by its hash through the store's unique index rather
//! than compared with a stored value: the time a lookup takes depends on the hash, which an
//! attacker cannot steer towards a real token's, so there is no secret comparison whose
//! timing could leak it.

use std::fmt;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tidewater_core::Timestamp;
use tidewater_store::{
    NewSession, NewToken, SecretHash, SessionRecord, StoreError, TokenName, TokenRecord, TokenScope,
};

use crate::Control;
use crate::control_error::{ControlError, ControlResult};

/// What every token's text starts with, so that people and secret scanners recognise one.
pub const TOKEN_PREFIX: &str = "tw_";

/// How long a session of the UI lasts after its login.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// The longest token name.
const NAME_LIMIT: usize = 64;

/// A secret (a token or a session id) in full. It is shown once, to whoever asked for it;
/// its `Debug` and `Display` show nothing of it, so that it never reaches a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that hands it over (stdout, a response, a
    /// cookie).
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn random(prefix: &str) -> Secret {
        let bytes: [u8; 32] = rand::random();
        let mut text = String::with_capacity(prefix.len() + 64);
        text.push_str(prefix);
        for byte in bytes {
            text.push_str(&format!("{byte:02x}"));
        }
        Secret(text)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// A token just created, and its secret.
#[derive(Debug, Clone)]
pub struct CreatedToken {
    pub record: TokenRecord,
    pub secret: Secret,
}

/// A session just opened: the id for the browser's cookie and how long it lasts.
#[derive(Debug, Clone)]
pub struct OpenedSession {
    pub secret: Secret,
    pub token: TokenRecord,
    pub expires_at: Timestamp,
}

/// The SHA-256 of a secret's text, which is all the store keeps.
pub fn secret_hash(text: &str) -> SecretHash {
    SecretHash(Sha256::digest(text.as_bytes()).into())
}

/// True if `text` has a token's shape (`tw_` and 64 lowercase hex digits): anything else is
/// refused without asking the store.
fn is_token_shaped(text: &str) -> bool {
    is_hex_id(text.strip_prefix(TOKEN_PREFIX).unwrap_or(""))
}

fn is_hex_id(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}

impl Control {
    /// Creates a token named `name` with `scope`; its secret is in the result and nowhere
    /// else. A name is letters, digits, `.`, `_` and `-`, and unique among unrevoked tokens.
    pub async fn create_token(&self, name: &str, scope: TokenScope) -> ControlResult<CreatedToken> {
        let name = token_name(name)?;
        let secret = Secret::random(TOKEN_PREFIX);
        let record = self
            .store
            .create_token(NewToken {
                name,
                scope,
                hash: secret_hash(secret.expose()),
                created_at: chrono::Utc::now(),
            })
            .await
            .map_err(|error| match error {
                StoreError::TokenNameTaken(name) => ControlError::Conflict(format!(
                    "a token named {name} exists; revoke it first (`tidewater token revoke \
                     {name}`) or choose another name"
                )),
                other => other.into(),
            })?;
        Ok(CreatedToken { record, secret })
    }

    /// Every token, revoked ones too, oldest first.
    pub async fn tokens(&self) -> ControlResult<Vec<TokenRecord>> {
        Ok(self.store.tokens().await?)
    }

    /// Revokes the unrevoked token named `name`: from now on it opens nothing, and its
    /// sessions have ended.
    pub async fn revoke_token(&self, name: &str) -> ControlResult<TokenRecord> {
        self.store
            .revoke_token(&TokenName::new(name), chrono::Utc::now())
            .await?
            .ok_or_else(|| {
                ControlError::NotFound(format!(
                    "there is no unrevoked token named {name}; `tidewater token list` lists them"
                ))
            })
    }

    /// True once any token was created (revoked or not): from then on the API asks every
    /// request for a token or a session.
    pub async fn is_access_controlled(&self) -> ControlResult<bool> {
        Ok(self.store.has_tokens().await?)
    }

    /// True if some token is valid: only then may the server listen beyond loopback.
    pub async fn has_valid_tokens(&self) -> ControlResult<bool> {
        Ok(self.store.has_active_tokens().await?)
    }

    /// The valid token whose text is `text`, if any. One indexed read; records nothing.
    pub async fn token_by_secret(&self, text: &str) -> ControlResult<Option<TokenRecord>> {
        if !is_token_shaped(text) {
            return Ok(None);
        }
        Ok(self.store.active_token(&secret_hash(text)).await?)
    }

    /// Opens a session of the UI with the token `text`, lasting [`SESSION_LIFETIME`];
    /// `None` (nothing recorded) if the token is not valid.
    pub async fn open_session(&self, text: &str) -> ControlResult<Option<OpenedSession>> {
        let Some(token) = self.token_by_secret(text).await? else {
            return Ok(None);
        };
        let secret = Secret::random("");
        let created_at = chrono::Utc::now();
        let expires_at = created_at
            + chrono::Duration::from_std(SESSION_LIFETIME)
                .unwrap_or_else(|_| chrono::Duration::hours(12));
        match self
            .store
            .create_session(NewSession {
                hash: secret_hash(secret.expose()),
                token: token.id,
                created_at,
                expires_at,
            })
            .await
        {
            Ok(()) => Ok(Some(OpenedSession {
                secret,
                token,
                expires_at,
            })),
            // Revoked between the lookup and the session.
            Err(StoreError::NoSuchToken(_)) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// The live session whose id is `text`, with its token. One indexed read.
    pub async fn session_by_secret(&self, text: &str) -> ControlResult<Option<SessionRecord>> {
        if !is_hex_id(text) {
            return Ok(None);
        }
        Ok(self
            .store
            .active_session(&secret_hash(text), chrono::Utc::now())
            .await?)
    }

    /// Ends the session whose id is `text`; false if there was none.
    pub async fn end_session(&self, text: &str) -> ControlResult<bool> {
        if !is_hex_id(text) {
            return Ok(false);
        }
        Ok(self.store.end_session(&secret_hash(text)).await?)
    }

    /// Records that `token` was used now.
    pub async fn record_token_use(&self, token: &TokenRecord) -> ControlResult<()> {
        Ok(self
            .store
            .record_token_use(token.id, chrono::Utc::now())
            .await?)
    }
}

/// `name` checked: what a shell, a URL and a table print without quoting.
fn token_name(name: &str) -> ControlResult<TokenName> {
    let is_allowed =
        |character: char| character.is_ascii_alphanumeric() || matches!(character, '.' | '_' | '-');
    if name.is_empty() || name.len() > NAME_LIMIT || !name.chars().all(is_allowed) {
        return Err(ControlError::Invalid(format!(
            "`{name}` is not a token name: use 1 to {NAME_LIMIT} letters, digits, `.`, `_` or `-`"
        )));
    }
    Ok(TokenName::new(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_its_prefix_and_256_random_bits_in_hex() {
        let first = Secret::random(TOKEN_PREFIX);
        let second = Secret::random(TOKEN_PREFIX);
        assert!(is_token_shaped(first.expose()), "{}", first.expose());
        assert_ne!(first, second);
        assert_eq!(format!("{first:?}"), "Secret(..)");
        assert!(!is_token_shaped("tw_abc"));
        assert!(!is_token_shaped(&first.expose()[TOKEN_PREFIX.len()..]));
        assert!(!is_token_shaped(&first.expose().to_uppercase()));
    }

    #[test]
    fn a_token_name_is_what_prints_without_quoting() {
        assert!(token_name("ci-deploy_2.prod").is_ok());
        for bad in ["", "has space", "semi;colon", "é", &"x".repeat(65)] {
            assert!(
                matches!(token_name(bad), Err(ControlError::Invalid(_))),
                "{bad:?}"
            );
        }
    }
}
