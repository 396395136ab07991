-- Version 6: jobs the store forgot because they left the technician's reach
-- (a pull's removal, a refusal without the job), with the cloud version the
-- store had. A late push answer for such a job (another process's slow link)
-- must not bring it back; only the cloud's changes feed, which is ordered by
-- its cursor, puts the job back (and clears the tombstone).
CREATE TABLE job_tombstones (
    job_id          TEXT PRIMARY KEY NOT NULL,
    server_version  INTEGER NOT NULL,
    deleted_at      INTEGER NOT NULL
);
