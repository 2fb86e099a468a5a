-- Pools, pool rates and `max_active_tasks` held across the servers sharing the database
-- (issue 21): a server confirms here each task its own queue admitted for a pool or a capped
-- workflow (`SlotStore`, `postgres_store/slots.rs`).
--
-- A hold belongs to a server; it counts only while that server's lease is alive (joined
-- with `servers` by `clock_timestamp()`), so a killed server's holds free their slots when
-- its lease expires, and are deleted lazily by the next `acquire`.

CREATE TABLE slot_holds (
    holder BIGINT NOT NULL REFERENCES servers (id),
    run_id BIGINT NOT NULL,
    task TEXT NOT NULL,
    workflow TEXT NOT NULL,
    pool TEXT,
    slots INTEGER NOT NULL,
    PRIMARY KEY (run_id, task)
);

CREATE INDEX slot_holds_by_pool ON slot_holds (pool);
CREATE INDEX slot_holds_by_workflow ON slot_holds (workflow);
CREATE INDEX slot_holds_by_holder ON slot_holds (holder);

-- The starts of pools with a rate, by the database's clock. Rows older than the longest
-- window (a day) are pruned by `acquire`.
CREATE TABLE slot_starts (
    pool TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX slot_starts_by_pool ON slot_starts (pool, started_at);
