//! The technician API: changes feed and action push.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection as Db, OptionalExtension};
use sha2::{Digest, Sha256};
use smartcontrol_cloud_api::site::{normalize_plate, validate_master_data, validate_vin};
use smartcontrol_cloud_api::work::{describe_missing, missing_work};
use smartcontrol_cloud_api::{
    AccessGrantEnvelope, Action, ActionOutcome, ActionRequest, ActionResult, ChangesResponse, Job,
    JobKind, JobStatus, PushActionsRequest, PushActionsResponse, RejectReason, RemovalReason,
    RemovedJob, SiteData, Technician, MAX_ACTIONS_PER_PUSH, MAX_CHANGES_PAGE,
};

use super::devices::{record_attestation, record_vehicle, registered_in_fleet, verify_attestation};
use super::grants::{
    ensure_grant, revocation_list, revoke_job_grants, revoke_superseded, REVOKED_FAILED,
    REVOKED_SUCCEEDED, REVOKED_TAKEN_OVER, REVOKED_WITHDRAWN,
};
use super::{
    has_accepted_connection, load_job, read_job, record_removal, rfc3339, save_changed_job,
    AuthUser, SimAdmin, StoredJob, JOB_SELECT,
};
use crate::error::{SimError, SimResult};
use crate::model::{vehicle_catalogue, CATALOGUE_VERSION};

/// Whether technician `tech_id` of `company_id` may see `job` (given the
/// fleet connection is ACCEPTED).
fn visible_to(job: &Job, company_id: &str, tech_id: &str) -> bool {
    if job.assigned_company_id.as_deref() != Some(company_id) {
        return false;
    }
    match &job.status {
        JobStatus::Assigned | JobStatus::Running => true,
        JobStatus::Succeeded | JobStatus::Failed => {
            job.assignee.as_ref().is_some_and(|a| a.id == tech_id)
        }
        _ => false,
    }
}

struct Rejection {
    reason: RejectReason,
    message: String,
}

fn reject(reason: RejectReason, message: impl Into<String>) -> Rejection {
    Rejection {
        reason,
        message: message.into(),
    }
}

/// The job as the technician may see it now, if at all.
fn visible_job(conn: &Db, job_id: &str, company_id: &str, tech_id: &str) -> SimResult<Option<Job>> {
    let Some(stored) = load_job(conn, job_id)? else {
        return Ok(None);
    };
    if visible_to(&stored.job, company_id, tech_id)
        && has_accepted_connection(conn, &stored.job.fleet_id, company_id)?
    {
        Ok(Some(stored.job))
    } else {
        Ok(None)
    }
}

/// Explains why a job is out of the company's reach.
fn unreachable_reason(
    conn: &Db,
    job: Option<&StoredJob>,
    job_id: &str,
    company_id: &str,
    tech_id: &str,
) -> SimResult<Rejection> {
    if let Some(s) = job {
        if s.job.assigned_company_id.as_deref() == Some(company_id) && s.job.status.is_final() {
            let holder = s.job.assignee.as_ref().map_or("", |a| a.id.as_str());
            if holder != tech_id {
                return Ok(reject(
                    RejectReason::TakenOver,
                    "another technician finished the job",
                ));
            }
        }
    }
    let reason: Option<String> = conn
        .query_row(
            "SELECT reason FROM job_removals WHERE job_id = ?1 AND company_id = ?2 ORDER BY seq DESC LIMIT 1",
            [job_id, company_id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(match reason.map(RemovalReason::from) {
        Some(RemovalReason::Unassigned) => {
            reject(RejectReason::Unassigned, "the provider withdrew the job")
        }
        Some(RemovalReason::ConnectionDeleted) => reject(
            RejectReason::ConnectionDeleted,
            "the fleet connection was deleted",
        ),
        Some(RemovalReason::TakenOver) => {
            reject(RejectReason::TakenOver, "another technician holds the job")
        }
        _ => reject(RejectReason::NotFound, "no such job"),
    })
}

fn is_holder(job: &Job, tech_id: &str) -> bool {
    job.assignee.as_ref().is_some_and(|a| a.id == tech_id)
}

/// Applies one action; `Ok(Err)` is a rejection, `Ok(Ok((job, grant)))`
/// the new job and, for a claim or take-over, the access grant for it.
fn apply_one(
    conn: &Db,
    tech: &AuthUser,
    company_id: &str,
    req: &ActionRequest,
    now: &str,
    now_ts: i64,
) -> SimResult<Result<(Job, Option<AccessGrantEnvelope>), Rejection>> {
    let stored = load_job(conn, &req.job_id)?;
    let reachable = match &stored {
        Some(s) => {
            visible_to(&s.job, company_id, &tech.id)
                && has_accepted_connection(conn, &s.job.fleet_id, company_id)?
        }
        None => false,
    };
    let mut job = match (stored, reachable) {
        (Some(s), true) => s.job,
        (s, _) => {
            return Ok(Err(unreachable_reason(
                conn,
                s.as_ref(),
                &req.job_id,
                company_id,
                &tech.id,
            )?))
        }
    };
    let me = Technician {
        id: tech.id.clone(),
        name: tech.name.clone(),
    };
    let mine = is_holder(&job, &tech.id);
    let status = job.status.clone();
    let taken = || reject(RejectReason::TakenOver, "another technician holds the job");
    let invalid = |what: &str| {
        reject(
            RejectReason::InvalidTransition,
            format!("cannot {what} a job in status {status}"),
        )
    };
    let mut changed = true;
    match &req.action {
        Action::Claim => match &job.status {
            JobStatus::Assigned => {
                job.status = JobStatus::Running;
                job.assignee = Some(me);
                job.installation_started_at = None;
            }
            JobStatus::Running if mine => changed = false,
            JobStatus::Running => return Ok(Err(taken())),
            _ => return Ok(Err(invalid("claim"))),
        },
        Action::Withdraw => match &job.status {
            JobStatus::Running if mine => {
                job.status = JobStatus::Assigned;
                job.assignee = None;
                job.installation_started_at = None;
            }
            JobStatus::Running => return Ok(Err(taken())),
            _ => return Ok(Err(invalid("withdraw"))),
        },
        Action::TakeOver => match &job.status {
            JobStatus::Running if mine => changed = false,
            JobStatus::Assigned | JobStatus::Running => {
                job.status = JobStatus::Running;
                job.assignee = Some(me);
                job.installation_started_at = None;
            }
            _ => return Ok(Err(invalid("take over"))),
        },
        Action::StartInstallation => match &job.status {
            JobStatus::Running if mine => {
                if job.installation_started_at.is_some() {
                    changed = false;
                } else {
                    job.installation_started_at = Some(req.performed_at.clone());
                }
            }
            JobStatus::Running => return Ok(Err(taken())),
            _ => return Ok(Err(invalid("start the installation of"))),
        },
        Action::CompleteSucceeded { report } => match &job.status {
            JobStatus::Running if mine => {
                let effective = job.effective();
                let mut attested = None;
                if !effective.requirements.is_empty() {
                    let fields = match verify_attestation(
                        conn,
                        &effective,
                        &tech.id,
                        report.attestation.as_deref(),
                    )? {
                        Ok(f) => f,
                        Err(why) => return Ok(Err(reject(RejectReason::UntrustedResults, why))),
                    };
                    let missing = missing_work(&effective, Some(&fields));
                    if !missing.is_empty() {
                        return Ok(Err(reject(
                            RejectReason::RequirementsNotMet,
                            format!(
                                "the job's required work is not done in the latest run: {}",
                                describe_missing(&missing)
                            ),
                        )));
                    }
                    record_attestation(conn, &fields, now)?;
                    attested = Some(fields);
                }
                job.status = JobStatus::Succeeded;
                store_report(conn, &job.id, report, None, &tech.id, now)?;
                if let Some(f) = &attested {
                    if effective.kind == JobKind::Installation {
                        record_vehicle(conn, &effective, f, now)?;
                    }
                }
            }
            JobStatus::Running => return Ok(Err(taken())),
            _ => return Ok(Err(invalid("complete"))),
        },
        Action::EnterSiteData { data } => match &job.status {
            JobStatus::Running if mine => match check_site_data(conn, &job, data)? {
                Ok(clean) => {
                    let merged = job.site_data.merged(&clean);
                    if merged == job.site_data {
                        changed = false;
                    } else {
                        job.site_data = merged;
                    }
                }
                Err(rej) => return Ok(Err(rej)),
            },
            JobStatus::Running => return Ok(Err(taken())),
            _ => return Ok(Err(invalid("enter site data for"))),
        },
        Action::CompleteFailed { comment, report } => {
            if comment.trim().is_empty() {
                return Ok(Err(reject(
                    RejectReason::Invalid,
                    "a failed job requires a comment",
                )));
            }
            match &job.status {
                JobStatus::Running if mine => {
                    job.status = JobStatus::Failed;
                    job.failure_comment = Some(comment.clone());
                    store_report(conn, &job.id, report, Some(comment), &tech.id, now)?;
                }
                JobStatus::Running => return Ok(Err(taken())),
                _ => return Ok(Err(invalid("complete"))),
            }
        }
    }
    if changed {
        save_changed_job(conn, &mut job, now)?;
        if job.status.is_final() {
            // Colleagues saw it as a colleague's RUNNING job; now it is gone for them.
            record_removal(
                conn,
                &job.id,
                company_id,
                Some(&tech.id),
                RemovalReason::TakenOver.as_str(),
            )?;
        }
    }
    let grant = match &req.action {
        Action::Claim | Action::TakeOver => {
            if changed {
                // Whoever held the job before loses access.
                revoke_job_grants(conn, &job.id, Some(&tech.id), REVOKED_TAKEN_OVER, now_ts)?;
            }
            ensure_grant(conn, &job, tech, now_ts)?
        }
        Action::Withdraw => {
            revoke_job_grants(conn, &job.id, None, REVOKED_WITHDRAWN, now_ts)?;
            None
        }
        Action::CompleteSucceeded { .. } => {
            revoke_job_grants(conn, &job.id, None, REVOKED_SUCCEEDED, now_ts)?;
            None
        }
        Action::CompleteFailed { .. } => {
            revoke_job_grants(conn, &job.id, None, REVOKED_FAILED, now_ts)?;
            None
        }
        // A serial or VIN entered on site changes what the grant opens.
        Action::StartInstallation | Action::EnterSiteData { .. } => {
            ensure_grant(conn, &job, tech, now_ts)?
        }
    };
    Ok(Ok((job, grant)))
}

/// Validates what the technician entered against the job (only fields
/// the provider left empty) and the rules of [`smartcontrol_cloud_api::site`]:
/// the values as stored, or the rejection.
fn check_site_data(
    conn: &Db,
    job: &Job,
    data: &SiteData,
) -> SimResult<Result<SiteData, Rejection>> {
    let invalid = |m: String| Ok(Err(reject(RejectReason::Invalid, m)));
    if data.is_empty() {
        return invalid("nothing to enter: give at least one value".into());
    }
    for field in data.fields() {
        if job.specified_by_provider(&field) {
            return Ok(Err(reject(
                RejectReason::SpecifiedByProvider,
                format!("the provider specified {field}: it cannot be changed on site"),
            )));
        }
    }
    let mut clean = data.clone();
    if let Some(vin) = &data.vin {
        if let Err(e) = validate_vin(vin) {
            return invalid(e.to_string());
        }
    }
    if let Some(p) = &data.license_plate {
        match normalize_plate(p) {
            Ok(p) => clean.license_plate = Some(p),
            Err(e) => return invalid(e.to_string()),
        }
    }
    let catalogue = vehicle_catalogue();
    if let Some(m) = &data.vehicle_model {
        match catalogue.find(&m.id) {
            Ok(entry) => clean.vehicle_model = Some(entry.model()),
            Err(e) => return invalid(e.to_string()),
        }
    }
    if let Some(lock) = &data.central_lock_connection_type {
        let model = clean
            .vehicle_model
            .as_ref()
            .or(job.effective().vehicle_model.as_ref())
            .map(|m| m.id.clone());
        if let Err(e) = catalogue.check_lock(model.as_deref(), lock) {
            return invalid(e.to_string());
        }
    }
    if let Err(e) = validate_master_data(&data.master_data) {
        return invalid(e.to_string());
    }
    if let Some(serial) = &data.cloudboxx_serial {
        if let Err(e) = smartcontrol_cloud_api::site::validate_serial(serial) {
            return invalid(e.to_string());
        }
        if !registered_in_fleet(conn, serial, &job.fleet_id)? {
            return Ok(Err(reject(
                RejectReason::UnknownDevice,
                format!(
                    "CloudBoxx {serial} is not registered in the fleet {}: check the serial on the unit's label",
                    job.fleet_name
                ),
            )));
        }
    }
    Ok(Ok(clean))
}

fn store_report(
    conn: &Db,
    job_id: &str,
    report: &smartcontrol_cloud_api::JobReport,
    comment: Option<&String>,
    tech_id: &str,
    now: &str,
) -> SimResult<()> {
    conn.execute(
        "INSERT OR REPLACE INTO job_reports (job_id, report, comment, technician_id, submitted_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![job_id, serde_json::to_string(report)?, comment, tech_id, now],
    )?;
    Ok(())
}

/// Earliest `performed_at` accepted (RFC 3339).
pub const PERFORMED_AT_EARLIEST: &str = "2020-01-01T00:00:00Z";
/// How far `performed_at` may lie before the cloud's clock (an offline
/// queue of up to a year).
pub const PERFORMED_AT_MAX_AGE_SECS: i64 = 365 * 24 * 3600;
/// How far `performed_at` may lie after the cloud's clock (phone clock
/// skew).
pub const PERFORMED_AT_MAX_AHEAD_SECS: i64 = 300;

/// Checks that `performed_at` is RFC 3339 and in the accepted window
/// around `now`; the message says what is wrong.
fn check_performed_at(performed_at: &str, now: DateTime<Utc>) -> Result<(), String> {
    let t = DateTime::parse_from_rfc3339(performed_at)
        .map_err(|e| {
            format!("performed_at {performed_at:?} is not an RFC 3339 time ({e}), e.g. 2026-05-04T10:15:00Z")
        })?
        .with_timezone(&Utc);
    let earliest = DateTime::parse_from_rfc3339(PERFORMED_AT_EARLIEST)
        .map_or(t, |e| e.with_timezone(&Utc))
        .max(now - chrono::Duration::seconds(PERFORMED_AT_MAX_AGE_SECS));
    let latest = now + chrono::Duration::seconds(PERFORMED_AT_MAX_AHEAD_SECS);
    if t < earliest {
        return Err(format!(
            "performed_at {performed_at} is before {}: check the phone's clock",
            rfc3339(earliest)
        ));
    }
    if t > latest {
        return Err(format!(
            "performed_at {performed_at} is more than {PERFORMED_AT_MAX_AHEAD_SECS} s after the cloud's clock ({}): check the phone's clock",
            rfc3339(now)
        ));
    }
    Ok(())
}

/// SHA-256 (hex) of the canonical JSON of an action: what a repeated
/// idempotency key must carry again.
fn action_fingerprint(a: &ActionRequest) -> SimResult<String> {
    let canonical = serde_json::to_vec(a)?;
    Ok(super::to_hex(&Sha256::digest(&canonical)))
}

/// What the phone says it holds (query parameters of the changes feed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Held {
    /// Grant ids (32 hex digits).
    pub grants: Vec<String>,
    /// `(device serial, sequence)` of each revocation list.
    pub revocations: Vec<(String, u64)>,
}

impl Held {
    /// Parses the `grants` and `revocations` query parameters; 400 on a
    /// malformed entry.
    pub fn parse(grants: Option<&str>, revocations: Option<&str>) -> SimResult<Held> {
        let items = |s: Option<&str>| {
            s.unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let grants = items(grants);
        if grants.len() > 1000 {
            return Err(SimError::bad_request("at most 1000 held grants"));
        }
        if let Some(g) = grants
            .iter()
            .find(|g| g.len() != 32 || !g.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(SimError::bad_request(format!(
                "grants: {g:?} is not a grant id (32 hex digits)"
            )));
        }
        let revocations = items(revocations)
            .into_iter()
            .map(|item| {
                let (serial, seq) = item.rsplit_once(':').ok_or_else(|| {
                    SimError::bad_request(format!("revocations: {item:?} is not SERIAL:SEQUENCE"))
                })?;
                let seq = seq.parse::<u64>().map_err(|_| {
                    SimError::bad_request(format!("revocations: {item:?} has no numeric sequence"))
                })?;
                Ok((serial.to_owned(), seq))
            })
            .collect::<SimResult<Vec<_>>>()?;
        Ok(Held {
            grants: grants.into_iter().map(|g| g.to_lowercase()).collect(),
            revocations,
        })
    }
}

struct Access {
    grants: Vec<AccessGrantEnvelope>,
    revoked_grants: Vec<String>,
    revocation_lists: Vec<smartcontrol_cloud_api::RevocationListEnvelope>,
}

/// Grants, revoked grants and revocation lists for the technician's
/// running jobs, given what the phone holds.
fn access_for(
    conn: &Db,
    tech: &AuthUser,
    company_id: &str,
    held: &Held,
    now_ts: i64,
) -> SimResult<Access> {
    let mut stmt = conn.prepare_cached(&format!(
        "{JOB_SELECT} WHERE j.assigned_company_id = ?1 AND j.status = 'RUNNING' AND j.assignee_id = ?2 \
         AND EXISTS (SELECT 1 FROM connections c WHERE c.fleet_id = j.fleet_id AND c.company_id = ?1 AND c.status = 'ACCEPTED') \
         ORDER BY j.seq"
    ))?;
    let running: Vec<StoredJob> = stmt
        .query_map(params![company_id, tech.id], read_job)?
        .collect::<Result<_, _>>()?;
    let mut grants = Vec::new();
    let mut live_ids = HashSet::new();
    let mut serials = Vec::new();
    for r in &running {
        let Some(g) = ensure_grant(conn, &r.job, tech, now_ts)? else {
            continue;
        };
        if let Some(serial) = r.job.effective().cloudboxx_serial {
            serials.push(serial);
        }
        if held.grants.contains(&g.grant_id) {
            revoke_superseded(conn, &g.grant_id, &tech.id, now_ts)?;
        } else {
            grants.push(g.clone());
        }
        live_ids.insert(g.grant_id);
    }
    let revoked_grants = held
        .grants
        .iter()
        .filter(|g| !live_ids.contains(*g))
        .cloned()
        .collect();
    let mut revocation_lists = Vec::new();
    serials.sort();
    serials.dedup();
    for serial in serials {
        let phone_has = held
            .revocations
            .iter()
            .find(|(s, _)| *s == serial)
            .map_or(0, |(_, seq)| *seq);
        if let Some(list) = revocation_list(conn, &serial, now_ts)? {
            if list.sequence > phone_has {
                revocation_lists.push(list);
            }
        }
    }
    Ok(Access {
        grants,
        revoked_grants,
        revocation_lists,
    })
}

impl SimAdmin {
    /// `GET /api/v1/technician/vehicle-models`: the vehicle catalogue. 403
    /// unless the user is a technician.
    pub fn vehicle_models(
        &self,
        tech: &AuthUser,
    ) -> SimResult<smartcontrol_cloud_api::site::VehicleCatalogue> {
        tech.require_technician()?;
        Ok(vehicle_catalogue())
    }

    /// `GET /api/v1/technician/changes`: jobs in the technician's reach
    /// changed after `since` (global change sequence as a string), and
    /// removals, and the access grants for the requesting technician's
    /// RUNNING jobs among the page's jobs (issued, or re-issued for this
    /// session's phone key, when there is no live one). 403 unless the user
    /// is a technician.
    pub fn changes(
        &self,
        tech: &AuthUser,
        since: Option<&str>,
        limit: Option<usize>,
    ) -> SimResult<ChangesResponse> {
        self.changes_holding(tech, since, limit, &Held::default())
    }

    /// [`SimAdmin::changes`] for a phone that holds `held` grants and
    /// revocation lists: grants for every RUNNING job of the technician
    /// that the phone does not hold (issued, renewed or re-issued), held
    /// grants that no longer open anything, and newer revocation lists of
    /// the devices of those jobs. A held renewal revokes the grant it
    /// superseded.
    pub fn changes_holding(
        &self,
        tech: &AuthUser,
        since: Option<&str>,
        limit: Option<usize>,
        held: &Held,
    ) -> SimResult<ChangesResponse> {
        let mut jobs = Vec::new();
        let mut page = self.walk_changes(tech, since, limit, held, &mut |job| {
            jobs.push(job);
            Ok(())
        })?;
        page.jobs = jobs;
        Ok(page)
    }

    /// [`SimAdmin::changes_holding`] as its JSON, handed to `out` in pieces
    /// of about `piece_bytes` while the page is read, so that an answer can
    /// go on the wire while it is still being built: `{"jobs":[` and the
    /// jobs first, as the rows are read, then the other members of
    /// [`ChangesResponse`] (removals, grants, cursor, `has_more`), which
    /// depend on the whole page. The same document as the serialised
    /// `ChangesResponse`, members in another order. An error before the
    /// first piece is an answer of its own; after it, the answer is cut.
    pub fn changes_json(
        &self,
        tech: &AuthUser,
        since: Option<&str>,
        limit: Option<usize>,
        held: &Held,
        piece_bytes: usize,
        out: &mut dyn FnMut(Vec<u8>),
    ) -> SimResult<()> {
        let mut buf = Vec::with_capacity(piece_bytes + 4096);
        buf.extend_from_slice(b"{\"jobs\":[");
        let mut first = true;
        let rest = self.walk_changes(tech, since, limit, held, &mut |job| {
            if !first {
                buf.push(b',');
            }
            first = false;
            serde_json::to_writer(&mut buf, &job)?;
            if buf.len() >= piece_bytes {
                out(std::mem::replace(
                    &mut buf,
                    Vec::with_capacity(piece_bytes + 4096),
                ));
            }
            Ok(())
        })?;
        buf.push(b']');
        let serde_json::Value::Object(members) = serde_json::to_value(&rest)? else {
            return Err(SimError::internal("a changes page is not a JSON object"));
        };
        for (name, value) in members.iter().filter(|(name, _)| *name != "jobs") {
            buf.push(b',');
            serde_json::to_writer(&mut buf, name)?;
            buf.push(b':');
            serde_json::to_writer(&mut buf, value)?;
        }
        buf.push(b'}');
        out(buf);
        Ok(())
    }

    /// Reads one page of changes in one transaction, handing each job to
    /// `on_job` as its row is read (in change order); returns the rest of
    /// the page (`jobs` empty).
    fn walk_changes(
        &self,
        tech: &AuthUser,
        since: Option<&str>,
        limit: Option<usize>,
        held: &Held,
        on_job: &mut dyn FnMut(Job) -> SimResult<()>,
    ) -> SimResult<ChangesResponse> {
        let company_id = tech.require_technician()?.to_owned();
        let since: i64 = match since.map(str::trim).filter(|s| !s.is_empty()) {
            None => 0,
            Some(s) => s
                .parse()
                .map_err(|_| SimError::bad_request("invalid cursor"))?,
        };
        let limit = limit.unwrap_or(MAX_CHANGES_PAGE).clamp(1, MAX_CHANGES_PAGE);
        let now_ts = self.now().timestamp();
        self.with_tx(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "{JOB_SELECT} WHERE j.assigned_company_id = ?1 AND j.seq > ?2 \
                 AND (j.status IN ('ASSIGNED', 'RUNNING') OR (j.status IN ('SUCCEEDED', 'FAILED') AND j.assignee_id = ?3)) \
                 AND EXISTS (SELECT 1 FROM connections c WHERE c.fleet_id = j.fleet_id AND c.company_id = ?1 AND c.status = 'ACCEPTED') \
                 ORDER BY j.seq LIMIT ?4"
            ))?;
            // One row past the page tells whether more wait.
            let rows = stmt.query_map(params![company_id, since, tech.id, (limit + 1) as i64], read_job)?;
            let mut latest_seq: HashMap<String, i64> = HashMap::new();
            let mut last_seq = None;
            let (mut read, mut has_more) = (0, false);
            for row in rows {
                let r = row?;
                if read == limit {
                    has_more = true;
                    break;
                }
                read += 1;
                last_seq = Some(r.seq);
                latest_seq.insert(r.job.id.clone(), r.seq);
                on_job(r.job)?;
            }
            let cursor = if has_more {
                last_seq.unwrap_or(since)
            } else {
                crate::db::current_seq(conn)?.max(since)
            };
            let mut removed = Vec::new();
            let mut seen = HashSet::new();
            let mut rstmt = conn.prepare_cached(
                "SELECT seq, job_id, reason FROM job_removals WHERE company_id = ?1 AND seq > ?2 AND seq <= ?3 \
                 AND (technician_id IS NULL OR technician_id = ?4) \
                 AND (except_technician_id IS NULL OR except_technician_id <> ?4) ORDER BY seq DESC",
            )?;
            let rem = rstmt.query_map(params![company_id, since, cursor, tech.id], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
            })?;
            for item in rem {
                let (seq, job_id, reason) = item?;
                if !seen.insert(job_id.clone()) {
                    continue;
                }
                // A later change brings the job back: the job entry wins.
                if latest_seq.get(job_id.as_str()).is_some_and(|s| *s > seq) {
                    continue;
                }
                removed.push((seq, RemovedJob {
                    job_id,
                    reason: reason.into(),
                }));
            }
            removed.sort_by_key(|(s, _)| *s);
            let access = access_for(conn, tech, &company_id, held, now_ts)?;
            Ok(ChangesResponse {
                grants: access.grants,
                revoked_grants: access.revoked_grants,
                revocation_lists: access.revocation_lists,
                catalogue_version: Some(CATALOGUE_VERSION),
                cursor: cursor.to_string(),
                jobs: Vec::new(),
                removed: removed.into_iter().map(|(_, r)| r).collect(),
                has_more,
            })
        })
    }

    /// `POST /api/v1/technician/actions`: applies the actions in order in
    /// one transaction (see the crate docs for the rules). 403 unless the
    /// user is a technician, 413 `too_many_items` beyond
    /// [`MAX_ACTIONS_PER_PUSH`].
    pub fn push_actions(
        &self,
        tech: &AuthUser,
        req: &PushActionsRequest,
    ) -> SimResult<PushActionsResponse> {
        let company_id = tech.require_technician()?.to_owned();
        if req.actions.len() > MAX_ACTIONS_PER_PUSH {
            return Err(SimError::too_many_items(format!(
                "at most {MAX_ACTIONS_PER_PUSH} actions per push"
            )));
        }
        if let Some((i, a)) = req
            .actions
            .iter()
            .enumerate()
            .find(|(_, a)| a.base_version < 0)
        {
            return Err(SimError::bad_request(format!(
                "actions[{i}].base_version is {}: it must be 0 or more (the job version the technician saw)",
                a.base_version
            )));
        }
        let now_t = self.now();
        let now = rfc3339(now_t);
        self.with_tx(|tx| {
            let mut results = Vec::with_capacity(req.actions.len());
            let mut rejected_jobs: HashSet<&str> = HashSet::new();
            for a in &req.actions {
                let fingerprint = action_fingerprint(a)?;
                let stored: Option<(String, Option<String>)> = tx
                    .prepare_cached(
                        "SELECT result, fingerprint FROM idempotency WHERE technician_id = ?1 AND key = ?2",
                    )?
                    .query_row([&tech.id, &a.idempotency_key], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                if let Some((text, stored_fingerprint)) = stored {
                    if stored_fingerprint.is_some_and(|f| f != fingerprint) {
                        return Err(SimError::idempotency_key_reused(format!(
                            "idempotency key {:?} was already used for a different action; \
                             nothing was applied: send each new action with a new key",
                            a.idempotency_key
                        )));
                    }
                    let result: ActionResult = serde_json::from_str(&text)?;
                    if matches!(result.outcome, ActionOutcome::Rejected { .. }) {
                        rejected_jobs.insert(a.job_id.as_str());
                    }
                    results.push(result);
                    continue;
                }
                let outcome = if rejected_jobs.contains(a.job_id.as_str()) {
                    ActionOutcome::Rejected {
                        reason: RejectReason::PrecedingActionRejected,
                        message: "an earlier action on this job in the same push was rejected".into(),
                        job: visible_job(tx, &a.job_id, &company_id, &tech.id)?,
                    }
                } else if let Err(why) = check_performed_at(&a.performed_at, now_t) {
                    rejected_jobs.insert(a.job_id.as_str());
                    ActionOutcome::Rejected {
                        reason: RejectReason::Invalid,
                        message: why,
                        job: visible_job(tx, &a.job_id, &company_id, &tech.id)?,
                    }
                } else {
                    match apply_one(tx, tech, &company_id, a, &now, now_t.timestamp())? {
                        Ok((job, grant)) => ActionOutcome::Applied { job, grant },
                        Err(rej) => {
                            rejected_jobs.insert(a.job_id.as_str());
                            tracing::debug!(job = %a.job_id, action = a.action.name(), reason = %rej.reason, "action rejected");
                            ActionOutcome::Rejected {
                                reason: rej.reason,
                                message: rej.message,
                                job: visible_job(tx, &a.job_id, &company_id, &tech.id)?,
                            }
                        }
                    }
                };
                let result = ActionResult {
                    idempotency_key: a.idempotency_key.clone(),
                    outcome,
                };
                tx.prepare_cached(
                    "INSERT INTO idempotency (technician_id, key, result, created_at, fingerprint) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    tech.id,
                    a.idempotency_key,
                    serde_json::to_string(&result)?,
                    now,
                    fingerprint
                ])?;
                results.push(result);
            }
            Ok(PushActionsResponse { results })
        })
    }
}
