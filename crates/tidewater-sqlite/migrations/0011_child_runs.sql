-- Child runs: a `call` task runs another workflow as a run of its own, recorded with the run
-- and task that called it (issue 18). Both NULL for every other run.
ALTER TABLE runs ADD COLUMN parent_run_id INTEGER REFERENCES runs (id);
ALTER TABLE runs ADD COLUMN parent_task TEXT;
-- One child per calling run and task: a second attempt of the task (a retry, a recovery after
-- a crash, `tidewater retry` of the parent) finds the first attempt's child instead of
-- starting another. Also how a run's children are listed.
CREATE UNIQUE INDEX runs_child_of ON runs (parent_run_id, parent_task)
    WHERE parent_run_id IS NOT NULL;
