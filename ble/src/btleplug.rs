//! The real BLE driver: [`BtleplugConnector`] implements [`BleConnector`] on
//! btleplug (BlueZ over D-Bus on Linux, CoreBluetooth on macOS/iOS, WinRT on
//! Windows, the droidplug JNI bridge on Android). It scans for the CloudBoxx
//! service, connects by advertised serial with bounded retries, resolves the
//! GATT layout of [`crate::uuids`], forwards notifications into the
//! [`BleChannel`] and closes it when the platform reports a disconnect. No
//! business rules live here: the phone-side client and core's workflow decide
//! what a dropped link means. Architecture and platform notes:
//! `docs/ble-driver.md`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use btleplug::api::{
    Central, CentralEvent, Characteristic, Manager as _, Peripheral as _, PeripheralProperties,
    ScanFilter, WriteType,
};
use btleplug::platform::{Adapter, Manager, Peripheral};
use futures_util::StreamExt;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::frame::{ATT_HEADER_LEN, MAX_MTU, MIN_MTU};
use crate::transport::{
    ensure_frame_fits, Advertisement, BleChannel, BleConnector, BoxFuture, FrameWriter,
};
use crate::uuids::{
    AdvertData, IDENTITY_CHAR_UUID, NOTIFY_CHAR_UUID, SERVICE_UUID, WRITE_CHAR_UUID,
};
use crate::TransportError;

/// Settings of the btleplug driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtleplugConfig {
    /// Adapter to use by name as the platform reports it (BlueZ: `hci0`);
    /// `None`: the first adapter.
    pub adapter: Option<String>,
    /// How long `connect` scans for the advertised serial before giving up
    /// with [`TransportError::NotFound`].
    pub scan_timeout: Duration,
    /// Limit of one connection attempt (link up and services resolved).
    pub connect_timeout: Duration,
    /// Connection attempts per `connect` call (at least 1).
    pub connect_attempts: u32,
    /// Pause between connection attempts.
    pub retry_delay: Duration,
    /// Notifications buffered towards the client before the forwarder waits.
    pub notification_buffer: usize,
}

impl Default for BtleplugConfig {
    /// First adapter, 10 s scan, 10 s per connection attempt, 3 attempts
    /// 500 ms apart, 256 buffered notifications.
    fn default() -> Self {
        Self {
            adapter: None,
            scan_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            connect_attempts: 3,
            retry_delay: Duration::from_millis(500),
            notification_buffer: 256,
        }
    }
}

/// Failures of the driver itself (before or beside a CloudBoxx link).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BtleplugError {
    /// The platform has no Bluetooth adapter (or the Bluetooth service is not
    /// running / not reachable).
    #[error("no Bluetooth adapter available ({0}); check that Bluetooth is on and the Bluetooth service (BlueZ on Linux) is running")]
    NoAdapter(String),
    /// The configured adapter does not exist.
    #[error("Bluetooth adapter {wanted:?} not found; available: {available}")]
    AdapterNotFound {
        /// Name asked for.
        wanted: String,
        /// Names the platform reported, comma separated.
        available: String,
    },
    /// The connected device lacks a characteristic of the CloudBoxx service.
    #[error("CloudBoxx {serial}: the {role} characteristic {uuid} is missing from service {service}; the unit does not speak this protocol version (update its firmware)")]
    MissingCharacteristic {
        /// Device serial.
        serial: String,
        /// `write`, `notify` or `identity`.
        role: &'static str,
        /// Characteristic UUID.
        uuid: Uuid,
        /// Service UUID.
        service: Uuid,
    },
    /// The identity characteristic names another unit than the advertisement.
    #[error("CloudBoxx {expected}: the identity characteristic reads serial {found:?}; connected to the wrong unit, move closer to the right one and retry")]
    WrongIdentity {
        /// Serial asked for.
        expected: String,
        /// Serial read.
        found: String,
    },
    /// Any other platform failure, with its text.
    #[error("Bluetooth: {0}")]
    Platform(String),
}

impl From<BtleplugError> for TransportError {
    fn from(e: BtleplugError) -> Self {
        TransportError::Io(e.to_string())
    }
}

/// Maps a btleplug error to the transport seam's error. BlueZ reports most
/// failures as D-Bus errors inside `Other`; their names are recognised too.
pub fn map_error(e: &btleplug::Error, serial: &str) -> TransportError {
    use btleplug::Error as E;
    match e {
        E::NotConnected => TransportError::Disconnected,
        E::TimedOut(_) => TransportError::Timeout,
        E::DeviceNotFound => TransportError::NotFound(serial.to_owned()),
        E::Other(inner) => map_platform_text(&format!("{inner} {inner:?}"), serial),
        other => TransportError::Io(other.to_string()),
    }
}

/// Classifies the text of a platform error (D-Bus error names and messages).
fn map_platform_text(text: &str, serial: &str) -> TransportError {
    let lower = text.to_ascii_lowercase();
    if lower.contains("org.bluez.error.notconnected") || lower.contains("not connected") {
        TransportError::Disconnected
    } else if lower.contains("timed out")
        || lower.contains("timeout")
        || lower.contains("org.freedesktop.dbus.error.noreply")
    {
        TransportError::Timeout
    } else if lower.contains("org.bluez.error.doesnotexist")
        || lower.contains("org.freedesktop.dbus.error.unknownobject")
    {
        TransportError::NotFound(serial.to_owned())
    } else {
        TransportError::Io(first_line(text).to_owned())
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text).trim()
}

/// The CloudBoxx advertisement in a peripheral's service data, if any.
/// `Err` carries why the service data of [`SERVICE_UUID`] did not decode.
pub fn decode_advert(
    service_data: &HashMap<Uuid, Vec<u8>>,
) -> Option<Result<AdvertData, crate::DecodeError>> {
    service_data
        .get(&SERVICE_UUID)
        .map(|b| AdvertData::decode(b))
}

fn advertisement_of(
    id: &dyn std::fmt::Debug,
    props: &PeripheralProperties,
) -> Option<Advertisement> {
    match decode_advert(&props.service_data)? {
        Ok(data) => Some(Advertisement {
            data,
            rssi: props.rssi,
        }),
        Err(e) => {
            tracing::warn!(peripheral = ?id, error = %e, "ignoring a CloudBoxx advertisement whose service data does not decode");
            None
        }
    }
}

/// A [`BleConnector`] on the platform's Bluetooth stack through btleplug.
pub struct BtleplugConnector {
    adapter: Adapter,
    adapter_name: String,
    config: BtleplugConfig,
}

impl std::fmt::Debug for BtleplugConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BtleplugConnector")
            .field("adapter", &self.adapter_name)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The adapter name out of `adapter_info` (BlueZ: `"hci0 (usb:v1D6Bp0246d0540)"`).
fn adapter_name(info: &str) -> &str {
    info.split_whitespace().next().unwrap_or(info)
}

impl BtleplugConnector {
    /// Opens the platform's Bluetooth manager and picks the adapter. On
    /// Linux the D-Bus system bus is taken from `DBUS_SYSTEM_BUS_ADDRESS`
    /// (default `/run/dbus/system_bus_socket`) at this call.
    pub async fn new(config: BtleplugConfig) -> Result<Self, BtleplugError> {
        let manager = Manager::new()
            .await
            .map_err(|e| BtleplugError::NoAdapter(e.to_string()))?;
        let adapters = manager
            .adapters()
            .await
            .map_err(|e| BtleplugError::NoAdapter(e.to_string()))?;
        let mut named = Vec::new();
        for adapter in adapters {
            let info = adapter
                .adapter_info()
                .await
                .map_err(|e| BtleplugError::Platform(e.to_string()))?;
            named.push((adapter_name(&info).to_owned(), adapter));
        }
        let chosen = match &config.adapter {
            None => named.into_iter().next(),
            Some(wanted) => {
                let available: Vec<String> = named.iter().map(|(n, _)| n.clone()).collect();
                let found = named.into_iter().find(|(n, _)| n == wanted);
                if found.is_none() {
                    return Err(BtleplugError::AdapterNotFound {
                        wanted: wanted.clone(),
                        available: if available.is_empty() {
                            "none".to_owned()
                        } else {
                            available.join(", ")
                        },
                    });
                }
                found
            }
        };
        let (adapter_name, adapter) =
            chosen.ok_or_else(|| BtleplugError::NoAdapter("the platform lists none".to_owned()))?;
        tracing::info!(adapter = %adapter_name, "btleplug adapter opened");
        Ok(Self {
            adapter,
            adapter_name,
            config,
        })
    }

    /// Name of the adapter in use.
    pub fn adapter_name(&self) -> &str {
        &self.adapter_name
    }

    /// The settings.
    pub fn config(&self) -> &BtleplugConfig {
        &self.config
    }

    /// Known peripherals advertising the CloudBoxx service, by serial.
    async fn known(&self) -> Result<BTreeMap<String, (Peripheral, Advertisement)>, TransportError> {
        let mut out = BTreeMap::new();
        let peripherals = self
            .adapter
            .peripherals()
            .await
            .map_err(|e| map_error(&e, ""))?;
        for p in peripherals {
            let Ok(Some(props)) = p.properties().await else {
                continue;
            };
            if let Some(ad) = advertisement_of(&p.id(), &props) {
                out.insert(ad.data.serial.clone(), (p, ad));
            }
        }
        Ok(out)
    }

    async fn start_scan(&self) -> Result<(), TransportError> {
        self.adapter
            .start_scan(ScanFilter {
                services: vec![SERVICE_UUID],
            })
            .await
            .map_err(|e| map_error(&e, ""))
    }

    async fn stop_scan(&self) {
        if let Err(e) = self.adapter.stop_scan().await {
            tracing::debug!(error = %e, "stopping the scan failed");
        }
    }

    /// Scans until the peripheral advertising `serial` shows up.
    async fn find(&self, serial: &str) -> Result<Peripheral, TransportError> {
        // A known peripheral (a reconnect, or one a scan already found) is
        // used at once, without subscribing to adapter events: that is one
        // D-Bus call less before the link is up.
        if let Some((p, _)) = self.known().await?.remove(serial) {
            return Ok(p);
        }
        let mut events = self
            .adapter
            .events()
            .await
            .map_err(|e| map_error(&e, serial))?;
        // Subscribed now: look again, so a peripheral that appeared between
        // the first look and the subscription is not waited for.
        if let Some((p, _)) = self.known().await?.remove(serial) {
            return Ok(p);
        }
        self.start_scan().await?;
        let found = tokio::time::timeout(self.config.scan_timeout, async {
            while let Some(event) = events.next().await {
                let id = match &event {
                    CentralEvent::ServiceDataAdvertisement { id, service_data } => {
                        match decode_advert(service_data) {
                            Some(Ok(ad)) if ad.serial == serial => id.clone(),
                            Some(Err(e)) => {
                                tracing::warn!(peripheral = ?id, error = %e, "ignoring an undecodable CloudBoxx advertisement");
                                continue;
                            }
                            _ => continue,
                        }
                    }
                    CentralEvent::DeviceDiscovered(id) | CentralEvent::DeviceUpdated(id) => {
                        id.clone()
                    }
                    _ => continue,
                };
                let Ok(p) = self.adapter.peripheral(&id).await else {
                    continue;
                };
                let Ok(Some(props)) = p.properties().await else {
                    continue;
                };
                if advertisement_of(&id, &props).is_some_and(|a| a.data.serial == serial) {
                    return Some(p);
                }
            }
            None
        })
        .await;
        self.stop_scan().await;
        match found {
            Ok(Some(p)) => Ok(p),
            _ => Err(TransportError::NotFound(serial.to_owned())),
        }
    }

    /// One connection attempt: link up and GATT services resolved.
    async fn try_connect(&self, p: &Peripheral, serial: &str) -> Result<(), TransportError> {
        let attempt = async {
            if !p.is_connected().await.unwrap_or(false) {
                p.connect().await.map_err(|e| map_error(&e, serial))?;
            }
            p.discover_services()
                .await
                .map_err(|e| map_error(&e, serial))?;
            if !p.services().iter().any(|s| s.uuid == SERVICE_UUID) {
                return Err(TransportError::Io(format!(
                    "CloudBoxx {serial}: connected but its GATT service {SERVICE_UUID} did not resolve"
                )));
            }
            Ok(())
        };
        match tokio::time::timeout(self.config.connect_timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(TransportError::Timeout),
        }
    }

    async fn open(&self, serial: &str) -> Result<BleChannel, TransportError> {
        let peripheral = self.find(serial).await?;
        let attempts = self.config.connect_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_connect(&peripheral, serial).await {
                Ok(()) => break,
                Err(e) if attempt < attempts => {
                    tracing::warn!(serial, attempt, error = %e, "connection attempt failed; retrying");
                    if let Err(d) = peripheral.disconnect().await {
                        tracing::debug!(error = %d, "cleanup disconnect failed");
                    }
                    tokio::time::sleep(self.config.retry_delay).await;
                }
                Err(e) => {
                    tracing::warn!(serial, attempt, error = %e, "giving up connecting");
                    if let Err(d) = peripheral.disconnect().await {
                        tracing::debug!(error = %d, "cleanup disconnect failed");
                    }
                    return Err(e);
                }
            }
        }
        match self.attach(peripheral.clone(), serial).await {
            Ok(channel) => Ok(channel),
            Err(e) => {
                if let Err(d) = peripheral.disconnect().await {
                    tracing::debug!(error = %d, "cleanup disconnect failed");
                }
                Err(e)
            }
        }
    }

    /// Resolves the characteristics, subscribes and starts the forwarder.
    async fn attach(&self, p: Peripheral, serial: &str) -> Result<BleChannel, TransportError> {
        let chars = p.characteristics();
        let find = |uuid: Uuid, role: &'static str| {
            chars
                .iter()
                .find(|c| c.service_uuid == SERVICE_UUID && c.uuid == uuid)
                .cloned()
                .ok_or_else(|| BtleplugError::MissingCharacteristic {
                    serial: serial.to_owned(),
                    role,
                    uuid,
                    service: SERVICE_UUID,
                })
        };
        let write = find(WRITE_CHAR_UUID, "write")?;
        let notify = find(NOTIFY_CHAR_UUID, "notify")?;
        let identity = find(IDENTITY_CHAR_UUID, "identity")?;
        // The identity read and the subscription are independent D-Bus
        // calls: overlapping them takes one round trip less before the first
        // write, so it more often makes the link's first connection event.
        // A wrong unit is refused before the forwarder starts (and `open`
        // disconnects it).
        let check_identity = async {
            match p.read(&identity).await {
                Ok(bytes) => match AdvertData::decode(&bytes) {
                    Ok(id) if id.serial != serial => {
                        return Err(TransportError::from(BtleplugError::WrongIdentity {
                            expected: serial.to_owned(),
                            found: id.serial,
                        }))
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(serial, error = %e, "identity characteristic does not decode")
                    }
                },
                Err(e) => tracing::warn!(serial, error = %e, "identity characteristic unreadable"),
            }
            Ok(())
        };
        // Streams first, then subscribe: no early notification or disconnect is missed.
        let subscribe = async {
            let (events, notifications) = tokio::join!(self.adapter.events(), p.notifications());
            let events = events.map_err(|e| map_error(&e, serial))?;
            let notifications = notifications.map_err(|e| map_error(&e, serial))?;
            p.subscribe(&notify)
                .await
                .map_err(|e| map_error(&e, serial))?;
            Ok::<_, TransportError>((events, notifications))
        };
        let (checked, subscribed) = tokio::join!(check_identity, subscribe);
        checked?;
        let (events, notifications) = subscribed?;
        let mtu = platform_mtu(p.mtu(), serial);

        let (tx, rx) = mpsc::channel(self.config.notification_buffer.max(1));
        let (stop_tx, stop_rx) = oneshot::channel();
        let gone = Arc::new(AtomicBool::new(false));
        tokio::spawn(forward(
            p.clone(),
            events,
            notifications,
            tx,
            stop_rx,
            gone.clone(),
            serial.to_owned(),
        ));
        tracing::info!(serial, mtu, adapter = %self.adapter_name, "CloudBoxx connected");
        Ok(BleChannel {
            serial: serial.to_owned(),
            mtu,
            writer: Box::new(BtleplugWriter {
                peripheral: p,
                characteristic: write,
                max_frame: mtu - ATT_HEADER_LEN,
                serial: serial.to_owned(),
                gone,
                stop: Some(stop_tx),
            }),
            notifications: rx,
        })
    }
}

/// The ATT MTU to use from what the platform reports: BlueZ (the GATT
/// characteristic `MTU` property), CoreBluetooth (maximum write length + 3),
/// WinRT and Android report the negotiated value; 23 when unknown.
fn platform_mtu(reported: u16, serial: &str) -> usize {
    let reported = usize::from(reported);
    if reported <= MIN_MTU {
        tracing::info!(
            serial,
            reported,
            "platform reports no MTU above the minimum; using {MIN_MTU}"
        );
    }
    reported.clamp(MIN_MTU, MAX_MTU)
}

type EventStream = std::pin::Pin<Box<dyn futures_util::Stream<Item = CentralEvent> + Send>>;
type NotificationStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = btleplug::api::ValueNotification> + Send>>;

/// Forwards notifications of the notify characteristic until the platform
/// reports the link down, the client drops its receiver or disconnects.
async fn forward(
    p: Peripheral,
    mut events: EventStream,
    mut notifications: NotificationStream,
    tx: mpsc::Sender<Vec<u8>>,
    mut stop: oneshot::Receiver<()>,
    gone: Arc<AtomicBool>,
    serial: String,
) {
    let id = p.id();
    let mut disconnect = false;
    loop {
        tokio::select! {
            n = notifications.next() => match n {
                Some(n) if n.uuid == NOTIFY_CHAR_UUID => {
                    if tx.send(n.value).await.is_err() {
                        disconnect = true;
                        break;
                    }
                }
                Some(_) => {}
                None => {
                    tracing::info!(serial, "notification stream ended");
                    break;
                }
            },
            e = events.next() => match e {
                Some(CentralEvent::DeviceDisconnected(d)) if d == id => {
                    tracing::info!(serial, "CloudBoxx disconnected");
                    break;
                }
                Some(_) => {}
                None => {
                    tracing::info!(serial, "adapter event stream ended");
                    break;
                }
            },
            _ = &mut stop => {
                disconnect = true;
                break;
            }
            () = tx.closed() => {
                disconnect = true;
                break;
            }
        }
    }
    gone.store(true, Ordering::SeqCst);
    drop(tx);
    if disconnect {
        if let Err(e) = p.disconnect().await {
            tracing::debug!(serial, error = %e, "disconnect failed");
        }
    }
}

struct BtleplugWriter {
    peripheral: Peripheral,
    characteristic: Characteristic,
    max_frame: usize,
    serial: String,
    gone: Arc<AtomicBool>,
    stop: Option<oneshot::Sender<()>>,
}

impl FrameWriter for BtleplugWriter {
    fn write<'a>(&'a mut self, frame: &'a [u8]) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            ensure_frame_fits(frame, self.max_frame)?;
            if self.gone.load(Ordering::SeqCst) || self.stop.is_none() {
                return Err(TransportError::Disconnected);
            }
            self.peripheral
                .write(&self.characteristic, frame, WriteType::WithoutResponse)
                .await
                .map_err(|e| map_error(&e, &self.serial))
        })
    }

    fn disconnect(&mut self) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async move {
            if let Some(stop) = self.stop.take() {
                // The forwarder disconnects and closes the notifications.
                if stop.send(()).is_err() {
                    return Ok(());
                }
            }
            Ok(())
        })
    }
}

impl BleConnector for BtleplugConnector {
    fn scan(&self, timeout: Duration) -> BoxFuture<'_, Result<Vec<Advertisement>, TransportError>> {
        Box::pin(async move {
            self.start_scan().await?;
            tokio::time::sleep(timeout).await;
            self.stop_scan().await;
            Ok(self.known().await?.into_values().map(|(_, a)| a).collect())
        })
    }

    fn connect<'a>(&'a self, serial: &'a str) -> BoxFuture<'a, Result<BleChannel, TransportError>> {
        Box::pin(self.open(serial))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn btleplug_errors_map_to_transport_errors() {
        let s = "CBX-000101";
        assert_eq!(
            map_error(&btleplug::Error::NotConnected, s),
            TransportError::Disconnected
        );
        assert_eq!(
            map_error(&btleplug::Error::TimedOut(Duration::from_secs(1)), s),
            TransportError::Timeout
        );
        assert_eq!(
            map_error(&btleplug::Error::DeviceNotFound, s),
            TransportError::NotFound(s.into())
        );
        assert_eq!(
            map_error(&btleplug::Error::PermissionDenied, s),
            TransportError::Io("Permission denied".into())
        );
        assert_eq!(
            map_error(&btleplug::Error::NotSupported("x".into()), s),
            TransportError::Io("The operation is not supported: x".into())
        );
    }

    #[test]
    fn bluez_dbus_error_texts_are_classified() {
        let s = "CBX-1";
        assert_eq!(
            map_platform_text(
                r#"Not connected Error { name: "org.bluez.Error.NotConnected" }"#,
                s
            ),
            TransportError::Disconnected
        );
        assert_eq!(
            map_platform_text("Service discovery timed out ServiceDiscoveryTimedOut", s),
            TransportError::Timeout
        );
        assert_eq!(
            map_platform_text(
                r#"Method "Connect" doesn't exist Error { name: "org.freedesktop.DBus.Error.UnknownObject" }"#,
                s
            ),
            TransportError::NotFound(s.into())
        );
        assert_eq!(
            map_platform_text(
                "Software caused connection abort\nError { name: \"org.bluez.Error.Failed\" }",
                s
            ),
            TransportError::Io("Software caused connection abort".into())
        );
    }

    #[test]
    fn other_errors_keep_their_text() {
        let e = btleplug::Error::Other(Box::new(std::io::Error::other(
            "le-connection-abort-by-local",
        )));
        assert_eq!(
            map_error(&e, "CBX-1"),
            TransportError::Io(
                r#"le-connection-abort-by-local Custom { kind: Other, error: "le-connection-abort-by-local" }"#
                    .into()
            )
        );
    }

    #[test]
    fn adverts_decode_only_from_the_cloudboxx_service_data() {
        let ad = AdvertData {
            protocol_version: 1,
            flags: crate::uuids::ADV_FLAG_UNBOUND,
            serial: "CBX-000101".into(),
        };
        let mut data = HashMap::new();
        assert!(decode_advert(&data).is_none(), "no service data");
        data.insert(Uuid::from_u128(0x180f), ad.encode());
        assert!(decode_advert(&data).is_none(), "another service's data");
        data.insert(SERVICE_UUID, ad.encode());
        assert_eq!(decode_advert(&data), Some(Ok(ad.clone())));
        data.insert(SERVICE_UUID, vec![1, 0, 40, b'x']);
        assert!(matches!(decode_advert(&data), Some(Err(_))), "truncated");
    }

    #[test]
    fn undecodable_adverts_are_ignored_and_good_ones_carry_rssi() {
        let id_props = |data: Vec<u8>| PeripheralProperties {
            rssi: Some(-61),
            service_data: HashMap::from([(SERVICE_UUID, data)]),
            ..PeripheralProperties::default()
        };
        let ad = AdvertData {
            protocol_version: 1,
            flags: 0,
            serial: "CBX-7".into(),
        };
        let id = "dev_00_01_02_03_04_05";
        let got = advertisement_of(&id, &id_props(ad.encode()));
        assert_eq!(
            got,
            Some(Advertisement {
                data: ad,
                rssi: Some(-61)
            })
        );
        assert_eq!(advertisement_of(&id, &id_props(vec![0xff])), None);
    }

    #[test]
    fn the_mtu_comes_from_the_platform_and_falls_back_to_23() {
        assert_eq!(platform_mtu(0, "s"), 23);
        assert_eq!(platform_mtu(23, "s"), 23);
        assert_eq!(platform_mtu(185, "s"), 185);
        assert_eq!(platform_mtu(1024, "s"), 517);
    }

    #[test]
    fn adapter_names_come_from_adapter_info() {
        assert_eq!(adapter_name("hci0 (usb:v1D6Bp0246d0540)"), "hci0");
        assert_eq!(adapter_name("hci1"), "hci1");
    }

    #[tokio::test]
    async fn without_a_bluetooth_service_new_says_there_is_no_adapter() {
        // Only this test of the crate touches the system bus address.
        std::env::set_var(
            "DBUS_SYSTEM_BUS_ADDRESS",
            "unix:path=/nonexistent/smartcontrol-test-bus",
        );
        let err = BtleplugConnector::new(BtleplugConfig::default())
            .await
            .expect_err("no bus, no adapter");
        assert!(matches!(err, BtleplugError::NoAdapter(_)), "{err}");
        assert!(err.to_string().contains("Bluetooth service"), "{err}");
    }

    #[test]
    fn the_default_config_retries_bounded() {
        let c = BtleplugConfig::default();
        assert_eq!(c.connect_attempts, 3);
        assert!(c.adapter.is_none());
    }
}
