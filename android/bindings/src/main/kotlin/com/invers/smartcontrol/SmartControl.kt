// SmartControl.kt: the idiomatic Kotlin face of the SmartControl core (coroutines, Flow, sealed errors) over the UniFFI bindings.
package com.invers.smartcontrol

import com.invers.smartcontrol.ffi.Account
import com.invers.smartcontrol.ffi.BleTransport
import com.invers.smartcontrol.ffi.Conflict
import com.invers.smartcontrol.ffi.CoreEvent
import com.invers.smartcontrol.ffi.CoreListener
import com.invers.smartcontrol.ffi.CoreSettings
import com.invers.smartcontrol.ffi.JobDetail
import com.invers.smartcontrol.ffi.JobItem
import com.invers.smartcontrol.ffi.JobPage
import com.invers.smartcontrol.ffi.JobQuery
import com.invers.smartcontrol.ffi.LogLevel
import com.invers.smartcontrol.ffi.LogSink
import com.invers.smartcontrol.ffi.PendingAction
import com.invers.smartcontrol.ffi.QueuedAction
import com.invers.smartcontrol.ffi.SecretStore
import com.invers.smartcontrol.ffi.SiteEntry
import com.invers.smartcontrol.ffi.SmartControlCore
import com.invers.smartcontrol.ffi.SyncReport
import com.invers.smartcontrol.ffi.SyncStatus
import com.invers.smartcontrol.ffi.VehicleModel
import com.invers.smartcontrol.ffi.WorkflowListener
import com.invers.smartcontrol.ffi.WorkflowOptions
import com.invers.smartcontrol.ffi.WorkflowProgress
import com.invers.smartcontrol.ffi.WorkflowReport
import com.invers.smartcontrol.ffi.setLogSink as ffiSetLogSink
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.conflate
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.filter
import kotlinx.coroutines.flow.flowOn
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.stateIn
import kotlinx.coroutines.withContext
import java.io.File
import kotlin.time.Duration
import com.invers.smartcontrol.ffi.SmartControlException as FfiException

/**
 * The SmartControl core for a Kotlin app: one per process, opened with a
 * data directory, the cloud URL and the platform hooks. Every call is
 * main-safe (suspend functions run the core off the caller's thread);
 * lists and status are [Flow]s that emit the current value first, then on
 * every change. Errors are [SmartControlException]s whose message tells the
 * technician what to do. Close it when the app no longer needs it.
 */
class SmartControl private constructor(
    private val core: SmartControlCore,
    private val io: CoroutineDispatcher,
) : AutoCloseable {

    companion object {
        /**
         * Opens (creating or migrating) the local store in [dataDir].
         * [secretStore]: the platform keychain (null: files in [dataDir]).
         * [bleTransport]: the app's BLE stack for the installation workflow
         * (null: the built-in btleplug driver).
         */
        fun open(
            dataDir: File,
            serverUrl: String,
            secretStore: SecretStore? = null,
            bleTransport: BleTransport? = null,
            configure: CoreSettings.() -> Unit = {},
            dispatcher: CoroutineDispatcher = Dispatchers.IO,
        ): SmartControl {
            val settings = CoreSettings(dataDir = dataDir.path, serverUrl = serverUrl).apply(configure)
            val core = mapErrors { SmartControlCore(settings, secretStore, bleTransport) }
            return SmartControl(core, dispatcher)
        }

        /** Sends the core's logs at [level] and above to [sink] (Logcat, OSLog, a test list). */
        fun setLogSink(sink: LogSink, level: LogLevel = LogLevel.INFO) = ffiSetLogSink(sink, level)
    }

    private suspend fun <T> call(block: () -> T): T = withContext(io) { mapErrors(block) }

    // ---- account ----

    /** Logs in (needs the network); [totp] is the 6-digit code for two-factor accounts. */
    suspend fun login(email: String, password: String, totp: String? = null): Account =
        suspendCall { core.login(email, password, totp) }

    /** The signed-in technician, or null. */
    suspend fun account(): Account? = call { core.account() }

    /** Logs out and erases the technician's data; refused while actions wait for sync unless [discardUnsynced]. */
    suspend fun logout(discardUnsynced: Boolean = false) = call { core.logout(discardUnsynced) }

    // ---- sync ----

    /** Pushes queued actions and pulls changes. */
    suspend fun sync(): SyncReport = suspendCall { core.sync() }

    /** Syncs every [interval], at once after each action, with backoff while offline. */
    fun startBackgroundSync(interval: Duration) =
        mapErrors { core.startBackgroundSync(interval.inWholeMilliseconds.coerceIn(100, UInt.MAX_VALUE.toLong()).toUInt()) }

    /** Stops the background sync. */
    fun stopBackgroundSync() = core.stopBackgroundSync()

    /** Where sync stands, once. */
    suspend fun status(): SyncStatus = call { core.status() }

    /** Actions waiting for sync, once. */
    suspend fun pendingCount(): Long = call { core.pendingCount().toLong() }

    /** Actions waiting for sync, oldest first. */
    suspend fun pendingActions(): List<PendingAction> = call { core.pendingActions() }

    // ---- flows ----

    /**
     * The core's events: [CoreEvent.Status] first, then every change. Each
     * collector has its own subscription, cancelled when collection stops.
     */
    val events: Flow<CoreEvent> = callbackFlow {
        val subscription = core.subscribe(object : CoreListener {
            override fun onEvent(event: CoreEvent) {
                trySend(event)
            }
        })
        awaitClose {
            subscription.cancel()
            subscription.close()
        }
    }.buffer(kotlinx.coroutines.channels.Channel.UNLIMITED)

    /** The sync status: now, and again whenever state, pending count or conflicts change. */
    val syncStatus: Flow<SyncStatus> = events
        .filter { it !is CoreEvent.JobsChanged && it !is CoreEvent.AccessEnded }
        .conflate()
        .map { event -> if (event is CoreEvent.Status) event.status else mapErrors { core.status() } }
        .distinctUntilChanged()
        .flowOn(io)

    /** Actions waiting for sync (the offline banner's number). */
    val pendingCountFlow: Flow<Long> = syncStatus.map { it.pendingActions.toLong() }.distinctUntilChanged()

    /** [syncStatus] as a [StateFlow] in [scope] (starts with a synchronous read). */
    fun syncStatusIn(scope: CoroutineScope): StateFlow<SyncStatus> =
        syncStatus.stateIn(scope, SharingStarted.WhileSubscribed(5_000), mapErrors { core.status() })

    /** A page of a job list: now, and again whenever local job data changes. */
    fun jobPages(query: JobQuery): Flow<JobPage> = events
        .filter { it is CoreEvent.Status || it is CoreEvent.JobsChanged }
        .conflate()
        .map { mapErrors { core.jobs(query) } }
        .distinctUntilChanged()
        .flowOn(io)

    /** The rows of a job list: now, and again whenever local job data changes. */
    fun jobList(query: JobQuery): Flow<List<JobItem>> = jobPages(query).map { it.jobs }.distinctUntilChanged()

    /** One job: now, and again whenever the core says it (or possibly any job) changed. */
    fun jobDetail(jobId: String): Flow<JobDetail> = events
        .filter { it is CoreEvent.Status || (it is CoreEvent.JobsChanged && (it.jobIds.isEmpty() || jobId in it.jobIds)) }
        .conflate()
        .map { mapErrors { core.job(jobId) } }
        .distinctUntilChanged()
        .flowOn(io)

    /** Open conflicts: now, and again whenever their number or the jobs change. */
    fun conflictList(): Flow<List<Conflict>> = events
        .filter { it is CoreEvent.Status || it is CoreEvent.ConflictsChanged || it is CoreEvent.JobsChanged }
        .conflate()
        .map { mapErrors { core.conflicts() } }
        .distinctUntilChanged()
        .flowOn(io)

    // ---- job views ----

    /** One page of a job list, once. */
    suspend fun jobs(query: JobQuery): JobPage = call { core.jobs(query) }

    /** Everything about one job, with the provider's specifications. */
    suspend fun job(jobId: String): JobDetail = call { core.job(jobId) }

    // ---- actions (durable before they return; synced later) ----

    suspend fun claim(jobId: String): QueuedAction = call { core.claim(jobId) }
    suspend fun withdraw(jobId: String): QueuedAction = call { core.withdraw(jobId) }
    suspend fun takeOver(jobId: String): QueuedAction = call { core.takeOver(jobId) }
    suspend fun startInstallation(jobId: String): QueuedAction = call { core.startInstallation(jobId) }

    /**
     * Enters what the provider left open on one's running job (VIN, plate,
     * model, lock type, CloudBoxx serial, master data), typed or as a scan's
     * raw text. Validated first ([SmartControlException.InvalidInput] names
     * the field), refused where the provider decided, queued offline. A
     * serial entered here needs one sync while online before the unit opens.
     */
    suspend fun enterSiteData(jobId: String, entry: SiteEntry): QueuedAction =
        call { core.enterSiteData(jobId, entry) }

    /** The vehicle catalogue synced to this device (models a technician may enter). */
    suspend fun vehicleModels(): List<VehicleModel> = call { core.vehicleModels() }

    /**
     * Completes one's job as SUCCEEDED: refused ([SmartControlException.ActionRefused],
     * naming what is missing) until the job's required work passed in the
     * latest run on its own unit; [JobDetail.requiredWork] is the checklist.
     */
    suspend fun completeSucceeded(jobId: String, notes: String? = null): QueuedAction =
        call { core.completeSucceeded(jobId, notes) }
    suspend fun completeFailed(jobId: String, comment: String): QueuedAction =
        call { core.completeFailed(jobId, comment) }

    // ---- installation workflow ----

    /**
     * Runs the installation workflow of one's RUNNING job at the vehicle;
     * [onProgress] gets each step, the configuration progress and each test
     * result (on a core thread: post to the UI). Cancelling the coroutine
     * stops the workflow.
     */
    suspend fun runInstallation(
        jobId: String,
        options: WorkflowOptions = WorkflowOptions(),
        transport: BleTransport? = null,
        onProgress: (WorkflowProgress) -> Unit = {},
    ): WorkflowReport = suspendCall {
        core.runInstallation(jobId, options, object : WorkflowListener {
            override fun onProgress(progress: WorkflowProgress) = onProgress(progress)
        }, transport)
    }

    // ---- conflicts ----

    suspend fun conflicts(): List<Conflict> = call { core.conflicts() }
    suspend fun dismissConflict(id: Long): Conflict = call { core.dismissConflict(id) }
    suspend fun resubmitConflict(id: Long): QueuedAction = call { core.resubmitConflict(id) }

    /** Stops background sync and releases the core. */
    override fun close() {
        core.stopBackgroundSync()
        core.close()
    }
}

private inline fun <T> mapErrors(block: () -> T): T =
    try {
        block()
    } catch (e: FfiException) {
        throw SmartControlException.from(e)
    }

private suspend inline fun <T> suspendCall(block: () -> T): T =
    try {
        block()
    } catch (e: FfiException) {
        throw SmartControlException.from(e)
    }
