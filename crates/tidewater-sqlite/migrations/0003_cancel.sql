-- Requests to cancel a run, made by `tidewater cancel` (or a Ctrl-C of a `tidewater run`
-- that the server executes) and carried out by whichever process executes the run.

CREATE TABLE cancel_requests (
    run_id INTEGER PRIMARY KEY REFERENCES runs (id),
    requested_at INTEGER NOT NULL
);

-- A request ends with its run: a cancelled run resumed later with `tidewater retry` must not
-- be cancelled again by the old request.
CREATE TRIGGER cancel_requests_end_with_run AFTER UPDATE OF state ON runs
WHEN NEW.state NOT IN ('queued', 'running')
BEGIN
    DELETE FROM cancel_requests WHERE run_id = NEW.id;
END;
