//! Vehicle access kept on the device: the job-scoped grants the cloud
//! issued and the signed revocation lists phones hand to the units.
//!
//! A grant row exists only while the technician holds the job: it is erased
//! when the job ends, is withdrawn or taken over, leaves reach, when the
//! cloud says a held grant no longer opens anything, when the account is
//! removed, and at logout.

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use smartcontrol_cloud_api::{AccessGrantEnvelope, RevocationListEnvelope};

use super::{now_rfc3339, Store};
use crate::error::Result;

impl Store {
    /// Keeps the grant the cloud issued for one of the technician's jobs
    /// (a renewal replaces the older one).
    pub(crate) fn save_grant(tx: &Transaction<'_>, g: &AccessGrantEnvelope) -> Result<()> {
        tx.prepare_cached(
            "INSERT INTO grants (job_id, grant_id, grant_hex, not_after, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (job_id) DO UPDATE SET grant_id = excluded.grant_id,
                grant_hex = excluded.grant_hex, not_after = excluded.not_after,
                received_at = excluded.received_at",
        )?
        .execute(params![
            g.job_id,
            g.grant_id,
            g.grant,
            g.not_after,
            now_rfc3339()
        ])?;
        Ok(())
    }

    /// Forgets the grant of a job: vehicle access ends with the job.
    pub(crate) fn erase_grant(tx: &Transaction<'_>, job_id: &str) -> Result<()> {
        if tx
            .prepare_cached("DELETE FROM grants WHERE job_id = ?1")?
            .execute([job_id])?
            > 0
        {
            tracing::info!(job_id, "access grant erased");
        }
        Ok(())
    }

    /// Forgets grants by id (the cloud said they no longer open anything);
    /// returns the jobs whose access ended.
    pub(crate) fn erase_grants_by_id(tx: &Transaction<'_>, ids: &[String]) -> Result<Vec<String>> {
        let mut jobs = Vec::new();
        for id in ids {
            let job: Option<String> = tx
                .prepare_cached("DELETE FROM grants WHERE grant_id = ?1 RETURNING job_id")?
                .query_row([id], |r| r.get(0))
                .optional()?;
            if let Some(job) = job {
                tracing::info!(job_id = %job, grant = %id, "access grant erased: the cloud withdrew it");
                jobs.push(job);
            }
        }
        Ok(jobs)
    }

    /// Erases every grant and revocation list (the account is gone);
    /// returns the jobs that had access.
    pub(crate) fn erase_all_access(tx: &Transaction<'_>) -> Result<Vec<String>> {
        let jobs: Vec<String> = tx
            .prepare("DELETE FROM grants RETURNING job_id")?
            .query_map([], |r| r.get(0))?
            .collect::<std::result::Result<_, _>>()?;
        tx.execute("DELETE FROM revocation_lists", [])?;
        if !jobs.is_empty() {
            tracing::warn!(jobs = jobs.len(), "every access grant erased");
        }
        Ok(jobs)
    }

    /// The stored grant of a job, if any.
    pub(crate) fn grant(conn: &Connection, job_id: &str) -> Result<Option<AccessGrantEnvelope>> {
        Ok(conn
            .prepare_cached("SELECT grant_id, grant_hex, not_after FROM grants WHERE job_id = ?1")?
            .query_row([job_id], |r| {
                Ok(AccessGrantEnvelope {
                    job_id: job_id.to_owned(),
                    grant_id: r.get(0)?,
                    grant: r.get(1)?,
                    not_after: r.get(2)?,
                })
            })
            .optional()?)
    }

    /// Ids of the grants held that the changes request tells the cloud:
    /// the soonest to expire first, at most
    /// [`smartcontrol_cloud_api::MAX_HELD_GRANTS_LISTED`].
    pub(crate) fn held_grant_ids(conn: &Connection) -> Result<Vec<String>> {
        Ok(conn
            .prepare_cached("SELECT grant_id FROM grants ORDER BY not_after, job_id LIMIT ?1")?
            .query_map(
                [smartcontrol_cloud_api::MAX_HELD_GRANTS_LISTED as i64],
                |r| r.get(0),
            )?
            .collect::<std::result::Result<_, _>>()?)
    }

    /// Keeps a device's signed revocation list when it is newer than the
    /// one held.
    pub(crate) fn save_revocation_list(
        tx: &Transaction<'_>,
        l: &RevocationListEnvelope,
    ) -> Result<()> {
        tx.prepare_cached(
            "INSERT INTO revocation_lists (device_serial, sequence, list_hex, received_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (device_serial) DO UPDATE SET sequence = excluded.sequence,
                list_hex = excluded.list_hex, received_at = excluded.received_at
             WHERE excluded.sequence > revocation_lists.sequence",
        )?
        .execute(params![
            l.device_serial,
            i64::try_from(l.sequence).unwrap_or(i64::MAX),
            l.list,
            now_rfc3339()
        ])?;
        Ok(())
    }

    /// The revocation list held for a device (hex), if any.
    pub(crate) fn revocation_list(conn: &Connection, serial: &str) -> Result<Option<String>> {
        Ok(conn
            .prepare_cached("SELECT list_hex FROM revocation_lists WHERE device_serial = ?1")?
            .query_row([serial], |r| r.get(0))
            .optional()?)
    }

    /// `(serial, sequence)` of every list held.
    pub(crate) fn held_revocations(conn: &Connection) -> Result<Vec<(String, u64)>> {
        Ok(conn
            .prepare_cached(
                "SELECT device_serial, sequence FROM revocation_lists ORDER BY device_serial",
            )?
            .query_map([], |r| {
                Ok((r.get(0)?, u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0)))
            })?
            .collect::<std::result::Result<_, _>>()?)
    }
}
