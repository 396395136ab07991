//! The local SQLite store: jobs (cloud truth and local effect kept apart),
//! the outbox, conflicts, vehicle test results and small sync state.
//!
//! Every write runs in one transaction through [`Store::write`]; a
//! technician's action and its outbox row commit together or not at all.

mod access;
mod runs;
mod schema;

pub(crate) use runs::RunRecord;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use smartcontrol_cloud_api::work::missing_work;
use smartcontrol_cloud_api::{Action, Job, JobStatus, RejectReason, SiteData, SiteField};

use crate::error::{CoreError, Result};
use crate::model::{
    Account, Conflict, JobDetail, JobPage, JobQuery, JobSummary, JobView, PendingAction,
    QueuedAction, RequiredWork,
};
use crate::rules::{self, Actor, JobState};

/// Keys of the `meta` table.
pub(crate) mod meta {
    pub const CURSOR: &str = "sync.cursor";
    pub const SESSION: &str = "session";
    pub const LAST_SYNC_AT: &str = "sync.last_sync_at";
    pub const LAST_ATTEMPT_AT: &str = "sync.last_attempt_at";
    pub const LAST_ERROR: &str = "sync.last_error";
    pub const LAST_STATE: &str = "sync.last_state";
    /// The vehicle catalogue (JSON of `cloud_api::site::VehicleCatalogue`).
    pub const CATALOGUE: &str = "catalogue";
    /// Why the account ended (the cloud said it was removed); the session
    /// stays so unsynced work remains visible, but nothing syncs.
    pub const ACCOUNT_REMOVED: &str = "account.removed";
    /// Set by a migration that emptied the search index: the store fills
    /// it from `jobs.search_text` at open.
    pub const SEARCH_REBUILD: &str = "search.rebuild";
}

/// The local database of one data directory: one connection for writes
/// and one for reads, so a UI reading lists never waits for a sync that is
/// applying a large page (WAL lets readers run beside the writer).
pub(crate) struct Store {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    /// Copies the write-ahead log into the database off the writer's
    /// commits (see [`Checkpoints`]).
    checkpoints: Checkpoints,
    /// Totals of plain list views (no search or filter), keyed by the
    /// view's SQL and the technician, each with the `PRAGMA data_version`
    /// of the read connection it was counted at: that number changes with
    /// every commit of any connection (this process's writer or another
    /// process on the same data directory), so a cached total is used only
    /// while nothing was written. Re-listing a view (paging, a refresh with
    /// nothing new) then costs a page, not a COUNT over the whole view,
    /// without maintaining counters on every write of a sync.
    view_totals: Mutex<ViewTotals>,
    /// The outbox's size after the last action [`Store::queue_action`]
    /// committed, with the writer's `PRAGMA data_version` then. That number
    /// changes only when another connection commits; every other write of
    /// this store's writer clears the cache ([`Store::write`],
    /// [`Store::write_refetchable`]). So while the version is the same and
    /// the cache is set, nothing but this store's own actions changed the
    /// outbox, and the next action's count is this one + 1, without
    /// counting every queued action in the commit (tens of µs at a few
    /// thousand).
    pending_total: Mutex<Option<(i64, u64)>>,
}

/// Cached totals of plain views: (view SQL, technician) → (data version, total).
type ViewTotals = HashMap<(&'static str, String), (i64, i64)>;

/// Columns of a [`JobSummary`], in the order [`summary_from_row`] reads them.
/// The count of queued actions is the job's own column (kept by triggers
/// on the outbox, schema version 9), so a page of a list reads `jobs` alone;
/// the open jobs' index `jobs_open_list` (version 11) holds every one of
/// them, so a page of Available Jobs reads that index alone.
const SUMMARY_COLUMNS: &str = "id, kind, status, license_plate, vin, custom_name, vehicle_model, \
     provider_id, provider_name, fleet_id, fleet_name, planned_service_date, assignee_id, \
     assignee_name, vehicle_tests_required, pending_actions";
/// A search's condition on the index: the jobs whose windows match.
const SEARCH_INDEXED: &str =
    " AND jobs.rowid IN (SELECT rowid FROM jobs_search WHERE jobs_search MATCH :search)";

/// [`SEARCH_INDEXED`] while jobs wait in `search_queue` (after a sync,
/// until the indexer is done): those jobs are tested as plain substrings
/// of their `search_text`. Only then: with the compound subquery SQLite
/// reads the view in list order and tests each job against it, a search
/// linear in the store (12 ms at 10,000 jobs, 88 ms at 100,000, against
/// 0.1 ms for the index alone).
const SEARCH_INDEXED_OR_QUEUED: &str =
    " AND jobs.rowid IN (SELECT rowid FROM jobs_search WHERE jobs_search MATCH :search
    UNION ALL SELECT q.job FROM search_queue q JOIN jobs j ON j.rowid = q.job
    WHERE instr(j.search_text, :term) > 0)";

/// When a stored job's search windows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SearchIndexing {
    /// In the same transaction.
    Now,
    /// Later, by [`Store::index_queued_search`] (a sync's pages).
    Later,
}

/// Columns of [`SUMMARY_COLUMNS`]: the index of the first column after them.
const SUMMARY_COLUMN_COUNT: usize = 16;

impl Store {
    /// Opens (creating and migrating as needed) the store at `path`.
    pub(crate) fn open(path: &Path) -> Result<Store> {
        let mut conn = Connection::open(path)?;
        configure(&conn)?;
        schema::migrations().to_latest(&mut conn)?;
        rebuild_search_index_if_asked(&mut conn)?;
        let reader = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        reader.busy_timeout(std::time::Duration::from_secs(5))?;
        let checkpointer = Connection::open(path)?;
        // Never waits: a checkpoint that finds the log busy leaves it for
        // the next commit's.
        checkpointer.busy_timeout(std::time::Duration::ZERO)?;
        Ok(Store {
            writer: Mutex::new(conn),
            reader: Mutex::new(reader),
            checkpoints: Checkpoints {
                wal: wal_path(path),
                connection: std::sync::Arc::new(Mutex::new(checkpointer)),
                running: Mutex::new(None),
                pages_since: std::sync::atomic::AtomicBool::new(false),
            },
            view_totals: Mutex::new(HashMap::new()),
            pending_total: Mutex::new(None),
        })
    }

    fn totals(&self) -> MutexGuard<'_, ViewTotals> {
        // A poisoned map holds only totals with their versions: still valid.
        self.view_totals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn pending_total(&self) -> MutexGuard<'_, Option<(i64, u64)>> {
        // A poisoned cache holds a count with its version, or nothing.
        self.pending_total
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent
        // (the transaction rolls back on drop), so a poisoned lock is usable.
        m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` with the read connection (one consistent snapshot per
    /// statement; wrap several reads in `f` for one view).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = Self::lock(&self.reader);
        let tx = conn.unchecked_transaction()?;
        let out = f(&tx)?;
        tx.finish()?;
        Ok(out)
    }

    /// Runs `f` in one IMMEDIATE transaction: committed if `f` succeeds,
    /// rolled back otherwise.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let out = {
            let mut conn = Self::lock(&self.writer);
            // Any write may change the outbox.
            *self.pending_total() = None;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            self.checkpoints
                .after_commit(&conn, WAL_CHECKPOINT_BYTES, false);
            out
        };
        Ok(out)
    }

    /// [`Store::write`] for what the cloud can send again: a page of
    /// changes committed with its cursor. The commit does not wait for the
    /// disk (`synchronous = NORMAL` for this transaction): a process kill
    /// loses nothing (the WAL is in the OS's hands), and on power loss the
    /// page and its cursor vanish together, so the next sync fetches the
    /// page again. The next durable commit (an action, `synchronous =
    /// FULL`) syncs the log with everything before it. Technicians' actions
    /// never go through here.
    ///
    /// Pages of one sync follow each other: the log is copied into the
    /// database once they are all written (the next [`Store::write`], the
    /// sync's own status at its end, starts the checkpoint), not after
    /// every page, unless it grows past [`WAL_CHECKPOINT_BYTES_DURING_SYNC`].
    pub(crate) fn write_refetchable<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let out = {
            let mut conn = Self::lock(&self.writer);
            *self.pending_total() = None;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            let out = (|| -> Result<T> {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let out = f(&tx)?;
                tx.commit()?;
                Ok(out)
            })();
            // Back to the durability every other write relies on, whatever
            // the outcome.
            conn.pragma_update(None, "synchronous", "FULL")?;
            let out = out?;
            self.checkpoints
                .after_commit(&conn, WAL_CHECKPOINT_BYTES_DURING_SYNC, true);
            out
        };
        Ok(out)
    }

    /// After writes of [`Store::write_refetchable`] outside a sync (the
    /// search indexer's): copies the log they left, as the commit of a sync's
    /// status does after its pages.
    pub(crate) fn after_background_writes(&self) {
        let conn = Self::lock(&self.writer);
        self.checkpoints
            .after_commit(&conn, WAL_CHECKPOINT_BYTES, false);
    }

    /// Waits for a background checkpoint that is running, if any.
    pub(crate) fn settle(&self) {
        self.checkpoints.wait();
    }

    // ---- meta ----------------------------------------------------------

    pub(crate) fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>> {
        Ok(conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?)
    }

    pub(crate) fn meta_set(conn: &Connection, key: &str, value: Option<&str>) -> Result<()> {
        match value {
            Some(v) => conn
                .prepare_cached(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![key, v])?,
            None => conn
                .prepare_cached("DELETE FROM meta WHERE key = ?1")?
                .execute([key])?,
        };
        Ok(())
    }

    pub(crate) fn account(conn: &Connection) -> Result<Option<Account>> {
        match Self::meta_get(conn, meta::SESSION)? {
            Some(json) => {
                let session: crate::session::StoredSession = serde_json::from_str(&json)?;
                Ok(Some(session.account))
            }
            None => Ok(None),
        }
    }

    // ---- cloud truth ---------------------------------------------------

    /// Stores what the cloud says about `job` and recomputes its local
    /// state with the actions still queued for it. Returns whether the job
    /// was the technician's running job before and no longer is (access ended).
    ///
    /// A copy older than the one stored (a late push answer, written after
    /// another process on the same data directory pulled a newer version)
    /// never replaces it: the guard is in the SQL, so it holds across
    /// processes; the local state is recomputed from the newer copy.
    pub(crate) fn upsert_cloud_job(tx: &Transaction<'_>, job: &Job, me: &Actor) -> Result<bool> {
        Self::upsert_pulled_job(
            tx,
            job,
            &serde_json::to_string(job)?,
            true,
            SearchIndexing::Now,
            me,
        )
    }

    /// [`Store::upsert_cloud_job`] for a job of the changes feed: `json` is
    /// the job as the cloud sent it (what `job` was parsed from), kept as
    /// the cloud's copy instead of serialising `job` again; `queued` is
    /// false when the caller knows no action is queued, so there is nothing
    /// to replay and the outbox is not asked for each job; `search` says
    /// whether the job's search windows are written now or queued for
    /// [`Store::index_queued_search`].
    pub(crate) fn upsert_pulled_job(
        tx: &Transaction<'_>,
        job: &Job,
        json: &str,
        queued: bool,
        search: SearchIndexing,
        me: &Actor,
    ) -> Result<bool> {
        let previous: Option<(i64, String, bool, i64)> = tx
            .prepare_cached(
                "SELECT rowid, search_text, status = 'RUNNING' AND assignee_id IS ?2, server_version
                 FROM jobs WHERE id = ?1",
            )?
            .query_row(params![job.id, me.id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        let was_mine = previous.as_ref().is_some_and(|p| p.2);
        let cols = SummaryColumns::of(job, &job.site_data);
        let search_text = cols.search_text.clone();
        let written = tx.prepare_cached(
            "INSERT INTO jobs (id, server_json, server_version, kind, provider_id, provider_name,
                fleet_id, fleet_name, license_plate, vin, custom_name, vehicle_model,
                planned_service_date, vehicle_tests_required, search_text, status,
                assignee_id, assignee_name, failure_comment, installation_started, sort_key,
                site_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                ?17, ?18, ?19, ?20, ?21, ?22)
             ON CONFLICT (id) DO UPDATE SET
                server_json = excluded.server_json, server_version = excluded.server_version,
                kind = excluded.kind, provider_id = excluded.provider_id,
                provider_name = excluded.provider_name, fleet_id = excluded.fleet_id,
                fleet_name = excluded.fleet_name, license_plate = excluded.license_plate,
                vin = excluded.vin, custom_name = excluded.custom_name,
                vehicle_model = excluded.vehicle_model,
                planned_service_date = excluded.planned_service_date,
                vehicle_tests_required = excluded.vehicle_tests_required,
                search_text = excluded.search_text, status = excluded.status,
                assignee_id = excluded.assignee_id, assignee_name = excluded.assignee_name,
                failure_comment = excluded.failure_comment,
                installation_started = excluded.installation_started,
                sort_key = excluded.sort_key, site_json = excluded.site_json
             WHERE excluded.server_version >= jobs.server_version",
        )?
        .execute(params![
            &job.id,
            json,
            job.version,
            job.kind.as_str(),
            job.provider_id,
            job.provider_name,
            job.fleet_id,
            job.fleet_name,
            cols.license_plate,
            cols.vin,
            job.custom_name,
            cols.vehicle_model,
            job.planned_service_date,
            !job.requirements.vehicle_tests.is_empty() || job.vehicle_tests_required,
            search_text,
            job.status.as_str(),
            job.assignee.as_ref().map(|t| t.id.as_str()),
            job.assignee.as_ref().map(|t| t.name.as_str()),
            job.failure_comment,
            job.installation_started_at.is_some(),
            cols.sort_key,
            serde_json::to_string(&job.site_data)?,
        ])?;
        if written == 0 {
            tracing::info!(
                job_id = %job.id,
                version = job.version,
                stored = previous.as_ref().map(|p| p.3),
                "older cloud copy of a job ignored: a newer one is stored"
            );
            Self::recompute(tx, &job.id, me)?;
            let ended = was_mine && !Self::is_my_running_job(tx, &job.id, me)?;
            if ended {
                Self::erase_grant(tx, &job.id)?;
            }
            return Ok(ended);
        }
        match previous {
            Some((rowid, old, _, _)) => {
                Self::search_index_update(tx, rowid, Some(&old), &search_text, search)?
            }
            None => {
                Self::search_index_update(tx, tx.last_insert_rowid(), None, &search_text, search)?
            }
        }
        // Replay what is still queued on top of the cloud's state.
        if queued && Self::pending_count_for(tx, &job.id)? > 0 {
            Self::recompute(tx, &job.id, me)?;
        }
        let ended = was_mine && !Self::is_my_running_job(tx, &job.id, me)?;
        if ended {
            Self::erase_grant(tx, &job.id)?;
        }
        Ok(ended)
    }

    pub(crate) fn is_my_running_job(conn: &Connection, job_id: &str, me: &Actor) -> Result<bool> {
        Ok(conn
            .prepare_cached(
                "SELECT 1 FROM jobs WHERE id = ?1 AND status = 'RUNNING' AND assignee_id = ?2",
            )?
            .exists(params![job_id, me.id])?)
    }

    /// Local state = cloud state + queued actions replayed through the rules.
    /// A queued action the rules now refuse is left for the cloud to judge
    /// (it will come back as a conflict) and does not change local state.
    fn recompute(tx: &Transaction<'_>, job_id: &str, me: &Actor) -> Result<()> {
        let cloud: Job = serde_json::from_str(&tx.query_row(
            "SELECT server_json FROM jobs WHERE id = ?1",
            [job_id],
            |r| r.get::<_, String>(0),
        )?)?;
        let pending = Self::pending_for_job(tx, job_id)?;
        // The required work is judged against the job as it will stand once
        // every queued entry is applied (a completion always comes last).
        let final_site = pending
            .iter()
            .fold(cloud.site_data.clone(), |site, (p, _)| match &p.action {
                Action::EnterSiteData { data } => site.merged(data),
                _ => site,
            });
        let mut state = JobState {
            status: cloud.status.clone(),
            assignee_id: cloud.assignee.as_ref().map(|t| t.id.clone()),
            assignee_name: cloud.assignee.as_ref().map(|t| t.name.clone()),
            failure_comment: cloud.failure_comment.clone(),
            installation_started: cloud.installation_started_at.is_some(),
            missing_work: Self::missing_work_for(tx, job_id, &cloud, &final_site)?,
            provider_specified: provider_specified(&cloud),
            site: cloud.site_data.clone(),
        };
        for pending in pending {
            let actor = if pending.1 == me.id {
                me.clone()
            } else {
                Actor {
                    id: pending.1.clone(),
                    name: pending.1.clone(),
                }
            };
            match rules::apply(&state, &actor, &pending.0.action) {
                Ok(next) => state = next,
                Err(why) => tracing::info!(
                    job_id,
                    action = pending.0.action.name(),
                    %why,
                    "queued action no longer fits the cloud's state; the cloud will judge it"
                ),
            }
        }
        Self::write_state(tx, job_id, &state)
    }

    /// What the job's latest attested run leaves missing, with `site` as
    /// the technician's entries.
    fn missing_work_for(
        conn: &Connection,
        job_id: &str,
        cloud: &Job,
        site: &SiteData,
    ) -> Result<Vec<smartcontrol_cloud_api::MissingWork>> {
        let job = local_effective(cloud, site);
        let attestation = Self::latest_attestation(conn, job_id)?;
        Ok(missing_work(&job, attestation.as_ref().map(|a| &a.fields)))
    }

    fn write_state(tx: &Transaction<'_>, job_id: &str, s: &JobState) -> Result<()> {
        tx.prepare_cached(
            "UPDATE jobs SET status = ?2, assignee_id = ?3, assignee_name = ?4,
                failure_comment = ?5, installation_started = ?6 WHERE id = ?1",
        )?
        .execute(params![
            job_id,
            s.status.as_str(),
            s.assignee_id,
            s.assignee_name,
            s.failure_comment,
            s.installation_started
        ])?;
        let site_json = serde_json::to_string(&s.site)?;
        let stored: (i64, String, String) = tx
            .prepare_cached("SELECT rowid, site_json, search_text FROM jobs WHERE id = ?1")?
            .query_row([job_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        if stored.1 != site_json {
            // What the technician entered shows in lists and search at once.
            let cloud: Job = serde_json::from_str(
                &tx.prepare_cached("SELECT server_json FROM jobs WHERE id = ?1")?
                    .query_row([job_id], |r| r.get::<_, String>(0))?,
            )?;
            let cols = SummaryColumns::of(&cloud, &s.site);
            tx.prepare_cached(
                "UPDATE jobs SET site_json = ?2, license_plate = ?3, vin = ?4,
                    vehicle_model = ?5, search_text = ?6, sort_key = ?7 WHERE id = ?1",
            )?
            .execute(params![
                job_id,
                site_json,
                cols.license_plate,
                cols.vin,
                cols.vehicle_model,
                cols.search_text,
                cols.sort_key
            ])?;
            Self::search_index_update(
                tx,
                stored.0,
                Some(&stored.2),
                &cols.search_text,
                SearchIndexing::Now,
            )?;
        }
        Ok(())
    }

    /// Forgets a job that left the technician's reach (its vehicle test
    /// results included). Queued work must have been moved to conflicts.
    pub(crate) fn delete_job(tx: &Transaction<'_>, job_id: &str) -> Result<()> {
        let row: Option<(i64, String)> = tx
            .query_row(
                "SELECT rowid, search_text FROM jobs WHERE id = ?1",
                [job_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((rowid, text)) = row {
            if Self::search_queued(tx, rowid)? {
                tx.prepare_cached("DELETE FROM search_queue WHERE job = ?1")?
                    .execute([rowid])?;
            } else {
                Self::search_index_remove(tx, rowid, &text)?;
            }
        }
        tx.execute(
            "INSERT INTO job_tombstones (job_id, server_version, deleted_at)
             VALUES (?1, COALESCE((SELECT server_version FROM jobs WHERE id = ?1), 0),
                     CAST(strftime('%s', 'now') AS INTEGER))
             ON CONFLICT (job_id) DO UPDATE SET
                server_version = MAX(server_version, excluded.server_version),
                deleted_at = excluded.deleted_at",
            [job_id],
        )?;
        tx.execute("DELETE FROM jobs WHERE id = ?1", [job_id])?;
        tx.execute("DELETE FROM vehicle_tests WHERE job_id = ?1", [job_id])?;
        tx.execute("DELETE FROM workflow_reports WHERE job_id = ?1", [job_id])?;
        Self::erase_grant(tx, job_id)?;
        Ok(())
    }

    /// The cloud version a forgotten job had, when the store deleted it
    /// (see [`Store::delete_job`]); `None` for a job never deleted or
    /// brought back by a pull.
    pub(crate) fn tombstone(tx: &Transaction<'_>, job_id: &str) -> Result<Option<i64>> {
        Ok(tx
            .prepare_cached("SELECT server_version FROM job_tombstones WHERE job_id = ?1")?
            .query_row([job_id], |r| r.get(0))
            .optional()?)
    }

    /// Whether the store forgot any job (see [`Store::delete_job`]).
    pub(crate) fn has_tombstones(tx: &Transaction<'_>) -> Result<bool> {
        Ok(tx
            .prepare_cached("SELECT 1 FROM job_tombstones LIMIT 1")?
            .exists([])?)
    }

    /// The changes feed shows the job again: it is in reach, whatever a
    /// tombstone said.
    pub(crate) fn clear_tombstone(tx: &Transaction<'_>, job_id: &str) -> Result<()> {
        tx.prepare_cached("DELETE FROM job_tombstones WHERE job_id = ?1")?
            .execute([job_id])?;
        Ok(())
    }

    /// Adds the job at `rowid` with `text` (its `search_text`) to the
    /// search index.
    fn search_index_add(tx: &Connection, rowid: i64, text: &str) -> Result<()> {
        tx.prepare_cached("INSERT INTO jobs_search (rowid, grams) VALUES (?1, ?2)")?
            .execute(params![rowid, search_grams(text)])?;
        Ok(())
    }

    /// The job at `rowid` now has `new` as its `search_text`, and had
    /// `old` (None: a new row). Its windows are replaced in the index now,
    /// or, [`SearchIndexing::Later`], the job is queued for
    /// [`Store::index_queued_search`]. A queued job stays queued: it is
    /// indexed with the text it has then.
    fn search_index_update(
        tx: &Transaction<'_>,
        rowid: i64,
        old: Option<&str>,
        new: &str,
        search: SearchIndexing,
    ) -> Result<()> {
        if old == Some(new) || (old.is_some() && Self::search_queued(tx, rowid)?) {
            return Ok(());
        }
        if let Some(old) = old {
            Self::search_index_remove(tx, rowid, old)?;
        }
        match search {
            SearchIndexing::Now => Self::search_index_add(tx, rowid, new),
            SearchIndexing::Later => {
                tx.prepare_cached("INSERT OR IGNORE INTO search_queue (job) VALUES (?1)")?
                    .execute([rowid])?;
                Ok(())
            }
        }
    }

    /// Whether the job at `rowid` waits for its search windows.
    fn search_queued(tx: &Connection, rowid: i64) -> Result<bool> {
        Ok(tx
            .prepare_cached("SELECT 1 FROM search_queue WHERE job = ?1")?
            .exists([rowid])?)
    }

    /// Whether any job waits for its search windows.
    pub(crate) fn search_queue_is_empty(&self) -> Result<bool> {
        self.read(|c| {
            Ok(!c
                .prepare_cached("SELECT 1 FROM search_queue LIMIT 1")?
                .exists([])?)
        })
    }

    /// Adds the windows of up to `batch` queued jobs to the search index,
    /// in one transaction with their removal from the queue; returns how
    /// many it took off the queue (0: none was left). Committed as a
    /// sync's page is (not waiting for the disk): after a power loss the
    /// batch is queued again, as it was.
    pub(crate) fn index_queued_search(&self, batch: usize) -> Result<usize> {
        let limit = i64::try_from(batch).unwrap_or(i64::MAX);
        self.write_refetchable(|tx| {
            let rows: Vec<(i64, Option<String>)> = tx
                .prepare_cached(
                    "SELECT q.job, j.search_text FROM search_queue q
                     LEFT JOIN jobs j ON j.rowid = q.job ORDER BY q.job LIMIT ?1",
                )?
                .query_map([limit], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let Some(&(last, _)) = rows.last() else {
                return Ok(0);
            };
            for (rowid, text) in &rows {
                // A row gone meanwhile has nothing to index.
                if let Some(text) = text {
                    Self::search_index_add(tx, *rowid, text)?;
                }
            }
            tx.prepare_cached("DELETE FROM search_queue WHERE job <= ?1")?
                .execute([last])?;
            Ok(rows.len())
        })
    }

    /// Merges segments of the search index, about `pages` pages of work
    /// in one transaction; returns whether there was any to do. Each
    /// transaction of the indexer (and each commit that adds windows)
    /// leaves a segment of its own, and with `automerge` off they pile up
    /// to 16 a level: a search looks its window up in every segment (at
    /// 100,000 jobs about 0.099 ms against 0.082 ms in one segment). Run
    /// after the indexer has emptied the queue, until it returns false.
    pub(crate) fn merge_search_index(&self, pages: u32) -> Result<bool> {
        self.write_refetchable(|tx| {
            let before: i64 = tx.query_row("SELECT total_changes()", [], |r| r.get(0))?;
            // Negative: segments of every level are merged together.
            tx.prepare_cached("INSERT INTO jobs_search (jobs_search, rank) VALUES ('merge', ?1)")?
                .execute([-i64::from(pages)])?;
            let after: i64 = tx.query_row("SELECT total_changes()", [], |r| r.get(0))?;
            // The INSERT of the command counts as one change itself.
            Ok(after - before > 1)
        })
    }

    /// Removes the job at `rowid` from the search index; `text` is the
    /// `search_text` it was added with.
    fn search_index_remove(tx: &Transaction<'_>, rowid: i64, text: &str) -> Result<()> {
        tx.prepare_cached(
            "INSERT INTO jobs_search (jobs_search, rowid, grams) VALUES ('delete', ?1, ?2)",
        )?
        .execute(params![rowid, search_grams(text)])?;
        Ok(())
    }

    fn job_state(conn: &Connection, job_id: &str) -> Result<Option<(JobState, i64)>> {
        Self::job_state_for(conn, job_id, true)
    }

    /// The job's state for the rules, with its cloud version. Without
    /// `with_work` the cloud's JSON is not parsed and `missing_work` and
    /// `provider_specified` are left empty: only for an action whose rule
    /// reads neither (see [`reads_work`]).
    fn job_state_for(
        conn: &Connection,
        job_id: &str,
        with_work: bool,
    ) -> Result<Option<(JobState, i64)>> {
        let row = conn
            .prepare_cached(
                "SELECT status, assignee_id, assignee_name, failure_comment,
                    installation_started, server_version, server_json, site_json
                 FROM jobs WHERE id = ?1",
            )?
            .query_row([job_id], |r| {
                // Parsed from SQLite's copy of the text, not a new String.
                let cloud = if with_work {
                    Some(serde_json::from_str::<Job>(text_ref(r, 6)?))
                } else {
                    None
                };
                Ok((
                    JobStatus::from(text_ref(r, 0)?),
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, bool>(4)?,
                    r.get::<_, i64>(5)?,
                    cloud,
                    serde_json::from_str::<SiteData>(text_ref(r, 7)?),
                ))
            })
            .optional()?;
        let Some((
            status,
            assignee_id,
            assignee_name,
            failure_comment,
            started,
            version,
            cloud,
            site,
        )) = row
        else {
            return Ok(None);
        };
        let site = site?;
        let (missing_work, provider_specified) = match cloud.transpose()? {
            Some(cloud) => (
                Self::missing_work_for(conn, job_id, &cloud, &site)?,
                provider_specified(&cloud),
            ),
            None => (Vec::new(), Vec::new()),
        };
        Ok(Some((
            JobState {
                status,
                assignee_id,
                assignee_name,
                failure_comment,
                installation_started: started,
                missing_work,
                provider_specified,
                site,
            },
            version,
        )))
    }

    // ---- technician actions -------------------------------------------

    /// Applies `action` locally and queues it, in one transaction, as `me`.
    #[cfg(test)]
    pub(crate) fn queue_action(
        &self,
        me: &Actor,
        job_id: &str,
        action: Action,
    ) -> Result<QueuedAction> {
        self.queue_action_by(job_id, action, |_| Ok(me.clone()))
    }

    /// [`Store::queue_action`] as the technician signed in on this device:
    /// the account is read, and checked against the cloud's removal of it,
    /// in the action's own transaction (no read of its own before it, and
    /// no logout or removal can come between the check and the action).
    pub(crate) fn queue_action_signed_in(
        &self,
        job_id: &str,
        action: Action,
    ) -> Result<QueuedAction> {
        self.queue_action_by(job_id, action, |tx| {
            let account = Self::account(tx)?.ok_or(CoreError::NotLoggedIn)?;
            if let Some(reason) = Self::meta_get(tx, meta::ACCOUNT_REMOVED)? {
                let pending = Self::pending_count(tx)?;
                return Err(CoreError::AccountRemoved { reason, pending }.into());
            }
            Ok(Actor {
                id: account.technician_id,
                name: account.name,
            })
        })
    }

    fn queue_action_by(
        &self,
        job_id: &str,
        action: Action,
        actor: impl FnOnce(&Transaction<'_>) -> Result<Actor>,
    ) -> Result<QueuedAction> {
        let queued = {
            let mut conn = Self::lock(&self.writer);
            // Taken: if anything below fails, the next action counts again.
            let cached = self.pending_total().take();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let me = actor(&tx)?;
            let mut queued = Self::apply_and_queue(&tx, &me, job_id, action)?;
            let version: i64 = tx
                .prepare_cached("PRAGMA data_version")?
                .query_row([], |r| r.get(0))?;
            queued.pending_actions = match cached {
                Some((at, n)) if at == version => n + 1,
                _ => Self::pending_count(&tx)?,
            };
            tx.commit()?;
            *self.pending_total() = Some((version, queued.pending_actions));
            // The writer never checkpoints in its commits: actions alone
            // must keep the log bounded too.
            self.checkpoints
                .after_commit(&conn, WAL_CHECKPOINT_BYTES, false);
            queued
        };
        Ok(queued)
    }

    /// [`Store::queue_action`] inside a caller's transaction.
    pub(crate) fn queue_action_tx(
        tx: &Transaction<'_>,
        me: &Actor,
        job_id: &str,
        action: Action,
    ) -> Result<QueuedAction> {
        let mut queued = Self::apply_and_queue(tx, me, job_id, action)?;
        queued.pending_actions = Self::pending_count(tx)?;
        Ok(queued)
    }

    /// The action applied to the job and queued; `pending_actions` left 0
    /// for the caller to count.
    fn apply_and_queue(
        tx: &Transaction<'_>,
        me: &Actor,
        job_id: &str,
        action: Action,
    ) -> Result<QueuedAction> {
        {
            // A claim or withdraw does not parse the job's cloud JSON.
            let (state, base_version) = Self::job_state_for(tx, job_id, reads_work(&action))?
                .ok_or_else(|| CoreError::JobNotFound {
                    job_id: job_id.to_owned(),
                })?;
            let next =
                rules::apply(&state, me, &action).map_err(|reason| CoreError::ActionRefused {
                    action: action.name().to_lowercase().replace('_', " "),
                    job_id: job_id.to_owned(),
                    reason,
                })?;
            // A completion carries the job's report: the vehicle test results.
            let action = match action {
                Action::CompleteSucceeded { report } => Action::CompleteSucceeded {
                    report: Self::with_run(tx, job_id, report)?,
                },
                Action::CompleteFailed { comment, report } => Action::CompleteFailed {
                    comment: comment.trim().to_owned(),
                    report: Self::with_run(tx, job_id, report)?,
                },
                other => other,
            };
            Self::write_state(tx, job_id, &next)?;
            if next.status != JobStatus::Running || next.assignee_id.as_deref() != Some(&me.id) {
                // Completed or withdrawn: vehicle access ends now, offline too.
                Self::erase_grant(tx, job_id)?;
            }
            let key = uuid::Uuid::new_v4().to_string();
            tx.prepare_cached(
                "INSERT INTO outbox (idempotency_key, job_id, technician_id, action_json,
                    base_version, performed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                key,
                job_id,
                me.id,
                serde_json::to_string(&action)?,
                base_version,
                now_rfc3339(),
            ])?;
            Ok(QueuedAction {
                idempotency_key: key,
                job_id: job_id.to_owned(),
                action: action.name().to_owned(),
                status: next.status,
                pending_actions: 0,
            })
        }
    }

    // ---- views ---------------------------------------------------------

    /// The SQL condition of a view and whether it names the technician
    /// (`:me`).
    fn view_filter(view: JobView) -> (&'static str, bool) {
        match view {
            // The open jobs' index (`jobs_open_list`, partial): its condition
            // is spelled out so that SQLite knows the index holds them.
            JobView::Available => (
                "status IN ('ASSIGNED', 'RUNNING') AND status = 'ASSIGNED'",
                false,
            ),
            JobView::Mine => ("status = 'RUNNING' AND assignee_id = :me", true),
            JobView::Done => (
                "status IN ('SUCCEEDED', 'FAILED') AND assignee_id = :me",
                true,
            ),
            // Jobs with an assignee (`jobs_by_assignee`, partial).
            JobView::Colleagues => (
                "assignee_id IS NOT NULL AND status = 'RUNNING' AND assignee_id <> :me",
                true,
            ),
            JobView::All => ("1", false),
        }
    }

    /// One page of a job list, from local state only.
    pub(crate) fn jobs(&self, me: Option<&str>, q: &JobQuery) -> Result<JobPage> {
        let me = me.unwrap_or("");
        let (view_sql, uses_me) = Self::view_filter(q.view);
        let mut filter = String::from(view_sql);
        // Three characters or more: the search index finds the substring
        // (see `search_grams`). Shorter, or with a control character (the
        // index splits tokens there): a plain scan.
        let term = q
            .search
            .as_deref()
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty());
        let fts = term
            .as_ref()
            .is_some_and(|t| t.chars().count() >= 3 && !t.chars().any(|c| c.is_ascii_control()));
        // A full-text term, bound as `:term` where the SQL tests it as a
        // substring: a term longer than a window (the jobs its last window
        // finds must contain it), and the jobs still queued for the index.
        let mut fts_term = None;
        let mut term_checked = false;
        let search = term.map(|t| {
            if fts {
                // The index clause itself is added in the read below.
                let m = match gram_match(&t) {
                    GramMatch::Prefix(m) => m,
                    GramMatch::Windows(m) => {
                        filter.push_str(" AND instr(search_text, :term) > 0");
                        term_checked = true;
                        m
                    }
                };
                fts_term = Some(t);
                m
            } else {
                filter.push_str(" AND search_text LIKE :search ESCAPE '\\'");
                format!("%{}%", escape_like(&t))
            }
        });
        if q.provider.is_some() {
            filter.push_str(
                " AND (provider_id = :provider OR lower(provider_name) = lower(:provider))",
            );
        }
        if q.fleet.is_some() {
            filter.push_str(" AND (fleet_id = :fleet OR lower(fleet_name) = lower(:fleet))");
        }
        let mut named: Vec<(&str, &dyn rusqlite::ToSql)> = Vec::new();
        if uses_me {
            named.push((":me", &me));
        }
        if let Some(s) = &search {
            named.push((":search", s));
        }
        if let Some(p) = &q.provider {
            named.push((":provider", p));
        }
        if let Some(f) = &q.fleet {
            named.push((":fleet", f));
        }
        // A plain view's total is cached per data version of the store
        // (see `view_totals`) rather than counted over every job it holds
        // on each read. A full-text search counts its matches in the same
        // query as the page (`COUNT(*) OVER ()`), so the index is read once;
        // other filters count over their index.
        let plain = search.is_none() && q.provider.is_none() && q.fleet.is_none();
        self.read(|conn| {
            // Jobs of a sync still waiting for the index: asked in this
            // read's snapshot, so the page sees them either way.
            let queued = fts
                && conn
                    .prepare_cached("SELECT 1 FROM search_queue LIMIT 1")?
                    .exists([])?;
            let filter = match (fts, queued) {
                (false, _) => filter,
                (true, false) => filter + SEARCH_INDEXED,
                (true, true) => filter + SEARCH_INDEXED_OR_QUEUED,
            };
            if let Some(t) = fts_term.as_ref().filter(|_| term_checked || queued) {
                named.push((":term", t));
            }
            let page_sql = format!(
                "SELECT {SUMMARY_COLUMNS}{} FROM jobs WHERE {filter}
                 ORDER BY sort_key
                 LIMIT {} OFFSET {}",
                if fts { ", COUNT(*) OVER ()" } else { "" },
                q.limit,
                q.offset
            );
            let count_sql = format!("SELECT COUNT(*) FROM jobs WHERE {filter}");
            let mut stmt = conn.prepare_cached(&page_sql)?;
            let mut counted = None;
            // Room for the whole page at once (a page of 1,000 grew the
            // vector ten times, copying each summary about twice).
            let mut jobs = Vec::with_capacity(usize::try_from(q.limit.min(1_000)).unwrap_or(0));
            let mut rows = stmt.query(named.as_slice())?;
            while let Some(r) = rows.next()? {
                if fts {
                    counted = Some(r.get::<_, i64>(SUMMARY_COLUMN_COUNT)?);
                }
                jobs.push(summary_from_row(r)?);
            }
            let total = match counted {
                Some(n) => n,
                // A plain view: the cached total while the store is as it
                // was counted. The page query above opened this read
                // transaction's snapshot, so the data version read now
                // and the count below both belong to that snapshot.
                None if plain => {
                    let version: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
                    let key = (
                        view_sql,
                        if uses_me {
                            me.to_owned()
                        } else {
                            String::new()
                        },
                    );
                    let cached = self
                        .totals()
                        .get(&key)
                        .filter(|(at, _)| *at == version)
                        .map(|(_, n)| *n);
                    match cached {
                        Some(n) => n,
                        None => {
                            let n: i64 = conn
                                .prepare_cached(&count_sql)?
                                .query_row(named.as_slice(), |r| r.get(0))?;
                            self.totals().insert(key, (version, n));
                            n
                        }
                    }
                }
                // No row of the page to carry the count, or another filter.
                None => conn
                    .prepare_cached(&count_sql)?
                    .query_row(named.as_slice(), |r| r.get(0))?,
            };
            Ok(JobPage {
                jobs,
                total: u64::try_from(total).unwrap_or(0),
            })
        })
    }

    /// Everything about one job.
    /// One job with everything a detail screen shows; `me` (the logged-in
    /// technician) decides the available actions.
    pub(crate) fn job(&self, job_id: &str, me: Option<&Actor>) -> Result<JobDetail> {
        self.read(|conn| {
            let row = conn
                .query_row(
                    &format!(
                        "SELECT {SUMMARY_COLUMNS}, server_json, installation_started,
                            failure_comment FROM jobs WHERE id = ?1"
                    ),
                    [job_id],
                    |r| {
                        Ok((
                            summary_from_row(r)?,
                            r.get::<_, String>(16)?,
                            r.get::<_, bool>(17)?,
                            r.get::<_, Option<String>>(18)?,
                        ))
                    },
                )
                .optional()?;
            let (summary, cloud, installation_started, failure_comment) =
                row.ok_or_else(|| CoreError::JobNotFound {
                    job_id: job_id.to_owned(),
                })?;
            let cloud: Job = serde_json::from_str(&cloud)?;
            let (state, _) =
                Self::job_state(conn, job_id)?.ok_or_else(|| CoreError::JobNotFound {
                    job_id: job_id.to_owned(),
                })?;
            let effective = local_effective(&cloud, &state.site);
            let open_fields = {
                let mut j = cloud.clone();
                j.site_data = state.site.clone();
                j.open_fields().iter().map(SiteField::name).collect()
            };
            Ok(JobDetail {
                summary,
                installation_started,
                failure_comment,
                pending: Self::pending_for_job(conn, job_id)?
                    .into_iter()
                    .map(|(p, _)| p)
                    .collect(),
                vehicle_tests: Self::vehicle_tests(conn, job_id)?,
                available_actions: match me {
                    Some(me) => rules::available_actions(&state, me),
                    None => Vec::new(),
                },
                required_work: RequiredWork::of(&cloud.requirements, &state.missing_work),
                site_data: state.site,
                open_fields,
                effective,
                cloud,
            })
        })
    }

    /// A short label for a job (plate, name, VIN or id), if it is stored.
    pub(crate) fn job_label(conn: &Connection, job_id: &str) -> Result<String> {
        Ok(conn
            .query_row(
                "SELECT COALESCE(license_plate, custom_name, vin, id) FROM jobs WHERE id = ?1",
                [job_id],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or_else(|| job_id.to_owned()))
    }

    // ---- outbox --------------------------------------------------------

    pub(crate) fn pending_count(conn: &Connection) -> Result<u64> {
        let n: i64 = conn.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The job's count of queued actions (its row's, kept by the outbox's
    /// triggers); 0 for a job not stored.
    fn pending_count_for(conn: &Connection, job_id: &str) -> Result<i64> {
        Ok(conn
            .prepare_cached("SELECT pending_actions FROM jobs WHERE id = ?1")?
            .query_row([job_id], |r| r.get(0))
            .optional()?
            .unwrap_or(0))
    }

    /// The oldest `limit` queued actions, in the order they were taken.
    pub(crate) fn pending_batch(conn: &Connection, limit: usize) -> Result<Vec<PendingAction>> {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY seq LIMIT ?1"
        ))?;
        let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            pending_from_row(r)
        })?;
        rows.map(|r| Ok(r??.0)).collect()
    }

    /// Queued actions of one job with the technician who took each. The
    /// outbox has no index by job: it is read only when the job's count
    /// says it has queued actions.
    fn pending_for_job(conn: &Connection, job_id: &str) -> Result<Vec<(PendingAction, String)>> {
        if Self::pending_count_for(conn, job_id)? == 0 {
            return Ok(Vec::new());
        }
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE job_id = ?1 ORDER BY seq"
        ))?;
        let rows = stmt.query_map([job_id], pending_from_row)?;
        rows.map(|r| r?).collect()
    }

    /// Every queued action, oldest first.
    pub(crate) fn pending_all(&self) -> Result<Vec<PendingAction>> {
        self.read(|conn| Self::pending_batch(conn, usize::MAX))
    }

    /// Notes a transient failure on the actions of a batch.
    pub(crate) fn note_attempt(&self, keys: &[String], error: &str) -> Result<()> {
        self.write(|tx| {
            let mut stmt = tx.prepare_cached(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2
                 WHERE idempotency_key = ?1",
            )?;
            for k in keys {
                stmt.execute(params![k, error])?;
            }
            Ok(())
        })
    }

    /// The cloud applied a queued action: drop it from the outbox and take
    /// the cloud's job as the new truth. Returns whether access ended (as
    /// [`Store::upsert_cloud_job`]).
    pub(crate) fn action_applied(
        tx: &Transaction<'_>,
        key: &str,
        job: &Job,
        me: &Actor,
    ) -> Result<bool> {
        let removed = tx
            .prepare_cached("DELETE FROM outbox WHERE idempotency_key = ?1")?
            .execute([key])?;
        if removed == 0 {
            // Already turned into a conflict locally, but the cloud applied
            // it after all: it is no conflict.
            tx.execute(
                "DELETE FROM conflicts WHERE idempotency_key = ?1 AND resolved_at IS NULL",
                [key],
            )?;
        }
        if let Some(version) = Self::tombstone(tx, &job.id)? {
            // A late answer for a job a pull removed meanwhile: it stays gone.
            tracing::info!(job_id = %job.id, answer_version = job.version, deleted_at_version = version, "late push answer for a removed job ignored");
            return Ok(false);
        }
        Self::upsert_cloud_job(tx, job, me)
    }

    /// The cloud refused a queued action for good: keep it, and every later
    /// action queued on the same job, as conflicts; the job returns to the
    /// cloud's truth (or leaves the device when the cloud no longer shows it).
    pub(crate) fn action_rejected(
        tx: &Transaction<'_>,
        key: &str,
        reason: &RejectReason,
        message: &str,
        cloud_job: Option<&Job>,
        me: &Actor,
    ) -> Result<u64> {
        let Some((first, job_id)) = tx
            .query_row(
                "SELECT seq, job_id FROM outbox WHERE idempotency_key = ?1",
                [key],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()?
        else {
            // Already handled (e.g. as a follower of an earlier rejection).
            return Ok(0);
        };
        let label = Self::job_label(tx, &job_id)?;
        let tests = serde_json::to_string(&Self::vehicle_tests(tx, &job_id)?)?;
        let server_json = cloud_job.map(serde_json::to_string).transpose()?;
        let rows: Vec<(i64, String, String)> = tx
            .prepare_cached(
                "SELECT seq, idempotency_key, action_json FROM outbox
                 WHERE job_id = ?1 AND seq >= ?2 ORDER BY seq",
            )?
            .query_map(params![job_id, first], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<_, _>>()?;
        let now = now_rfc3339();
        for (seq, k, action_json) in &rows {
            let (reason, message) = if *seq == first {
                (reason.clone(), message.to_owned())
            } else {
                (
                    RejectReason::PrecedingActionRejected,
                    "an earlier action on this job was refused".to_owned(),
                )
            };
            tx.execute(
                "INSERT INTO conflicts (job_id, job_label, idempotency_key, action_json,
                    vehicle_tests_json, reason, message, server_job_json, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    job_id,
                    label,
                    k,
                    action_json,
                    tests,
                    reason.as_str(),
                    message,
                    server_json,
                    now
                ],
            )?;
            tx.execute("DELETE FROM outbox WHERE seq = ?1", [seq])?;
            tracing::warn!(job_id, key = k, reason = %reason, "queued action refused by the cloud; kept as a conflict");
        }
        match cloud_job {
            Some(job) if Self::tombstone(tx, &job.id)?.is_some() => {
                tracing::info!(job_id = %job.id, "late refusal for a removed job: the job stays gone");
            }
            Some(job) => {
                Self::upsert_cloud_job(tx, job, me)?;
            }
            None => Self::delete_job(tx, &job_id)?,
        }
        Ok(u64::try_from(rows.len()).unwrap_or(0))
    }

    /// A job left the technician's reach: queued work on it becomes
    /// conflicts, the job leaves the device. Returns the conflicts created.
    pub(crate) fn job_removed(
        tx: &Transaction<'_>,
        job_id: &str,
        reason: &RejectReason,
        message: &str,
        me: &Actor,
    ) -> Result<u64> {
        let first_key: Option<String> = tx
            .query_row(
                "SELECT idempotency_key FROM outbox WHERE job_id = ?1 ORDER BY seq LIMIT 1",
                [job_id],
                |r| r.get(0),
            )
            .optional()?;
        let conflicts = match first_key {
            Some(k) => Self::action_rejected(tx, &k, reason, message, None, me)?,
            None => 0,
        };
        Self::delete_job(tx, job_id)?;
        Ok(conflicts)
    }

    // ---- conflicts -----------------------------------------------------

    pub(crate) fn open_conflicts(conn: &Connection) -> Result<Vec<Conflict>> {
        let mut stmt = conn.prepare_cached(
            "SELECT id, job_id, job_label, action_json, vehicle_tests_json, reason, message,
                server_job_json, created_at, idempotency_key
             FROM conflicts WHERE resolved_at IS NULL ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, Option<String>>(7)?,
                r.get::<_, String>(8)?,
                r.get::<_, String>(9)?,
            ))
        })?;
        rows.map(|row| {
            let (id, job_id, job_label, action, tests, reason, message, server, created_at, key) =
                row?;
            Ok(Conflict {
                id,
                idempotency_key: key,
                job_id,
                job_label,
                action: serde_json::from_str(&action)?,
                vehicle_tests: serde_json::from_str(&tests)?,
                reason: RejectReason::from(reason),
                message,
                server_job: server.map(|s| serde_json::from_str(&s)).transpose()?,
                created_at,
            })
        })
        .collect()
    }

    pub(crate) fn open_conflict_count(conn: &Connection) -> Result<u64> {
        let n: i64 = conn.query_row(
            "SELECT COUNT(*) FROM conflicts WHERE resolved_at IS NULL",
            [],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Marks an open conflict resolved; returns it.
    pub(crate) fn resolve_conflict(
        tx: &Transaction<'_>,
        id: i64,
        resolution: &str,
    ) -> Result<Conflict> {
        let conflict = Self::open_conflicts(tx)?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or(CoreError::ConflictNotFound { id })?;
        tx.execute(
            "UPDATE conflicts SET resolved_at = ?2, resolution = ?3 WHERE id = ?1",
            params![id, now_rfc3339(), resolution],
        )?;
        Ok(conflict)
    }

    /// Erases the session, the sync cursor and every job-scoped local datum
    /// (jobs, vehicle tests); the outbox must be empty or discarded.
    pub(crate) fn clear_account(tx: &Transaction<'_>) -> Result<()> {
        tx.execute_batch(
            "DELETE FROM outbox; DELETE FROM jobs; DELETE FROM vehicle_tests; DELETE FROM grants;
             DELETE FROM workflow_reports; DELETE FROM job_tombstones;
             INSERT INTO jobs_search (jobs_search) VALUES ('delete-all'); DELETE FROM search_queue;
             DELETE FROM conflicts; DELETE FROM meta;",
        )?;
        Ok(())
    }
}

/// Columns of a [`PendingAction`] row, in the order [`pending_from_row`] reads them.
const OUTBOX_COLUMNS: &str = "seq, idempotency_key, job_id, action_json, base_version, \
     performed_at, attempts, last_error, technician_id";

type PendingRow = Result<(PendingAction, String)>;

fn pending_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PendingRow> {
    let action_json: String = r.get(3)?;
    let action = match serde_json::from_str(&action_json) {
        Ok(a) => a,
        Err(e) => return Ok(Err(e.into())),
    };
    Ok(Ok((
        PendingAction {
            seq: r.get(0)?,
            idempotency_key: r.get(1)?,
            job_id: r.get(2)?,
            action,
            base_version: r.get(4)?,
            performed_at: r.get(5)?,
            attempts: r.get(6)?,
            last_error: r.get(7)?,
        },
        r.get(8)?,
    )))
}

/// Column `i` as text borrowed from SQLite (no copy).
fn text_ref<'a>(r: &'a rusqlite::Row<'_>, i: usize) -> rusqlite::Result<&'a str> {
    r.get_ref(i)?.as_str().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn summary_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobSummary> {
    Ok(JobSummary {
        id: r.get(0)?,
        // A known kind or status is matched without copying the text.
        kind: text_ref(r, 1)?.into(),
        status: text_ref(r, 2)?.into(),
        license_plate: r.get(3)?,
        vin: r.get(4)?,
        custom_name: r.get(5)?,
        vehicle_model: r.get(6)?,
        provider_id: r.get(7)?,
        provider_name: r.get(8)?,
        fleet_id: r.get(9)?,
        fleet_name: r.get(10)?,
        planned_service_date: r.get(11)?,
        assignee_id: r.get(12)?,
        assignee_name: r.get(13)?,
        vehicle_tests_required: r.get(14)?,
        pending_actions: r.get(15)?,
    })
}

/// The job as it stands on this device: the cloud's job with `site` (the
/// cloud's accepted entries and the queued ones) as the technician's data.
pub(crate) fn local_effective(cloud: &Job, site: &SiteData) -> Job {
    let mut j = cloud.clone();
    j.site_data = site.clone();
    j.effective()
}

/// Whether the rule of `action` ([`rules::apply`]) reads the job's missing
/// work or the provider's specifications, which need the cloud's JSON
/// parsed: a completion as SUCCEEDED and site data do; a claim, take-over,
/// withdraw, start or failed completion read the status, the assignee and
/// the installation flag only.
fn reads_work(action: &Action) -> bool {
    match action {
        Action::CompleteSucceeded { .. } | Action::EnterSiteData { .. } => true,
        Action::Claim
        | Action::TakeOver
        | Action::Withdraw
        | Action::StartInstallation
        | Action::CompleteFailed { .. } => false,
    }
}

/// Specifications the provider set on the cloud's job.
fn provider_specified(cloud: &Job) -> Vec<SiteField> {
    let mut out: Vec<SiteField> = [
        SiteField::Vin,
        SiteField::LicensePlate,
        SiteField::VehicleModel,
        SiteField::CentralLockConnectionType,
        SiteField::CloudboxxSerial,
    ]
    .into_iter()
    .filter(|f| cloud.specified_by_provider(f))
    .collect();
    out.extend(
        cloud
            .master_data
            .keys()
            .map(|k| SiteField::MasterData(k.clone())),
    );
    out
}

/// The denormalised list and search columns of a job as it stands: the
/// cloud's job with `site` (what the technician entered) where the provider
/// left a specification empty, as [`Job::effective`] without copying the job.
struct SummaryColumns {
    license_plate: Option<String>,
    vin: Option<String>,
    vehicle_model: Option<String>,
    /// Lower-cased plate, VIN, name, provider, fleet, model name and id.
    search_text: String,
    /// Planned date (undated last), plate, id: the list order.
    sort_key: String,
}

impl SummaryColumns {
    fn of(job: &Job, site: &SiteData) -> SummaryColumns {
        let license_plate = job.license_plate.as_ref().or(site.license_plate.as_ref());
        let vin = job.vin.as_ref().or(site.vin.as_ref());
        let vehicle_model = job.vehicle_model.as_ref().or(site.vehicle_model.as_ref());
        let mut parts: Vec<String> = [
            license_plate.map(String::as_str),
            vin.map(String::as_str),
            job.custom_name.as_deref(),
            Some(job.provider_name.as_str()),
            Some(job.fleet_name.as_str()),
        ]
        .iter()
        .flatten()
        .map(|s| s.to_lowercase())
        .collect();
        parts.push(
            vehicle_model
                .map(|m| m.name.to_lowercase())
                .unwrap_or_default(),
        );
        parts.push(
            vehicle_model
                .map(|m| m.id.to_lowercase())
                .unwrap_or_default(),
        );
        SummaryColumns {
            license_plate: license_plate.cloned(),
            vin: vin.cloned(),
            vehicle_model: vehicle_model.map(|m| m.name.clone()),
            search_text: parts.join("\u{1f}"),
            sort_key: format!(
                "{}\u{1f}{}\u{1f}{}",
                job.planned_service_date.as_deref().unwrap_or("9999-12-31"),
                license_plate.map(String::as_str).unwrap_or(""),
                job.id
            ),
        }
    }
}

/// Width of the search index's windows, in characters (see
/// [`search_grams`]): a term up to this long is one prefix query.
const GRAM: usize = 8;

/// What the search index holds for a job's `search_text`: per field (the
/// fields are joined by U+001F), the window of [`GRAM`] characters that
/// starts at each character, shorter at the field's end, leaving out
/// windows of fewer than 3 characters (no indexed search is that short).
/// A term of 3 to [`GRAM`] characters is a substring of a field exactly
/// when it starts one of the field's windows; a longer term's every
/// [`GRAM`]-character piece is one of them.
fn search_grams(search_text: &str) -> String {
    let mut out = String::with_capacity(search_text.len() * (GRAM + 1));
    for field in search_text.split('\u{1f}') {
        let starts: Vec<usize> = field.char_indices().map(|(i, _)| i).collect();
        for (n, &from) in starts.iter().enumerate() {
            if starts.len() - n < 3 {
                break;
            }
            let to = starts.get(n + GRAM).copied().unwrap_or(field.len());
            out.push_str(&field[from..to]);
            out.push('\u{1f}');
        }
    }
    out
}

/// The full-text query of a search term (3 characters or more, no control
/// character) over [`search_grams`].
enum GramMatch {
    /// Up to [`GRAM`] characters: the windows it starts.
    Prefix(String),
    /// Longer: its last [`GRAM`] characters, as one exact term; the jobs
    /// found still have to contain the whole term (`instr`).
    Windows(String),
}

/// The index is asked for one window only: FTS5 reads the whole list of
/// jobs of every term of an AND, so a cover of the term (its first window
/// included) cost as much as its most common window (every bulk job
/// shares `bulk-000`); the last window is usually the rare one (plates,
/// VINs and ids share their beginnings, not their ends), and the `instr`
/// check keeps the result exact whichever window is asked.
fn gram_match(term: &str) -> GramMatch {
    let quoted = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let starts: Vec<usize> = term.char_indices().map(|(i, _)| i).collect();
    if starts.len() <= GRAM {
        return GramMatch::Prefix(format!("{}*", quoted(term)));
    }
    GramMatch::Windows(quoted(&term[starts[starts.len() - GRAM]..]))
}

/// Fills the search index from every job's `search_text` when a migration
/// asked for it ([`meta::SEARCH_REBUILD`]), in one transaction.
fn rebuild_search_index_if_asked(conn: &mut Connection) -> Result<()> {
    if Store::meta_get(conn, meta::SEARCH_REBUILD)?.is_none() {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if Store::meta_get(&tx, meta::SEARCH_REBUILD)?.is_none() {
        // Another process on the same data directory rebuilt it meanwhile.
        return Ok(());
    }
    let rows: Vec<(i64, String)> = tx
        .prepare("SELECT rowid, search_text FROM jobs")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (rowid, text) in &rows {
        Store::search_index_add(&tx, *rowid, text)?;
    }
    // Every job is in the index now, queued ones included.
    tx.execute("DELETE FROM search_queue", [])?;
    Store::meta_set(&tx, meta::SEARCH_REBUILD, None)?;
    tx.commit()?;
    tracing::info!(jobs = rows.len(), "search index rebuilt");
    Ok(())
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The log grows past this (the size SQLite's automatic checkpoint keeps
/// it near, 1,000 pages of 4 KiB) before a commit starts a checkpoint.
const WAL_CHECKPOINT_BYTES: u64 = 4 * 1024 * 1024;

/// [`WAL_CHECKPOINT_BYTES`] while a sync writes its pages: an initial sync
/// of 10,000 jobs (about 30 MB) is copied once, after its last page,
/// instead of after every page; a larger one still stops at this.
const WAL_CHECKPOINT_BYTES_DURING_SYNC: u64 = 64 * 1024 * 1024;

/// A log file larger than this after a complete checkpoint is cut to
/// nothing (twice `journal_size_limit`, which SQLite applies itself when
/// the next commit restarts the log).
const WAL_TRUNCATE_BYTES: u64 = 2 * JOURNAL_SIZE_LIMIT_BYTES;

/// `PRAGMA journal_size_limit`: the log file SQLite keeps after it
/// restarts the log.
const JOURNAL_SIZE_LIMIT_BYTES: u64 = 4 * 1024 * 1024;

/// WAL checkpoints off the writer's commits.
///
/// SQLite's automatic checkpoint runs inside the commit that makes the log
/// pass 1,000 pages: a sync's commit then waited for the whole log to be
/// copied into the database and the database synced (more than half of
/// the commit time of a 10,000-job sync). The writer runs with
/// `wal_autocheckpoint = 0`; after a commit, when the log file is larger
/// than a threshold, a thread with its own connection runs a PASSIVE
/// checkpoint, which neither blocks the writer nor readers. Nothing about
/// durability changes: a commit is durable in the log (as its
/// `synchronous` setting says) whether or not it has been copied yet, and
/// a crash before or during a checkpoint leaves the log for the next open
/// to use; the checkpoint itself syncs the log before and the database
/// after copying. `journal_size_limit` still bounds the log file when the
/// writer restarts it after a complete checkpoint.
///
/// A log grown by ordinary commits alone (actions, a sync's status; about
/// 200 actions fill 4 MB, mostly the same few pages again) is checkpointed
/// by the writer itself, right after the commit that took it past the
/// threshold: copying it is short (each page once, however often it was
/// written) and, with no commit racing it, complete, so the next commit
/// restarts the log and writes over the file from its start. Run in the
/// background instead, the checkpoint raced the actions that followed:
/// each found new frames it had not copied, the log never restarted, its
/// file grew with every commit, and checkpoints ran one after another
/// beside the actions' own syncs (a durable action cost twice a bare
/// insert instead of 1.2 to 1.4 times).
struct Checkpoints {
    /// The `-wal` file beside the database.
    wal: std::path::PathBuf,
    connection: std::sync::Arc<Mutex<Connection>>,
    /// The checkpoint started last, while it may still run.
    running: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// A sync's pages were written since the last background checkpoint
    /// started: the log is theirs, and copying it belongs off the writer.
    pages_since: std::sync::atomic::AtomicBool,
}

impl Checkpoints {
    fn slot(&self) -> MutexGuard<'_, Option<std::thread::JoinHandle<()>>> {
        // A poisoned slot holds at most a handle: still usable.
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// After a commit of `writer`'s: when the log is larger than
    /// `threshold` bytes and no checkpoint is running, copies it, on the
    /// writer itself when ordinary commits alone wrote it (see
    /// [`Checkpoints`]), else in the background. `sync_page` says the
    /// commit was a sync's page.
    fn after_commit(&self, writer: &Connection, threshold: u64, sync_page: bool) {
        use std::sync::atomic::Ordering;
        if sync_page {
            self.pages_since.store(true, Ordering::Relaxed);
        }
        let size = std::fs::metadata(&self.wal).map(|m| m.len()).unwrap_or(0);
        if size <= threshold {
            return;
        }
        let mut slot = self.slot();
        if slot.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        if !self.pages_since.load(Ordering::Relaxed) && size <= WAL_TRUNCATE_BYTES {
            let started = std::time::Instant::now();
            match writer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
            }) {
                Ok((log, copied)) => tracing::debug!(
                    log_frames = log,
                    copied_frames = copied,
                    elapsed = ?started.elapsed(),
                    "store log checkpointed by the writer"
                ),
                // The log stays as it is; the next commit tries again.
                Err(e) => tracing::warn!(error = %e, "store log checkpoint failed"),
            }
            return;
        }
        self.pages_since.store(false, Ordering::Relaxed);
        let connection = self.connection.clone();
        let started = std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || {
                let conn = Store::lock(&connection);
                let started = std::time::Instant::now();
                let checkpoint = |mode: &str| {
                    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, i64>(2)?,
                        ))
                    })
                };
                match checkpoint("PASSIVE") {
                    Ok((_, log, copied)) => {
                        tracing::debug!(
                            log_frames = log,
                            copied_frames = copied,
                            elapsed = ?started.elapsed(),
                            "store log checkpointed"
                        );
                        // Everything copied, and the log's file far
                        // larger than the limit SQLite keeps it to (a
                        // sync's pages): the file is cut to nothing if no
                        // one writes or reads from it right now (no wait:
                        // this connection's busy timeout is 0). A PASSIVE
                        // checkpoint never shortens the file, and while a
                        // sync keeps writing the log never restarts, so
                        // without this a sync of 100,000 jobs left a log
                        // of some 350 MB beside the database. A log near
                        // the limit is left as it is: the next commit
                        // restarts it and writes over the file from its
                        // start, and a commit that overwrites the file
                        // syncs less than one that makes it longer (every
                        // commit after a cut until it has grown again:
                        // the durable action cost 1.6 times as much).
                        if log == copied && size > WAL_TRUNCATE_BYTES {
                            match checkpoint("TRUNCATE") {
                                Ok((0, _, _)) => tracing::debug!("store log truncated"),
                                Ok(_) => tracing::debug!("store log in use: not truncated"),
                                Err(e) => tracing::debug!(error = %e, "store log not truncated"),
                            }
                        }
                    }
                    // The log stays as it is; the next commit tries again.
                    Err(e) => tracing::warn!(error = %e, "store log checkpoint failed"),
                }
            });
        match started {
            Ok(handle) => *slot = Some(handle),
            // No thread now: the next commit over the threshold tries again.
            Err(e) => tracing::warn!(error = %e, "cannot start the store log checkpoint"),
        }
    }

    /// Waits for the checkpoint started last, if it still runs.
    fn wait(&self) {
        let running = self.slot().take();
        if let Some(handle) = running {
            if handle.join().is_err() {
                tracing::warn!("the store log checkpoint panicked");
            }
        }
    }
}

/// The write-ahead log of the database at `path` (`PATH-wal`).
fn wal_path(path: &Path) -> std::path::PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::path::PathBuf::from(wal)
}

/// Connection settings, in one place.
fn configure(conn: &Connection) -> Result<()> {
    // WAL: readers never block the writer, and a commit is one append to the
    // log instead of rewriting pages.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // Durability choice. In WAL mode `synchronous = NORMAL` skips the fsync
    // at each commit, so the last transactions can vanish on power loss
    // (they survive a process kill -9, not a pulled battery). A queued
    // action is a promise to the technician ("done, it will reach the
    // cloud"), so we pay one fsync per commit: FULL makes every committed
    // transaction durable across power loss. Commits are small and rare
    // (one per technician action, one per sync page), so the cost is low.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Keeps temporary tables and indices of sorts in memory, off the flash.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Bounds the WAL file after checkpoints (4 MiB) so it does not grow
    // without limit on a phone.
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT_BYTES)?;
    // No checkpoint inside this connection's commits: the store runs them
    // on their own connection after a commit ([`Checkpoints`]).
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    // Another connection of the same data dir (a second CLI process) waits
    // instead of failing at once.
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

#[cfg(test)]
mod tests;
