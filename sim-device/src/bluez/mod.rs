//! A simulated BlueZ: the devices of a [`SimWorld`] served as `org.bluez` on a
//! D-Bus (normally a [`PrivateBus`]), following BlueZ's D-Bus API (adapter,
//! devices, GATT services/characteristics/descriptors, ObjectManager,
//! Properties), so an unmodified BlueZ client (btleplug/bluez-async,
//! `bluetoothctl`) talks to simulated CloudBoxxes as to `bluetoothd`.
//!
//! Object tree, methods, properties and error mapping: `docs/sim-bluez.md`.
//!
//! * [`BluezSim::serve`] owns `org.bluez` on a bus until stopped or dropped;
//! * [`PrivateBus`] runs a private `dbus-daemon` for tests;
//! * [`SimDeviceProcess`] runs `sim-device --bluez` as a child process.

mod adapter;
mod bus;
mod device;
mod gatt;
mod manager;
mod process;
mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sha2::{Digest, Sha256};
use thiserror::Error;
use tokio::task::JoinHandle;

use crate::world::SimWorld;

pub use bus::PrivateBus;
pub use process::{
    locate_sim_device_binary, SimDeviceProcess, DEVICE_PREFIX, READY_PREFIX, SERVING_PREFIX,
};

use state::Shared;

/// The well-known name the simulated service owns.
pub const BLUEZ_NAME: &str = "org.bluez";
/// Object path of the simulated adapter.
pub const ADAPTER_PATH: &str = "/org/bluez/hci0";

/// Failures of the simulated BlueZ and its helpers.
#[derive(Debug, Error)]
pub enum BluezError {
    /// Connecting to the bus or exporting objects failed.
    #[error("D-Bus at {address}: {message} (is the bus running? PrivateBus::start starts one)")]
    Connect {
        /// The bus address used.
        address: String,
        /// What failed.
        message: String,
    },
    /// `org.bluez` already has an owner on the bus.
    #[error(
        "org.bluez is already owned on {0}: a real bluetoothd (or another simulator) is running \
         there; use a private bus (PrivateBus, or sim-device --bus ADDRESS)"
    )]
    NameTaken(String),
    /// The private bus could not be started.
    #[error("private D-Bus: {0}")]
    Bus(String),
    /// The `sim-device` child process failed.
    #[error("sim-device process: {0}")]
    Process(String),
}

/// How the simulated BlueZ behaves.
#[derive(Debug, Clone)]
pub struct BluezSimConfig {
    /// Adapter address (`Address` of `org.bluez.Adapter1`).
    pub adapter_address: String,
    /// Adapter name (`Name`, initial `Alias`).
    pub adapter_name: String,
    /// Cap on the ATT MTU a connection negotiates (None: the device's link).
    pub mtu: Option<usize>,
    /// How often a discovering adapter gets advertising reports (new
    /// devices, RSSI, changed advertisements).
    pub scan_interval: Duration,
    /// How long a Connect takes before the link is up.
    pub connect_delay: Duration,
    /// main.conf `TemporaryTimeout`: a discovered device that is neither
    /// connected nor paired is removed (InterfacesRemoved) when no
    /// advertising report refreshed it for this long (device.c's
    /// `set_temporary_timer` / `device_disappeared`). BlueZ's default is
    /// 30 s; `None` keeps such devices (timeout 0: no timer).
    pub temporary_timeout: Option<Duration>,
    /// main.conf `[GATT] Cache`: whether the GATT objects of a device stay
    /// exported while it is disconnected (BlueZ's default `always`), so
    /// calls on them answer `org.bluez.Error.Failed: Not connected`, or are
    /// removed with the link (`no`).
    pub gatt_cache: GattCache,
}

/// main.conf `[GATT] Cache` (the simulated devices are never paired, so
/// `yes`, "only paired devices", behaves as `no`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GattCache {
    /// Keep the attributes (and their D-Bus objects) of every device
    /// (BlueZ 5.66's default).
    Always,
    /// Drop them when the link goes down (`gatt_cache_cleanup`).
    No,
}

impl Default for BluezSimConfig {
    fn default() -> Self {
        Self {
            adapter_address: "00:1A:7D:DA:71:13".into(),
            adapter_name: "sim-hci0".into(),
            mtu: None,
            scan_interval: Duration::from_millis(150),
            connect_delay: Duration::from_millis(20),
            temporary_timeout: Some(Duration::from_secs(30)),
            gatt_cache: GattCache::Always,
        }
    }
}

/// The stable random-static Bluetooth address of a serial (`C?:..:..`, two
/// top bits set, as the Core spec requires of static random addresses).
pub fn device_address(serial: &str) -> String {
    let digest = Sha256::digest(serial.as_bytes());
    let mut b = [0u8; 6];
    b.copy_from_slice(&digest[..6]);
    b[0] |= 0xC0;
    b.iter()
        .map(|x| format!("{x:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The BlueZ object path of a device address (`/org/bluez/hci0/dev_XX_…`).
pub fn device_path(address: &str) -> String {
    format!("{ADAPTER_PATH}/dev_{}", address.replace(':', "_"))
}

/// A running simulated BlueZ. Dropping it (or [`BluezSim::stop`]) ends the
/// service and releases `org.bluez`.
#[derive(Debug)]
pub struct BluezSim {
    shared: Arc<Shared>,
    ticker: JoinHandle<()>,
}

impl BluezSim {
    /// Connect to the bus at `bus_address`, export the adapter and own
    /// `org.bluez`. Runs on the caller's tokio runtime.
    pub async fn serve(
        world: SimWorld,
        bus_address: &str,
        config: BluezSimConfig,
    ) -> Result<BluezSim, BluezError> {
        let err = |e: zbus::Error| BluezError::Connect {
            address: bus_address.to_owned(),
            message: e.to_string(),
        };
        let conn = zbus::connection::Builder::address(bus_address)
            .build()
            .await
            .map_err(err)?;
        let shared = Shared::new(world, conn.clone(), bus_address, config);
        shared.export_static().await.map_err(err)?;
        let reply = conn
            .request_name_with_flags(BLUEZ_NAME, zbus::fdo::RequestNameFlags::DO_NOT_QUEUE)
            .await
            .map_err(|e| match e {
                zbus::Error::NameTaken => BluezError::NameTaken(bus_address.to_owned()),
                e => err(e),
            })?;
        if reply != zbus::fdo::RequestNameReply::PrimaryOwner {
            return Err(BluezError::NameTaken(bus_address.to_owned()));
        }
        let ticker = tokio::spawn(adapter::discovery_ticker(Arc::downgrade(&shared)));
        tracing::info!(bus = %bus_address, "simulated BlueZ serving org.bluez");
        Ok(BluezSim { shared, ticker })
    }

    /// The bus address served on.
    pub fn bus_address(&self) -> &str {
        &self.shared.bus_address
    }

    /// Serials of the world's devices and their Bluetooth addresses.
    pub fn devices(&self) -> BTreeMap<String, String> {
        self.shared
            .world
            .serials()
            .into_iter()
            .map(|s| {
                let a = device_address(&s);
                (s, a)
            })
            .collect()
    }

    /// Whether `serial` is connected.
    pub fn is_connected(&self, serial: &str) -> bool {
        self.shared.is_connected(serial)
    }

    /// Serials exported as `org.bluez.Device1` objects so far.
    pub fn exported(&self) -> BTreeSet<String> {
        self.shared.exported()
    }

    /// Answer the next `count` Device1.Connect calls with
    /// `org.bluez.Error.Failed: <message>` (BlueZ's text for an aborted LE
    /// connection is `le-connection-abort-by-local`).
    pub fn fail_next_connects(&self, count: u32, message: &str) {
        self.shared.fail_next_connects(count, message);
    }

    /// Connect attempts answered so far (successful or not).
    pub fn connect_attempts(&self) -> u64 {
        self.shared.connect_attempts()
    }

    /// Drop the link of `serial` from the device side (as if it went out of
    /// range); returns whether it was connected.
    pub async fn drop_link(&self, serial: &str) -> bool {
        self.shared.teardown(serial, None).await
    }

    /// Stop serving: disconnect every device and release `org.bluez`.
    pub async fn stop(self) {
        self.ticker.abort();
        for serial in self.shared.world.serials() {
            self.shared.teardown(&serial, None).await;
        }
        let _ = self.shared.conn.release_name(BLUEZ_NAME).await;
    }
}

impl Drop for BluezSim {
    fn drop(&mut self) {
        self.ticker.abort();
        self.shared.abort_pumps();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
