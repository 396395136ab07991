//! Shared fixtures: fleet key, grants, loopback devices.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;

use smartcontrol_ble::device::BasicDevice;
use smartcontrol_ble::security::{
    AccessGrant, DeviceIdentity, DeviceRevocations, GrantFields, Permissions, PhoneKey, SigningKey,
};
use smartcontrol_ble::transport::{LoopbackConnector, LoopbackDevice};

pub const NOW: u64 = 1_750_000_000;
pub const SERIAL: &str = "CBX-000123";
pub const VIN: &str = "WVWZZZ1JZXW000001";
pub const JOB: &str = "job-42";

pub fn fleet() -> SigningKey {
    SigningKey::from_bytes(&[3u8; 32])
}

pub fn phone() -> PhoneKey {
    PhoneKey::from_seed(&[5u8; 32])
}

pub fn fields(phone: &PhoneKey) -> GrantFields {
    GrantFields {
        grant_id: [0x11; 16],
        device_serial: SERIAL.into(),
        vin: VIN.into(),
        job_id: JOB.into(),
        technician_id: "tech-7".into(),
        phone_public_key: phone.public_key(),
        permissions: Permissions::ALL,
        not_before: NOW - 3600,
        not_after: NOW + 3600,
    }
}

pub fn grant() -> AccessGrant {
    AccessGrant::sign(fields(&phone()), &fleet()).unwrap()
}

pub fn identity() -> DeviceIdentity {
    DeviceIdentity {
        serial: SERIAL.into(),
        fleet_public_key: fleet().verifying_key(),
    }
}

pub struct Rig {
    pub connector: LoopbackConnector,
    pub device: Arc<tokio::sync::Mutex<BasicDevice>>,
    pub entry: LoopbackDevice,
}

pub fn rig(mtu: usize) -> Rig {
    let device = Arc::new(tokio::sync::Mutex::new(BasicDevice::new(SERIAL)));
    let entry = LoopbackDevice {
        identity: identity(),
        handler: device.clone(),
        revocations: Arc::new(std::sync::Mutex::new(DeviceRevocations::new())),
        clock: Arc::new(|| NOW),
        mtu,
        drop_next_after_writes: Arc::new(std::sync::Mutex::new(None)),
    };
    let connector = LoopbackConnector::new();
    connector.add(entry.clone());
    Rig {
        connector,
        device,
        entry,
    }
}
