-- Version 2: list views read one page in index order instead of sorting
-- every matching job. `sort_key` = planned date (undated last), plate, id.
ALTER TABLE jobs ADD COLUMN sort_key TEXT NOT NULL DEFAULT '';
UPDATE jobs SET sort_key = COALESCE(planned_service_date, '9999-12-31') || char(31)
    || COALESCE(license_plate, '') || char(31) || id;
DROP INDEX jobs_by_view;
CREATE INDEX jobs_by_status ON jobs (status, sort_key);
CREATE INDEX jobs_by_assignee ON jobs (assignee_id, status, sort_key);
CREATE INDEX jobs_by_sort ON jobs (sort_key);

-- Search: a trigram full-text index over `search_text` finds substrings
-- (plate, VIN, name, provider, fleet) without scanning every job. It
-- mirrors `jobs` (external content) and is kept current by the store's code
-- in the same transactions, not by triggers: FTS5 under a trigger flushes
-- per statement and made a 10,000-job sync four times slower.
CREATE VIRTUAL TABLE jobs_search USING fts5(
    search_text, content = 'jobs', content_rowid = 'rowid', tokenize = 'trigram'
);
INSERT INTO jobs_search (jobs_search) VALUES ('rebuild');
