-- Indexes that let the scheduler decide which queued runs start, and see whether a backfill
-- is done, at a cost that does not grow with the number of queued runs. Without them every
-- turn of the scheduler read every queued run: a backfill of 10,000 intervals started 3 runs
-- a second instead of 170 (issue 15).

-- The head of a backfill's queue: its queued runs by interval (either direction).
CREATE INDEX runs_queued_in_backfill ON runs (backfill_id, interval_start, id)
    WHERE state = 'queued' AND backfill_id IS NOT NULL;
-- The head of a workflow's queue: its queued runs outside any backfill, by interval.
CREATE INDEX runs_queued_by_workflow ON runs (workflow, interval_start, id)
    WHERE state = 'queued' AND backfill_id IS NULL;
-- Runs that count against a cap: running ones, and claimed ones (a claimed run is queued only
-- for the moment between its claim and its first task).
CREATE INDEX runs_running ON runs (id) WHERE state = 'running';
CREATE INDEX runs_claimed ON runs (state) WHERE owner_pid IS NOT NULL;
-- A backfill's runs by state: its counts, and whether any has not succeeded.
CREATE INDEX runs_by_backfill_state ON runs (backfill_id, state) WHERE backfill_id IS NOT NULL;
