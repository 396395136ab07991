//! SQLite schema (numbered migrations) and connection setup.

use std::path::Path;

use rusqlite::Connection;
use rusqlite_migration::{Migrations, M};

/// The numbered migrations of the simulated cloud's database.
const MIGRATIONS: &[M<'static>] = &[
    M::up(
        r#"
CREATE TABLE providers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE fleets (
    id TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX fleets_provider ON fleets(provider_id);
CREATE TABLE companies (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
);
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    company_id TEXT,
    provider_id TEXT,
    role TEXT NOT NULL CHECK (role IN ('TECHNICIAN', 'ADMIN', 'PROVIDER')),
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name TEXT NOT NULL,
    salt TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    totp_secret TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX users_company ON users(company_id);
CREATE TABLE tokens (
    token TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('ACCESS', 'REFRESH')),
    user_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX tokens_user ON tokens(user_id);
CREATE TABLE connections (
    id TEXT PRIMARY KEY,
    fleet_id TEXT NOT NULL,
    company_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('PENDING', 'ACCEPTED', 'DECLINED', 'DELETED')),
    invited_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    invite_token TEXT NOT NULL UNIQUE,
    responded_at INTEGER
);
CREATE INDEX connections_company ON connections(company_id, fleet_id, status);
CREATE INDEX connections_fleet ON connections(fleet_id);
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL,
    fleet_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    vin TEXT,
    license_plate TEXT,
    custom_name TEXT,
    vehicle_model_id TEXT,
    vehicle_model_name TEXT,
    installation_variant TEXT,
    central_lock_connection_type TEXT,
    fuel_type TEXT,
    hardware TEXT,
    cloudboxx_config_preset TEXT,
    master_data TEXT NOT NULL DEFAULT '{}',
    planned_service_date TEXT,
    instructions TEXT,
    assigned_company_id TEXT,
    assignee_id TEXT,
    assignee_name TEXT,
    installation_started_at TEXT,
    failure_comment TEXT,
    vehicle_tests_required INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX jobs_seq ON jobs(seq);
CREATE INDEX jobs_company_seq ON jobs(assigned_company_id, seq);
CREATE INDEX jobs_provider ON jobs(provider_id, status);
CREATE INDEX jobs_fleet ON jobs(fleet_id, assigned_company_id);
CREATE TABLE job_removals (
    seq INTEGER NOT NULL,
    job_id TEXT NOT NULL,
    company_id TEXT NOT NULL,
    technician_id TEXT,
    except_technician_id TEXT,
    reason TEXT NOT NULL
);
CREATE INDEX job_removals_company_seq ON job_removals(company_id, seq);
CREATE INDEX job_removals_job ON job_removals(job_id);
CREATE TABLE idempotency (
    technician_id TEXT NOT NULL,
    key TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (technician_id, key)
);
CREATE TABLE job_reports (
    job_id TEXT PRIMARY KEY,
    report TEXT NOT NULL,
    comment TEXT,
    technician_id TEXT NOT NULL,
    submitted_at TEXT NOT NULL
);
CREATE TABLE seq_counter (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO seq_counter (id, value) VALUES (1, 0);
"#,
    ),
    // 2: fleet signing keys, CloudBoxx serials, phone keys per session and
    // the access grants issued to technicians.
    M::up(
        r#"
ALTER TABLE fleets ADD COLUMN signing_seed TEXT;
UPDATE fleets SET signing_seed = lower(hex(randomblob(32))) WHERE signing_seed IS NULL;
ALTER TABLE jobs ADD COLUMN cloudboxx_serial TEXT;
ALTER TABLE tokens ADD COLUMN phone_public_key TEXT;
CREATE TABLE grants (
    grant_id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    fleet_id TEXT NOT NULL,
    technician_id TEXT NOT NULL,
    device_serial TEXT NOT NULL,
    phone_public_key TEXT NOT NULL,
    permissions INTEGER NOT NULL,
    grant_hex TEXT NOT NULL,
    not_before INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    issued_at INTEGER NOT NULL,
    revoked_at INTEGER,
    revoked_reason TEXT
);
CREATE INDEX grants_job ON grants(job_id, revoked_at);
CREATE INDEX grants_device ON grants(device_serial, revoked_at);
"#,
    ),
    // 3: required work and technician site data per job; the fleet's
    // CloudBoxx registry (device keys, accepted attestations); vehicle
    // records; revocation sequence numbers; account removal tombstones on
    // tokens.
    M::up(
        r#"
ALTER TABLE jobs ADD COLUMN requirements TEXT NOT NULL DEFAULT '{"steps":[],"vehicle_tests":[]}';
UPDATE jobs SET requirements = CASE
    WHEN kind = 'INSTALLATION' THEN '{"steps":["bind_vehicle","configure","verify"],"vehicle_tests":' ||
        CASE WHEN vehicle_tests_required THEN '["central_lock_lock","central_lock_unlock","immobilizer_disable_driving","immobilizer_enable_driving","ignition_state","mileage","fuel_or_charge_level","position_fix","doors_closed","key_holder_present"]' ELSE '[]' END || '}'
    WHEN kind = 'MAINTENANCE' THEN '{"steps":["identify"],"vehicle_tests":' ||
        CASE WHEN vehicle_tests_required THEN '["central_lock_lock","central_lock_unlock","immobilizer_disable_driving","immobilizer_enable_driving","ignition_state","mileage","fuel_or_charge_level","position_fix","doors_closed","key_holder_present"]' ELSE '[]' END || '}'
    ELSE requirements END;
ALTER TABLE jobs ADD COLUMN site_data TEXT NOT NULL DEFAULT '{}';
CREATE TABLE devices (
    serial TEXT PRIMARY KEY,
    fleet_id TEXT NOT NULL,
    public_key TEXT NOT NULL,
    hardware TEXT,
    registered_at TEXT NOT NULL
);
CREATE INDEX devices_fleet ON devices(fleet_id);
CREATE TABLE attestations (
    device_serial TEXT NOT NULL,
    counter INTEGER NOT NULL,
    job_id TEXT NOT NULL,
    accepted_at TEXT NOT NULL,
    PRIMARY KEY (device_serial, counter)
);
CREATE TABLE vehicles (
    provider_id TEXT NOT NULL,
    vin TEXT NOT NULL,
    fleet_id TEXT NOT NULL,
    license_plate TEXT,
    vehicle_model_id TEXT,
    vehicle_model_name TEXT,
    cloudboxx_serial TEXT NOT NULL,
    config_id TEXT,
    config_sha256 TEXT,
    job_id TEXT NOT NULL,
    installed_at TEXT NOT NULL,
    PRIMARY KEY (provider_id, vin)
);
ALTER TABLE grants ADD COLUMN vin TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN revoked_seq INTEGER;
UPDATE grants SET revoked_seq = (SELECT value FROM seq_counter WHERE id = 1) WHERE revoked_at IS NOT NULL;
ALTER TABLE tokens ADD COLUMN revoked_reason TEXT;
CREATE INDEX grants_technician ON grants(technician_id, revoked_at);
"#,
    ),
    // 4: rotating refresh tokens with a reuse interval: every token of one
    // login shares a family; a rotated refresh token keeps its row with the
    // time of rotation and the pair it was rotated into, so a client whose
    // answer was lost gets the same pair again, and a later reuse revokes
    // the family (token theft).
    M::up(
        r#"
ALTER TABLE tokens ADD COLUMN family TEXT;
ALTER TABLE tokens ADD COLUMN rotated_at INTEGER;
ALTER TABLE tokens ADD COLUMN successor_access TEXT;
ALTER TABLE tokens ADD COLUMN successor_refresh TEXT;
UPDATE tokens SET family = token WHERE family IS NULL;
CREATE INDEX tokens_family ON tokens(family);
"#,
    ),
    // 5: SHA-256 of each idempotent action, so a key re-sent with another
    // action is refused (NULL for results stored before).
    M::up("ALTER TABLE idempotency ADD COLUMN fingerprint TEXT;"),
    // 6: onboarding by e-mail: invitations of partners (by a provider, to a
    // fleet) and of users (by a partner admin), each with the token its
    // e-mail carries, valid 7 days; the outbox of "sent" e-mails (sim-cloud
    // has no mail server; QA reads it at GET /_sim/emails).
    M::up(
        r#"
CREATE TABLE invitations (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('PARTNER', 'USER')),
    token TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL COLLATE NOCASE,
    role TEXT NOT NULL CHECK (role IN ('TECHNICIAN', 'ADMIN')),
    name TEXT,
    provider_id TEXT,
    fleet_id TEXT,
    company_id TEXT,
    company_name TEXT,
    invited_by TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('PENDING', 'COMPLETED', 'DECLINED')),
    invited_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    responded_at INTEGER,
    user_id TEXT
);
CREATE INDEX invitations_email ON invitations(email, status);
CREATE INDEX invitations_company ON invitations(company_id);
CREATE INDEX invitations_provider ON invitations(provider_id);
CREATE TABLE sent_emails (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    to_addr TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    invitation_id TEXT NOT NULL,
    token TEXT NOT NULL,
    link TEXT NOT NULL,
    sent_at TEXT NOT NULL
);
"#,
    ),
];

/// Opens (or creates) the database at `path`, or an in-memory one for
/// `None`, and brings its schema up to date.
pub fn open(path: Option<&Path>) -> anyhow::Result<Connection> {
    let mut conn = match path {
        Some(p) => {
            let conn = Connection::open(p)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn
        }
        None => Connection::open_in_memory()?,
    };
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Migrations::from_slice(MIGRATIONS).to_latest(&mut conn)?;
    Ok(conn)
}

/// Takes the next value of the global change sequence.
pub fn next_seq(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "UPDATE seq_counter SET value = value + 1 WHERE id = 1 RETURNING value",
        [],
        |r| r.get(0),
    )
}

/// The current value of the global change sequence.
pub fn current_seq(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT value FROM seq_counter WHERE id = 1", [], |r| {
        r.get(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        assert!(Migrations::from_slice(MIGRATIONS).validate().is_ok());
    }
}
