-- Who may use the HTTP API (issue 17): tokens and the UI's sessions, each kept as the SHA-256
-- of its secret, never the secret. A token is never deleted, only revoked: that some token
-- was ever created is what turns access control on, and revoking the last one must not open
-- the API to everyone again.

CREATE TABLE tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    secret_hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
);

-- A name names one live token; a revoked token's name may be given again.
CREATE UNIQUE INDEX tokens_active_name ON tokens (name) WHERE revoked_at IS NULL;

-- A session is a random id in the browser's cookie; the store keeps its hash. It has its
-- token's scope and ends with it (revoking deletes them; reading joins the token too).
CREATE TABLE sessions (
    secret_hash BLOB PRIMARY KEY,
    token_id INTEGER NOT NULL REFERENCES tokens (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Expired sessions are forgotten when a new one is opened.
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE INDEX sessions_by_token ON sessions (token_id);
