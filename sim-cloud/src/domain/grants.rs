//! Fleet signing keys and the job-scoped CloudBoxx access grants.
//!
//! Every fleet has an Ed25519 signing key (a random 32-byte seed in the
//! `fleets` table); a CloudBoxx of the fleet is provisioned with its public
//! key. When a technician whose session sent a phone key claims or takes
//! over a job with a `cloudboxx_serial`, the cloud signs an
//! [`AccessGrant`] for that device, job, technician and phone key:
//!
//! - permissions: `TEST | COMMANDS`, plus `CONFIGURE` when the job's
//!   required work writes to the unit (bind, configure, verify: an
//!   installation by default, a maintenance visit only if the provider asks);
//! - validity: `now - GRANT_CLOCK_SKEW_SECS ..= now + GRANT_VALIDITY_SECS`
//!   on the simulated clock (works offline for three days);
//! - renewal: every sync of the holder gets a fresh grant once the live one
//!   has less than [`GRANT_RENEW_BEFORE_SECS`] left, whichever jobs the
//!   changes page holds; the superseded one is revoked once the phone shows
//!   it holds the new one.
//!
//! A grant is revoked (see [`REVOCATION_REASONS`]) when access ends: take
//! over, withdraw, completion, unassignment, connection or company
//! deletion, account removal, job deletion, a re-issue for another phone
//! key of the same technician, or a renewal the phone confirmed. The
//! revoked, unexpired grants of a device form its revocation list, signed
//! with the fleet key ([`SignedRevocationList`]): the unit fetches it over
//! its own cellular link, and phones hand it over when they connect.

use rusqlite::{params, Connection as Db, OptionalExtension};
use smartcontrol_ble::security::{
    AccessGrant, GrantFields, Permissions, RevocationListFields, RevokedGrant,
    SignedRevocationList, SigningKey,
};
use smartcontrol_cloud_api::{
    AccessGrantEnvelope, Job, JobRequirements, JobStatus, RevocationListEnvelope,
};

use super::{AuthUser, SimAdmin};
use crate::error::{SimError, SimResult};
use crate::model::{DeviceRevocations, GrantRecord};

/// How long a grant is valid after issuance (72 h: three days offline).
pub const GRANT_VALIDITY_SECS: i64 = 72 * 3600;

/// How far before issuance a grant is already valid (device clock skew).
pub const GRANT_CLOCK_SKEW_SECS: i64 = 300;

/// A holder's sync renews the grant once less than this is left (48 h: a
/// phone that syncs at least once a day never holds a grant with less than
/// a day left, and a stolen copy stops working at most 72 h after its
/// last sync).
pub const GRANT_RENEW_BEFORE_SECS: i64 = 48 * 3600;

/// Every `revoked_reason` a grant can carry.
pub const REVOCATION_REASONS: &[&str] = &[
    REVOKED_TAKEN_OVER,
    REVOKED_WITHDRAWN,
    REVOKED_SUCCEEDED,
    REVOKED_FAILED,
    REVOKED_UNASSIGNED,
    REVOKED_CONNECTION_DELETED,
    REVOKED_COMPANY_DELETED,
    REVOKED_ACCOUNT_REMOVED,
    REVOKED_DELETED,
    REVOKED_REISSUED,
    REVOKED_SUPERSEDED,
];

/// Another technician took the job over.
pub const REVOKED_TAKEN_OVER: &str = "TAKEN_OVER";
/// The holder gave the job back.
pub const REVOKED_WITHDRAWN: &str = "WITHDRAWN";
/// The job was completed successfully.
pub const REVOKED_SUCCEEDED: &str = "SUCCEEDED";
/// The job was completed as failed.
pub const REVOKED_FAILED: &str = "FAILED";
/// The provider withdrew the job from the service partner.
pub const REVOKED_UNASSIGNED: &str = "UNASSIGNED";
/// The fleet connection was deleted.
pub const REVOKED_CONNECTION_DELETED: &str = "CONNECTION_DELETED";
/// The service partner was deleted.
pub const REVOKED_COMPANY_DELETED: &str = "COMPANY_DELETED";
/// The provider deleted the job.
pub const REVOKED_DELETED: &str = "DELETED";
/// Replaced by a grant for another phone key of the same technician (or
/// for a VIN or serial the technician entered since).
pub const REVOKED_REISSUED: &str = "REISSUED";
/// Replaced by a renewal the holder's phone confirmed it holds.
pub const REVOKED_SUPERSEDED: &str = "SUPERSEDED";
/// The technician's account was removed.
pub const REVOKED_ACCOUNT_REMOVED: &str = "ACCOUNT_REMOVED";

/// Revocation reasons after which a grant's earlier work no longer counts
/// for the job (the access it was part of ended).
pub const ACCESS_ENDING_REASONS: &[&str] = &[
    REVOKED_TAKEN_OVER,
    REVOKED_WITHDRAWN,
    REVOKED_UNASSIGNED,
    REVOKED_CONNECTION_DELETED,
    REVOKED_COMPANY_DELETED,
    REVOKED_ACCOUNT_REMOVED,
    REVOKED_DELETED,
];

/// Lower-case hex.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.trim();
    if s.len() != 2 * N || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Parses 64 hex digits (a 32-byte key or seed).
pub fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    parse_hex(s)
}

/// The permissions a grant for a job with these requirements carries:
/// tests and commands always, CONFIGURE only when the work writes to the
/// unit (least privilege: a maintenance visit that only tests cannot
/// reconfigure the unit).
pub fn grant_permissions(requirements: &JobRequirements) -> Permissions {
    let base = Permissions::TEST | Permissions::COMMANDS;
    if requirements.needs_configure() {
        base | Permissions::CONFIGURE
    } else {
        base
    }
}

/// A new random fleet key seed.
pub(crate) fn new_fleet_seed() -> [u8; 32] {
    rand::random()
}

/// The public key of a fleet key seed.
pub(crate) fn public_key_of(seed: &[u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

/// The stored seed of a fleet, or 404.
pub(crate) fn fleet_seed(conn: &Db, fleet_id: &str) -> SimResult<[u8; 32]> {
    let seed: Option<Option<String>> = conn
        .prepare_cached("SELECT signing_seed FROM fleets WHERE id = ?1")?
        .query_row([fleet_id], |r| r.get(0))
        .optional()?;
    let seed = seed.ok_or_else(|| SimError::not_found(format!("no fleet {fleet_id}")))?;
    seed.as_deref()
        .and_then(parse_hex32)
        .ok_or_else(|| SimError::internal(format!("fleet {fleet_id} has no signing key")))
}

/// Marks every live grant of a job revoked; `except_technician` keeps that
/// technician's grants. Returns how many were revoked.
pub(crate) fn revoke_job_grants(
    conn: &Db,
    job_id: &str,
    except_technician: Option<&str>,
    reason: &str,
    now_ts: i64,
) -> SimResult<usize> {
    let seq = crate::db::next_seq(conn)?;
    let n = conn
        .prepare_cached(
            "UPDATE grants SET revoked_at = ?2, revoked_reason = ?3, revoked_seq = ?5 \
             WHERE job_id = ?1 AND revoked_at IS NULL AND (?4 IS NULL OR technician_id <> ?4)",
        )?
        .execute(params![job_id, now_ts, reason, except_technician, seq])?;
    if n > 0 {
        tracing::debug!(job = job_id, n, reason, "access grants revoked");
    }
    Ok(n)
}

/// The live grant of `job` for `tech`'s current phone key, issuing one
/// (and revoking any other live grant of the job) when there is none, when
/// it names another VIN or unit than the job now does (the technician
/// entered them on site), or when it has less than
/// [`GRANT_RENEW_BEFORE_SECS`] left. `None` when the job is not RUNNING
/// with `tech` as assignee, has no CloudBoxx serial (provider's or
/// entered), or the session sent no phone key.
pub(crate) fn ensure_grant(
    conn: &Db,
    job: &Job,
    tech: &AuthUser,
    now_ts: i64,
) -> SimResult<Option<AccessGrantEnvelope>> {
    if job.status != JobStatus::Running
        || job.assignee.as_ref().map(|a| a.id.as_str()) != Some(tech.id.as_str())
    {
        return Ok(None);
    }
    let job = job.effective();
    let Some(serial) = job.cloudboxx_serial.as_deref().filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let Some(phone) = tech.phone_public_key else {
        return Ok(None);
    };
    let permissions = grant_permissions(&job.requirements);
    let vin = job.vin.clone().unwrap_or_default();
    let phone_hex = to_hex(&phone);
    let live: Option<(String, String, i64)> = conn
        .prepare_cached(
            "SELECT grant_id, grant_hex, not_after FROM grants WHERE job_id = ?1 AND technician_id = ?2 \
             AND phone_public_key = ?3 AND device_serial = ?4 AND vin = ?5 AND permissions = ?6 \
             AND revoked_at IS NULL AND not_after > ?7 ORDER BY issued_at DESC, rowid DESC LIMIT 1",
        )?
        .query_row(
            params![
                job.id,
                tech.id,
                phone_hex,
                serial,
                vin,
                permissions.bits(),
                now_ts + GRANT_RENEW_BEFORE_SECS
            ],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    if let Some((grant_id, grant, not_after)) = live {
        return Ok(Some(AccessGrantEnvelope {
            job_id: job.id.clone(),
            grant_id,
            grant,
            not_after,
        }));
    }
    // One holder per job: whoever held it before loses access. This
    // technician's own older grants stay valid until the phone shows it
    // holds the new one (a lost answer must not lock the technician out),
    // unless they are for another phone, VIN or unit.
    revoke_job_grants(conn, &job.id, Some(&tech.id), REVOKED_TAKEN_OVER, now_ts)?;
    let seq = crate::db::next_seq(conn)?;
    conn.prepare_cached(
        "UPDATE grants SET revoked_at = ?3, revoked_reason = ?4, revoked_seq = ?5 \
         WHERE job_id = ?1 AND technician_id = ?2 AND revoked_at IS NULL \
         AND (phone_public_key <> ?6 OR device_serial <> ?7 OR vin <> ?8 OR permissions <> ?9)",
    )?
    .execute(params![
        job.id,
        tech.id,
        now_ts,
        REVOKED_REISSUED,
        seq,
        phone_hex,
        serial,
        vin,
        permissions.bits()
    ])?;
    let now = u64::try_from(now_ts).map_err(|_| SimError::internal("clock before 1970"))?;
    let not_before = now.saturating_sub(GRANT_CLOCK_SKEW_SECS as u64);
    let not_after = now + GRANT_VALIDITY_SECS as u64;
    let grant_id = *uuid::Uuid::new_v4().as_bytes();
    let fields = GrantFields {
        grant_id,
        device_serial: serial.to_owned(),
        vin: vin.clone(),
        job_id: job.id.clone(),
        technician_id: tech.id.clone(),
        phone_public_key: phone,
        permissions,
        not_before,
        not_after,
    };
    let key = SigningKey::from_bytes(&fleet_seed(conn, &job.fleet_id)?);
    let grant = AccessGrant::sign(fields, &key)
        .map_err(|e| SimError::internal(format!("cannot sign the grant: {e}")))?;
    let grant_hex = grant.to_hex();
    let grant_id_hex = to_hex(&grant_id);
    let not_after = not_after as i64;
    conn.prepare_cached(
        "INSERT INTO grants (grant_id, job_id, provider_id, fleet_id, technician_id, device_serial, \
         phone_public_key, permissions, grant_hex, not_before, not_after, issued_at, vin) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        grant_id_hex,
        job.id,
        job.provider_id,
        job.fleet_id,
        tech.id,
        serial,
        phone_hex,
        permissions.bits(),
        grant_hex,
        not_before as i64,
        not_after,
        now_ts,
        vin,
    ])?;
    tracing::info!(job = %job.id, technician = %tech.id, device = serial, grant = %grant_id_hex, "access grant issued");
    Ok(Some(AccessGrantEnvelope {
        job_id: job.id.clone(),
        grant_id: grant_id_hex,
        grant: grant_hex,
        not_after,
    }))
}

/// The phone holds `held_grant_id`, the live grant of its job: revoke the
/// technician's older grants of the same job it superseded.
pub(crate) fn revoke_superseded(
    conn: &Db,
    held_grant_id: &str,
    tech_id: &str,
    now_ts: i64,
) -> SimResult<usize> {
    let seq = crate::db::next_seq(conn)?;
    Ok(conn
        .prepare_cached(
            "UPDATE grants SET revoked_at = ?3, revoked_reason = ?4, revoked_seq = ?5 \
             WHERE technician_id = ?2 AND revoked_at IS NULL AND grant_id <> ?1 \
             AND job_id = (SELECT job_id FROM grants WHERE grant_id = ?1 AND technician_id = ?2) \
             AND issued_at <= (SELECT issued_at FROM grants WHERE grant_id = ?1)",
        )?
        .execute(params![
            held_grant_id,
            tech_id,
            now_ts,
            REVOKED_SUPERSEDED,
            seq
        ])?)
}

/// The signed revocation list of a device: every revoked grant of it that
/// has not expired at `now_ts`, with the sequence of its newest revocation.
/// `None` for a serial no grant was ever issued for and no fleet registered.
pub(crate) fn revocation_list(
    conn: &Db,
    serial: &str,
    now_ts: i64,
) -> SimResult<Option<RevocationListEnvelope>> {
    let fleet: Option<String> = conn
        .prepare_cached(
            "SELECT fleet_id FROM devices WHERE serial = ?1 \
             UNION ALL SELECT fleet_id FROM grants WHERE device_serial = ?1 LIMIT 1",
        )?
        .query_row([serial], |r| r.get(0))
        .optional()?;
    let Some(fleet) = fleet else {
        return Ok(None);
    };
    let sequence: i64 = conn
        .prepare_cached(
            "SELECT COALESCE(MAX(revoked_seq), 0) FROM grants WHERE device_serial = ?1 AND fleet_id = ?2",
        )?
        .query_row([serial, &fleet], |r| r.get(0))?;
    let rows: Vec<(String, i64)> = conn
        .prepare_cached(
            "SELECT grant_id, not_after FROM grants WHERE device_serial = ?1 AND fleet_id = ?2 \
             AND revoked_at IS NOT NULL AND not_after >= ?3 ORDER BY revoked_seq, rowid LIMIT ?4",
        )?
        .query_map(
            params![
                serial,
                fleet,
                now_ts,
                smartcontrol_ble::security::MAX_REVOCATION_ENTRIES as i64
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<Result<_, _>>()?;
    let entries = rows
        .iter()
        .map(|(id, not_after)| {
            Ok(RevokedGrant {
                grant_id: parse_hex::<16>(id)
                    .ok_or_else(|| SimError::internal(format!("bad grant id {id}")))?,
                not_after: u64::try_from(*not_after).unwrap_or(0),
            })
        })
        .collect::<SimResult<Vec<_>>>()?;
    let sequence = u64::try_from(sequence).unwrap_or(0);
    let list = SignedRevocationList::sign(
        RevocationListFields {
            device_serial: serial.to_owned(),
            sequence,
            issued_at: u64::try_from(now_ts).unwrap_or(0),
            entries,
        },
        &SigningKey::from_bytes(&fleet_seed(conn, &fleet)?),
    )
    .map_err(|e| SimError::internal(format!("cannot sign the revocation list: {e}")))?;
    Ok(Some(RevocationListEnvelope {
        device_serial: serial.to_owned(),
        sequence,
        list: list.to_hex(),
    }))
}

const GRANT_RECORD_SELECT: &str = "SELECT grant_id, job_id, technician_id, device_serial, phone_public_key, \
     permissions, grant_hex, not_before, not_after, issued_at, revoked_at, revoked_reason FROM grants";

fn read_grant(r: &rusqlite::Row<'_>) -> rusqlite::Result<GrantRecord> {
    Ok(GrantRecord {
        grant_id: r.get(0)?,
        job_id: r.get(1)?,
        technician_id: r.get(2)?,
        device_serial: r.get(3)?,
        phone_public_key: r.get(4)?,
        permissions: r.get(5)?,
        grant: r.get(6)?,
        not_before: r.get(7)?,
        not_after: r.get(8)?,
        issued_at: r.get(9)?,
        revoked_at: r.get(10)?,
        revoked_reason: r.get(11)?,
    })
}

impl SimAdmin {
    /// `GET /api/v1/devices/{serial}/revocation-list`: the unit's signed
    /// revocation list (what it fetches over its own cellular link; no
    /// token needed, the fleet's signature protects it). 404 for a serial
    /// the cloud does not know.
    pub fn device_revocation_list(&self, serial: &str) -> SimResult<RevocationListEnvelope> {
        let now = self.now().timestamp();
        self.with_db(|c| {
            revocation_list(c, serial, now)?
                .ok_or_else(|| SimError::not_found(format!("no CloudBoxx {serial} is known")))
        })
    }

    /// The Ed25519 public key of a fleet: what a CloudBoxx of the fleet is
    /// provisioned with to verify access grants. 404 for an unknown fleet.
    pub fn fleet_public_key(&self, fleet_id: &str) -> SimResult<[u8; 32]> {
        self.with_db(|c| Ok(public_key_of(&fleet_seed(c, fleet_id)?)))
    }

    /// [`SimAdmin::fleet_public_key`] as 64 lower-case hex digits.
    pub fn fleet_public_key_hex(&self, fleet_id: &str) -> SimResult<String> {
        Ok(to_hex(&self.fleet_public_key(fleet_id)?))
    }

    /// Every grant issued for a job, oldest first (tests).
    pub fn grants_for_job(&self, job_id: &str) -> SimResult<Vec<GrantRecord>> {
        self.with_db(|c| {
            Ok(c.prepare_cached(&format!(
                "{GRANT_RECORD_SELECT} WHERE job_id = ?1 ORDER BY issued_at, rowid"
            ))?
            .query_map([job_id], read_grant)?
            .collect::<Result<_, _>>()?)
        })
    }

    /// Ids of every revoked grant for the device `device_serial`, in
    /// revocation order: what the device's revocation list is synced with
    /// (over LTE, in reality).
    pub fn revoked_grant_ids(&self, device_serial: &str) -> SimResult<Vec<[u8; 16]>> {
        self.with_db(|c| {
            let ids: Vec<String> = c
                .prepare_cached(
                    "SELECT grant_id FROM grants WHERE device_serial = ?1 AND revoked_at IS NOT NULL \
                     ORDER BY revoked_at, rowid",
                )?
                .query_map([device_serial], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            ids.iter()
                .map(|h| {
                    parse_hex::<16>(h).ok_or_else(|| SimError::internal(format!("bad grant id {h}")))
                })
                .collect()
        })
    }

    /// `GET /api/v1/provider/devices/{serial}/revocations`: the revoked
    /// grants for the device issued for jobs of the provider's fleets
    /// (another provider's grants are not listed).
    pub fn device_revocations(
        &self,
        provider_id: &str,
        device_serial: &str,
    ) -> SimResult<DeviceRevocations> {
        self.with_db(|c| {
            let revoked_grant_ids = c
                .prepare_cached(
                    "SELECT grant_id FROM grants WHERE device_serial = ?1 AND provider_id = ?2 \
                     AND revoked_at IS NOT NULL ORDER BY revoked_at, rowid",
                )?
                .query_map([device_serial, provider_id], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(DeviceRevocations {
                device_serial: device_serial.to_owned(),
                revoked_grant_ids,
            })
        })
    }
}
