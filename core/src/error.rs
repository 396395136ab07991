//! Errors: an internal [`Error`] with every cause, and the public
//! [`CoreError`] that UIs show. [`Error::into_public`] is the one place that
//! decides what the technician sees and what is only logged.

use crate::rules::RuleViolation;

/// Internal error with its full cause chain.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("sqlite: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("migration: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Public(#[from] CoreError),
}

/// What went wrong, in terms a technician (or the app showing the message)
/// can act on. Every message ends with what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    #[error("not logged in: log in with your email and password first")]
    NotLoggedIn,
    #[error("email or password is wrong: check them and try again")]
    InvalidCredentials,
    #[error("this account uses two-factor authentication: enter the 6-digit code from your authenticator app")]
    TotpRequired,
    #[error("the 6-digit code is wrong or expired: enter the current code")]
    InvalidTotp,
    #[error("your session has expired: log in again (your queued actions are kept)")]
    SessionExpired,
    #[error("job {job_id} is not on this device: sync, then check the job list")]
    JobNotFound { job_id: String },
    #[error("cannot {action} job {job_id}: {reason}")]
    ActionRefused {
        action: String,
        job_id: String,
        reason: RuleViolation,
    },
    #[error("conflict {id} does not exist or was already resolved: list the open conflicts")]
    ConflictNotFound { id: i64 },
    #[error("the cloud cannot be reached ({detail}): keep working, queued actions sync when the network is back")]
    Offline { detail: String },
    #[error("the cloud answered with an error ({status}: {message}): try again later; queued actions are kept")]
    Server { status: u16, message: String },
    #[error("the cloud sent a response this app cannot read ({detail}): nothing was changed locally; try again later or update the app")]
    MalformedResponse { detail: String },
    #[error("the local database failed ({detail}): check free storage space and restart the app")]
    Storage { detail: String },
    #[error("{count} action(s) are still waiting for sync and would be lost: sync first, or log out with force to discard them")]
    PendingActionsWouldBeLost { count: u64 },
    #[error("invalid input: {what}")]
    InvalidInput { what: String },
    #[error("no vehicle access for job {job_id}: {why}")]
    NoVehicleAccess { job_id: String, why: String },
    #[error("the CloudBoxx could not be reached or failed ({detail}): check that it is powered, stay close to it and retry; the workflow resumes where it stopped")]
    Device { detail: String },
    #[error("the CloudBoxx refused access ({detail}): sync to renew the job's access; if it persists, the job may have been taken over")]
    DeviceRefused { detail: String },
    #[error("this is CloudBoxx {found}, but the job is for {expected}: connect to the job's unit")]
    WrongDevice { expected: String, found: String },
    #[error(
        "the CloudBoxx configuration does not match the job ({detail}): run the workflow again"
    )]
    ConfigurationMismatch { detail: String },
    #[error("this is not the job's vehicle: {detail}; check that you are at the right vehicle and that the unit is installed in it (or correct the VIN you entered)")]
    WrongVehicle { detail: String },
    #[error("{field}: {detail}")]
    InvalidSiteData { field: String, detail: String },
    #[error("your account no longer exists ({reason}): vehicle access on this device has ended; {pending} unsynced action(s) stay on this device; ask your company's admin, then log out")]
    AccountRemoved { reason: String, pending: u64 },
}

impl CoreError {
    /// A stable machine name of the error kind, for scripts, exit codes
    /// and the native apps (`not_logged_in`, `offline`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            CoreError::NotLoggedIn => "not_logged_in",
            CoreError::InvalidCredentials => "invalid_credentials",
            CoreError::TotpRequired => "totp_required",
            CoreError::InvalidTotp => "invalid_totp",
            CoreError::SessionExpired => "session_expired",
            CoreError::JobNotFound { .. } => "job_not_found",
            CoreError::ActionRefused { .. } => "action_refused",
            CoreError::ConflictNotFound { .. } => "conflict_not_found",
            CoreError::Offline { .. } => "offline",
            CoreError::Server { .. } => "server",
            CoreError::MalformedResponse { .. } => "malformed_response",
            CoreError::Storage { .. } => "storage",
            CoreError::PendingActionsWouldBeLost { .. } => "pending_actions_would_be_lost",
            CoreError::InvalidInput { .. } => "invalid_input",
            CoreError::NoVehicleAccess { .. } => "no_vehicle_access",
            CoreError::Device { .. } => "device",
            CoreError::DeviceRefused { .. } => "device_refused",
            CoreError::WrongDevice { .. } => "wrong_device",
            CoreError::ConfigurationMismatch { .. } => "configuration_mismatch",
            CoreError::WrongVehicle { .. } => "wrong_vehicle",
            CoreError::InvalidSiteData { .. } => "invalid_site_data",
            CoreError::AccountRemoved { .. } => "account_removed",
        }
    }
}

impl Error {
    /// Maps to the public error, logging the internal cause where it is hidden.
    pub(crate) fn into_public(self) -> CoreError {
        match self {
            Error::Public(e) => e,
            other => {
                tracing::error!(error = %other, "local storage failure");
                CoreError::Storage {
                    detail: other.to_string(),
                }
            }
        }
    }
}

impl From<Error> for CoreError {
    fn from(e: Error) -> Self {
        e.into_public()
    }
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;
