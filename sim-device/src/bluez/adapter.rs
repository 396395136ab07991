//! `org.bluez.Adapter1` (BlueZ's src/adapter.c): discovery sessions, the
//! discovery filter, advertising reports, RemoveDevice.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Weak};
use std::time::Duration;

use smartcontrol_ble::uuids::SERVICE_UUID;
use zbus::message::Header;
use zbus::{interface, OwnedObjectPath, OwnedVariant, Variant};

use super::device::Device;
use super::state::*;
use super::ADAPTER_PATH;

/// How long after the StartDiscovery reply the first reports arrive.
const FIRST_REPORT_DELAY: Duration = Duration::from_millis(20);

impl Shared {
    pub(super) fn matches_filter(filter: &Filter, rssi: i16) -> bool {
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

    /// One round of advertising reports while discovering (adapter.c's
    /// `update_found_devices`): every device of the world in range reports,
    /// with an RSSI that varies by a few dBm. New matching devices are
    /// exported (InterfacesAdded); under a discovery filter every report
    /// refreshes RSSI (`device_set_rssi_with_delta(dev, rssi, 0)`), without
    /// one only changes of 8 dBm or more do; ServiceData is announced when it
    /// changes (every report with DuplicateData). Devices gone from the world
    /// disappear unless connected.
    pub(crate) async fn refresh(&self) {
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
            let (export, props, path) = {
                let mut st = self.state();
                let jitter = st.next_jitter();
                let rssi = adv.rssi.unwrap_or(DEFAULT_RSSI).saturating_add(jitter);
                let filter = st.filter.clone();
                let filtered = st.filtered;
                if !Self::matches_filter(&filter, rssi) {
                    continue;
                }
                let d = st
                    .devices
                    .entry(serial.clone())
                    .or_insert_with(|| DevState::new(&serial));
                d.last_seen = std::time::Instant::now();
                let mut props: Vec<(&'static str, Variant<'static>)> = Vec::new();
                let rssi_report = match d.rssi {
                    None => true,
                    Some(old) => filtered || (i32::from(old) - i32::from(rssi)).abs() >= 8,
                };
                if rssi_report {
                    d.rssi = Some(rssi);
                    props.push(("RSSI", Variant::from(rssi)));
                }
                if d.service_data != bytes || filter.duplicate_data {
                    d.service_data = bytes.clone();
                    props.push(("ServiceData", Variant::from(service_data_variant(&bytes))));
                }
                (!d.exported, props, d.path.clone())
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
            } else if !props.is_empty() {
                emit_changed(&self.conn, &path, DEVICE_IFACE, props).await;
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
            self.forget_device(&serial, &path).await;
        }
    }

    /// Removes a device that is not connected: its GATT objects (cached)
    /// and its Device1 object (InterfacesRemoved), and its state. Callers
    /// hold `tree`.
    async fn forget_device(&self, serial: &str, path: &str) {
        self.remove_gatt_objects(serial, path).await;
        let _ = self.conn.object_server().remove::<Device, _>(path).await;
        self.state().devices.remove(serial);
    }

    /// The temporary timer (device.c's `set_temporary_timer`, restarted by
    /// every advertising report in `device_update_last_seen`, cleared while
    /// connected): a temporary device (discovered, never connected nor
    /// blocked, not paired) whose last report is older than
    /// `temporary_timeout` is removed (`device_disappeared` →
    /// `btd_adapter_remove_device`), whether or not discovery is on.
    pub(super) async fn expire_temporary_devices(&self) {
        let Some(timeout) = self.config.temporary_timeout else {
            return;
        };
        let _tree = self.tree.lock().await;
        let expired: Vec<(String, String)> = self
            .state()
            .devices
            .iter()
            .filter(|(_, d)| {
                d.exported
                    && d.link.is_none()
                    && !d.connecting
                    && d.temporary
                    && !d.blocked
                    && d.last_seen.elapsed() >= timeout
            })
            .map(|(s, d)| (s.clone(), d.path.clone()))
            .collect();
        for (serial, path) in expired {
            tracing::debug!(%serial, ?timeout, "temporary device not seen: removed");
            self.forget_device(&serial, &path).await;
        }
    }

    /// Discovery stopped: every device's RSSI is invalidated (adapter.c's
    /// `invalidate_rssi_and_tx_power`: the property no longer exists).
    pub(super) async fn invalidate_rssi(&self) {
        let paths: Vec<String> = {
            let mut st = self.state();
            st.devices
                .values_mut()
                .filter(|d| d.rssi.is_some())
                .map(|d| {
                    d.rssi = None;
                    d.path.clone()
                })
                .collect()
        };
        let exported: BTreeSet<String> = self
            .state()
            .devices
            .values()
            .filter(|d| d.exported)
            .map(|d| d.path.clone())
            .collect();
        for path in paths.into_iter().filter(|p| exported.contains(p)) {
            emit_invalidated(&self.conn, &path, DEVICE_IFACE, &["RSSI"]).await;
        }
    }

    /// Forget the discovery sessions of clients that left the bus (BlueZ
    /// watches them too); Discovering turns false when none is left.
    pub(super) async fn prune_discovery_clients(&self) {
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
            self.invalidate_rssi().await;
        }
    }

    pub(super) async fn set_discovering(&self, sender: &str, on: bool) -> Result<(), BluezErr> {
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
            // Advertising reports arrive after the reply, as from the
            // controller; the ticker repeats them every scan interval.
            if let Some(sh) = self.me.upgrade() {
                tokio::spawn(async move {
                    tokio::time::sleep(FIRST_REPORT_DELAY).await;
                    sh.refresh().await;
                });
            }
        } else if before && !after {
            self.invalidate_rssi().await;
        }
        Ok(())
    }

    pub(super) async fn remove_device(&self, path: &str) -> Result<(), BluezErr> {
        let serial = self
            .state()
            .devices
            .iter()
            .find(|(_, d)| d.path == path && d.exported)
            .map(|(s, _)| s.clone())
            .ok_or_else(|| BluezErr::DoesNotExist("Does Not Exist".into()))?;
        self.teardown(&serial, None).await;
        let _tree = self.tree.lock().await;
        self.remove_gatt_objects(&serial, path).await;
        let _ = self.conn.object_server().remove::<Device, _>(path).await;
        if let Some(d) = self.state().devices.get_mut(&serial) {
            d.exported = false;
        }
        Ok(())
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
        sh.refresh().await;
        sh.expire_temporary_devices().await;
    }
}

/// `org.bluez.Adapter1` at `/org/bluez/hci0`.
pub(crate) struct Adapter {
    pub(super) shared: Weak<Shared>,
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

pub(super) fn sender(hdr: &Header<'_>) -> String {
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
        let mut st = sh.state();
        st.filter = f;
        // An empty filter clears it (filtered_discovery false again).
        st.filtered = !properties.is_empty();
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
                    sh.invalidate_rssi().await;
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
