//! The domain: every rule of the simulated cloud as synchronous functions on
//! [`SimAdmin`]. The HTTP handlers and the in-process helpers call the same
//! functions.

mod auth;
mod devices;
pub mod grants;
mod jobs;
mod orgs;
mod registration;
mod technician;

pub use auth::{current_totp_code, totp_for_secret, REFRESH_TOKEN_TTL_SECS};
pub use grants::{
    grant_permissions, parse_hex32, to_hex, GRANT_CLOCK_SKEW_SECS, GRANT_VALIDITY_SECS,
    REVOCATION_REASONS,
};
pub use jobs::{CSV_COLUMNS, CSV_HEADER, MAX_IMPORT_ROWS};
pub use orgs::INVITATION_TTL_SECS;
pub use registration::{MAX_PERSON_NAME_CHARS, PASSWORD_CHARS};
pub use technician::Held;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};
use smartcontrol_cloud_api::{Job, Technician, VehicleModel};

use crate::error::{SimError, SimResult};
use crate::model::Role;

/// Direct, in-process access to the simulated cloud's state (no HTTP).
///
/// Cheap to clone; every clone shares the same database and clock.
#[derive(Clone)]
pub struct SimAdmin {
    inner: Arc<Inner>,
}

struct Inner {
    db: Mutex<Connection>,
    clock_offset_secs: AtomicI64,
    access_token_ttl_secs: AtomicI64,
}

/// The signed-in user behind a token, as the domain functions need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    /// User id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Login e-mail.
    pub email: String,
    /// Role.
    pub role: Role,
    /// The service partner (TECHNICIAN and ADMIN).
    pub company_id: Option<String>,
    /// The provider (PROVIDER).
    pub provider_id: Option<String>,
    /// Name of the service partner or provider.
    pub org_name: String,
    /// The phone's Ed25519 public key sent at login (carried across
    /// refresh); access grants of this session name it.
    pub phone_public_key: Option<[u8; 32]>,
}

impl AuthUser {
    /// The partner company id, or 403 for provider users.
    pub fn company(&self) -> SimResult<&str> {
        self.company_id
            .as_deref()
            .ok_or_else(|| SimError::forbidden("not a service partner user"))
    }
    /// The provider id, or 403 for partner users.
    pub fn provider(&self) -> SimResult<&str> {
        match (self.role, self.provider_id.as_deref()) {
            (Role::Provider, Some(p)) => Ok(p),
            _ => Err(SimError::forbidden("provider role required")),
        }
    }
    /// The company id of a partner ADMIN, or 403.
    pub fn admin_company(&self) -> SimResult<&str> {
        match (self.role, self.company_id.as_deref()) {
            (Role::Admin, Some(c)) => Ok(c),
            _ => Err(SimError::forbidden("partner admin role required")),
        }
    }
    /// Fails with 403 unless the user is a technician.
    pub fn require_technician(&self) -> SimResult<&str> {
        match (self.role, self.company_id.as_deref()) {
            (Role::Technician, Some(c)) => Ok(c),
            _ => Err(SimError::forbidden("technician role required")),
        }
    }
}

/// Formats a time as RFC 3339 with milliseconds.
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Formats a unix time as RFC 3339.
pub(crate) fn rfc3339_ts(ts: i64) -> String {
    DateTime::<Utc>::from_timestamp(ts, 0).map_or_else(|| ts.to_string(), rfc3339)
}

/// A new random id.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl SimAdmin {
    /// Wraps an opened, migrated database.
    pub(crate) fn new(conn: Connection, access_token_ttl_secs: i64) -> Self {
        SimAdmin {
            inner: Arc::new(Inner {
                db: Mutex::new(conn),
                clock_offset_secs: AtomicI64::new(0),
                access_token_ttl_secs: AtomicI64::new(access_token_ttl_secs),
            }),
        }
    }

    /// The simulated cloud's "now": wall clock plus the offset set with
    /// [`SimAdmin::advance_clock`].
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::seconds(self.inner.clock_offset_secs.load(Ordering::SeqCst))
    }

    /// Moves the simulated clock forward by `secs` (negative: backwards).
    /// Affects token and invitation expiry (not TOTP, which uses wall time).
    pub fn advance_clock(&self, secs: i64) {
        self.inner
            .clock_offset_secs
            .fetch_add(secs, Ordering::SeqCst);
        tracing::info!(secs, "simulated clock advanced");
    }

    /// Seconds the simulated clock is ahead of the wall clock (negative:
    /// behind).
    pub fn clock_offset(&self) -> i64 {
        self.inner.clock_offset_secs.load(Ordering::SeqCst)
    }

    /// Sets the simulated clock to `t` (it runs on from there).
    pub fn set_clock(&self, t: DateTime<Utc>) {
        let offset = ((t - Utc::now()).num_milliseconds() + 500).div_euclid(1000);
        self.inner.clock_offset_secs.store(offset, Ordering::SeqCst);
        tracing::info!(offset, now = %rfc3339(t), "simulated clock set");
    }

    /// Lifetime of newly issued access tokens.
    pub fn set_access_token_ttl(&self, secs: i64) {
        self.inner
            .access_token_ttl_secs
            .store(secs, Ordering::SeqCst);
    }

    pub(crate) fn access_ttl(&self) -> i64 {
        self.inner.access_token_ttl_secs.load(Ordering::SeqCst)
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.inner
            .db
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on the connection (no transaction).
    pub(crate) fn with_db<T>(&self, f: impl FnOnce(&Connection) -> SimResult<T>) -> SimResult<T> {
        let conn = self.lock();
        f(&conn)
    }

    /// Runs `f` in one transaction, committed when `f` succeeds.
    pub(crate) fn with_tx<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> SimResult<T>,
    ) -> SimResult<T> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs raw SQL for tests and QA (e.g. to inspect tables).
    pub fn execute_sql(&self, sql: &str) -> SimResult<()> {
        self.with_db(|c| Ok(c.execute_batch(sql)?))
    }

    /// Number of rows of a table (tests).
    pub fn count_rows(&self, table: &str) -> SimResult<i64> {
        if !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(SimError::bad_request("bad table name"));
        }
        self.with_db(|c| {
            Ok(c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?)
        })
    }
}

/// Columns of [`read_job`], in order.
pub(crate) const JOB_SELECT: &str =
    "SELECT j.id, j.provider_id, p.name, j.fleet_id, f.name, j.kind, j.status, \
     j.vin, j.license_plate, j.custom_name, j.vehicle_model_id, j.vehicle_model_name, \
     j.installation_variant, j.central_lock_connection_type, j.fuel_type, j.hardware, \
     j.cloudboxx_config_preset, j.master_data, j.planned_service_date, j.instructions, \
     j.assigned_company_id, j.assignee_id, j.assignee_name, j.installation_started_at, \
     j.failure_comment, j.vehicle_tests_required, j.version, j.updated_at, j.seq, j.created_at, \
     j.cloudboxx_serial, j.requirements, j.site_data \
     FROM jobs j JOIN fleets f ON f.id = j.fleet_id JOIN providers p ON p.id = j.provider_id";

/// A job with its storage-only columns.
#[derive(Debug, Clone)]
pub(crate) struct StoredJob {
    pub job: Job,
    pub seq: i64,
    pub created_at: String,
}

/// Reads one row of [`JOB_SELECT`].
pub(crate) fn read_job(r: &Row<'_>) -> rusqlite::Result<StoredJob> {
    let opt = |i: usize| r.get::<_, Option<String>>(i);
    let model_id: Option<String> = opt(10)?;
    let model_name: Option<String> = opt(11)?;
    let master: String = r.get(17)?;
    let assignee_id: Option<String> = opt(21)?;
    let assignee_name: Option<String> = opt(22)?;
    let job = Job {
        cloudboxx_serial: opt(30)?,
        id: r.get(0)?,
        provider_id: r.get(1)?,
        provider_name: r.get(2)?,
        fleet_id: r.get(3)?,
        fleet_name: r.get(4)?,
        kind: r.get::<_, String>(5)?.into(),
        status: r.get::<_, String>(6)?.into(),
        vin: opt(7)?,
        license_plate: opt(8)?,
        custom_name: opt(9)?,
        vehicle_model: model_id.map(|id| VehicleModel {
            name: model_name.unwrap_or_else(|| id.clone()),
            id,
        }),
        installation_variant: opt(12)?.map(Into::into),
        central_lock_connection_type: opt(13)?.map(Into::into),
        fuel_type: opt(14)?.map(Into::into),
        hardware: opt(15)?,
        cloudboxx_config_preset: opt(16)?,
        master_data: serde_json::from_str(&master).unwrap_or_default(),
        planned_service_date: opt(18)?,
        instructions: opt(19)?,
        assigned_company_id: opt(20)?,
        assignee: assignee_id.map(|id| Technician {
            name: assignee_name.unwrap_or_default(),
            id,
        }),
        installation_started_at: opt(23)?,
        failure_comment: opt(24)?,
        vehicle_tests_required: r.get::<_, i64>(25)? != 0,
        requirements: serde_json::from_str(&r.get::<_, String>(31)?).unwrap_or_default(),
        site_data: serde_json::from_str(&r.get::<_, String>(32)?).unwrap_or_default(),
        version: r.get(26)?,
        updated_at: r.get(27)?,
    };
    Ok(StoredJob {
        job,
        seq: r.get(28)?,
        created_at: r.get(29)?,
    })
}

/// Loads one job by id.
pub(crate) fn load_job(conn: &Connection, id: &str) -> SimResult<Option<StoredJob>> {
    Ok(conn
        .query_row(&format!("{JOB_SELECT} WHERE j.id = ?1"), [id], read_job)
        .optional()?)
}

/// Writes a job row: inserts it, or updates every mutable column of an
/// existing one (`created_at`, provider and fleet are kept from the insert).
pub(crate) fn write_job(conn: &Connection, job: &Job, seq: i64, created_at: &str) -> SimResult<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO jobs (id, provider_id, fleet_id, kind, status, vin, license_plate, custom_name, \
         vehicle_model_id, vehicle_model_name, installation_variant, central_lock_connection_type, \
         fuel_type, hardware, cloudboxx_config_preset, master_data, planned_service_date, instructions, \
         assigned_company_id, assignee_id, assignee_name, installation_started_at, failure_comment, \
         vehicle_tests_required, version, updated_at, created_at, seq, cloudboxx_serial, \
         requirements, site_data) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, \
         ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31) \
         ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, status = excluded.status, \
         vin = excluded.vin, license_plate = excluded.license_plate, \
         custom_name = excluded.custom_name, vehicle_model_id = excluded.vehicle_model_id, \
         vehicle_model_name = excluded.vehicle_model_name, \
         installation_variant = excluded.installation_variant, \
         central_lock_connection_type = excluded.central_lock_connection_type, \
         fuel_type = excluded.fuel_type, hardware = excluded.hardware, \
         cloudboxx_config_preset = excluded.cloudboxx_config_preset, \
         master_data = excluded.master_data, planned_service_date = excluded.planned_service_date, \
         instructions = excluded.instructions, assigned_company_id = excluded.assigned_company_id, \
         assignee_id = excluded.assignee_id, assignee_name = excluded.assignee_name, \
         installation_started_at = excluded.installation_started_at, \
         failure_comment = excluded.failure_comment, \
         vehicle_tests_required = excluded.vehicle_tests_required, version = excluded.version, \
         updated_at = excluded.updated_at, seq = excluded.seq, \
         cloudboxx_serial = excluded.cloudboxx_serial, requirements = excluded.requirements, \
         site_data = excluded.site_data",
    )?;
    stmt.execute(params![
        job.id,
        job.provider_id,
        job.fleet_id,
        job.kind.as_str(),
        job.status.as_str(),
        job.vin,
        job.license_plate,
        job.custom_name,
        job.vehicle_model.as_ref().map(|m| m.id.as_str()),
        job.vehicle_model.as_ref().map(|m| m.name.as_str()),
        job.installation_variant.as_ref().map(|v| v.as_str()),
        job.central_lock_connection_type
            .as_ref()
            .map(|v| v.as_str()),
        job.fuel_type.as_ref().map(|v| v.as_str()),
        job.hardware,
        job.cloudboxx_config_preset,
        serde_json::to_string(&job.master_data)?,
        job.planned_service_date,
        job.instructions,
        job.assigned_company_id,
        job.assignee.as_ref().map(|t| t.id.as_str()),
        job.assignee.as_ref().map(|t| t.name.as_str()),
        job.installation_started_at,
        job.failure_comment,
        !job.requirements.vehicle_tests.is_empty(),
        job.version,
        job.updated_at,
        created_at,
        seq,
        job.cloudboxx_serial,
        serde_json::to_string(&job.requirements)?,
        serde_json::to_string(&job.site_data)?,
    ])?;
    Ok(())
}

/// Bumps version, `updated_at` and the change sequence, and stores the job.
pub(crate) fn save_changed_job(conn: &Connection, job: &mut Job, now: &str) -> SimResult<i64> {
    job.version += 1;
    job.updated_at = now.to_owned();
    let seq = crate::db::next_seq(conn)?;
    write_job(conn, job, seq, &job.updated_at)?;
    Ok(seq)
}

/// Records that a job left a company's (or one technician's) reach.
pub(crate) fn record_removal(
    conn: &Connection,
    job_id: &str,
    company_id: &str,
    except_technician_id: Option<&str>,
    reason: &str,
) -> SimResult<()> {
    let seq = crate::db::next_seq(conn)?;
    conn.prepare_cached(
        "INSERT INTO job_removals (seq, job_id, company_id, technician_id, except_technician_id, reason) \
         VALUES (?1, ?2, ?3, NULL, ?4, ?5)",
    )?
    .execute(params![seq, job_id, company_id, except_technician_id, reason])?;
    Ok(())
}

/// Whether `company_id` has an ACCEPTED connection for `fleet_id`.
pub(crate) fn has_accepted_connection(
    conn: &Connection,
    fleet_id: &str,
    company_id: &str,
) -> SimResult<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM connections WHERE fleet_id = ?1 AND company_id = ?2 AND status = 'ACCEPTED' LIMIT 1",
        )?
        .query_row([fleet_id, company_id], |_| Ok(()))
        .optional()?
        .is_some())
}
