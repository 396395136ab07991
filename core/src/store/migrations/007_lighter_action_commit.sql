-- Version 7: a durable action's commit writes fewer pages.
--
-- `jobs_by_provider` served no query: the provider filter also matches the
-- provider's name case-insensitively (`lower(provider_name)`), so SQLite
-- scans or uses a view's index instead. Every claim or withdraw (it changes
-- `status`) and every job a sync writes paid for it.
DROP INDEX jobs_by_provider;

-- The outbox's `seq` without AUTOINCREMENT: each insert no longer reads and
-- rewrites the counter row in `sqlite_sequence` (one more page per action).
-- A plain INTEGER PRIMARY KEY takes the largest existing seq + 1, so a new
-- action still sorts after every queued one and no two queued actions share
-- a seq; a seq is reused only after the action that had it left the outbox
-- (pushed or turned into a conflict). Nothing refers to a seq beyond its
-- row: pushes, answers and conflicts refer to the idempotency key.
CREATE TABLE outbox_v7 (
    seq              INTEGER PRIMARY KEY,
    idempotency_key  TEXT NOT NULL UNIQUE,
    job_id           TEXT NOT NULL,
    technician_id    TEXT NOT NULL,
    action_json      TEXT NOT NULL,
    base_version     INTEGER NOT NULL,
    performed_at     TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT
);
INSERT INTO outbox_v7 (seq, idempotency_key, job_id, technician_id, action_json,
        base_version, performed_at, attempts, last_error)
    SELECT seq, idempotency_key, job_id, technician_id, action_json,
        base_version, performed_at, attempts, last_error
    FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v7 RENAME TO outbox;
CREATE INDEX outbox_by_job ON outbox (job_id, seq);

-- The views by technician (Mine, Done, Colleagues) ask for an assignee, so
-- their index holds only jobs that have one: a claim inserts one entry and
-- removes none, and the jobs a sync brings in for the company (Available,
-- no assignee) are not written to it at all.
DROP INDEX jobs_by_assignee;
CREATE INDEX jobs_by_assignee ON jobs (assignee_id, status, sort_key)
    WHERE assignee_id IS NOT NULL;
