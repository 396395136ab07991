//! The records and enums native apps read, and their translation from the
//! core's model. Plain data only; every rule stays in `smartcontrol-core`.

use smartcontrol_cloud_api as api;
use smartcontrol_core as core;

/// Which list of jobs a screen shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum JobView {
    /// ASSIGNED jobs of the company that no one works on.
    Available,
    /// RUNNING jobs held by the signed-in technician.
    Mine,
    /// SUCCEEDED or FAILED jobs the signed-in technician completed.
    Done,
    /// RUNNING jobs held by colleagues (candidates for take-over).
    Colleagues,
    /// Every job on this device.
    All,
}

impl From<JobView> for core::JobView {
    fn from(v: JobView) -> Self {
        match v {
            JobView::Available => core::JobView::Available,
            JobView::Mine => core::JobView::Mine,
            JobView::Done => core::JobView::Done,
            JobView::Colleagues => core::JobView::Colleagues,
            JobView::All => core::JobView::All,
        }
    }
}

/// A job list request: a view, optional search and filters, one page.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct JobQuery {
    pub view: JobView,
    /// Matches license plate, VIN, custom name, provider, fleet or vehicle
    /// model (case-insensitive substring).
    #[uniffi(default = None)]
    pub search: Option<String>,
    /// Provider id or name (exact, case-insensitive).
    #[uniffi(default = None)]
    pub provider: Option<String>,
    /// Fleet id or name (exact, case-insensitive).
    #[uniffi(default = None)]
    pub fleet: Option<String>,
    /// Page size.
    #[uniffi(default = 100)]
    pub limit: u32,
    /// Jobs to skip.
    #[uniffi(default = 0)]
    pub offset: u32,
}

impl From<JobQuery> for core::JobQuery {
    fn from(q: JobQuery) -> Self {
        let blank = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
        core::JobQuery {
            view: q.view.into(),
            search: blank(q.search),
            provider: blank(q.provider),
            fleet: blank(q.fleet),
            limit: q.limit,
            offset: q.offset,
        }
    }
}

/// Life cycle of a job: PENDING -> ASSIGNED -> RUNNING -> SUCCEEDED | FAILED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum JobStatus {
    Pending,
    Assigned,
    Running,
    Succeeded,
    Failed,
    /// A status this app version does not know (a newer cloud).
    Unknown,
}

impl From<&api::JobStatus> for JobStatus {
    fn from(s: &api::JobStatus) -> Self {
        match s {
            api::JobStatus::Pending => JobStatus::Pending,
            api::JobStatus::Assigned => JobStatus::Assigned,
            api::JobStatus::Running => JobStatus::Running,
            api::JobStatus::Succeeded => JobStatus::Succeeded,
            api::JobStatus::Failed => JobStatus::Failed,
            api::JobStatus::Other(_) => JobStatus::Unknown,
        }
    }
}

/// What the technician is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum JobKind {
    Installation,
    Maintenance,
    /// A kind this app version does not know.
    Unknown,
}

impl From<&api::JobKind> for JobKind {
    fn from(k: &api::JobKind) -> Self {
        match k {
            api::JobKind::Installation => JobKind::Installation,
            api::JobKind::Maintenance => JobKind::Maintenance,
            api::JobKind::Other(_) => JobKind::Unknown,
        }
    }
}

/// One row of a job list, with its effective local state: what the list
/// screens show (names, not the provider, fleet and assignee ids, which
/// no screen shows; filters take a name as well as an id). Each field is
/// lowered and lifted per row across the FFI.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct JobItem {
    pub id: String,
    /// Plate, else custom name, else VIN, else id.
    pub label: String,
    pub kind: JobKind,
    /// Local status: the cloud's, with queued actions applied.
    pub status: JobStatus,
    pub license_plate: Option<String>,
    pub vin: Option<String>,
    pub custom_name: Option<String>,
    pub vehicle_model: Option<String>,
    pub provider_name: String,
    pub fleet_name: String,
    /// `YYYY-MM-DD`.
    pub planned_service_date: Option<String>,
    pub assignee_name: Option<String>,
    pub vehicle_tests_required: bool,
    /// Actions on this job waiting for sync; > 0 means "waiting for sync".
    pub pending_actions: u32,
}

impl From<core::JobSummary> for JobItem {
    fn from(s: core::JobSummary) -> Self {
        JobItem {
            label: s.label(),
            kind: (&s.kind).into(),
            status: (&s.status).into(),
            id: s.id,
            license_plate: s.license_plate,
            vin: s.vin,
            custom_name: s.custom_name,
            vehicle_model: s.vehicle_model,
            provider_name: s.provider_name,
            fleet_name: s.fleet_name,
            planned_service_date: s.planned_service_date,
            assignee_name: s.assignee_name,
            vehicle_tests_required: s.vehicle_tests_required,
            pending_actions: s.pending_actions,
        }
    }
}

/// A page of a job list and how many jobs match in all.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct JobPage {
    pub jobs: Vec<JobItem>,
    pub total: u64,
}

impl From<core::JobPage> for JobPage {
    fn from(p: core::JobPage) -> Self {
        JobPage {
            jobs: p.jobs.into_iter().map(JobItem::from).collect(),
            total: p.total,
        }
    }
}

/// One free-form master data entry of the provider (value as JSON text
/// when it is not a string).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MasterDataEntry {
    pub key: String,
    pub value: String,
}

/// The provider's specifications of a job. Every field is optional: an
/// empty one is the technician's choice.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct JobSpecifications {
    pub vin: Option<String>,
    pub license_plate: Option<String>,
    pub custom_name: Option<String>,
    pub vehicle_model_id: Option<String>,
    pub vehicle_model_name: Option<String>,
    /// `STANDARD`, `HIDDEN`, `RETROFIT` or a newer value.
    pub installation_variant: Option<String>,
    /// `SKM` (Secure Key Module), `CAN`, `ANALOG`, `KEYLESS_BYPASS` or newer.
    pub central_lock_connection_type: Option<String>,
    /// `PETROL`, `DIESEL`, `ELECTRIC`, `HYBRID`, `CNG` or newer.
    pub fuel_type: Option<String>,
    /// Hardware the job asks for (e.g. a CloudBoxx type).
    pub hardware: Option<String>,
    /// Serial of the CloudBoxx unit of this vehicle.
    pub cloudboxx_serial: Option<String>,
    pub cloudboxx_config_preset: Option<String>,
    pub master_data: Vec<MasterDataEntry>,
    pub planned_service_date: Option<String>,
    /// Notes and instructions from the provider.
    pub instructions: Option<String>,
}

impl From<&api::Job> for JobSpecifications {
    fn from(j: &api::Job) -> Self {
        JobSpecifications {
            vin: j.vin.clone(),
            license_plate: j.license_plate.clone(),
            custom_name: j.custom_name.clone(),
            vehicle_model_id: j.vehicle_model.as_ref().map(|m| m.id.clone()),
            vehicle_model_name: j.vehicle_model.as_ref().map(|m| m.name.clone()),
            installation_variant: j.installation_variant.as_ref().map(|v| v.to_string()),
            central_lock_connection_type: j
                .central_lock_connection_type
                .as_ref()
                .map(|v| v.to_string()),
            fuel_type: j.fuel_type.as_ref().map(|v| v.to_string()),
            hardware: j.hardware.clone(),
            cloudboxx_serial: j.cloudboxx_serial.clone(),
            cloudboxx_config_preset: j.cloudboxx_config_preset.clone(),
            master_data: j
                .master_data
                .iter()
                .map(|(k, v)| MasterDataEntry {
                    key: k.clone(),
                    value: match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    },
                })
                .collect(),
            planned_service_date: j.planned_service_date.clone(),
            instructions: j.instructions.clone(),
        }
    }
}

/// One vehicle test's structured result.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct VehicleTestResult {
    /// e.g. `central_lock_lock`, `mileage`.
    pub test: String,
    pub passed: bool,
    /// Measured value, if the test measures one (e.g. `"48213 km"`).
    pub measured: Option<String>,
    /// What the technician can do when it failed.
    pub hint: Option<String>,
    /// RFC 3339 time the test ran.
    pub at: String,
}

impl From<api::VehicleTestResult> for VehicleTestResult {
    fn from(r: api::VehicleTestResult) -> Self {
        VehicleTestResult {
            test: r.test,
            passed: r.passed,
            measured: r.measured,
            hint: r.hint,
            at: r.at,
        }
    }
}

impl From<VehicleTestResult> for api::VehicleTestResult {
    fn from(r: VehicleTestResult) -> Self {
        api::VehicleTestResult {
            test: r.test,
            passed: r.passed,
            measured: r.measured,
            hint: r.hint,
            at: r.at,
        }
    }
}

/// An action in the outbox.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PendingAction {
    pub seq: i64,
    pub idempotency_key: String,
    pub job_id: String,
    /// `CLAIM`, `WITHDRAW`, `TAKE_OVER`, `START_INSTALLATION`,
    /// `COMPLETE_SUCCEEDED`, `COMPLETE_FAILED`, `ENTER_SITE_DATA`.
    pub action: String,
    /// The comment of a FAILED completion.
    pub comment: Option<String>,
    /// RFC 3339 time the technician acted.
    pub performed_at: String,
    /// Sync attempts that failed for transient reasons so far.
    pub attempts: u32,
    pub last_error: Option<String>,
}

fn action_comment(a: &api::Action) -> Option<String> {
    match a {
        api::Action::CompleteFailed { comment, .. } => Some(comment.clone()),
        api::Action::CompleteSucceeded { report } => report.notes.clone(),
        _ => None,
    }
}

impl From<core::PendingAction> for PendingAction {
    fn from(p: core::PendingAction) -> Self {
        PendingAction {
            action: p.action.name().to_owned(),
            comment: action_comment(&p.action),
            seq: p.seq,
            idempotency_key: p.idempotency_key,
            job_id: p.job_id,
            performed_at: p.performed_at,
            attempts: p.attempts,
            last_error: p.last_error,
        }
    }
}

/// A technician action a job screen can offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum JobAction {
    Claim,
    TakeOver,
    Withdraw,
    StartInstallation,
    CompleteSucceeded,
    CompleteFailed,
    /// Enter what the provider left open (VIN, plate, model, ...).
    EnterSiteData,
}

impl From<core::ActionKind> for JobAction {
    fn from(k: core::ActionKind) -> Self {
        match k {
            core::ActionKind::Claim => JobAction::Claim,
            core::ActionKind::TakeOver => JobAction::TakeOver,
            core::ActionKind::Withdraw => JobAction::Withdraw,
            core::ActionKind::StartInstallation => JobAction::StartInstallation,
            core::ActionKind::CompleteSucceeded => JobAction::CompleteSucceeded,
            core::ActionKind::CompleteFailed => JobAction::CompleteFailed,
            core::ActionKind::EnterSiteData => JobAction::EnterSiteData,
        }
    }
}

/// One item of a job's required work.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WorkItem {
    /// `true` for a workflow step (`bind_vehicle`, `configure`, `verify`,
    /// `identify`), `false` for a vehicle test (`central_lock_lock`, ...).
    pub is_step: bool,
    pub name: String,
    /// The latest attested run on the job's unit proves it.
    pub done: bool,
    /// What is missing, when not done.
    pub detail: Option<String>,
}

/// The checklist before SUCCEEDED.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RequiredWork {
    pub items: Vec<WorkItem>,
    /// Every item is done: SUCCEEDED is allowed.
    pub done: bool,
    /// Why nothing counts yet (no attested run of the job's unit).
    pub blocker: Option<String>,
}

impl From<core::RequiredWork> for RequiredWork {
    fn from(w: core::RequiredWork) -> Self {
        RequiredWork {
            items: w
                .items
                .into_iter()
                .map(|i| WorkItem {
                    is_step: i.kind == core::WorkItemKind::Step,
                    name: i.name,
                    done: i.done,
                    detail: i.detail,
                })
                .collect(),
            done: w.done,
            blocker: w.blocker,
        }
    }
}

/// What the technician enters on site, typed or as a scan's raw text.
/// Every field is optional; give a typed value or its scan, not both.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct SiteEntry {
    #[uniffi(default = None)]
    pub vin: Option<String>,
    /// Raw text of a scanned VIN barcode.
    #[uniffi(default = None)]
    pub vin_scan: Option<String>,
    #[uniffi(default = None)]
    pub license_plate: Option<String>,
    /// Catalogue model id or name.
    #[uniffi(default = None)]
    pub vehicle_model: Option<String>,
    /// `SKM`, `CAN`, `ANALOG` or `KEYLESS_BYPASS`.
    #[uniffi(default = None)]
    pub central_lock_connection_type: Option<String>,
    #[uniffi(default = None)]
    pub cloudboxx_serial: Option<String>,
    /// Raw text of the CloudBoxx label's QR code.
    #[uniffi(default = None)]
    pub cloudboxx_label_scan: Option<String>,
    #[uniffi(default = [])]
    pub master_data: Vec<MasterDataEntry>,
}

impl From<SiteEntry> for core::SiteEntry {
    fn from(e: SiteEntry) -> Self {
        core::SiteEntry {
            vin: e.vin,
            vin_scan: e.vin_scan,
            license_plate: e.license_plate,
            vehicle_model: e.vehicle_model,
            central_lock_connection_type: e.central_lock_connection_type,
            cloudboxx_serial: e.cloudboxx_serial,
            cloudboxx_label_scan: e.cloudboxx_label_scan,
            master_data: e
                .master_data
                .into_iter()
                .map(|m| (m.key, m.value))
                .collect(),
        }
    }
}

/// A model of the vehicle catalogue (what a technician may enter).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VehicleModel {
    pub id: String,
    pub name: String,
    /// Central lock connection types the model supports.
    pub central_lock_types: Vec<String>,
}

impl From<api::site::VehicleModelEntry> for VehicleModel {
    fn from(m: api::site::VehicleModelEntry) -> Self {
        VehicleModel {
            id: m.id,
            name: m.name,
            central_lock_types: m
                .central_lock_types
                .iter()
                .map(|l| l.as_str().to_owned())
                .collect(),
        }
    }
}

/// Everything about one job.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct JobDetail {
    pub item: JobItem,
    /// The specifications as the job stands on this device: the
    /// provider's, with what technicians entered where it left them empty.
    pub specifications: JobSpecifications,
    /// Names of the specifications that were entered on site (`vin`,
    /// `license_plate`, ..., `master_data.KEY`).
    pub entered_on_site: Vec<String>,
    /// Specifications left to the technician that nobody filled in yet.
    pub open_fields: Vec<String>,
    /// The required work, item by item.
    pub required_work: RequiredWork,
    pub installation_started: bool,
    pub failure_comment: Option<String>,
    /// Actions on this job waiting for sync, oldest first.
    pub pending: Vec<PendingAction>,
    /// Vehicle test results recorded on this device.
    pub vehicle_tests: Vec<VehicleTestResult>,
    /// The cloud's version of the job.
    pub version: i64,
    /// What the signed-in technician may do with the job now, decided by
    /// the core's rules: show these buttons and no others.
    pub available_actions: Vec<JobAction>,
}

impl From<core::JobDetail> for JobDetail {
    fn from(d: core::JobDetail) -> Self {
        JobDetail {
            specifications: (&d.effective).into(),
            entered_on_site: d.site_data.fields().iter().map(|f| f.name()).collect(),
            open_fields: d.open_fields,
            required_work: d.required_work.into(),
            version: d.cloud.version,
            available_actions: d
                .available_actions
                .into_iter()
                .map(JobAction::from)
                .collect(),
            item: d.summary.into(),
            installation_started: d.installation_started,
            failure_comment: d.failure_comment,
            pending: d.pending.into_iter().map(PendingAction::from).collect(),
            vehicle_tests: d
                .vehicle_tests
                .into_iter()
                .map(VehicleTestResult::from)
                .collect(),
        }
    }
}

/// What a local action did: it is durable and queued for sync.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct QueuedAction {
    pub idempotency_key: String,
    pub job_id: String,
    pub action: String,
    /// The job's local status after the action.
    pub status: JobStatus,
    /// All actions waiting for sync, this one included.
    pub pending_actions: u64,
}

impl From<core::QueuedAction> for QueuedAction {
    fn from(q: core::QueuedAction) -> Self {
        QueuedAction {
            status: (&q.status).into(),
            idempotency_key: q.idempotency_key,
            job_id: q.job_id,
            action: q.action,
            pending_actions: q.pending_actions,
        }
    }
}

/// Work the cloud refused, kept until the technician dismisses or
/// re-submits it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Conflict {
    pub id: i64,
    pub idempotency_key: String,
    pub job_id: String,
    pub job_label: String,
    /// The refused action (`CLAIM`, `COMPLETE_FAILED`, ...).
    pub action: String,
    /// The comment of a refused FAILED completion (or notes of a SUCCEEDED one).
    pub comment: Option<String>,
    /// Vehicle test results recorded for the job when the work was refused.
    pub vehicle_tests: Vec<VehicleTestResult>,
    /// `TAKEN_OVER`, `INVALID_TRANSITION`, `UNASSIGNED`, `CONNECTION_DELETED`,
    /// `NOT_FOUND`, `INVALID`, `REQUIREMENTS_NOT_MET`, `UNTRUSTED_RESULTS`,
    /// `SPECIFIED_BY_PROVIDER`, `UNKNOWN_DEVICE`,
    /// `PRECEDING_ACTION_REJECTED` or newer.
    pub reason: String,
    /// The cloud's explanation.
    pub message: String,
    /// The job's status on the cloud, if the technician may still see it.
    pub server_status: Option<JobStatus>,
    /// Who holds the job on the cloud now, if anyone.
    pub server_assignee_name: Option<String>,
    pub created_at: String,
}

impl From<core::Conflict> for Conflict {
    fn from(c: core::Conflict) -> Self {
        Conflict {
            action: c.action.name().to_owned(),
            comment: action_comment(&c.action),
            reason: c.reason.to_string(),
            server_status: c.server_job.as_ref().map(|j| (&j.status).into()),
            server_assignee_name: c
                .server_job
                .as_ref()
                .and_then(|j| j.assignee.as_ref().map(|a| a.name.clone())),
            id: c.id,
            idempotency_key: c.idempotency_key,
            job_id: c.job_id,
            job_label: c.job_label,
            vehicle_tests: c
                .vehicle_tests
                .into_iter()
                .map(VehicleTestResult::from)
                .collect(),
            message: c.message,
            created_at: c.created_at,
        }
    }
}

/// The signed-in technician.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Account {
    pub technician_id: String,
    pub name: String,
    pub email: String,
    pub company_id: String,
    pub company_name: String,
}

impl From<core::Account> for Account {
    fn from(a: core::Account) -> Self {
        Account {
            technician_id: a.technician_id,
            name: a.name,
            email: a.email,
            company_id: a.company_id,
            company_name: a.company_name,
        }
    }
}

/// Connectivity as the last sync attempt saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SyncState {
    /// No sync attempted yet on this device.
    Never,
    /// A sync is running now.
    Syncing,
    /// The last attempt reached the cloud.
    Online,
    /// The last attempt could not reach the cloud.
    Offline,
    /// The last attempt reached the cloud, which refused or failed.
    Error,
}

impl From<core::SyncState> for SyncState {
    fn from(s: core::SyncState) -> Self {
        match s {
            core::SyncState::Never => SyncState::Never,
            core::SyncState::Syncing => SyncState::Syncing,
            core::SyncState::Online => SyncState::Online,
            core::SyncState::Offline => SyncState::Offline,
            core::SyncState::Error => SyncState::Error,
        }
    }
}

/// Where sync stands, for status bars and offline banners.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncStatus {
    pub logged_in: bool,
    pub pending_actions: u64,
    pub open_conflicts: u64,
    pub state: SyncState,
    /// RFC 3339 time of the last sync that reached the cloud.
    pub last_sync_at: Option<String>,
    /// RFC 3339 time of the last attempt, successful or not.
    pub last_attempt_at: Option<String>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
}

impl From<core::SyncStatus> for SyncStatus {
    fn from(s: core::SyncStatus) -> Self {
        SyncStatus {
            logged_in: s.logged_in,
            pending_actions: s.pending_actions,
            open_conflicts: s.open_conflicts,
            state: s.state.into(),
            last_sync_at: s.last_sync_at,
            last_attempt_at: s.last_attempt_at,
            last_error: s.last_error,
        }
    }
}

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    /// Queued actions the cloud applied.
    pub applied: u64,
    /// Queued actions the cloud refused (now conflicts).
    pub rejected: u64,
    /// Jobs received (new or changed).
    pub jobs_received: u64,
    /// Jobs that left the technician's reach.
    pub jobs_removed: u64,
    /// HTTP requests made.
    pub requests: u64,
    /// Actions still queued afterwards.
    pub pending_actions: u64,
}

impl From<core::SyncReport> for SyncReport {
    fn from(r: core::SyncReport) -> Self {
        SyncReport {
            applied: r.applied,
            rejected: r.rejected,
            jobs_received: r.jobs_received,
            jobs_removed: r.jobs_removed,
            requests: r.requests,
            pending_actions: r.pending_actions,
        }
    }
}

/// Something a UI may want to redraw for. A subscription first delivers
/// `Status` (the current state), then changes as they happen.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum CoreEvent {
    /// The whole current status: first event of every subscription, and
    /// again whenever events were missed (the listener was too slow).
    Status { status: SyncStatus },
    /// Sync started, reached the cloud, or could not.
    SyncStateChanged { state: SyncState },
    /// Actions waiting for sync.
    PendingCountChanged { count: u64 },
    /// Open conflicts.
    ConflictsChanged { open: u64 },
    /// Local job data changed; `job_ids` empty means "possibly many":
    /// reload the lists on screen.
    JobsChanged { job_ids: Vec<String> },
    /// The technician lost vehicle access for a job (completed, taken over,
    /// unassigned or its connection deleted).
    AccessEnded { job_id: String, reason: String },
}

impl From<core::Event> for CoreEvent {
    fn from(e: core::Event) -> Self {
        match e {
            core::Event::SyncStateChanged { state } => CoreEvent::SyncStateChanged {
                state: state.into(),
            },
            core::Event::PendingCountChanged { count } => CoreEvent::PendingCountChanged { count },
            core::Event::ConflictsChanged { open } => CoreEvent::ConflictsChanged { open },
            core::Event::JobsChanged { job_ids } => CoreEvent::JobsChanged { job_ids },
            core::Event::AccessEnded { job_id, reason } => {
                CoreEvent::AccessEnded { job_id, reason }
            }
        }
    }
}

/// A step of the on-vehicle workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum WorkflowStep {
    Connect,
    Authenticate,
    Identify,
    /// The vehicle's own VIN and model compared with the job's.
    CheckVehicle,
    BindVehicle,
    Configure,
    Verify,
    VehicleTests,
    /// The unit signs the run's results.
    Attest,
}

impl From<core::WorkflowStep> for WorkflowStep {
    fn from(s: core::WorkflowStep) -> Self {
        match s {
            core::WorkflowStep::Connect => WorkflowStep::Connect,
            core::WorkflowStep::Authenticate => WorkflowStep::Authenticate,
            core::WorkflowStep::Identify => WorkflowStep::Identify,
            core::WorkflowStep::BindVehicle => WorkflowStep::BindVehicle,
            core::WorkflowStep::Configure => WorkflowStep::Configure,
            core::WorkflowStep::Verify => WorkflowStep::Verify,
            core::WorkflowStep::VehicleTests => WorkflowStep::VehicleTests,
            core::WorkflowStep::CheckVehicle => WorkflowStep::CheckVehicle,
            core::WorkflowStep::Attest => WorkflowStep::Attest,
        }
    }
}

/// Progress of a running installation workflow, for wizards.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum WorkflowProgress {
    StepStarted {
        step: WorkflowStep,
    },
    StepDone {
        step: WorkflowStep,
        ok: bool,
        detail: String,
    },
    /// Configuration bytes the device acknowledged so far.
    ConfigProgress {
        acked: u32,
        total: u32,
        resumed_from: u32,
    },
    /// The link dropped; reconnecting (attempt `attempt`).
    Reconnecting {
        attempt: u32,
        reason: String,
    },
    /// One vehicle test finished.
    TestResult {
        result: VehicleTestResult,
    },
}

impl From<core::WorkflowEvent> for WorkflowProgress {
    fn from(e: core::WorkflowEvent) -> Self {
        match e {
            core::WorkflowEvent::StepStarted { step } => {
                WorkflowProgress::StepStarted { step: step.into() }
            }
            core::WorkflowEvent::StepDone { step, ok, detail } => WorkflowProgress::StepDone {
                step: step.into(),
                ok,
                detail,
            },
            core::WorkflowEvent::ConfigProgress {
                acked,
                total,
                resumed_from,
            } => WorkflowProgress::ConfigProgress {
                acked,
                total,
                resumed_from,
            },
            core::WorkflowEvent::Reconnecting { attempt, reason } => {
                WorkflowProgress::Reconnecting { attempt, reason }
            }
            core::WorkflowEvent::TestResult { result } => WorkflowProgress::TestResult {
                result: result.into(),
            },
        }
    }
}

/// How the installation workflow behaves at the vehicle.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WorkflowOptions {
    /// Reconnections after a dropped link before giving up (the transfer
    /// resumes where the device acknowledged).
    #[uniffi(default = 3)]
    pub reconnect_attempts: u32,
    /// Pause before a reconnection, in milliseconds.
    #[uniffi(default = 500)]
    pub reconnect_delay_ms: u32,
    /// Vehicle tests to run by name (`central_lock_lock`, `mileage`, ...);
    /// empty: every test.
    #[uniffi(default = [])]
    pub tests: Vec<String>,
}

impl WorkflowOptions {
    pub(crate) fn to_core(&self) -> Result<core::WorkflowOptions, crate::SmartControlError> {
        use smartcontrol_ble::VehicleTestId;
        let tests = self
            .tests
            .iter()
            .map(|name| {
                VehicleTestId::ALL
                    .into_iter()
                    .find(|t| core::test_name(*t) == name)
                    .ok_or_else(|| {
                        let known: Vec<&str> = VehicleTestId::ALL
                            .into_iter()
                            .map(core::test_name)
                            .collect();
                        crate::SmartControlError::InvalidInput(format!(
                            "invalid input: unknown vehicle test {name:?}: use one of {}",
                            known.join(", ")
                        ))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(core::WorkflowOptions {
            reconnect_attempts: self.reconnect_attempts,
            reconnect_delay: std::time::Duration::from_millis(u64::from(self.reconnect_delay_ms)),
            tests,
            ..core::WorkflowOptions::default()
        })
    }
}

/// The CloudBoxx as the workflow found and left it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeviceReport {
    pub serial: String,
    pub firmware_version: String,
    pub hardware_version: String,
    pub battery_millivolts: u32,
    pub bound_vin: Option<String>,
    pub config_id: Option<String>,
    pub config_sha256: Option<String>,
}

/// One step of a workflow run.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WorkflowStepReport {
    pub step: String,
    pub ok: bool,
    pub detail: String,
    pub at: String,
}

/// What one run of the installation workflow did.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct WorkflowReport {
    pub job_id: String,
    pub device: DeviceReport,
    pub steps: Vec<WorkflowStepReport>,
    pub tests: Vec<VehicleTestResult>,
    /// Every test of the run passed.
    pub all_tests_passed: bool,
    /// Reconnections the run needed.
    pub reconnects: u32,
    /// The job's required work as this run proved it (`done`: SUCCEEDED
    /// is allowed).
    pub required_work: RequiredWork,
}

impl From<core::WorkflowReport> for WorkflowReport {
    fn from(r: core::WorkflowReport) -> Self {
        let d = r.device;
        WorkflowReport {
            job_id: r.job_id,
            device: DeviceReport {
                serial: d.serial,
                firmware_version: d.firmware_version,
                hardware_version: d.hardware_version,
                battery_millivolts: d.battery_millivolts,
                bound_vin: d.bound_vin,
                config_id: d.config_id,
                config_sha256: d.config_sha256,
            },
            steps: r
                .steps
                .into_iter()
                .map(|s| WorkflowStepReport {
                    step: s.step,
                    ok: s.ok,
                    detail: s.detail,
                    at: s.at,
                })
                .collect(),
            tests: r.tests.into_iter().map(VehicleTestResult::from).collect(),
            all_tests_passed: r.all_tests_passed,
            reconnects: r.reconnects,
            required_work: r.required_work.into(),
        }
    }
}
