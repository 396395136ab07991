//! SmartControl core: the offline-first job engine of the technician app.
//!
//! [`SmartControl`] is the one entry object. Every technician action is
//! checked by the pure rules in [`rules`], applied to local state and queued
//! in the outbox in one SQLite transaction before the call returns; the UI
//! reads only local state ([`SmartControl::jobs`], [`SmartControl::job`]);
//! [`SmartControl::sync`] (or the background loop) pushes the outbox to the
//! cloud in order and pulls changes. Refused work becomes a [`Conflict`],
//! never silently lost.
//!
//! Module map: `model` (what UIs read), `rules` (state machine), `store`
//! (SQLite: schema, jobs, outbox, conflicts), `sync` (HTTP client, push and
//! pull), `session` (tokens), `events` (the stream UIs subscribe to).

mod error;
mod events;
mod model;
pub mod rules;
mod session;
mod site;
mod store;
mod sync;
mod vehicle;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use smartcontrol_ble::security::{FileSecretStore, PhoneKey, SecretStore};
use smartcontrol_cloud_api::{self as api, Action, JobReport};
use tokio::sync::{broadcast, Notify};

pub use error::CoreError;
pub use events::Event;
pub use model::{
    Account, Conflict, JobDetail, JobPage, JobQuery, JobSummary, JobView, PendingAction,
    QueuedAction, RequiredWork, SiteEntry, SyncReport, SyncState, SyncStatus, WorkItem,
    WorkItemKind,
};
pub use rules::ActionKind;
/// The BLE protocol crate the vehicle workflow runs on (connectors, tests).
pub use smartcontrol_ble as ble;
pub use smartcontrol_cloud_api as cloud_api;
/// The configuration bytes a job asks for (shared with the cloud).
pub use smartcontrol_cloud_api::configuration::job_configuration;
pub use sync::client::RetryPolicy;
pub use vehicle::{
    hint_text, report_result, test_name, WorkflowEvent, WorkflowOptions, WorkflowReport,
    WorkflowStep,
};

use error::Error;
use events::EventBus;
use session::StoredSession;
use store::{meta, Store};
use sync::client::CloudClient;

/// File name of the local database inside the data directory.
pub const DATABASE_FILE: &str = "smartcontrol.db";

/// Where the core keeps its data and which cloud it talks to.
#[derive(Clone)]
pub struct CoreConfig {
    /// Directory for the local database (created if missing).
    pub data_dir: PathBuf,
    /// Base URL of the fleet cloud, e.g. `https://cloud.example` or `http://127.0.0.1:8080`.
    pub server_url: String,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// Retries of transient failures within one sync.
    pub retry: RetryPolicy,
    /// Where the phone's private key lives (the platform keychain on
    /// phones). `None`: files with mode 0600 in `data_dir/secrets`.
    pub secret_store: Option<Arc<dyn SecretStore>>,
}

impl std::fmt::Debug for CoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreConfig")
            .field("data_dir", &self.data_dir)
            .field("server_url", &self.server_url)
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .field(
                "secret_store",
                &self.secret_store.as_ref().map(|_| "custom"),
            )
            .finish()
    }
}

impl CoreConfig {
    /// Defaults: 15 s request timeout, [`RetryPolicy::default`].
    pub fn new(data_dir: impl Into<PathBuf>, server_url: impl Into<String>) -> CoreConfig {
        CoreConfig {
            data_dir: data_dir.into(),
            server_url: server_url.into(),
            request_timeout: Duration::from_secs(15),
            retry: RetryPolicy::default(),
            secret_store: None,
        }
    }
}

/// The job engine of one device: local store, outbox, sync and events.
/// Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct SmartControl {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    store: Arc<Store>,
    client: CloudClient,
    retry: RetryPolicy,
    events: EventBus,
    /// One sync at a time (manual and background).
    sync_lock: tokio::sync::Mutex<()>,
    /// Wakes the background sync when an action is queued.
    wake: Notify,
    /// Holds the phone's key pair.
    secrets: Arc<dyn SecretStore>,
    /// The thread adding a sync's jobs to the search index, while it may
    /// still run ([`SmartControl::index_search_in_background`]).
    indexer: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Jobs added to the search index per transaction by the background
/// indexer: about 25 ms of the writer each, so an action waits at most
/// that long behind it.
const SEARCH_INDEX_BATCH: usize = 1_000;

/// Pages of the search index merged per transaction once the indexer's
/// queue is empty (a few tens of ms each).
const SEARCH_MERGE_PAGES: u32 = 256;

impl SmartControl {
    /// Opens the data directory (creating and migrating the database).
    pub fn open(config: CoreConfig) -> Result<SmartControl, CoreError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| CoreError::Storage {
            detail: format!("cannot create {}: {e}", config.data_dir.display()),
        })?;
        let store = Store::open(&config.data_dir.join(DATABASE_FILE))?;
        let secrets: Arc<dyn SecretStore> = match config.secret_store {
            Some(s) => s,
            None => Arc::new(
                FileSecretStore::new(config.data_dir.join("secrets")).map_err(|e| {
                    CoreError::Storage {
                        detail: format!("cannot open the key store: {e}"),
                    }
                })?,
            ),
        };
        let client = CloudClient::new(&config.server_url, config.request_timeout).map_err(|e| {
            CoreError::InvalidInput {
                what: format!("cloud URL {:?}: {e}", config.server_url),
            }
        })?;
        let core = SmartControl {
            inner: Arc::new(Inner {
                store: Arc::new(store),
                client,
                retry: config.retry,
                events: EventBus::new(),
                sync_lock: tokio::sync::Mutex::new(()),
                wake: Notify::new(),
                secrets,
                indexer: std::sync::Mutex::new(None),
            }),
        };
        // A process that stopped before its sync's jobs were all indexed.
        if !core.inner.store.search_queue_is_empty()? {
            core.index_search_in_background();
        }
        Ok(core)
    }

    /// Adds the jobs a sync queued to the search index, in a thread of its
    /// own, in batches of [`SEARCH_INDEX_BATCH`] (unless it runs already).
    /// A search finds them meanwhile by a plain substring test. The thread
    /// holds the core only while it writes a batch: once the last handle
    /// is dropped it stops, and the next open goes on with what is left.
    fn index_search_in_background(&self) {
        let mut slot = self
            .inner
            .indexer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if slot.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        let inner = Arc::downgrade(&self.inner);
        let started = std::thread::Builder::new()
            .name("search-index".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                let mut indexed = 0;
                let mut merging = false;
                while let Some(inner) = inner.upgrade() {
                    // Whether there is more to do: the queue's batches
                    // first, then the segments they left merged into one,
                    // a transaction of about SEARCH_MERGE_PAGES at a time.
                    let more = if merging {
                        inner.store.merge_search_index(SEARCH_MERGE_PAGES)
                    } else {
                        inner
                            .store
                            .index_queued_search(SEARCH_INDEX_BATCH)
                            .map(|n| {
                                indexed += n;
                                merging = n == 0;
                                true
                            })
                    };
                    match more {
                        Ok(true) => {}
                        Ok(false) => {
                            inner.store.after_background_writes();
                            break;
                        }
                        Err(e) => {
                            // Left queued or unmerged: the next sync or
                            // open tries again; searches are right either way.
                            tracing::warn!(error = %e, "search index not updated");
                            break;
                        }
                    }
                }
                tracing::debug!(indexed, elapsed = ?started.elapsed(), "search index updated");
            });
        match started {
            Ok(handle) => *slot = Some(handle),
            // Searches still find the queued jobs; the next sync tries again.
            Err(e) => tracing::warn!(error = %e, "cannot start the search indexer"),
        }
    }

    // ---- account -------------------------------------------------------

    /// Logs in (the one step that needs the network). `totp` is the current
    /// 6-digit code when the account has two-factor authentication.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        totp: Option<&str>,
    ) -> Result<Account, CoreError> {
        let phone_key = self.phone_key()?;
        let req = api::LoginRequest {
            email: email.trim().to_owned(),
            password: password.to_owned(),
            totp: totp.map(|t| t.trim().to_owned()),
            phone_public_key: Some(
                phone_key
                    .public_key()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            ),
        };
        let tokens = self
            .inner
            .retry
            .run("login", || self.inner.client.login(&req))
            .await
            .map_err(|e| match e.code() {
                Some("invalid_credentials") => CoreError::InvalidCredentials,
                Some("totp_required") => CoreError::TotpRequired,
                Some("invalid_totp") => CoreError::InvalidTotp,
                _ => sync::public_error(&e),
            })?;
        if tokens.user.role != "TECHNICIAN" {
            return Err(CoreError::InvalidInput {
                what: format!(
                    "{} is a {} account; SmartControl is for technicians",
                    tokens.user.email, tokens.user.role
                ),
            });
        }
        let session = StoredSession::from_tokens(tokens);
        let json = serde_json::to_string(&session).map_err(|e| Error::from(e).into_public())?;
        let previous = self.account()?;
        self.inner.store.write(|tx| {
            if previous
                .as_ref()
                .is_some_and(|p| p.technician_id != session.account.technician_id)
            {
                // Another technician on this device: nothing of the previous
                // one may remain (logout refuses while work is unsynced).
                let pending = Store::pending_count(tx)?;
                if pending > 0 {
                    return Err(CoreError::PendingActionsWouldBeLost { count: pending }.into());
                }
                Store::clear_account(tx)?;
            }
            // A fresh login of an existing account lifts an earlier
            // "account removed" state.
            Store::meta_set(tx, meta::ACCOUNT_REMOVED, None)?;
            Store::meta_set(tx, meta::SESSION, Some(&json))
        })?;
        tracing::info!(email = %session.account.email, "logged in");
        Ok(session.account)
    }

    /// The phone's key pair, created on first use; its private half never
    /// leaves the secret store except to sign a handshake.
    pub fn phone_key(&self) -> Result<PhoneKey, CoreError> {
        PhoneKey::load_or_create(self.inner.secrets.as_ref()).map_err(|e| CoreError::Storage {
            detail: format!("phone key: {e}"),
        })
    }

    /// The access grant for one of the technician's running jobs, if the
    /// cloud issued one (downloaded while online, usable offline until it
    /// expires).
    pub fn access_grant(
        &self,
        job_id: &str,
    ) -> Result<Option<api::AccessGrantEnvelope>, CoreError> {
        Ok(self.inner.store.read(|c| Store::grant(c, job_id))?)
    }

    /// The signed-in technician, if any.
    pub fn account(&self) -> Result<Option<Account>, CoreError> {
        Ok(self.inner.store.read(Store::account)?)
    }

    /// Logs out and erases everything of the technician on this device:
    /// tokens, jobs, vehicle test results, conflicts. Refused while actions
    /// wait for sync, unless `discard_unsynced` says to drop them.
    pub fn logout(&self, discard_unsynced: bool) -> Result<(), CoreError> {
        self.inner.store.write(|tx| {
            let pending = Store::pending_count(tx)?;
            if pending > 0 && !discard_unsynced {
                return Err(CoreError::PendingActionsWouldBeLost { count: pending }.into());
            }
            if pending > 0 {
                tracing::warn!(
                    pending,
                    "logout discards unsynced actions at the user's request"
                );
            }
            Store::clear_account(tx)
        })?;
        self.emit_counts();
        self.inner
            .events
            .emit(Event::JobsChanged { job_ids: vec![] });
        Ok(())
    }

    fn me(&self) -> Result<rules::Actor, CoreError> {
        let account = self.account()?.ok_or(CoreError::NotLoggedIn)?;
        Ok(rules::Actor {
            id: account.technician_id,
            name: account.name,
        })
    }

    // ---- views ---------------------------------------------------------

    /// A page of a job list, from local state (queued actions included).
    pub fn jobs(&self, query: &JobQuery) -> Result<JobPage, CoreError> {
        let me = self.account()?.map(|a| a.technician_id);
        Ok(self.inner.store.jobs(me.as_deref(), query)?)
    }

    /// Everything about one job.
    pub fn job(&self, job_id: &str) -> Result<JobDetail, CoreError> {
        let me = self.account()?.map(|a| rules::Actor {
            id: a.technician_id,
            name: a.name,
        });
        Ok(self.inner.store.job(job_id, me.as_ref())?)
    }

    /// Actions waiting for sync, oldest first.
    pub fn pending_actions(&self) -> Result<Vec<PendingAction>, CoreError> {
        Ok(self.inner.store.pending_all()?)
    }

    /// Open conflicts, oldest first.
    pub fn conflicts(&self) -> Result<Vec<Conflict>, CoreError> {
        Ok(self.inner.store.read(Store::open_conflicts)?)
    }

    /// Where sync stands.
    pub fn status(&self) -> Result<SyncStatus, CoreError> {
        let syncing = self.inner.sync_lock.try_lock().is_err();
        Ok(self.inner.store.read(|c| {
            let state = if syncing {
                SyncState::Syncing
            } else {
                match Store::meta_get(c, meta::LAST_STATE)?.as_deref() {
                    Some("online") => SyncState::Online,
                    Some("offline") => SyncState::Offline,
                    Some("error") => SyncState::Error,
                    _ => SyncState::Never,
                }
            };
            Ok(SyncStatus {
                logged_in: Store::meta_get(c, meta::SESSION)?.is_some(),
                pending_actions: Store::pending_count(c)?,
                open_conflicts: Store::open_conflict_count(c)?,
                state,
                last_sync_at: Store::meta_get(c, meta::LAST_SYNC_AT)?,
                last_attempt_at: Store::meta_get(c, meta::LAST_ATTEMPT_AT)?,
                last_error: Store::meta_get(c, meta::LAST_ERROR)?,
            })
        })?)
    }

    /// Subscribes to [`Event`]s. Read [`SmartControl::status`] for the
    /// current state first; events say what changed after.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    // ---- technician actions --------------------------------------------

    /// "Assign Job to Me": ASSIGNED -> RUNNING.
    pub fn claim(&self, job_id: &str) -> Result<QueuedAction, CoreError> {
        self.act(job_id, Action::Claim)
    }

    /// Gives one's RUNNING job back to the company: RUNNING -> ASSIGNED.
    pub fn withdraw(&self, job_id: &str) -> Result<QueuedAction, CoreError> {
        self.act(job_id, Action::Withdraw)
    }

    /// Withdraws a colleague's assignment of a RUNNING job and takes it.
    pub fn take_over(&self, job_id: &str) -> Result<QueuedAction, CoreError> {
        self.act(job_id, Action::TakeOver)
    }

    /// Starts the installation on one's RUNNING job.
    pub fn start_installation(&self, job_id: &str) -> Result<QueuedAction, CoreError> {
        self.act(job_id, Action::StartInstallation)
    }

    /// Completes one's job as SUCCEEDED: refused (naming what is missing)
    /// until every required step and test passed in the latest on-vehicle
    /// run on the job's own unit. The queued report carries `notes`, the
    /// run's results and the unit's signed attestation, which the cloud
    /// verifies.
    pub fn complete_succeeded(
        &self,
        job_id: &str,
        notes: Option<String>,
    ) -> Result<QueuedAction, CoreError> {
        self.act(
            job_id,
            Action::CompleteSucceeded {
                report: JobReport {
                    notes,
                    ..JobReport::default()
                },
            },
        )
    }

    /// Completes one's job as FAILED; `comment` must say what went wrong.
    /// Always possible on one's running job, whatever work is missing.
    pub fn complete_failed(&self, job_id: &str, comment: &str) -> Result<QueuedAction, CoreError> {
        self.act(
            job_id,
            Action::CompleteFailed {
                comment: comment.to_owned(),
                report: JobReport::default(),
            },
        )
    }

    /// Enters what the provider left open on one's running job (VIN, plate,
    /// model, central lock type, CloudBoxx serial, master data), typed or
    /// as the raw text of a scan. Each value is validated (VIN per ISO
    /// 3779, models from the synced catalogue, the CloudBoxx label's check
    /// code); values the provider specified are refused. Queued offline
    /// like any other action; a serial entered here gets its access grant
    /// with the next sync (the cloud checks the unit belongs to the fleet).
    pub fn enter_site_data(
        &self,
        job_id: &str,
        entry: &SiteEntry,
    ) -> Result<QueuedAction, CoreError> {
        let detail = self.job(job_id)?;
        let catalogue = self.vehicle_catalogue()?;
        let data = site::parse_entry(entry, catalogue.as_ref(), &detail.effective)?;
        self.act(job_id, Action::EnterSiteData { data })
    }

    /// The vehicle model catalogue synced to this device, if any.
    pub fn vehicle_catalogue(&self) -> Result<Option<api::site::VehicleCatalogue>, CoreError> {
        let json = self
            .inner
            .store
            .read(|c| Store::meta_get(c, meta::CATALOGUE))?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }

    fn act(&self, job_id: &str, action: Action) -> Result<QueuedAction, CoreError> {
        let ends_access = matches!(
            action,
            Action::Withdraw | Action::CompleteSucceeded { .. } | Action::CompleteFailed { .. }
        );
        let name = action.name();
        // The signed-in account (refused when the cloud removed it) is
        // read in the action's transaction.
        let queued = self.inner.store.queue_action_signed_in(job_id, action)?;
        tracing::info!(job_id, action = name, key = %queued.idempotency_key, "action queued");
        self.after_local_change(job_id, queued.pending_actions);
        if ends_access {
            self.inner.events.emit(Event::AccessEnded {
                job_id: job_id.to_owned(),
                reason: name.to_owned(),
            });
        }
        Ok(queued)
    }

    fn after_local_change(&self, job_id: &str, pending: u64) {
        self.inner.events.emit(Event::JobsChanged {
            job_ids: vec![job_id.to_owned()],
        });
        self.inner
            .events
            .emit(Event::PendingCountChanged { count: pending });
        self.inner.wake.notify_one();
    }

    // ---- conflicts -----------------------------------------------------

    /// Dismisses a conflict: the technician has seen the refused work.
    pub fn dismiss_conflict(&self, id: i64) -> Result<Conflict, CoreError> {
        let c = self
            .inner
            .store
            .write(|tx| Store::resolve_conflict(tx, id, "dismissed"))?;
        self.emit_counts();
        Ok(c)
    }

    /// Queues the refused action again, against the job as it is now (the
    /// rules decide whether that is still possible), and closes the conflict.
    pub fn resubmit_conflict(&self, id: i64) -> Result<QueuedAction, CoreError> {
        let me = self.me()?;
        let queued = self.inner.store.write(|tx| {
            let c = Store::resolve_conflict(tx, id, "resubmitted")?;
            Store::queue_action_tx(tx, &me, &c.job_id, c.action)
        })?;
        self.after_local_change(&queued.job_id, queued.pending_actions);
        self.emit_counts();
        Ok(queued)
    }

    // ---- sync ----------------------------------------------------------

    /// Pushes queued actions and pulls changes. The UI never needs to wait
    /// for this: local state is always readable and writable meanwhile.
    pub async fn sync(&self) -> Result<SyncReport, CoreError> {
        if self.account()?.is_none() {
            // Nothing to sync; not a failed attempt either.
            return Err(CoreError::NotLoggedIn);
        }
        let _one_at_a_time = self.inner.sync_lock.lock().await;
        self.inner.events.emit(Event::SyncStateChanged {
            state: SyncState::Syncing,
        });
        let before = self.inner.client.requests_sent();
        let mut report = SyncReport::default();
        let result = self.inner.sync_once(&mut report).await;
        // The pages written, whole or in part: their jobs' search windows.
        if report.jobs_received > 0 {
            self.index_search_in_background();
        }
        report.requests = self.inner.client.requests_sent() - before;
        let (state, error) = match &result {
            Ok(()) => (SyncState::Online, None),
            Err(CoreError::Offline { .. }) => (SyncState::Offline, result.as_ref().err()),
            Err(e) => (SyncState::Error, Some(e)),
        };
        let now = store::now_rfc3339();
        let stored = self.inner.store.write(|tx| {
            let label = match state {
                SyncState::Online => "online",
                SyncState::Offline => "offline",
                _ => "error",
            };
            Store::meta_set(tx, meta::LAST_STATE, Some(label))?;
            Store::meta_set(tx, meta::LAST_ATTEMPT_AT, Some(&now))?;
            if state == SyncState::Online {
                Store::meta_set(tx, meta::LAST_SYNC_AT, Some(&now))?;
            }
            Store::meta_set(
                tx,
                meta::LAST_ERROR,
                error.map(|e| e.to_string()).as_deref(),
            )?;
            Store::pending_count(tx)
        });
        self.inner.events.emit(Event::SyncStateChanged { state });
        self.emit_counts();
        report.pending_actions = stored?;
        match result {
            Ok(()) => {
                tracing::info!(?report, "sync done");
                Ok(report)
            }
            Err(e) => {
                tracing::warn!(error = %e, "sync failed");
                Err(e)
            }
        }
    }

    /// Waits until the store's background work is done: the search
    /// windows of the jobs a sync brought (added after it) and the copy of
    /// its write-ahead log into the database that a commit starts once the
    /// log has grown (after an initial sync, tens of MB). Nothing needs
    /// this for correctness or durability (every commit is durable in the
    /// log, a search finds jobs not indexed yet, and neither blocks reads
    /// or writes for long); benchmarks and tests call it so that this work
    /// is measured apart from what runs after it.
    pub fn settle_store(&self) {
        let indexer = self
            .inner
            .indexer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(handle) = indexer {
            if handle.join().is_err() {
                tracing::warn!("the search indexer panicked");
            }
        }
        self.inner.store.settle();
    }

    /// Runs sync in the background: every `interval`, at once after an
    /// action is queued, and with exponential backoff and jitter while the
    /// cloud cannot be reached. Stops when the handle is dropped.
    pub fn start_background_sync(&self, interval: Duration) -> BackgroundSync {
        let core = self.clone();
        let task = tokio::spawn(async move {
            let mut failures = 0u32;
            loop {
                let wait = match core.sync().await {
                    Ok(_) => {
                        failures = 0;
                        interval
                    }
                    Err(CoreError::NotLoggedIn)
                    | Err(CoreError::SessionExpired)
                    | Err(CoreError::AccountRemoved { .. }) => interval,
                    Err(_) => {
                        failures = failures.saturating_add(1);
                        core.inner
                            .retry
                            .delay(failures)
                            .max(Duration::from_millis(100))
                    }
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = core.inner.wake.notified() => {}
                }
            }
        });
        BackgroundSync { task }
    }

    fn emit_counts(&self) {
        self.inner.emit_counts();
    }
}

impl Inner {
    pub(crate) fn emit_counts(&self) {
        let counts = self
            .store
            .read(|c| Ok((Store::pending_count(c)?, Store::open_conflict_count(c)?)));
        match counts {
            Ok((pending, open)) => {
                self.events
                    .emit(Event::PendingCountChanged { count: pending });
                self.events.emit(Event::ConflictsChanged { open });
            }
            Err(e) => tracing::warn!(error = %e, "cannot count pending work"),
        }
    }
}

/// The running background sync; dropping it stops the loop.
pub struct BackgroundSync {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for BackgroundSync {
    fn drop(&mut self) {
        self.task.abort();
    }
}
