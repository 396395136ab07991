//! A simulated CloudBoxx telematics unit for tests, demos and QA.
//!
//! * [`SimFirmware`]: the firmware behind ble's device engine (identity,
//!   transactional configuration, vehicle binding, vehicle tests, errors);
//! * [`vehicle`]: locks, doors, immobilizer, ignition, odometer, fuel/charge,
//!   GNSS, key holder, 12 V battery, with delays on tokio time;
//! * [`link`]: the BLE link model (MTU, PHY, data length, connection interval,
//!   packets per event, loss) on a virtual clock, agreeing with
//!   `smartcontrol_ble::linktime`;
//! * [`faults`]: runtime fault injection through a [`FaultHandle`];
//! * [`cellular`]: the unit's own cellular link to the fleet cloud (it
//!   fetches the fleet's signed revocation list while coverage is up);
//! * [`scenario`]: QA scenario files (TOML, `docs/sim-device-scenarios.md`);
//! * [`state`]: a unit's persistent state ([`UnitState`]) between processes;
//! * reachable in-process ([`SimWorld`] implements ble's `BleConnector`), over
//!   a loopback socket ([`socket`]: server and [`SocketConnector`]), and through
//!   the same trait any BLE driver implements;
//! * served as a simulated BlueZ (`org.bluez` on a D-Bus, [`bluez`]) so the real
//!   btleplug driver and `bluetoothctl` talk to it as to `bluetoothd`.
//!
//! Depends on the protocol crate `smartcontrol-ble` only.

pub mod bluez;
pub mod cellular;
pub mod device;
pub mod faults;
pub mod firmware;
pub mod keys;
pub mod link;
pub mod scenario;
pub mod socket;
pub mod state;
pub mod vehicle;
pub mod world;

pub use cellular::{CellularConfig, CellularError};
pub use device::{SimDevice, SimDeviceConfig};
pub use faults::{FaultHandle, Operation};
pub use firmware::SimFirmware;
pub use keys::{demo_fleet_public_key, demo_fleet_signing_key, parse_fleet_public_key};
pub use link::{LinkCounters, LinkModel};
pub use scenario::{Scenario, ScenarioError};
pub use smartcontrol_ble::linktime::{LinkProfile, Phy};
pub use socket::{SocketConnector, SocketServer};
pub use state::{StateError, UnitState};
pub use vehicle::{Door, Energy, Vehicle, VehicleFault, VehicleState, VehicleTiming};
pub use world::SimWorld;
