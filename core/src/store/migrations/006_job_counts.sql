-- Version 6: the number of jobs per (status, assignee), kept by triggers, so
-- a list view's total is read from a handful of rows instead of counted
-- over every job of the view (COUNT(*) made the first page of Available
-- Jobs grow with the store: 10 ms of its time at 100,000 jobs).
-- `assignee_key` is the assignee's id or '' for none; `assignee_id` gives
-- it back as the jobs table has it (NULL for none), so a view's filter on
-- `jobs` reads the same on `job_counts`. Rows that reach 0 stay.
CREATE TABLE job_counts (
    status        TEXT NOT NULL,
    assignee_key  TEXT NOT NULL,
    assignee_id   TEXT GENERATED ALWAYS AS (NULLIF(assignee_key, '')) VIRTUAL,
    n             INTEGER NOT NULL,
    PRIMARY KEY (status, assignee_key)
) WITHOUT ROWID;
INSERT INTO job_counts (status, assignee_key, n)
    SELECT status, COALESCE(assignee_id, ''), COUNT(*) FROM jobs
    GROUP BY status, COALESCE(assignee_id, '');
CREATE TRIGGER job_counts_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO job_counts (status, assignee_key, n)
        VALUES (NEW.status, COALESCE(NEW.assignee_id, ''), 1)
        ON CONFLICT (status, assignee_key) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER job_counts_update AFTER UPDATE OF status, assignee_id ON jobs
WHEN OLD.status IS NOT NEW.status OR OLD.assignee_id IS NOT NEW.assignee_id BEGIN
    UPDATE job_counts SET n = n - 1
        WHERE status = OLD.status AND assignee_key = COALESCE(OLD.assignee_id, '');
    INSERT INTO job_counts (status, assignee_key, n)
        VALUES (NEW.status, COALESCE(NEW.assignee_id, ''), 1)
        ON CONFLICT (status, assignee_key) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER job_counts_delete AFTER DELETE ON jobs BEGIN
    UPDATE job_counts SET n = n - 1
        WHERE status = OLD.status AND assignee_key = COALESCE(OLD.assignee_id, '');
END;
