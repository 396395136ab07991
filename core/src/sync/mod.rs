//! Sync with the cloud: push the outbox in order and in batches, then pull
//! changes since the stored cursor. Each batch's results and each page of
//! changes are applied in one transaction.

pub(crate) mod client;
mod page_reader;

use smartcontrol_cloud_api::{
    self as api, ActionOutcome, ActionRequest, PushActionsRequest, RejectReason, RemovalReason,
};

use crate::error::{CoreError, Error};
use crate::events::Event;
use crate::model::SyncReport;
use crate::session::StoredSession;
use crate::store::{meta, SearchIndexing, Store};

/// What applying one page of the feed needs to know about the store once.
struct PulledPage {
    /// Some job was forgotten (and may come back with this page).
    tombstones: bool,
    /// Actions are queued: pulled jobs may need them replayed.
    queued: bool,
}
use crate::Inner;
use client::{ClientError, WireJob};

/// Maps a failed request to what the technician is told.
pub(crate) fn public_error(e: &ClientError) -> CoreError {
    match e {
        ClientError::Transport(detail) => CoreError::Offline {
            detail: detail.clone(),
        },
        ClientError::Http {
            status: 401,
            code,
            message,
        } if code == "account_removed" => CoreError::AccountRemoved {
            reason: message.clone(),
            pending: 0,
        },
        ClientError::Http { status: 401, .. } => CoreError::SessionExpired,
        ClientError::Http {
            status, message, ..
        } => CoreError::Server {
            status: *status,
            message: message.clone(),
        },
        ClientError::Malformed(detail) => CoreError::MalformedResponse {
            detail: detail.clone(),
        },
    }
}

impl Inner {
    fn session(&self) -> Result<StoredSession, CoreError> {
        self.store
            .read(|c| Store::meta_get(c, meta::SESSION))
            .map_err(Error::into_public)?
            .map(|json| serde_json::from_str(&json).map_err(|e| Error::from(e).into_public()))
            .transpose()?
            .ok_or(CoreError::NotLoggedIn)
    }

    fn save_session(&self, s: &StoredSession) -> Result<(), CoreError> {
        let json = serde_json::to_string(s).map_err(|e| Error::from(e).into_public())?;
        self.store
            .write(|tx| Store::meta_set(tx, meta::SESSION, Some(&json)))
            .map_err(Error::into_public)
    }

    /// Rotates the tokens. The refresh token held stays the one in use
    /// until its successor is durably stored: a lost answer is retried with
    /// the same token (the cloud answers a reuse within its reuse interval
    /// with the same new pair), and a crash before the store keeps the old
    /// token, which the next sync presents again. When another process on
    /// the same data directory rotated first, its stored tokens are taken
    /// instead of presenting a spent token.
    async fn refresh(&self, session: &mut StoredSession) -> Result<(), CoreError> {
        if let Ok(stored) = self.session() {
            if stored.refresh_token != session.refresh_token {
                tracing::debug!("tokens were rotated by another process: taking them");
                *session = stored;
                if !session.needs_refresh() {
                    return Ok(());
                }
            }
        }
        let tokens = self
            .retry
            .run("refresh", || self.client.refresh(&session.refresh_token))
            .await
            .map_err(|e| public_error(&e))?;
        let mut rotated = StoredSession::from_tokens(tokens);
        rotated.account = session.account.clone();
        self.save_session(&rotated)?;
        *session = rotated;
        Ok(())
    }

    /// Runs an authenticated request with retries, refreshing the access
    /// token before it expires and once more if the cloud says it has.
    async fn authed<T, F, Fut>(
        &self,
        what: &str,
        session: &mut StoredSession,
        op: F,
    ) -> Result<T, ClientError>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        if session.needs_refresh() {
            if let Err(e) = self.refresh(session).await {
                tracing::warn!(error = %e, "token refresh failed");
            }
        }
        let token = session.access_token.clone();
        match self.retry.run(what, || op(token.clone())).await {
            Err(e) if e.is_unauthorized() && e.code() == Some("token_expired") => {
                self.refresh(session).await.map_err(|_| e.clone())?;
                let token = session.access_token.clone();
                self.retry.run(what, || op(token.clone())).await
            }
            other => other,
        }
    }

    /// One full sync: push, then pull, then the catalogue if it changed.
    /// When the cloud says the account is gone, vehicle access ends at
    /// once (every grant and revocation list erased) and nothing syncs any
    /// more; queued work stays visible.
    pub(crate) async fn sync_once(&self, report: &mut SyncReport) -> Result<(), CoreError> {
        if let Some(reason) = self
            .store
            .read(|c| Store::meta_get(c, meta::ACCOUNT_REMOVED))
            .map_err(Error::into_public)?
        {
            return Err(self.account_removed_error(reason));
        }
        let mut session = self.session()?;
        let result = async {
            self.push(&mut session, report).await?;
            let catalogue = self.pull(&mut session, report).await?;
            self.refresh_catalogue(&mut session, catalogue).await
        }
        .await;
        match result {
            Err(CoreError::AccountRemoved { reason, .. }) => {
                let jobs = self
                    .store
                    .write(|tx| {
                        Store::meta_set(tx, meta::ACCOUNT_REMOVED, Some(&reason))?;
                        Store::erase_all_access(tx)
                    })
                    .map_err(Error::into_public)?;
                tracing::warn!(%reason, "the cloud says the account is gone: vehicle access ended");
                for job_id in jobs {
                    self.events.emit(Event::AccessEnded {
                        job_id,
                        reason: "ACCOUNT_REMOVED".to_owned(),
                    });
                }
                self.events.emit(Event::JobsChanged { job_ids: vec![] });
                Err(self.account_removed_error(reason))
            }
            other => other,
        }
    }

    fn account_removed_error(&self, reason: String) -> CoreError {
        let pending = self.store.read(Store::pending_count).unwrap_or(0);
        CoreError::AccountRemoved { reason, pending }
    }

    /// Fetches the vehicle catalogue when the cloud's version differs from
    /// the one held (or none is held).
    async fn refresh_catalogue(
        &self,
        session: &mut StoredSession,
        version: Option<i64>,
    ) -> Result<(), CoreError> {
        let Some(version) = version else {
            return Ok(());
        };
        let held: Option<api::site::VehicleCatalogue> = self
            .store
            .read(|c| Store::meta_get(c, meta::CATALOGUE))
            .map_err(Error::into_public)?
            .and_then(|j| serde_json::from_str(&j).ok());
        if held.is_some_and(|c| c.version == version) {
            return Ok(());
        }
        let catalogue = self
            .authed("catalogue", session, |token| {
                let client = self.client.clone();
                async move { client.vehicle_models(&token).await }
            })
            .await
            .map_err(|e| public_error(&e))?;
        let json = serde_json::to_string(&catalogue).map_err(|e| Error::from(e).into_public())?;
        self.store
            .write(|tx| Store::meta_set(tx, meta::CATALOGUE, Some(&json)))
            .map_err(Error::into_public)?;
        tracing::info!(
            version = catalogue.version,
            models = catalogue.models.len(),
            "vehicle catalogue updated"
        );
        Ok(())
    }

    async fn push(
        &self,
        session: &mut StoredSession,
        report: &mut SyncReport,
    ) -> Result<(), CoreError> {
        let me = session.actor();
        loop {
            let batch = self
                .store
                .read(|c| Store::pending_batch(c, api::MAX_ACTIONS_PER_PUSH))
                .map_err(Error::into_public)?;
            if batch.is_empty() {
                return Ok(());
            }
            let keys: Vec<String> = batch.iter().map(|p| p.idempotency_key.clone()).collect();
            let job_of: std::collections::HashMap<String, String> = batch
                .iter()
                .map(|p| (p.idempotency_key.clone(), p.job_id.clone()))
                .collect();
            let body = PushActionsRequest {
                actions: batch
                    .into_iter()
                    .map(|p| ActionRequest {
                        idempotency_key: p.idempotency_key,
                        job_id: p.job_id,
                        base_version: p.base_version,
                        performed_at: p.performed_at,
                        action: p.action,
                    })
                    .collect(),
            };
            let body = client::push_body(&body).map_err(Error::into_public)?;
            let resp = match self
                .authed("push", session, |token| {
                    let client = self.client.clone();
                    let body = &body;
                    async move { client.push(&token, body).await }
                })
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    self.store
                        .note_attempt(&keys, &e.to_string())
                        .map_err(Error::into_public)?;
                    return Err(public_error(&e));
                }
            };
            // The cloud must answer every action, in order; anything else is
            // not applied at all (the batch is retried next time).
            let answered: Vec<&str> = resp
                .results
                .iter()
                .map(|r| r.idempotency_key.as_str())
                .collect();
            if answered != keys.iter().map(String::as_str).collect::<Vec<_>>() {
                return Err(CoreError::MalformedResponse {
                    detail: format!(
                        "push answered {} results for {} actions, or out of order",
                        answered.len(),
                        keys.len()
                    ),
                });
            }
            let mut ended = Vec::new();
            let (applied, rejected) = self
                .store
                .write(|tx| {
                    let (mut applied, mut rejected) = (0, 0);
                    for r in &resp.results {
                        match &r.outcome {
                            ActionOutcome::Applied { job, grant } => {
                                let lost = Store::action_applied(tx, &r.idempotency_key, job, &me)?;
                                if let Some(g) = grant {
                                    if Store::is_my_running_job(tx, &g.job_id, &me)? {
                                        Store::save_grant(tx, g)?;
                                    }
                                }
                                if lost {
                                    ended.push((job.id.clone(), job.status.to_string()));
                                }
                                applied += 1;
                            }
                            ActionOutcome::Rejected {
                                reason,
                                message,
                                job,
                            } => {
                                let job_id = job_of.get(&r.idempotency_key);
                                let was_mine = match job_id {
                                    Some(id) => Store::is_my_running_job(tx, id, &me)?,
                                    None => false,
                                };
                                rejected += Store::action_rejected(
                                    tx,
                                    &r.idempotency_key,
                                    reason,
                                    message,
                                    job.as_ref(),
                                    &me,
                                )?;
                                if let Some(id) = job_id.filter(|_| was_mine) {
                                    if !Store::is_my_running_job(tx, id, &me)? {
                                        ended.push((id.clone(), reason.to_string()));
                                    }
                                }
                            }
                        }
                    }
                    Ok((applied, rejected))
                })
                .map_err(Error::into_public)?;
            report.applied += applied;
            report.rejected += rejected;
            for (job_id, reason) in ended {
                self.events.emit(Event::AccessEnded { job_id, reason });
            }
            if rejected > 0 {
                self.emit_counts();
            }
        }
    }

    /// What the next pull request tells the cloud: the stored cursor and
    /// the grants and revocation lists held.
    fn pull_state(&self) -> Result<(Option<String>, client::Held), CoreError> {
        self.store
            .read(|c| {
                Ok((
                    Store::meta_get(c, meta::CURSOR)?,
                    client::Held {
                        grants: Store::held_grant_ids(c)?,
                        revocations: Store::held_revocations(c)?,
                    },
                ))
            })
            .map_err(Error::into_public)
    }

    /// One page of changes after `cursor`. An empty device asks for a first
    /// page of 100 jobs (a screen of Available Jobs, in the store after one
    /// small answer), then for pages of [`NEXT_PULL_PAGE`].
    async fn fetch_page(
        &self,
        session: &mut StoredSession,
        cursor: Option<&str>,
        held: &client::Held,
    ) -> Result<api::ChangesResponse<WireJob>, CoreError> {
        let limit = if cursor.is_none() {
            FIRST_PULL_PAGE
        } else {
            NEXT_PULL_PAGE
        };
        self.authed("pull", session, |token| {
            let client = self.client.clone();
            async move { client.changes(&token, cursor, limit, held).await }
        })
        .await
        .map_err(|e| public_error(&e))
    }

    /// Pulls changes page by page; returns the cloud's catalogue version
    /// when the catalogue is still to be refreshed (a pull with nothing new).
    ///
    /// While a page is applied (blocking work, off the async workers), the
    /// next one is already being fetched with the page's cursor, so a slow
    /// link and the store work at the same time. When a page carries
    /// grants, revoked grants or revocation lists, it is applied first and
    /// the next request tells the cloud what is held after it, as without
    /// the overlap.
    async fn pull(
        &self,
        session: &mut StoredSession,
        report: &mut SyncReport,
    ) -> Result<Option<i64>, CoreError> {
        let me = session.actor();
        let (mut cursor, mut held) = self.pull_state()?;
        let mut page = self.fetch_page(session, cursor.as_deref(), &held).await?;
        loop {
            let has_more = page.has_more;
            let catalogue_version = page.catalogue_version;
            if page.jobs.is_empty()
                && page.removed.is_empty()
                && page.grants.is_empty()
                && page.revoked_grants.is_empty()
                && page.revocation_lists.is_empty()
                && cursor.as_deref() == Some(page.cursor.as_str())
            {
                return Ok(catalogue_version);
            }
            report.jobs_received += page.jobs.len() as u64;
            report.jobs_removed += page.removed.len() as u64;
            let next_cursor = page.cursor.clone();
            let touches_access = !page.grants.is_empty()
                || !page.revoked_grants.is_empty()
                || !page.revocation_lists.is_empty();
            let apply = self.apply_page(page, me.clone());
            let next = if !has_more {
                // The catalogue (when it changed) comes while the last page
                // is applied.
                let (applied, catalogue) =
                    tokio::join!(apply, self.refresh_catalogue(session, catalogue_version));
                self.applied(report, applied?);
                catalogue?;
                return Ok(None);
            } else if touches_access {
                self.applied(report, apply.await?);
                held = self.pull_state()?.1;
                self.fetch_page(session, Some(&next_cursor), &held).await
            } else {
                let (applied, next) =
                    tokio::join!(apply, self.fetch_page(session, Some(&next_cursor), &held));
                self.applied(report, applied?);
                next
            };
            page = next?;
            cursor = Some(next_cursor);
        }
    }

    /// Applies one page of changes in one transaction (cursor included);
    /// returns the jobs whose vehicle access ended and the new conflicts.
    /// The page is committed without waiting for the disk
    /// ([`Store::write_refetchable`]): after a power loss it is fetched
    /// again. Conflicts it makes move queued work out of the outbox; lost
    /// with the page, that work is back in the outbox, and the cloud judges
    /// it again.
    async fn apply_page(
        &self,
        page: api::ChangesResponse<WireJob>,
        me: crate::rules::Actor,
    ) -> Result<(Vec<(String, String)>, u64), CoreError> {
        let inner = self.store.clone();
        // Applying up to 10,000 jobs is blocking work: keep it off the
        // async workers.
        tokio::task::spawn_blocking(move || {
            inner.write_refetchable(|tx| {
                let mut ended = Vec::new();
                let mut conflicts = 0;
                // Asked once per page, not per job: nothing below adds a
                // tombstone before the jobs are written or queues an action.
                let pulled = PulledPage {
                    tombstones: Store::has_tombstones(tx)?,
                    queued: Store::pending_count(tx)? > 0,
                };
                for WireJob { job, json } in &page.jobs {
                    // The feed is ordered by its cursor: a job it shows is in
                    // reach again, even if a removal once deleted it.
                    if pulled.tombstones {
                        Store::clear_tombstone(tx, &job.id)?;
                    }
                    // The search windows follow after the sync
                    // (`SmartControl::index_search_in_background`).
                    if Store::upsert_pulled_job(
                        tx,
                        job,
                        json.get(),
                        pulled.queued,
                        SearchIndexing::Later,
                        &me,
                    )? {
                        let why = if job.status.is_final() {
                            job.status.to_string()
                        } else {
                            RemovalReason::TakenOver.to_string()
                        };
                        ended.push((job.id.clone(), why));
                    }
                }
                for removed in &page.removed {
                    let reason = removal_as_rejection(&removed.reason);
                    let message = format!("the job left your reach: {}", removed.reason);
                    let was_mine = Store::is_my_running_job(tx, &removed.job_id, &me)?;
                    conflicts += Store::job_removed(tx, &removed.job_id, &reason, &message, &me)?;
                    if was_mine {
                        ended.push((removed.job_id.clone(), removed.reason.to_string()));
                    }
                }
                // Grants the cloud no longer honours go first: a renewal
                // in the same page replaces them.
                for job_id in Store::erase_grants_by_id(tx, &page.revoked_grants)? {
                    if !page.grants.iter().any(|g| g.job_id == job_id) {
                        ended.push((job_id, "GRANT_REVOKED".to_owned()));
                    }
                }
                for g in &page.grants {
                    if Store::is_my_running_job(tx, &g.job_id, &me)? {
                        Store::save_grant(tx, g)?;
                    }
                }
                for l in &page.revocation_lists {
                    Store::save_revocation_list(tx, l)?;
                }
                Store::meta_set(tx, meta::CURSOR, Some(&page.cursor))?;
                Ok((ended, conflicts))
            })
        })
        .await
        .map_err(|e| CoreError::Storage {
            detail: format!("sync worker failed: {e}"),
        })?
        .map_err(Error::into_public)
    }

    /// Tells the UIs what an applied page changed.
    fn applied(&self, report: &mut SyncReport, (ended, conflicts): (Vec<(String, String)>, u64)) {
        report.rejected += conflicts;
        for (job_id, reason) in ended {
            tracing::info!(job_id, reason, "vehicle access for job ended");
            self.events.emit(Event::AccessEnded { job_id, reason });
        }
        self.events.emit(Event::JobsChanged { job_ids: vec![] });
        if conflicts > 0 {
            self.emit_counts();
        }
    }
}

/// Jobs in the first page of an initial sync: the first page of Available
/// Jobs (`JobQuery::limit`'s default).
const FIRST_PULL_PAGE: usize = 100;

/// Jobs per page after the first. Pages are applied while the next one is
/// on the wire and being built by the cloud, so what is left at the end is
/// the last page alone: a page of 2,000 jobs is about 85 KB compressed
/// (0.07 s at 10 Mbit/s, 0.7 s at 1 Mbit/s) and about 80 ms to apply, so
/// the transfer hides the store's work and one round trip per page stays a
/// small share of each page's time on a slow link. One page of 10,000 left
/// the whole apply (and the cloud building it) after the transfer.
const NEXT_PULL_PAGE: usize = 2_000;

/// A job leaving reach with queued work: the reason its conflicts carry.
fn removal_as_rejection(r: &RemovalReason) -> RejectReason {
    match r {
        RemovalReason::TakenOver => RejectReason::TakenOver,
        RemovalReason::Unassigned => RejectReason::Unassigned,
        RemovalReason::ConnectionDeleted => RejectReason::ConnectionDeleted,
        RemovalReason::Deleted => RejectReason::NotFound,
        RemovalReason::Other(s) => RejectReason::Other(s.clone()),
    }
}
