//! The GATT client objects (BlueZ's src/gatt-client.c): the CloudBoxx
//! service, its characteristics and the CCCD descriptor.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use smartcontrol_ble::uuids::{
    IDENTITY_CHAR_UUID, NOTIFY_CHAR_UUID, SERVICE_UUID, WRITE_CHAR_UUID,
};
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

    #[zbus(property)]
    fn handle(&self) -> u16 {
        SERVICE_HANDLE
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
