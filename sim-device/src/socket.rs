//! Serving simulated devices over a loopback TCP socket, and the client-side
//! [`SocketConnector`] (ble's [`BleConnector`]) other processes use.
//!
//! Framing (all integers little-endian): every message is
//! `len: u32 | type: u8 | body`, where `len` counts the type byte and the body
//! (at most [`MAX_MESSAGE`]). One TCP connection carries scans and then at most
//! one device connection.
//!
//! | type | direction | body |
//! |---|---|---|
//! | 0x01 SCAN | client → server | empty |
//! | 0x02 CONNECT | client → server | `mtu: u16` (0: device default) then the serial (UTF-8, rest of body) |
//! | 0x03 WRITE | client → server | one ATT payload (a protocol frame) |
//! | 0x04 DISCONNECT | client → server | empty |
//! | 0x81 SCAN_RESULT | server → client | `count: u16`, then per device `rssi: i16, len: u8, AdvertData` |
//! | 0x82 CONNECTED | server → client | `mtu: u16` negotiated |
//! | 0x83 NOTIFY | server → client | one ATT payload |
//! | 0x84 DISCONNECTED | server → client | empty (the link dropped; the server closes) |
//! | 0x8F ERROR | server → client | `code: u8` (1 not found, 2 bad request, 3 other), then text |
//!
//! The link model runs in the server, so frames are timed as over the air.

use std::net::SocketAddr;
use std::time::Duration;

use smartcontrol_ble::transport::{
    Advertisement, BleChannel, BleConnector, BoxFuture, FrameWriter, TransportError,
};
use smartcontrol_ble::uuids::AdvertData;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::world::SimWorld;

/// Largest framed message (type + body).
pub const MAX_MESSAGE: usize = 4096;

/// Message types.
pub mod msg {
    /// Client: list devices.
    pub const SCAN: u8 = 0x01;
    /// Client: connect to a serial.
    pub const CONNECT: u8 = 0x02;
    /// Client: write a frame.
    pub const WRITE: u8 = 0x03;
    /// Client: drop the connection.
    pub const DISCONNECT: u8 = 0x04;
    /// Server: scan result.
    pub const SCAN_RESULT: u8 = 0x81;
    /// Server: connected.
    pub const CONNECTED: u8 = 0x82;
    /// Server: a notification.
    pub const NOTIFY: u8 = 0x83;
    /// Server: the link dropped.
    pub const DISCONNECTED: u8 = 0x84;
    /// Server: request failed.
    pub const ERROR: u8 = 0x8F;
}

/// ERROR code: no device with that serial.
pub const ERR_NOT_FOUND: u8 = 1;
/// ERROR code: malformed request.
pub const ERR_BAD_REQUEST: u8 = 2;
/// ERROR code: anything else.
pub const ERR_OTHER: u8 = 3;

async fn write_msg(w: &mut OwnedWriteHalf, ty: u8, body: &[u8]) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(5 + body.len());
    buf.extend_from_slice(&((body.len() + 1) as u32).to_le_bytes());
    buf.push(ty);
    buf.extend_from_slice(body);
    w.write_all(&buf).await
}

/// Read one message; `Ok(None)` on a clean end of stream.
async fn read_msg(r: &mut OwnedReadHalf) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len == 0 || len > MAX_MESSAGE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("bad message length {len}"),
        ));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await?;
    let ty = buf[0];
    buf.remove(0);
    Ok(Some((ty, buf)))
}

/// A running socket server.
#[derive(Debug)]
pub struct SocketServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl SocketServer {
    /// Listen on `addr` (e.g. `127.0.0.1:0`) and serve `world`'s devices.
    pub async fn bind(addr: &str, world: SimWorld) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(accept_loop(listener, world));
        Ok(Self { addr, task })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting (open connections end when their client goes).
    pub fn shutdown(self) {
        self.task.abort();
    }

    /// Serve until the task ends (it does not, unless aborted).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

async fn accept_loop(listener: TcpListener, world: SimWorld) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let world = world.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve_client(stream, world).await {
                        tracing::debug!(%peer, error = %e, "socket client ended");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve_client(stream: TcpStream, world: SimWorld) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let (mut r, mut w) = stream.into_split();
    let channel = loop {
        let Some((ty, body)) = read_msg(&mut r).await? else {
            return Ok(());
        };
        match ty {
            msg::SCAN => {
                let mut out = Vec::new();
                let ads = world
                    .scan(Duration::ZERO)
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                out.extend_from_slice(&(ads.len() as u16).to_le_bytes());
                for a in ads {
                    let data = a.data.encode();
                    out.extend_from_slice(&a.rssi.unwrap_or(0).to_le_bytes());
                    out.push(data.len() as u8);
                    out.extend_from_slice(&data);
                }
                write_msg(&mut w, msg::SCAN_RESULT, &out).await?;
            }
            msg::CONNECT if body.len() >= 2 => {
                let mtu = u16::from_le_bytes([body[0], body[1]]);
                let serial = String::from_utf8_lossy(&body[2..]).into_owned();
                let cap = (mtu != 0).then_some(usize::from(mtu));
                match world.connect_with_mtu(&serial, cap) {
                    Ok(ch) => {
                        write_msg(&mut w, msg::CONNECTED, &(ch.mtu as u16).to_le_bytes()).await?;
                        tracing::info!(%serial, mtu = ch.mtu, "socket client connected");
                        break ch;
                    }
                    Err(e) => {
                        let code = match e {
                            TransportError::NotFound(_) => ERR_NOT_FOUND,
                            _ => ERR_OTHER,
                        };
                        let mut b = vec![code];
                        b.extend_from_slice(e.to_string().as_bytes());
                        write_msg(&mut w, msg::ERROR, &b).await?;
                    }
                }
            }
            _ => {
                let mut b = vec![ERR_BAD_REQUEST];
                b.extend_from_slice(format!("unexpected message 0x{ty:02x}").as_bytes());
                write_msg(&mut w, msg::ERROR, &b).await?;
            }
        }
    };
    let BleChannel {
        mut writer,
        mut notifications,
        ..
    } = channel;
    // Notifications → socket.
    let pump = tokio::spawn(async move {
        while let Some(frame) = notifications.recv().await {
            if write_msg(&mut w, msg::NOTIFY, &frame).await.is_err() {
                return;
            }
        }
        let _ = write_msg(&mut w, msg::DISCONNECTED, &[]).await;
        let _ = w.shutdown().await;
    });
    // Socket → writes.
    while let Some((ty, body)) = read_msg(&mut r).await? {
        match ty {
            msg::WRITE if writer.write(&body).await.is_err() => break,
            msg::DISCONNECT => break,
            _ => {}
        }
    }
    let _ = writer.disconnect().await;
    drop(writer);
    let _ = pump.await;
    Ok(())
}

/// Connects to devices served by a `sim-device` process (ble's
/// [`BleConnector`] over the framing above).
#[derive(Debug, Clone)]
pub struct SocketConnector {
    addr: SocketAddr,
    mtu: Option<u16>,
}

impl SocketConnector {
    /// Connector for the server at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr, mtu: None }
    }

    /// Ask for at most this ATT MTU when connecting.
    pub fn with_mtu(mut self, mtu: u16) -> Self {
        self.mtu = Some(mtu);
        self
    }

    /// The server address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    async fn open(&self) -> Result<(OwnedReadHalf, OwnedWriteHalf), TransportError> {
        let s = TcpStream::connect(self.addr)
            .await
            .map_err(|e| TransportError::Io(format!("connect {}: {e}", self.addr)))?;
        let _ = s.set_nodelay(true);
        Ok(s.into_split())
    }
}

fn io_err(e: std::io::Error) -> TransportError {
    TransportError::Io(e.to_string())
}

fn server_error(body: &[u8], serial: &str) -> TransportError {
    match body.first() {
        Some(&ERR_NOT_FOUND) => TransportError::NotFound(serial.to_owned()),
        _ => TransportError::Io(String::from_utf8_lossy(body.get(1..).unwrap_or(&[])).into()),
    }
}

struct SocketWriter {
    w: Option<OwnedWriteHalf>,
}

impl FrameWriter for SocketWriter {
    fn write<'a>(&'a mut self, frame: &'a [u8]) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            let w = self.w.as_mut().ok_or(TransportError::Disconnected)?;
            write_msg(w, msg::WRITE, frame)
                .await
                .map_err(|_| TransportError::Disconnected)
        })
    }

    fn disconnect(&mut self) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async move {
            if let Some(mut w) = self.w.take() {
                let _ = write_msg(&mut w, msg::DISCONNECT, &[]).await;
                let _ = w.shutdown().await;
            }
            Ok(())
        })
    }
}

impl BleConnector for SocketConnector {
    fn scan(&self, timeout: Duration) -> BoxFuture<'_, Result<Vec<Advertisement>, TransportError>> {
        Box::pin(async move {
            let work = async {
                let (mut r, mut w) = self.open().await?;
                write_msg(&mut w, msg::SCAN, &[]).await.map_err(io_err)?;
                let Some((ty, body)) = read_msg(&mut r).await.map_err(io_err)? else {
                    return Err(TransportError::Disconnected);
                };
                if ty != msg::SCAN_RESULT || body.len() < 2 {
                    return Err(TransportError::Io(format!("unexpected reply 0x{ty:02x}")));
                }
                let count = u16::from_le_bytes([body[0], body[1]]) as usize;
                let mut at = 2;
                let mut out = Vec::with_capacity(count);
                for _ in 0..count {
                    let head = body
                        .get(at..at + 3)
                        .ok_or_else(|| TransportError::Io("short scan result".into()))?;
                    let rssi = i16::from_le_bytes([head[0], head[1]]);
                    let len = usize::from(head[2]);
                    at += 3;
                    let data = body
                        .get(at..at + len)
                        .ok_or_else(|| TransportError::Io("short scan result".into()))?;
                    at += len;
                    let data =
                        AdvertData::decode(data).map_err(|e| TransportError::Io(e.to_string()))?;
                    out.push(Advertisement {
                        data,
                        rssi: Some(rssi),
                    });
                }
                Ok(out)
            };
            let limit = timeout.max(Duration::from_secs(2));
            tokio::time::timeout(limit, work)
                .await
                .map_err(|_| TransportError::Timeout)?
        })
    }

    fn connect<'a>(&'a self, serial: &'a str) -> BoxFuture<'a, Result<BleChannel, TransportError>> {
        Box::pin(async move {
            let (mut r, mut w) = self.open().await?;
            let mut body = self.mtu.unwrap_or(0).to_le_bytes().to_vec();
            body.extend_from_slice(serial.as_bytes());
            write_msg(&mut w, msg::CONNECT, &body)
                .await
                .map_err(io_err)?;
            let (ty, body) = read_msg(&mut r)
                .await
                .map_err(io_err)?
                .ok_or(TransportError::Disconnected)?;
            let mtu = match ty {
                msg::CONNECTED if body.len() == 2 => {
                    usize::from(u16::from_le_bytes([body[0], body[1]]))
                }
                msg::ERROR => return Err(server_error(&body, serial)),
                _ => return Err(TransportError::Io(format!("unexpected reply 0x{ty:02x}"))),
            };
            let (tx, rx) = mpsc::channel(4096);
            tokio::spawn(async move {
                while let Ok(Some((ty, body))) = read_msg(&mut r).await {
                    match ty {
                        msg::NOTIFY if tx.send(body).await.is_err() => return,
                        msg::DISCONNECTED => return,
                        _ => {}
                    }
                }
            });
            Ok(BleChannel {
                serial: serial.to_owned(),
                mtu,
                writer: Box::new(SocketWriter { w: Some(w) }),
                notifications: rx,
            })
        })
    }
}
