//! [`AccessCheck`]: who is asking, for a server that answers many requests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tidewater_store::{SessionRecord, TokenId, TokenRecord};

use crate::Control;
use crate::control_error::ControlResult;

/// A token's use is recorded at most this often: `last_used_at` is for people deciding
/// which tokens to revoke, and a write per request would put every read of the API on the
/// store's write lock.
const USE_RECORDING_PERIOD: Duration = Duration::from_secs(60);

/// Finds the token or session of a request with one indexed read of the store, so that a
/// token revoked by `tidewater token revoke` in another process opens nothing from the next
/// request on. Two things are kept in memory, neither of which can let anyone in: that
/// access control is on (it never turns off: tokens are revoked, never deleted), and when
/// each token's use was last recorded.
pub struct AccessCheck {
    control: Arc<Control>,
    is_controlled: AtomicBool,
    recorded_uses: Mutex<HashMap<TokenId, Instant>>,
}

impl AccessCheck {
    pub fn new(control: Arc<Control>) -> AccessCheck {
        AccessCheck {
            control,
            is_controlled: AtomicBool::new(false),
            recorded_uses: Mutex::new(HashMap::new()),
        }
    }

    pub fn control(&self) -> &Arc<Control> {
        &self.control
    }

    /// True once any token was created: every request then needs a token or a session.
    /// Asks the store until it is true, then never again.
    pub async fn is_controlled(&self) -> ControlResult<bool> {
        if self.is_controlled.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let is_controlled = self.control.is_access_controlled().await?;
        if is_controlled {
            self.is_controlled.store(true, Ordering::Relaxed);
        }
        Ok(is_controlled)
    }

    /// The valid token `text`, its use recorded (now and then).
    pub async fn token(&self, text: &str) -> ControlResult<Option<TokenRecord>> {
        let token = self.control.token_by_secret(text).await?;
        if let Some(token) = &token {
            self.record_use(token).await?;
        }
        Ok(token)
    }

    /// The live session `text`, its token's use recorded (now and then).
    pub async fn session(&self, text: &str) -> ControlResult<Option<SessionRecord>> {
        let session = self.control.session_by_secret(text).await?;
        if let Some(session) = &session {
            self.record_use(&session.token).await?;
        }
        Ok(session)
    }

    async fn record_use(&self, token: &TokenRecord) -> ControlResult<()> {
        let now = Instant::now();
        let is_due = {
            let mut recorded = self
                .recorded_uses
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match recorded.get(&token.id) {
                Some(last) if now.duration_since(*last) < USE_RECORDING_PERIOD => false,
                _ => {
                    recorded.insert(token.id, now);
                    true
                }
            }
        };
        if is_due {
            self.control.record_token_use(token).await?;
        }
        Ok(())
    }
}
