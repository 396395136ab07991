// JobsView.swift: the job lists (Available / Mine / Done, search, provider filter, pull to sync) and the job detail.
import SmartControlKit
import SwiftUI

struct JobsView: View {
    let core: SmartControl
    @EnvironmentObject var model: AppModel
    @State private var view: JobView = .available
    @State private var search = ""
    @State private var provider: String?
    @State private var jobs: [JobItem] = []
    @State private var providers: [String] = []
    @State private var error: String?
    @State private var showConflicts = false
    /// Actions that would be lost, while the logout dialog is up.
    @State private var unsynced: UInt64?

    private var query: JobQuery { JobQuery(view: view, search: search.isEmpty ? nil : search, provider: provider) }

    var body: some View {
        List {
            Picker(tr(.jobs), selection: $view) {
                Text(tr(.tabAvailable)).tag(JobView.available)
                Text(tr(.tabMine)).tag(JobView.mine)
                Text(tr(.tabDone)).tag(JobView.done)
            }
            .pickerStyle(.segmented)
            if let error { Text(error).foregroundStyle(.red) }
            if jobs.isEmpty { Text(tr(.noJobs)).foregroundStyle(.secondary) }
            ForEach(jobs, id: \.id) { job in
                NavigationLink(value: job.id) { JobRow(job: job) }
            }
        }
        .navigationTitle(tr(.jobs))
        .navigationDestination(for: String.self) { JobDetailView(core: core, jobId: $0) }
        .searchable(text: $search, prompt: tr(.search))
        .refreshable {
            do { _ = try await core.sync(); error = nil } catch { self.error = SmartControlFailure.from(error).message }
        }
        .toolbar {
            ToolbarItem(placement: .topBarLeading) {
                Menu(provider ?? tr(.allProviders)) {
                    Button(tr(.allProviders)) { provider = nil }
                    ForEach(providers, id: \.self) { name in Button(name) { provider = name } }
                }
            }
            ToolbarItemGroup(placement: .topBarTrailing) {
                Button(tr(.conflicts)) { showConflicts = true }
                Button(tr(.logOut)) { Task { await logout() } }
            }
        }
        // The core refused: actions still wait for sync. Same dialog as the Compose app's (AppState.logout).
        .alert(tr(.unsyncedTitle), isPresented: Binding(get: { unsynced != nil }, set: { if !$0 { unsynced = nil } })) {
            Button(tr(.discardAndLogOut), role: .destructive) { Task { await logout(discardUnsynced: true) } }
            Button(tr(.stay), role: .cancel) { unsynced = nil }
        } message: {
            Text(tr(.unsyncedBody, Int64(unsynced ?? 0)))
        }
        .sheet(isPresented: $showConflicts) { NavigationStack { ConflictsView(core: core) } }
        // The list follows the core: re-queried on every local change; restarted when the query changes.
        .task(id: query) { for await items in core.jobList(query) { jobs = items } }
        .task(id: view) {
            for await items in core.jobList(JobQuery(view: view, limit: 1000)) {
                providers = Array(Set(items.map(\.providerName))).sorted()
            }
        }
    }

    private func logout(discardUnsynced: Bool = false) async {
        do {
            try await core.logout(discardUnsynced: discardUnsynced)
            core.stopBackgroundSync()
            unsynced = nil
            model.status = try? core.status()
        } catch let failure as SmartControlFailure {
            if case .unsyncedWork = failure {
                // Actions waiting for sync: ask before discarding them, with their number.
                unsynced = (try? await core.pendingCount()) ?? model.status?.pendingActions ?? 0
            } else {
                self.error = failure.message
            }
        } catch {
            self.error = SmartControlFailure.from(error).message
        }
    }
}

private struct JobRow: View {
    let job: JobItem
    var body: some View {
        VStack(alignment: .leading, spacing: 2) {
            HStack {
                Text(job.label).font(.headline)
                Spacer()
                Text(statusLabel(job.status)).font(.caption)
            }
            Text("\(job.providerName) · \(job.fleetName)").font(.subheadline)
            if let model = job.vehicleModel { Text(model).font(.caption) }
            if let date = job.plannedServiceDate { Text(tr(.planned, date)).font(.caption) }
            if let holder = job.assigneeName { Text(tr(.heldBy, holder)).font(.caption) }
            if job.pendingActions > 0 { Text(tr(.waitingForSync)).font(.caption).foregroundStyle(.orange) }
        }
    }
}

func statusLabel(_ s: JobStatus) -> String {
    switch s {
    case .pending: return tr(.statusPending)
    case .assigned: return tr(.statusAssigned)
    case .running: return tr(.statusRunning)
    case .succeeded: return tr(.statusSucceeded)
    case .failed: return tr(.statusFailed)
    case .unknown: return tr(.statusUnknown)
    }
}

/// Buttons for a job's actions, from the actions the core's rules allow (`JobDetail.availableActions`).
enum ActionButton: CaseIterable {
    case claim, takeOver, startInstallation, withdraw

    var title: String {
        switch self {
        case .claim: return tr(.actionClaim)
        case .takeOver: return tr(.actionTakeOver)
        case .startInstallation: return tr(.actionStart)
        case .withdraw: return tr(.actionWithdraw)
        }
    }

    static func offered(for detail: JobDetail) -> [ActionButton] {
        let allowed = detail.availableActions
        var buttons: [ActionButton] = []
        if allowed.contains(.claim) { buttons.append(.claim) }
        if allowed.contains(.takeOver) { buttons.append(.takeOver) }
        if allowed.contains(.startInstallation) { buttons.append(.startInstallation) }
        if allowed.contains(.withdraw) { buttons.append(.withdraw) }
        return buttons
    }
}

struct JobDetailView: View {
    let core: SmartControl
    let jobId: String
    @State private var detail: JobDetail?
    @State private var message: String?

    var body: some View {
        List {
            if let message { Text(message) }
            if let detail {
                let item = detail.item
                Section {
                    Text("\(statusLabel(item.status)) · \(item.providerName) · \(item.fleetName)")
                    if let holder = item.assigneeName { Text(tr(.heldBy, holder)) }
                    if item.vehicleTestsRequired { Text(tr(.vehicleTestsRequired)) }
                    if let comment = detail.failureComment { Text(tr(.failureComment, comment)) }
                    ForEach(ActionButton.offered(for: detail), id: \.self) { action in
                        Button(action.title) { Task { await perform(action) } }
                    }
                    // Completing is allowed exactly while it is the technician's running job.
                    if detail.availableActions.contains(.completeFailed) {
                        NavigationLink(tr(.actionInstall)) { InstallationView(core: core, jobId: jobId) }
                        NavigationLink(tr(.actionComplete)) { CompletionView(core: core, jobId: jobId) }
                    }
                }
                // What the provider left open comes first: it is what the technician does next on site.
                if detail.availableActions.contains(.enterSiteData) {
                    SiteDataSection(core: core, jobId: jobId, detail: detail, message: $message)
                }
                RequiredWorkSection(work: detail.requiredWork)
                Section(tr(.specifications)) {
                    let s = detail.specifications
                    let entered = Set(detail.enteredOnSite)
                    spec(tr(.vin), s.vin, entered.contains("vin"))
                    spec(tr(.plate), s.licensePlate, entered.contains("license_plate"))
                    spec(tr(.name), s.customName)
                    spec(tr(.model), s.vehicleModelName ?? s.vehicleModelId, entered.contains("vehicle_model"))
                    spec(tr(.variant), s.installationVariant)
                    spec(tr(.lockType), s.centralLockConnectionType, entered.contains("central_lock_connection_type"))
                    spec(tr(.fuel), s.fuelType)
                    spec(tr(.hardware), s.hardware)
                    spec(tr(.serial), s.cloudboxxSerial, entered.contains("cloudboxx_serial"))
                    spec(tr(.preset), s.cloudboxxConfigPreset)
                    spec(tr(.serviceDate), s.plannedServiceDate)
                    ForEach(s.masterData, id: \.key) { spec($0.key, $0.value, entered.contains("master_data.\($0.key)")) }
                    if let notes = s.instructions { Text(tr(.instructions)).font(.subheadline); Text(notes) }
                }
                if !detail.vehicleTests.isEmpty {
                    Section(tr(.testsOnPhone)) { TestResultsTable(results: detail.vehicleTests) }
                }
                if !detail.pending.isEmpty {
                    Section(tr(.pendingSection)) {
                        ForEach(detail.pending, id: \.seq) { p in
                            Text("\(p.action) · \(p.performedAt)" + (p.lastError.map { " — " + tr(.lastTry, $0) } ?? ""))
                        }
                    }
                }
            } else {
                ProgressView()
            }
        }
        .navigationTitle(detail?.item.label ?? tr(.job))
        .task {
            for await d in core.jobDetail(jobId) { detail = d }
        }
    }

    /// A specification row; a value the technician entered on site says so in its label.
    private func spec(_ label: String, _ value: String?, _ enteredOnSite: Bool = false) -> some View {
        LabeledContent(enteredOnSite ? tr(.enteredOnSite, label) : label, value: value ?? tr(.techniciansChoice))
    }

    private func perform(_ action: ActionButton) async {
        do {
            let queued: QueuedAction
            switch action {
            case .claim: queued = try await core.claim(jobId)
            case .takeOver: queued = try await core.takeOver(jobId)
            case .startInstallation: queued = try await core.startInstallation(jobId)
            case .withdraw: queued = try await core.withdraw(jobId)
            }
            message = tr(.savedPending, Int64(queued.pendingActions))
        } catch {
            message = SmartControlFailure.from(error).message
        }
    }
}
