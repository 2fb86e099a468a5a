-- The outbox of webhooks (issue 18, notifications): one row per notification `decide`
-- recorded (`Change::Notify`), written in the same transaction as the change that explains
-- it, then delivered with retries by whichever process executes runs.
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    -- `on_failure`, `on_success`, `on_deadline_miss` or `on_retry`.
    event TEXT NOT NULL,
    -- The retried task and its failed attempt for `on_retry`; '' and 0 otherwise, so that the
    -- unique key below holds (NULLs would all be distinct).
    task TEXT NOT NULL DEFAULT '',
    attempt INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    -- `pending`, `delivered` or `failed`.
    state TEXT NOT NULL,
    -- Pending: when the next delivery may start (a claim moves it past the delivery's
    -- lease); ended: when it ended.
    due_at INTEGER NOT NULL,
    deliveries INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    -- Once per run and event (per retried attempt): a decision repeated after a crash, or a
    -- resumed run that ends the same way again, adds nothing.
    UNIQUE (run_id, event, task, attempt)
);

-- The deliverers' question, asked every second: what is due next.
CREATE INDEX notifications_pending ON notifications (due_at) WHERE state = 'pending';
