// SmartControl.swift: the hand-written Swift facade over the generated bindings: async calls, AsyncStreams of the
// job list and sync status over the core's listener, and one Swift error type with the core's message.
import Foundation

/// What went wrong, grouped by what a screen does about it (the same groups as the Kotlin facade). `message` is
/// the core's text for the technician (it ends with what to do); `kind` is the core's machine name.
public enum SmartControlFailure: Error, LocalizedError, Equatable {
    /// Log in first (or again: the session expired).
    case notLoggedIn(kind: String, message: String)
    /// Email, password or 6-digit code: ask again (`kind == "totp_required"`: show the code field).
    case loginRejected(kind: String, message: String)
    /// The cloud cannot be reached: keep working, actions sync later.
    case offline(message: String)
    /// The account or its company is gone: vehicle access ended, unsynced work stays visible.
    case accountRemoved(message: String)
    /// The rules refuse the action on this job now.
    case actionRefused(message: String)
    /// A job or conflict is not on this device.
    case notFound(kind: String, message: String)
    /// Logging out would lose actions waiting for sync.
    case unsyncedWork(message: String)
    /// At the vehicle: CloudBoxx unreachable, refused, wrong unit, no access.
    case vehicle(kind: String, message: String)
    /// Input the core cannot accept.
    case invalidInput(message: String)
    /// The cloud, the local store or the core itself failed.
    case failure(kind: String, message: String)

    public var kind: String {
        switch self {
        case .notLoggedIn(let k, _), .loginRejected(let k, _), .notFound(let k, _), .vehicle(let k, _), .failure(let k, _): return k
        case .offline: return "offline"
        case .accountRemoved: return "account_removed"
        case .actionRefused: return "action_refused"
        case .unsyncedWork: return "pending_actions_would_be_lost"
        case .invalidInput: return "invalid_input"
        }
    }

    public var message: String {
        switch self {
        case .notLoggedIn(_, let m), .loginRejected(_, let m), .notFound(_, let m), .vehicle(_, let m), .failure(_, let m),
             .offline(let m), .accountRemoved(let m), .actionRefused(let m), .unsyncedWork(let m), .invalidInput(let m):
            return m
        }
    }

    public var errorDescription: String? { message }

    /// Maps the generated flat error (one case per core kind); anything else becomes `.failure`.
    public static func from(_ error: Error) -> SmartControlFailure {
        if let mapped = error as? SmartControlFailure { return mapped }
        guard let e = error as? SmartControlError else {
            return .failure(kind: "internal", message: "\(error)")
        }
        switch e {
        case .NotLoggedIn(let m): return .notLoggedIn(kind: "not_logged_in", message: m)
        case .SessionExpired(let m): return .notLoggedIn(kind: "session_expired", message: m)
        case .InvalidCredentials(let m): return .loginRejected(kind: "invalid_credentials", message: m)
        case .TotpRequired(let m): return .loginRejected(kind: "totp_required", message: m)
        case .InvalidTotp(let m): return .loginRejected(kind: "invalid_totp", message: m)
        case .Offline(let m): return .offline(message: m)
        case .ActionRefused(let m): return .actionRefused(message: m)
        case .JobNotFound(let m): return .notFound(kind: "job_not_found", message: m)
        case .ConflictNotFound(let m): return .notFound(kind: "conflict_not_found", message: m)
        case .PendingActionsWouldBeLost(let m): return .unsyncedWork(message: m)
        case .NoVehicleAccess(let m): return .vehicle(kind: "no_vehicle_access", message: m)
        case .Device(let m): return .vehicle(kind: "device", message: m)
        case .DeviceRefused(let m): return .vehicle(kind: "device_refused", message: m)
        case .WrongDevice(let m): return .vehicle(kind: "wrong_device", message: m)
        case .ConfigurationMismatch(let m): return .vehicle(kind: "configuration_mismatch", message: m)
        case .WrongVehicle(let m): return .vehicle(kind: "wrong_vehicle", message: m)
        case .InvalidInput(let m): return .invalidInput(message: m)
        case .InvalidSiteData(let m): return .invalidInput(message: m)
        case .AccountRemoved(let m): return .accountRemoved(message: m)
        case .Server(let m): return .failure(kind: "server", message: m)
        case .MalformedResponse(let m): return .failure(kind: "malformed_response", message: m)
        case .Storage(let m): return .failure(kind: "storage", message: m)
        case .Internal(let m): return .failure(kind: "internal", message: m)
        }
    }
}

/// The SmartControl core for a Swift app: one per process. Async calls run the core off the caller's actor;
/// streams deliver the current value first, then every change, and stop the core's subscription when the
/// consuming task ends.
public final class SmartControl: @unchecked Sendable {
    public let core: SmartControlCore

    /// Opens (creating or migrating) the local store in `dataDirectory`. `secretStore`: the Keychain by default.
    public init(
        dataDirectory: URL,
        serverURL: String,
        secretStore: SecretStore? = KeychainSecretStore(),
        bleTransport: BleTransport? = nil
    ) throws {
        do {
            let settings = CoreSettings(dataDir: dataDirectory.path, serverUrl: serverURL)
            core = try SmartControlCore(settings: settings, secretStore: secretStore, bleTransport: bleTransport)
        } catch {
            throw SmartControlFailure.from(error)
        }
    }

    /// Stops the background sync when the last reference goes (Kotlin: `close()`).
    deinit { core.stopBackgroundSync() }

    /// Sends the core's logs at `level` and above to `sink` (e.g. `OSLogSink()`); the generated global function,
    /// named by its module because this static method shadows it.
    public static func setLogSink(_ sink: LogSink, level: LogLevel = .info) {
        SmartControlKit.setLogSink(sink: sink, maxLevel: level)
    }

    // MARK: calls

    /// Runs a synchronous core call (one SQLite transaction) off the caller's actor.
    private func local<T>(_ body: @escaping () throws -> T) async throws -> T {
        do {
            return try await Task.detached(priority: .userInitiated) { try body() }.value
        } catch {
            throw SmartControlFailure.from(error)
        }
    }

    private func remote<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch { throw SmartControlFailure.from(error) }
    }

    public func login(email: String, password: String, totp: String?) async throws -> Account {
        try await remote { try await core.login(email: email, password: password, totp: totp) }
    }
    public func account() async throws -> Account? { try await local { try self.core.account() } }
    public func logout(discardUnsynced: Bool = false) async throws {
        try await local { try self.core.logout(discardUnsynced: discardUnsynced) }
    }
    public func sync() async throws -> SyncReport { try await remote { try await core.sync() } }
    public func startBackgroundSync(every seconds: Double = 30) throws {
        do { try core.startBackgroundSync(intervalMs: UInt32(seconds * 1000)) } catch { throw SmartControlFailure.from(error) }
    }
    public func stopBackgroundSync() { core.stopBackgroundSync() }
    public func status() throws -> SyncStatus {
        do { return try core.status() } catch { throw SmartControlFailure.from(error) }
    }
    /// Actions waiting for sync, once.
    public func pendingCount() async throws -> UInt64 { try await local { try self.core.pendingCount() } }
    /// Actions waiting for sync, oldest first.
    public func pendingActions() async throws -> [PendingAction] { try await local { try self.core.pendingActions() } }

    public func jobs(_ query: JobQuery) async throws -> JobPage { try await local { try self.core.jobs(query: query) } }
    public func job(_ jobId: String) async throws -> JobDetail { try await local { try self.core.job(jobId: jobId) } }

    public func claim(_ jobId: String) async throws -> QueuedAction { try await local { try self.core.claim(jobId: jobId) } }
    public func withdraw(_ jobId: String) async throws -> QueuedAction { try await local { try self.core.withdraw(jobId: jobId) } }
    public func takeOver(_ jobId: String) async throws -> QueuedAction { try await local { try self.core.takeOver(jobId: jobId) } }
    public func startInstallation(_ jobId: String) async throws -> QueuedAction {
        try await local { try self.core.startInstallation(jobId: jobId) }
    }
    /// Enters what the provider left open (typed or a scan's raw text); validated, queued offline.
    public func enterSiteData(_ jobId: String, entry: SiteEntry) async throws -> QueuedAction {
        try await local { try self.core.enterSiteData(jobId: jobId, entry: entry) }
    }
    /// The vehicle catalogue synced to this device.
    public func vehicleModels() async throws -> [VehicleModel] { try await local { try self.core.vehicleModels() } }
    /// Refused, naming what is missing, until the job's required work passed in the latest run on its unit.
    public func completeSucceeded(_ jobId: String, notes: String?) async throws -> QueuedAction {
        try await local { try self.core.completeSucceeded(jobId: jobId, notes: notes) }
    }
    public func completeFailed(_ jobId: String, comment: String) async throws -> QueuedAction {
        try await local { try self.core.completeFailed(jobId: jobId, comment: comment) }
    }

    public func conflicts() async throws -> [Conflict] { try await local { try self.core.conflicts() } }
    public func dismissConflict(_ id: Int64) async throws -> Conflict { try await local { try self.core.dismissConflict(id: id) } }
    public func resubmitConflict(_ id: Int64) async throws -> QueuedAction {
        try await local { try self.core.resubmitConflict(id: id) }
    }

    /// Runs the installation workflow of one's RUNNING job; `onProgress` is called on a core thread (hop to the
    /// main actor to update UI). Cancelling the calling task stops the workflow.
    public func runInstallation(
        _ jobId: String,
        options: WorkflowOptions = WorkflowOptions(),
        transport: BleTransport? = nil,
        onProgress: @escaping @Sendable (WorkflowProgress) -> Void
    ) async throws -> WorkflowReport {
        try await remote {
            try await core.runInstallation(
                jobId: jobId, options: options, listener: ProgressListener(onProgress), transport: transport)
        }
    }

    // MARK: streams

    /// The core's events: `.status` first, then every change. The subscription is cancelled when the stream
    /// terminates (the consuming task ends or is cancelled).
    public func events() -> AsyncStream<CoreEvent> {
        AsyncStream(bufferingPolicy: .unbounded) { continuation in
            do {
                let subscription = try core.subscribe(listener: EventListener { continuation.yield($0) })
                continuation.onTermination = { _ in subscription.cancel() }
            } catch {
                continuation.finish()
            }
        }
    }

    /// The sync status (offline banner, pending count, conflicts): now, then on every change.
    public func syncStatus() -> AsyncStream<SyncStatus> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            do {
                let core = self.core
                let subscription = try core.subscribe(listener: EventListener { event in
                    switch event {
                    case .status(let status): continuation.yield(status)
                    case .syncStateChanged, .pendingCountChanged, .conflictsChanged:
                        if let status = try? core.status() { continuation.yield(status) }
                    case .jobsChanged, .accessEnded: break
                    }
                })
                continuation.onTermination = { _ in subscription.cancel() }
            } catch {
                continuation.finish()
            }
        }
    }

    /// Actions waiting for sync (the offline banner's number): now, then on every change (Kotlin:
    /// `pendingCountFlow`).
    public func pendingCountStream() -> AsyncStream<UInt64> {
        let statuses = syncStatus()
        return AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let task = Task.detached {
                var last: UInt64?
                for await status in statuses where status.pendingActions != last {
                    last = status.pendingActions
                    continuation.yield(status.pendingActions)
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// A page of a job list (rows and total): now, and again whenever local job data changes.
    public func jobPages(_ query: JobQuery) -> AsyncStream<JobPage> {
        reloading(on: { event in
            if case .jobsChanged = event { return true }
            if case .status = event { return true }
            return false
        }) { core in try core.jobs(query: query) }
    }

    /// The rows of a job list: now, and again whenever local job data changes. The query runs on the consuming
    /// task, not on the core's listener thread; a failing read ends the stream.
    public func jobList(_ query: JobQuery) -> AsyncStream<[JobItem]> {
        reloading(on: { event in
            if case .jobsChanged = event { return true }
            if case .status = event { return true }
            return false
        }) { core in try core.jobs(query: query).jobs }
    }

    /// One job, re-read whenever the core says it (or possibly any job) changed.
    public func jobDetail(_ jobId: String) -> AsyncStream<JobDetail> {
        reloading(on: { event in
            if case .jobsChanged(let ids) = event { return ids.isEmpty || ids.contains(jobId) }
            if case .status = event { return true }
            return false
        }) { core in try core.job(jobId: jobId) }
    }

    /// Open conflicts, re-read whenever their number or the jobs change.
    public func conflictList() -> AsyncStream<[Conflict]> {
        reloading(on: { event in
            switch event {
            case .status, .conflictsChanged, .jobsChanged: return true
            default: return false
            }
        }) { core in try core.conflicts() }
    }

    private func reloading<T>(
        on relevant: @escaping @Sendable (CoreEvent) -> Bool,
        read: @escaping (SmartControlCore) throws -> T
    ) -> AsyncStream<T> {
        let events = self.events()
        let core = self.core
        return AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let task = Task.detached {
                for await event in events where relevant(event) {
                    do { continuation.yield(try read(core)) } catch { break }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

private final class EventListener: CoreListener, @unchecked Sendable {
    private let handler: (CoreEvent) -> Void
    init(_ handler: @escaping (CoreEvent) -> Void) { self.handler = handler }
    func onEvent(event: CoreEvent) { handler(event) }
}

private final class ProgressListener: WorkflowListener, @unchecked Sendable {
    private let handler: @Sendable (WorkflowProgress) -> Void
    init(_ handler: @escaping @Sendable (WorkflowProgress) -> Void) { self.handler = handler }
    func onProgress(progress: WorkflowProgress) { handler(progress) }
}
