-- The change feed (`ControlStore::events_after`): one row per state change of a run, a task
-- instance or an attempt, written by triggers in the transaction of the change itself. So
-- every process that writes the store (the server, a foreground `run`, a backfill, an older
-- command) records events, and an event is committed exactly when its change is: none is
-- lost, none is invented. `seq` is AUTOINCREMENT so that a number is never given twice, even
-- after pruning; SQLite commits one writer at a time, so `seq` order is commit order.
--
-- The workflow is not copied here: readers join `runs` (by primary key), which keeps the
-- write to one narrow row. There is no index but the key: a reader follows the feed by `seq`.
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL,
    kind TEXT NOT NULL,          -- 'run', 'task' or 'attempt'
    task TEXT,                   -- task and attempt events
    attempt INTEGER,             -- attempt events
    state TEXT NOT NULL,         -- the run's or task's state; 'started', 'succeeded', 'failed'
    failure_class TEXT           -- a failed attempt's class
);

-- Events up to `pruned_through` were dropped: a reader behind it missed some.
CREATE TABLE event_feed (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_through INTEGER NOT NULL
);
INSERT INTO event_feed (id, pruned_through) VALUES (1, 0);

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

-- Keeps the newest 100,000 events (`tidewater_store::EVENTS_KEPT`), pruning 1,000 at a time
-- with every 1,000th event: one short delete per 1,000 changes, and at most 101,000 rows.
CREATE TRIGGER events_pruned AFTER INSERT ON events
WHEN NEW.seq % 1000 = 0 AND NEW.seq > 100000
BEGIN
    DELETE FROM events WHERE seq <= NEW.seq - 100000;
    UPDATE event_feed SET pruned_through = max(pruned_through, NEW.seq - 100000);
END;
