// SiteDataView.swift: the technician's site data form (VIN, plate, model, lock type, serial, master data) and the
// required-work checklist, as on the Compose job detail (android/ui JobDetailScreen.kt). The core validates and
// normalises what is typed; its message names the field it refuses.
import SwiftUI
import SmartControlKit

/// The site data form: typed or scanned text, sent to the core as one `SiteEntry`.
struct SiteForm: Equatable {
    /// A master data row the technician adds; rows with a blank key are not sent.
    struct MasterRow: Identifiable, Equatable {
        let id = UUID()
        var key = ""
        var value = ""
    }

    var vin = ""
    var vinScan = ""
    var plate = ""
    var model: String?
    var lockType: String?
    var serial = ""
    var serialScan = ""
    var masterData: [MasterRow] = []

    private static func text(_ s: String, trimmed: Bool = true) -> String? {
        let t = trimmed ? s.trimmingCharacters(in: .whitespacesAndNewlines) : s
        return t.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : t
    }

    private var sentRows: [MasterRow] {
        masterData.filter { !$0.key.trimmingCharacters(in: .whitespaces).isEmpty }
    }

    var entry: SiteEntry {
        SiteEntry(
            vin: Self.text(vin),
            vinScan: Self.text(vinScan, trimmed: false),
            licensePlate: Self.text(plate),
            vehicleModel: model,
            centralLockConnectionType: lockType,
            cloudboxxSerial: Self.text(serial),
            cloudboxxLabelScan: Self.text(serialScan, trimmed: false),
            masterData: sentRows.map {
                MasterDataEntry(key: $0.key.trimmingCharacters(in: .whitespaces), value: $0.value)
            }
        )
    }

    var isEmpty: Bool {
        Self.text(vin) == nil && Self.text(vinScan) == nil && Self.text(plate) == nil && model == nil
            && lockType == nil && Self.text(serial) == nil && Self.text(serialScan) == nil && sentRows.isEmpty
    }
}

/// The form's section of the job detail, shown while the core offers `enterSiteData`.
struct SiteDataSection: View {
    let core: SmartControl
    let jobId: String
    let detail: JobDetail
    /// The job detail's message line (what was saved and waits for sync).
    @Binding var message: String?
    @State private var form = SiteForm()
    @State private var error: String?
    @State private var models: [VehicleModel] = []
    @State private var busy = false

    var body: some View {
        Section(tr(.siteData)) {
            if !detail.openFields.isEmpty {
                Text(tr(.siteDataOpen, detail.openFields.joined(separator: ", ")))
            }
            // The core's message names the field; shown above the fields it concerns.
            if let error { Text(error).foregroundStyle(.red) }
            TextField(tr(.vin), text: field(\.vin) { $0.uppercased() })
                .textInputAutocapitalization(.characters)
                .autocorrectionDisabled()
            TextField(tr(.vinScan), text: field(\.vinScan))
                .autocorrectionDisabled()
            TextField(tr(.plate), text: field(\.plate))
                .textInputAutocapitalization(.characters)
                .autocorrectionDisabled()
            if !models.isEmpty {
                Picker(tr(.model), selection: Binding(
                    get: { form.model },
                    set: { form.model = $0; form.lockType = nil; error = nil }
                )) {
                    Text(tr(.techniciansChoice)).tag(String?.none)
                    ForEach(models, id: \.id) { m in Text(m.name).tag(Optional(m.id)) }
                }
                let lockTypes = models.first { $0.id == form.model }?.centralLockTypes ?? []
                if !lockTypes.isEmpty {
                    Picker(tr(.lockType), selection: Binding(
                        get: { form.lockType },
                        set: { form.lockType = $0; error = nil }
                    )) {
                        Text(tr(.techniciansChoice)).tag(String?.none)
                        ForEach(lockTypes, id: \.self) { t in Text(t).tag(Optional(t)) }
                    }
                }
            }
            TextField(tr(.serial), text: field(\.serial))
                .autocorrectionDisabled()
            TextField(tr(.serialScan), text: field(\.serialScan))
                .autocorrectionDisabled()
        }
        Section(tr(.masterData)) {
            ForEach($form.masterData) { $row in
                VStack(alignment: .leading) {
                    // Keys are lower case; the core checks the rest and names the key it refuses.
                    TextField(tr(.masterKey), text: Binding(
                        get: { row.key },
                        set: { row.key = $0.lowercased(); error = nil }
                    ))
                    .textInputAutocapitalization(.never)
                    .autocorrectionDisabled()
                    HStack {
                        TextField(tr(.masterValue), text: Binding(
                            get: { row.value },
                            set: { row.value = $0; error = nil }
                        ))
                        Button(tr(.removeMasterData), role: .destructive) {
                            form.masterData.removeAll { $0.id == row.id }
                            error = nil
                        }
                        .buttonStyle(.borderless)
                        .accessibilityLabel(row.key.isEmpty ? tr(.removeMasterData) : "\(tr(.removeMasterData)) \(row.key)")
                    }
                }
            }
            Button(tr(.addMasterData)) {
                form.masterData.append(SiteForm.MasterRow())
                error = nil
            }
            Button(tr(.saveSiteData)) { Task { await save() } }
                .disabled(busy)
        }
        .task {
            models = (try? await core.vehicleModels()) ?? []
        }
    }

    /// A text field's binding to one field of the form: typing (through [transform]) clears the core's last
    /// message, as on Android.
    private func field(
        _ path: WritableKeyPath<SiteForm, String>,
        transform: @escaping (String) -> String = { $0 }
    ) -> Binding<String> {
        Binding(
            get: { form[keyPath: path] },
            set: { form[keyPath: path] = transform($0); error = nil }
        )
    }

    /// Sends the form to the core; an invalid field keeps the form as typed, with the core's message.
    private func save() async {
        if form.isEmpty {
            error = tr(.nothingToSave)
            return
        }
        busy = true
        defer { busy = false }
        do {
            let queued = try await core.enterSiteData(jobId, entry: form.entry)
            form = SiteForm()
            error = nil
            message = tr(.siteDataSaved, Int64(queued.pendingActions))
        } catch {
            self.error = SmartControlFailure.from(error).message
        }
    }
}

/// The checklist before SUCCEEDED, as the core computed it (steps and tests, done or not, and what blocks).
struct RequiredWorkSection: View {
    let work: RequiredWork

    var body: some View {
        Section(tr(.requiredWork)) {
            ForEach(Array(work.items.enumerated()), id: \.offset) { _, w in
                HStack(alignment: .top, spacing: 8) {
                    Image(systemName: w.done ? "checkmark.circle.fill" : "circle")
                        .foregroundStyle(w.done ? Color.accentColor : Color.secondary)
                        .accessibilityHidden(true)
                    VStack(alignment: .leading) {
                        Text("\(w.isStep ? tr(.step) : tr(.test)): \(w.name.replacingOccurrences(of: "_", with: " "))")
                        if let detail = w.detail { Text(detail).font(.footnote) }
                    }
                }
                .accessibilityElement(children: .combine)
                .accessibilityValue(w.done ? tr(.stepOk) : tr(.stepWaiting))
            }
            if work.done { Text(tr(.requiredWorkDone)).foregroundStyle(Color.accentColor) }
            if let blocker = work.blocker { Text(blocker).font(.footnote).foregroundStyle(.secondary) }
        }
    }
}
