//! The transport seam: what a BLE driver (btleplug later, the simulator, the
//! in-memory loopback here) provides to the phone-side [`crate::client`].
//!
//! A driver implements [`BleConnector`] (scan, connect by serial) and returns a
//! [`BleChannel`] per connection: the negotiated ATT MTU, a [`FrameWriter`]
//! (Write Without Response to [`crate::uuids::WRITE_CHAR_UUID`]) and a receiver
//! of notifications from [`crate::uuids::NOTIFY_CHAR_UUID`]. A closed
//! notification receiver means the link is gone. Boxed futures keep both traits
//! object-safe (`Box<dyn BleConnector>`), with no async-trait dependency.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::{mpsc, Mutex};

use crate::device::{serve, DeviceConnection, DeviceHandler};
use crate::message::PROTOCOL_VERSION;
use crate::security::{DeviceIdentity, DeviceRevocations};
use crate::uuids::AdvertData;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Transport failures.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransportError {
    /// The link dropped.
    #[error("disconnected")]
    Disconnected,
    /// No answer in time.
    #[error("timed out")]
    Timeout,
    /// No device with that serial was found.
    #[error("device {0} not found")]
    NotFound(String),
    /// Driver-specific failure.
    #[error("transport I/O: {0}")]
    Io(String),
}

/// The longest attribute value ATT allows (Core spec Vol 3 Part F 3.2.9).
pub const ATT_MAX_VALUE_LEN: usize = 512;

/// Refuses a frame larger than one ATT payload (`max_frame` = MTU - 3): every
/// [`FrameWriter`] checks this before writing.
pub fn ensure_frame_fits(frame: &[u8], max_frame: usize) -> Result<(), TransportError> {
    if frame.len() > max_frame {
        return Err(TransportError::Io(format!(
            "frame of {} bytes exceeds MTU - 3 = {max_frame}",
            frame.len()
        )));
    }
    Ok(())
}

/// Phone → device writes for one connection.
pub trait FrameWriter: Send {
    /// Write one frame as an ATT Write Without Response (≤ MTU - 3 bytes).
    fn write<'a>(&'a mut self, frame: &'a [u8]) -> BoxFuture<'a, Result<(), TransportError>>;
    /// Write one value of up to [`ATT_MAX_VALUE_LEN`] bytes as a GATT long
    /// write (Prepare Write requests, then Execute Write), as BlueZ does for
    /// a write with response longer than MTU - 3. Writers that only carry
    /// single PDUs (the default) treat it as [`FrameWriter::write`].
    fn write_long<'a>(&'a mut self, value: &'a [u8]) -> BoxFuture<'a, Result<(), TransportError>> {
        self.write(value)
    }
    /// Drop the connection.
    fn disconnect(&mut self) -> BoxFuture<'_, Result<(), TransportError>>;
}

/// One connected CloudBoxx.
pub struct BleChannel {
    /// Serial of the connected device.
    pub serial: String,
    /// Negotiated ATT MTU (23..=517).
    pub mtu: usize,
    /// Writes to the device.
    pub writer: Box<dyn FrameWriter>,
    /// Notifications from the device; `None` from `recv` means disconnected.
    pub notifications: mpsc::Receiver<Vec<u8>>,
}

impl std::fmt::Debug for BleChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BleChannel")
            .field("serial", &self.serial)
            .field("mtu", &self.mtu)
            .finish_non_exhaustive()
    }
}

/// A device seen while scanning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertisement {
    /// Decoded service data.
    pub data: AdvertData,
    /// Signal strength, when known.
    pub rssi: Option<i16>,
}

/// Finds and connects CloudBoxx devices.
pub trait BleConnector: Send + Sync {
    /// Scan for advertising CloudBoxx devices for up to `timeout`.
    fn scan(&self, timeout: Duration) -> BoxFuture<'_, Result<Vec<Advertisement>, TransportError>>;
    /// Connect to the device advertising `serial`, negotiate the MTU and
    /// subscribe to notifications.
    fn connect<'a>(&'a self, serial: &'a str) -> BoxFuture<'a, Result<BleChannel, TransportError>>;
}

/// Device end of an in-memory link.
#[derive(Debug)]
pub struct DevicePort {
    /// Negotiated ATT MTU.
    pub mtu: usize,
    writes: mpsc::Receiver<Vec<u8>>,
    notify: mpsc::Sender<Vec<u8>>,
}

impl DevicePort {
    /// Next frame written by the phone; `None` when the phone disconnected.
    pub async fn next_write(&mut self) -> Option<Vec<u8>> {
        self.writes.recv().await
    }

    /// Notify one frame to the phone.
    pub async fn notify(&mut self, frame: Vec<u8>) -> Result<(), TransportError> {
        self.notify
            .send(frame)
            .await
            .map_err(|_| TransportError::Disconnected)
    }
}

struct ChannelWriter {
    tx: Option<mpsc::Sender<Vec<u8>>>,
    max_frame: usize,
    remaining: Option<usize>,
}

impl FrameWriter for ChannelWriter {
    fn write<'a>(&'a mut self, frame: &'a [u8]) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            ensure_frame_fits(frame, self.max_frame)?;
            if let Some(n) = self.remaining.as_mut() {
                if *n == 0 {
                    self.tx = None;
                    return Err(TransportError::Disconnected);
                }
                *n -= 1;
            }
            let tx = self.tx.as_ref().ok_or(TransportError::Disconnected)?;
            tx.send(frame.to_vec())
                .await
                .map_err(|_| TransportError::Disconnected)
        })
    }

    fn disconnect(&mut self) -> BoxFuture<'_, Result<(), TransportError>> {
        self.tx = None;
        Box::pin(async { Ok(()) })
    }
}

/// An in-memory link: the phone's [`BleChannel`] and the device's [`DevicePort`].
/// `drop_after_writes` cuts the link after that many phone writes (fault
/// injection for interruption tests).
pub fn loopback(
    serial: &str,
    mtu: usize,
    drop_after_writes: Option<usize>,
) -> (BleChannel, DevicePort) {
    let (wtx, wrx) = mpsc::channel(256);
    let (ntx, nrx) = mpsc::channel(256);
    let mtu = mtu.clamp(crate::frame::MIN_MTU, crate::frame::MAX_MTU);
    (
        BleChannel {
            serial: serial.to_owned(),
            mtu,
            writer: Box::new(ChannelWriter {
                tx: Some(wtx),
                max_frame: mtu - crate::frame::ATT_HEADER_LEN,
                remaining: drop_after_writes,
            }),
            notifications: nrx,
        },
        DevicePort {
            mtu,
            writes: wrx,
            notify: ntx,
        },
    )
}

/// Shared handler type for in-memory devices.
pub type SharedHandler = Arc<Mutex<dyn DeviceHandler + Send>>;

/// Clock giving device time in unix seconds.
pub type DeviceClock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// A device served by [`LoopbackConnector`].
#[derive(Clone)]
pub struct LoopbackDevice {
    /// Provisioned identity.
    pub identity: DeviceIdentity,
    /// Firmware behaviour (persists across connections).
    pub handler: SharedHandler,
    /// The device's revocations (shared by its connections; phones update
    /// them with signed lists).
    pub revocations: Arc<std::sync::Mutex<DeviceRevocations>>,
    /// Device clock.
    pub clock: DeviceClock,
    /// ATT MTU negotiated on connect.
    pub mtu: usize,
    /// Cut the next connection after this many phone writes (one-shot).
    pub drop_next_after_writes: Arc<std::sync::Mutex<Option<usize>>>,
}

/// In-process [`BleConnector`]: each connect spawns a tokio task running the
/// device engine over a [`loopback`] link.
#[derive(Clone, Default)]
pub struct LoopbackConnector {
    devices: Arc<std::sync::Mutex<HashMap<String, LoopbackDevice>>>,
}

impl LoopbackConnector {
    /// No devices yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Make a device reachable.
    pub fn add(&self, device: LoopbackDevice) {
        if let Ok(mut d) = self.devices.lock() {
            d.insert(device.identity.serial.clone(), device);
        }
    }

    fn get(&self, serial: &str) -> Option<LoopbackDevice> {
        self.devices.lock().ok()?.get(serial).cloned()
    }
}

impl BleConnector for LoopbackConnector {
    fn scan(
        &self,
        _timeout: Duration,
    ) -> BoxFuture<'_, Result<Vec<Advertisement>, TransportError>> {
        Box::pin(async move {
            let devices = self
                .devices
                .lock()
                .map_err(|_| TransportError::Io("poisoned".into()))?;
            Ok(devices
                .keys()
                .map(|serial| Advertisement {
                    data: AdvertData {
                        protocol_version: PROTOCOL_VERSION,
                        flags: 0,
                        serial: serial.clone(),
                    },
                    rssi: Some(-50),
                })
                .collect())
        })
    }

    fn connect<'a>(&'a self, serial: &'a str) -> BoxFuture<'a, Result<BleChannel, TransportError>> {
        Box::pin(async move {
            let dev = self
                .get(serial)
                .ok_or_else(|| TransportError::NotFound(serial.to_owned()))?;
            let drop_after = dev
                .drop_next_after_writes
                .lock()
                .map_err(|_| TransportError::Io("poisoned".into()))?
                .take();
            let (channel, port) = loopback(serial, dev.mtu, drop_after);
            let conn = DeviceConnection::new(dev.identity.clone(), port.mtu)
                .map_err(|e| TransportError::Io(e.to_string()))?;
            tokio::spawn(async move {
                let clock = dev.clock.clone();
                let now = move || clock();
                if let Err(e) = serve(port, conn, &dev.handler, &now, &dev.revocations).await {
                    tracing::debug!(error = %e, "loopback device connection ended");
                }
            });
            Ok(channel)
        })
    }
}
