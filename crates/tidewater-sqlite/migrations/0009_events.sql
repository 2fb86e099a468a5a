-- The change feed (`ControlStore::events_after`): one row per state change of a run, a task
-- instance or an attempt, written by triggers in the transaction of the change itself. So
-- every process that writes the store (the server, a foreground `run`, a backfill) records
-- events, and an event is committed exactly when its change is: none is lost, none is
-- invented. SQLite commits one writer at a time, so `seq` order is commit order.
--
-- `seq` is the rowid, without AUTOINCREMENT (which costs a write to `sqlite_sequence` per
-- event): a new row gets the largest `seq` plus one. Pruning deletes only the oldest rows and
-- always keeps the newest, so a number is never given twice and the kept numbers have no
-- holes: a reader whose next number is below the oldest kept one missed events.
--
-- The workflow is not copied here: readers join `runs` (by primary key), which keeps the
-- write to one narrow row. There is no index but the key: a reader follows the feed by `seq`.
-- Measured in release (`apply_latency`): a 6-change round of `apply` 22 → 29 µs, 10,000 task
-- changes in one `apply` 42 → 69 ms.
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL,
    kind TEXT NOT NULL,          -- 'run', 'task' or 'attempt'
    task TEXT,                   -- task and attempt events
    attempt INTEGER,             -- attempt events
    state TEXT NOT NULL,         -- the run's or task's state; 'started', 'succeeded', 'failed'
    failure_class TEXT           -- a failed attempt's class
);

CREATE TRIGGER events_run_created AFTER INSERT ON runs
BEGIN
    INSERT INTO events (run_id, kind, state) VALUES (NEW.id, 'run', NEW.state);
END;

CREATE TRIGGER events_run_state AFTER UPDATE OF state ON runs
WHEN OLD.state IS NOT NEW.state
BEGIN
    INSERT INTO events (run_id, kind, state) VALUES (NEW.id, 'run', NEW.state);
END;

-- A new run's task instances are inserted `pending` without an event each: the run's own
-- event says they exist.
CREATE TRIGGER events_task_state AFTER UPDATE OF state ON task_instances
WHEN OLD.state IS NOT NEW.state
BEGIN
    INSERT INTO events (run_id, kind, task, state)
    VALUES (NEW.run_id, 'task', NEW.task, NEW.state);
END;

CREATE TRIGGER events_attempt_started AFTER INSERT ON attempts
BEGIN
    INSERT INTO events (run_id, kind, task, attempt, state)
    VALUES (NEW.run_id, 'attempt', NEW.task, NEW.attempt, 'started');
END;

CREATE TRIGGER events_attempt_finished AFTER UPDATE OF outcome ON attempts
WHEN NEW.outcome IS NOT NULL AND OLD.outcome IS NOT NEW.outcome
BEGIN
    INSERT INTO events (run_id, kind, task, attempt, state, failure_class)
    VALUES (NEW.run_id, 'attempt', NEW.task, NEW.attempt, NEW.outcome, NEW.failure_class);
END;

