//! Firmware behaviour of the simulated CloudBoxx: identity and versions,
//! the transactional [`ConfigStore`], vehicle binding, vehicle tests through
//! the [`Vehicle`] model, and injected firmware errors.

use std::time::Duration;

use smartcontrol_ble::device::{
    attest, check_bind_against_vehicle, AttestedState, ConfigStore, DeviceHandler, Request,
    RequestContext,
};
use smartcontrol_ble::message::{DeviceInfo, Message, VehicleInfo, VehicleTestResult};
use smartcontrol_ble::security::SigningKey;

use crate::faults::{FaultHandle, Operation};
use crate::vehicle::Vehicle;

/// Default configuration space of a simulated device (256 KiB).
pub const DEFAULT_CONFIG_CAPACITY: u32 = 256 * 1024;

/// The firmware of one simulated CloudBoxx (persists across connections).
#[derive(Debug, Clone)]
pub struct SimFirmware {
    /// Advertised serial.
    pub serial: String,
    /// Firmware version string.
    pub firmware_version: String,
    /// Hardware revision string.
    pub hardware_version: String,
    /// Configuration storage (active + staging).
    pub config: ConfigStore,
    /// VIN the device is bound to (empty when unbound).
    pub bound_vin: String,
    /// The vehicle the device is installed in.
    pub vehicle: Vehicle,
    /// Operations handled, in order.
    pub log: Vec<Operation>,
    /// Vehicle test results, in order.
    pub test_log: Vec<VehicleTestResult>,
    /// The unit's own signing key (its attestations; the fleet registers
    /// the public half).
    pub device_key: SigningKey,
    /// Attestations signed so far (the next one gets this + 1).
    pub attestations: u64,
    faults: FaultHandle,
}

impl SimFirmware {
    /// Firmware for `serial` in `vehicle`, reading faults from `faults`.
    pub fn new(serial: &str, vehicle: Vehicle, faults: FaultHandle) -> Self {
        Self {
            serial: serial.to_owned(),
            firmware_version: "2.4.1".into(),
            hardware_version: "CBX-2".into(),
            config: ConfigStore::new(DEFAULT_CONFIG_CAPACITY),
            bound_vin: String::new(),
            vehicle,
            log: Vec::new(),
            test_log: Vec::new(),
            device_key: smartcontrol_ble::security::simulated_device_key(serial),
            attestations: 0,
            faults,
        }
    }

    /// What the vehicle reports about itself.
    pub fn vehicle_info(&self) -> VehicleInfo {
        let s = &self.vehicle.state;
        VehicleInfo {
            vin: s.vin.clone(),
            model: s.model.clone(),
        }
    }

    /// The serial the device currently claims (a wrong-serial fault applies).
    pub fn claimed_serial(&self) -> String {
        self.faults
            .state()
            .wrong_serial
            .clone()
            .unwrap_or_else(|| self.serial.clone())
    }

    /// Device info as reported now.
    pub fn device_info(&self) -> DeviceInfo {
        DeviceInfo {
            serial: self.claimed_serial(),
            firmware_version: self.firmware_version.clone(),
            hardware_version: self.hardware_version.clone(),
            battery_millivolts: self.vehicle.battery_millivolts(),
            bound_vin: self.bound_vin.clone(),
            active_config_id: self
                .config
                .active()
                .map(|a| a.config_id.clone())
                .unwrap_or_default(),
        }
    }

    fn apply_vehicle_faults(&mut self, request: &Request) {
        let mut s = self.faults.state();
        for f in std::mem::take(&mut s.vehicle_off) {
            self.vehicle.faults.remove(&f);
        }
        for f in std::mem::take(&mut s.vehicle_on) {
            self.vehicle.faults.insert(f);
        }
        if let Request::VehicleTest(t) = request {
            let (hit, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut s.on_test)
                .into_iter()
                .partition(|(test, _)| test == t);
            s.on_test = keep;
            for (_, f) in hit {
                tracing::info!(test = t.name(), fault = %f.name(), "scripted vehicle fault");
                self.vehicle.faults.insert(f);
            }
        }
    }

    /// Handle one authorized request: the responses and how long the device
    /// takes before sending them (vehicle actuation, bus reads).
    pub fn handle_timed(
        &mut self,
        request: Request,
        ctx: &RequestContext<'_>,
    ) -> (Vec<Message>, Duration) {
        let op = Operation::of(&request);
        self.log.push(op);
        self.apply_vehicle_faults(&request);
        if let Some(code) = self.faults.take_firmware_error(op) {
            tracing::info!(op = op.name(), %code, "injected firmware error");
            let ty = match &request {
                Request::VehicleTest(_) => smartcontrol_ble::message::msg_type::VEHICLE_TEST,
                Request::DeviceInfo => smartcontrol_ble::message::msg_type::DEVICE_INFO_REQUEST,
                Request::ConfigBegin(_) => smartcontrol_ble::message::msg_type::CONFIG_BEGIN,
                Request::ConfigChunk(_) => smartcontrol_ble::message::msg_type::CONFIG_CHUNK,
                Request::ConfigCommit(_) => smartcontrol_ble::message::msg_type::CONFIG_COMMIT,
                Request::ConfigReadBack => smartcontrol_ble::message::msg_type::CONFIG_READ_BACK,
                Request::BindVehicle(_) => smartcontrol_ble::message::msg_type::BIND_VEHICLE,
                Request::VehicleInfo => smartcontrol_ble::message::msg_type::VEHICLE_INFO_REQUEST,
                Request::Attest => smartcontrol_ble::message::msg_type::ATTEST_REQUEST,
            };
            return (
                vec![Message::error(
                    code,
                    ty,
                    format!("simulated firmware error in {}", op.name()),
                )],
                Duration::ZERO,
            );
        }
        if let Some(out) = self.config.handle(&request, ctx) {
            return (out, Duration::ZERO);
        }
        match request {
            Request::DeviceInfo => (
                vec![Message::DeviceInfo(self.device_info())],
                Duration::ZERO,
            ),
            Request::BindVehicle(b) => {
                if let Some(refusal) = check_bind_against_vehicle(&b, &self.vehicle.state.vin) {
                    tracing::warn!(vin = %b.vin, "bind refused: not this vehicle's VIN");
                    return (vec![refusal], Duration::ZERO);
                }
                tracing::info!(vin = %b.vin, "bound to vehicle");
                self.bound_vin = b.vin.clone();
                (vec![Message::VehicleBound { vin: b.vin }], Duration::ZERO)
            }
            Request::VehicleInfo => (
                vec![Message::VehicleInfo(self.vehicle_info())],
                Duration::ZERO,
            ),
            Request::Attest => {
                self.attestations += 1;
                let info = self.vehicle_info();
                let reply = attest(
                    &self.device_key,
                    &self.claimed_serial(),
                    self.attestations,
                    ctx,
                    AttestedState {
                        bound_vin: &self.bound_vin,
                        vehicle_vin: &info.vin,
                        vehicle_model: &info.model,
                        active_config: self.config.active(),
                    },
                );
                tracing::info!(counter = self.attestations, "session attested");
                (vec![reply], Duration::ZERO)
            }
            Request::VehicleTest(t) => {
                let (r, delay) = self.vehicle.run_test(t);
                tracing::debug!(test = t.name(), passed = r.passed, ?delay, "vehicle test");
                self.test_log.push(r);
                (vec![Message::VehicleTestResult(r)], delay)
            }
            _ => (
                vec![Message::error(
                    smartcontrol_ble::ErrorCode::Internal,
                    0,
                    "unhandled request",
                )],
                Duration::ZERO,
            ),
        }
    }
}

impl DeviceHandler for SimFirmware {
    fn handle(&mut self, request: Request, ctx: &RequestContext<'_>) -> Vec<Message> {
        self.handle_timed(request, ctx).0
    }
}
