//! The D-Bus objects of the simulated BlueZ (adapter, agent/profile managers,
//! devices, GATT service, characteristics, descriptor) and the shared state
//! behind them. Interface structs hold a weak reference to [`Shared`], so the
//! service ends when its [`super::BluezSim`] is dropped.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use smartcontrol_ble::transport::{BleChannel, FrameWriter};
use smartcontrol_ble::uuids::{
    IDENTITY_CHAR_UUID, NOTIFY_CHAR_UUID, SERVICE_UUID, WRITE_CHAR_UUID,
};
use tokio::task::JoinHandle;
use zbus::message::Header;
use zbus::names::InterfaceName;
use zbus::object_server::{Interface, SignalEmitter};
use zbus::{interface, Connection, ObjectPath, OwnedObjectPath, OwnedVariant, Variant};

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
    /// Value longer than the link allows.
    InvalidValueLength(String),
    /// Offset past the value.
    InvalidOffset(String),
    /// The adapter is powered off.
    NotReady(String),
}

const SERVICE_HANDLE: u16 = 0x000a;
const WRITE_HANDLE: u16 = 0x000b;
const NOTIFY_HANDLE: u16 = 0x000d;
const CCCD_HANDLE: u16 = 0x000f;
const IDENTITY_HANDLE: u16 = 0x0010;
const CCCD_UUID: &str = "00002902-0000-1000-8000-00805f9b34fb";
const ADAPTER_IFACE: &str = "org.bluez.Adapter1";
const DEVICE_IFACE: &str = "org.bluez.Device1";
const CHAR_IFACE: &str = "org.bluez.GattCharacteristic1";
const DEFAULT_RSSI: i16 = -55;

/// Which characteristic an object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CharKind {
    Write,
    Notify,
    Identity,
}

impl CharKind {
    const ALL: [CharKind; 3] = [CharKind::Write, CharKind::Notify, CharKind::Identity];

    fn handle(self) -> u16 {
        match self {
            CharKind::Write => WRITE_HANDLE,
            CharKind::Notify => NOTIFY_HANDLE,
            CharKind::Identity => IDENTITY_HANDLE,
        }
    }

    fn uuid(self) -> String {
        match self {
            CharKind::Write => WRITE_CHAR_UUID.to_string(),
            CharKind::Notify => NOTIFY_CHAR_UUID.to_string(),
            CharKind::Identity => IDENTITY_CHAR_UUID.to_string(),
        }
    }

    fn flags(self) -> Vec<String> {
        let f: &[&str] = match self {
            CharKind::Write => &["write-without-response", "write"],
            CharKind::Notify => &["notify"],
            CharKind::Identity => &["read"],
        };
        f.iter().map(|s| (*s).to_owned()).collect()
    }
}

fn service_path(dev: &str) -> String {
    format!("{dev}/service{SERVICE_HANDLE:04x}")
}

fn char_path(dev: &str, kind: CharKind) -> String {
    format!("{}/char{:04x}", service_path(dev), kind.handle())
}

fn cccd_path(dev: &str) -> String {
    format!("{}/desc{CCCD_HANDLE:04x}", char_path(dev, CharKind::Notify))
}

fn opath(p: &str) -> OwnedObjectPath {
    path_of(p).into()
}

/// The object path `p` (built from constants and hex digits, so valid; the
/// root path otherwise).
fn path_of(p: &str) -> ObjectPath<'static> {
    ObjectPath::try_from(p.to_owned())
        .unwrap_or_else(|_| ObjectPath::from_static_str_unchecked("/"))
}

/// Expand a 16/32-bit UUID to the Bluetooth base UUID; lower-case.
fn normalize_uuid(u: &str) -> String {
    let u = u.trim().to_ascii_lowercase();
    match u.len() {
        4 => format!("0000{u}-0000-1000-8000-00805f9b34fb"),
        8 => format!("{u}-0000-1000-8000-00805f9b34fb"),
        _ => u,
    }
}

fn variant_u64(v: &Variant<'_>) -> Option<u64> {
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

fn variant_str(v: &Variant<'_>) -> Option<String> {
    match v {
        Variant::Str(s) => Some(s.as_str().to_owned()),
        Variant::Variant(inner) => variant_str(inner),
        _ => None,
    }
}

fn owned(v: Variant<'_>) -> OwnedVariant {
    OwnedVariant::try_from(v).unwrap_or_else(|_| OwnedVariant::from(false))
}

/// The discovery filter (SetDiscoveryFilter).
#[derive(Debug, Clone, Default)]
struct Filter {
    uuids: Vec<String>,
    rssi: Option<i16>,
    transport: String,
    duplicate_data: bool,
    pattern: String,
}

/// One live link.
struct Link {
    generation: u64,
    writer: Arc<tokio::sync::Mutex<Box<dyn FrameWriter>>>,
    mtu: u16,
    notifying: bool,
    notify_value: Vec<u8>,
    identity_value: Vec<u8>,
    pump: Option<JoinHandle<()>>,
}

struct DevState {
    address: String,
    path: String,
    exported: bool,
    connecting: bool,
    link: Option<Link>,
    services_resolved: bool,
    trusted: bool,
    blocked: bool,
    alias: Option<String>,
    rssi: i16,
    service_data: Vec<u8>,
}

impl DevState {
    fn new(serial: &str) -> Self {
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
            rssi: DEFAULT_RSSI,
            service_data: Vec::new(),
        }
    }
}

#[derive(Default)]
struct State {
    powered: bool,
    discoverable: bool,
    pairable: bool,
    alias: String,
    discovering: BTreeSet<String>,
    filter: Filter,
    devices: BTreeMap<String, DevState>,
    fail_connects: u32,
    fail_message: String,
    connect_attempts: u64,
    generation: u64,
}

/// State shared by every object of one simulated BlueZ.
pub(crate) struct Shared {
    pub(crate) world: SimWorld,
    pub(crate) conn: Connection,
    pub(crate) bus_address: String,
    config: BluezSimConfig,
    me: Weak<Shared>,
    state: Mutex<State>,
    /// Serialises object export/removal per service.
    tree: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("bus_address", &self.bus_address)
            .finish_non_exhaustive()
    }
}

async fn emit_changed(
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

fn service_data_variant(bytes: &[u8]) -> HashMap<String, OwnedVariant> {
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

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
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

    fn matches_filter(filter: &Filter, rssi: i16) -> bool {
        if filter.transport == "bredr" {
            return false;
        }
        if let Some(min) = filter.rssi {
            if rssi < min {
                return false;
            }
        }
        filter.uuids.is_empty() || filter.uuids.iter().any(|u| *u == SERVICE_UUID.to_string())
    }

    /// Re-read the world while discovering: export new matching devices,
    /// announce changed advertisements (every exported device's RSSI and
    /// service data when `announce_all`), remove devices gone out of range.
    pub(crate) async fn refresh(&self, announce_all: bool) {
        let _tree = self.tree.lock().await;
        if self.state().discovering.is_empty() {
            return;
        }
        let mut present = BTreeSet::new();
        for dev in self.world.devices() {
            let serial = dev.serial().to_owned();
            present.insert(serial.clone());
            let adv = dev.advertisement().await;
            let bytes = adv.data.encode();
            let rssi = adv.rssi.unwrap_or(DEFAULT_RSSI);
            let (export, announce, path) = {
                let mut st = self.state();
                let filter = st.filter.clone();
                let d = st
                    .devices
                    .entry(serial.clone())
                    .or_insert_with(|| DevState::new(&serial));
                let changed = d.service_data != bytes || d.rssi != rssi;
                d.service_data = bytes.clone();
                d.rssi = rssi;
                if d.exported {
                    (false, changed || announce_all, d.path.clone())
                } else if Self::matches_filter(&filter, rssi) {
                    (true, false, d.path.clone())
                } else {
                    (false, false, d.path.clone())
                }
            };
            if export {
                let r = self
                    .conn
                    .object_server()
                    .at(
                        path.as_str(),
                        Device {
                            shared: self.me.clone(),
                            serial: serial.clone(),
                        },
                    )
                    .await;
                match r {
                    Ok(_) => {
                        if let Some(d) = self.state().devices.get_mut(&serial) {
                            d.exported = true;
                        }
                        tracing::debug!(%serial, %path, "device discovered");
                    }
                    Err(e) => tracing::warn!(%serial, error = %e, "cannot export device"),
                }
            } else if announce {
                emit_changed(
                    &self.conn,
                    &path,
                    DEVICE_IFACE,
                    vec![
                        ("RSSI", Variant::from(rssi)),
                        ("ServiceData", Variant::from(service_data_variant(&bytes))),
                    ],
                )
                .await;
            }
        }
        // Devices taken out of range disappear unless connected.
        let gone: Vec<(String, String)> = self
            .state()
            .devices
            .iter()
            .filter(|(s, d)| !present.contains(*s) && d.exported && d.link.is_none())
            .map(|(s, d)| (s.clone(), d.path.clone()))
            .collect();
        for (serial, path) in gone {
            let _ = self
                .conn
                .object_server()
                .remove::<Device, _>(path.as_str())
                .await;
            self.state().devices.remove(&serial);
        }
    }

    /// Forget the discovery sessions of clients that left the bus (BlueZ
    /// watches them too); Discovering turns false when none is left.
    async fn prune_discovery_clients(&self) {
        let senders: Vec<String> = self.state().discovering.iter().cloned().collect();
        if senders.is_empty() {
            return;
        }
        let Ok(dbus) = zbus::fdo::DBusProxy::new(&self.conn).await else {
            return;
        };
        let mut gone = Vec::new();
        for s in senders {
            match zbus::names::BusName::try_from(s.as_str()) {
                Ok(name) => {
                    if let Ok(false) = dbus.name_has_owner(name).await {
                        gone.push(s);
                    }
                }
                Err(_) => gone.push(s),
            }
        }
        if gone.is_empty() {
            return;
        }
        let now_off = {
            let mut st = self.state();
            for g in &gone {
                st.discovering.remove(g);
            }
            st.discovering.is_empty()
        };
        tracing::debug!(clients = ?gone, "discovery clients left the bus");
        if now_off {
            emit_changed(
                &self.conn,
                ADAPTER_PATH,
                ADAPTER_IFACE,
                vec![("Discovering", Variant::from(false))],
            )
            .await;
        }
    }

    async fn set_discovering(&self, sender: &str, on: bool) -> Result<(), BluezErr> {
        let (before, after) = {
            let mut st = self.state();
            let before = !st.discovering.is_empty();
            if on {
                if !st.powered {
                    return Err(BluezErr::NotReady("Resource Not Ready".into()));
                }
                if !st.discovering.insert(sender.to_owned()) {
                    return Err(BluezErr::InProgress("Operation already in progress".into()));
                }
            } else if !st.discovering.remove(sender) {
                return Err(BluezErr::Failed("No discovery started".into()));
            }
            (before, !st.discovering.is_empty())
        };
        if before != after {
            emit_changed(
                &self.conn,
                ADAPTER_PATH,
                ADAPTER_IFACE,
                vec![("Discovering", Variant::from(after))],
            )
            .await;
        }
        if on {
            self.refresh(true).await;
        }
        Ok(())
    }

    fn dev_field<T>(&self, serial: &str, f: impl FnOnce(&DevState) -> T) -> zbus::fdo::Result<T> {
        self.state()
            .devices
            .get(serial)
            .map(f)
            .ok_or_else(|| zbus::fdo::Error::UnknownObject(format!("device {serial} is gone")))
    }

    fn link_field<T>(&self, serial: &str, f: impl FnOnce(&Link) -> T) -> Option<T> {
        self.state()
            .devices
            .get(serial)
            .and_then(|d| d.link.as_ref())
            .map(f)
    }

    async fn connect(&self, serial: &str) -> Result<(), BluezErr> {
        let prepared: Result<String, BluezErr> = {
            let mut st = self.state();
            st.connect_attempts += 1;
            let fail = if st.fail_connects > 0 {
                st.fail_connects -= 1;
                Some(st.fail_message.clone())
            } else {
                None
            };
            if !st.powered {
                return Err(BluezErr::NotReady("Resource Not Ready".into()));
            }
            let d = st
                .devices
                .get_mut(serial)
                .ok_or_else(|| BluezErr::DoesNotExist("Does Not Exist".into()))?;
            if d.link.is_some() && d.services_resolved {
                return Ok(());
            }
            if d.connecting || d.link.is_some() {
                return Err(BluezErr::InProgress("In Progress".into()));
            }
            if d.blocked {
                return Err(BluezErr::Failed("Blocked".into()));
            }
            match fail {
                Some(msg) => Err(BluezErr::Failed(msg)),
                None => {
                    d.connecting = true;
                    Ok(d.path.clone())
                }
            }
        };
        let path = match prepared {
            Ok(p) => p,
            Err(e) => {
                // An injected failure takes as long as a connection attempt.
                tokio::time::sleep(self.config.connect_delay).await;
                return Err(e);
            }
        };
        tokio::time::sleep(self.config.connect_delay).await;
        let channel = match self.world.connect_with_mtu(serial, self.config.mtu) {
            Ok(c) => c,
            Err(e) => {
                if let Some(d) = self.state().devices.get_mut(serial) {
                    d.connecting = false;
                }
                return Err(BluezErr::Failed(format!("connection failed: {e}")));
            }
        };
        let BleChannel {
            mtu,
            writer,
            notifications,
            ..
        } = channel;
        let identity = match self.world.device(serial) {
            Some(d) => d.advertisement().await.data.encode(),
            None => Vec::new(),
        };
        let _tree = self.tree.lock().await;
        let generation = {
            let mut st = self.state();
            st.generation += 1;
            let generation = st.generation;
            let Some(d) = st.devices.get_mut(serial) else {
                return Err(BluezErr::DoesNotExist("Does Not Exist".into()));
            };
            d.connecting = false;
            d.link = Some(Link {
                generation,
                writer: Arc::new(tokio::sync::Mutex::new(writer)),
                mtu: u16::try_from(mtu).unwrap_or(u16::MAX),
                notifying: false,
                notify_value: Vec::new(),
                identity_value: identity,
                pump: None,
            });
            generation
        };
        emit_changed(
            &self.conn,
            &path,
            DEVICE_IFACE,
            vec![("Connected", Variant::from(true))],
        )
        .await;
        // GATT objects, as BlueZ names them.
        let srv = self.conn.object_server();
        let export = async {
            srv.at(
                service_path(&path).as_str(),
                GattService {
                    shared: self.me.clone(),
                    device: path.clone(),
                },
            )
            .await?;
            for kind in CharKind::ALL {
                srv.at(
                    char_path(&path, kind).as_str(),
                    GattChar {
                        shared: self.me.clone(),
                        serial: serial.to_owned(),
                        device: path.clone(),
                        kind,
                    },
                )
                .await?;
            }
            srv.at(
                cccd_path(&path).as_str(),
                GattDesc {
                    shared: self.me.clone(),
                    serial: serial.to_owned(),
                    device: path.clone(),
                },
            )
            .await?;
            Ok::<(), zbus::Error>(())
        };
        if let Err(e) = export.await {
            drop(_tree);
            self.teardown(serial, Some(generation)).await;
            return Err(BluezErr::Failed(format!("cannot export GATT objects: {e}")));
        }
        let pump = tokio::spawn(pump(
            self.me.clone(),
            serial.to_owned(),
            generation,
            notifications,
        ));
        {
            let mut st = self.state();
            if let Some(link) = st
                .devices
                .get_mut(serial)
                .and_then(|d| d.link.as_mut())
                .filter(|l| l.generation == generation)
            {
                link.pump = Some(pump);
            }
            if let Some(d) = st.devices.get_mut(serial) {
                d.services_resolved = true;
            }
        }
        emit_changed(
            &self.conn,
            &path,
            DEVICE_IFACE,
            vec![("ServicesResolved", Variant::from(true))],
        )
        .await;
        tracing::info!(%serial, mtu, "simulated BlueZ: connected");
        Ok(())
    }

    /// End the link of `serial` (only if it is still `generation`, when
    /// given): ServicesResolved=false, GATT objects removed, Connected=false.
    /// Returns whether a link was ended.
    pub(crate) async fn teardown(&self, serial: &str, generation: Option<u64>) -> bool {
        let _tree = self.tree.lock().await;
        let (link, path) = {
            let mut st = self.state();
            let Some(d) = st.devices.get_mut(serial) else {
                return false;
            };
            if d.link.is_none()
                || generation.is_some_and(|g| d.link.as_ref().map(|l| l.generation) != Some(g))
            {
                return false;
            }
            d.services_resolved = false;
            (d.link.take(), d.path.clone())
        };
        let Some(link) = link else { return false };
        let _ = link.writer.lock().await.disconnect().await;
        emit_changed(
            &self.conn,
            &path,
            DEVICE_IFACE,
            vec![("ServicesResolved", Variant::from(false))],
        )
        .await;
        let srv = self.conn.object_server();
        let _ = srv.remove::<GattDesc, _>(cccd_path(&path).as_str()).await;
        for kind in CharKind::ALL {
            let _ = srv
                .remove::<GattChar, _>(char_path(&path, kind).as_str())
                .await;
        }
        let _ = srv
            .remove::<GattService, _>(service_path(&path).as_str())
            .await;
        emit_changed(
            &self.conn,
            &path,
            DEVICE_IFACE,
            vec![("Connected", Variant::from(false))],
        )
        .await;
        if let Some(p) = link.pump {
            // The pump calls teardown itself when the device drops the link;
            // aborting it from inside its own task is harmless (it ends here).
            p.abort();
        }
        tracing::info!(%serial, "simulated BlueZ: disconnected");
        true
    }

    async fn on_notification(&self, serial: &str, generation: u64, frame: Vec<u8>) {
        let path = {
            let mut st = self.state();
            let Some(d) = st.devices.get_mut(serial) else {
                return;
            };
            let path = d.path.clone();
            let Some(link) = d.link.as_mut().filter(|l| l.generation == generation) else {
                return;
            };
            if !link.notifying {
                tracing::debug!(%serial, "notification dropped: notifications not enabled");
                return;
            }
            link.notify_value = frame.clone();
            path
        };
        emit_changed(
            &self.conn,
            &char_path(&path, CharKind::Notify),
            CHAR_IFACE,
            vec![("Value", Variant::from(frame))],
        )
        .await;
    }

    async fn remove_device(&self, path: &str) -> Result<(), BluezErr> {
        let serial = self
            .state()
            .devices
            .iter()
            .find(|(_, d)| d.path == path && d.exported)
            .map(|(s, _)| s.clone())
            .ok_or_else(|| BluezErr::DoesNotExist("Does Not Exist".into()))?;
        self.teardown(&serial, None).await;
        let _tree = self.tree.lock().await;
        let _ = self.conn.object_server().remove::<Device, _>(path).await;
        if let Some(d) = self.state().devices.get_mut(&serial) {
            d.exported = false;
        }
        Ok(())
    }
}

/// Carries the device's notifications to PropertiesChanged(Value); on the
/// end of the stream (the device dropped the link) tears the link down.
async fn pump(
    shared: Weak<Shared>,
    serial: String,
    generation: u64,
    mut rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
) {
    while let Some(frame) = rx.recv().await {
        let Some(sh) = shared.upgrade() else { return };
        sh.on_notification(&serial, generation, frame).await;
    }
    if let Some(sh) = shared.upgrade() {
        tracing::info!(%serial, "device dropped the link");
        sh.teardown(&serial, Some(generation)).await;
    }
}

/// While any client discovers, re-read the world every scan interval.
pub(crate) async fn discovery_ticker(shared: Weak<Shared>) {
    let interval = match shared.upgrade() {
        Some(s) => s.config.scan_interval.max(Duration::from_millis(10)),
        None => return,
    };
    let mut tick = 0u64;
    loop {
        tokio::time::sleep(interval).await;
        let Some(sh) = shared.upgrade() else { return };
        tick += 1;
        if tick % 4 == 0 {
            sh.prune_discovery_clients().await;
        }
        sh.refresh(false).await;
    }
}

fn gone() -> BluezErr {
    BluezErr::Failed("the simulated BlueZ has stopped".into())
}

fn fdo_gone() -> zbus::fdo::Error {
    zbus::fdo::Error::Failed("the simulated BlueZ has stopped".into())
}

/// `org.bluez.Adapter1` at `/org/bluez/hci0`.
pub(crate) struct Adapter {
    shared: Weak<Shared>,
}

impl Adapter {
    fn sh(&self) -> Result<Arc<Shared>, BluezErr> {
        self.shared.upgrade().ok_or_else(gone)
    }

    fn prop<T>(&self, f: impl FnOnce(&Shared, &State) -> T) -> zbus::fdo::Result<T> {
        let sh = self.shared.upgrade().ok_or_else(fdo_gone)?;
        let st = sh.state();
        Ok(f(&sh, &st))
    }

    /// Change adapter state from a property setter (zbus then sends
    /// PropertiesChanged with the getter's value).
    fn set_state(&self, f: impl FnOnce(&mut State)) -> zbus::fdo::Result<()> {
        let sh = self.shared.upgrade().ok_or_else(fdo_gone)?;
        f(&mut sh.state());
        Ok(())
    }
}

fn sender(hdr: &Header<'_>) -> String {
    hdr.sender().map(|s| s.to_string()).unwrap_or_default()
}

#[interface(name = "org.bluez.Adapter1")]
impl Adapter {
    async fn start_discovery(&self, #[zbus(header)] hdr: Header<'_>) -> Result<(), BluezErr> {
        self.sh()?.set_discovering(&sender(&hdr), true).await
    }

    async fn stop_discovery(&self, #[zbus(header)] hdr: Header<'_>) -> Result<(), BluezErr> {
        self.sh()?.set_discovering(&sender(&hdr), false).await
    }

    async fn set_discovery_filter(
        &self,
        properties: HashMap<String, OwnedVariant>,
    ) -> Result<(), BluezErr> {
        let sh = self.sh()?;
        let mut f = Filter {
            transport: "auto".into(),
            ..Filter::default()
        };
        for (key, value) in &properties {
            let v: &Variant<'_> = value;
            let bad =
                || BluezErr::InvalidArguments(format!("Invalid arguments in method call: {key}"));
            match key.as_str() {
                "UUIDs" => {
                    let Variant::Array(a) = v else {
                        return Err(bad());
                    };
                    for item in a.iter() {
                        f.uuids
                            .push(normalize_uuid(&variant_str(item).ok_or_else(bad)?));
                    }
                }
                "RSSI" => match v {
                    Variant::I16(x) => f.rssi = Some(*x),
                    _ => return Err(bad()),
                },
                "Pathloss" => {
                    variant_u64(v).ok_or_else(bad)?;
                }
                "Transport" => {
                    let t = variant_str(v).ok_or_else(bad)?;
                    if !matches!(t.as_str(), "auto" | "bredr" | "le") {
                        return Err(bad());
                    }
                    f.transport = t;
                }
                "DuplicateData" => match v {
                    Variant::Bool(b) => f.duplicate_data = *b,
                    _ => return Err(bad()),
                },
                "Discoverable" => {
                    if !matches!(v, Variant::Bool(_)) {
                        return Err(bad());
                    }
                }
                "Pattern" => f.pattern = variant_str(v).ok_or_else(bad)?,
                _ => return Err(bad()),
            }
        }
        tracing::debug!(filter = ?f, "discovery filter set");
        sh.state().filter = f;
        Ok(())
    }

    async fn get_discovery_filters(&self) -> Vec<String> {
        [
            "UUIDs",
            "RSSI",
            "Pathloss",
            "Transport",
            "DuplicateData",
            "Discoverable",
            "Pattern",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    }

    async fn remove_device(&self, device: OwnedObjectPath) -> Result<(), BluezErr> {
        self.sh()?.remove_device(device.as_str()).await
    }

    #[zbus(property)]
    fn address(&self) -> zbus::fdo::Result<String> {
        self.prop(|sh, _| sh.config.adapter_address.clone())
    }

    #[zbus(property)]
    fn address_type(&self) -> String {
        "public".into()
    }

    #[zbus(property)]
    fn name(&self) -> zbus::fdo::Result<String> {
        self.prop(|sh, _| sh.config.adapter_name.clone())
    }

    #[zbus(property)]
    fn alias(&self) -> zbus::fdo::Result<String> {
        self.prop(|_, st| st.alias.clone())
    }

    #[zbus(property)]
    fn set_alias(&self, alias: String) -> zbus::fdo::Result<()> {
        let sh = self.shared.upgrade().ok_or_else(fdo_gone)?;
        sh.state().alias = alias;
        Ok(())
    }

    #[zbus(property)]
    fn class(&self) -> u32 {
        0x000000
    }

    #[zbus(property)]
    fn powered(&self) -> zbus::fdo::Result<bool> {
        self.prop(|_, st| st.powered)
    }

    #[zbus(property)]
    async fn set_powered(&self, powered: bool) -> zbus::fdo::Result<()> {
        let sh = self.shared.upgrade().ok_or_else(fdo_gone)?;
        if !powered {
            // Powering off ends every link and discovery session. In a task:
            // removing objects waits for this property call to finish.
            tokio::spawn(async move {
                let serials: Vec<String> = sh.state().devices.keys().cloned().collect();
                for serial in serials {
                    sh.teardown(&serial, None).await;
                }
                let was = {
                    let mut st = sh.state();
                    let was = !st.discovering.is_empty();
                    st.discovering.clear();
                    was
                };
                if was {
                    emit_changed(
                        &sh.conn,
                        ADAPTER_PATH,
                        ADAPTER_IFACE,
                        vec![("Discovering", Variant::from(false))],
                    )
                    .await;
                }
            });
        }
        self.set_state(|st| st.powered = powered)
    }

    #[zbus(property)]
    fn discoverable(&self) -> zbus::fdo::Result<bool> {
        self.prop(|_, st| st.discoverable)
    }

    #[zbus(property)]
    async fn set_discoverable(&self, on: bool) -> zbus::fdo::Result<()> {
        self.set_state(|st| st.discoverable = on)
    }

    #[zbus(property)]
    fn discoverable_timeout(&self) -> u32 {
        180
    }

    #[zbus(property)]
    fn pairable(&self) -> zbus::fdo::Result<bool> {
        self.prop(|_, st| st.pairable)
    }

    #[zbus(property)]
    async fn set_pairable(&self, on: bool) -> zbus::fdo::Result<()> {
        self.set_state(|st| st.pairable = on)
    }

    #[zbus(property)]
    fn pairable_timeout(&self) -> u32 {
        0
    }

    #[zbus(property)]
    fn discovering(&self) -> zbus::fdo::Result<bool> {
        self.prop(|_, st| !st.discovering.is_empty())
    }

    #[zbus(property, name = "UUIDs")]
    fn uuids(&self) -> Vec<String> {
        vec![
            "00001800-0000-1000-8000-00805f9b34fb".into(),
            "00001801-0000-1000-8000-00805f9b34fb".into(),
        ]
    }

    #[zbus(property)]
    fn modalias(&self) -> String {
        "usb:v1D6Bp0246d0542".into()
    }

    #[zbus(property)]
    fn roles(&self) -> Vec<String> {
        vec!["central".into(), "peripheral".into()]
    }
}

/// Properties of interface `I` at `path`, if it is exported.
async fn props_of<I: Interface>(
    conn: &Connection,
    path: &str,
) -> Option<HashMap<String, OwnedVariant>> {
    let srv = conn.object_server();
    let iref = srv.interface::<_, I>(path).await.ok()?;
    let emitter = iref.signal_emitter().clone();
    let guard = iref.get().await;
    guard.get_all(srv, conn, None, &emitter).await.ok()
}

type Managed = BTreeMap<ObjectPath<'static>, BTreeMap<String, HashMap<String, OwnedVariant>>>;

/// `org.freedesktop.DBus.ObjectManager` at `/`. Unlike zbus's own, it lists
/// objects in path order (parents before children), as bluetoothd does:
/// clients such as bluetoothctl attach a GATT service only to a device they
/// have already seen.
pub(crate) struct Manager {
    shared: Weak<Shared>,
}

#[interface(name = "org.freedesktop.DBus.ObjectManager")]
impl Manager {
    async fn get_managed_objects(&self) -> zbus::fdo::Result<Managed> {
        let sh = self.shared.upgrade().ok_or_else(fdo_gone)?;
        let conn = &sh.conn;
        let mut out = Managed::new();
        let mut add = |path: &str, iface: &str, props: Option<HashMap<String, OwnedVariant>>| {
            if let Some(p) = props {
                out.entry(path_of(path))
                    .or_default()
                    .insert(iface.to_owned(), p);
            }
        };
        add(
            "/org/bluez",
            "org.bluez.AgentManager1",
            Some(HashMap::new()),
        );
        add(
            "/org/bluez",
            "org.bluez.ProfileManager1",
            Some(HashMap::new()),
        );
        add(
            ADAPTER_PATH,
            ADAPTER_IFACE,
            props_of::<Adapter>(conn, ADAPTER_PATH).await,
        );
        let devices: Vec<(String, bool)> = sh
            .state()
            .devices
            .values()
            .filter(|d| d.exported)
            .map(|d| (d.path.clone(), d.link.is_some()))
            .collect();
        for (path, linked) in devices {
            add(&path, DEVICE_IFACE, props_of::<Device>(conn, &path).await);
            if !linked {
                continue;
            }
            let svc = service_path(&path);
            add(
                &svc,
                "org.bluez.GattService1",
                props_of::<GattService>(conn, &svc).await,
            );
            for kind in CharKind::ALL {
                let c = char_path(&path, kind);
                add(&c, CHAR_IFACE, props_of::<GattChar>(conn, &c).await);
            }
            let d = cccd_path(&path);
            add(
                &d,
                "org.bluez.GattDescriptor1",
                props_of::<GattDesc>(conn, &d).await,
            );
        }
        Ok(out)
    }

    #[zbus(signal)]
    async fn interfaces_added(
        emitter: &SignalEmitter<'_>,
        object_path: ObjectPath<'_>,
        interfaces_and_properties: HashMap<&str, HashMap<&str, Variant<'_>>>,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn interfaces_removed(
        emitter: &SignalEmitter<'_>,
        object_path: ObjectPath<'_>,
        interfaces: Vec<&str>,
    ) -> zbus::Result<()>;
}

/// `org.bluez.AgentManager1` at `/org/bluez` (agents are accepted and never
/// called: the simulated devices need no pairing).
pub(crate) struct AgentManager;

#[interface(name = "org.bluez.AgentManager1")]
impl AgentManager {
    async fn register_agent(
        &self,
        agent: OwnedObjectPath,
        capability: String,
    ) -> Result<(), BluezErr> {
        const CAPS: [&str; 6] = [
            "",
            "DisplayOnly",
            "DisplayYesNo",
            "KeyboardOnly",
            "NoInputNoOutput",
            "KeyboardDisplay",
        ];
        if !CAPS.contains(&capability.as_str()) {
            return Err(BluezErr::InvalidArguments(format!(
                "Invalid arguments in method call: capability {capability}"
            )));
        }
        tracing::debug!(agent = %agent.as_str(), %capability, "agent registered");
        Ok(())
    }

    async fn unregister_agent(&self, agent: OwnedObjectPath) -> Result<(), BluezErr> {
        tracing::debug!(agent = %agent.as_str(), "agent unregistered");
        Ok(())
    }

    async fn request_default_agent(&self, agent: OwnedObjectPath) -> Result<(), BluezErr> {
        tracing::debug!(agent = %agent.as_str(), "default agent");
        Ok(())
    }
}

/// `org.bluez.ProfileManager1` at `/org/bluez` (profiles accepted, unused).
pub(crate) struct ProfileManager;

#[interface(name = "org.bluez.ProfileManager1")]
impl ProfileManager {
    async fn register_profile(
        &self,
        profile: OwnedObjectPath,
        uuid: String,
        _options: HashMap<String, OwnedVariant>,
    ) -> Result<(), BluezErr> {
        tracing::debug!(profile = %profile.as_str(), %uuid, "profile registered");
        Ok(())
    }

    async fn unregister_profile(&self, profile: OwnedObjectPath) -> Result<(), BluezErr> {
        tracing::debug!(profile = %profile.as_str(), "profile unregistered");
        Ok(())
    }
}

/// `org.bluez.Device1`, one per simulated CloudBoxx.
pub(crate) struct Device {
    shared: Weak<Shared>,
    serial: String,
}

impl Device {
    fn sh(&self) -> Result<Arc<Shared>, BluezErr> {
        self.shared.upgrade().ok_or_else(gone)
    }

    fn field<T>(&self, f: impl FnOnce(&DevState) -> T) -> zbus::fdo::Result<T> {
        self.shared
            .upgrade()
            .ok_or_else(fdo_gone)?
            .dev_field(&self.serial, f)
    }

    /// Change device state from a property setter (zbus then sends
    /// PropertiesChanged with the getter's value).
    fn set_dev(&self, f: impl FnOnce(&mut DevState)) -> zbus::fdo::Result<()> {
        let sh = self.shared.upgrade().ok_or_else(fdo_gone)?;
        let mut st = sh.state();
        let d = st
            .devices
            .get_mut(&self.serial)
            .ok_or_else(|| zbus::fdo::Error::UnknownObject(self.serial.clone()))?;
        f(d);
        Ok(())
    }
}

#[interface(name = "org.bluez.Device1")]
impl Device {
    async fn connect(&self) -> Result<(), BluezErr> {
        self.sh()?.connect(&self.serial).await
    }

    async fn disconnect(&self) -> Result<(), BluezErr> {
        let sh = self.sh()?;
        if !sh.is_connected(&self.serial) {
            return Err(BluezErr::NotConnected("Not Connected".into()));
        }
        sh.teardown(&self.serial, None).await;
        Ok(())
    }

    async fn connect_profile(&self, uuid: String) -> Result<(), BluezErr> {
        Err(BluezErr::NotSupported(format!(
            "Operation is not supported: profile {uuid}"
        )))
    }

    async fn disconnect_profile(&self, uuid: String) -> Result<(), BluezErr> {
        Err(BluezErr::NotSupported(format!(
            "Operation is not supported: profile {uuid}"
        )))
    }

    async fn pair(&self) -> Result<(), BluezErr> {
        // CloudBoxx security is at the application layer (grants); the
        // simulated unit, like the real one, does not bond.
        Err(BluezErr::NotSupported(
            "Operation is not supported: the device does not pair".into(),
        ))
    }

    async fn cancel_pairing(&self) -> Result<(), BluezErr> {
        Err(BluezErr::DoesNotExist("Does Not Exist".into()))
    }

    #[zbus(property)]
    fn address(&self) -> zbus::fdo::Result<String> {
        self.field(|d| d.address.clone())
    }

    #[zbus(property)]
    fn address_type(&self) -> String {
        "random".into()
    }

    #[zbus(property)]
    fn name(&self) -> String {
        self.serial.clone()
    }

    #[zbus(property)]
    fn alias(&self) -> zbus::fdo::Result<String> {
        self.field(|d| d.alias.clone().unwrap_or_else(|| self.serial.clone()))
    }

    #[zbus(property)]
    fn set_alias(&self, alias: String) -> zbus::fdo::Result<()> {
        let sh = self.shared.upgrade().ok_or_else(fdo_gone)?;
        if let Some(d) = sh.state().devices.get_mut(&self.serial) {
            d.alias = (!alias.is_empty()).then_some(alias);
        }
        Ok(())
    }

    #[zbus(property)]
    fn paired(&self) -> bool {
        false
    }

    #[zbus(property)]
    fn bonded(&self) -> bool {
        false
    }

    #[zbus(property)]
    fn trusted(&self) -> zbus::fdo::Result<bool> {
        self.field(|d| d.trusted)
    }

    #[zbus(property)]
    async fn set_trusted(&self, on: bool) -> zbus::fdo::Result<()> {
        self.set_dev(|d| d.trusted = on)
    }

    #[zbus(property)]
    fn blocked(&self) -> zbus::fdo::Result<bool> {
        self.field(|d| d.blocked)
    }

    #[zbus(property)]
    async fn set_blocked(&self, on: bool) -> zbus::fdo::Result<()> {
        self.set_dev(|d| d.blocked = on)?;
        if on {
            // BlueZ drops the link of a device that gets blocked (in a task:
            // removing objects waits for this property call to finish).
            let sh = self.shared.upgrade().ok_or_else(fdo_gone)?;
            let serial = self.serial.clone();
            tokio::spawn(async move {
                sh.teardown(&serial, None).await;
            });
        }
        Ok(())
    }

    #[zbus(property)]
    fn legacy_pairing(&self) -> bool {
        false
    }

    #[zbus(property, name = "RSSI")]
    fn rssi(&self) -> zbus::fdo::Result<i16> {
        self.field(|d| d.rssi)
    }

    #[zbus(property)]
    fn connected(&self) -> zbus::fdo::Result<bool> {
        self.field(|d| d.link.is_some())
    }

    #[zbus(property, name = "UUIDs")]
    fn uuids(&self) -> Vec<String> {
        vec![SERVICE_UUID.to_string()]
    }

    #[zbus(property)]
    fn adapter(&self) -> OwnedObjectPath {
        opath(ADAPTER_PATH)
    }

    #[zbus(property)]
    fn service_data(&self) -> zbus::fdo::Result<HashMap<String, OwnedVariant>> {
        self.field(|d| service_data_variant(&d.service_data))
    }

    #[zbus(property)]
    fn services_resolved(&self) -> zbus::fdo::Result<bool> {
        self.field(|d| d.services_resolved)
    }
}

/// `org.bluez.GattService1`: the CloudBoxx service.
pub(crate) struct GattService {
    shared: Weak<Shared>,
    device: String,
}

#[interface(name = "org.bluez.GattService1")]
impl GattService {
    #[zbus(property, name = "UUID")]
    fn uuid(&self) -> String {
        let _ = &self.shared;
        SERVICE_UUID.to_string()
    }

    #[zbus(property)]
    fn primary(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn device(&self) -> OwnedObjectPath {
        opath(&self.device)
    }

    #[zbus(property)]
    fn includes(&self) -> Vec<OwnedObjectPath> {
        Vec::new()
    }

    #[zbus(property)]
    fn handle(&self) -> u16 {
        SERVICE_HANDLE
    }
}

/// Parsed ReadValue/WriteValue options.
struct Options {
    offset: usize,
    write_type: Option<String>,
}

fn parse_options(options: &HashMap<String, OwnedVariant>) -> Result<Options, BluezErr> {
    let mut out = Options {
        offset: 0,
        write_type: None,
    };
    for (key, value) in options {
        let v: &Variant<'_> = value;
        let bad = || BluezErr::InvalidArguments(format!("Invalid arguments in method call: {key}"));
        match key.as_str() {
            "offset" => {
                out.offset = usize::try_from(variant_u64(v).ok_or_else(bad)?).map_err(|_| bad())?
            }
            "type" => out.write_type = Some(variant_str(v).ok_or_else(bad)?),
            // Other keys (device, link, mtu, prepare-authorize, …) are
            // accepted and ignored, as bluetoothd does for a client's call.
            _ => {}
        }
    }
    Ok(out)
}

/// `org.bluez.GattCharacteristic1`: write, notify or identity.
pub(crate) struct GattChar {
    shared: Weak<Shared>,
    serial: String,
    device: String,
    kind: CharKind,
}

impl GattChar {
    fn sh(&self) -> Result<Arc<Shared>, BluezErr> {
        self.shared.upgrade().ok_or_else(gone)
    }

    fn link<T>(&self, f: impl FnOnce(&Link) -> T) -> Option<T> {
        self.shared.upgrade()?.link_field(&self.serial, f)
    }

    async fn set_notifying(&self, on: bool) -> Result<(), BluezErr> {
        let sh = self.sh()?;
        if self.kind != CharKind::Notify {
            return Err(BluezErr::NotSupported("Operation is not supported".into()));
        }
        let changed = {
            let mut st = sh.state();
            let link = st
                .devices
                .get_mut(&self.serial)
                .and_then(|d| d.link.as_mut())
                .ok_or_else(|| BluezErr::NotConnected("Not connected".into()))?;
            let changed = link.notifying != on;
            link.notifying = on;
            changed
        };
        if changed {
            emit_changed(
                &sh.conn,
                &char_path(&self.device, self.kind),
                CHAR_IFACE,
                vec![("Notifying", Variant::from(on))],
            )
            .await;
        }
        Ok(())
    }
}

#[interface(name = "org.bluez.GattCharacteristic1", spawn = false)]
impl GattChar {
    async fn read_value(
        &self,
        options: HashMap<String, OwnedVariant>,
    ) -> Result<Vec<u8>, BluezErr> {
        let opts = parse_options(&options)?;
        if self.kind != CharKind::Identity {
            return Err(BluezErr::NotPermitted("Read not permitted".into()));
        }
        let sh = self.sh()?;
        if !sh.is_connected(&self.serial) {
            return Err(BluezErr::NotConnected("Not connected".into()));
        }
        // The identity characteristic carries the current advertisement.
        let value = match sh.world.device(&self.serial) {
            Some(d) => d.advertisement().await.data.encode(),
            None => return Err(BluezErr::Failed("device out of range".into())),
        };
        if opts.offset > value.len() {
            return Err(BluezErr::InvalidOffset("Invalid offset".into()));
        }
        {
            let mut st = sh.state();
            if let Some(link) = st
                .devices
                .get_mut(&self.serial)
                .and_then(|d| d.link.as_mut())
            {
                link.identity_value = value.clone();
            }
        }
        Ok(value[opts.offset..].to_vec())
    }

    async fn write_value(
        &self,
        value: Vec<u8>,
        options: HashMap<String, OwnedVariant>,
    ) -> Result<(), BluezErr> {
        let opts = parse_options(&options)?;
        if self.kind != CharKind::Write {
            return Err(BluezErr::NotPermitted("Write not permitted".into()));
        }
        match opts.write_type.as_deref() {
            None | Some("command") | Some("request") => {}
            Some("reliable") => {
                return Err(BluezErr::NotSupported("Operation is not supported".into()))
            }
            Some(other) => {
                return Err(BluezErr::InvalidArguments(format!(
                    "Invalid arguments in method call: type {other}"
                )))
            }
        }
        if opts.offset != 0 {
            return Err(BluezErr::InvalidOffset("Invalid offset".into()));
        }
        let Some((writer, mtu)) = self.link(|l| (l.writer.clone(), l.mtu)) else {
            return Err(BluezErr::NotConnected("Not connected".into()));
        };
        let max = usize::from(mtu).saturating_sub(3);
        if value.len() > max {
            return Err(BluezErr::InvalidValueLength(format!(
                "Invalid Length: {} bytes, the link carries at most MTU - 3 = {max}",
                value.len()
            )));
        }
        let mut w = writer.lock().await;
        w.write(&value)
            .await
            .map_err(|e| BluezErr::NotConnected(format!("Not connected: {e}")))
    }

    async fn start_notify(&self) -> Result<(), BluezErr> {
        self.set_notifying(true).await
    }

    async fn stop_notify(&self) -> Result<(), BluezErr> {
        self.set_notifying(false).await
    }

    async fn acquire_write(&self, _options: HashMap<String, OwnedVariant>) -> Result<(), BluezErr> {
        Err(BluezErr::NotSupported("Operation is not supported".into()))
    }

    async fn acquire_notify(
        &self,
        _options: HashMap<String, OwnedVariant>,
    ) -> Result<(), BluezErr> {
        Err(BluezErr::NotSupported("Operation is not supported".into()))
    }

    #[zbus(property, name = "UUID")]
    fn uuid(&self) -> String {
        self.kind.uuid()
    }

    #[zbus(property)]
    fn service(&self) -> OwnedObjectPath {
        opath(&service_path(&self.device))
    }

    #[zbus(property)]
    fn value(&self) -> Vec<u8> {
        self.link(|l| match self.kind {
            CharKind::Notify => l.notify_value.clone(),
            CharKind::Identity => l.identity_value.clone(),
            CharKind::Write => Vec::new(),
        })
        .unwrap_or_default()
    }

    #[zbus(property)]
    fn notifying(&self) -> bool {
        self.kind == CharKind::Notify && self.link(|l| l.notifying).unwrap_or(false)
    }

    #[zbus(property)]
    fn flags(&self) -> Vec<String> {
        self.kind.flags()
    }

    #[zbus(property, name = "MTU")]
    fn mtu(&self) -> u16 {
        self.link(|l| l.mtu).unwrap_or(23)
    }

    #[zbus(property)]
    fn handle(&self) -> u16 {
        self.kind.handle() + 1
    }
}

/// `org.bluez.GattDescriptor1`: the notify characteristic's CCCD.
pub(crate) struct GattDesc {
    shared: Weak<Shared>,
    serial: String,
    device: String,
}

#[interface(name = "org.bluez.GattDescriptor1")]
impl GattDesc {
    async fn read_value(
        &self,
        options: HashMap<String, OwnedVariant>,
    ) -> Result<Vec<u8>, BluezErr> {
        let opts = parse_options(&options)?;
        let v = self.value();
        if opts.offset > v.len() {
            return Err(BluezErr::InvalidOffset("Invalid offset".into()));
        }
        Ok(v[opts.offset..].to_vec())
    }

    async fn write_value(
        &self,
        _value: Vec<u8>,
        _options: HashMap<String, OwnedVariant>,
    ) -> Result<(), BluezErr> {
        // BlueZ keeps the CCCD to itself: clients use StartNotify/StopNotify.
        Err(BluezErr::NotPermitted("Write not permitted".into()))
    }

    #[zbus(property, name = "UUID")]
    fn uuid(&self) -> String {
        CCCD_UUID.into()
    }

    #[zbus(property)]
    fn characteristic(&self) -> OwnedObjectPath {
        opath(&char_path(&self.device, CharKind::Notify))
    }

    #[zbus(property)]
    fn value(&self) -> Vec<u8> {
        let on = self
            .shared
            .upgrade()
            .and_then(|s| s.link_field(&self.serial, |l| l.notifying))
            .unwrap_or(false);
        vec![u8::from(on), 0]
    }

    #[zbus(property)]
    fn flags(&self) -> Vec<String> {
        vec!["read".into(), "write".into()]
    }

    #[zbus(property)]
    fn handle(&self) -> u16 {
        CCCD_HANDLE
    }
}
