-- Streams supervised by the server (issue 19): a stream's pause (the server stops consuming
-- it, its position kept in its table) and why the server's last try of it failed, with when
-- it tries again.
ALTER TABLE streams ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
ALTER TABLE streams ADD COLUMN paused_at INTEGER;
ALTER TABLE streams ADD COLUMN failure_at INTEGER;
ALTER TABLE streams ADD COLUMN failure_reason TEXT;
ALTER TABLE streams ADD COLUMN failure_retry_at INTEGER;
