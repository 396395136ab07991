//! State shared by every object of one simulated BlueZ (adapters, devices,
//! links, the discovery filter), the `org.bluez.Error.*` replies and the
//! helpers the interface modules share. Interface structs hold a weak
//! reference to [`Shared`], so the service ends when its
//! [`super::BluezSim`] is dropped.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, Weak};

use smartcontrol_ble::transport::FrameWriter;
use smartcontrol_ble::uuids::SERVICE_UUID;
use tokio::net::UnixDatagram;
use tokio::task::JoinHandle;
use zbus::names::InterfaceName;
use zbus::object_server::SignalEmitter;
use zbus::{Connection, ObjectPath, OwnedObjectPath, OwnedVariant, Variant};

use super::adapter::Adapter;
use super::manager::{AgentManager, Manager, ProfileManager};
use super::{device_address, device_path, lock, BluezSimConfig, ADAPTER_PATH};
use crate::world::SimWorld;

/// `org.bluez.Error.*` replies.
#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.bluez.Error")]
pub(crate) enum BluezErr {
    /// A zbus failure.
    #[zbus(error)]
    ZBus(zbus::Error),
    /// Operation failed.
    Failed(String),
    /// Operation already in progress.
    InProgress(String),
    /// Not connected.
    NotConnected(String),
    /// Already connected.
    AlreadyConnected(String),
    /// Not permitted (e.g. read of a write-only characteristic).
    NotPermitted(String),
    /// Not supported.
    NotSupported(String),
    /// Invalid arguments.
    InvalidArguments(String),
    /// No such object or operation.
    DoesNotExist(String),
    /// Already exists (e.g. already paired).
    AlreadyExists(String),
    /// The adapter is powered off.
    NotReady(String),
}

pub(super) const CCCD_UUID: &str = "00002902-0000-1000-8000-00805f9b34fb";
pub(super) const ADAPTER_IFACE: &str = "org.bluez.Adapter1";
pub(super) const DEVICE_IFACE: &str = "org.bluez.Device1";
pub(super) const CHAR_IFACE: &str = "org.bluez.GattCharacteristic1";
pub(super) const DEFAULT_RSSI: i16 = -55;

pub(super) fn opath(p: &str) -> OwnedObjectPath {
    path_of(p).into()
}

/// The object path `p` (built from constants and hex digits, so valid; the
/// root path otherwise).
pub(super) fn path_of(p: &str) -> ObjectPath<'static> {
    ObjectPath::try_from(p.to_owned())
        .unwrap_or_else(|_| ObjectPath::from_static_str_unchecked("/"))
}

/// Expand a 16/32-bit UUID to the Bluetooth base UUID; lower-case.
pub(super) fn normalize_uuid(u: &str) -> String {
    let u = u.trim().to_ascii_lowercase();
    match u.len() {
        4 => format!("0000{u}-0000-1000-8000-00805f9b34fb"),
        8 => format!("{u}-0000-1000-8000-00805f9b34fb"),
        _ => u,
    }
}

pub(super) fn variant_u64(v: &Variant<'_>) -> Option<u64> {
    match v {
        Variant::U8(x) => Some(u64::from(*x)),
        Variant::U16(x) => Some(u64::from(*x)),
        Variant::U32(x) => Some(u64::from(*x)),
        Variant::U64(x) => Some(*x),
        Variant::I16(x) => u64::try_from(*x).ok(),
        Variant::I32(x) => u64::try_from(*x).ok(),
        Variant::I64(x) => u64::try_from(*x).ok(),
        Variant::Variant(inner) => variant_u64(inner),
        _ => None,
    }
}

pub(super) fn variant_str(v: &Variant<'_>) -> Option<String> {
    match v {
        Variant::Str(s) => Some(s.as_str().to_owned()),
        Variant::Variant(inner) => variant_str(inner),
        _ => None,
    }
}

pub(super) fn owned(v: Variant<'_>) -> OwnedVariant {
    OwnedVariant::try_from(v).unwrap_or_else(|_| OwnedVariant::from(false))
}

/// The discovery filter (SetDiscoveryFilter).
#[derive(Debug, Clone, Default)]
pub(super) struct Filter {
    pub(super) uuids: Vec<String>,
    pub(super) rssi: Option<i16>,
    pub(super) transport: String,
    pub(super) duplicate_data: bool,
    pub(super) pattern: String,
}

/// One live link.
pub(super) struct Link {
    pub(super) generation: u64,
    pub(super) writer: Arc<tokio::sync::Mutex<Box<dyn FrameWriter>>>,
    pub(super) mtu: u16,
    pub(super) notifying: bool,
    pub(super) notify_value: Vec<u8>,
    pub(super) identity_value: Vec<u8>,
    pub(super) pump: Option<JoinHandle<()>>,
    /// The socket of an AcquireWrite, while the client holds it.
    pub(super) write_io: Option<AcquiredIo>,
    /// The socket of an AcquireNotify, while the client holds it.
    pub(super) notify_io: Option<AcquiredIo>,
}

/// A socket handed out by AcquireWrite/AcquireNotify (gatt-client.c's
/// `struct sock_io`): our end of the pair and the task serving it. Dropping
/// it (release, teardown) ends the task and closes our end.
pub(super) struct AcquiredIo {
    pub(super) id: u64,
    pub(super) sock: Arc<UnixDatagram>,
    pub(super) task: JoinHandle<()>,
}

impl Drop for AcquiredIo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(super) struct DevState {
    pub(super) address: String,
    pub(super) path: String,
    pub(super) exported: bool,
    pub(super) connecting: bool,
    pub(super) link: Option<Link>,
    pub(super) services_resolved: bool,
    pub(super) trusted: bool,
    pub(super) blocked: bool,
    pub(super) alias: Option<String>,
    /// The last reported RSSI; None (no RSSI property) outside discovery.
    pub(super) rssi: Option<i16>,
    pub(super) service_data: Vec<u8>,
    /// When the last advertising report came, or the link went down
    /// (device.c's `last_seen`; restarts the temporary timer).
    pub(super) last_seen: std::time::Instant,
    /// Whether the GATT objects are exported (they outlive the link with
    /// [`super::GattCache::Always`]).
    pub(super) gatt_exported: bool,
    /// The write characteristic's attribute value as the CloudBoxx's GATT
    /// server holds it (the last value written), for writes at an offset.
    pub(super) write_value: Vec<u8>,
    /// device.c's `temporary`: true from discovery until the device is
    /// connected (`dev_connect` / `register_gatt_services` clear it) or
    /// blocked; only temporary devices expire.
    pub(super) temporary: bool,
}

impl DevState {
    pub(super) fn new(serial: &str) -> Self {
        let address = device_address(serial);
        Self {
            path: device_path(&address),
            address,
            exported: false,
            connecting: false,
            link: None,
            services_resolved: false,
            trusted: false,
            blocked: false,
            alias: None,
            rssi: None,
            service_data: Vec::new(),
            last_seen: std::time::Instant::now(),
            gatt_exported: false,
            write_value: Vec::new(),
            temporary: true,
        }
    }
}

#[derive(Default)]
pub(super) struct State {
    pub(super) powered: bool,
    pub(super) discoverable: bool,
    pub(super) pairable: bool,
    pub(super) alias: String,
    pub(super) discovering: BTreeSet<String>,
    pub(super) filter: Filter,
    pub(super) devices: BTreeMap<String, DevState>,
    pub(super) fail_connects: u32,
    pub(super) fail_message: String,
    pub(super) connect_attempts: u64,
    pub(super) generation: u64,
    /// A discovery filter is set (adapter.c's `filtered_discovery`).
    pub(super) filtered: bool,
    /// State of the RSSI jitter generator.
    pub(super) rng: u64,
}

impl State {
    /// The next RSSI variation of an advertising report, -3..=3 dBm
    /// (reproducible: a linear congruential generator).
    pub(super) fn next_jitter(&mut self) -> i16 {
        self.rng = self
            .rng
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let r = (self.rng >> 33) % 7;
        i16::try_from(r).unwrap_or(0) - 3
    }
}

/// State shared by every object of one simulated BlueZ.
pub(crate) struct Shared {
    pub(crate) world: SimWorld,
    pub(crate) conn: Connection,
    pub(crate) bus_address: String,
    pub(super) config: BluezSimConfig,
    pub(super) me: Weak<Shared>,
    pub(super) state: Mutex<State>,
    /// Serialises object export/removal per service.
    pub(super) tree: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("bus_address", &self.bus_address)
            .finish_non_exhaustive()
    }
}

pub(super) async fn emit_changed(
    conn: &Connection,
    path: &str,
    iface: &'static str,
    props: Vec<(&'static str, Variant<'static>)>,
) {
    let Ok(emitter) = SignalEmitter::new(conn, path.to_owned()) else {
        return;
    };
    let changed: HashMap<&str, Variant<'_>> = props.into_iter().collect();
    let Ok(name) = InterfaceName::try_from(iface) else {
        return;
    };
    if let Err(e) =
        zbus::fdo::Properties::properties_changed(&emitter, name, changed, Cow::Borrowed(&[])).await
    {
        tracing::debug!(%path, error = %e, "PropertiesChanged not sent");
    }
}

/// PropertiesChanged with `props` invalidated (properties that no longer
/// exist, as gdbus sends them).
pub(super) async fn emit_invalidated(
    conn: &Connection,
    path: &str,
    iface: &'static str,
    props: &[&str],
) {
    let Ok(emitter) = SignalEmitter::new(conn, path.to_owned()) else {
        return;
    };
    let Ok(name) = InterfaceName::try_from(iface) else {
        return;
    };
    let changed: HashMap<&str, Variant<'_>> = HashMap::new();
    if let Err(e) =
        zbus::fdo::Properties::properties_changed(&emitter, name, changed, Cow::Borrowed(props))
            .await
    {
        tracing::debug!(%path, error = %e, "PropertiesChanged not sent");
    }
}

pub(super) fn service_data_variant(bytes: &[u8]) -> HashMap<String, OwnedVariant> {
    let mut m = HashMap::new();
    m.insert(
        SERVICE_UUID.to_string(),
        owned(Variant::from(bytes.to_vec())),
    );
    m
}

impl Shared {
    pub(crate) fn new(
        world: SimWorld,
        conn: Connection,
        bus_address: &str,
        config: BluezSimConfig,
    ) -> Arc<Self> {
        let alias = config.adapter_name.clone();
        Arc::new_cyclic(|me| Shared {
            world,
            conn,
            bus_address: bus_address.to_owned(),
            config,
            me: me.clone(),
            state: Mutex::new(State {
                powered: true,
                pairable: true,
                alias,
                filter: Filter {
                    transport: "auto".into(),
                    ..Filter::default()
                },
                ..State::default()
            }),
            tree: tokio::sync::Mutex::new(()),
        })
    }

    pub(super) fn state(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Export the adapter, the managers and the ObjectManager at `/`.
    pub(crate) async fn export_static(&self) -> zbus::Result<()> {
        let srv = self.conn.object_server();
        srv.at(
            "/",
            Manager {
                shared: self.me.clone(),
            },
        )
        .await?;
        srv.at("/org/bluez", AgentManager).await?;
        srv.at("/org/bluez", ProfileManager).await?;
        srv.at(
            ADAPTER_PATH,
            Adapter {
                shared: self.me.clone(),
            },
        )
        .await?;
        Ok(())
    }

    pub(crate) fn is_connected(&self, serial: &str) -> bool {
        self.state()
            .devices
            .get(serial)
            .is_some_and(|d| d.link.is_some())
    }

    pub(crate) fn exported(&self) -> BTreeSet<String> {
        self.state()
            .devices
            .iter()
            .filter(|(_, d)| d.exported)
            .map(|(s, _)| s.clone())
            .collect()
    }

    pub(crate) fn fail_next_connects(&self, count: u32, message: &str) {
        let mut st = self.state();
        st.fail_connects = count;
        st.fail_message = message.to_owned();
    }

    pub(crate) fn connect_attempts(&self) -> u64 {
        self.state().connect_attempts
    }

    pub(crate) fn abort_pumps(&self) {
        let mut st = self.state();
        for d in st.devices.values_mut() {
            if let Some(link) = d.link.as_mut() {
                if let Some(p) = link.pump.take() {
                    p.abort();
                }
            }
        }
    }
}

impl Shared {
    pub(super) fn dev_field<T>(
        &self,
        serial: &str,
        f: impl FnOnce(&DevState) -> T,
    ) -> zbus::fdo::Result<T> {
        self.state()
            .devices
            .get(serial)
            .map(f)
            .ok_or_else(|| zbus::fdo::Error::UnknownObject(format!("device {serial} is gone")))
    }

    pub(super) fn link_field<T>(&self, serial: &str, f: impl FnOnce(&Link) -> T) -> Option<T> {
        self.state()
            .devices
            .get(serial)
            .and_then(|d| d.link.as_ref())
            .map(f)
    }
}

pub(super) fn gone() -> BluezErr {
    BluezErr::Failed("the simulated BlueZ has stopped".into())
}

pub(super) fn fdo_gone() -> zbus::fdo::Error {
    zbus::fdo::Error::Failed("the simulated BlueZ has stopped".into())
}
