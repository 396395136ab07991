//! Exit codes and how failures are reported (text on stderr, or a JSON
//! error object on stdout with `--json`).

// Error objects in --json mode are the command's output and go to stdout.
#![allow(clippy::print_stdout)]

use serde::Serialize;
use smartcontrol_core::CoreError;

/// Everything went as asked.
pub const OK: u8 = 0;
/// Operational failure: offline, server error, malformed response, storage,
/// or a demo whose end state differs from the expected one.
pub const OPERATIONAL: u8 = 1;
/// Bad input, refused by the job rules, or not found.
pub const BAD_INPUT: u8 = 2;
/// Not logged in, session expired, or the login itself failed.
pub const AUTH: u8 = 3;

/// A command that failed: its exit code, a stable machine kind and the
/// message for people.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    #[serde(skip)]
    pub code: u8,
    pub kind: String,
    pub message: String,
}

impl Failure {
    pub fn new(code: u8, kind: &str, message: impl Into<String>) -> Failure {
        Failure {
            code,
            kind: kind.to_owned(),
            message: message.into(),
        }
    }

    pub fn bad_input(message: impl Into<String>) -> Failure {
        Failure::new(BAD_INPUT, "invalid_input", message)
    }

    pub fn operational(kind: &str, message: impl Into<String>) -> Failure {
        Failure::new(OPERATIONAL, kind, message)
    }

    /// Prints the failure: `{"error": {"kind", "message"}}` on stdout in
    /// JSON mode, `error: MESSAGE` on stderr otherwise.
    pub fn report(&self, json: bool) {
        if json {
            let doc = serde_json::json!({ "error": self });
            println!("{doc}");
        } else {
            eprintln!("error: {}", self.message);
        }
    }
}

/// The exit code of a core error.
pub fn code(e: &CoreError) -> u8 {
    match e {
        CoreError::NotLoggedIn
        | CoreError::SessionExpired
        | CoreError::InvalidCredentials
        | CoreError::TotpRequired
        | CoreError::InvalidTotp
        | CoreError::AccountRemoved { .. } => AUTH,
        CoreError::JobNotFound { .. }
        | CoreError::ActionRefused { .. }
        | CoreError::ConflictNotFound { .. }
        | CoreError::PendingActionsWouldBeLost { .. }
        | CoreError::InvalidInput { .. }
        | CoreError::NoVehicleAccess { .. }
        | CoreError::WrongDevice { .. }
        | CoreError::WrongVehicle { .. }
        | CoreError::InvalidSiteData { .. } => BAD_INPUT,
        CoreError::Offline { .. }
        | CoreError::Server { .. }
        | CoreError::MalformedResponse { .. }
        | CoreError::Storage { .. }
        | CoreError::Device { .. }
        | CoreError::DeviceRefused { .. }
        | CoreError::ConfigurationMismatch { .. } => OPERATIONAL,
    }
}

impl From<CoreError> for Failure {
    fn from(e: CoreError) -> Failure {
        let message = match &e {
            CoreError::TotpRequired => format!("{e} (pass it with --totp CODE)"),
            _ => e.to_string(),
        };
        Failure::new(code(&e), e.kind(), message)
    }
}

impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Failure {
        Failure::operational("internal", format!("cannot encode JSON: {e}"))
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure::operational("io", e.to_string())
    }
}
