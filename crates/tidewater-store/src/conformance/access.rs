//! Behaviours of [`AccessStore`]: tokens kept by hash, revoked for good, and sessions that
//! end with their token.

use chrono::Duration;

use super::fixtures::instant;
use crate::{
    AccessStore, NewSession, NewToken, SecretHash, StoreError, TokenName, TokenRecord, TokenScope,
};

fn hash(byte: u8) -> SecretHash {
    SecretHash([byte; 32])
}

fn new_token(name: &str, scope: TokenScope, secret: u8) -> NewToken {
    NewToken {
        name: TokenName::new(name),
        scope,
        hash: hash(secret),
        created_at: instant("2026-03-02T10:00:00.000001Z"),
    }
}

async fn create<S: AccessStore + ?Sized>(
    store: &S,
    name: &str,
    scope: TokenScope,
    secret: u8,
) -> TokenRecord {
    store
        .create_token(new_token(name, scope, secret))
        .await
        .expect("create_token")
}

pub async fn tokens_are_created_listed_and_found_by_hash<S: AccessStore + ?Sized>(store: &S) {
    assert!(!store.has_tokens().await.expect("has_tokens"));
    assert!(!store.has_active_tokens().await.expect("has_active_tokens"));
    assert_eq!(store.tokens().await.expect("tokens"), []);

    let ci = create(store, "ci", TokenScope::Operate, 1).await;
    assert_eq!(ci.name, TokenName::new("ci"));
    assert_eq!(ci.scope, TokenScope::Operate);
    assert_eq!(ci.created_at, instant("2026-03-02T10:00:00.000001Z"));
    assert_eq!((ci.last_used_at, ci.revoked_at), (None, None));
    let reader = create(store, "dashboard", TokenScope::Read, 2).await;
    let admin = create(store, "admin", TokenScope::Admin, 3).await;
    assert!(store.has_tokens().await.expect("has_tokens"));
    assert!(store.has_active_tokens().await.expect("has_active_tokens"));

    // Listed by creation, every scope read back.
    assert_eq!(
        store.tokens().await.expect("tokens"),
        [ci.clone(), reader.clone(), admin.clone()]
    );
    assert_eq!(
        store.active_token(&hash(2)).await.expect("active_token"),
        Some(reader)
    );
    assert_eq!(
        store.active_token(&hash(9)).await.expect("active_token"),
        None
    );

    // A use moves `last_used_at` forward only.
    let used = instant("2026-03-02T11:00:00Z");
    store
        .record_token_use(ci.id, used)
        .await
        .expect("record_token_use");
    store
        .record_token_use(ci.id, instant("2026-03-02T10:30:00Z"))
        .await
        .expect("record_token_use");
    let found = store
        .active_token(&hash(1))
        .await
        .expect("active_token")
        .expect("the token");
    assert_eq!(found.last_used_at, Some(used));
}

pub async fn a_token_name_is_unique_among_unrevoked_tokens<S: AccessStore + ?Sized>(store: &S) {
    let first = create(store, "ci", TokenScope::Read, 1).await;
    assert!(matches!(
        store
            .create_token(new_token("ci", TokenScope::Admin, 2))
            .await,
        Err(StoreError::TokenNameTaken(name)) if name == TokenName::new("ci")
    ));
    assert!(matches!(
        store
            .create_token(new_token("other", TokenScope::Admin, 1))
            .await,
        Err(StoreError::TokenHashTaken)
    ));
    assert_eq!(
        store.tokens().await.expect("tokens"),
        std::slice::from_ref(&first)
    );

    // Once revoked, the name may be given to a new token; the old one stays listed.
    store
        .revoke_token(&TokenName::new("ci"), instant("2026-03-03T00:00:00Z"))
        .await
        .expect("revoke_token")
        .expect("revoked");
    let second = create(store, "ci", TokenScope::Admin, 2).await;
    let tokens = store.tokens().await.expect("tokens");
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[0].id, first.id);
    assert_eq!(tokens[1], second);
}

pub async fn a_revoked_token_is_found_no_more_and_its_sessions_end<S: AccessStore + ?Sized>(
    store: &S,
) {
    let token = create(store, "ui", TokenScope::Operate, 1).await;
    let other = create(store, "other", TokenScope::Read, 2).await;
    let opened = instant("2026-03-02T12:00:00Z");
    for (session, owner) in [(10, &token), (11, &other)] {
        store
            .create_session(NewSession {
                hash: hash(session),
                token: owner.id,
                created_at: opened,
                expires_at: opened + Duration::hours(12),
            })
            .await
            .expect("create_session");
    }
    let now = opened + Duration::minutes(5);
    let session = store
        .active_session(&hash(10), now)
        .await
        .expect("active_session")
        .expect("a live session");
    assert_eq!(session.token, token);
    assert_eq!(session.expires_at, opened + Duration::hours(12));

    let revoked_at = instant("2026-03-02T13:00:00Z");
    let revoked = store
        .revoke_token(&TokenName::new("ui"), revoked_at)
        .await
        .expect("revoke_token")
        .expect("an unrevoked token of that name");
    assert_eq!(revoked.revoked_at, Some(revoked_at));
    assert_eq!(revoked.id, token.id);
    assert_eq!(
        store.active_token(&hash(1)).await.expect("active_token"),
        None
    );
    assert_eq!(
        store
            .active_session(&hash(10), now)
            .await
            .expect("active_session"),
        None,
        "a revoked token's session ends"
    );
    assert!(
        store
            .active_session(&hash(11), now)
            .await
            .expect("active_session")
            .is_some(),
        "other tokens' sessions live on"
    );
    // Revoking again, or an unknown name: nothing.
    assert_eq!(
        store
            .revoke_token(&TokenName::new("ui"), revoked_at)
            .await
            .expect("revoke_token"),
        None
    );
    assert_eq!(
        store
            .revoke_token(&TokenName::new("nobody"), revoked_at)
            .await
            .expect("revoke_token"),
        None
    );
    // No session for a revoked token; tokens stay listed, and access control stays on.
    assert!(matches!(
        store
            .create_session(NewSession {
                hash: hash(12),
                token: token.id,
                created_at: now,
                expires_at: now + Duration::hours(1),
            })
            .await,
        Err(StoreError::NoSuchToken(id)) if id == token.id
    ));
    store
        .revoke_token(&TokenName::new("other"), revoked_at)
        .await
        .expect("revoke_token");
    assert!(store.has_tokens().await.expect("has_tokens"));
    assert!(!store.has_active_tokens().await.expect("has_active_tokens"));
    assert_eq!(store.tokens().await.expect("tokens").len(), 2);
}

pub async fn a_session_lives_until_it_expires_or_ends<S: AccessStore + ?Sized>(store: &S) {
    let token = create(store, "ui", TokenScope::Read, 1).await;
    let opened = instant("2026-03-02T12:00:00Z");
    let expires_at = opened + Duration::hours(12);
    store
        .create_session(NewSession {
            hash: hash(10),
            token: token.id,
            created_at: opened,
            expires_at,
        })
        .await
        .expect("create_session");
    assert!(
        store
            .active_session(&hash(10), expires_at - Duration::microseconds(1))
            .await
            .expect("active_session")
            .is_some()
    );
    assert_eq!(
        store
            .active_session(&hash(10), expires_at)
            .await
            .expect("active_session"),
        None,
        "expired at its expiry"
    );
    assert_eq!(
        store
            .active_session(&hash(99), opened)
            .await
            .expect("active_session"),
        None
    );

    store
        .create_session(NewSession {
            hash: hash(20),
            token: token.id,
            created_at: opened,
            expires_at,
        })
        .await
        .expect("create_session");
    assert!(store.end_session(&hash(20)).await.expect("end_session"));
    assert!(!store.end_session(&hash(20)).await.expect("end_session"));
    assert_eq!(
        store
            .active_session(&hash(20), opened)
            .await
            .expect("active_session"),
        None
    );
}
