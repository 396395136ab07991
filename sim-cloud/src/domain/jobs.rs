//! The provider's side of jobs: create (one or bulk), CSV import, edit,
//! delete, assign, unassign, list.

use std::collections::HashMap;

use rusqlite::{Connection as Db, OptionalExtension};
use smartcontrol_cloud_api::site::{validate_serial, validate_vin};
use smartcontrol_cloud_api::work::default_installation_tests;
use smartcontrol_cloud_api::{
    FuelType, InstallationVariant, Job, JobKind, JobReport, JobRequirements, JobStatus,
    RemovalReason, SiteData,
};

use super::grants::{revoke_job_grants, REVOKED_DELETED, REVOKED_UNASSIGNED};
use super::{
    has_accepted_connection, load_job, new_id, read_job, record_removal, rfc3339, save_changed_job,
    write_job, SimAdmin, StoredJob, JOB_SELECT,
};
use crate::error::{SimError, SimResult};
use crate::model::{
    vehicle_catalogue, vehicle_model, ImportResult, JobFilter, JobSpec, NewJob, ProviderJob,
};

/// Most jobs one bulk creation or CSV import may hold.
pub const MAX_IMPORT_ROWS: usize = 1_000;

/// Every column a CSV import understands, in the documented order. The
/// header names the columns a file uses, in any order (each at most once);
/// an unknown column is an error. Empty cells leave the specification to
/// the technician.
pub const CSV_COLUMNS: &[&str] = &[
    "kind",
    "license_plate",
    "vin",
    "custom_name",
    "vehicle_model_id",
    "installation_variant",
    "central_lock_connection_type",
    "fuel_type",
    "hardware",
    "cloudboxx_serial",
    "cloudboxx_config_preset",
    "planned_service_date",
    "required_steps",
    "required_tests",
    "master_data",
    "instructions",
    "assigned_installer_company_id",
];

/// The header line of a file with every column ([`CSV_COLUMNS`] joined).
pub const CSV_HEADER: &str = "kind,license_plate,vin,custom_name,vehicle_model_id,installation_variant,central_lock_connection_type,fuel_type,hardware,cloudboxx_serial,cloudboxx_config_preset,planned_service_date,required_steps,required_tests,master_data,instructions,assigned_installer_company_id";

/// The requirements a specification asks for (its explicit lists, else
/// the kind's documented default, see [`JobRequirements::default_for`]).
pub(crate) fn resolve_requirements(spec: &JobSpec) -> Result<JobRequirements, String> {
    let default = JobRequirements::default_for(&spec.kind);
    let steps = spec.required_steps.clone().unwrap_or(default.steps);
    let vehicle_tests = match (&spec.required_tests, spec.vehicle_tests_required) {
        (Some(t), Some(false)) if !t.is_empty() => {
            return Err(
                "vehicle_tests_required is false but required_tests lists tests: give one of them"
                    .into(),
            )
        }
        (Some(t), Some(true)) if t.is_empty() => {
            return Err(
                "vehicle_tests_required is true but required_tests is empty: list the tests".into(),
            )
        }
        (Some(t), _) => t.clone(),
        (None, Some(false)) => Vec::new(),
        (None, Some(true)) if default.vehicle_tests.is_empty() => default_installation_tests(),
        (None, _) => default.vehicle_tests,
    };
    let req = JobRequirements {
        steps,
        vehicle_tests,
    };
    req.validate()?;
    Ok(req)
}

/// Checks the specification of a job; returns a message for people.
fn validate_spec(spec: &JobSpec) -> Result<(), String> {
    if let JobKind::Other(k) = &spec.kind {
        return Err(format!("unknown kind {k}"));
    }
    if let Some(vin) = &spec.vin {
        validate_vin(vin).map_err(|e| e.to_string())?;
    }
    if let Some(serial) = &spec.cloudboxx_serial {
        validate_serial(serial).map_err(|e| e.to_string())?;
    }
    if let Some(d) = &spec.planned_service_date {
        if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err() {
            return Err(format!("planned_service_date {d:?} must be YYYY-MM-DD"));
        }
    }
    if let Some(InstallationVariant::Other(v)) = &spec.installation_variant {
        return Err(format!("unknown installation_variant {v}"));
    }
    if let Some(FuelType::Other(v)) = &spec.fuel_type {
        return Err(format!("unknown fuel_type {v}"));
    }
    let catalogue = vehicle_catalogue();
    if let Some(m) = &spec.vehicle_model {
        catalogue.find(&m.id).map_err(|e| e.to_string())?;
    }
    if let Some(lock) = &spec.central_lock_connection_type {
        catalogue
            .check_lock(spec.vehicle_model.as_ref().map(|m| m.id.as_str()), lock)
            .map_err(|e| e.to_string())?;
    }
    resolve_requirements(spec)?;
    Ok(())
}

/// `key=value` pairs separated by `;` (a value that parses as a number or
/// true/false is stored as one), or a JSON object.
fn parse_master_data(text: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(text)
            .map_err(|e| format!("master_data is not a JSON object: {e}"));
    }
    let mut out = serde_json::Map::new();
    for pair in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(format!(
                "master_data entry {pair:?} is not key=value (entries are separated by ';')"
            ));
        };
        let v = v.trim();
        let value = serde_json::from_str::<serde_json::Value>(v)
            .ok()
            .filter(|j| j.is_number() || j.is_boolean())
            .unwrap_or_else(|| serde_json::Value::String(v.to_owned()));
        out.insert(k.trim().to_owned(), value);
    }
    Ok(out)
}

/// Name of the provider, or 404.
fn provider_name(conn: &Db, provider_id: &str) -> SimResult<String> {
    conn.query_row(
        "SELECT name FROM providers WHERE id = ?1",
        [provider_id],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| SimError::not_found(format!("no provider {provider_id}")))
}

/// Errors of single items: (index, error).
type RowErrors = Vec<(usize, SimError)>;

/// Validates and inserts jobs; `Err` holds (index, message) of every bad one.
fn insert_new_jobs(
    conn: &Db,
    admin: &SimAdmin,
    provider_id: &str,
    jobs: Vec<NewJob>,
) -> SimResult<Result<Vec<Job>, RowErrors>> {
    let pname = provider_name(conn, provider_id)?;
    let mut fleets: HashMap<String, Option<(String, String)>> = HashMap::new();
    let mut connected: HashMap<(String, String), bool> = HashMap::new();
    let now = rfc3339(admin.now());
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(jobs.len());
    for (i, nj) in jobs.into_iter().enumerate() {
        if !fleets.contains_key(&nj.fleet_id) {
            let f = conn
                .query_row(
                    "SELECT provider_id, name FROM fleets WHERE id = ?1",
                    [&nj.fleet_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            fleets.insert(nj.fleet_id.clone(), f);
        }
        let fleet_name = match fleets.get(&nj.fleet_id).cloned().flatten() {
            None => {
                errors.push((i, SimError::not_found(format!("no fleet {}", nj.fleet_id))));
                continue;
            }
            Some((owner, _)) if owner != provider_id => {
                errors.push((i, SimError::forbidden("fleet of another provider")));
                continue;
            }
            Some((_, name)) => name,
        };
        if let Err(m) = validate_spec(&nj.spec) {
            errors.push((i, SimError::bad_request(m)));
            continue;
        }
        let requirements = match resolve_requirements(&nj.spec) {
            Ok(r) => r,
            Err(m) => {
                errors.push((i, SimError::bad_request(m)));
                continue;
            }
        };
        let mut status = JobStatus::Pending;
        if let Some(company) = nj.assigned_company_id.as_deref().filter(|c| !c.is_empty()) {
            let key = (nj.fleet_id.clone(), company.to_owned());
            let ok = match connected.get(&key) {
                Some(ok) => *ok,
                None => {
                    let ok = has_accepted_connection(conn, &nj.fleet_id, company)?;
                    connected.insert(key, ok);
                    ok
                }
            };
            if !ok {
                errors.push((
                    i,
                    SimError::conflict(format!(
                        "company {company} has no accepted connection to the fleet"
                    )),
                ));
                continue;
            }
            status = JobStatus::Assigned;
        }
        if !errors.is_empty() {
            continue;
        }
        let s = nj.spec;
        let job = Job {
            cloudboxx_serial: s.cloudboxx_serial,
            id: new_id(),
            provider_id: provider_id.to_owned(),
            provider_name: pname.clone(),
            fleet_id: nj.fleet_id,
            fleet_name,
            kind: s.kind,
            status,
            vin: s.vin,
            license_plate: s.license_plate,
            custom_name: s.custom_name,
            vehicle_model: s.vehicle_model,
            installation_variant: s.installation_variant,
            central_lock_connection_type: s.central_lock_connection_type,
            fuel_type: s.fuel_type,
            hardware: s.hardware,
            cloudboxx_config_preset: s.cloudboxx_config_preset,
            master_data: s.master_data,
            planned_service_date: s.planned_service_date,
            instructions: s.instructions,
            assigned_company_id: nj.assigned_company_id.filter(|c| !c.is_empty()),
            assignee: None,
            installation_started_at: None,
            failure_comment: None,
            vehicle_tests_required: !requirements.vehicle_tests.is_empty(),
            requirements,
            site_data: SiteData::default(),
            version: 1,
            updated_at: now.clone(),
        };
        let seq = crate::db::next_seq(conn)?;
        write_job(conn, &job, seq, &now)?;
        out.push(job);
    }
    if errors.is_empty() {
        Ok(Ok(out))
    } else {
        Ok(Err(errors))
    }
}

fn spec_of(job: &Job) -> JobSpec {
    JobSpec {
        kind: job.kind.clone(),
        vin: job.vin.clone(),
        license_plate: job.license_plate.clone(),
        custom_name: job.custom_name.clone(),
        vehicle_model: job.vehicle_model.clone(),
        installation_variant: job.installation_variant.clone(),
        central_lock_connection_type: job.central_lock_connection_type.clone(),
        fuel_type: job.fuel_type.clone(),
        hardware: job.hardware.clone(),
        cloudboxx_serial: job.cloudboxx_serial.clone(),
        cloudboxx_config_preset: job.cloudboxx_config_preset.clone(),
        master_data: job.master_data.clone(),
        planned_service_date: job.planned_service_date.clone(),
        instructions: job.instructions.clone(),
        vehicle_tests_required: None,
        required_steps: Some(job.requirements.steps.clone()),
        required_tests: Some(job.requirements.vehicle_tests.clone()),
    }
}

fn load_report(conn: &Db, job_id: &str) -> SimResult<Option<JobReport>> {
    let s: Option<String> = conn
        .query_row(
            "SELECT report FROM job_reports WHERE job_id = ?1",
            [job_id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(s.and_then(|s| serde_json::from_str(&s).ok()))
}

fn provider_job(conn: &Db, stored: StoredJob) -> SimResult<ProviderJob> {
    let report = load_report(conn, &stored.job.id)?;
    Ok(ProviderJob {
        job: stored.job,
        report,
        created_at: stored.created_at,
    })
}

/// Loads a job of `provider_id`: 404 unknown, 403 another provider's.
fn owned_job(conn: &Db, provider_id: &str, job_id: &str) -> SimResult<StoredJob> {
    let stored =
        load_job(conn, job_id)?.ok_or_else(|| SimError::not_found(format!("no job {job_id}")))?;
    if stored.job.provider_id != provider_id {
        return Err(SimError::forbidden("job of another provider"));
    }
    Ok(stored)
}

fn join_errors(errors: &[(usize, SimError)], row_offset: usize) -> SimError {
    let msg = errors
        .iter()
        .take(50)
        .map(|(i, e)| format!("row {}: {}", i + row_offset, e.message))
        .collect::<Vec<_>>()
        .join("; ");
    // One status for all: the shared one, else 400.
    let status = match errors.first() {
        Some((_, first)) if errors.iter().all(|(_, e)| e.status == first.status) => first.clone(),
        _ => SimError::bad_request(""),
    };
    SimError::new(status.status, &status.code, msg)
}

impl SimAdmin {
    /// Creates one job (`POST /api/v1/provider/jobs`); assigned right away
    /// when `assigned_company_id` is set.
    pub fn create_job(&self, provider_id: &str, job: NewJob) -> SimResult<ProviderJob> {
        let mut jobs = self.create_jobs(provider_id, vec![job])?;
        jobs.pop()
            .ok_or_else(|| SimError::internal("no job created"))
    }

    /// Creates up to [`MAX_IMPORT_ROWS`] jobs in one transaction, all or
    /// nothing. On failure the message names every bad item (0-based).
    pub fn create_jobs(&self, provider_id: &str, jobs: Vec<NewJob>) -> SimResult<Vec<ProviderJob>> {
        self.create_jobs_unbounded(provider_id, jobs, Some(MAX_IMPORT_ROWS))
    }

    /// Like [`SimAdmin::create_jobs`] with an optional size limit (seeding).
    pub(crate) fn create_jobs_unbounded(
        &self,
        provider_id: &str,
        jobs: Vec<NewJob>,
        limit: Option<usize>,
    ) -> SimResult<Vec<ProviderJob>> {
        if let Some(limit) = limit {
            if jobs.len() > limit {
                return Err(SimError::too_many_items(format!(
                    "at most {limit} jobs at a time"
                )));
            }
        }
        let created_at = rfc3339(self.now());
        self.with_tx(|tx| match insert_new_jobs(tx, self, provider_id, jobs)? {
            Ok(jobs) => {
                tracing::info!(provider = provider_id, n = jobs.len(), "jobs created");
                Ok(jobs
                    .into_iter()
                    .map(|job| ProviderJob {
                        job,
                        report: None,
                        created_at: created_at.clone(),
                    })
                    .collect())
            }
            Err(errors) => Err(join_errors(&errors, 0)),
        })
    }

    /// `POST /api/v1/provider/jobs/import`: CSV with the header
    /// [`CSV_HEADER`], up to [`MAX_IMPORT_ROWS`] rows (413 beyond), all or
    /// nothing; errors name the 1-based data row.
    pub fn import_csv(
        &self,
        provider_id: &str,
        fleet_id: &str,
        kind: Option<JobKind>,
        csv_text: &str,
    ) -> SimResult<ImportResult> {
        let default_kind = kind.unwrap_or(JobKind::Installation);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .from_reader(csv_text.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| SimError::bad_request(format!("row 0: {e}")))?
            .iter()
            .map(str::to_owned)
            .collect();
        let mut column: HashMap<&str, usize> = HashMap::new();
        for (i, name) in header.iter().enumerate() {
            let Some(known) = CSV_COLUMNS.iter().find(|c| **c == name.as_str()) else {
                return Err(SimError::bad_request(format!(
                    "row 0: unknown column {name:?}; the columns are {}",
                    CSV_COLUMNS.join(",")
                )));
            };
            if column.insert(known, i).is_some() {
                return Err(SimError::bad_request(format!(
                    "row 0: column {name} appears twice"
                )));
            }
        }
        let mut jobs = Vec::new();
        let mut errors: Vec<(usize, SimError)> = Vec::new();
        for (i, rec) in reader.records().enumerate() {
            if i >= MAX_IMPORT_ROWS {
                return Err(SimError::too_many_items(format!(
                    "at most {MAX_IMPORT_ROWS} rows per import"
                )));
            }
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    errors.push((i, SimError::bad_request(e.to_string())));
                    continue;
                }
            };
            let cell = |name: &str| {
                column
                    .get(name)
                    .and_then(|n| rec.get(*n))
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
            };
            let list = |name: &str| {
                cell(name).map(|v| {
                    v.split(['|', ';'])
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
            };
            let master_data = match cell("master_data") {
                None => serde_json::Map::new(),
                Some(text) => match parse_master_data(&text) {
                    Ok(m) => m,
                    Err(e) => {
                        errors.push((i, SimError::bad_request(e)));
                        continue;
                    }
                },
            };
            let spec = JobSpec {
                kind: cell("kind")
                    .map_or(default_kind.clone(), |k| JobKind::from(k.to_uppercase())),
                license_plate: cell("license_plate"),
                vin: cell("vin"),
                custom_name: cell("custom_name"),
                vehicle_model: cell("vehicle_model_id").map(|id| vehicle_model(&id)),
                installation_variant: cell("installation_variant").map(Into::into),
                central_lock_connection_type: cell("central_lock_connection_type").map(Into::into),
                fuel_type: cell("fuel_type").map(Into::into),
                hardware: cell("hardware"),
                cloudboxx_serial: cell("cloudboxx_serial"),
                cloudboxx_config_preset: cell("cloudboxx_config_preset"),
                planned_service_date: cell("planned_service_date"),
                required_steps: list("required_steps")
                    .map(|v| v.into_iter().map(Into::into).collect()),
                required_tests: list("required_tests"),
                master_data,
                instructions: cell("instructions"),
                ..JobSpec::default()
            };
            jobs.push(NewJob {
                fleet_id: fleet_id.to_owned(),
                spec,
                assigned_company_id: cell("assigned_installer_company_id"),
            });
        }
        if !errors.is_empty() {
            return Err(join_errors(&errors, 1));
        }
        self.with_tx(|tx| match insert_new_jobs(tx, self, provider_id, jobs)? {
            Ok(jobs) => Ok(ImportResult {
                created: jobs.len(),
                jobs,
            }),
            Err(errors) => Err(join_errors(&errors, 1)),
        })
    }

    /// `PATCH /api/v1/provider/jobs/{id}`: merges the JSON object into the
    /// job's specification (null clears a field). Only while PENDING, else
    /// 409 `job_locked`.
    pub fn update_job(
        &self,
        provider_id: &str,
        job_id: &str,
        patch: &serde_json::Value,
    ) -> SimResult<ProviderJob> {
        let Some(patch) = patch.as_object() else {
            return Err(SimError::bad_request("the patch must be a JSON object"));
        };
        let now = rfc3339(self.now());
        self.with_tx(|tx| {
            let mut stored = owned_job(tx, provider_id, job_id)?;
            if stored.job.status != JobStatus::Pending {
                return Err(SimError::job_locked("the job is no longer PENDING"));
            }
            let mut spec = serde_json::to_value(spec_of(&stored.job))?;
            if let Some(obj) = spec.as_object_mut() {
                // A new kind brings its default requirements, and the
                // vehicle_tests_required shorthand its default tests, unless
                // the same patch lists them.
                if patch.contains_key("kind") {
                    if !patch.contains_key("required_steps") {
                        obj.remove("required_steps");
                    }
                    if !patch.contains_key("required_tests") {
                        obj.remove("required_tests");
                    }
                }
                if patch.contains_key("vehicle_tests_required")
                    && !patch.contains_key("required_tests")
                {
                    obj.remove("required_tests");
                }
                for (k, v) in patch {
                    obj.insert(k.clone(), v.clone());
                }
            }
            let spec: JobSpec =
                serde_json::from_value(spec).map_err(|e| SimError::bad_request(e.to_string()))?;
            validate_spec(&spec).map_err(SimError::bad_request)?;
            let requirements = resolve_requirements(&spec).map_err(SimError::bad_request)?;
            let j = &mut stored.job;
            j.kind = spec.kind;
            j.vin = spec.vin;
            j.license_plate = spec.license_plate;
            j.custom_name = spec.custom_name;
            j.vehicle_model = spec.vehicle_model;
            j.installation_variant = spec.installation_variant;
            j.central_lock_connection_type = spec.central_lock_connection_type;
            j.fuel_type = spec.fuel_type;
            j.hardware = spec.hardware;
            j.cloudboxx_serial = spec.cloudboxx_serial;
            j.cloudboxx_config_preset = spec.cloudboxx_config_preset;
            j.master_data = spec.master_data;
            j.planned_service_date = spec.planned_service_date;
            j.instructions = spec.instructions;
            j.vehicle_tests_required = !requirements.vehicle_tests.is_empty();
            j.requirements = requirements;
            save_changed_job(tx, j, &now)?;
            provider_job(tx, stored)
        })
    }

    /// `DELETE /api/v1/provider/jobs/{id}`: only while PENDING, else 409
    /// `job_locked`. Companies that had the job before get a DELETED removal.
    pub fn delete_job(&self, provider_id: &str, job_id: &str) -> SimResult<()> {
        let now_ts = self.now().timestamp();
        self.with_tx(|tx| {
            let stored = owned_job(tx, provider_id, job_id)?;
            if stored.job.status != JobStatus::Pending {
                return Err(SimError::job_locked("the job is no longer PENDING"));
            }
            let companies: Vec<String> = tx
                .prepare("SELECT DISTINCT company_id FROM job_removals WHERE job_id = ?1")?
                .query_map([job_id], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for c in companies {
                record_removal(tx, job_id, &c, None, RemovalReason::Deleted.as_str())?;
            }
            revoke_job_grants(tx, job_id, None, REVOKED_DELETED, now_ts)?;
            tx.execute("DELETE FROM jobs WHERE id = ?1", [job_id])?;
            tx.execute("DELETE FROM job_reports WHERE job_id = ?1", [job_id])?;
            Ok(())
        })
    }

    /// `POST /api/v1/provider/jobs/{id}/assign`: PENDING -> ASSIGNED to a
    /// partner with an ACCEPTED connection for the job's fleet.
    pub fn assign_job(
        &self,
        provider_id: &str,
        job_id: &str,
        company_id: &str,
    ) -> SimResult<ProviderJob> {
        let now = rfc3339(self.now());
        self.with_tx(|tx| {
            let mut stored = owned_job(tx, provider_id, job_id)?;
            if stored.job.status != JobStatus::Pending {
                return Err(SimError::job_locked("only PENDING jobs can be assigned"));
            }
            if !has_accepted_connection(tx, &stored.job.fleet_id, company_id)? {
                return Err(SimError::conflict(
                    "the company has no accepted connection to the job's fleet",
                ));
            }
            stored.job.status = JobStatus::Assigned;
            stored.job.assigned_company_id = Some(company_id.to_owned());
            save_changed_job(tx, &mut stored.job, &now)?;
            provider_job(tx, stored)
        })
    }

    /// `POST /api/v1/provider/jobs/{id}/unassign`: the provider withdraws an
    /// ASSIGNED or RUNNING job from the partner -> PENDING; the partner gets
    /// an UNASSIGNED removal.
    pub fn unassign_job(&self, provider_id: &str, job_id: &str) -> SimResult<ProviderJob> {
        let now_t = self.now();
        let now = rfc3339(now_t);
        self.with_tx(|tx| {
            let mut stored = owned_job(tx, provider_id, job_id)?;
            match &stored.job.status {
                JobStatus::Assigned | JobStatus::Running => {}
                JobStatus::Pending => return Err(SimError::conflict("the job is not assigned")),
                _ => return Err(SimError::job_locked("the job is finished")),
            }
            let company = stored.job.assigned_company_id.take().unwrap_or_default();
            stored.job.status = JobStatus::Pending;
            stored.job.assignee = None;
            stored.job.installation_started_at = None;
            save_changed_job(tx, &mut stored.job, &now)?;
            record_removal(
                tx,
                job_id,
                &company,
                None,
                RemovalReason::Unassigned.as_str(),
            )?;
            revoke_job_grants(tx, job_id, None, REVOKED_UNASSIGNED, now_t.timestamp())?;
            provider_job(tx, stored)
        })
    }

    /// `GET /api/v1/provider/jobs`: the provider's jobs, newest change last.
    pub fn list_jobs(&self, provider_id: &str, filter: &JobFilter) -> SimResult<Vec<ProviderJob>> {
        self.with_db(|conn| {
            let mut sql = format!("{JOB_SELECT} WHERE j.provider_id = ?1");
            let mut args: Vec<String> = vec![provider_id.to_owned()];
            if let Some(s) = &filter.status {
                args.push(s.as_str().to_owned());
                sql.push_str(&format!(" AND j.status = ?{}", args.len()));
            }
            if let Some(c) = &filter.company_id {
                args.push(c.clone());
                sql.push_str(&format!(" AND j.assigned_company_id = ?{}", args.len()));
            }
            if let Some(f) = &filter.fleet_id {
                args.push(f.clone());
                sql.push_str(&format!(" AND j.fleet_id = ?{}", args.len()));
            }
            sql.push_str(" ORDER BY j.seq");
            let jobs: Vec<StoredJob> = conn
                .prepare(&sql)?
                .query_map(rusqlite::params_from_iter(args.iter()), read_job)?
                .collect::<Result<_, _>>()?;
            let mut reports: HashMap<String, JobReport> = HashMap::new();
            let mut stmt = conn.prepare(
                "SELECT r.job_id, r.report FROM job_reports r JOIN jobs j ON j.id = r.job_id WHERE j.provider_id = ?1",
            )?;
            let rows = stmt.query_map([provider_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (id, text) = row?;
                if let Ok(rep) = serde_json::from_str(&text) {
                    reports.insert(id, rep);
                }
            }
            Ok(jobs
                .into_iter()
                .map(|s| ProviderJob {
                    report: reports.remove(&s.job.id),
                    job: s.job,
                    created_at: s.created_at,
                })
                .collect())
        })
    }

    /// `GET /api/v1/provider/jobs/{id}`.
    pub fn get_job(&self, provider_id: &str, job_id: &str) -> SimResult<ProviderJob> {
        self.with_db(|conn| {
            let stored = owned_job(conn, provider_id, job_id)?;
            provider_job(conn, stored)
        })
    }

    /// Any job by id, no ownership check (in-process, tests).
    pub fn job(&self, job_id: &str) -> SimResult<ProviderJob> {
        self.with_db(|conn| {
            let stored = load_job(conn, job_id)?
                .ok_or_else(|| SimError::not_found(format!("no job {job_id}")))?;
            provider_job(conn, stored)
        })
    }

    /// Fast bulk insert used by seeding: `n` ASSIGNED jobs (no limit).
    pub(crate) fn insert_assigned_jobs(
        &self,
        provider_id: &str,
        jobs: Vec<NewJob>,
    ) -> SimResult<Vec<String>> {
        Ok(self
            .create_jobs_unbounded(provider_id, jobs, None)?
            .into_iter()
            .map(|j| j.job.id)
            .collect())
    }
}
