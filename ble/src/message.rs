//! The message catalogue and its compact binary codec.
//!
//! A message is `type: u8` followed by a fixed, per-type body (layouts in
//! `docs/cloudboxx-protocol.md`). Strings are `u8` length + UTF-8, blobs `u16`
//! length + bytes, integers little-endian. Trailing bytes are an error: a message
//! that grows in a later protocol version is negotiated by the version in
//! [`Hello`], never parsed leniently.

use crate::codec::{DecodeError, Reader, Writer};

/// Protocol (message catalogue) version implemented by this crate.
pub const PROTOCOL_VERSION: u8 = 1;

/// Message type bytes.
pub mod msg_type {
    #![allow(missing_docs)]
    pub const HELLO: u8 = 0x01;
    pub const CHALLENGE: u8 = 0x02;
    pub const FINISH: u8 = 0x03;
    pub const SESSION_READY: u8 = 0x04;
    pub const REVOCATION_UPDATE: u8 = 0x05;
    pub const REVOCATION_STATUS: u8 = 0x06;
    pub const DEVICE_INFO_REQUEST: u8 = 0x10;
    pub const DEVICE_INFO: u8 = 0x11;
    pub const VEHICLE_INFO_REQUEST: u8 = 0x12;
    pub const VEHICLE_INFO: u8 = 0x13;
    pub const CONFIG_BEGIN: u8 = 0x20;
    pub const CONFIG_BEGIN_ACK: u8 = 0x21;
    pub const CONFIG_CHUNK: u8 = 0x22;
    pub const CONFIG_CHUNK_ACK: u8 = 0x23;
    pub const CONFIG_COMMIT: u8 = 0x24;
    pub const CONFIG_COMMITTED: u8 = 0x25;
    pub const CONFIG_READ_BACK: u8 = 0x26;
    pub const CONFIG_DATA_HEADER: u8 = 0x27;
    pub const CONFIG_DATA: u8 = 0x28;
    pub const BIND_VEHICLE: u8 = 0x30;
    pub const VEHICLE_BOUND: u8 = 0x31;
    pub const VEHICLE_TEST: u8 = 0x40;
    pub const VEHICLE_TEST_RESULT: u8 = 0x41;
    pub const ATTEST_REQUEST: u8 = 0x50;
    pub const ATTESTATION: u8 = 0x51;
    pub const ERROR: u8 = 0x7E;
}

/// Phone → device, plaintext: opens the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Lowest protocol version the phone speaks.
    pub min_version: u8,
    /// Highest protocol version the phone speaks.
    pub max_version: u8,
    /// Job the session is for; must equal the grant's job id.
    pub job_id: String,
    /// Encoded, signed [`crate::security::AccessGrant`].
    pub grant: Vec<u8>,
}

/// Device → phone, plaintext: the device accepted the grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Chosen protocol version.
    pub version: u8,
    /// The device's serial.
    pub serial: String,
    /// Fresh random nonce.
    pub nonce: [u8; 32],
    /// Device ephemeral X25519 public key.
    pub device_ephemeral: [u8; 32],
}

/// Phone → device, plaintext: proof of possession and the phone's key share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    /// Phone ephemeral X25519 public key.
    pub phone_ephemeral: [u8; 32],
    /// Ed25519 signature by the grant's phone key over the transcript hash.
    pub signature: [u8; 64],
}

/// Device → phone, first sealed message: keys confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionReady {
    /// Permission bits granted for this session.
    pub permissions: u8,
    /// Session ends at this unix time (the grant's not_after).
    pub not_after: u64,
}

/// Device identity and state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Serial number.
    pub serial: String,
    /// Firmware version string.
    pub firmware_version: String,
    /// Hardware revision string.
    pub hardware_version: String,
    /// Supply voltage in millivolts.
    pub battery_millivolts: u16,
    /// VIN the device is bound to; empty when unbound.
    pub bound_vin: String,
    /// Id of the active configuration; empty when none.
    pub active_config_id: String,
}

/// Device → phone: the vehicle's own identity, as the CloudBoxx reads it
/// from the vehicle bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VehicleInfo {
    /// VIN the vehicle reports; empty when it reports none.
    pub vin: String,
    /// Model code the vehicle reports (a catalogue id); empty when it
    /// reports none.
    pub model: String,
}

/// Device → phone: the device's revocation list after a
/// [`Message::RevocationUpdate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationStatus {
    /// Sequence of the newest list the device has applied (0: none).
    pub sequence: u64,
    /// Revoked grants the device holds now (expired ones pruned).
    pub entries: u16,
}

/// Phone → device: start (or resume) a configuration transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigBegin {
    /// Job id; must equal the session grant's.
    pub job_id: String,
    /// Configuration (preset) id.
    pub config_id: String,
    /// Total configuration length in bytes.
    pub total_len: u32,
    /// SHA-256 of the whole configuration.
    pub sha256: [u8; 32],
}

/// Device → phone: where to (re)start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigBeginAck {
    /// Bytes already staged for this exact configuration (0 for a new transfer).
    pub resume_offset: u32,
    /// Largest chunk the device accepts.
    pub max_chunk: u16,
}

/// Phone → device: a slice of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChunk {
    /// Offset of `data` in the configuration.
    pub offset: u32,
    /// The bytes.
    pub data: Vec<u8>,
}

/// Device → phone: bytes staged contiguously so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigChunkAck {
    /// Staged length (the resume point).
    pub offset: u32,
}

/// Phone → device: verify and activate the staged configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigCommit {
    /// Expected SHA-256 (must equal ConfigBegin's and the staged bytes').
    pub sha256: [u8; 32],
}

/// Device → phone: the configuration is active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigCommitted {
    /// Active configuration id.
    pub config_id: String,
    /// Its SHA-256.
    pub sha256: [u8; 32],
}

/// Device → phone: header of a configuration read-back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigDataHeader {
    /// Active configuration id (empty when none).
    pub config_id: String,
    /// Length in bytes (0 when none).
    pub total_len: u32,
    /// SHA-256 of the active configuration.
    pub sha256: [u8; 32],
}

/// Device → phone: a slice of the active configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigData {
    /// Offset of `data`.
    pub offset: u32,
    /// The bytes.
    pub data: Vec<u8>,
}

/// Phone → device: bind this CloudBoxx to a vehicle (installation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindVehicle {
    /// Job id; must equal the session grant's.
    pub job_id: String,
    /// VIN; must equal the grant's vehicle.
    pub vin: String,
}

/// Vehicle tests the device can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum VehicleTestId {
    /// Lock the central locking and check all locks report locked.
    CentralLockLock = 1,
    /// Unlock the central locking and check all locks report unlocked.
    CentralLockUnlock = 2,
    /// Engage the immobilizer (disable driving) and check it reports engaged.
    ImmobilizerDisableDriving = 3,
    /// Release the immobilizer (enable driving) and check it reports released.
    ImmobilizerEnableDriving = 4,
    /// Read the ignition state (value: 0 off, 1 on).
    IgnitionState = 5,
    /// Read the odometer (value: km).
    Mileage = 6,
    /// Read fuel or charge level (value: percent).
    FuelOrChargeLevel = 7,
    /// Check for a GNSS position fix (value: satellites in use).
    PositionFix = 8,
    /// Check all doors are closed (value: open door count).
    DoorsClosed = 9,
    /// Check the key fob is in the key holder (value: 0/1).
    KeyHolderPresent = 10,
}

impl VehicleTestId {
    /// Every test, in id order.
    pub const ALL: [VehicleTestId; 10] = [
        Self::CentralLockLock,
        Self::CentralLockUnlock,
        Self::ImmobilizerDisableDriving,
        Self::ImmobilizerEnableDriving,
        Self::IgnitionState,
        Self::Mileage,
        Self::FuelOrChargeLevel,
        Self::PositionFix,
        Self::DoorsClosed,
        Self::KeyHolderPresent,
    ];

    /// Decode from the wire byte.
    pub fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|t| *t as u8 == v)
    }

    /// Whether the test actuates the vehicle (needs the COMMANDS permission).
    pub fn actuates(self) -> bool {
        matches!(
            self,
            Self::CentralLockLock
                | Self::CentralLockUnlock
                | Self::ImmobilizerDisableDriving
                | Self::ImmobilizerEnableDriving
        )
    }

    /// Stable snake_case name (for reports and scenario files).
    pub fn name(self) -> &'static str {
        match self {
            Self::CentralLockLock => "central_lock_lock",
            Self::CentralLockUnlock => "central_lock_unlock",
            Self::ImmobilizerDisableDriving => "immobilizer_disable_driving",
            Self::ImmobilizerEnableDriving => "immobilizer_enable_driving",
            Self::IgnitionState => "ignition_state",
            Self::Mileage => "mileage",
            Self::FuelOrChargeLevel => "fuel_or_charge_level",
            Self::PositionFix => "position_fix",
            Self::DoorsClosed => "doors_closed",
            Self::KeyHolderPresent => "key_holder_present",
        }
    }

    /// Parse a name produced by [`VehicleTestId::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Unit of a test's measured value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Unit {
    /// No measured value (value must be 0).
    None = 0,
    /// 0 = false/off, 1 = true/on.
    Boolean = 1,
    /// Kilometres.
    Kilometers = 2,
    /// Percent (0..=100).
    Percent = 3,
    /// Millivolts.
    Millivolts = 4,
    /// Satellites in use.
    Satellites = 5,
    /// Metres (e.g. position accuracy).
    Meters = 6,
    /// A count (e.g. open doors).
    Count = 7,
}

impl Unit {
    /// Decode from the wire byte.
    pub fn from_u8(v: u8) -> Option<Self> {
        use Unit::*;
        [
            None, Boolean, Kilometers, Percent, Millivolts, Satellites, Meters, Count,
        ]
        .into_iter()
        .find(|u| *u as u8 == v)
    }

    /// Short symbol for reports.
    pub fn symbol(self) -> &'static str {
        match self {
            Unit::None => "",
            Unit::Boolean => "bool",
            Unit::Kilometers => "km",
            Unit::Percent => "%",
            Unit::Millivolts => "mV",
            Unit::Satellites => "sats",
            Unit::Meters => "m",
            Unit::Count => "",
        }
    }
}

/// Hint for the technician when a test fails (or passes with a remark).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HintCode {
    /// No hint.
    None,
    /// A door is open (or its sensor is stuck): close all doors.
    CloseDoors,
    /// Immobilizer does not respond: check the immobilizer relay wiring.
    CheckImmobilizerWiring,
    /// No GNSS fix: move the vehicle under open sky / check the antenna.
    MoveToOpenSky,
    /// Vehicle battery low: charge or connect a charger.
    ChargeVehicleBattery,
    /// Key fob not detected: place the key in the key holder.
    PlaceKeyInHolder,
    /// Switch the ignition off and retry.
    SwitchIgnitionOff,
    /// Switch the ignition on and retry.
    SwitchIgnitionOn,
    /// No vehicle bus traffic: check the CAN connection.
    CheckCanConnection,
    /// A lock did not move: check the lock actuator wiring.
    CheckLockActuator,
    /// Level sensor implausible: check the fuel/charge signal.
    CheckLevelSensor,
    /// A code this version does not know.
    Other(u16),
}

impl HintCode {
    /// Wire value.
    pub fn to_u16(self) -> u16 {
        match self {
            HintCode::None => 0,
            HintCode::CloseDoors => 1,
            HintCode::CheckImmobilizerWiring => 2,
            HintCode::MoveToOpenSky => 3,
            HintCode::ChargeVehicleBattery => 4,
            HintCode::PlaceKeyInHolder => 5,
            HintCode::SwitchIgnitionOff => 6,
            HintCode::SwitchIgnitionOn => 7,
            HintCode::CheckCanConnection => 8,
            HintCode::CheckLockActuator => 9,
            HintCode::CheckLevelSensor => 10,
            HintCode::Other(v) => v,
        }
    }

    /// From the wire value (unknown values become `Other`).
    pub fn from_u16(v: u16) -> Self {
        match v {
            0 => HintCode::None,
            1 => HintCode::CloseDoors,
            2 => HintCode::CheckImmobilizerWiring,
            3 => HintCode::MoveToOpenSky,
            4 => HintCode::ChargeVehicleBattery,
            5 => HintCode::PlaceKeyInHolder,
            6 => HintCode::SwitchIgnitionOff,
            7 => HintCode::SwitchIgnitionOn,
            8 => HintCode::CheckCanConnection,
            9 => HintCode::CheckLockActuator,
            10 => HintCode::CheckLevelSensor,
            v => HintCode::Other(v),
        }
    }

    /// Text for the technician.
    pub fn text(self) -> &'static str {
        match self {
            HintCode::None => "",
            HintCode::CloseDoors => "a door reports open: close all doors or check the door sensor",
            HintCode::CheckImmobilizerWiring => {
                "immobilizer does not respond: check the immobilizer relay wiring"
            }
            HintCode::MoveToOpenSky => {
                "no GNSS fix: move the vehicle under open sky or check the antenna"
            }
            HintCode::ChargeVehicleBattery => "vehicle battery low: charge the battery",
            HintCode::PlaceKeyInHolder => "key fob not detected: place the key in the key holder",
            HintCode::SwitchIgnitionOff => "switch the ignition off and retry",
            HintCode::SwitchIgnitionOn => "switch the ignition on and retry",
            HintCode::CheckCanConnection => "no vehicle bus traffic: check the CAN connection",
            HintCode::CheckLockActuator => "a lock did not move: check the lock actuator wiring",
            HintCode::CheckLevelSensor => "implausible level reading: check the fuel/charge signal",
            HintCode::Other(_) => "see the device documentation for this hint code",
        }
    }
}

/// Phone → device: run one vehicle test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VehicleTest {
    /// Which test.
    pub test: VehicleTestId,
}

/// Device → phone: structured test result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VehicleTestResult {
    /// Which test.
    pub test: VehicleTestId,
    /// Whether the vehicle passed.
    pub passed: bool,
    /// Unit of `value` ([`Unit::None`] when nothing was measured).
    pub unit: Unit,
    /// Measured value in `unit`.
    pub value: i64,
    /// Hint for the technician.
    pub hint: HintCode,
}

/// Error codes carried in [`ErrorMessage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Operation before the handshake completed.
    NotAuthenticated,
    /// The grant lacks the permission the operation needs.
    PermissionDenied,
    /// The grant's not_after has passed.
    GrantExpired,
    /// The grant's not_before is in the future.
    GrantNotYetValid,
    /// The grant's signature does not verify with the fleet key.
    BadSignature,
    /// The grant names another device.
    WrongDevice,
    /// The grant or operation names another job.
    WrongJob,
    /// A sealed record was replayed.
    Replay,
    /// A sealed record arrived out of order.
    Reordered,
    /// The grant is on the device's revocation list.
    Revoked,
    /// The phone failed to prove possession of the grant's key.
    BadProof,
    /// No common protocol version.
    UnsupportedVersion,
    /// The operation names another vehicle than the grant.
    WrongVehicle,
    /// Staged configuration does not match the announced hash.
    ConfigHashMismatch,
    /// Configuration exceeds the device's storage.
    ConfigTooLarge,
    /// Chunk or commit without a matching ConfigBegin.
    ConfigNoTransfer,
    /// Chunk at an unexpected offset.
    ConfigBadOffset,
    /// Device busy; retry later.
    Busy,
    /// The vehicle did not respond as expected.
    VehicleFault,
    /// Operation or test not supported.
    Unsupported,
    /// Message could not be decoded.
    Malformed,
    /// Device supply voltage too low for the operation.
    LowBattery,
    /// Internal firmware error.
    Internal,
    /// A code this version does not know.
    Other(u8),
}

impl ErrorCode {
    const TABLE: [(ErrorCode, u8); 23] = [
        (ErrorCode::NotAuthenticated, 0x01),
        (ErrorCode::PermissionDenied, 0x02),
        (ErrorCode::GrantExpired, 0x03),
        (ErrorCode::GrantNotYetValid, 0x04),
        (ErrorCode::BadSignature, 0x05),
        (ErrorCode::WrongDevice, 0x06),
        (ErrorCode::WrongJob, 0x07),
        (ErrorCode::Replay, 0x08),
        (ErrorCode::Reordered, 0x09),
        (ErrorCode::Revoked, 0x0A),
        (ErrorCode::BadProof, 0x0B),
        (ErrorCode::UnsupportedVersion, 0x0C),
        (ErrorCode::WrongVehicle, 0x0D),
        (ErrorCode::ConfigHashMismatch, 0x10),
        (ErrorCode::ConfigTooLarge, 0x11),
        (ErrorCode::ConfigNoTransfer, 0x12),
        (ErrorCode::ConfigBadOffset, 0x13),
        (ErrorCode::Busy, 0x20),
        (ErrorCode::VehicleFault, 0x21),
        (ErrorCode::Unsupported, 0x22),
        (ErrorCode::Malformed, 0x23),
        (ErrorCode::LowBattery, 0x24),
        (ErrorCode::Internal, 0x7F),
    ];

    /// Wire value.
    pub fn to_u8(self) -> u8 {
        if let ErrorCode::Other(v) = self {
            return v;
        }
        Self::TABLE
            .iter()
            .find(|(c, _)| *c == self)
            .map(|(_, v)| *v)
            .unwrap_or(0x7F)
    }

    /// From the wire value (unknown values become `Other`).
    pub fn from_u8(v: u8) -> Self {
        Self::TABLE
            .iter()
            .find(|(_, w)| *w == v)
            .map(|(c, _)| *c)
            .unwrap_or(ErrorCode::Other(v))
    }

    /// Whether the code ends the session (security refusals).
    pub fn is_security(self) -> bool {
        matches!(self.to_u8(), 0x01..=0x0D)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ErrorCode::Other(v) => write!(f, "error 0x{v:02x}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// Either side: an operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorMessage {
    /// What went wrong.
    pub code: ErrorCode,
    /// Type byte of the message that caused it (0 if none).
    pub ref_type: u8,
    /// Human-readable detail (≤ 255 bytes UTF-8).
    pub detail: String,
}

/// Every message of protocol version 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// See [`Hello`].
    Hello(Hello),
    /// See [`Challenge`].
    Challenge(Challenge),
    /// See [`Finish`].
    Finish(Finish),
    /// See [`SessionReady`].
    SessionReady(SessionReady),
    /// Phone → device, plaintext before Hello or sealed: a signed
    /// revocation list (`security::SignedRevocationList` encoding).
    RevocationUpdate {
        /// The encoded, fleet-signed list.
        list: Vec<u8>,
    },
    /// See [`RevocationStatus`].
    RevocationStatus(RevocationStatus),
    /// Phone → device: ask for [`DeviceInfo`].
    DeviceInfoRequest,
    /// See [`DeviceInfo`].
    DeviceInfo(DeviceInfo),
    /// Phone → device: ask for [`VehicleInfo`].
    VehicleInfoRequest,
    /// See [`VehicleInfo`].
    VehicleInfo(VehicleInfo),
    /// See [`ConfigBegin`].
    ConfigBegin(ConfigBegin),
    /// See [`ConfigBeginAck`].
    ConfigBeginAck(ConfigBeginAck),
    /// See [`ConfigChunk`].
    ConfigChunk(ConfigChunk),
    /// See [`ConfigChunkAck`].
    ConfigChunkAck(ConfigChunkAck),
    /// See [`ConfigCommit`].
    ConfigCommit(ConfigCommit),
    /// See [`ConfigCommitted`].
    ConfigCommitted(ConfigCommitted),
    /// Phone → device: stream back the active configuration.
    ConfigReadBack,
    /// See [`ConfigDataHeader`].
    ConfigDataHeader(ConfigDataHeader),
    /// See [`ConfigData`].
    ConfigData(ConfigData),
    /// See [`BindVehicle`].
    BindVehicle(BindVehicle),
    /// Device → phone: bound to this VIN.
    VehicleBound {
        /// The VIN now bound.
        vin: String,
    },
    /// See [`VehicleTest`].
    VehicleTest(VehicleTest),
    /// See [`VehicleTestResult`].
    VehicleTestResult(VehicleTestResult),
    /// Phone → device: sign what this session did for the job.
    AttestRequest {
        /// Job id; must equal the session grant's.
        job_id: String,
    },
    /// Device → phone: the signed attestation
    /// (`security::Attestation` encoding).
    Attestation {
        /// The encoded attestation with the device's signature.
        attestation: Vec<u8>,
    },
    /// See [`ErrorMessage`].
    Error(ErrorMessage),
}

impl Message {
    /// The message's type byte.
    pub fn type_byte(&self) -> u8 {
        use msg_type::*;
        match self {
            Message::Hello(_) => HELLO,
            Message::Challenge(_) => CHALLENGE,
            Message::Finish(_) => FINISH,
            Message::SessionReady(_) => SESSION_READY,
            Message::RevocationUpdate { .. } => REVOCATION_UPDATE,
            Message::RevocationStatus(_) => REVOCATION_STATUS,
            Message::DeviceInfoRequest => DEVICE_INFO_REQUEST,
            Message::DeviceInfo(_) => DEVICE_INFO,
            Message::VehicleInfoRequest => VEHICLE_INFO_REQUEST,
            Message::VehicleInfo(_) => VEHICLE_INFO,
            Message::ConfigBegin(_) => CONFIG_BEGIN,
            Message::ConfigBeginAck(_) => CONFIG_BEGIN_ACK,
            Message::ConfigChunk(_) => CONFIG_CHUNK,
            Message::ConfigChunkAck(_) => CONFIG_CHUNK_ACK,
            Message::ConfigCommit(_) => CONFIG_COMMIT,
            Message::ConfigCommitted(_) => CONFIG_COMMITTED,
            Message::ConfigReadBack => CONFIG_READ_BACK,
            Message::ConfigDataHeader(_) => CONFIG_DATA_HEADER,
            Message::ConfigData(_) => CONFIG_DATA,
            Message::BindVehicle(_) => BIND_VEHICLE,
            Message::VehicleBound { .. } => VEHICLE_BOUND,
            Message::VehicleTest(_) => VEHICLE_TEST,
            Message::VehicleTestResult(_) => VEHICLE_TEST_RESULT,
            Message::AttestRequest { .. } => ATTEST_REQUEST,
            Message::Attestation { .. } => ATTESTATION,
            Message::Error(_) => ERROR,
        }
    }

    /// Convenience constructor for an error reply.
    pub fn error(code: ErrorCode, ref_type: u8, detail: impl Into<String>) -> Self {
        Message::Error(ErrorMessage {
            code,
            ref_type,
            detail: detail.into(),
        })
    }

    /// Encode to bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(self.type_byte());
        match self {
            Message::Hello(m) => {
                w.u8(m.min_version)
                    .u8(m.max_version)
                    .str8(&m.job_id)
                    .blob16(&m.grant);
            }
            Message::Challenge(m) => {
                w.u8(m.version)
                    .str8(&m.serial)
                    .bytes(&m.nonce)
                    .bytes(&m.device_ephemeral);
            }
            Message::Finish(m) => {
                w.bytes(&m.phone_ephemeral).bytes(&m.signature);
            }
            Message::SessionReady(m) => {
                w.u8(m.permissions).u64(m.not_after);
            }
            Message::DeviceInfoRequest | Message::ConfigReadBack | Message::VehicleInfoRequest => {}
            Message::RevocationUpdate { list } => {
                w.blob16(list);
            }
            Message::RevocationStatus(m) => {
                w.u64(m.sequence).u16(m.entries);
            }
            Message::VehicleInfo(m) => {
                w.str8(&m.vin).str8(&m.model);
            }
            Message::AttestRequest { job_id } => {
                w.str8(job_id);
            }
            Message::Attestation { attestation } => {
                w.blob16(attestation);
            }
            Message::DeviceInfo(m) => {
                w.str8(&m.serial)
                    .str8(&m.firmware_version)
                    .str8(&m.hardware_version)
                    .u16(m.battery_millivolts)
                    .str8(&m.bound_vin)
                    .str8(&m.active_config_id);
            }
            Message::ConfigBegin(m) => {
                w.str8(&m.job_id)
                    .str8(&m.config_id)
                    .u32(m.total_len)
                    .bytes(&m.sha256);
            }
            Message::ConfigBeginAck(m) => {
                w.u32(m.resume_offset).u16(m.max_chunk);
            }
            Message::ConfigChunk(m) => {
                w.u32(m.offset).blob16(&m.data);
            }
            Message::ConfigChunkAck(m) => {
                w.u32(m.offset);
            }
            Message::ConfigCommit(m) => {
                w.bytes(&m.sha256);
            }
            Message::ConfigCommitted(m) => {
                w.str8(&m.config_id).bytes(&m.sha256);
            }
            Message::ConfigDataHeader(m) => {
                w.str8(&m.config_id).u32(m.total_len).bytes(&m.sha256);
            }
            Message::ConfigData(m) => {
                w.u32(m.offset).blob16(&m.data);
            }
            Message::BindVehicle(m) => {
                w.str8(&m.job_id).str8(&m.vin);
            }
            Message::VehicleBound { vin } => {
                w.str8(vin);
            }
            Message::VehicleTest(m) => {
                w.u8(m.test as u8);
            }
            Message::VehicleTestResult(m) => {
                w.u8(m.test as u8)
                    .bool(m.passed)
                    .u8(m.unit as u8)
                    .i64(m.value)
                    .u16(m.hint.to_u16());
            }
            Message::Error(m) => {
                w.u8(m.code.to_u8()).u8(m.ref_type).str8(&m.detail);
            }
        }
        w.into_vec()
    }

    /// Decode from bytes. Never panics; trailing bytes are an error.
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        use msg_type::*;
        let mut r = Reader::new(bytes);
        let ty = r.u8("type").map_err(|_| DecodeError::Empty)?;
        let msg = match ty {
            HELLO => Message::Hello(Hello {
                min_version: r.u8("min_version")?,
                max_version: r.u8("max_version")?,
                job_id: r.str8("job_id")?,
                grant: r.blob16("grant")?,
            }),
            CHALLENGE => Message::Challenge(Challenge {
                version: r.u8("version")?,
                serial: r.str8("serial")?,
                nonce: r.array("nonce")?,
                device_ephemeral: r.array("device_ephemeral")?,
            }),
            FINISH => Message::Finish(Finish {
                phone_ephemeral: r.array("phone_ephemeral")?,
                signature: r.array("signature")?,
            }),
            SESSION_READY => Message::SessionReady(SessionReady {
                permissions: r.u8("permissions")?,
                not_after: r.u64("not_after")?,
            }),
            REVOCATION_UPDATE => Message::RevocationUpdate {
                list: r.blob16("list")?,
            },
            REVOCATION_STATUS => Message::RevocationStatus(RevocationStatus {
                sequence: r.u64("sequence")?,
                entries: r.u16("entries")?,
            }),
            VEHICLE_INFO_REQUEST => Message::VehicleInfoRequest,
            VEHICLE_INFO => Message::VehicleInfo(VehicleInfo {
                vin: r.str8("vin")?,
                model: r.str8("model")?,
            }),
            ATTEST_REQUEST => Message::AttestRequest {
                job_id: r.str8("job_id")?,
            },
            ATTESTATION => Message::Attestation {
                attestation: r.blob16("attestation")?,
            },
            DEVICE_INFO_REQUEST => Message::DeviceInfoRequest,
            DEVICE_INFO => Message::DeviceInfo(DeviceInfo {
                serial: r.str8("serial")?,
                firmware_version: r.str8("firmware_version")?,
                hardware_version: r.str8("hardware_version")?,
                battery_millivolts: r.u16("battery_millivolts")?,
                bound_vin: r.str8("bound_vin")?,
                active_config_id: r.str8("active_config_id")?,
            }),
            CONFIG_BEGIN => Message::ConfigBegin(ConfigBegin {
                job_id: r.str8("job_id")?,
                config_id: r.str8("config_id")?,
                total_len: r.u32("total_len")?,
                sha256: r.array("sha256")?,
            }),
            CONFIG_BEGIN_ACK => Message::ConfigBeginAck(ConfigBeginAck {
                resume_offset: r.u32("resume_offset")?,
                max_chunk: r.u16("max_chunk")?,
            }),
            CONFIG_CHUNK => Message::ConfigChunk(ConfigChunk {
                offset: r.u32("offset")?,
                data: r.blob16("data")?,
            }),
            CONFIG_CHUNK_ACK => Message::ConfigChunkAck(ConfigChunkAck {
                offset: r.u32("offset")?,
            }),
            CONFIG_COMMIT => Message::ConfigCommit(ConfigCommit {
                sha256: r.array("sha256")?,
            }),
            CONFIG_COMMITTED => Message::ConfigCommitted(ConfigCommitted {
                config_id: r.str8("config_id")?,
                sha256: r.array("sha256")?,
            }),
            CONFIG_READ_BACK => Message::ConfigReadBack,
            CONFIG_DATA_HEADER => Message::ConfigDataHeader(ConfigDataHeader {
                config_id: r.str8("config_id")?,
                total_len: r.u32("total_len")?,
                sha256: r.array("sha256")?,
            }),
            CONFIG_DATA => Message::ConfigData(ConfigData {
                offset: r.u32("offset")?,
                data: r.blob16("data")?,
            }),
            BIND_VEHICLE => Message::BindVehicle(BindVehicle {
                job_id: r.str8("job_id")?,
                vin: r.str8("vin")?,
            }),
            VEHICLE_BOUND => Message::VehicleBound {
                vin: r.str8("vin")?,
            },
            VEHICLE_TEST => Message::VehicleTest(VehicleTest {
                test: decode_test(r.u8("test")?)?,
            }),
            VEHICLE_TEST_RESULT => {
                let test = decode_test(r.u8("test")?)?;
                let passed = r.bool("passed")?;
                let unit_raw = r.u8("unit")?;
                let unit = Unit::from_u8(unit_raw).ok_or(DecodeError::InvalidValue {
                    field: "unit",
                    value: u64::from(unit_raw),
                })?;
                let value = r.i64("value")?;
                let hint = HintCode::from_u16(r.u16("hint")?);
                Message::VehicleTestResult(VehicleTestResult {
                    test,
                    passed,
                    unit,
                    value,
                    hint,
                })
            }
            ERROR => Message::Error(ErrorMessage {
                code: ErrorCode::from_u8(r.u8("code")?),
                ref_type: r.u8("ref_type")?,
                detail: r.str8("detail")?,
            }),
            other => return Err(DecodeError::UnknownType(other)),
        };
        r.finish()?;
        Ok(msg)
    }
}

fn decode_test(v: u8) -> Result<VehicleTestId, DecodeError> {
    VehicleTestId::from_u8(v).ok_or(DecodeError::InvalidValue {
        field: "test",
        value: u64::from(v),
    })
}

/// Bytes a [`ConfigChunk`] / [`ConfigData`] message adds to its data: type (1) +
/// offset (4) + length (2).
pub const CHUNK_MESSAGE_OVERHEAD: usize = 7;
/// Target size of one sealed chunk message on the link (bytes, before framing).
pub const TARGET_CHUNK_MESSAGE: usize = 2048;

/// Data bytes per [`ConfigChunk`] / [`ConfigData`] at an ATT MTU: the largest
/// payload whose sealed message exactly fills the whole number of fragments
/// closest to [`TARGET_CHUNK_MESSAGE`], so no fragment is sent half empty.
pub fn chunk_data_len(mtu: usize) -> usize {
    let mtu = mtu.clamp(crate::frame::MIN_MTU, crate::frame::MAX_MTU);
    let Ok(f) = crate::frame::Fragmenter::new(mtu) else {
        return 1;
    };
    let n = (TARGET_CHUNK_MESSAGE / f.chunk_capacity()).max(1);
    f.capacity(n)
        .saturating_sub(crate::security::RECORD_OVERHEAD + CHUNK_MESSAGE_OVERHEAD)
        .max(1)
}
