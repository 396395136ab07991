//! `org.freedesktop.DBus.ObjectManager` at `/`, `org.bluez.AgentManager1` and
//! `org.bluez.ProfileManager1` at `/org/bluez`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Weak;

use zbus::object_server::{Interface, SignalEmitter};
use zbus::{interface, Connection, ObjectPath, OwnedObjectPath, OwnedVariant, Variant};

use super::adapter::Adapter;
use super::device::Device;
use super::gatt::*;
use super::state::*;
use super::ADAPTER_PATH;

/// Properties of interface `I` at `path`, if it is exported.
pub(super) async fn props_of<I: Interface>(
    conn: &Connection,
    path: &str,
) -> Option<HashMap<String, OwnedVariant>> {
    let srv = conn.object_server();
    let iref = srv.interface::<_, I>(path).await.ok()?;
    let emitter = iref.signal_emitter().clone();
    let guard = iref.get().await;
    guard.get_all(srv, conn, None, &emitter).await.ok()
}

pub(super) type Managed =
    BTreeMap<ObjectPath<'static>, BTreeMap<String, HashMap<String, OwnedVariant>>>;

/// `org.freedesktop.DBus.ObjectManager` at `/`. Unlike zbus's own, it lists
/// objects in path order (parents before children), as bluetoothd does:
/// clients such as bluetoothctl attach a GATT service only to a device they
/// have already seen.
pub(crate) struct Manager {
    pub(super) shared: Weak<Shared>,
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
            .map(|d| (d.path.clone(), d.gatt_exported))
            .collect();
        for (path, gatt) in devices {
            add(&path, DEVICE_IFACE, props_of::<Device>(conn, &path).await);
            // The GATT objects, also while disconnected with the cache.
            if !gatt {
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
