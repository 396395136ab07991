//! The contract of the app and the fleet cloud: wire types of the
//! technician API (`/api/v1/...`) and the pure rules both sides must apply
//! alike.
//!
//! This crate is the one place the app core (`smartcontrol-core`) and the
//! simulated cloud (`smartcontrol-sim-cloud`) share: JSON shapes of requests
//! and responses, the string enums of the job model, and three small rule
//! books that must never differ between phone and cloud: [`work`] (a job's
//! required work and how a device attestation proves it), [`site`] (what a
//! technician may enter on site and how it is validated) and
//! [`configuration`] (the configuration bytes a job asks for). It does no
//! I/O.
//!
//! Encodings: the JSON below is the wire format; HTTP may compress it.
//! Answers are compressed with zstd or gzip when the request offers them in
//! `Accept-Encoding`; request bodies may be sent compressed with
//! `Content-Encoding: zstd` or `gzip` (the core pushes with zstd). Limits
//! ([`MAX_ACTIONS_PER_PUSH`], [`MAX_CHANGES_PAGE`]) count decoded items.
//!
//! Forward compatibility: every enum a server may extend (`JobKind`,
//! `JobStatus`, `CentralLockConnectionType`, ...) keeps values it does not know
//! in an `Other(String)` variant instead of failing to parse, so a newer cloud
//! never breaks an older app, and unknown fields are ignored by serde.

use serde::{Deserialize, Serialize};

/// Path prefix of every API route.
pub const API_PREFIX: &str = "/api/v1";
/// `POST` [`LoginRequest`] -> [`TokenResponse`].
pub const LOGIN_PATH: &str = "/api/v1/auth/login";
/// `POST` [`RefreshRequest`] -> [`TokenResponse`].
pub const REFRESH_PATH: &str = "/api/v1/auth/refresh";
/// `GET ?since=CURSOR&limit=N` -> [`ChangesResponse`].
pub const CHANGES_PATH: &str = "/api/v1/technician/changes";
/// `POST` [`PushActionsRequest`] -> [`PushActionsResponse`].
pub const ACTIONS_PATH: &str = "/api/v1/technician/actions";
/// Most actions the cloud accepts in one push request: a day's queue of a
/// phone that was offline (or a bulk of 1,000 claims) in one request.
pub const MAX_ACTIONS_PER_PUSH: usize = 1_000;
/// Most jobs the cloud returns in one page of changes.
pub const MAX_CHANGES_PAGE: usize = 10_000;
/// `GET` -> [`site::VehicleCatalogue`]: the vehicle model catalogue.
pub const VEHICLE_MODELS_PATH: &str = "/api/v1/technician/vehicle-models";
/// Query parameter of [`CHANGES_PATH`]: the grant ids the phone holds,
/// comma-separated. The cloud answers with the grants it lacks (new or
/// renewed) and lists held ones that are no longer valid in
/// [`ChangesResponse::revoked_grants`].
pub const HELD_GRANTS_PARAM: &str = "grants";
/// Most grant ids a phone lists in [`HELD_GRANTS_PARAM`] (the soonest to
/// expire first), so that the request line stays far below what HTTP
/// servers and proxies accept (~13 KB). A phone holding more (hundreds of
/// running jobs) gets the grants it did not list issued again: more bytes,
/// never less access.
pub const MAX_HELD_GRANTS_LISTED: usize = 400;
/// Query parameter of [`CHANGES_PATH`]: `SERIAL:SEQUENCE` of each
/// revocation list the phone holds, comma-separated; the cloud sends newer
/// lists for the devices of the technician's running jobs.
pub const HELD_REVOCATIONS_PARAM: &str = "revocations";

/// `GET /api/v1/devices/{serial}/revocation-list` (what a CloudBoxx fetches
/// over its own cellular link; no token: the list is signed).
pub fn device_revocation_list_path(serial: &str) -> String {
    format!("/api/v1/devices/{serial}/revocation-list")
}

/// Declares a string enum that keeps unknown values (`Other`) instead of
/// rejecting them, serialised as its wire string.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this app version does not know; kept as sent.
            Other(String),
        }

        impl $name {
            /// Every value this app version knows.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),+];

            /// The wire string of this value.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)+
                    $name::Other(s) => s.as_str(),
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $($wire => $name::$variant,)+
                    _ => $name::Other(s),
                }
            }
        }

        impl From<&str> for $name {
            /// Allocates only for a value this app version does not know.
            fn from(s: &str) -> Self {
                match s {
                    $($wire => $name::$variant,)+
                    _ => $name::Other(s.to_owned()),
                }
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_owned()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod configuration;
pub mod site;
pub mod work;

pub use site::{SiteData, SiteField};
pub use work::{JobRequirements, MissingWork, RequiredStep};

open_enum! {
    /// What the technician is asked to do.
    JobKind {
        Installation => "INSTALLATION",
        Maintenance => "MAINTENANCE",
    }
}

open_enum! {
    /// Life cycle of a job: PENDING -> ASSIGNED -> RUNNING -> SUCCEEDED | FAILED.
    JobStatus {
        /// Created by the provider, still editable; never visible to technicians.
        Pending => "PENDING",
        /// Handed to a service partner and locked; in the partner's Available Jobs.
        Assigned => "ASSIGNED",
        /// A technician took it ("Assign Job to Me").
        Running => "RUNNING",
        Succeeded => "SUCCEEDED",
        Failed => "FAILED",
    }
}

impl JobStatus {
    /// SUCCEEDED or FAILED: nothing more can happen to the job.
    pub fn is_final(&self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed)
    }
}

open_enum! {
    /// How the CloudBoxx is wired to the central lock.
    CentralLockConnectionType {
        /// Secure Key Module, where the vehicle model supports it.
        SecureKeyModule => "SKM",
        Can => "CAN",
        Analog => "ANALOG",
        KeylessBypass => "KEYLESS_BYPASS",
    }
}

open_enum! {
    /// Fuel or energy of the vehicle.
    FuelType {
        Petrol => "PETROL",
        Diesel => "DIESEL",
        Electric => "ELECTRIC",
        Hybrid => "HYBRID",
        Cng => "CNG",
    }
}

open_enum! {
    /// Physical installation variant of the CloudBoxx.
    InstallationVariant {
        Standard => "STANDARD",
        Hidden => "HIDDEN",
        Retrofit => "RETROFIT",
    }
}

/// A job as the cloud describes it. Every specification is optional: an empty
/// one is the technician's choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub provider_id: String,
    pub provider_name: String,
    pub fleet_id: String,
    pub fleet_name: String,
    pub kind: JobKind,
    pub status: JobStatus,
    #[serde(default)]
    pub vin: Option<String>,
    #[serde(default)]
    pub license_plate: Option<String>,
    #[serde(default)]
    pub custom_name: Option<String>,
    #[serde(default)]
    pub vehicle_model: Option<VehicleModel>,
    #[serde(default)]
    pub installation_variant: Option<InstallationVariant>,
    #[serde(default)]
    pub central_lock_connection_type: Option<CentralLockConnectionType>,
    #[serde(default)]
    pub fuel_type: Option<FuelType>,
    /// Hardware the job asks for (e.g. a CloudBoxx type).
    #[serde(default)]
    pub hardware: Option<String>,
    /// Serial of the CloudBoxx unit to install or service in this vehicle;
    /// access grants for the job name this device.
    #[serde(default)]
    pub cloudboxx_serial: Option<String>,
    /// Name of the CloudBoxx configuration preset to apply.
    #[serde(default)]
    pub cloudboxx_config_preset: Option<String>,
    /// Master data for the new vehicle (free-form key/value pairs).
    #[serde(default)]
    pub master_data: serde_json::Map<String, serde_json::Value>,
    /// Planned service date, ISO 8601 (`YYYY-MM-DD`).
    #[serde(default)]
    pub planned_service_date: Option<String>,
    /// Notes and instructions from the provider.
    #[serde(default)]
    pub instructions: Option<String>,
    /// The service partner the job is assigned to.
    #[serde(default)]
    pub assigned_company_id: Option<String>,
    /// The technician working on it (RUNNING and final states).
    #[serde(default)]
    pub assignee: Option<Technician>,
    /// RFC 3339 time the assignee started the installation, if they did.
    #[serde(default)]
    pub installation_started_at: Option<String>,
    /// Required when the job FAILED.
    #[serde(default)]
    pub failure_comment: Option<String>,
    /// Vehicle tests must pass before the job may SUCCEED (whether
    /// `requirements.vehicle_tests` is non-empty; kept for older apps).
    #[serde(default)]
    pub vehicle_tests_required: bool,
    /// What must be done before the job may SUCCEED.
    #[serde(default)]
    pub requirements: JobRequirements,
    /// What technicians entered where the provider left a specification
    /// empty (as the cloud accepted it).
    #[serde(default)]
    pub site_data: SiteData,
    /// Monotonic version; every change on the cloud increments it.
    pub version: i64,
    /// RFC 3339 time of the last change on the cloud.
    pub updated_at: String,
}

impl Job {
    /// The job as it stands on site: every specification the provider left
    /// empty filled with what the technician entered (the provider's value
    /// always wins). Configuration, grants, requirements and lists read this.
    pub fn effective(&self) -> Job {
        let mut j = self.clone();
        let s = &self.site_data;
        if j.vin.is_none() {
            j.vin.clone_from(&s.vin);
        }
        if j.license_plate.is_none() {
            j.license_plate.clone_from(&s.license_plate);
        }
        if j.vehicle_model.is_none() {
            j.vehicle_model.clone_from(&s.vehicle_model);
        }
        if j.central_lock_connection_type.is_none() {
            j.central_lock_connection_type
                .clone_from(&s.central_lock_connection_type);
        }
        if j.cloudboxx_serial.is_none() {
            j.cloudboxx_serial.clone_from(&s.cloudboxx_serial);
        }
        for (k, v) in &s.master_data {
            j.master_data.entry(k.clone()).or_insert_with(|| v.clone());
        }
        j
    }

    /// Whether the provider specified `field` (then the technician cannot
    /// enter it).
    pub fn specified_by_provider(&self, field: &SiteField) -> bool {
        match field {
            SiteField::Vin => self.vin.is_some(),
            SiteField::LicensePlate => self.license_plate.is_some(),
            SiteField::VehicleModel => self.vehicle_model.is_some(),
            SiteField::CentralLockConnectionType => self.central_lock_connection_type.is_some(),
            SiteField::CloudboxxSerial => self.cloudboxx_serial.is_some(),
            SiteField::MasterData(k) => self.master_data.contains_key(k),
        }
    }

    /// The specifications the provider left to the technician that are not
    /// filled in yet (master data is always open for new keys, so it is
    /// not listed).
    pub fn open_fields(&self) -> Vec<SiteField> {
        [
            SiteField::Vin,
            SiteField::LicensePlate,
            SiteField::VehicleModel,
            SiteField::CentralLockConnectionType,
            SiteField::CloudboxxSerial,
        ]
        .into_iter()
        .filter(|f| !self.specified_by_provider(f) && !self.effective().specified_by_provider(f))
        .collect()
    }
}

/// A vehicle model from the provider's catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VehicleModel {
    pub id: String,
    pub name: String,
}

/// A technician as other parties see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Technician {
    pub id: String,
    pub name: String,
}

/// `POST /api/v1/auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// The current 6-digit code, required when the account has TOTP enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<String>,
    /// The phone's Ed25519 public key (64 hex digits). Access grants issued
    /// to this session name it; the private half never leaves the phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_public_key: Option<String>,
}

/// A signed, job-scoped access grant for one CloudBoxx, issued to the
/// technician holding the job (see `docs/cloudboxx-protocol.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessGrantEnvelope {
    pub job_id: String,
    /// Grant id (32 hex digits), as inside the signed grant.
    pub grant_id: String,
    /// The encoded, signed grant (hex), exactly as presented to the device.
    pub grant: String,
    /// Unix seconds after which the device refuses it.
    pub not_after: i64,
}

/// `POST /api/v1/auth/refresh`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Tokens and the signed-in user, answer to login and refresh.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until `access_token` expires.
    pub expires_in: i64,
    pub user: UserInfo,
}

/// The signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub id: String,
    pub name: String,
    pub email: String,
    /// `TECHNICIAN`, `ADMIN` (of a service partner) or `PROVIDER`.
    pub role: String,
    /// The service partner or provider the user belongs to.
    pub company_id: String,
    pub company_name: String,
}

/// `GET /api/v1/technician/changes?since=CURSOR&limit=N`: everything in the
/// technician's reach that changed after `since` (absent: from the start).
///
/// `J` is how a client reads each job: [`Job`] itself, or a type that also
/// keeps the job's JSON as it came (the core stores it as sent instead of
/// serialising the parsed job again).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangesResponse<J = Job> {
    /// Pass as `since` next time. Opaque to the client.
    pub cursor: String,
    /// Jobs that are new or changed, in change order.
    pub jobs: Vec<J>,
    /// Jobs that left the technician's reach since `since`.
    #[serde(default)]
    pub removed: Vec<RemovedJob>,
    /// More changes wait: ask again with `cursor`.
    #[serde(default)]
    pub has_more: bool,
    /// Access grants for the technician's RUNNING jobs the phone does not
    /// hold yet (new, renewed before expiry, or re-issued), whichever page
    /// the jobs are on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<AccessGrantEnvelope>,
    /// Grants the phone said it holds that no longer open anything
    /// (revoked, ended, expired): erase them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked_grants: Vec<String>,
    /// Signed revocation lists, newer than the phone's, of the devices of
    /// the technician's running jobs: the phone hands them to the device
    /// when it connects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revocation_lists: Vec<RevocationListEnvelope>,
    /// Version of the vehicle catalogue ([`VEHICLE_MODELS_PATH`]); fetch it
    /// when it differs from the one held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalogue_version: Option<i64>,
}

/// A device's signed revocation list as it travels in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationListEnvelope {
    pub device_serial: String,
    /// As inside the signed list.
    pub sequence: u64,
    /// The encoded, fleet-signed list (hex), exactly as handed to the device.
    pub list: String,
}

/// A job that the technician can no longer see, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedJob {
    pub job_id: String,
    pub reason: RemovalReason,
}

open_enum! {
    /// Why a job left the technician's reach.
    RemovalReason {
        /// Another technician took the job over.
        TakenOver => "TAKEN_OVER",
        /// The provider withdrew the assignment from the service partner.
        Unassigned => "UNASSIGNED",
        /// The fleet connection was deleted (or the company was).
        ConnectionDeleted => "CONNECTION_DELETED",
        /// The provider deleted the job.
        Deleted => "DELETED",
    }
}

/// A technician's action on a job, as queued in the outbox and pushed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    /// "Assign Job to Me": ASSIGNED -> RUNNING with the sender as assignee.
    Claim,
    /// Give a RUNNING job of one's own back: RUNNING -> ASSIGNED.
    Withdraw,
    /// Withdraw a colleague's RUNNING job and take it.
    TakeOver,
    /// Start the installation on a RUNNING job of one's own.
    StartInstallation,
    /// RUNNING -> SUCCEEDED, with the technician's report.
    CompleteSucceeded {
        #[serde(default)]
        report: JobReport,
    },
    /// RUNNING -> FAILED; the comment is required: a missing or blank one
    /// is a per-action `INVALID` rejection, not a malformed request.
    CompleteFailed {
        #[serde(default)]
        comment: String,
        #[serde(default)]
        report: JobReport,
    },
    /// Fill in specifications the provider left empty, on one's RUNNING
    /// job (see [`site`]).
    /// A missing `data` is an empty entry (rejected `INVALID`).
    EnterSiteData {
        #[serde(default)]
        data: SiteData,
    },
}

impl Action {
    /// Short machine name, as in the wire `type`.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Claim => "CLAIM",
            Action::Withdraw => "WITHDRAW",
            Action::TakeOver => "TAKE_OVER",
            Action::StartInstallation => "START_INSTALLATION",
            Action::CompleteSucceeded { .. } => "COMPLETE_SUCCEEDED",
            Action::CompleteFailed { .. } => "COMPLETE_FAILED",
            Action::EnterSiteData { .. } => "ENTER_SITE_DATA",
        }
    }
}

/// What the technician reports with a completion: vehicle test results and
/// free notes. The BLE workflow fills `vehicle_tests`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobReport {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vehicle_tests: Vec<VehicleTestResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// The CloudBoxx as the on-vehicle workflow found and left it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceReport>,
    /// Outcome of each step of the on-vehicle workflow, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<WorkflowStepReport>,
    /// The CloudBoxx's signed attestation of the latest run (hex of
    /// `smartcontrol_ble::security::Attestation`): what the cloud trusts
    /// instead of `vehicle_tests`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<String>,
}

/// The CloudBoxx of a job, as reported by the device itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceReport {
    pub serial: String,
    pub firmware_version: String,
    pub hardware_version: String,
    pub battery_millivolts: u32,
    /// VIN the device is bound to after the workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_vin: Option<String>,
    /// Id of the configuration active after the workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_id: Option<String>,
    /// SHA-256 (hex) of that configuration, as read back from the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_sha256: Option<String>,
}

/// One step of the on-vehicle workflow (connect, authenticate, identify,
/// bind, configure, verify, vehicle tests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowStepReport {
    pub step: String,
    pub ok: bool,
    /// What happened, for people (e.g. "resumed at 2048/4096 bytes").
    pub detail: String,
    /// RFC 3339 time the step ended.
    pub at: String,
}

/// One vehicle test's structured result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VehicleTestResult {
    /// e.g. `central_lock_lock`, `immobilizer`, `mileage`.
    pub test: String,
    pub passed: bool,
    /// Measured value, if the test measures one (e.g. `"48213 km"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<String>,
    /// What the technician can do when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// RFC 3339 time the test ran.
    pub at: String,
}

/// One queued action as pushed to the cloud.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRequest {
    /// Client-generated, unique per action; a repeated key returns the
    /// first result and applies nothing twice.
    pub idempotency_key: String,
    pub job_id: String,
    /// The job version the technician saw when acting.
    pub base_version: i64,
    /// RFC 3339 time the technician acted (on the phone's clock).
    pub performed_at: String,
    pub action: Action,
}

/// `POST /api/v1/technician/actions`: applied in order; after a rejection,
/// the rest of that job's actions in the batch are rejected with
/// [`RejectReason::PrecedingActionRejected`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushActionsRequest {
    pub actions: Vec<ActionRequest>,
}

/// One result per action, in request order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushActionsResponse {
    pub results: Vec<ActionResult>,
}

/// The cloud's verdict on one action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionResult {
    pub idempotency_key: String,
    #[serde(flatten)]
    pub outcome: ActionOutcome,
}

/// Applied (with the job as it is now) or rejected for good.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActionOutcome {
    Applied {
        job: Job,
        /// The access grant for the job, when the action gave the sender
        /// vehicle access (claim, take-over).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        grant: Option<AccessGrantEnvelope>,
    },
    Rejected {
        reason: RejectReason,
        message: String,
        /// The job as the cloud has it, when the technician may still see it.
        #[serde(default)]
        job: Option<Job>,
    },
}

open_enum! {
    /// Why the cloud refused an action. Refusals are final: retrying the same
    /// action cannot succeed.
    RejectReason {
        /// Another technician holds (or took over) the job.
        TakenOver => "TAKEN_OVER",
        /// The job is not in a state that allows the action.
        InvalidTransition => "INVALID_TRANSITION",
        /// The job is no longer assigned to the technician's company.
        Unassigned => "UNASSIGNED",
        /// The fleet connection was deleted.
        ConnectionDeleted => "CONNECTION_DELETED",
        /// No such job, or not visible to the technician.
        NotFound => "NOT_FOUND",
        /// The payload breaks a rule (e.g. FAILED without a comment).
        Invalid => "INVALID",
        /// Required vehicle tests have not passed.
        VehicleTestsRequired => "VEHICLE_TESTS_REQUIRED",
        /// Required work (steps or tests) is missing in the latest run.
        RequirementsNotMet => "REQUIREMENTS_NOT_MET",
        /// The device's attestation is missing, forged, replayed or not of
        /// the job's unit.
        UntrustedResults => "UNTRUSTED_RESULTS",
        /// The technician tried to enter a value the provider specified.
        SpecifiedByProvider => "SPECIFIED_BY_PROVIDER",
        /// The CloudBoxx serial is not registered in the job's fleet.
        UnknownDevice => "UNKNOWN_DEVICE",
        /// An earlier action on the same job in this batch was rejected.
        PrecedingActionRejected => "PRECEDING_ACTION_REJECTED",
    }
}

/// Error body of every non-2xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Machine-readable: `invalid_credentials`, `totp_required`,
    /// `invalid_totp`, `unauthorized`, `token_expired`, `account_removed`
    /// (the account or its company was deleted), `forbidden`,
    /// `not_found`, `bad_request`, `conflict`, `too_many_items`, `internal`.
    pub error: String,
    /// For people.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_enum_values_are_kept_not_rejected() {
        let s: JobStatus = serde_json::from_str("\"ON_HOLD\"").expect("parses");
        assert_eq!(s, JobStatus::Other("ON_HOLD".into()));
        assert_eq!(serde_json::to_string(&s).expect("ser"), "\"ON_HOLD\"");
        let k: CentralLockConnectionType = serde_json::from_str("\"SKM\"").expect("parses");
        assert_eq!(k, CentralLockConnectionType::SecureKeyModule);
    }

    #[test]
    fn actions_round_trip_with_their_wire_tag() {
        let a = Action::CompleteFailed {
            comment: "door sensor stuck".into(),
            report: JobReport::default(),
        };
        let json = serde_json::to_value(&a).expect("ser");
        assert_eq!(json["type"], "COMPLETE_FAILED");
        let back: Action = serde_json::from_value(json).expect("de");
        assert_eq!(back, a);
    }

    #[test]
    fn outcome_is_flattened_beside_the_key() {
        let r = ActionResult {
            idempotency_key: "k".into(),
            outcome: ActionOutcome::Rejected {
                reason: RejectReason::TakenOver,
                message: "taken".into(),
                job: None,
            },
        };
        let json = serde_json::to_value(&r).expect("ser");
        assert_eq!(json["outcome"], "REJECTED");
        assert_eq!(json["reason"], "TAKEN_OVER");
        let back: ActionResult = serde_json::from_value(json).expect("de");
        assert_eq!(back, r);
    }
}
