-- Version 4: what the on-vehicle workflow found and did per job (device,
-- configuration, step outcomes). It travels with the job's completion.
CREATE TABLE workflow_reports (
    job_id       TEXT PRIMARY KEY NOT NULL,
    device_json  TEXT,
    steps_json   TEXT NOT NULL DEFAULT '[]',
    updated_at   TEXT NOT NULL
);
