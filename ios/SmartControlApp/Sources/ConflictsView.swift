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
            if conflicts.isEmpty { Text(tr(.noConflicts)) }
            ForEach(conflicts, id: \.id) { c in
                Section(tr(.conflictRefused, c.jobLabel, "\(c.action)")) {
                    Text(tr(.reason, c.reason))
                    Text(c.message)
                    Text(tr(.onCloudNow, (c.serverStatus.map(statusLabel) ?? tr(.notVisible))
                         + (c.serverAssigneeName.map { ", " + tr(.heldBy, $0) } ?? "")))
                    if let comment = c.comment { Text(tr(.yourComment, comment)) }
                    if !c.vehicleTests.isEmpty { Text(tr(.yourTests)).font(.subheadline); TestResultsTable(results: c.vehicleTests) }
                    Text(tr(.refusedAt, c.createdAt)).font(.caption)
                    HStack {
                        Button(tr(.dismiss)) { act { _ = try await core.dismissConflict(c.id); return tr(.dismissed) } }
                            .accessibilityLabel("\(tr(.dismiss)) \(c.jobLabel)")
                        Spacer()
                        Button(tr(.resubmit)) {
                            act {
                                let queued = try await core.resubmitConflict(c.id)
                                return tr(.queuedAgain, "\(queued.action)", Int64(queued.pendingActions))
                            }
                        }
                    }
                    .buttonStyle(.borderless)
                }
            }
        }
        .navigationTitle(tr(.conflicts))
        .task { for await list in core.conflictList() { conflicts = list } }
    }

    private func act(_ body: @escaping () async throws -> String) {
        Task {
            do { message = try await body() } catch { message = SmartControlFailure.from(error).message }
        }
    }
}
