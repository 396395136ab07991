//! Types of the provider and partner APIs and of the in-process helpers
//! (the technician API uses `smartcontrol_cloud_api` only).

use serde::{Deserialize, Serialize};
use smartcontrol_cloud_api::site::{VehicleCatalogue, VehicleModelEntry};
use smartcontrol_cloud_api::{
    CentralLockConnectionType, FuelType, InstallationVariant, Job, JobKind, JobReport, JobStatus,
    RequiredStep, VehicleModel,
};

/// Role of a user account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    /// Works jobs of a service partner in SmartControl.
    Technician,
    /// Manages a service partner (users, connections, settings).
    Admin,
    /// A mobility provider's user.
    Provider,
}

impl Role {
    /// The wire string (`TECHNICIAN`, `ADMIN`, `PROVIDER`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Technician => "TECHNICIAN",
            Role::Admin => "ADMIN",
            Role::Provider => "PROVIDER",
        }
    }
    /// Parses the wire string.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "TECHNICIAN" => Some(Role::Technician),
            "ADMIN" => Some(Role::Admin),
            "PROVIDER" => Some(Role::Provider),
            _ => None,
        }
    }
}

/// State of a fleet connection between a provider's fleet and a partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConnectionStatus {
    /// Invited, waiting for the partner (expires after 7 days).
    Pending,
    /// The partner accepted: jobs of the fleet may be assigned to it.
    Accepted,
    /// The partner declined; final.
    Declined,
    /// Deleted (by the partner, or with the company); final.
    Deleted,
}

impl ConnectionStatus {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Pending => "PENDING",
            ConnectionStatus::Accepted => "ACCEPTED",
            ConnectionStatus::Declined => "DECLINED",
            ConnectionStatus::Deleted => "DELETED",
        }
    }
    /// Parses the wire string.
    pub fn parse(s: &str) -> Option<ConnectionStatus> {
        match s {
            "PENDING" => Some(ConnectionStatus::Pending),
            "ACCEPTED" => Some(ConnectionStatus::Accepted),
            "DECLINED" => Some(ConnectionStatus::Declined),
            "DELETED" => Some(ConnectionStatus::Deleted),
            _ => None,
        }
    }
}

/// A fleet connection as the provider and the partner see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// Connection id.
    pub id: String,
    /// The provider's fleet.
    pub fleet_id: String,
    /// Name of the fleet.
    pub fleet_name: String,
    /// The provider owning the fleet.
    pub provider_id: String,
    /// Name of the provider.
    pub provider_name: String,
    /// The invited service partner.
    pub company_id: String,
    /// Name of the service partner.
    pub company_name: String,
    /// Current state.
    pub status: ConnectionStatus,
    /// RFC 3339 time of the invitation.
    pub invited_at: String,
    /// RFC 3339 time the invitation expires (invited_at + 7 days).
    pub expires_at: String,
    /// Token of the invitation link.
    pub invite_token: String,
    /// RFC 3339 time of the partner's answer, if any.
    #[serde(default)]
    pub responded_at: Option<String>,
}

/// The editable specification of a job (everything the provider may set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// Installation or maintenance.
    #[serde(default = "default_kind")]
    pub kind: JobKind,
    /// Vehicle identification number (17 characters).
    #[serde(default)]
    pub vin: Option<String>,
    /// License plate, e.g. `B-SC 1042`.
    #[serde(default)]
    pub license_plate: Option<String>,
    /// The provider's name for the vehicle.
    #[serde(default)]
    pub custom_name: Option<String>,
    /// Vehicle model from the catalogue.
    #[serde(default)]
    pub vehicle_model: Option<VehicleModel>,
    /// Installation variant of the CloudBoxx.
    #[serde(default)]
    pub installation_variant: Option<InstallationVariant>,
    /// How the CloudBoxx connects to the central lock.
    #[serde(default)]
    pub central_lock_connection_type: Option<CentralLockConnectionType>,
    /// Fuel or energy type.
    #[serde(default)]
    pub fuel_type: Option<FuelType>,
    /// Hardware requested.
    #[serde(default)]
    pub hardware: Option<String>,
    /// Serial of the CloudBoxx the job is about (installed or to install);
    /// access grants for the job open this device only. 1 to 64 printable
    /// ASCII characters.
    #[serde(default)]
    pub cloudboxx_serial: Option<String>,
    /// CloudBoxx configuration preset.
    #[serde(default)]
    pub cloudboxx_config_preset: Option<String>,
    /// Master data for the new vehicle.
    #[serde(default)]
    pub master_data: serde_json::Map<String, serde_json::Value>,
    /// Planned service date (`YYYY-MM-DD`).
    #[serde(default)]
    pub planned_service_date: Option<String>,
    /// Notes and instructions.
    #[serde(default)]
    pub instructions: Option<String>,
    /// Shorthand of older clients: `true` requires the kind's default tests
    /// (every test for an installation), `false` none. Ignored when
    /// `required_tests` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vehicle_tests_required: Option<bool>,
    /// Workflow steps SUCCEEDED needs (`identify`, `bind_vehicle`,
    /// `configure`, `verify`). Absent: the kind's default (installation:
    /// bind_vehicle, configure, verify; maintenance: identify).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_steps: Option<Vec<RequiredStep>>,
    /// Vehicle tests that must pass (wire names). Absent: the kind's
    /// default (installation: all ten; maintenance: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_tests: Option<Vec<String>>,
}

fn default_kind() -> JobKind {
    JobKind::Installation
}

impl Default for JobSpec {
    fn default() -> Self {
        JobSpec {
            kind: JobKind::Installation,
            vin: None,
            license_plate: None,
            custom_name: None,
            vehicle_model: None,
            installation_variant: None,
            central_lock_connection_type: None,
            fuel_type: None,
            hardware: None,
            cloudboxx_serial: None,
            cloudboxx_config_preset: None,
            master_data: serde_json::Map::new(),
            planned_service_date: None,
            instructions: None,
            vehicle_tests_required: None,
            required_steps: None,
            required_tests: None,
        }
    }
}

/// A job to create (`POST /api/v1/provider/jobs`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NewJob {
    /// The provider's fleet the vehicle belongs to.
    pub fleet_id: String,
    /// The specification.
    #[serde(flatten)]
    pub spec: JobSpec,
    /// Assign it right away to this partner (needs an ACCEPTED connection).
    #[serde(default)]
    pub assigned_company_id: Option<String>,
}

/// A job as the provider sees it: the wire job plus the technician's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderJob {
    /// The job.
    #[serde(flatten)]
    pub job: Job,
    /// The report submitted with the completion, if any.
    #[serde(default)]
    pub report: Option<JobReport>,
    /// RFC 3339 creation time.
    pub created_at: String,
}

/// Filter of the provider's job list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFilter {
    /// Only jobs in this status.
    #[serde(default)]
    pub status: Option<JobStatus>,
    /// Only jobs assigned to this partner.
    #[serde(default)]
    pub company_id: Option<String>,
    /// Only jobs of this fleet.
    #[serde(default)]
    pub fleet_id: Option<String>,
}

/// A user to create (`POST /api/v1/partner/users` and in-process).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUser {
    /// Login e-mail, unique.
    pub email: String,
    /// Display name.
    pub name: String,
    /// `TECHNICIAN` or `ADMIN` for partners (`PROVIDER` in-process only).
    pub role: Role,
    /// Password.
    pub password: String,
    /// Base32 TOTP secret; when set, login requires a code.
    #[serde(default)]
    pub totp_secret: Option<String>,
}

/// A user account as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    /// User id.
    pub id: String,
    /// Login e-mail.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// The service partner or provider the user belongs to.
    pub company_id: String,
    /// Whether login requires a TOTP code.
    pub totp_enabled: bool,
}

/// `POST /api/v1/provider/fleets/{fleet_id}/invitations` and
/// `POST /api/v1/provider/jobs/{id}/assign` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanyRef {
    /// The service partner.
    pub company_id: String,
}

/// Answer of a successful CSV import.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportResult {
    /// Number of jobs created.
    pub created: usize,
    /// The created jobs, in row order.
    pub jobs: Vec<Job>,
}

/// Version of the built-in catalogue (bump it with every change of
/// [`VEHICLE_MODELS`]).
pub const CATALOGUE_VERSION: i64 = 1;

/// The built-in vehicle model catalogue: `(id, name, supported central
/// lock connection types)`.
pub const VEHICLE_MODELS: &[(&str, &str, &[CentralLockConnectionType])] = {
    use CentralLockConnectionType::{Analog, Can, KeylessBypass, SecureKeyModule};
    &[
        ("vw-id3", "Volkswagen ID.3", &[SecureKeyModule, Can]),
        ("vw-golf8", "Volkswagen Golf 8", &[Can, Analog]),
        ("vw-up-e", "Volkswagen e-up!", &[Can, Analog]),
        ("bmw-i3", "BMW i3", &[SecureKeyModule, Can]),
        ("bmw-118i", "BMW 118i", &[SecureKeyModule, Can]),
        ("renault-zoe", "Renault Zoe", &[Analog, Can]),
        ("tesla-model3", "Tesla Model 3", &[KeylessBypass]),
        ("fiat-500e", "Fiat 500e", &[Can, Analog]),
        ("mini-cooper-se", "MINI Cooper SE", &[SecureKeyModule, Can]),
        ("skoda-octavia", "Skoda Octavia Combi", &[Can, Analog]),
        ("toyota-yaris-hybrid", "Toyota Yaris Hybrid", &[Analog, Can]),
        ("opel-corsa-e", "Opel Corsa-e", &[Can]),
    ]
};

/// The catalogue as the technician API serves it.
pub fn vehicle_catalogue() -> VehicleCatalogue {
    VehicleCatalogue {
        version: CATALOGUE_VERSION,
        models: VEHICLE_MODELS
            .iter()
            .map(|(id, name, locks)| VehicleModelEntry {
                id: (*id).to_owned(),
                name: (*name).to_owned(),
                central_lock_types: locks.to_vec(),
            })
            .collect(),
    }
}

/// The catalogue entry of `id`, or a model named after the id.
pub fn vehicle_model(id: &str) -> VehicleModel {
    let name = VEHICLE_MODELS
        .iter()
        .find(|(mid, _, _)| *mid == id)
        .map_or(id, |(_, name, _)| name);
    VehicleModel {
        id: id.to_owned(),
        name: name.to_owned(),
    }
}

/// A provider's fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fleet {
    /// Fleet id.
    pub id: String,
    /// Owning provider.
    pub provider_id: String,
    /// Display name.
    pub name: String,
    /// The fleet's Ed25519 public key (64 hex digits): what a CloudBoxx of
    /// the fleet is provisioned with to verify access grants.
    pub public_key: String,
}

/// An access grant as stored by the cloud (in-process, tests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    /// Grant id (32 hex digits).
    pub grant_id: String,
    /// The job it was issued for.
    pub job_id: String,
    /// The technician it was issued to.
    pub technician_id: String,
    /// The CloudBoxx it opens.
    pub device_serial: String,
    /// The phone key it names (64 hex digits).
    pub phone_public_key: String,
    /// Permission bits (`smartcontrol_ble::security::Permissions`).
    pub permissions: u8,
    /// The encoded, signed grant (hex).
    pub grant: String,
    /// Valid from (unix seconds).
    pub not_before: i64,
    /// Valid until (unix seconds).
    pub not_after: i64,
    /// Unix time of issuance (simulated clock).
    pub issued_at: i64,
    /// Unix time of revocation, if revoked.
    pub revoked_at: Option<i64>,
    /// Why it was revoked (one of `domain::grants::REVOCATION_REASONS`).
    pub revoked_reason: Option<String>,
}

/// A CloudBoxx registered with a fleet (`POST
/// /api/v1/provider/fleets/{fleet_id}/devices`): its public key verifies
/// the results it signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredDevice {
    /// Serial (as on its label and in its advertisement).
    pub serial: String,
    /// The fleet the unit belongs to.
    #[serde(default)]
    pub fleet_id: String,
    /// The unit's Ed25519 public key (64 hex digits).
    pub public_key: String,
    /// Hardware revision, e.g. `CBX-2`.
    #[serde(default)]
    pub hardware: Option<String>,
    /// RFC 3339 time of registration.
    #[serde(default)]
    pub registered_at: String,
}

/// A vehicle as the provider sees it once a job installed a CloudBoxx in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VehicleRecord {
    /// VIN.
    pub vin: String,
    /// The provider's fleet.
    pub fleet_id: String,
    /// License plate.
    pub license_plate: Option<String>,
    /// Model from the catalogue.
    pub vehicle_model: Option<VehicleModel>,
    /// The installed unit.
    pub cloudboxx_serial: String,
    /// Configuration active on the unit (as the unit attested it).
    pub config_id: Option<String>,
    /// Its SHA-256 (hex).
    pub config_sha256: Option<String>,
    /// The job that installed it.
    pub job_id: String,
    /// RFC 3339 time the installation succeeded.
    pub installed_at: String,
}

/// `GET /api/v1/provider/devices/{serial}/revocations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRevocations {
    /// The device.
    pub device_serial: String,
    /// Ids (32 hex digits) of the revoked grants for the device, issued for
    /// the provider's fleets, in revocation order.
    pub revoked_grant_ids: Vec<String>,
}

/// What an invitation is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InvitationKind {
    /// A provider invites a service partner that has no account yet to one
    /// of its fleets: completing it registers the company and its first
    /// ADMIN and accepts the fleet connection.
    Partner,
    /// A partner admin invites a user (TECHNICIAN or ADMIN) to the company.
    User,
}

impl InvitationKind {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationKind::Partner => "PARTNER",
            InvitationKind::User => "USER",
        }
    }
    /// Parses the wire string.
    pub fn parse(s: &str) -> Option<InvitationKind> {
        match s {
            "PARTNER" => Some(InvitationKind::Partner),
            "USER" => Some(InvitationKind::User),
            _ => None,
        }
    }
}

/// State of an invitation as shown (EXPIRED is a PENDING invitation past
/// its `expires_at` by the cloud's clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InvitationStatus {
    /// Sent, waiting for "Complete Registration" (7 days).
    Pending,
    /// Registration completed; the link cannot be used again.
    Completed,
    /// The invited person declined; final (a new invitation is needed).
    Declined,
    /// Not answered within 7 days; a new invitation is needed.
    Expired,
}

impl InvitationStatus {
    /// The stored string (EXPIRED is never stored).
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationStatus::Pending => "PENDING",
            InvitationStatus::Completed => "COMPLETED",
            InvitationStatus::Declined => "DECLINED",
            InvitationStatus::Expired => "EXPIRED",
        }
    }
    /// Parses the stored string.
    pub fn parse(s: &str) -> Option<InvitationStatus> {
        match s {
            "PENDING" => Some(InvitationStatus::Pending),
            "COMPLETED" => Some(InvitationStatus::Completed),
            "DECLINED" => Some(InvitationStatus::Declined),
            "EXPIRED" => Some(InvitationStatus::Expired),
            _ => None,
        }
    }
}

/// An invitation by e-mail, as the inviter and the registration page see
/// it (the token travels only in the e-mail).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    /// Invitation id.
    pub id: String,
    /// PARTNER (company registration) or USER (user of a company).
    pub kind: InvitationKind,
    /// The invited e-mail address (the login of the account it creates).
    pub email: String,
    /// Role of the account the registration creates (ADMIN for PARTNER).
    pub role: Role,
    /// Name suggested by the inviter (the registration may change it).
    #[serde(default)]
    pub name: Option<String>,
    /// Current state.
    pub status: InvitationStatus,
    /// The inviting provider (PARTNER).
    #[serde(default)]
    pub provider_id: Option<String>,
    /// Name of the inviting provider (PARTNER).
    #[serde(default)]
    pub provider_name: Option<String>,
    /// The fleet the partner is invited to (PARTNER).
    #[serde(default)]
    pub fleet_id: Option<String>,
    /// Name of that fleet (PARTNER).
    #[serde(default)]
    pub fleet_name: Option<String>,
    /// The company (USER; PARTNER once completed).
    #[serde(default)]
    pub company_id: Option<String>,
    /// Name of that company.
    #[serde(default)]
    pub company_name: Option<String>,
    /// RFC 3339 time the invitation was sent.
    pub invited_at: String,
    /// RFC 3339 time the link expires (invited_at + 7 days).
    pub expires_at: String,
    /// RFC 3339 time it was completed or declined.
    #[serde(default)]
    pub responded_at: Option<String>,
    /// The account the registration created.
    #[serde(default)]
    pub user_id: Option<String>,
}

/// `POST /api/v1/provider/fleets/{fleet_id}/partner-invitations` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPartnerInvitation {
    /// E-mail of the person who will be the partner's first admin.
    pub email: String,
    /// Name of the company as the provider knows it (suggested display name).
    #[serde(default)]
    pub company_name: Option<String>,
    /// Name of the person (suggested).
    #[serde(default)]
    pub name: Option<String>,
}

/// `POST /api/v1/partner/invitations` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserInvitation {
    /// E-mail of the invited person (their login).
    pub email: String,
    /// TECHNICIAN or ADMIN.
    pub role: Role,
    /// Name of the person (suggested).
    #[serde(default)]
    pub name: Option<String>,
}

/// `POST /api/v1/registrations/{token}/complete` body ("Complete
/// Registration").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompleteRegistration {
    /// The account's password (8 to 200 characters).
    pub password: String,
    /// The person's display name (defaults to the inviter's suggestion).
    #[serde(default)]
    pub name: Option<String>,
    /// Company details (PARTNER invitations only; `display_name` required),
    /// validated like `PUT /api/v1/partner/settings`.
    #[serde(default)]
    pub company: Option<serde_json::Value>,
}

/// Answer of a completed registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistrationResult {
    /// The invitation, now COMPLETED.
    pub invitation: Invitation,
    /// The account created; sign in with its e-mail and the password.
    pub user: UserSummary,
    /// The fleet connection (PARTNER: ACCEPTED), else null.
    #[serde(default)]
    pub connection: Option<Connection>,
}

/// `PATCH /api/v1/partner/users/{id}` body: at least one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// New display name.
    #[serde(default)]
    pub name: Option<String>,
    /// New role (TECHNICIAN or ADMIN).
    #[serde(default)]
    pub role: Option<Role>,
}

/// An e-mail the cloud "sent" (`GET /_sim/emails`; sim-cloud has no mail
/// server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentEmail {
    /// Sequence number (increasing).
    pub id: i64,
    /// Recipient.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body, with the link.
    pub body: String,
    /// The invitation the e-mail is about.
    pub invitation_id: String,
    /// The registration token the link carries.
    pub token: String,
    /// The link (API path of the registration).
    pub link: String,
    /// RFC 3339 time (the cloud's clock).
    pub sent_at: String,
}
