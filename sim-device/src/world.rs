//! A simulated radio neighbourhood: one or more [`SimDevice`]s reachable through
//! ble's [`BleConnector`] trait (scan returns their advertisements, connect
//! opens a link-model connection to the firmware).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smartcontrol_ble::transport::{
    Advertisement, BleChannel, BleConnector, BoxFuture, TransportError,
};

use crate::device::SimDevice;

/// Simulated devices in radio range; implements [`BleConnector`]. Clones share
/// the same devices.
#[derive(Debug, Clone, Default)]
pub struct SimWorld {
    devices: Arc<Mutex<BTreeMap<String, SimDevice>>>,
}

impl SimWorld {
    /// No devices.
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, SimDevice>> {
        self.devices.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Put a device in range (replacing one with the same serial).
    pub fn add(&self, device: SimDevice) {
        self.map().insert(device.serial().to_owned(), device);
    }

    /// Take a device out of range.
    pub fn remove(&self, serial: &str) -> Option<SimDevice> {
        self.map().remove(serial)
    }

    /// The device advertising `serial`.
    pub fn device(&self, serial: &str) -> Option<SimDevice> {
        self.map().get(serial).cloned()
    }

    /// Every device, by serial.
    pub fn devices(&self) -> Vec<SimDevice> {
        self.map().values().cloned().collect()
    }

    /// Serials in range.
    pub fn serials(&self) -> Vec<String> {
        self.map().keys().cloned().collect()
    }

    /// Connect with an ATT MTU cap (the socket server passes the client's).
    pub fn connect_with_mtu(
        &self,
        serial: &str,
        mtu: Option<usize>,
    ) -> Result<BleChannel, TransportError> {
        let dev = self
            .device(serial)
            .ok_or_else(|| TransportError::NotFound(serial.to_owned()))?;
        dev.connect(mtu)
    }
}

impl BleConnector for SimWorld {
    fn scan(
        &self,
        _timeout: Duration,
    ) -> BoxFuture<'_, Result<Vec<Advertisement>, TransportError>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for d in self.devices() {
                out.push(d.advertisement().await);
            }
            Ok(out)
        })
    }

    fn connect<'a>(&'a self, serial: &'a str) -> BoxFuture<'a, Result<BleChannel, TransportError>> {
        Box::pin(async move { self.connect_with_mtu(serial, None) })
    }
}
