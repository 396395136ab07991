//! Fault injection, settable at runtime through a [`FaultHandle`]: link faults
//! (disconnect after N frames, dropped or corrupted frames, loss rates),
//! firmware error codes per operation, vehicle faults (also triggered by a
//! test), and a wrong device serial.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use smartcontrol_ble::device::Request;
use smartcontrol_ble::message::{ErrorCode, VehicleTestId};

use crate::vehicle::VehicleFault;

/// Firmware operations a fault can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    /// Device info.
    DeviceInfo,
    /// Configuration begin.
    ConfigBegin,
    /// Configuration chunk.
    ConfigChunk,
    /// Configuration commit.
    ConfigCommit,
    /// Configuration read-back.
    ConfigReadBack,
    /// Vehicle binding.
    BindVehicle,
    /// Any vehicle test.
    VehicleTest,
    /// Reading the vehicle's own VIN and model.
    VehicleInfo,
    /// Signing the session's attestation.
    Attest,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 9] = [
        Operation::DeviceInfo,
        Operation::ConfigBegin,
        Operation::ConfigChunk,
        Operation::ConfigCommit,
        Operation::ConfigReadBack,
        Operation::BindVehicle,
        Operation::VehicleTest,
        Operation::VehicleInfo,
        Operation::Attest,
    ];

    /// The operation a request is.
    pub fn of(request: &Request) -> Operation {
        match request {
            Request::DeviceInfo => Operation::DeviceInfo,
            Request::ConfigBegin(_) => Operation::ConfigBegin,
            Request::ConfigChunk(_) => Operation::ConfigChunk,
            Request::ConfigCommit(_) => Operation::ConfigCommit,
            Request::ConfigReadBack => Operation::ConfigReadBack,
            Request::BindVehicle(_) => Operation::BindVehicle,
            Request::VehicleTest(_) => Operation::VehicleTest,
            Request::VehicleInfo => Operation::VehicleInfo,
            Request::Attest => Operation::Attest,
        }
    }

    /// Stable snake_case name (scenario files).
    pub fn name(self) -> &'static str {
        match self {
            Operation::DeviceInfo => "device_info",
            Operation::ConfigBegin => "config_begin",
            Operation::ConfigChunk => "config_chunk",
            Operation::ConfigCommit => "config_commit",
            Operation::ConfigReadBack => "config_read_back",
            Operation::BindVehicle => "bind_vehicle",
            Operation::VehicleTest => "vehicle_test",
            Operation::VehicleInfo => "vehicle_info",
            Operation::Attest => "attest",
        }
    }

    /// Parse [`Operation::name`].
    pub fn from_name(name: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|o| o.name() == name)
    }
}

/// A firmware error answered instead of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirmwareError {
    /// Error code sent.
    pub code: ErrorCode,
    /// How many more times (None: until cleared).
    pub remaining: Option<u32>,
}

/// Faults that apply to one connection (taken when the next connection opens).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnectionFaults {
    /// Drop the link after this many frames (both directions, 1-based count of
    /// frames that went over the air).
    pub disconnect_after_frames: Option<u64>,
    /// Frame numbers (same count) lost on air.
    pub drop_frames: BTreeSet<u64>,
    /// Frame numbers delivered with a flipped byte (CRC catches it).
    pub corrupt_frames: BTreeSet<u64>,
}

/// Everything injectable; see [`FaultHandle`].
#[derive(Debug, Clone, Default)]
pub struct FaultState {
    /// Applied to the next connection, then cleared.
    pub next_connection: ConnectionFaults,
    /// Probability that a frame is lost (every connection).
    pub loss_rate: f64,
    /// Probability that a frame arrives corrupted (every connection).
    pub corrupt_rate: f64,
    /// Seed of the loss/corruption generator (deterministic runs).
    pub seed: u64,
    /// Firmware errors per operation.
    pub firmware_errors: HashMap<Operation, FirmwareError>,
    /// Vehicle faults switched on when a test starts (one-shot).
    pub on_test: Vec<(VehicleTestId, VehicleFault)>,
    /// Vehicle faults to switch on (applied by the firmware before its next request).
    pub vehicle_on: BTreeSet<VehicleFault>,
    /// Vehicle faults to switch off (applied likewise).
    pub vehicle_off: BTreeSet<VehicleFault>,
    /// Answer with this serial instead of the advertised one.
    pub wrong_serial: Option<String>,
}

/// Shared, runtime-settable fault state of one simulated device.
#[derive(Debug, Clone, Default)]
pub struct FaultHandle {
    inner: Arc<Mutex<FaultState>>,
}

impl FaultHandle {
    /// No faults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lock the state (recovers from a poisoned lock: the state stays usable).
    pub fn state(&self) -> MutexGuard<'_, FaultState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Cut the next connection after `frames` frames over the air.
    pub fn disconnect_after_frames(&self, frames: u64) {
        self.state().next_connection.disconnect_after_frames = Some(frames);
    }

    /// Lose these frame numbers on the next connection.
    pub fn drop_frames(&self, frames: impl IntoIterator<Item = u64>) {
        self.state().next_connection.drop_frames.extend(frames);
    }

    /// Corrupt these frame numbers on the next connection.
    pub fn corrupt_frames(&self, frames: impl IntoIterator<Item = u64>) {
        self.state().next_connection.corrupt_frames.extend(frames);
    }

    /// Random frame loss on every connection (0.0..=1.0).
    pub fn set_loss_rate(&self, rate: f64) {
        self.state().loss_rate = rate.clamp(0.0, 1.0);
    }

    /// Random frame corruption on every connection (0.0..=1.0).
    pub fn set_corrupt_rate(&self, rate: f64) {
        self.state().corrupt_rate = rate.clamp(0.0, 1.0);
    }

    /// Answer `op` with `code`, `times` times (None: until cleared).
    pub fn fail_operation(&self, op: Operation, code: ErrorCode, times: Option<u32>) {
        self.state().firmware_errors.insert(
            op,
            FirmwareError {
                code,
                remaining: times,
            },
        );
    }

    /// Switch a vehicle fault on or off (takes effect at the next request).
    pub fn set_vehicle_fault(&self, fault: VehicleFault, on: bool) {
        let mut s = self.state();
        if on {
            s.vehicle_off.remove(&fault);
            s.vehicle_on.insert(fault);
        } else {
            s.vehicle_on.remove(&fault);
            s.vehicle_off.insert(fault);
        }
    }

    /// Switch `fault` on when `test` next starts.
    pub fn on_test(&self, test: VehicleTestId, fault: VehicleFault) {
        self.state().on_test.push((test, fault));
    }

    /// Make the device claim another serial (handshake refuses the grant, device
    /// info reports it), or restore the advertised one with `None`.
    pub fn set_wrong_serial(&self, serial: Option<String>) {
        self.state().wrong_serial = serial;
    }

    /// Clear every link and firmware fault (vehicle faults are switched off).
    pub fn clear(&self) {
        let mut s = self.state();
        let vehicle_off: BTreeSet<VehicleFault> = s
            .vehicle_on
            .iter()
            .copied()
            .chain(s.on_test.iter().map(|(_, f)| *f))
            .collect();
        *s = FaultState {
            seed: s.seed,
            vehicle_off,
            ..FaultState::default()
        };
    }

    /// The faults still armed (spent ones are gone), for [`FaultHandle::restore`].
    pub fn snapshot(&self) -> crate::state::FaultSnapshot {
        crate::state::FaultSnapshot::of(&self.state())
    }

    /// Arm exactly the faults of a [`FaultHandle::snapshot`] (rates and seed
    /// stay); on an error nothing changes.
    pub fn restore(
        &self,
        snapshot: &crate::state::FaultSnapshot,
    ) -> Result<(), crate::state::StateError> {
        snapshot.apply_to(&mut self.state())
    }

    /// Take the one-connection faults (the link does this on connect).
    pub fn take_connection_faults(&self) -> ConnectionFaults {
        std::mem::take(&mut self.state().next_connection)
    }

    /// The firmware error to answer `op` with, consuming one use.
    pub fn take_firmware_error(&self, op: Operation) -> Option<ErrorCode> {
        let mut s = self.state();
        let e = s.firmware_errors.get_mut(&op)?;
        let code = e.code;
        match e.remaining.as_mut() {
            Some(0) => {
                s.firmware_errors.remove(&op);
                return None;
            }
            Some(n) => {
                *n -= 1;
                if *n == 0 {
                    s.firmware_errors.remove(&op);
                }
            }
            None => {}
        }
        Some(code)
    }
}
