// ConflictsView.swift: work the cloud refused, kept until the technician dismisses or re-submits it.
import SmartControlKit
import SwiftUI

struct ConflictsView: View {
    let core: SmartControl
    @State private var conflicts: [Conflict] = []
    @State private var message: String?

    var body: some View {
        List {
            if let message { Text(message) }
            if conflicts.isEmpty { Text("No conflicts: everything you did reached the cloud or is waiting for sync.") }
            ForEach(conflicts, id: \.id) { c in
                Section("\(c.jobLabel): \(c.action) refused") {
                    Text("Reason: \(c.reason)")
                    Text(c.message)
                    Text("On the cloud now: \(c.serverStatus.map(statusLabel) ?? "no longer visible to you")"
                         + (c.serverAssigneeName.map { ", held by \($0)" } ?? ""))
                    if let comment = c.comment { Text("Your comment: \(comment)") }
                    if !c.vehicleTests.isEmpty { TestResultsTable(results: c.vehicleTests) }
                    HStack {
                        Button("Dismiss") { act { _ = try await core.dismissConflict(c.id); return "Dismissed." } }
                        Spacer()
                        Button("Resubmit") {
                            act {
                                let queued = try await core.resubmitConflict(c.id)
                                return "Queued again: \(queued.action) (\(queued.pendingActions) waiting for sync)."
                            }
                        }
                    }
                    .buttonStyle(.borderless)
                }
            }
        }
        .navigationTitle("Conflicts")
        .task { for await list in core.conflictList() { conflicts = list } }
    }

    private func act(_ body: @escaping () async throws -> String) {
        Task {
            do { message = try await body() } catch { message = SmartControlFailure.from(error).message }
        }
    }
}
