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

    private var query: JobQuery { JobQuery(view: view, search: search.isEmpty ? nil : search, provider: provider) }

    var body: some View {
        List {
            Picker("List", selection: $view) {
                Text("Available").tag(JobView.available)
                Text("Mine").tag(JobView.mine)
                Text("Done").tag(JobView.done)
            }
            .pickerStyle(.segmented)
            if let error { Text(error).foregroundStyle(.red) }
            if jobs.isEmpty { Text("No jobs here. Pull down to sync.").foregroundStyle(.secondary) }
            ForEach(jobs, id: \.id) { job in
                NavigationLink(value: job.id) { JobRow(job: job) }
            }
        }
        .navigationTitle("Jobs")
        .navigationDestination(for: String.self) { JobDetailView(core: core, jobId: $0) }
        .searchable(text: $search, prompt: "Plate, VIN, name, provider, fleet")
        .refreshable {
            do { _ = try await core.sync(); error = nil } catch { self.error = SmartControlFailure.from(error).message }
        }
        .toolbar {
            ToolbarItem(placement: .topBarLeading) {
                Menu(provider ?? "All providers") {
                    Button("All providers") { provider = nil }
                    ForEach(providers, id: \.self) { name in Button(name) { provider = name } }
                }
            }
            ToolbarItem(placement: .topBarTrailing) {
                Menu("More") {
                    Button("Conflicts") { showConflicts = true }
                    Button("Log out", role: .destructive) { Task { await logout() } }
                }
            }
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

    private func logout() async {
        do {
            try await core.logout()
            core.stopBackgroundSync()
            model.status = try? core.status()
        } catch {
            // Actions waiting for sync: the core refuses; say so instead of discarding them silently.
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
            if let date = job.plannedServiceDate { Text("planned \(date)").font(.caption) }
            if job.pendingActions > 0 { Text("waiting for sync").font(.caption).foregroundStyle(.orange) }
        }
    }
}

func statusLabel(_ s: JobStatus) -> String {
    switch s {
    case .pending: return "Pending"
    case .assigned: return "Available"
    case .running: return "Running"
    case .succeeded: return "Succeeded"
    case .failed: return "Failed"
    case .unknown: return "Unknown (update the app)"
    }
}

/// Buttons for a job's actions, from the actions the core's rules allow (`JobDetail.availableActions`).
enum ActionButton: String, CaseIterable {
    case claim = "Assign Job to Me", takeOver = "Take over", startInstallation = "Start installation", withdraw = "Give back"

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
                    if let holder = item.assigneeName { Text("Held by \(holder)") }
                    if item.vehicleTestsRequired { Text("Vehicle tests are required before it can succeed.") }
                    ForEach(ActionButton.offered(for: detail), id: \.self) { action in
                        Button(action.rawValue) { Task { await perform(action) } }
                    }
                    // Completing is allowed exactly while it is the technician's running job.
                    if detail.availableActions.contains(.completeFailed) {
                        NavigationLink("Install at the vehicle") { InstallationView(core: core, jobId: jobId) }
                        NavigationLink("Complete") { CompletionView(core: core, jobId: jobId) }
                    }
                }
                Section("Provider's specifications") {
                    let s = detail.specifications
                    spec("VIN", s.vin)
                    spec("License plate", s.licensePlate)
                    spec("Name", s.customName)
                    spec("Vehicle model", s.vehicleModelName ?? s.vehicleModelId)
                    spec("Installation variant", s.installationVariant)
                    spec("Central lock connection", s.centralLockConnectionType)
                    spec("Fuel", s.fuelType)
                    spec("Hardware", s.hardware)
                    spec("CloudBoxx serial", s.cloudboxxSerial)
                    spec("Configuration preset", s.cloudboxxConfigPreset)
                    spec("Planned service date", s.plannedServiceDate)
                    ForEach(s.masterData, id: \.key) { spec($0.key, $0.value) }
                    if let notes = s.instructions { Text(notes) }
                }
                if !detail.vehicleTests.isEmpty {
                    Section("Vehicle tests on this phone") { TestResultsTable(results: detail.vehicleTests) }
                }
                if !detail.pending.isEmpty {
                    Section("Waiting for sync") {
                        ForEach(detail.pending, id: \.seq) { Text("\($0.action) at \($0.performedAt)") }
                    }
                }
            } else {
                ProgressView()
            }
        }
        .navigationTitle(detail?.item.label ?? "Job")
        .task {
            for await d in core.jobDetail(jobId) { detail = d }
        }
    }

    private func spec(_ label: String, _ value: String?) -> some View {
        LabeledContent(label, value: value ?? "technician's choice")
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
            message = "Saved on this phone; \(queued.pendingActions) action(s) waiting for sync."
        } catch {
            message = SmartControlFailure.from(error).message
        }
    }
}
