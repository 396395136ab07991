//! `BleTransport`: the native app's own BLE stack (Android
//! BluetoothGatt, iOS CoreBluetooth) as a foreign trait, adapted to
//! `smartcontrol_ble::BleConnector`. The native side scans, connects by
//! serial, writes frames (Write Without Response) and pushes notifications
//! and disconnects back through the [`BleLinkEvents`] it is given.
//!
//! Foreign calls may block (they are synchronous for the native side's
//! sake); the adapter makes them on tokio's blocking pool, never on a
//! runtime worker.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use smartcontrol_ble::transport::{
    Advertisement, BleChannel, BleConnector, BoxFuture, FrameWriter, TransportError,
};
use smartcontrol_ble::uuids::AdvertData;
use tokio::sync::mpsc;

/// Frames the adapter buffers towards the protocol client.
const NOTIFY_BUFFER: usize = 256;

/// A BLE failure the native transport reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum BleTransportError {
    /// The link dropped.
    #[error("disconnected")]
    Disconnected,
    /// No answer in time.
    #[error("timed out")]
    Timeout,
    /// No CloudBoxx with that serial in range.
    #[error("device {serial} not found")]
    NotFound { serial: String },
    /// Anything else the platform stack reported (Bluetooth off, permission
    /// missing, GATT error ...).
    #[error("{reason}")]
    Io { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for BleTransportError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        BleTransportError::Io {
            reason: format!(
                "the BLE transport threw an unexpected exception: {}",
                e.reason
            ),
        }
    }
}

impl From<BleTransportError> for TransportError {
    fn from(e: BleTransportError) -> Self {
        match e {
            BleTransportError::Disconnected => TransportError::Disconnected,
            BleTransportError::Timeout => TransportError::Timeout,
            BleTransportError::NotFound { serial } => TransportError::NotFound(serial),
            BleTransportError::Io { reason } => TransportError::Io(reason),
        }
    }
}

/// A CloudBoxx seen while scanning: the raw service data of the CloudBoxx
/// service UUID (`7c3e0001-8a4f-4b1e-9c2d-3b5a0c1d0e10`) and the RSSI.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BleAdvertisement {
    pub service_data: Vec<u8>,
    pub rssi: Option<i16>,
}

/// The app's BLE stack. Implemented in Kotlin/Swift.
#[uniffi::export(with_foreign)]
pub trait BleTransport: Send + Sync {
    /// Scans for up to `timeout_ms` and returns the CloudBoxx adverts seen.
    fn scan(&self, timeout_ms: u32) -> Result<Vec<BleAdvertisement>, BleTransportError>;
    /// Connects to the CloudBoxx advertising `serial`, negotiates the MTU,
    /// subscribes to the notify characteristic, and from then on reports
    /// every notification and the disconnect through `events`.
    fn connect(
        &self,
        serial: String,
        events: Arc<BleLinkEvents>,
    ) -> Result<Arc<dyn BleLink>, BleTransportError>;
}

/// One connected CloudBoxx on the native side.
#[uniffi::export(with_foreign)]
pub trait BleLink: Send + Sync {
    /// Negotiated ATT MTU (23..=517).
    fn mtu(&self) -> u16;
    /// Writes one frame (at most MTU - 3 bytes) as Write Without Response.
    fn write(&self, frame: Vec<u8>) -> Result<(), BleTransportError>;
    /// Drops the connection (no error if already gone).
    fn disconnect(&self);
}

/// Where the native side reports what the device sends. Given to
/// [`BleTransport::connect`]; safe to call from any thread.
#[derive(uniffi::Object)]
pub struct BleLinkEvents {
    tx: Mutex<Option<mpsc::UnboundedSender<Vec<u8>>>>,
}

#[uniffi::export]
impl BleLinkEvents {
    /// A notification arrived (one ATT payload, i.e. one protocol frame).
    /// Never blocks.
    pub fn on_notification(&self, value: Vec<u8>) {
        if let Ok(tx) = self.tx.lock() {
            if let Some(tx) = tx.as_ref() {
                let _ = tx.send(value);
            }
        }
    }

    /// The link dropped (or was closed). Later notifications are ignored.
    pub fn on_disconnected(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            *tx = None;
        }
    }
}

impl BleLinkEvents {
    fn is_connected(&self) -> bool {
        self.tx.lock().map(|t| t.is_some()).unwrap_or(false)
    }
}

/// The native transport as a [`BleConnector`].
pub(crate) struct ForeignConnector(pub(crate) Arc<dyn BleTransport>);

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BleTransportError> + Send + 'static,
) -> Result<T, TransportError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| TransportError::Io(format!("BLE transport call failed: {e}")))?
        .map_err(TransportError::from)
}

impl BleConnector for ForeignConnector {
    fn scan(&self, timeout: Duration) -> BoxFuture<'_, Result<Vec<Advertisement>, TransportError>> {
        let transport = self.0.clone();
        let ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        Box::pin(async move {
            let raw = blocking(move || transport.scan(ms)).await?;
            Ok(raw
                .into_iter()
                .filter_map(|a| match AdvertData::decode(&a.service_data) {
                    Ok(data) => Some(Advertisement { data, rssi: a.rssi }),
                    Err(e) => {
                        tracing::debug!(error = %e, "ignoring an advert that is not a CloudBoxx's");
                        None
                    }
                })
                .collect())
        })
    }

    fn connect<'a>(&'a self, serial: &'a str) -> BoxFuture<'a, Result<BleChannel, TransportError>> {
        let transport = self.0.clone();
        let serial = serial.to_owned();
        Box::pin(async move {
            let (utx, mut urx) = mpsc::unbounded_channel();
            let (tx, rx) = mpsc::channel(NOTIFY_BUFFER);
            let events = Arc::new(BleLinkEvents {
                tx: Mutex::new(Some(utx)),
            });
            let ev = events.clone();
            let s = serial.clone();
            let link = blocking(move || transport.connect(s, ev)).await?;
            let mtu = usize::from(link.mtu()).clamp(
                smartcontrol_ble::frame::MIN_MTU,
                smartcontrol_ble::frame::MAX_MTU,
            );
            // Native callbacks never block; the protocol side reads a
            // bounded channel. This task joins the two and ends (closing
            // the protocol side's receiver) when the link is gone.
            tokio::spawn(async move {
                while let Some(frame) = urx.recv().await {
                    if tx.send(frame).await.is_err() {
                        break;
                    }
                }
            });
            tracing::info!(%serial, mtu, "connected through the app's BLE transport");
            Ok(BleChannel {
                serial,
                mtu,
                writer: Box::new(ForeignWriter {
                    link: Some(link),
                    events,
                }),
                notifications: rx,
            })
        })
    }
}

struct ForeignWriter {
    link: Option<Arc<dyn BleLink>>,
    events: Arc<BleLinkEvents>,
}

impl FrameWriter for ForeignWriter {
    fn write<'a>(&'a mut self, frame: &'a [u8]) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            if !self.events.is_connected() {
                return Err(TransportError::Disconnected);
            }
            let link = self.link.clone().ok_or(TransportError::Disconnected)?;
            let frame = frame.to_vec();
            blocking(move || link.write(frame)).await
        })
    }

    fn disconnect(&mut self) -> BoxFuture<'_, Result<(), TransportError>> {
        let link = self.link.take();
        self.events.on_disconnected();
        Box::pin(async move {
            if let Some(link) = link {
                blocking(move || {
                    link.disconnect();
                    Ok(())
                })
                .await?;
            }
            Ok(())
        })
    }
}

impl Drop for ForeignWriter {
    fn drop(&mut self) {
        // The protocol client may drop a channel without disconnecting (on
        // errors): the native link must not stay open.
        if let Some(link) = self.link.take() {
            self.events.on_disconnected();
            match tokio::runtime::Handle::try_current() {
                Ok(h) => {
                    h.spawn_blocking(move || link.disconnect());
                }
                Err(_) => link.disconnect(),
            }
        }
    }
}
