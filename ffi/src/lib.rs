//! SmartControl for native apps: the UniFFI surface of `smartcontrol-core`.
//!
//! One entry object, [`SmartControlCore`], exposes every flow of the
//! technician app; records and enums in [`types`] are what the UIs read;
//! platform hooks (secret store, log sink, BLE transport, listeners) are
//! foreign traits in [`hooks`]. This crate only translates: each method
//! delegates to the core in a line or two and maps the error.
//!
//! Threading: the crate owns one tokio runtime (threads named
//! `smartcontrol-rt`). Every exported `async` method spawns the core's
//! future on it and awaits the join handle, so the core always has its
//! reactor whichever executor polls the binding's future (Kotlin
//! coroutines, Swift tasks); cancelling the caller aborts the task. Local
//! reads and actions are synchronous (one SQLite transaction each, well
//! under a millisecond); the facades call them off the UI thread.

mod android;
pub mod error;
pub mod hooks;
#[cfg(test)]
mod tests;
pub mod types;

use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use smartcontrol_ble::transport::BleConnector;
use smartcontrol_core::{BackgroundSync, CoreConfig, CoreError, RetryPolicy, SmartControl};

pub use error::{PlatformError, SmartControlError};
pub use hooks::ble::{BleAdvertisement, BleLink, BleLinkEvents, BleTransport, BleTransportError};
pub use hooks::listeners::{CoreListener, Subscription, WorkflowListener};
pub use hooks::log::{clear_log_sink, set_log_sink, LogLevel, LogRecord, LogSink};
pub use hooks::secrets::SecretStore;
pub use types::*;

uniffi::setup_scaffolding!();

/// Name of the runtime's threads (visible in Android Studio, Instruments
/// and crash reports).
pub const RUNTIME_THREAD_NAME: &str = "smartcontrol-rt";

static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();

/// The crate's runtime, created on first use.
fn runtime() -> Result<&'static tokio::runtime::Runtime, SmartControlError> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name(RUNTIME_THREAD_NAME)
                .on_thread_start(android::on_runtime_thread_start)
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| SmartControlError::internal(format!("cannot start the core runtime: {e}")))
}

/// Aborts the spawned task when the caller's future is dropped (a cancelled
/// coroutine or Swift task cancels the work too).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `fut` on the crate's runtime and awaits it from any executor.
async fn on_runtime<T, F>(fut: F) -> Result<T, SmartControlError>
where
    F: Future<Output = Result<T, CoreError>> + Send + 'static,
    T: Send + 'static,
{
    let mut task = AbortOnDrop(runtime()?.spawn(fut));
    (&mut task.0)
        .await
        .map_err(|e| SmartControlError::internal(format!("core task failed: {e}")))?
        .map_err(SmartControlError::from)
}

/// Where the core keeps its data and which cloud it talks to.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CoreSettings {
    /// App-private directory for the database (e.g. `Context.filesDir`).
    pub data_dir: String,
    /// Base URL of the fleet cloud.
    pub server_url: String,
    /// Timeout of one HTTP request, in milliseconds.
    #[uniffi(default = 15000)]
    pub request_timeout_ms: u32,
    /// Tries of a transient failure within one sync (the first included).
    #[uniffi(default = 4)]
    pub retry_attempts: u32,
    /// First retry delay, doubled per try, in milliseconds.
    #[uniffi(default = 200)]
    pub retry_base_delay_ms: u32,
    /// Largest retry delay, in milliseconds.
    #[uniffi(default = 5000)]
    pub retry_max_delay_ms: u32,
}

/// The technician app's core: local job store, outbox, sync, events and
/// the on-vehicle workflow. One per process is the norm; it is cheap to
/// share across threads.
#[derive(uniffi::Object)]
pub struct SmartControlCore {
    core: SmartControl,
    transport: Option<Arc<dyn BleTransport>>,
    background: Mutex<Option<BackgroundSync>>,
}

/// The BLE driver a workflow run uses: the app's transport when it gave
/// one, else the built-in btleplug driver (feature `btleplug`).
enum Connector {
    Foreign(hooks::ble::ForeignConnector),
    #[cfg(feature = "btleplug")]
    Builtin,
    #[cfg(not(feature = "btleplug"))]
    Missing,
}

impl Connector {
    async fn open(self) -> Result<Box<dyn BleConnector>, CoreError> {
        match self {
            Connector::Foreign(c) => Ok(Box::new(c)),
            #[cfg(feature = "btleplug")]
            Connector::Builtin => {
                use smartcontrol_ble::btleplug::{BtleplugConfig, BtleplugConnector};
                let c = BtleplugConnector::new(BtleplugConfig::default())
                    .await
                    .map_err(|e| CoreError::Device {
                        detail: format!("Bluetooth is not available: {e}"),
                    })?;
                Ok(Box::new(c))
            }
            #[cfg(not(feature = "btleplug"))]
            Connector::Missing => Err(CoreError::InvalidInput {
                what: "this build has no BLE driver: open the core with a BleTransport (the app's BLE stack)"
                    .to_owned(),
            }),
        }
    }
}

impl SmartControlCore {
    fn connector(&self, transport: Option<Arc<dyn BleTransport>>) -> Connector {
        match transport.or_else(|| self.transport.clone()) {
            Some(t) => Connector::Foreign(hooks::ble::ForeignConnector(t)),
            #[cfg(feature = "btleplug")]
            None => Connector::Builtin,
            #[cfg(not(feature = "btleplug"))]
            None => Connector::Missing,
        }
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl SmartControlCore {
    /// Opens (creating or migrating) the local store in `settings.data_dir`.
    /// `secret_store`: the platform keychain for the phone's key (`null`:
    /// files in the data directory, for desktops and tests).
    /// `ble_transport`: the app's BLE stack for the installation workflow.
    #[uniffi::constructor]
    pub fn new(
        settings: CoreSettings,
        secret_store: Option<Arc<dyn SecretStore>>,
        ble_transport: Option<Arc<dyn BleTransport>>,
    ) -> Result<Arc<Self>, SmartControlError> {
        let _context = runtime()?.enter();
        let mut config = CoreConfig::new(&settings.data_dir, &settings.server_url);
        config.request_timeout = Duration::from_millis(u64::from(settings.request_timeout_ms));
        config.retry = RetryPolicy {
            attempts: settings.retry_attempts.max(1),
            base_delay: Duration::from_millis(u64::from(settings.retry_base_delay_ms)),
            max_delay: Duration::from_millis(u64::from(settings.retry_max_delay_ms)),
        };
        config.secret_store = secret_store.map(|s| {
            Arc::new(hooks::secrets::SecretStoreAdapter(s))
                as Arc<dyn smartcontrol_ble::security::SecretStore>
        });
        Ok(Arc::new(SmartControlCore {
            core: SmartControl::open(config)?,
            transport: ble_transport,
            background: Mutex::new(None),
        }))
    }

    // ---- account ----

    /// Logs in (needs the network). `totp`: the 6-digit code when the
    /// account uses two-factor authentication.
    pub async fn login(
        &self,
        email: String,
        password: String,
        totp: Option<String>,
    ) -> Result<Account, SmartControlError> {
        let core = self.core.clone();
        on_runtime(async move { core.login(&email, &password, totp.as_deref()).await })
            .await
            .map(Account::from)
    }

    /// The signed-in technician, if any.
    pub fn account(&self) -> Result<Option<Account>, SmartControlError> {
        Ok(self.core.account()?.map(Account::from))
    }

    /// Logs out and erases the technician's data on this device. Refused
    /// while actions wait for sync, unless `discard_unsynced`.
    pub fn logout(&self, discard_unsynced: bool) -> Result<(), SmartControlError> {
        Ok(self.core.logout(discard_unsynced)?)
    }

    /// The phone's public key (64 hex digits) that access grants name.
    pub fn phone_public_key(&self) -> Result<String, SmartControlError> {
        let key = self.core.phone_key()?.public_key();
        Ok(key.iter().map(|b| format!("{b:02x}")).collect())
    }

    // ---- sync ----

    /// Pushes queued actions and pulls changes; the UI never has to wait
    /// for it.
    pub async fn sync(&self) -> Result<SyncReport, SmartControlError> {
        let core = self.core.clone();
        on_runtime(async move { core.sync().await })
            .await
            .map(SyncReport::from)
    }

    /// Syncs every `interval_ms`, at once after an action, and with backoff
    /// while offline, until [`Self::stop_background_sync`] (replaces a
    /// running loop).
    pub fn start_background_sync(&self, interval_ms: u32) -> Result<(), SmartControlError> {
        let _context = runtime()?.enter();
        let handle = self
            .core
            .start_background_sync(Duration::from_millis(u64::from(interval_ms.max(100))));
        let mut slot = self
            .background
            .lock()
            .map_err(|_| SmartControlError::internal("background sync lock poisoned"))?;
        *slot = Some(handle);
        Ok(())
    }

    /// Stops the background sync loop (no error if none runs).
    pub fn stop_background_sync(&self) {
        if let Ok(mut slot) = self.background.lock() {
            slot.take();
        }
    }

    /// Where sync stands: state, pending actions, open conflicts.
    pub fn status(&self) -> Result<SyncStatus, SmartControlError> {
        Ok(self.core.status()?.into())
    }

    /// Actions waiting for sync.
    pub fn pending_count(&self) -> Result<u64, SmartControlError> {
        Ok(self.core.status()?.pending_actions)
    }

    /// Actions waiting for sync, oldest first.
    pub fn pending_actions(&self) -> Result<Vec<PendingAction>, SmartControlError> {
        Ok(self
            .core
            .pending_actions()?
            .into_iter()
            .map(PendingAction::from)
            .collect())
    }

    /// Delivers `CoreEvent.Status` now, then every change, until the
    /// returned subscription is cancelled or dropped.
    pub fn subscribe(
        &self,
        listener: Arc<dyn CoreListener>,
    ) -> Result<Arc<Subscription>, SmartControlError> {
        Ok(Arc::new(Subscription::start(
            runtime()?,
            self.core.clone(),
            listener,
        )))
    }

    // ---- job views ----

    /// A page of a job list from local state (queued actions applied).
    pub fn jobs(&self, query: JobQuery) -> Result<JobPage, SmartControlError> {
        Ok(self.core.jobs(&query.into())?.into())
    }

    /// Everything about one job, with the provider's specifications.
    pub fn job(&self, job_id: String) -> Result<JobDetail, SmartControlError> {
        Ok(self.core.job(&job_id)?.into())
    }

    // ---- technician actions (durable locally before they return) ----

    /// "Assign Job to Me": ASSIGNED -> RUNNING.
    pub fn claim(&self, job_id: String) -> Result<QueuedAction, SmartControlError> {
        Ok(self.core.claim(&job_id)?.into())
    }

    /// Gives one's RUNNING job back: RUNNING -> ASSIGNED.
    pub fn withdraw(&self, job_id: String) -> Result<QueuedAction, SmartControlError> {
        Ok(self.core.withdraw(&job_id)?.into())
    }

    /// Takes a colleague's RUNNING job over.
    pub fn take_over(&self, job_id: String) -> Result<QueuedAction, SmartControlError> {
        Ok(self.core.take_over(&job_id)?.into())
    }

    /// Starts the installation on one's RUNNING job.
    pub fn start_installation(&self, job_id: String) -> Result<QueuedAction, SmartControlError> {
        Ok(self.core.start_installation(&job_id)?.into())
    }

    /// Enters what the provider left open on one's running job, typed or
    /// scanned (validated first; queued offline). A serial entered here
    /// needs one sync while online before the unit can be opened.
    pub fn enter_site_data(
        &self,
        job_id: String,
        entry: SiteEntry,
    ) -> Result<QueuedAction, SmartControlError> {
        Ok(self.core.enter_site_data(&job_id, &entry.into())?.into())
    }

    /// The vehicle model catalogue synced to this device (empty before the
    /// first sync).
    pub fn vehicle_models(&self) -> Result<Vec<VehicleModel>, SmartControlError> {
        Ok(self
            .core
            .vehicle_catalogue()?
            .map(|c| c.models.into_iter().map(VehicleModel::from).collect())
            .unwrap_or_default())
    }

    /// Completes one's job as SUCCEEDED: refused, naming what is missing,
    /// until the job's required work passed in the latest run on its unit.
    pub fn complete_succeeded(
        &self,
        job_id: String,
        notes: Option<String>,
    ) -> Result<QueuedAction, SmartControlError> {
        Ok(self.core.complete_succeeded(&job_id, notes)?.into())
    }

    /// Completes one's job as FAILED; `comment` must say what went wrong.
    pub fn complete_failed(
        &self,
        job_id: String,
        comment: String,
    ) -> Result<QueuedAction, SmartControlError> {
        Ok(self.core.complete_failed(&job_id, &comment)?.into())
    }

    // ---- on-vehicle workflow ----

    /// Runs the installation workflow of one's RUNNING job at the vehicle:
    /// connect, authenticate with the job's grant, identify, bind, configure,
    /// verify, vehicle tests. Works offline with a grant synced earlier.
    /// Progress goes to `listener`; `transport` overrides the core's; with
    /// neither, the built-in btleplug driver is used (feature `btleplug`).
    pub async fn run_installation(
        &self,
        job_id: String,
        options: WorkflowOptions,
        listener: Arc<dyn WorkflowListener>,
        transport: Option<Arc<dyn BleTransport>>,
    ) -> Result<WorkflowReport, SmartControlError> {
        let connector = self.connector(transport);
        let options = options.to_core()?;
        let core = self.core.clone();
        on_runtime(async move {
            let connector = connector.open().await?;
            let on_event = move |e: smartcontrol_core::WorkflowEvent| {
                listener.on_progress(e.into());
            };
            core.run_vehicle_workflow(&job_id, connector.as_ref(), &options, &on_event)
                .await
        })
        .await
        .map(WorkflowReport::from)
    }

    // ---- conflicts ----

    /// Open conflicts, oldest first.
    pub fn conflicts(&self) -> Result<Vec<Conflict>, SmartControlError> {
        Ok(self
            .core
            .conflicts()?
            .into_iter()
            .map(Conflict::from)
            .collect())
    }

    /// Dismisses a conflict: the technician has seen the refused work.
    pub fn dismiss_conflict(&self, id: i64) -> Result<Conflict, SmartControlError> {
        Ok(self.core.dismiss_conflict(id)?.into())
    }

    /// Queues the refused action again against the job as it is now.
    pub fn resubmit_conflict(&self, id: i64) -> Result<QueuedAction, SmartControlError> {
        Ok(self.core.resubmit_conflict(id)?.into())
    }
}
