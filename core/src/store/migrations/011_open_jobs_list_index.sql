-- Version 11: the Available Jobs list reads its index alone.
--
-- `jobs_open` held the open jobs' order only, so a page of Available Jobs
-- looked every listed job up in the table: one lookup a row, in rows of
-- about 1.3 KB (the cloud's JSON is in the row), some 330 table pages for
-- a page of 1,000 jobs. This index holds every column a list row reads
-- (`SUMMARY_COLUMNS` in store/mod.rs, in that order after the key; the
-- store test `the_views_read_their_indexes` checks that the list stays
-- covered), so the page is read from about 70 index pages and never
-- touches the table. Measured on 1,000 jobs (ffi/benches/list.rs, release):
-- the core's `jobs()` 1.35 -> 1.04 ms. The price is a wider entry (about
-- 280 bytes instead of 80) for each open job a sync stores (+3 us a job on
-- the initial sync of 10,000 jobs). An action still writes one page of
-- the index: the key starts with `sort_key`, so the job's entry moves
-- within its leaf when the action changes its status or assignee.
CREATE INDEX jobs_open_list ON jobs (
    sort_key, status, id, kind, license_plate, vin, custom_name, vehicle_model,
    provider_id, provider_name, fleet_id, fleet_name, planned_service_date,
    assignee_id, assignee_name, vehicle_tests_required, pending_actions
) WHERE status IN ('ASSIGNED', 'RUNNING');
DROP INDEX jobs_open;
