// InstallationView.swift: the on-vehicle wizard (the core's workflow with live progress and test results) and completion.
import SmartControlKit
import SwiftUI

/// The wizard's state, built only from the core's progress events and final report.
@MainActor
final class InstallationModel: ObservableObject {
    enum StepState { case waiting, running, ok, failed }
    struct Step: Identifiable { let id: WorkflowStep; var state: StepState = .waiting; var detail = "" }

    static let allSteps: [WorkflowStep] = [.connect, .authenticate, .identify, .bindVehicle, .configure, .verify, .vehicleTests]

    @Published var steps = allSteps.map { Step(id: $0) }
    @Published var acked: UInt32 = 0
    @Published var total: UInt32 = 0
    @Published var resumedFrom: UInt32 = 0
    @Published var notices: [String] = []
    @Published var tests: [VehicleTestResult] = []
    @Published var report: WorkflowReport?
    @Published var error: String?
    @Published var running = false

    /// Runs the workflow; CoreBluetooth asks for the Bluetooth permission (Info.plist text) on first use.
    func run(core: SmartControl, jobId: String) async {
        steps = Self.allSteps.map { Step(id: $0) }
        notices = []; tests = []; report = nil; error = nil; acked = 0; total = 0
        running = true
        defer { running = false }
        do {
            let report = try await core.runInstallation(jobId) { progress in
                Task { @MainActor in self.apply(progress) }
            }
            self.report = report
            tests = report.tests
        } catch is CancellationError {
            error = tr(.stopped)
        } catch {
            self.error = SmartControlFailure.from(error).message
        }
    }

    private func apply(_ progress: WorkflowProgress) {
        switch progress {
        case .stepStarted(let step):
            update(step) { $0.state = .running }
        case .stepDone(let step, let ok, let detail):
            update(step) { $0.state = ok ? .ok : .failed; $0.detail = detail }
        case .configProgress(let a, let t, let r):
            acked = a; total = t; resumedFrom = r
        case .reconnecting(let attempt, let reason):
            notices.append(tr(.reconnecting, "\(reason)", Int64(attempt)))
        case .testResult(let result):
            tests.append(result)
        }
    }

    private func update(_ step: WorkflowStep, _ change: (inout Step) -> Void) {
        if let i = steps.firstIndex(where: { $0.id == step }) { change(&steps[i]) }
    }
}

struct InstallationView: View {
    let core: SmartControl
    let jobId: String
    @StateObject private var model = InstallationModel()
    @State private var run: Task<Void, Never>?

    var body: some View {
        List {
            Section(tr(.step)) {
                ForEach(model.steps) { step in
                    VStack(alignment: .leading) {
                        Text("\(mark(step.state)) \(String(describing: step.id))")
                        if !step.detail.isEmpty { Text(step.detail).font(.caption) }
                    }
                    .accessibilityElement(children: .combine)
                    .accessibilityValue(stateText(step.state))
                }
            }
            if model.total > 0 {
                Section(tr(.installation)) {
                    ProgressView(value: Double(model.acked), total: Double(model.total))
                    Text(tr(.configProgress, Int64(model.acked), Int64(model.total)) + (model.resumedFrom > 0 ? tr(.resumedAt, Int64(model.resumedFrom)) : ""))
                }
            }
            ForEach(model.notices, id: \.self) { Text($0).foregroundStyle(.orange) }
            if !model.tests.isEmpty { Section(tr(.vehicleTests)) { TestResultsTable(results: model.tests) } }
            if let report = model.report {
                Text(tr(.report, report.device.serial, report.device.firmwareVersion, Int64(report.reconnects)))
                Text(report.allTestsPassed ? tr(.allPassed) : tr(.someFailed))
                NavigationLink(tr(.continueToCompletion)) { CompletionView(core: core, jobId: jobId) }
            }
            if let error = model.error { Text(error).foregroundStyle(.red) }
            if model.running {
                Button(tr(.stop), role: .destructive) { run?.cancel() }
            } else if model.report == nil {
                Button(model.error == nil ? tr(.connect) : tr(.tryAgain)) {
                    run = Task { await model.run(core: core, jobId: jobId) }
                }
            }
        }
        .navigationTitle(tr(.installation))
        .onDisappear { run?.cancel() }  // cancelling the task aborts the workflow in the core
    }

    private func mark(_ s: InstallationModel.StepState) -> String {
        switch s { case .waiting: return "○"; case .running: return "…"; case .ok: return "✓"; case .failed: return "✗" }
    }

    /// What VoiceOver says of a step's state (the mark is only seen).
    private func stateText(_ s: InstallationModel.StepState) -> String {
        switch s {
        case .waiting: return tr(.stepWaiting)
        case .running: return tr(.stepRunning)
        case .ok: return tr(.stepOk)
        case .failed: return tr(.stepFailed)
        }
    }
}

/// Test, result, measured value, and the hint of a failed test.
struct TestResultsTable: View {
    let results: [VehicleTestResult]
    var body: some View {
        ForEach(results, id: \.self) { r in
            VStack(alignment: .leading) {
                HStack {
                    Text(r.test.replacingOccurrences(of: "_", with: " "))
                    Spacer()
                    Text(r.measured ?? "")
                    Text(r.passed ? tr(.passed) : tr(.failed)).foregroundStyle(r.passed ? .green : .red)
                }
                if !r.passed, let hint = r.hint { Text(tr(.hint, hint)).font(.caption) }
            }
        }
    }
}

/// SUCCEEDED once the recorded tests passed (when the job requires them); FAILED only with a comment.
struct CompletionView: View {
    let core: SmartControl
    let jobId: String
    @Environment(\.dismiss) private var dismiss
    @State private var detail: JobDetail?
    @State private var notes = ""
    @State private var comment = ""
    @State private var busy = false
    @State private var error: String?

    /// SUCCEEDED is enabled when the core's rules allow it (required vehicle tests recorded and passed).
    private var canSucceed: Bool {
        guard let detail, !busy else { return false }
        return detail.availableActions.contains(.completeSucceeded)
    }
    private var canFail: Bool { detail != nil && !busy && !comment.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }

    var body: some View {
        Form {
            if let detail, !detail.vehicleTests.isEmpty { Section(tr(.vehicleTests)) { TestResultsTable(results: detail.vehicleTests) } }
            if let detail, detail.item.vehicleTestsRequired, detail.vehicleTests.isEmpty { Text(tr(.noTestsYet)) }
            if let detail { RequiredWorkSection(work: detail.requiredWork) }
            Section {
                TextField(tr(.notes), text: $notes, axis: .vertical)
                Button(tr(.completeSucceeded)) { complete { try await core.completeSucceeded(jobId, notes: notes.isEmpty ? nil : notes) } }
                    .disabled(!canSucceed)
            } header: {
                Text(tr(.succeeded))
            } footer: {
                if detail != nil && !canSucceed && !busy { Text(tr(.succeededLocked)) }
            }
            Section {
                TextField(tr(.failurePrompt), text: $comment, axis: .vertical).lineLimit(3...8)
                Button(tr(.completeFailed), role: .destructive) {
                    complete { try await core.completeFailed(jobId, comment: comment.trimmingCharacters(in: .whitespacesAndNewlines)) }
                }
                .disabled(!canFail)
            } header: {
                Text(tr(.failedSection))
            } footer: {
                // FAILED stays disabled until there is a comment; this says why.
                if comment.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { Text(tr(.commentRequired)) }
            }
            if let error { Text(error).foregroundStyle(.red) }
        }
        .navigationTitle(tr(.completeTitle, detail?.item.label ?? tr(.job)))
        .task {
            do { detail = try await core.job(jobId) } catch { self.error = SmartControlFailure.from(error).message }
        }
    }

    private func complete(_ action: @escaping () async throws -> QueuedAction) {
        busy = true
        Task {
            defer { busy = false }
            do { _ = try await action(); dismiss() } catch { self.error = SmartControlFailure.from(error).message }
        }
    }
}
