// SmartControlApp.swift: app entry, the app-wide model (core, sync status), the root view, login and the offline banner.
import SmartControlKit
import SwiftUI

@main
struct SmartControlApp: App {
    @StateObject private var model = AppModel()

    var body: some Scene {
        WindowGroup { RootView().environmentObject(model) }
    }
}

/// Owns the one core of the process and publishes its sync status.
@MainActor
final class AppModel: ObservableObject {
    let core: SmartControl?
    let openError: String?
    @Published var status: SyncStatus?

    init() {
        SmartControl.setLogSink(OSLogSink(), level: .info)
        switch AppModel.open() {
        case .success(let core):
            self.core = core
            openError = nil
        case .failure(let failure):
            core = nil
            openError = failure.message
        }
        status = try? core?.status()
        if status?.loggedIn == true { try? core?.startBackgroundSync() }
    }

    /// The data lives in Application Support; the cloud URL comes from Info.plist (`SmartControlCloudURL`).
    private static func open() -> Result<SmartControl, SmartControlFailure> {
        let url = Bundle.main.object(forInfoDictionaryKey: "SmartControlCloudURL") as? String ?? ""
        let dir = FileManager.default.urls(for: .applicationSupportDirectory, in: .userDomainMask)[0]
            .appendingPathComponent("SmartControl", isDirectory: true)
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            return .success(try SmartControl(dataDirectory: dir, serverURL: url))
        } catch {
            return .failure(SmartControlFailure.from(error))
        }
    }

    /// Follows the core's status for as long as the root view lives.
    func followStatus() async {
        guard let core else { return }
        for await status in core.syncStatus() { self.status = status }
    }
}

struct RootView: View {
    @EnvironmentObject var model: AppModel

    var body: some View {
        if let core = model.core {
            Group {
                if model.status?.loggedIn == true {
                    VStack(spacing: 0) {
                        OfflineBanner(status: model.status, core: core)
                        NavigationStack { JobsView(core: core) }
                    }
                } else {
                    LoginView(core: core)
                }
            }
            .task { await model.followStatus() }
        } else {
            Text(model.openError ?? tr(.appName)).padding()
        }
    }
}

/// Offline, actions waiting for sync, conflicts: all numbers from the core's SyncStatus.
struct OfflineBanner: View {
    let status: SyncStatus?
    let core: SmartControl
    @State private var showConflicts = false

    var body: some View {
        if let status, status.state == .offline || status.pendingActions > 0 || status.openConflicts > 0 {
            HStack {
                Text(text(status)).font(.footnote)
                Spacer()
                if status.openConflicts > 0 {
                    Button(tr(.conflictCount, Int64(status.openConflicts))) { showConflicts = true }.font(.footnote)
                }
            }
            .padding(.horizontal).padding(.vertical, 4)
            .background(status.state == .offline ? Color.yellow.opacity(0.3) : Color.gray.opacity(0.15))
            .sheet(isPresented: $showConflicts) { NavigationStack { ConflictsView(core: core) } }
        }
    }

    private func text(_ s: SyncStatus) -> String {
        var parts: [String] = []
        if s.state == .offline { parts.append(tr(.offline)) }
        if s.pendingActions > 0 { parts.append(s.pendingActions == 1 ? tr(.pendingOne) : tr(.pendingMany, Int64(s.pendingActions))) }
        else if s.state == .offline { parts.append(tr(.savedOnPhone)) }
        return parts.joined(separator: " ")
    }
}

struct LoginView: View {
    let core: SmartControl
    @EnvironmentObject var model: AppModel
    @State private var email = ""
    @State private var password = ""
    @State private var totp = ""
    @State private var totpRequired = false
    @State private var busy = false
    @State private var error: String?

    var body: some View {
        Form {
            Section(tr(.loginHint)) {
                TextField(tr(.email), text: $email).textContentType(.username).keyboardType(.emailAddress)
                    .textInputAutocapitalization(.never)
                SecureField(tr(.password), text: $password).textContentType(.password)
                if totpRequired {
                    TextField(tr(.totp), text: $totp).textContentType(.oneTimeCode).keyboardType(.numberPad)
                }
            }
            if let error { Text(error).foregroundStyle(.red) }
            Button(busy ? tr(.loading) : tr(.signIn)) { Task { await signIn() } }
                .disabled(busy || email.isEmpty || password.isEmpty)
        }
    }

    private func signIn() async {
        busy = true
        defer { busy = false }
        do {
            _ = try await core.login(email: email.trimmingCharacters(in: .whitespaces), password: password,
                                     totp: totp.isEmpty ? nil : totp)
            try? core.startBackgroundSync()
            model.status = try? core.status()
        } catch {
            let failure = SmartControlFailure.from(error)
            if failure.kind == "totp_required" || failure.kind == "invalid_totp" { totpRequired = true }
            self.error = failure.message
        }
    }
}
