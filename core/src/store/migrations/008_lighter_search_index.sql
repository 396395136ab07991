-- Version 8: the search index writes less per job.
--
-- `columnsize = 0`: FTS5 no longer keeps each job's token count in a
-- `jobs_search_docsize` table (one more b-tree row per job a sync writes).
-- Only ranking functions (bm25) read those counts, and search orders by the
-- list order, not by rank. Same trigram tokenizer, same external content:
-- matching is unchanged.
DROP TABLE jobs_search;
CREATE VIRTUAL TABLE jobs_search USING fts5(
    search_text, content = 'jobs', content_rowid = 'rowid', tokenize = 'trigram',
    columnsize = 0
);
INSERT INTO jobs_search (jobs_search) VALUES ('rebuild');
