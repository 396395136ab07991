//! A simulated unit's persistent state, as a serialisable [`UnitState`]:
//! what a real CloudBoxx keeps in flash (committed and staged configuration,
//! bound VIN, attestation counter, revocations) and which scripted faults are
//! spent, so a QA run can continue where the previous one stopped
//! ([`SimDevice::snapshot`](crate::SimDevice::snapshot),
//! [`SimDevice::restore`](crate::SimDevice::restore)).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use smartcontrol_ble::device::{ConfigStoreSnapshot, SnapshotError};
use smartcontrol_ble::message::VehicleTestId;
use smartcontrol_ble::security::RevocationsSnapshot;

use crate::faults::{ConnectionFaults, FaultState, FirmwareError, Operation};
use crate::scenario::{error_code_from_name, error_code_name};
use crate::vehicle::{Door, VehicleFault};

/// Version of the [`UnitState`] layout; a state of another version is refused.
pub const UNIT_STATE_VERSION: u32 = 1;

/// Everything of one simulated unit that outlives a process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitState {
    /// [`UNIT_STATE_VERSION`].
    pub version: u32,
    /// Advertised serial of the unit.
    pub serial: String,
    /// Committed and staged configuration.
    pub config: ConfigStoreSnapshot,
    /// Bound VIN (empty: unbound).
    pub bound_vin: String,
    /// Attestations signed so far.
    pub attestations: u64,
    /// Revocation list in force.
    pub revocations: RevocationsSnapshot,
    /// Vehicle faults in effect now.
    pub vehicle_faults: Vec<String>,
    /// Faults still armed (the spent ones are gone).
    pub faults: FaultSnapshot,
}

/// The armed faults of a [`FaultState`] (rates and seed come from the scenario).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSnapshot {
    /// Next connection: drop the link after this many frames.
    pub disconnect_after_frames: Option<u64>,
    /// Next connection: frames lost.
    pub drop_frames: Vec<u64>,
    /// Next connection: frames corrupted.
    pub corrupt_frames: Vec<u64>,
    /// Firmware errors still to answer.
    pub firmware_errors: Vec<FirmwareErrorSnapshot>,
    /// Vehicle faults still waiting for their test: `(test, fault)` names.
    pub on_test: Vec<(String, String)>,
    /// Vehicle faults to switch on at the next request.
    pub vehicle_on: Vec<String>,
    /// Vehicle faults to switch off at the next request.
    pub vehicle_off: Vec<String>,
    /// Serial claimed instead of the advertised one.
    pub wrong_serial: Option<String>,
}

/// One armed firmware error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirmwareErrorSnapshot {
    /// Operation name (scenario files).
    pub operation: String,
    /// Error code name (scenario files).
    pub code: String,
    /// Answers left (None: until cleared).
    pub remaining: Option<u32>,
}

/// A [`UnitState`] that does not fit the unit it is restored into.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Written by another layout version.
    #[error("state version {found}, expected {UNIT_STATE_VERSION}")]
    Version {
        /// Version in the state.
        found: u32,
    },
    /// The state belongs to another unit.
    #[error("state of unit {found}, not of {expected}")]
    Serial {
        /// Serial in the state.
        found: String,
        /// Serial of the unit.
        expected: String,
    },
    /// A name that is no operation, error code, test or vehicle fault.
    #[error("unknown {what} {name:?}")]
    UnknownName {
        /// What kind of name.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// The configuration cannot be restored.
    #[error("configuration: {0}")]
    Config(#[from] SnapshotError),
}

/// Parse [`VehicleFault::name`].
pub fn vehicle_fault_from_name(name: &str) -> Option<VehicleFault> {
    if let Some(door) = name.strip_prefix("door_stuck_open:") {
        return Door::from_name(door).map(VehicleFault::DoorStuckOpen);
    }
    Some(match name {
        "immobilizer_not_wired" => VehicleFault::ImmobilizerNotWired,
        "no_gnss_fix" => VehicleFault::NoGnssFix,
        "low_battery" => VehicleFault::LowBattery,
        "key_missing" => VehicleFault::KeyMissing,
        "can_disconnected" => VehicleFault::CanDisconnected,
        "lock_actuator_failure" => VehicleFault::LockActuatorFailure,
        _ => return None,
    })
}

pub(crate) fn vehicle_faults_from_names<'a>(
    names: impl IntoIterator<Item = &'a String>,
) -> Result<BTreeSet<VehicleFault>, StateError> {
    names
        .into_iter()
        .map(|n| {
            vehicle_fault_from_name(n).ok_or_else(|| StateError::UnknownName {
                what: "vehicle fault",
                name: n.clone(),
            })
        })
        .collect()
}

pub(crate) fn vehicle_fault_names<'a>(
    faults: impl IntoIterator<Item = &'a VehicleFault>,
) -> Vec<String> {
    faults.into_iter().map(|f| f.name()).collect()
}

impl FaultSnapshot {
    /// The armed faults of `state`.
    pub(crate) fn of(state: &FaultState) -> Self {
        let mut firmware_errors: Vec<FirmwareErrorSnapshot> = state
            .firmware_errors
            .iter()
            .map(|(op, e)| FirmwareErrorSnapshot {
                operation: op.name().to_owned(),
                code: error_code_name(e.code),
                remaining: e.remaining,
            })
            .collect();
        firmware_errors.sort_by(|a, b| a.operation.cmp(&b.operation));
        Self {
            disconnect_after_frames: state.next_connection.disconnect_after_frames,
            drop_frames: state.next_connection.drop_frames.iter().copied().collect(),
            corrupt_frames: state
                .next_connection
                .corrupt_frames
                .iter()
                .copied()
                .collect(),
            firmware_errors,
            on_test: state
                .on_test
                .iter()
                .map(|(t, f)| (t.name().to_owned(), f.name()))
                .collect(),
            vehicle_on: vehicle_fault_names(&state.vehicle_on),
            vehicle_off: vehicle_fault_names(&state.vehicle_off),
            wrong_serial: state.wrong_serial.clone(),
        }
    }

    /// Puts these armed faults into `state` (rates and seed stay). Checked
    /// first: on an error `state` is unchanged.
    pub(crate) fn apply_to(&self, state: &mut FaultState) -> Result<(), StateError> {
        let unknown = |what: &'static str, name: &str| StateError::UnknownName {
            what,
            name: name.to_owned(),
        };
        let firmware_errors = self
            .firmware_errors
            .iter()
            .map(|e| {
                let op = Operation::from_name(&e.operation)
                    .ok_or_else(|| unknown("operation", &e.operation))?;
                let code =
                    error_code_from_name(&e.code).ok_or_else(|| unknown("error code", &e.code))?;
                Ok((
                    op,
                    FirmwareError {
                        code,
                        remaining: e.remaining,
                    },
                ))
            })
            .collect::<Result<_, StateError>>()?;
        let on_test = self
            .on_test
            .iter()
            .map(|(t, f)| {
                let test = VehicleTestId::from_name(t).ok_or_else(|| unknown("vehicle test", t))?;
                let fault =
                    vehicle_fault_from_name(f).ok_or_else(|| unknown("vehicle fault", f))?;
                Ok((test, fault))
            })
            .collect::<Result<_, StateError>>()?;
        let vehicle_on = vehicle_faults_from_names(&self.vehicle_on)?;
        let vehicle_off = vehicle_faults_from_names(&self.vehicle_off)?;
        state.next_connection = ConnectionFaults {
            disconnect_after_frames: self.disconnect_after_frames,
            drop_frames: self.drop_frames.iter().copied().collect(),
            corrupt_frames: self.corrupt_frames.iter().copied().collect(),
        };
        state.firmware_errors = firmware_errors;
        state.on_test = on_test;
        state.vehicle_on = vehicle_on;
        state.vehicle_off = vehicle_off;
        state.wrong_serial = self.wrong_serial.clone();
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn vehicle_fault_names_round_trip() {
        let all = [
            VehicleFault::DoorStuckOpen(Door::Trunk),
            VehicleFault::ImmobilizerNotWired,
            VehicleFault::NoGnssFix,
            VehicleFault::LowBattery,
            VehicleFault::KeyMissing,
            VehicleFault::CanDisconnected,
            VehicleFault::LockActuatorFailure,
        ];
        for f in all {
            assert_eq!(vehicle_fault_from_name(&f.name()), Some(f));
        }
        assert_eq!(vehicle_fault_from_name("door_stuck_open:roof"), None);
    }
}
