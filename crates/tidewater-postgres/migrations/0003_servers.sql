-- Several `tidewater server` processes on one database (issue 21): each holds a lease in
-- `servers`, renewed every heartbeat, and one of them leads (`server_leader`): it alone
-- creates scheduled runs.
--
-- Unlike the other tables' BIGINT microseconds (the codec's), leases are TIMESTAMPTZ: they
-- are set and compared by the database's own clock (`clock_timestamp()`) inside the
-- statements, never by a server's, so that servers on machines whose clocks disagree still
-- agree on who is alive.

CREATE TABLE servers (
    -- Never reused: a server's id is also the epoch of its lease, and a run's owner names it
    -- (`runs.owner_pid` 0, `runs.owner_start_ticks` the id; see `ServerId::owner`).
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    registered_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX servers_by_expiry ON servers (expires_at);

-- At most one row: the leader's lease.
CREATE TABLE server_leader (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    server_id BIGINT NOT NULL REFERENCES servers (id),
    expires_at TIMESTAMPTZ NOT NULL
);
