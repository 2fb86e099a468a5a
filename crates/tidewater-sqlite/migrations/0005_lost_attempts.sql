-- Attempts of a task instance lost since its try budget was last reset (the supervising
-- process died, or stopped them because it could not record the run). They do not use up
-- the task's retries; `decide` bounds them on their own (`MAX_LOST_ATTEMPTS`). Rows written
-- before this column existed counted lost attempts as retries: 0 is their honest value.
ALTER TABLE task_instances ADD COLUMN lost_attempts INTEGER NOT NULL DEFAULT 0;
