-- `attempts` without a rowid: its rows live in the B-tree of its primary key. With a rowid,
-- starting an attempt wrote two B-trees (the table and its primary key index), so every
-- commit that starts one wrote one page more to the write-ahead log; finding an attempt by
-- its key also looked up two B-trees instead of one. The rows are small, the key is the
-- only way they are read, so this is the layout SQLite recommends for them.
--
-- Nothing references `attempts`, so it is copied, dropped and renamed in place. Columns,
-- keys and checks are those of 0001_runs.sql.

CREATE TABLE attempts_without_rowid (
    run_id INTEGER NOT NULL,
    task TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    -- The process the attempt runs in; both NULL until it is known.
    pid INTEGER,
    start_ticks INTEGER,
    -- NULL while the attempt runs (or if its supervisor died before recording the end).
    finished_at INTEGER,
    -- 'succeeded' or 'failed' once finished.
    outcome TEXT,
    -- JSON text of a successful attempt's output, if it wrote one.
    output TEXT,
    -- Why a failed attempt failed, and the data of that reason.
    failure TEXT,
    exit_code INTEGER,
    signal INTEGER,
    message TEXT,
    PRIMARY KEY (run_id, task, attempt),
    FOREIGN KEY (run_id, task) REFERENCES task_instances (run_id, task) ON DELETE CASCADE,
    CHECK ((pid IS NULL) = (start_ticks IS NULL)),
    CHECK ((finished_at IS NULL) = (outcome IS NULL))
) WITHOUT ROWID;

INSERT INTO attempts_without_rowid (run_id, task, attempt, started_at, pid, start_ticks,
    finished_at, outcome, output, failure, exit_code, signal, message)
SELECT run_id, task, attempt, started_at, pid, start_ticks, finished_at, outcome, output,
    failure, exit_code, signal, message
FROM attempts;

DROP TABLE attempts;

ALTER TABLE attempts_without_rowid RENAME TO attempts;
