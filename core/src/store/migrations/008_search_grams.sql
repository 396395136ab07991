-- Version 8: a search index whose cost follows the matches, and that a
-- sync writes with less work per job.
--
-- The trigram index (version 2) answered a search as the intersection of
-- the term's trigrams: for `bulk-00012` every job with a plate or name like
-- `BULK-0…` shares `bul`, `ulk`, `-00`, …, so a search read doclists as
-- long as the store (about 1 ms at 10,000 jobs against 0.15 ms at 1,000).
-- This index holds, per field of `search_text`, the 8-character window
-- starting at each character (shorter at the field's end; windows of
-- fewer than 3 characters left out). A term of 3 to 8 characters is one
-- prefix query over those windows (the jobs where it starts a window: where
-- it is a substring); a longer one is the intersection of windows covering
-- it, each an exact term and rare, then checked as a substring of
-- `search_text`. The store computes the windows (`search_grams`), so the
-- table is contentless: no copy of the text, no per-job size row
-- (`columnsize = 0`), no positions (`detail = none`). Removing a job's
-- windows gives its old text again ('delete'), as the external-content
-- index did. Tokens are split only at control characters (the fields are
-- joined by U+001F); every printable ASCII character is part of a token.
DROP TABLE jobs_search;
CREATE VIRTUAL TABLE jobs_search USING fts5(
    grams, content = '', detail = none, columnsize = 0,
    tokenize = "ascii tokenchars ' !""#$%&''()*+,-./:;<=>?@[\]^_`{|}~'"
);
-- No merging of the index's segments as jobs are written (FTS5's
-- `automerge`, 4 by default, merged while a sync wrote its pages: half of
-- the index's cost in a 10,000-job sync). Segments still merge when 16 of
-- a size pile up (`crisismerge`), so a search reads a bounded number of
-- them, and a window's lookup per segment is a b-tree seek.
INSERT INTO jobs_search (jobs_search, rank) VALUES ('automerge', 0);
-- The windows are computed by the store's code: it fills the index at the
-- next open (`Store::open`) and removes this mark.
INSERT INTO meta (key, value) VALUES ('search.rebuild', '8')
    ON CONFLICT (key) DO UPDATE SET value = excluded.value;
