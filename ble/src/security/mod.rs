//! Session security: signed access grants, the handshake, sealed records and the
//! phone's key storage.
//!
//! * [`AccessGrant`]: what the cloud signs with the fleet key (canonical binary
//!   encoding, see the spec).
//! * [`PhoneHandshake`] / [`DeviceHandshake`]: sans-IO handshake state machines.
//! * [`SessionCipher`]: ChaCha20-Poly1305 records with per-direction keys and
//!   strictly sequential counters.
//! * [`SecretStore`], [`FileSecretStore`], [`PhoneKey`]: the phone's Ed25519 key.

mod attestation;
mod grant;
mod handshake;
mod keys;
mod revocation;
mod signed;

pub use attestation::{
    simulated_device_key, Attestation, AttestationFields, ATTESTATION_SIGNATURE_CONTEXT,
    MAX_ATTESTED_TESTS,
};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use grant::{AccessGrant, GrantFields, Permissions, GRANT_SIGNATURE_CONTEXT};
pub use handshake::{
    DeviceHandshake, DeviceIdentity, Established, PhoneHandshake, RevocationList, SessionCipher,
    RECORD_OVERHEAD, SEALED_RECORD_TYPE,
};
pub use keys::{FileSecretStore, MemorySecretStore, PhoneKey, SecretStore, SecretStoreError};
pub use revocation::{
    DeviceRevocations, RevocationListFields, RevocationUpdateOutcome, RevocationsSnapshot,
    RevokedGrant, SignedRevocationList, MAX_REVOCATION_ENTRIES, REVOCATION_SIGNATURE_CONTEXT,
};

use thiserror::Error;

use crate::codec::DecodeError;
use crate::message::ErrorCode;

/// Every security refusal, typed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SecurityError {
    /// The grant's signature does not verify with the fleet public key.
    #[error("grant signature invalid")]
    BadSignature,
    /// The grant names another device.
    #[error("grant is for device {grant}, this is {device}")]
    WrongDevice {
        /// Serial in the grant.
        grant: String,
        /// The device's own serial.
        device: String,
    },
    /// The grant (or an operation) names another job than the session's.
    #[error("grant is for job {grant}, session requested job {requested}")]
    WrongJob {
        /// Job id in the grant.
        grant: String,
        /// Job id requested.
        requested: String,
    },
    /// The operation names another vehicle than the grant.
    #[error("grant is for vehicle {grant}, operation names {requested}")]
    WrongVehicle {
        /// VIN in the grant.
        grant: String,
        /// VIN requested.
        requested: String,
    },
    /// now > not_after.
    #[error("grant expired at {not_after} (now {now})")]
    Expired {
        /// Grant end.
        not_after: u64,
        /// Device time.
        now: u64,
    },
    /// now < not_before.
    #[error("grant not valid before {not_before} (now {now})")]
    NotYetValid {
        /// Grant start.
        not_before: u64,
        /// Device time.
        now: u64,
    },
    /// The grant lacks a needed permission.
    #[error("permission denied: needs {needed:?}, grant has {granted:?}")]
    MissingPermission {
        /// Permissions the operation needs.
        needed: Permissions,
        /// Permissions in the grant.
        granted: Permissions,
    },
    /// A sealed record's counter is below the expected one.
    #[error("replayed record (counter {got}, expected {expected})")]
    Replay {
        /// Counter received.
        got: u64,
        /// Counter expected.
        expected: u64,
    },
    /// A sealed record's counter is above the expected one.
    #[error("reordered record (counter {got}, expected {expected})")]
    Reordered {
        /// Counter received.
        got: u64,
        /// Counter expected.
        expected: u64,
    },
    /// The grant id is on the device's revocation list.
    #[error("grant revoked")]
    Revoked,
    /// The phone's proof-of-possession signature is invalid.
    #[error("proof of possession of the phone key failed")]
    BadProof,
    /// A sealed record failed authentication (tampered or wrong key).
    #[error("record authentication failed")]
    BadRecord,
    /// No common protocol version.
    #[error("no common protocol version (phone {min}..={max})")]
    UnsupportedVersion {
        /// Phone's minimum.
        min: u8,
        /// Phone's maximum.
        max: u8,
    },
    /// A key was malformed or the key exchange was not contributory.
    #[error("invalid key: {0}")]
    BadKey(&'static str),
    /// Bytes could not be decoded.
    #[error("malformed: {0}")]
    Malformed(#[from] DecodeError),
    /// A message arrived that the state machine does not expect now.
    #[error("unexpected message in this state: {0}")]
    Unexpected(&'static str),
    /// The device refused with an error code.
    #[error("device refused: {0}")]
    Refused(ErrorCode),
}

/// Lower-case hex of bytes (how signed documents travel in JSON).
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses hex (either case) into bytes; typed error on odd length or a
/// non-hex character.
pub fn from_hex(s: &str) -> Result<Vec<u8>, DecodeError> {
    let s = s.trim();
    if s.len() % 2 != 0 || !s.is_ascii() {
        return Err(DecodeError::InvalidValue {
            field: "hex",
            value: s.len() as u64,
        });
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| DecodeError::InvalidValue {
                field: "hex",
                value: i as u64,
            })
        })
        .collect()
}

impl SecurityError {
    /// Error code the device reports for this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            SecurityError::BadSignature => ErrorCode::BadSignature,
            SecurityError::WrongDevice { .. } => ErrorCode::WrongDevice,
            SecurityError::WrongJob { .. } => ErrorCode::WrongJob,
            SecurityError::WrongVehicle { .. } => ErrorCode::WrongVehicle,
            SecurityError::Expired { .. } => ErrorCode::GrantExpired,
            SecurityError::NotYetValid { .. } => ErrorCode::GrantNotYetValid,
            SecurityError::MissingPermission { .. } => ErrorCode::PermissionDenied,
            SecurityError::Replay { .. } => ErrorCode::Replay,
            SecurityError::Reordered { .. } => ErrorCode::Reordered,
            SecurityError::Revoked => ErrorCode::Revoked,
            SecurityError::BadProof => ErrorCode::BadProof,
            SecurityError::BadRecord => ErrorCode::Malformed,
            SecurityError::UnsupportedVersion { .. } => ErrorCode::UnsupportedVersion,
            SecurityError::BadKey(_) => ErrorCode::BadProof,
            SecurityError::Malformed(_) => ErrorCode::Malformed,
            SecurityError::Unexpected(_) => ErrorCode::NotAuthenticated,
            SecurityError::Refused(c) => *c,
        }
    }
}
