//! The errors native apps see: one flat enum mirroring the core's error
//! kinds, whose message (the core's own text) says what to do; and the error
//! type the platform hooks (foreign traits) may throw back into Rust.

use smartcontrol_core::CoreError;

/// What went wrong, as a kind the app can branch on and a message for the
/// technician that ends with what to do. Kotlin: `SmartControlException.*`,
/// Swift: `SmartControlError.*`; the message is the exception's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum SmartControlError {
    #[error("{0}")]
    NotLoggedIn(String),
    #[error("{0}")]
    InvalidCredentials(String),
    #[error("{0}")]
    TotpRequired(String),
    #[error("{0}")]
    InvalidTotp(String),
    #[error("{0}")]
    SessionExpired(String),
    #[error("{0}")]
    JobNotFound(String),
    #[error("{0}")]
    ActionRefused(String),
    #[error("{0}")]
    ConflictNotFound(String),
    #[error("{0}")]
    Offline(String),
    #[error("{0}")]
    Server(String),
    #[error("{0}")]
    MalformedResponse(String),
    #[error("{0}")]
    Storage(String),
    #[error("{0}")]
    PendingActionsWouldBeLost(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    NoVehicleAccess(String),
    #[error("{0}")]
    Device(String),
    #[error("{0}")]
    DeviceRefused(String),
    #[error("{0}")]
    WrongDevice(String),
    #[error("{0}")]
    ConfigurationMismatch(String),
    /// The unit sits in another vehicle than the job's (VIN or model).
    #[error("{0}")]
    WrongVehicle(String),
    /// An entered (or scanned) value is not valid; the message names the
    /// field and says what to fix.
    #[error("{0}")]
    InvalidSiteData(String),
    /// The cloud says the account (or its company) is gone: vehicle access
    /// ended, unsynced work stays visible.
    #[error("{0}")]
    AccountRemoved(String),
    /// A failure of this layer itself (a task panicked, the runtime is
    /// gone); a bug to report, not something the technician caused.
    #[error("{0}")]
    Internal(String),
}

impl SmartControlError {
    /// The core's machine name of the kind (`not_logged_in`, `offline`, ...),
    /// as `CoreError::kind` says it; `internal` for this layer's own.
    pub fn kind(&self) -> &'static str {
        match self {
            SmartControlError::NotLoggedIn(_) => "not_logged_in",
            SmartControlError::InvalidCredentials(_) => "invalid_credentials",
            SmartControlError::TotpRequired(_) => "totp_required",
            SmartControlError::InvalidTotp(_) => "invalid_totp",
            SmartControlError::SessionExpired(_) => "session_expired",
            SmartControlError::JobNotFound(_) => "job_not_found",
            SmartControlError::ActionRefused(_) => "action_refused",
            SmartControlError::ConflictNotFound(_) => "conflict_not_found",
            SmartControlError::Offline(_) => "offline",
            SmartControlError::Server(_) => "server",
            SmartControlError::MalformedResponse(_) => "malformed_response",
            SmartControlError::Storage(_) => "storage",
            SmartControlError::PendingActionsWouldBeLost(_) => "pending_actions_would_be_lost",
            SmartControlError::InvalidInput(_) => "invalid_input",
            SmartControlError::NoVehicleAccess(_) => "no_vehicle_access",
            SmartControlError::Device(_) => "device",
            SmartControlError::DeviceRefused(_) => "device_refused",
            SmartControlError::WrongDevice(_) => "wrong_device",
            SmartControlError::ConfigurationMismatch(_) => "configuration_mismatch",
            SmartControlError::WrongVehicle(_) => "wrong_vehicle",
            SmartControlError::InvalidSiteData(_) => "invalid_site_data",
            SmartControlError::AccountRemoved(_) => "account_removed",
            SmartControlError::Internal(_) => "internal",
        }
    }

    pub(crate) fn internal(what: impl std::fmt::Display) -> Self {
        SmartControlError::Internal(format!(
            "internal error in the app's core ({what}): restart the app; if it happens again, report it"
        ))
    }
}

impl From<CoreError> for SmartControlError {
    fn from(e: CoreError) -> Self {
        let message = e.to_string();
        match e {
            CoreError::NotLoggedIn => SmartControlError::NotLoggedIn(message),
            CoreError::InvalidCredentials => SmartControlError::InvalidCredentials(message),
            CoreError::TotpRequired => SmartControlError::TotpRequired(message),
            CoreError::InvalidTotp => SmartControlError::InvalidTotp(message),
            CoreError::SessionExpired => SmartControlError::SessionExpired(message),
            CoreError::JobNotFound { .. } => SmartControlError::JobNotFound(message),
            CoreError::ActionRefused { .. } => SmartControlError::ActionRefused(message),
            CoreError::ConflictNotFound { .. } => SmartControlError::ConflictNotFound(message),
            CoreError::Offline { .. } => SmartControlError::Offline(message),
            CoreError::Server { .. } => SmartControlError::Server(message),
            CoreError::MalformedResponse { .. } => SmartControlError::MalformedResponse(message),
            CoreError::Storage { .. } => SmartControlError::Storage(message),
            CoreError::PendingActionsWouldBeLost { .. } => {
                SmartControlError::PendingActionsWouldBeLost(message)
            }
            CoreError::InvalidInput { .. } => SmartControlError::InvalidInput(message),
            CoreError::NoVehicleAccess { .. } => SmartControlError::NoVehicleAccess(message),
            CoreError::Device { .. } => SmartControlError::Device(message),
            CoreError::DeviceRefused { .. } => SmartControlError::DeviceRefused(message),
            CoreError::WrongDevice { .. } => SmartControlError::WrongDevice(message),
            CoreError::ConfigurationMismatch { .. } => {
                SmartControlError::ConfigurationMismatch(message)
            }
            CoreError::WrongVehicle { .. } => SmartControlError::WrongVehicle(message),
            CoreError::InvalidSiteData { .. } => SmartControlError::InvalidSiteData(message),
            CoreError::AccountRemoved { .. } => SmartControlError::AccountRemoved(message),
        }
    }
}

/// A failure a platform hook (secret store, BLE transport) reports back to
/// Rust. Kotlin: `PlatformException.Failed(reason)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum PlatformError {
    /// The platform call failed; `reason` says why, for logs and messages.
    #[error("{reason}")]
    Failed { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for PlatformError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        PlatformError::Failed {
            reason: format!(
                "the platform hook threw an unexpected exception: {}",
                e.reason
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_error_keeps_its_kind_and_its_advice() {
        let cases = [
            CoreError::NotLoggedIn,
            CoreError::Offline {
                detail: "connection refused".into(),
            },
            CoreError::PendingActionsWouldBeLost { count: 3 },
            CoreError::WrongDevice {
                expected: "CBX-1".into(),
                found: "CBX-2".into(),
            },
            CoreError::WrongVehicle {
                detail: "the vehicle reports VIN X".into(),
            },
            CoreError::InvalidSiteData {
                field: "vin".into(),
                detail: "17 characters".into(),
            },
            CoreError::AccountRemoved {
                reason: "company deleted".into(),
                pending: 2,
            },
        ];
        for core in cases {
            let kind = core.kind();
            let text = core.to_string();
            let ffi = SmartControlError::from(core);
            assert_eq!(ffi.kind(), kind);
            assert_eq!(ffi.to_string(), text);
        }
    }

    #[test]
    fn internal_errors_say_what_to_do() {
        let e = SmartControlError::internal("task panicked");
        assert_eq!(e.kind(), "internal");
        assert!(e.to_string().contains("task panicked"));
        assert!(e.to_string().contains("restart the app"));
    }
}
