//! The GATT client objects (BlueZ's src/gatt-client.c): the CloudBoxx
//! service, its characteristics and the CCCD descriptor.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use smartcontrol_ble::transport::ATT_MAX_VALUE_LEN;
use smartcontrol_ble::uuids::{
    IDENTITY_CHAR_UUID, NOTIFY_CHAR_UUID, SERVICE_UUID, WRITE_CHAR_UUID,
};
use socket2::{Domain, Socket, Type};
use tokio::net::UnixDatagram;
use zbus::{interface, OwnedObjectPath, OwnedVariant, Variant};

use super::state::*;

pub(super) const SERVICE_HANDLE: u16 = 0x000a;
pub(super) const WRITE_HANDLE: u16 = 0x000b;
pub(super) const NOTIFY_HANDLE: u16 = 0x000d;
pub(super) const CCCD_HANDLE: u16 = 0x000f;
pub(super) const IDENTITY_HANDLE: u16 = 0x0010;

/// Which characteristic an object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CharKind {
    Write,
    Notify,
    Identity,
}

impl CharKind {
    pub(super) const ALL: [CharKind; 3] = [CharKind::Write, CharKind::Notify, CharKind::Identity];

    pub(super) fn handle(self) -> u16 {
        match self {
            CharKind::Write => WRITE_HANDLE,
            CharKind::Notify => NOTIFY_HANDLE,
            CharKind::Identity => IDENTITY_HANDLE,
        }
    }

    pub(super) fn uuid(self) -> String {
        match self {
            CharKind::Write => WRITE_CHAR_UUID.to_string(),
            CharKind::Notify => NOTIFY_CHAR_UUID.to_string(),
            CharKind::Identity => IDENTITY_CHAR_UUID.to_string(),
        }
    }

    pub(super) fn flags(self) -> Vec<String> {
        let f: &[&str] = match self {
            CharKind::Write => &["write-without-response", "write"],
            CharKind::Notify => &["notify"],
            CharKind::Identity => &["read"],
        };
        f.iter().map(|s| (*s).to_owned()).collect()
    }
}

pub(super) fn service_path(dev: &str) -> String {
    format!("{dev}/service{SERVICE_HANDLE:04x}")
}

pub(super) fn char_path(dev: &str, kind: CharKind) -> String {
    format!("{}/char{:04x}", service_path(dev), kind.handle())
}

pub(super) fn cccd_path(dev: &str) -> String {
    format!("{}/desc{CCCD_HANDLE:04x}", char_path(dev, CharKind::Notify))
}

/// `org.bluez.GattService1`: the CloudBoxx service.
pub(crate) struct GattService {
    pub(super) shared: Weak<Shared>,
    pub(super) device: String,
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
}

/// Parsed ReadValue/WriteValue options.
pub(super) struct Options {
    offset: usize,
    write_type: Option<String>,
}

pub(super) fn parse_options(options: &HashMap<String, OwnedVariant>) -> Result<Options, BluezErr> {
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

/// gatt-client.c's answer to a GATT call while the device has no GATT
/// client (disconnected): `btd_error_failed(msg, "Not connected")`.
fn not_connected() -> BluezErr {
    BluezErr::Failed("Not connected".into())
}

/// The remote's ATT Invalid Offset as gatt-client.c's
/// `create_gatt_dbus_error` maps it: `btd_error_invalid_args_str(msg,
/// "Invalid offset")`.
fn invalid_offset() -> BluezErr {
    BluezErr::InvalidArguments("Invalid offset".into())
}

/// The ATT procedure a WriteValue uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Procedure {
    /// Write Request (fits in MTU - 3, no offset).
    Request,
    /// Write Command (write without response).
    Command,
    /// Prepare Write requests + Execute Write (long or reliable write, or
    /// any write at an offset).
    Long,
}

/// characteristic_write_value's choice, in its priority: `type: reliable`
/// (or the reliable-write extended property, which no CloudBoxx
/// characteristic has) → reliable long write; no type or `request` on a
/// characteristic with `write` → a write request, a long write when longer
/// than MTU - 3 or at an offset; `command` (or no type with only
/// write-without-response) → a write command, which cannot carry an offset
/// (NotSupported) or more than MTU - 3 bytes (Failed "Failed to initiate
/// write"); any other type → NotSupported. `type: request` / `reliable` go
/// to the remote whatever the properties (the remote refuses them).
fn write_procedure(
    kind: CharKind,
    write_type: Option<&str>,
    offset: usize,
    len: usize,
    max: usize,
) -> Result<Procedure, BluezErr> {
    let has_write = kind == CharKind::Write;
    let has_command = kind == CharKind::Write;
    let not_supported = || BluezErr::NotSupported("Operation is not supported".into());
    let lower = write_type.map(str::to_ascii_lowercase);
    match lower.as_deref() {
        Some("reliable") => return Ok(Procedure::Long),
        Some("request") => {
            return Ok(if len <= max && offset == 0 {
                Procedure::Request
            } else {
                Procedure::Long
            })
        }
        None if has_write => {
            return Ok(if len <= max && offset == 0 {
                Procedure::Request
            } else {
                Procedure::Long
            })
        }
        _ => {}
    }
    let command = lower.as_deref() == Some("command") || (lower.is_none() && has_command);
    if !command || offset != 0 {
        return Err(not_supported());
    }
    if len > max {
        // bt_gatt_client_write_without_response cannot send it.
        return Err(BluezErr::Failed("Failed to initiate write".into()));
    }
    Ok(Procedure::Command)
}

/// `org.bluez.GattCharacteristic1`: write, notify or identity.
pub(crate) struct GattChar {
    pub(super) shared: Weak<Shared>,
    pub(super) serial: String,
    pub(super) device: String,
    pub(super) kind: CharKind,
}

impl GattChar {
    fn sh(&self) -> Result<Arc<Shared>, BluezErr> {
        self.shared.upgrade().ok_or_else(gone)
    }

    /// A property `name` that only `kind` has.
    fn only(&self, kind: CharKind, name: &str) -> zbus::fdo::Result<()> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(zbus::fdo::Error::InvalidArgs(format!(
                "No such property '{name}'"
            )))
        }
    }

    fn link<T>(&self, f: impl FnOnce(&Link) -> T) -> Option<T> {
        self.shared.upgrade()?.link_field(&self.serial, f)
    }

    async fn set_notifying(&self, on: bool) -> Result<(), BluezErr> {
        let sh = self.sh()?;
        if self.kind != CharKind::Notify {
            return Err(BluezErr::NotSupported("Operation is not supported".into()));
        }
        let (changed, released) = {
            let mut st = sh.state();
            let link = st
                .devices
                .get_mut(&self.serial)
                .and_then(|d| d.link.as_mut());
            let Some(link) = link else {
                // The cached objects of a disconnected device: the session
                // ended with the link, so StopNotify has none to stop.
                return Err(if on {
                    BluezErr::NotConnected("Not Connected".into())
                } else {
                    BluezErr::Failed("No notify session started".into())
                });
            };
            if link.notify_io.is_some() {
                if on {
                    return Err(BluezErr::NotPermitted("Notify acquired".into()));
                }
                // StopNotify closes an acquired notify socket (destroy_sock).
                (false, link.notify_io.take())
            } else if !on && !link.notifying {
                // characteristic_stop_notify: no client of this sender.
                return Err(BluezErr::Failed("No notify session started".into()));
            } else {
                let changed = link.notifying != on;
                link.notifying = on;
                (changed, None)
            }
        };
        let path = char_path(&self.device, self.kind);
        if changed {
            emit_changed(
                &sh.conn,
                &path,
                CHAR_IFACE,
                vec![("Notifying", Variant::from(on))],
            )
            .await;
        }
        if released.is_some() {
            emit_changed(
                &sh.conn,
                &path,
                CHAR_IFACE,
                vec![("NotifyAcquired", Variant::from(false))],
            )
            .await;
        }
        Ok(())
    }

    /// AcquireWrite (`write`) or AcquireNotify, as gatt-client.c's
    /// `create_sock`: a SOCK_SEQPACKET pair, one end returned with the MTU.
    async fn acquire(&self, write: bool) -> Result<(zbus::OwnedFd, u16), BluezErr> {
        let sh = self.sh()?;
        let failed = |e: std::io::Error| BluezErr::Failed(e.to_string());
        let (ours, theirs) =
            Socket::pair(Domain::UNIX, Type::SEQPACKET.cloexec(), None).map_err(failed)?;
        // A SOCK_SEQPACKET socket served as a datagram socket: one packet
        // per recv/send, and recv answers 0 once the client closed its end.
        let ours = std::os::unix::net::UnixDatagram::from(std::os::fd::OwnedFd::from(ours));
        ours.set_nonblocking(true).map_err(failed)?;
        let sock = Arc::new(UnixDatagram::from_std(ours).map_err(failed)?);
        let mtu = {
            let mut st = sh.state();
            st.generation += 1;
            let id = st.generation;
            let link = st
                .devices
                .get_mut(&self.serial)
                .and_then(|d| d.link.as_mut())
                .ok_or_else(|| BluezErr::Failed("Not connected".into()))?;
            if write {
                if link.write_io.is_some() {
                    return Err(BluezErr::NotPermitted("Write acquired".into()));
                }
                if self.kind != CharKind::Write {
                    return Err(BluezErr::NotSupported("Operation is not supported".into()));
                }
            } else {
                if link.notify_io.is_some() {
                    return Err(BluezErr::NotPermitted("Notify acquired".into()));
                }
                // Each characteristic has one notify session at a time.
                if link.notifying {
                    return Err(BluezErr::InProgress("In Progress".into()));
                }
                if self.kind != CharKind::Notify {
                    return Err(BluezErr::NotSupported("Operation is not supported".into()));
                }
            }
            let task = tokio::spawn(serve_acquired(
                self.shared.clone(),
                self.serial.clone(),
                self.device.clone(),
                id,
                write,
                sock.clone(),
            ));
            let io = Some(AcquiredIo { id, sock, task });
            if write {
                link.write_io = io;
            } else {
                link.notify_io = io;
            }
            link.mtu
        };
        emit_changed(
            &sh.conn,
            &char_path(&self.device, self.kind),
            CHAR_IFACE,
            vec![(acquired_prop(write), Variant::from(true))],
        )
        .await;
        tracing::debug!(serial = %self.serial, write, mtu, "characteristic acquired");
        Ok((zbus::OwnedFd::from(std::os::fd::OwnedFd::from(theirs)), mtu))
    }
}

fn acquired_prop(write: bool) -> &'static str {
    if write {
        "WriteAcquired"
    } else {
        "NotifyAcquired"
    }
}

/// Serves our end of an acquired socket: each packet the client sends on an
/// acquired write socket is one Write Without Response (`sock_read`); when
/// the client closes its end (`sock_hup`) the lock is released and
/// WriteAcquired/NotifyAcquired turn false.
async fn serve_acquired(
    shared: Weak<Shared>,
    serial: String,
    device: String,
    id: u64,
    write: bool,
    sock: Arc<UnixDatagram>,
) {
    let mut buf = [0u8; ATT_MAX_VALUE_LEN];
    loop {
        let n = match sock.recv(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(%serial, error = %e, "acquired socket failed");
                break;
            }
        };
        if !write {
            continue;
        }
        let Some(sh) = shared.upgrade() else { return };
        let Some((writer, mtu)) = sh.link_field(&serial, |l| (l.writer.clone(), l.mtu)) else {
            break;
        };
        let frame = &buf[..n];
        if frame.len() > usize::from(mtu).saturating_sub(3) {
            // bt_gatt_client_write_without_response refuses it; bluetoothd
            // drops the packet.
            tracing::debug!(%serial, len = n, mtu, "acquired write longer than MTU - 3 dropped");
            continue;
        }
        let mut w = writer.lock().await;
        if let Err(e) = w.write(frame).await {
            tracing::debug!(%serial, error = %e, "acquired write failed");
        }
        drop(w);
    }
    let Some(sh) = shared.upgrade() else { return };
    let released = {
        let mut st = sh.state();
        st.devices
            .get_mut(&serial)
            .and_then(|d| d.link.as_mut())
            .and_then(|l| {
                let slot = if write {
                    &mut l.write_io
                } else {
                    &mut l.notify_io
                };
                if slot.as_ref().is_some_and(|io| io.id == id) {
                    slot.take()
                } else {
                    None
                }
            })
    };
    if let Some(io) = released {
        emit_changed(
            &sh.conn,
            &char_path(
                &device,
                if write {
                    CharKind::Write
                } else {
                    CharKind::Notify
                },
            ),
            CHAR_IFACE,
            vec![(acquired_prop(write), Variant::from(false))],
        )
        .await;
        tracing::debug!(%serial, write, "acquired socket closed by the client");
        // Dropping it aborts this very task, which ends here anyway.
        drop(io);
    }
}

#[interface(name = "org.bluez.GattCharacteristic1", spawn = false)]
impl GattChar {
    async fn read_value(
        &self,
        options: HashMap<String, OwnedVariant>,
    ) -> Result<Vec<u8>, BluezErr> {
        // characteristic_read_value: no GATT client (disconnected) first,
        // then the options, then the remote's answer.
        let sh = self.sh()?;
        if !sh.is_connected(&self.serial) {
            return Err(not_connected());
        }
        let opts = parse_options(&options)?;
        if self.kind != CharKind::Identity {
            return Err(BluezErr::NotPermitted("Read not permitted".into()));
        }
        // The identity characteristic carries the current advertisement.
        let value = match sh.world.device(&self.serial) {
            Some(d) => d.advertisement().await.data.encode(),
            None => return Err(BluezErr::Failed("device out of range".into())),
        };
        if opts.offset > value.len() {
            return Err(invalid_offset());
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
        // characteristic_write_value, in its order: no GATT client, an
        // acquired write, the options, then the procedure the properties
        // and the `type` option choose.
        let Some((writer, mtu, acquired)) =
            self.link(|l| (l.writer.clone(), l.mtu, l.write_io.is_some()))
        else {
            return Err(not_connected());
        };
        if acquired {
            return Err(BluezErr::NotPermitted("Write acquired".into()));
        }
        let opts = parse_options(&options)?;
        let max = usize::from(mtu).saturating_sub(3);
        let procedure = write_procedure(
            self.kind,
            opts.write_type.as_deref(),
            opts.offset,
            value.len(),
            max,
        )?;
        let sh = self.sh()?;
        let value = match procedure {
            // A write request, command or long write on a characteristic
            // without write properties reaches the CloudBoxx, whose server
            // answers Write Not Permitted (a command gets no answer).
            _ if self.kind != CharKind::Write => {
                return match procedure {
                    Procedure::Command => Ok(()),
                    _ => Err(BluezErr::NotPermitted("Write not permitted".into())),
                };
            }
            Procedure::Request | Procedure::Command => value,
            Procedure::Long => {
                // Prepare Write requests from `offset`, then Execute Write:
                // the server checks the offset against the attribute value
                // (Invalid Offset) and the length of the result (Invalid
                // Attribute Value Length).
                let current = sh
                    .state()
                    .devices
                    .get(&self.serial)
                    .map(|d| d.write_value.clone())
                    .unwrap_or_default();
                if opts.offset > current.len() {
                    return Err(invalid_offset());
                }
                if opts.offset + value.len() > ATT_MAX_VALUE_LEN {
                    return Err(BluezErr::InvalidArguments("Invalid Length".into()));
                }
                let mut v = current[..opts.offset].to_vec();
                v.extend_from_slice(&value);
                v
            }
        };
        let mut w = writer.lock().await;
        let sent = match procedure {
            Procedure::Long => w.write_long(&value).await,
            _ => w.write(&value).await,
        };
        drop(w);
        sent.map_err(|e| BluezErr::Failed(format!("Not connected: {e}")))?;
        if let Some(d) = sh.state().devices.get_mut(&self.serial) {
            d.write_value = value;
        }
        Ok(())
    }

    async fn start_notify(&self) -> Result<(), BluezErr> {
        self.set_notifying(true).await
    }

    async fn stop_notify(&self) -> Result<(), BluezErr> {
        self.set_notifying(false).await
    }

    async fn acquire_write(
        &self,
        _options: HashMap<String, OwnedVariant>,
    ) -> Result<(zbus::OwnedFd, u16), BluezErr> {
        self.acquire(true).await
    }

    async fn acquire_notify(
        &self,
        _options: HashMap<String, OwnedVariant>,
    ) -> Result<(zbus::OwnedFd, u16), BluezErr> {
        self.acquire(false).await
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

    // Notifying, WriteAcquired and NotifyAcquired exist only on
    // characteristics with notify / write-without-response, as in
    // gatt-client.c (`*_exists`); a failing getter leaves them out of GetAll.
    #[zbus(property)]
    fn notifying(&self) -> zbus::fdo::Result<bool> {
        self.only(CharKind::Notify, "Notifying")?;
        Ok(self.link(|l| l.notifying).unwrap_or(false))
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
    fn write_acquired(&self) -> zbus::fdo::Result<bool> {
        self.only(CharKind::Write, "WriteAcquired")?;
        Ok(self.link(|l| l.write_io.is_some()).unwrap_or(false))
    }

    #[zbus(property)]
    fn notify_acquired(&self) -> zbus::fdo::Result<bool> {
        self.only(CharKind::Notify, "NotifyAcquired")?;
        Ok(self.link(|l| l.notify_io.is_some()).unwrap_or(false))
    }
}

/// `org.bluez.GattDescriptor1`: the notify characteristic's CCCD.
pub(crate) struct GattDesc {
    pub(super) shared: Weak<Shared>,
    pub(super) serial: String,
    pub(super) device: String,
}

#[interface(name = "org.bluez.GattDescriptor1")]
impl GattDesc {
    async fn read_value(
        &self,
        options: HashMap<String, OwnedVariant>,
    ) -> Result<Vec<u8>, BluezErr> {
        let connected = self
            .shared
            .upgrade()
            .is_some_and(|s| s.is_connected(&self.serial));
        if !connected {
            return Err(not_connected());
        }
        let opts = parse_options(&options)?;
        let v = self.value();
        if opts.offset > v.len() {
            return Err(invalid_offset());
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
            .and_then(|s| s.link_field(&self.serial, |l| l.notifying || l.notify_io.is_some()))
            .unwrap_or(false);
        vec![u8::from(on), 0]
    }
}
