-- Workers (issue 21): the attempts a server offers to `tidewater worker` processes, with
-- their leases, and the workers that sent heartbeats.
CREATE TABLE remote_attempts (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL,
    workflow TEXT NOT NULL,
    task TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    queue TEXT NOT NULL,
    workflow_hash TEXT NOT NULL,
    -- What the worker needs besides its project files (JSON): interval, params, outputs.
    context TEXT NOT NULL,
    offered_at INTEGER NOT NULL,
    -- `offered`, `claimed`, `reported`, `lost` or `withdrawn`.
    state TEXT NOT NULL,
    worker TEXT,
    -- The live lease while `claimed` (the last one after); epochs come from `lease_epochs`,
    -- so no two claims ever share one.
    epoch INTEGER,
    expires_at INTEGER,
    is_stop_requested INTEGER NOT NULL DEFAULT 0,
    -- The reported outcome (JSON) while `reported`.
    outcome TEXT,
    ended_at INTEGER
);

-- The claim's question: the oldest offered attempt of a queue.
CREATE INDEX remote_attempts_offered ON remote_attempts (queue, id) WHERE state = 'offered';
-- The expiry's question: which leases ended before now.
CREATE INDEX remote_attempts_claimed ON remote_attempts (expires_at) WHERE state = 'claimed';

-- One row whose counter gives each claim a new epoch.
CREATE TABLE lease_epochs (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last INTEGER NOT NULL
);
INSERT INTO lease_epochs (id, last) VALUES (1, 0);

CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    -- Comma-separated queue names (a queue name has no comma).
    queues TEXT NOT NULL,
    slots INTEGER NOT NULL,
    version TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_heartbeat INTEGER NOT NULL
);
