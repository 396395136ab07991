-- Version 9: a durable action's commit writes fewer pages, and a list
-- reads its jobs without the outbox.
--
-- A job's count of queued actions lives in its row: `pending_actions` is
-- kept by the two triggers below, in the same statement as the outbox
-- change, so no write path can forget it. Lists read it with the job
-- instead of joining the grouped outbox, and an action no longer writes
-- an `outbox_by_job` index page (the job's row is rewritten by the action
-- anyway). The outbox is read per job only for a job whose count says it
-- has queued actions (its detail, replaying them on a new cloud copy, a
-- refusal); the push reads it in `seq` order, its key.
ALTER TABLE jobs ADD COLUMN pending_actions INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET pending_actions = (SELECT COUNT(*) FROM outbox WHERE outbox.job_id = jobs.id);
CREATE TRIGGER outbox_pending_in AFTER INSERT ON outbox BEGIN
    UPDATE jobs SET pending_actions = pending_actions + 1 WHERE id = NEW.job_id;
END;
CREATE TRIGGER outbox_pending_out AFTER DELETE ON outbox BEGIN
    UPDATE jobs SET pending_actions = pending_actions - 1 WHERE id = OLD.job_id;
END;
DROP INDEX IF EXISTS outbox_by_job;

-- The open jobs (Available and running) in list order, with their status
-- after the order: a claim or withdraw changes the status only, so the
-- job's entry stays where it was (one page) instead of moving from the
-- ASSIGNED part of an index on (status, sort_key) to the RUNNING part
-- (two pages). Available reads it in order and skips the running jobs,
-- which are few (each technician holds a handful).
DROP INDEX IF EXISTS jobs_by_status;
CREATE INDEX jobs_open ON jobs (sort_key, status) WHERE status IN ('ASSIGNED', 'RUNNING');

-- The views by technician, status first: Mine and Done read the
-- technician's jobs of a status, Colleagues the running jobs of others.
DROP INDEX IF EXISTS jobs_by_assignee;
CREATE INDEX jobs_by_assignee ON jobs (status, assignee_id, sort_key)
    WHERE assignee_id IS NOT NULL;
