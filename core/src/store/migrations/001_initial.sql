-- SmartControl local store, version 1.
--
-- `jobs` keeps, per job, what the cloud last said (server_json, server_version)
-- apart from the effective local state (status, assignee_*, failure_comment,
-- installation_started) = server state + still-queued actions. Summary columns
-- are denormalised from server_json for the list views and search.
CREATE TABLE jobs (
    id                    TEXT PRIMARY KEY NOT NULL,
    server_json           TEXT NOT NULL,
    server_version        INTEGER NOT NULL,
    kind                  TEXT NOT NULL,
    provider_id           TEXT NOT NULL,
    provider_name         TEXT NOT NULL,
    fleet_id              TEXT NOT NULL,
    fleet_name            TEXT NOT NULL,
    license_plate         TEXT,
    vin                   TEXT,
    custom_name           TEXT,
    vehicle_model         TEXT,
    planned_service_date  TEXT,
    vehicle_tests_required INTEGER NOT NULL,
    -- lower-cased plate, VIN, name, provider, fleet: what search matches
    search_text           TEXT NOT NULL,
    status                TEXT NOT NULL,
    assignee_id           TEXT,
    assignee_name         TEXT,
    failure_comment       TEXT,
    installation_started  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_by_view ON jobs (status, assignee_id, planned_service_date, id);
CREATE INDEX jobs_by_provider ON jobs (provider_id, status);

-- Durable queue of technician actions, in the order they were taken.
CREATE TABLE outbox (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key  TEXT NOT NULL UNIQUE,
    job_id           TEXT NOT NULL,
    technician_id    TEXT NOT NULL,
    action_json      TEXT NOT NULL,
    base_version     INTEGER NOT NULL,
    performed_at     TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT
);
CREATE INDEX outbox_by_job ON outbox (job_id, seq);

-- Work the cloud refused, kept until the technician dismisses or re-submits it.
CREATE TABLE conflicts (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id           TEXT NOT NULL,
    job_label        TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL,
    action_json      TEXT NOT NULL,
    vehicle_tests_json TEXT NOT NULL DEFAULT '[]',
    reason           TEXT NOT NULL,
    message          TEXT NOT NULL,
    server_job_json  TEXT,
    created_at       TEXT NOT NULL,
    resolved_at      TEXT,
    resolution       TEXT
);
CREATE INDEX conflicts_open ON conflicts (resolved_at, id);

-- Vehicle test results recorded for a job (filled by the BLE workflow).
CREATE TABLE vehicle_tests (
    job_id    TEXT NOT NULL,
    test      TEXT NOT NULL,
    passed    INTEGER NOT NULL,
    measured  TEXT,
    hint      TEXT,
    at        TEXT NOT NULL,
    PRIMARY KEY (job_id, test)
);

-- Small key/value state: sync cursor, session, last sync outcome.
CREATE TABLE meta (
    key    TEXT PRIMARY KEY NOT NULL,
    value  TEXT NOT NULL
);
