-- Version 3: job-scoped CloudBoxx access grants downloaded while online.
-- A row exists only while the technician holds the job: it is erased when
-- the job ends, is withdrawn or taken over, leaves reach, and at logout.
CREATE TABLE grants (
    job_id       TEXT PRIMARY KEY NOT NULL,
    grant_id     TEXT NOT NULL,
    grant_hex    TEXT NOT NULL,
    not_after    INTEGER NOT NULL,
    received_at  TEXT NOT NULL
);
