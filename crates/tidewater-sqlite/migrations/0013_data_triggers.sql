-- Data-aware schedules (`schedule: { on: [...] }`, issue 18). `data_changes` holds each
-- upstream change a workflow consumed, inserted in the transaction that creates its run, so
-- that one commit of a partition (or one upstream run) starts exactly one run even when the
-- service restarts or is killed. `data_cursors` says how far each workflow has looked at
-- each source; it is only an optimisation: looking again finds nothing new to consume.
CREATE TABLE data_changes (
    workflow TEXT NOT NULL,
    source TEXT NOT NULL,
    change INTEGER NOT NULL,
    partition TEXT NOT NULL,
    run_id INTEGER NOT NULL REFERENCES runs (id),
    PRIMARY KEY (workflow, source, change, partition)
) WITHOUT ROWID;

CREATE TABLE data_cursors (
    workflow TEXT NOT NULL,
    source TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (workflow, source)
) WITHOUT ROWID;
