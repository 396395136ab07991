//! `org.bluez.Device1` (BlueZ's src/device.c): Connect/Disconnect, the
//! link to the firmware and its notification pump.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use smartcontrol_ble::transport::BleChannel;
use smartcontrol_ble::uuids::SERVICE_UUID;
use zbus::{interface, OwnedObjectPath, OwnedVariant, Variant};

use super::gatt::*;
use super::state::*;
use super::{GattCache, ADAPTER_PATH};

impl Shared {
    pub(super) async fn connect(&self, serial: &str) -> Result<(), BluezErr> {
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
                write_io: None,
                notify_io: None,
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
        let export_result = export.await;
        if export_result.is_ok() {
            if let Some(d) = self.state().devices.get_mut(serial) {
                d.gatt_exported = true;
            }
        }
        if let Err(e) = export_result {
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
                // register_gatt_services: btd_device_set_temporary(false).
                d.temporary = false;
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
        // With the attribute cache (BlueZ's default) the GATT objects stay;
        // calls on them answer Failed "Not connected" until a reconnect.
        if self.config.gatt_cache == GattCache::No {
            self.remove_gatt_objects(serial, &path).await;
        }
        if let Some(d) = self.state().devices.get_mut(serial) {
            d.last_seen = std::time::Instant::now();
        }
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

    /// Removes the GATT objects of a device (InterfacesRemoved), callers
    /// holding `tree`.
    pub(super) async fn remove_gatt_objects(&self, serial: &str, path: &str) {
        let srv = self.conn.object_server();
        let _ = srv.remove::<GattDesc, _>(cccd_path(path).as_str()).await;
        for kind in CharKind::ALL {
            let _ = srv
                .remove::<GattChar, _>(char_path(path, kind).as_str())
                .await;
        }
        let _ = srv
            .remove::<GattService, _>(service_path(path).as_str())
            .await;
        if let Some(d) = self.state().devices.get_mut(serial) {
            d.gatt_exported = false;
        }
    }

    pub(super) async fn on_notification(&self, serial: &str, generation: u64, frame: Vec<u8>) {
        let path = {
            let mut st = self.state();
            let Some(d) = st.devices.get_mut(serial) else {
                return;
            };
            let path = d.path.clone();
            let Some(link) = d.link.as_mut().filter(|l| l.generation == generation) else {
                return;
            };
            if let Some(io) = link.notify_io.as_ref() {
                // An acquired notify socket gets every notification as one
                // packet, instead of PropertiesChanged(Value) (notify_io_cb).
                if let Err(e) = io.sock.try_send(&frame) {
                    tracing::debug!(%serial, error = %e, "notification not sent on the acquired socket");
                }
                return;
            }
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
}

/// Carries the device's notifications to PropertiesChanged(Value); on the
/// end of the stream (the device dropped the link) tears the link down.
pub(super) async fn pump(
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

/// `org.bluez.Device1`, one per simulated CloudBoxx.
pub(crate) struct Device {
    pub(super) shared: Weak<Shared>,
    pub(super) serial: String,
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
        // Absent outside discovery (dev_property_exists_rssi).
        self.field(|d| d.rssi)?
            .ok_or_else(|| zbus::fdo::Error::InvalidArgs("No such property 'RSSI'".into()))
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
