//! What the UIs read: job lists and details from local state, queued actions,
//! conflicts, the account and the sync status.

use serde::Serialize;
use smartcontrol_cloud_api::{
    Action, Job, JobKind, JobRequirements, JobStatus, MissingWork, RejectReason, SiteData,
    VehicleTestResult,
};

use crate::rules::ActionKind;

/// Which list of jobs a screen shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
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

/// A job list request: a view, optional search and filters, one page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobQuery {
    pub view: JobView,
    /// Matches license plate, VIN, custom name, provider, fleet or vehicle
    /// model name or id (case-insensitive substring), as the job stands
    /// with what the technician entered.
    pub search: Option<String>,
    /// Provider id or name (exact, case-insensitive).
    pub provider: Option<String>,
    /// Fleet id or name (exact, case-insensitive).
    pub fleet: Option<String>,
    pub limit: u32,
    pub offset: u32,
}

impl JobQuery {
    /// First page (100 jobs) of a view, unfiltered.
    pub fn view(view: JobView) -> Self {
        JobQuery {
            view,
            search: None,
            provider: None,
            fleet: None,
            limit: 100,
            offset: 0,
        }
    }
}

/// One row of a job list, with its effective local state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobSummary {
    pub id: String,
    pub kind: JobKind,
    /// Local status: the cloud's, with queued actions applied.
    pub status: JobStatus,
    pub license_plate: Option<String>,
    pub vin: Option<String>,
    pub custom_name: Option<String>,
    pub vehicle_model: Option<String>,
    pub provider_id: String,
    pub provider_name: String,
    pub fleet_id: String,
    pub fleet_name: String,
    pub planned_service_date: Option<String>,
    pub assignee_id: Option<String>,
    pub assignee_name: Option<String>,
    pub vehicle_tests_required: bool,
    /// Actions on this job waiting for sync; > 0 means "waiting for sync".
    pub pending_actions: u32,
}

impl JobSummary {
    /// A short human label: plate, else custom name, else VIN, else id.
    pub fn label(&self) -> String {
        self.license_plate
            .clone()
            .or_else(|| self.custom_name.clone())
            .or_else(|| self.vin.clone())
            .unwrap_or_else(|| self.id.clone())
    }
}

/// A page of a job list and how many jobs match in all.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobPage {
    pub jobs: Vec<JobSummary>,
    pub total: u64,
}

/// Everything about one job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobDetail {
    pub summary: JobSummary,
    /// The job as the cloud last described it (all specifications).
    pub cloud: Job,
    pub installation_started: bool,
    pub failure_comment: Option<String>,
    /// Actions on this job waiting for sync, oldest first.
    pub pending: Vec<PendingAction>,
    /// Vehicle test results of the latest on-vehicle run on this device.
    pub vehicle_tests: Vec<VehicleTestResult>,
    /// What the logged-in technician may do with the job now (from the
    /// rules, over the local state); empty when logged out. UIs show these
    /// buttons and nothing else.
    pub available_actions: Vec<ActionKind>,
    /// The job as it stands on this device: the provider's specifications
    /// with what technicians entered where the provider left them empty.
    pub effective: Job,
    /// What technicians entered (accepted by the cloud, and still queued).
    pub site_data: SiteData,
    /// Specifications the provider left to the technician that nobody has
    /// filled in yet (`vin`, `license_plate`, `vehicle_model`,
    /// `central_lock_connection_type`, `cloudboxx_serial`).
    pub open_fields: Vec<String>,
    /// The job's required work, item by item, as the latest attested run
    /// on its unit proves it: the checklist before SUCCEEDED.
    pub required_work: RequiredWork,
}

/// The checklist of a job's required work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequiredWork {
    /// Every required step, then every required test.
    pub items: Vec<WorkItem>,
    /// Every item is done: SUCCEEDED is allowed.
    pub done: bool,
    /// Why nothing counts yet, when no attested run of the job's unit
    /// exists (or it is another unit's or job's).
    pub blocker: Option<String>,
}

/// One required step or test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkItem {
    pub kind: WorkItemKind,
    /// Step (`bind_vehicle`, `configure`, `verify`, `identify`) or test
    /// (`central_lock_lock`, ...) name.
    pub name: String,
    pub done: bool,
    /// What is missing, when not done.
    pub detail: Option<String>,
}

/// What a [`WorkItem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkItemKind {
    Step,
    Test,
}

impl RequiredWork {
    /// The checklist of `requirements` given what is `missing`.
    pub fn of(requirements: &JobRequirements, missing: &[MissingWork]) -> RequiredWork {
        let blocker = missing.iter().find_map(|m| match m {
            MissingWork::NoRun | MissingWork::WrongDevice { .. } | MissingWork::WrongJob { .. } => {
                Some(m.to_string())
            }
            _ => None,
        });
        let mut items = Vec::new();
        for step in &requirements.steps {
            let gap = missing.iter().find_map(|m| match m {
                MissingWork::Step { step: s, why } if s == step => Some(why.clone()),
                _ => None,
            });
            items.push(WorkItem {
                kind: WorkItemKind::Step,
                name: step.to_string(),
                done: blocker.is_none() && gap.is_none(),
                detail: gap.or_else(|| blocker.clone()),
            });
        }
        for test in &requirements.vehicle_tests {
            let gap = missing.iter().find_map(|m| match m {
                MissingWork::Test { test: t, why } if t == test => Some(why.clone()),
                _ => None,
            });
            items.push(WorkItem {
                kind: WorkItemKind::Test,
                name: test.clone(),
                done: blocker.is_none() && gap.is_none(),
                detail: gap.or_else(|| blocker.clone()),
            });
        }
        RequiredWork {
            done: missing.is_empty(),
            items,
            blocker,
        }
    }
}

/// What the technician enters on site for a job, as typed or scanned. Each
/// value is checked (VIN per ISO 3779, models from the catalogue, ...)
/// before the entry is queued like any other action.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteEntry {
    /// Typed VIN.
    pub vin: Option<String>,
    /// Raw text of a scanned VIN barcode (instead of `vin`).
    pub vin_scan: Option<String>,
    pub license_plate: Option<String>,
    /// Catalogue model id or name.
    pub vehicle_model: Option<String>,
    /// `SKM`, `CAN`, `ANALOG` or `KEYLESS_BYPASS`.
    pub central_lock_connection_type: Option<String>,
    /// Typed CloudBoxx serial.
    pub cloudboxx_serial: Option<String>,
    /// Raw text of the scanned CloudBoxx label QR code (instead of the serial).
    pub cloudboxx_label_scan: Option<String>,
    /// Master data keys the provider did not set.
    pub master_data: Vec<(String, String)>,
}

/// An action in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingAction {
    pub seq: i64,
    pub idempotency_key: String,
    pub job_id: String,
    pub action: Action,
    pub base_version: i64,
    pub performed_at: String,
    /// Sync attempts that failed for transient reasons so far.
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// What a local action did: it is durable and queued for sync.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueuedAction {
    pub idempotency_key: String,
    pub job_id: String,
    pub action: String,
    /// The job's local status after the action.
    pub status: JobStatus,
    /// All actions waiting for sync, this one included.
    pub pending_actions: u64,
}

/// Work the cloud refused, kept until the technician dismisses or re-submits it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conflict {
    pub id: i64,
    /// Key of the refused action (as in [`QueuedAction::idempotency_key`]).
    pub idempotency_key: String,
    pub job_id: String,
    pub job_label: String,
    pub action: Action,
    /// Vehicle test results recorded for the job when the work was refused.
    pub vehicle_tests: Vec<VehicleTestResult>,
    pub reason: RejectReason,
    pub message: String,
    /// The job as the cloud has it, if the technician may still see it.
    pub server_job: Option<Job>,
    pub created_at: String,
}

/// The signed-in technician.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Account {
    pub technician_id: String,
    pub name: String,
    pub email: String,
    pub company_id: String,
    pub company_name: String,
}

/// Where sync stands, for status bars and offline banners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// Connectivity as the last sync attempt saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
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

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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
