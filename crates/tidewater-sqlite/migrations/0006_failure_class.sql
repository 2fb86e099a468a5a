-- Who must act on a failed attempt (`FailureClass`: input, task, environment, timeout, bug,
-- cancelled). Most reasons imply it; a task error and a failure to start carry their own, and
-- an input-class failure is not retried. Rows written before this column existed have NULL:
-- their class is read from their reason, and a task error or failure to start of theirs was
-- treated as the task's own failure (retried by its policy), which is what it decodes as.
ALTER TABLE attempts ADD COLUMN failure_class TEXT;
