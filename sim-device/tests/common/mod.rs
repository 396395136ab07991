//! Shared fixtures: a test fleet key, grants, a world with one device.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;

use smartcontrol_ble::client::{ClientConfig, Connection};
use smartcontrol_ble::security::{AccessGrant, GrantFields, Permissions, PhoneKey, SigningKey};
use smartcontrol_ble::transport::BleConnector;
use smartcontrol_sim_device::{
    LinkModel, SimDevice, SimDeviceConfig, SimWorld, VehicleState, VehicleTiming,
};

pub const NOW: u64 = 1_750_000_000;
pub const SERIAL: &str = "CBX-000777";
pub const VIN: &str = "WVWZZZ1JZXW000042";
pub const JOB: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

pub fn fleet() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

pub fn phone() -> PhoneKey {
    PhoneKey::from_seed(&[9u8; 32])
}

pub fn fields() -> GrantFields {
    GrantFields {
        grant_id: [0x22; 16],
        device_serial: SERIAL.into(),
        vin: VIN.into(),
        job_id: JOB.into(),
        technician_id: "tech-1".into(),
        phone_public_key: phone().public_key(),
        permissions: Permissions::ALL,
        not_before: NOW - 600,
        not_after: NOW + 3600,
    }
}

pub fn grant_with(f: GrantFields) -> AccessGrant {
    AccessGrant::sign(f, &fleet()).unwrap()
}

pub fn grant() -> AccessGrant {
    grant_with(fields())
}

pub fn config(link: LinkModel, timing: VehicleTiming) -> SimDeviceConfig {
    let mut c = SimDeviceConfig::new(SERIAL, fleet().verifying_key());
    c.vehicle = VehicleState {
        vin: VIN.into(),
        ..VehicleState::default()
    };
    c.timing = timing;
    c.link = link;
    c.clock = Some(Arc::new(|| NOW));
    c.initial_config = Some(("factory".into(), b"factory defaults".to_vec()));
    c
}

pub fn world(link: LinkModel, timing: VehicleTiming) -> (SimWorld, SimDevice) {
    let dev = SimDevice::new(config(link, timing));
    let w = SimWorld::new();
    w.add(dev.clone());
    (w, dev)
}

pub fn client() -> ClientConfig {
    ClientConfig::default()
}

pub async fn session(w: &dyn BleConnector, g: &AccessGrant) -> Connection {
    let ch = w.connect(SERIAL).await.unwrap();
    Connection::handshake(ch, g, JOB, &phone(), client())
        .await
        .unwrap()
}

pub fn config_bytes(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(31).wrapping_add(u32::from(salt)) as u8)
        .collect()
}
