-- Version 5: what the technician entered on site, the device's signed
-- attestation of the latest run, revocation lists phones hand to devices,
-- and search over the vehicle model.
--
-- `site_json` is the local effect of site data (the cloud's accepted
-- entries with still-queued ones applied); the summary columns (vin,
-- license_plate, vehicle_model, search_text, sort_key) show the job as it
-- stands with it.
ALTER TABLE jobs ADD COLUMN site_json TEXT NOT NULL DEFAULT '{}';
ALTER TABLE workflow_reports ADD COLUMN attestation_hex TEXT;
-- The latest signed revocation list the cloud sent per device of the
-- technician's running jobs: handed to the unit at every connection.
CREATE TABLE revocation_lists (
    device_serial  TEXT PRIMARY KEY NOT NULL,
    sequence       INTEGER NOT NULL,
    list_hex       TEXT NOT NULL,
    received_at    TEXT NOT NULL
);
-- Search also matches the vehicle model (name and catalogue id).
UPDATE jobs SET search_text = search_text || char(31)
    || lower(COALESCE(json_extract(server_json, '$.vehicle_model.name'), '')) || char(31)
    || lower(COALESCE(json_extract(server_json, '$.vehicle_model.id'), ''));
INSERT INTO jobs_search (jobs_search) VALUES ('rebuild');
