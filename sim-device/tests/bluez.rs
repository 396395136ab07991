//! The simulated BlueZ on a private D-Bus, driven by a zbus client as a BlueZ
//! client would: discovery, Device1 properties, connect, GATT objects, a real
//! protocol session (handshake, device info) over WriteValue and
//! PropertiesChanged(Value), identity read, client and peripheral-side
//! disconnects, org.bluez.Error replies, connect-failure injection, the
//! `sim-device --bluez` binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use smartcontrol_ble::client::Connection;
use smartcontrol_ble::transport::{BleChannel, BoxFuture, FrameWriter, TransportError};
use smartcontrol_ble::uuids::{AdvertData, SERVICE_UUID};
use smartcontrol_sim_device::bluez::{
    device_address, device_path, BluezError, BluezSim, BluezSimConfig, GattCache, PrivateBus,
    SimDeviceProcess,
};
use smartcontrol_sim_device::{LinkModel, SimWorld, VehicleTiming};
use zbus::message::Type as MsgType;
use zbus::{
    Connection as Bus, MatchRule, Message, MessageStream, OwnedObjectPath, OwnedVariant, Variant,
};

const ADAPTER: &str = "/org/bluez/hci0";
const DEVICE1: &str = "org.bluez.Device1";
const CHAR1: &str = "org.bluez.GattCharacteristic1";

fn bus() -> PrivateBus {
    PrivateBus::start().expect(
        "a private dbus-daemon must start (scripts/test installs them: apt-get install bluez dbus-daemon)",
    )
}

async fn client(bus: &PrivateBus) -> Bus {
    // A call the service never answers fails the test instead of hanging it.
    zbus::connection::Builder::address(bus.address())
        .method_timeout(Duration::from_secs(15))
        .build()
        .await
        .unwrap()
}

async fn proxy(conn: &Bus, path: &str, iface: &str) -> zbus::Proxy<'static> {
    zbus::proxy::Builder::<zbus::Proxy<'static>>::new(conn)
        .destination("org.bluez")
        .path(path.to_owned())
        .interface(iface.to_owned())
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .unwrap()
}

/// Every signal org.bluez sends.
async fn signals(conn: &Bus) -> MessageStream {
    let rule = MatchRule::builder()
        .msg_type(MsgType::Signal)
        .sender("org.bluez")
        .build()
        .unwrap();
    MessageStream::for_match_rule(rule, conn, None)
        .await
        .unwrap()
}

/// Wait (≤ 10 s) for a signal matching `pred`.
async fn wait_signal(stream: &mut MessageStream, what: &str, pred: impl Fn(&Message) -> bool) {
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(m)) = stream.next().await {
            if pred(&m) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "no signal: {what}");
}

fn member(m: &Message) -> String {
    m.header()
        .member()
        .map(|x| x.to_string())
        .unwrap_or_default()
}

fn path(m: &Message) -> String {
    m.header().path().map(|x| x.to_string()).unwrap_or_default()
}

fn props_changed(m: &Message) -> Option<(String, HashMap<String, OwnedVariant>)> {
    if member(m) != "PropertiesChanged" {
        return None;
    }
    let (iface, changed, _inv): (String, HashMap<String, OwnedVariant>, Vec<String>) =
        m.body().deserialize().ok()?;
    Some((iface, changed))
}

fn is_bool_change(m: &Message, at: &str, prop: &str, value: bool) -> bool {
    path(m) == at
        && props_changed(m).is_some_and(|(i, c)| {
            i == DEVICE1 && c.get(prop).and_then(|v| bool::try_from(v.clone()).ok()) == Some(value)
        })
}

fn interfaces_added(m: &Message) -> Option<(String, Vec<String>)> {
    if member(m) != "InterfacesAdded" {
        return None;
    }
    let (p, ifaces): (
        OwnedObjectPath,
        HashMap<String, HashMap<String, OwnedVariant>>,
    ) = m.body().deserialize().ok()?;
    Some((p.to_string(), ifaces.into_keys().collect()))
}

fn interfaces_removed(m: &Message) -> Option<(String, Vec<String>)> {
    if member(m) != "InterfacesRemoved" {
        return None;
    }
    let (p, ifaces): (OwnedObjectPath, Vec<String>) = m.body().deserialize().ok()?;
    Some((p.to_string(), ifaces))
}

fn dbus_error(e: &zbus::Error) -> String {
    match e {
        zbus::Error::MethodError(name, desc, _) => {
            format!("{}: {}", name.as_str(), desc.clone().unwrap_or_default())
        }
        other => format!("not a method error: {other}"),
    }
}

/// `e` is the BlueZ error reply `name` (e.g. `org.bluez.Error.NotConnected`).
#[track_caller]
fn assert_bluez_error(e: &zbus::Error, name: &str) {
    let got = dbus_error(e);
    assert!(got.starts_with(name), "expected {name}, got {got}");
}

type Managed = HashMap<OwnedObjectPath, HashMap<String, HashMap<String, OwnedVariant>>>;

async fn managed(conn: &Bus) -> Managed {
    let om = proxy(conn, "/", "org.freedesktop.DBus.ObjectManager").await;
    om.call("GetManagedObjects", &()).await.unwrap()
}

fn no_options() -> HashMap<&'static str, Variant<'static>> {
    HashMap::new()
}

async fn serve(world: SimWorld, bus: &PrivateBus) -> BluezSim {
    serve_with(world, bus, BluezSimConfig::default()).await
}

async fn serve_with(world: SimWorld, bus: &PrivateBus, config: BluezSimConfig) -> BluezSim {
    BluezSim::serve(world, bus.address(), config).await.unwrap()
}

/// main.conf `Cache = no`: GATT objects go with the link.
fn no_gatt_cache() -> BluezSimConfig {
    BluezSimConfig {
        gatt_cache: GattCache::No,
        ..BluezSimConfig::default()
    }
}

/// Start discovery and wait for the device object.
async fn discover(conn: &Bus, sig: &mut MessageStream, dev: &str) {
    let adapter = proxy(conn, ADAPTER, "org.bluez.Adapter1").await;
    let mut filter: HashMap<&str, Variant<'_>> = HashMap::new();
    filter.insert("UUIDs", Variant::from(vec![SERVICE_UUID.to_string()]));
    filter.insert("Transport", Variant::from("le"));
    filter.insert("DuplicateData", Variant::from(true));
    adapter
        .call_method("SetDiscoveryFilter", &(filter,))
        .await
        .unwrap();
    adapter.call_method("StartDiscovery", &()).await.unwrap();
    wait_signal(sig, "InterfacesAdded of the device", |m| {
        interfaces_added(m).is_some_and(|(p, i)| p == dev && i.iter().any(|x| x == DEVICE1))
    })
    .await;
}

/// ble's BleChannel over the simulated BlueZ, as a BlueZ driver builds it.
struct DbusWriter {
    write: zbus::Proxy<'static>,
    device: zbus::Proxy<'static>,
}

impl FrameWriter for DbusWriter {
    fn write<'a>(&'a mut self, frame: &'a [u8]) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            let mut opts: HashMap<&str, Variant<'_>> = HashMap::new();
            opts.insert("type", Variant::from("command"));
            self.write
                .call_method("WriteValue", &(frame.to_vec(), opts))
                .await
                .map(|_| ())
                .map_err(|e| TransportError::Io(dbus_error(&e)))
        })
    }

    fn disconnect(&mut self) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async move {
            self.device
                .call_method("Disconnect", &())
                .await
                .map(|_| ())
                .map_err(|e| TransportError::Io(dbus_error(&e)))
        })
    }
}

async fn dbus_channel(conn: &Bus, serial: &str, dev: &str, mtu: usize) -> BleChannel {
    let notify = format!("{dev}/service000a/char000d");
    let rule = MatchRule::builder()
        .msg_type(MsgType::Signal)
        .sender("org.bluez")
        .path_namespace(dev.to_owned())
        .member("PropertiesChanged")
        .build()
        .unwrap();
    let mut stream = MessageStream::for_match_rule(rule, conn, None)
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(4096);
    let dev_path = dev.to_owned();
    let notify_path = notify.clone();
    tokio::spawn(async move {
        while let Some(Ok(m)) = stream.next().await {
            let Some((iface, changed)) = props_changed(&m) else {
                continue;
            };
            if path(&m) == notify_path && iface == CHAR1 {
                if let Some(v) = changed.get("Value") {
                    let bytes: Vec<u8> = Vec::try_from(v.clone()).unwrap();
                    if tx.send(bytes).await.is_err() {
                        return;
                    }
                }
            } else if path(&m) == dev_path
                && iface == DEVICE1
                && changed
                    .get("Connected")
                    .and_then(|v| bool::try_from(v.clone()).ok())
                    == Some(false)
            {
                return;
            }
        }
    });
    proxy(conn, &notify, CHAR1)
        .await
        .call_method("StartNotify", &())
        .await
        .unwrap();
    BleChannel {
        serial: serial.to_owned(),
        mtu,
        writer: Box::new(DbusWriter {
            write: proxy(conn, &format!("{dev}/service000a/char000b"), CHAR1).await,
            device: proxy(conn, dev, DEVICE1).await,
        }),
        notifications: rx,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_connect_session_and_disconnect() {
    let bus = bus();
    let (w, dev_sim) = world(LinkModel::fast(), VehicleTiming::instant());
    let sim = serve_with(w, &bus, no_gatt_cache()).await;
    let conn = client(&bus).await;
    let mut sig = signals(&conn).await;

    // Nothing but the adapter before discovery.
    let objs = managed(&conn).await;
    assert!(objs.keys().any(|p| p.as_str() == ADAPTER));
    assert!(!objs.keys().any(|p| p.as_str().contains("/dev_")));

    let addr = device_address(SERIAL);
    assert!(addr.starts_with(['C', 'D', 'E', 'F']), "{addr}");
    let dev = device_path(&addr);
    discover(&conn, &mut sig, &dev).await;

    // Device1 properties, with the types bluez-async reads.
    let d = proxy(&conn, &dev, DEVICE1).await;
    assert_eq!(d.get_property::<String>("Address").await.unwrap(), addr);
    assert_eq!(
        d.get_property::<String>("AddressType").await.unwrap(),
        "random"
    );
    assert_eq!(d.get_property::<String>("Name").await.unwrap(), SERIAL);
    assert_eq!(d.get_property::<String>("Alias").await.unwrap(), SERIAL);
    // The world's -55 dBm, varying by a few dBm from report to report.
    let rssi = d.get_property::<i16>("RSSI").await.unwrap();
    assert!((-58..=-52).contains(&rssi), "RSSI {rssi}");
    assert!(!d.get_property::<bool>("Connected").await.unwrap());
    assert!(!d.get_property::<bool>("Paired").await.unwrap());
    assert_eq!(
        d.get_property::<Vec<String>>("UUIDs").await.unwrap(),
        vec![SERVICE_UUID.to_string()]
    );
    let sd: HashMap<String, OwnedVariant> = d.get_property("ServiceData").await.unwrap();
    let adv: Vec<u8> = Vec::try_from(sd[&SERVICE_UUID.to_string()].clone()).unwrap();
    let expected = dev_sim.advertisement().await.data;
    assert_eq!(AdvertData::decode(&adv).unwrap(), expected);
    let adapter = proxy(&conn, ADAPTER, "org.bluez.Adapter1").await;
    assert!(adapter.get_property::<bool>("Discovering").await.unwrap());
    assert!(adapter.get_property::<bool>("Powered").await.unwrap());

    // Connect: GATT objects, then ServicesResolved.
    d.call_method("Connect", &()).await.unwrap();
    assert!(d.get_property::<bool>("Connected").await.unwrap());
    assert!(d.get_property::<bool>("ServicesResolved").await.unwrap());
    assert!(sim.is_connected(SERIAL));
    let objs = managed(&conn).await;
    let svc = format!("{dev}/service000a");
    for (p, iface) in [
        (svc.clone(), "org.bluez.GattService1"),
        (format!("{svc}/char000b"), CHAR1),
        (format!("{svc}/char000d"), CHAR1),
        (
            format!("{svc}/char000d/desc000f"),
            "org.bluez.GattDescriptor1",
        ),
        (format!("{svc}/char0010"), CHAR1),
    ] {
        let o = objs
            .iter()
            .find(|(k, _)| k.as_str() == p)
            .unwrap_or_else(|| panic!("{p} not exported"));
        assert!(o.1.contains_key(iface), "{p} lacks {iface}");
    }
    let write = proxy(&conn, &format!("{svc}/char000b"), CHAR1).await;
    assert_eq!(write.get_property::<u16>("MTU").await.unwrap(), 247);
    assert_eq!(
        write.get_property::<Vec<String>>("Flags").await.unwrap(),
        vec!["write-without-response", "write"]
    );

    // Identity read equals the advertised service data.
    let ident = proxy(&conn, &format!("{svc}/char0010"), CHAR1).await;
    let v: Vec<u8> = ident.call("ReadValue", &(no_options(),)).await.unwrap();
    assert_eq!(v, expected.encode());

    // A real session through WriteValue(command) and PropertiesChanged(Value).
    let ch = dbus_channel(&conn, SERIAL, &dev, 247).await;
    let notify = proxy(&conn, &format!("{svc}/char000d"), CHAR1).await;
    assert!(notify.get_property::<bool>("Notifying").await.unwrap());
    let mut c = Connection::handshake(ch, &grant(), JOB, &phone(), client_config())
        .await
        .unwrap();
    let info = c.device_info().await.unwrap();
    assert_eq!(info.serial, SERIAL);
    assert_eq!(info.firmware_version, "2.4.1");
    assert!(dev_sim.link_counters().frames_to_device >= 3);
    // Many frames each way, in order: a 4 KiB configuration and its read-back.
    let cfg = config_bytes(4096, 3);
    c.write_config("over-dbus", &cfg, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(c.read_config().await.unwrap().bytes, cfg);
    assert_eq!(
        dev_sim.active_config().await.unwrap().config_id,
        "over-dbus"
    );

    // Client disconnect: ServicesResolved/Connected false, GATT removed
    // (Cache = no).
    c.close().await.unwrap();
    wait_signal(&mut sig, "Connected=false", |m| {
        is_bool_change(m, &dev, "Connected", false)
    })
    .await;
    assert!(!sim.is_connected(SERIAL));
    let objs = managed(&conn).await;
    assert!(objs.keys().any(|p| p.as_str() == dev), "device stays known");
    assert!(!objs.keys().any(|p| p.as_str().starts_with(&svc)));
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peripheral_side_disconnect_reaches_the_client() {
    let bus = bus();
    let (w, dev_sim) = world(LinkModel::ideal(185), VehicleTiming::instant());
    let _sim = serve_with(w, &bus, no_gatt_cache()).await;
    let conn = client(&bus).await;
    let mut sig = signals(&conn).await;
    let dev = device_path(&device_address(SERIAL));
    discover(&conn, &mut sig, &dev).await;

    dev_sim.faults().disconnect_after_frames(2);
    let d = proxy(&conn, &dev, DEVICE1).await;
    d.call_method("Connect", &()).await.unwrap();
    let write = proxy(&conn, &format!("{dev}/service000a/char000b"), CHAR1).await;
    assert_eq!(write.get_property::<u16>("MTU").await.unwrap(), 185);
    let ch = dbus_channel(&conn, SERIAL, &dev, 185).await;
    let err = Connection::handshake(ch, &grant(), JOB, &phone(), client_config())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            smartcontrol_ble::ClientError::Transport(TransportError::Disconnected)
        ),
        "{err:?}"
    );
    wait_signal(&mut sig, "InterfacesRemoved of the service", |m| {
        interfaces_removed(m).is_some_and(|(p, i)| {
            p == format!("{dev}/service000a") && i.iter().any(|x| x == "org.bluez.GattService1")
        })
    })
    .await;
    assert!(!d.get_property::<bool>("Connected").await.unwrap());
    assert!(!d.get_property::<bool>("ServicesResolved").await.unwrap());

    // Writing to the gone characteristic fails; reconnecting works.
    let e = write
        .call_method("WriteValue", &(vec![1u8, 2, 3], no_options()))
        .await
        .unwrap_err();
    assert!(
        dbus_error(&e).contains("UnknownObject") || dbus_error(&e).contains("NotConnected"),
        "{}",
        dbus_error(&e)
    );
    d.call_method("Connect", &()).await.unwrap();
    assert!(d.get_property::<bool>("ServicesResolved").await.unwrap());
}

fn client_config() -> smartcontrol_ble::client::ClientConfig {
    common::client()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn org_bluez_error_replies_and_connect_failure_injection() {
    let bus = bus();
    let (w, _dev_sim) = world(LinkModel::ideal(185), VehicleTiming::instant());
    let sim = serve(w, &bus).await;
    let conn = client(&bus).await;
    let mut sig = signals(&conn).await;
    let dev = device_path(&device_address(SERIAL));
    let adapter = proxy(&conn, ADAPTER, "org.bluez.Adapter1").await;

    let mut bad: HashMap<&str, Variant<'_>> = HashMap::new();
    bad.insert("Bogus", Variant::from(1u32));
    let e = adapter
        .call_method("SetDiscoveryFilter", &(bad,))
        .await
        .unwrap_err();
    assert_bluez_error(&e, "org.bluez.Error.InvalidArguments");
    let e = adapter.call_method("StopDiscovery", &()).await.unwrap_err();
    assert_bluez_error(&e, "org.bluez.Error.Failed");

    discover(&conn, &mut sig, &dev).await;
    let e = adapter
        .call_method("StartDiscovery", &())
        .await
        .unwrap_err();
    assert_bluez_error(&e, "org.bluez.Error.InProgress");

    let d = proxy(&conn, &dev, DEVICE1).await;
    let e = d.call_method("Disconnect", &()).await.unwrap_err();
    assert_bluez_error(&e, "org.bluez.Error.NotConnected");
    let e = d.call_method("Pair", &()).await.unwrap_err();
    assert_bluez_error(&e, "org.bluez.Error.NotSupported");

    // Injected connect failures, then a connection.
    sim.fail_next_connects(2, "le-connection-abort-by-local");
    let before = sim.connect_attempts();
    for _ in 0..2 {
        let e = d.call_method("Connect", &()).await.unwrap_err();
        assert_eq!(
            dbus_error(&e),
            "org.bluez.Error.Failed: le-connection-abort-by-local"
        );
        assert!(!d.get_property::<bool>("Connected").await.unwrap());
    }
    d.call_method("Connect", &()).await.unwrap();
    assert_eq!(sim.connect_attempts() - before, 3);

    let svc = format!("{dev}/service000a");
    let write = proxy(&conn, &format!("{svc}/char000b"), CHAR1).await;
    let notify = proxy(&conn, &format!("{svc}/char000d"), CHAR1).await;
    let ident = proxy(&conn, &format!("{svc}/char0010"), CHAR1).await;
    let cccd = proxy(
        &conn,
        &format!("{svc}/char000d/desc000f"),
        "org.bluez.GattDescriptor1",
    )
    .await;

    let code = |e: zbus::Error| dbus_error(&e);
    // A read-only characteristic: with no type no write procedure fits
    // (NotSupported); a write request goes out and the CloudBoxx refuses it.
    let e = ident
        .call_method("WriteValue", &(vec![1u8], no_options()))
        .await
        .unwrap_err();
    assert_eq!(
        code(e),
        "org.bluez.Error.NotSupported: Operation is not supported"
    );
    let mut req: HashMap<&str, Variant<'_>> = HashMap::new();
    req.insert("type", Variant::from("request"));
    let e = ident
        .call_method("WriteValue", &(vec![1u8], req))
        .await
        .unwrap_err();
    assert_eq!(code(e), "org.bluez.Error.NotPermitted: Write not permitted");
    let e = write
        .call_method("ReadValue", &(no_options(),))
        .await
        .unwrap_err();
    assert!(code(e).starts_with("org.bluez.Error.NotPermitted"));
    let e = write.call_method("StartNotify", &()).await.unwrap_err();
    assert!(code(e).starts_with("org.bluez.Error.NotSupported"));
    // Acquire* need write-without-response / notify (gatt-client.c).
    let e = write
        .call_method("AcquireNotify", &(no_options(),))
        .await
        .unwrap_err();
    assert!(code(e).starts_with("org.bluez.Error.NotSupported"));
    let e = notify
        .call_method("AcquireWrite", &(no_options(),))
        .await
        .unwrap_err();
    assert!(code(e).starts_with("org.bluez.Error.NotSupported"));
    // An unknown write type: NotSupported (characteristic_write_value).
    let mut bogus: HashMap<&str, Variant<'_>> = HashMap::new();
    bogus.insert("type", Variant::from("bogus"));
    let e = write
        .call_method("WriteValue", &(vec![1u8], bogus))
        .await
        .unwrap_err();
    assert!(code(e).starts_with("org.bluez.Error.NotSupported"));
    // Longer than MTU - 3 (182): a command cannot carry it ("Failed"), a
    // write with response (the default) becomes a long write, up to 512.
    let mut command: HashMap<&str, Variant<'_>> = HashMap::new();
    command.insert("type", Variant::from("command"));
    let e = write
        .call_method("WriteValue", &(vec![0u8; 183], command))
        .await
        .unwrap_err();
    assert_eq!(code(e), "org.bluez.Error.Failed: Failed to initiate write");
    write
        .call_method("WriteValue", &(vec![0u8; 183], no_options()))
        .await
        .unwrap();
    let mut request: HashMap<&str, Variant<'_>> = HashMap::new();
    request.insert("type", Variant::from("request"));
    write
        .call_method("WriteValue", &(vec![0u8; 512], request.clone()))
        .await
        .unwrap();
    let e = write
        .call_method("WriteValue", &(vec![0u8; 513], request))
        .await
        .unwrap_err();
    assert_eq!(code(e), "org.bluez.Error.InvalidArguments: Invalid Length");
    let e = cccd
        .call_method("WriteValue", &(vec![1u8, 0], no_options()))
        .await
        .unwrap_err();
    assert!(code(e).starts_with("org.bluez.Error.NotPermitted"));
    let mut off: HashMap<&str, Variant<'_>> = HashMap::new();
    off.insert("offset", Variant::from(200u16));
    let e = ident.call_method("ReadValue", &(off,)).await.unwrap_err();
    assert_eq!(code(e), "org.bluez.Error.InvalidArguments: Invalid offset");

    // CCCD follows StartNotify/StopNotify.
    let v: Vec<u8> = cccd.call("ReadValue", &(no_options(),)).await.unwrap();
    assert_eq!(v, vec![0, 0]);
    notify.call_method("StartNotify", &()).await.unwrap();
    let v: Vec<u8> = cccd.call("ReadValue", &(no_options(),)).await.unwrap();
    assert_eq!(v, vec![1, 0]);
    notify.call_method("StopNotify", &()).await.unwrap();
    assert!(!notify.get_property::<bool>("Notifying").await.unwrap());

    // A write within MTU - 3 is accepted (the firmware drops the garbage).
    write
        .call_method("WriteValue", &(vec![0u8; 182], no_options()))
        .await
        .unwrap();

    // RemoveDevice disconnects and removes the object.
    adapter
        .call_method(
            "RemoveDevice",
            &(zbus::ObjectPath::try_from(dev.as_str()).unwrap(),),
        )
        .await
        .unwrap();
    wait_signal(&mut sig, "InterfacesRemoved of the device", |m| {
        interfaces_removed(m).is_some_and(|(p, i)| p == dev && i.iter().any(|x| x == DEVICE1))
    })
    .await;
    assert!(!sim.is_connected(SERIAL));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_filter_uuids_select_devices() {
    let bus = bus();
    let (w, _dev_sim) = world(LinkModel::ideal(185), VehicleTiming::instant());
    let _sim = serve(w, &bus).await;
    let conn = client(&bus).await;
    let adapter = proxy(&conn, ADAPTER, "org.bluez.Adapter1").await;
    let mut filter: HashMap<&str, Variant<'_>> = HashMap::new();
    filter.insert("UUIDs", Variant::from(vec!["180d".to_owned()]));
    adapter
        .call_method("SetDiscoveryFilter", &(filter,))
        .await
        .unwrap();
    adapter.call_method("StartDiscovery", &()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!managed(&conn)
        .await
        .keys()
        .any(|p| p.as_str().contains("/dev_")));
    let filters: Vec<String> = adapter.call("GetDiscoveryFilters", &()).await.unwrap();
    assert!(filters.contains(&"UUIDs".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_name_is_exclusive_and_released_on_drop() {
    let bus = bus();
    let (w, _dev_sim) = world(LinkModel::ideal(185), VehicleTiming::instant());
    let sim = serve(w.clone(), &bus).await;
    match BluezSim::serve(w.clone(), bus.address(), BluezSimConfig::default()).await {
        Err(BluezError::NameTaken(_)) => {}
        other => panic!("expected NameTaken, got {other:?}"),
    }
    drop(sim);
    let mut last = None;
    for _ in 0..50 {
        match BluezSim::serve(w.clone(), bus.address(), BluezSimConfig::default()).await {
            Ok(s) => {
                last = Some(s);
                break;
            }
            Err(e) => {
                assert!(matches!(e, BluezError::NameTaken(_)), "{e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    assert!(last.is_some(), "org.bluez not released after drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_device_bluez_binary_serves_until_killed() {
    let bus = bus();
    let p = SimDeviceProcess::spawn(
        env!("CARGO_BIN_EXE_sim-device"),
        bus.address(),
        &["--device", "CBX-000201", "--device", "CBX-000202"],
    )
    .unwrap();
    assert_eq!(p.bus_address(), bus.address());
    assert_eq!(p.devices().len(), 2);
    assert_eq!(p.devices()["CBX-000201"], device_address("CBX-000201"));
    let conn = client(&bus).await;
    let mut sig = signals(&conn).await;
    discover(&conn, &mut sig, &device_path(&device_address("CBX-000202"))).await;

    // A second one on the same bus fails clearly (as with a real bluetoothd).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sim-device"))
        .args(["--bluez", "--bus", bus.address(), "--device", "CBX-9"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already owned"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    p.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_ends_when_its_client_leaves_the_bus() {
    let bus = bus();
    let (w, _dev_sim) = world(LinkModel::ideal(185), VehicleTiming::instant());
    let _sim = serve(w, &bus).await;
    let watcher = client(&bus).await;
    let adapter = proxy(&watcher, ADAPTER, "org.bluez.Adapter1").await;
    {
        let scanner = client(&bus).await;
        proxy(&scanner, ADAPTER, "org.bluez.Adapter1")
            .await
            .call_method("StartDiscovery", &())
            .await
            .unwrap();
        assert!(adapter.get_property::<bool>("Discovering").await.unwrap());
        scanner.close().await.unwrap();
    }
    let mut off = false;
    for _ in 0..60 {
        if !adapter.get_property::<bool>("Discovering").await.unwrap() {
            off = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(off, "Discovering stayed true after its client left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_off_drop_link_and_writable_properties() {
    let bus = bus();
    let (w, _dev_sim) = world(LinkModel::ideal(185), VehicleTiming::instant());
    let sim = serve(w, &bus).await;
    let conn = client(&bus).await;
    let mut sig = signals(&conn).await;
    let dev = device_path(&device_address(SERIAL));
    discover(&conn, &mut sig, &dev).await;
    let d = proxy(&conn, &dev, DEVICE1).await;
    let adapter = proxy(&conn, ADAPTER, "org.bluez.Adapter1").await;

    // Trusted and Alias are writable, with PropertiesChanged.
    d.set_property("Trusted", true).await.unwrap();
    wait_signal(&mut sig, "Trusted=true", |m| {
        is_bool_change(m, &dev, "Trusted", true)
    })
    .await;
    assert!(d.get_property::<bool>("Trusted").await.unwrap());
    d.set_property("Alias", "van 7").await.unwrap();
    assert_eq!(d.get_property::<String>("Alias").await.unwrap(), "van 7");

    // The device drops the link (out of range): Connected=false.
    d.call_method("Connect", &()).await.unwrap();
    assert!(sim.drop_link(SERIAL).await);
    wait_signal(&mut sig, "Connected=false after drop_link", |m| {
        is_bool_change(m, &dev, "Connected", false)
    })
    .await;
    assert!(!sim.drop_link(SERIAL).await, "no link left to drop");

    // Powered off: links end, discovery stops, Connect/StartDiscovery NotReady.
    d.call_method("Connect", &()).await.unwrap();
    adapter.set_property("Powered", false).await.unwrap();
    wait_signal(&mut sig, "Connected=false after power off", |m| {
        is_bool_change(m, &dev, "Connected", false)
    })
    .await;
    wait_signal(&mut sig, "Discovering=false after power off", |m| {
        path(m) == ADAPTER
            && props_changed(m).is_some_and(|(_, c)| {
                c.get("Discovering")
                    .and_then(|v| bool::try_from(v.clone()).ok())
                    == Some(false)
            })
    })
    .await;
    let e = d.call_method("Connect", &()).await.unwrap_err();
    assert_bluez_error(&e, "org.bluez.Error.NotReady");
    let e = adapter
        .call_method("StartDiscovery", &())
        .await
        .unwrap_err();
    assert_bluez_error(&e, "org.bluez.Error.NotReady");
    adapter.set_property("Powered", true).await.unwrap();
    d.call_method("Connect", &()).await.unwrap();

    // Blocking a connected device drops its link; Connect then fails.
    d.set_property("Blocked", true).await.unwrap();
    wait_signal(&mut sig, "Connected=false after Blocked", |m| {
        is_bool_change(m, &dev, "Connected", false)
    })
    .await;
    let e = d.call_method("Connect", &()).await.unwrap_err();
    assert_bluez_error(&e, "org.bluez.Error.Failed");
}

async fn get_all(conn: &Bus, path: &str, iface: &str) -> HashMap<String, OwnedVariant> {
    let p = proxy(conn, path, "org.freedesktop.DBus.Properties").await;
    p.call("GetAll", &(iface,)).await.unwrap()
}

/// A device's Device1 property `prop` (a string), if the object has it.
async fn device_string(conn: &Bus, path: &str, prop: &str) -> Option<String> {
    let d = proxy(conn, path, DEVICE1).await;
    d.get_property::<String>(prop).await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_arrive_after_start_discovery_and_repeat() {
    let bus = bus();
    let (w, _dev_sim) = world(LinkModel::ideal(185), VehicleTiming::instant());
    let _sim = serve(w, &bus).await;
    let conn = client(&bus).await;
    let addr = device_address(SERIAL);
    let dev = device_path(&addr);
    let adapter = proxy(&conn, ADAPTER, "org.bluez.Adapter1").await;
    let mut filter: HashMap<&str, Variant<'_>> = HashMap::new();
    filter.insert("UUIDs", Variant::from(vec![SERVICE_UUID.to_string()]));
    filter.insert("Transport", Variant::from("le"));
    adapter
        .call_method("SetDiscoveryFilter", &(filter,))
        .await
        .unwrap();
    adapter.call_method("StartDiscovery", &()).await.unwrap();
    // Subscribed only now: the reports still come, as from bluetoothd.
    let mut sig = signals(&conn).await;

    // Look the device up by address, from the signals alone.
    let mut by_address = None;
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(m)) = sig.next().await {
            let p = match interfaces_added(&m) {
                Some((p, _)) => p,
                None if props_changed(&m).is_some_and(|(i, _)| i == DEVICE1) => path(&m),
                None => continue,
            };
            if !p.contains("/dev_") || seen.contains(&p) {
                continue;
            }
            seen.push(p.clone());
            if device_string(&conn, &p, "Address").await.as_deref() == Some(addr.as_str()) {
                by_address = Some(p);
                return;
            }
        }
    })
    .await
    .expect("no advertising report after the StartDiscovery reply");
    assert_eq!(by_address.as_deref(), Some(dev.as_str()));
    // And by name.
    let mut by_name = None;
    for p in &seen {
        if device_string(&conn, p, "Name").await.as_deref() == Some(SERIAL) {
            by_name = Some(p.clone());
        }
    }
    assert_eq!(by_name.as_deref(), Some(dev.as_str()));

    // Under a filter every report refreshes RSSI: several in a second, with
    // plausible values around the world's -55 dBm.
    let mut rssis = Vec::new();
    tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(Ok(m)) = sig.next().await {
            if path(&m) != dev {
                continue;
            }
            if let Some((_, c)) = props_changed(&m) {
                if let Some(v) = c.get("RSSI") {
                    rssis.push(i16::try_from(v.clone()).unwrap());
                    if rssis.len() == 4 {
                        return;
                    }
                }
            }
        }
    })
    .await
    .expect("RSSI not refreshed periodically while discovering");
    assert!(rssis.iter().all(|r| (-58..=-52).contains(r)), "{rssis:?}");

    // StopDiscovery invalidates RSSI: the property is gone.
    adapter.call_method("StopDiscovery", &()).await.unwrap();
    wait_signal(&mut sig, "RSSI invalidated", |m| {
        if path(m) != dev || member(m) != "PropertiesChanged" {
            return false;
        }
        let body: Result<(String, HashMap<String, OwnedVariant>, Vec<String>), _> =
            m.body().deserialize();
        body.is_ok_and(|(_, _, inv)| inv.iter().any(|x| x == "RSSI"))
    })
    .await;
    let d = proxy(&conn, &dev, DEVICE1).await;
    assert!(d.get_property::<i16>("RSSI").await.is_err());
    assert!(!get_all(&conn, &dev, DEVICE1).await.contains_key("RSSI"));
    assert!(get_all(&conn, &dev, DEVICE1).await.contains_key("Address"));
}

/// ble's BleChannel over acquired sockets: one packet per frame each way.
struct FdWriter(std::sync::Arc<tokio::net::UnixDatagram>);

impl FrameWriter for FdWriter {
    fn write<'a>(&'a mut self, frame: &'a [u8]) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            self.0
                .send(frame)
                .await
                .map(|_| ())
                .map_err(|e| TransportError::Io(e.to_string()))
        })
    }

    fn disconnect(&mut self) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async { Ok(()) })
    }
}

fn unix_socket(fd: zbus::OwnedFd) -> tokio::net::UnixDatagram {
    let fd = std::os::fd::OwnedFd::from(fd);
    let s = std::os::unix::net::UnixDatagram::from(fd);
    s.set_nonblocking(true).unwrap();
    tokio::net::UnixDatagram::from_std(s).unwrap()
}

fn bool_change(m: &Message, at: &str, prop: &str) -> Option<bool> {
    if path(m) != at {
        return None;
    }
    let (i, c) = props_changed(m)?;
    if i != CHAR1 {
        return None;
    }
    c.get(prop).and_then(|v| bool::try_from(v.clone()).ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acquire_write_and_notify_pass_sockets() {
    let bus = bus();
    let (w, dev_sim) = world(LinkModel::ideal(185), VehicleTiming::instant());
    let _sim = serve(w, &bus).await;
    let conn = client(&bus).await;
    let mut sig = signals(&conn).await;
    let dev = device_path(&device_address(SERIAL));
    discover(&conn, &mut sig, &dev).await;
    let d = proxy(&conn, &dev, DEVICE1).await;
    d.call_method("Connect", &()).await.unwrap();
    let svc = format!("{dev}/service000a");
    let (wpath, npath, ipath) = (
        format!("{svc}/char000b"),
        format!("{svc}/char000d"),
        format!("{svc}/char0010"),
    );
    let write = proxy(&conn, &wpath, CHAR1).await;
    let notify = proxy(&conn, &npath, CHAR1).await;

    // Properties as BlueZ 5.66's gatt-client.c: no Handle on client objects,
    // WriteAcquired only with write-without-response, NotifyAcquired and
    // Notifying only with notify.
    let wp = get_all(&conn, &wpath, CHAR1).await;
    let np = get_all(&conn, &npath, CHAR1).await;
    let ip = get_all(&conn, &ipath, CHAR1).await;
    assert!(!bool::try_from(wp["WriteAcquired"].clone()).unwrap());
    assert!(!wp.contains_key("NotifyAcquired") && !wp.contains_key("Notifying"));
    assert!(!bool::try_from(np["NotifyAcquired"].clone()).unwrap());
    assert!(!np.contains_key("WriteAcquired"));
    assert!(!ip.contains_key("WriteAcquired") && !ip.contains_key("NotifyAcquired"));
    for p in [&wp, &np, &ip] {
        assert!(!p.contains_key("Handle"), "Handle on a 5.66 client object");
        assert!(p.contains_key("MTU"));
    }
    assert!(!get_all(&conn, &svc, "org.bluez.GattService1")
        .await
        .contains_key("Handle"));
    assert!(!get_all(
        &conn,
        &format!("{npath}/desc000f"),
        "org.bluez.GattDescriptor1"
    )
    .await
    .contains_key("Handle"));

    // AcquireWrite / AcquireNotify: a socket and the MTU each.
    let (wfd, wmtu): (zbus::OwnedFd, u16) =
        write.call("AcquireWrite", &(no_options(),)).await.unwrap();
    assert_eq!(wmtu, 185);
    wait_signal(&mut sig, "WriteAcquired=true", |m| {
        bool_change(m, &wpath, "WriteAcquired") == Some(true)
    })
    .await;
    assert!(write.get_property::<bool>("WriteAcquired").await.unwrap());
    let e = write
        .call_method("AcquireWrite", &(no_options(),))
        .await
        .unwrap_err();
    assert_eq!(
        dbus_error(&e),
        "org.bluez.Error.NotPermitted: Write acquired"
    );
    let e = write
        .call_method("WriteValue", &(vec![1u8], no_options()))
        .await
        .unwrap_err();
    assert_eq!(
        dbus_error(&e),
        "org.bluez.Error.NotPermitted: Write acquired"
    );
    let (nfd, nmtu): (zbus::OwnedFd, u16) = notify
        .call("AcquireNotify", &(no_options(),))
        .await
        .unwrap();
    assert_eq!(nmtu, 185);
    assert!(notify.get_property::<bool>("NotifyAcquired").await.unwrap());
    assert!(!notify.get_property::<bool>("Notifying").await.unwrap());
    let e = notify.call_method("StartNotify", &()).await.unwrap_err();
    assert_eq!(
        dbus_error(&e),
        "org.bluez.Error.NotPermitted: Notify acquired"
    );
    let e = notify
        .call_method("AcquireNotify", &(no_options(),))
        .await
        .unwrap_err();
    assert_eq!(
        dbus_error(&e),
        "org.bluez.Error.NotPermitted: Notify acquired"
    );

    // A protocol session through the two sockets.
    let wsock = std::sync::Arc::new(unix_socket(wfd));
    let nsock = unix_socket(nfd);
    let (tx, rx) = tokio::sync::mpsc::channel(4096);
    let reader = tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok(n) = nsock.recv(&mut buf).await {
            if n == 0 || tx.send(buf[..n].to_vec()).await.is_err() {
                break;
            }
        }
        nsock
    });
    let ch = BleChannel {
        serial: SERIAL.to_owned(),
        mtu: 185,
        writer: Box::new(FdWriter(wsock.clone())),
        notifications: rx,
    };
    let mut c = Connection::handshake(ch, &grant(), JOB, &phone(), client_config())
        .await
        .unwrap();
    assert_eq!(c.device_info().await.unwrap().serial, SERIAL);
    let cfg = config_bytes(2048, 5);
    c.write_config("over-fds", &cfg, &mut |_| {}).await.unwrap();
    assert_eq!(c.read_config().await.unwrap().bytes, cfg);
    assert_eq!(dev_sim.active_config().await.unwrap().config_id, "over-fds");
    drop(c);

    // Closing a socket releases the lock.
    drop(wsock);
    wait_signal(&mut sig, "WriteAcquired=false", |m| {
        bool_change(m, &wpath, "WriteAcquired") == Some(false)
    })
    .await;
    assert!(!write.get_property::<bool>("WriteAcquired").await.unwrap());
    write
        .call_method("WriteValue", &(vec![1u8], no_options()))
        .await
        .unwrap();
    reader.abort();
    let _ = reader.await;
    wait_signal(&mut sig, "NotifyAcquired=false", |m| {
        bool_change(m, &npath, "NotifyAcquired") == Some(false)
    })
    .await;
    // A StartNotify session then makes AcquireNotify InProgress.
    notify.call_method("StartNotify", &()).await.unwrap();
    let e = notify
        .call_method("AcquireNotify", &(no_options(),))
        .await
        .unwrap_err();
    assert_bluez_error(&e, "org.bluez.Error.InProgress");
}

fn opts(entries: &[(&'static str, Variant<'static>)]) -> HashMap<&'static str, Variant<'static>> {
    entries.iter().cloned().collect()
}

/// WriteValue as gatt-client.c's `characteristic_write_value` chooses the
/// procedure: an `offset` makes a long write at that offset, `type:
/// reliable` a reliable long write; the CloudBoxx's server answers Invalid
/// Offset past its value (InvalidArguments "Invalid offset") and Invalid
/// Attribute Value Length past 512 bytes; a command cannot carry an offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_value_with_offset_and_reliable_writes() {
    let bus = bus();
    let (w, dev_sim) = world(LinkModel::ideal(185), VehicleTiming::instant());
    let _sim = serve(w, &bus).await;
    let conn = client(&bus).await;
    let mut sig = signals(&conn).await;
    let dev = device_path(&device_address(SERIAL));
    discover(&conn, &mut sig, &dev).await;
    proxy(&conn, &dev, DEVICE1)
        .await
        .call_method("Connect", &())
        .await
        .unwrap();
    let write = proxy(&conn, &format!("{dev}/service000a/char000b"), CHAR1).await;
    let code = |e: zbus::Error| dbus_error(&e);
    let frames = || dev_sim.link_counters().frames_to_device;

    // A 10-byte value, then 6 bytes at offset 4: the value is 10 bytes again.
    write
        .call_method("WriteValue", &(vec![7u8; 10], no_options()))
        .await
        .unwrap();
    let before = frames();
    write
        .call_method(
            "WriteValue",
            &(vec![8u8; 6], opts(&[("offset", Variant::from(4u16))])),
        )
        .await
        .unwrap();
    assert!(frames() > before, "the long write reached the CloudBoxx");
    // Offset 10 (the end) appends; 21 is past the 20-byte value.
    write
        .call_method(
            "WriteValue",
            &(vec![9u8; 10], opts(&[("offset", Variant::from(10u16))])),
        )
        .await
        .unwrap();
    let e = write
        .call_method(
            "WriteValue",
            &(vec![1u8], opts(&[("offset", Variant::from(21u16))])),
        )
        .await
        .unwrap_err();
    assert_eq!(code(e), "org.bluez.Error.InvalidArguments: Invalid offset");
    // Offset + length past 512.
    let e = write
        .call_method(
            "WriteValue",
            &(vec![1u8; 500], opts(&[("offset", Variant::from(20u16))])),
        )
        .await
        .unwrap_err();
    assert_eq!(code(e), "org.bluez.Error.InvalidArguments: Invalid Length");
    // A write command has no offset.
    let e = write
        .call_method(
            "WriteValue",
            &(
                vec![1u8],
                opts(&[
                    ("offset", Variant::from(2u16)),
                    ("type", Variant::from("command")),
                ]),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(
        code(e),
        "org.bluez.Error.NotSupported: Operation is not supported"
    );

    // Reliable writes: short, long and at an offset.
    for (len, offset) in [(3usize, 0u16), (400, 0), (5, 398)] {
        let before = frames();
        write
            .call_method(
                "WriteValue",
                &(
                    vec![2u8; len],
                    opts(&[
                        ("type", Variant::from("reliable")),
                        ("offset", Variant::from(offset)),
                    ]),
                ),
            )
            .await
            .unwrap_or_else(|e| panic!("reliable write of {len} at {offset}: {}", code(e)));
        assert!(frames() > before);
    }
    let e = write
        .call_method(
            "WriteValue",
            &(
                vec![2u8; 1],
                opts(&[
                    ("type", Variant::from("reliable")),
                    ("offset", Variant::from(404u16)),
                ]),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(code(e), "org.bluez.Error.InvalidArguments: Invalid offset");
    // A wrongly typed offset is the call's invalid arguments (parse_options).
    let e = write
        .call_method(
            "WriteValue",
            &(vec![1u8], opts(&[("offset", Variant::from("four"))])),
        )
        .await
        .unwrap_err();
    assert!(code(e).starts_with("org.bluez.Error.InvalidArguments"));
}

/// BlueZ 5.66 keeps the attributes of a disconnected device (main.conf
/// `Cache = always`): the GATT objects stay, and calls on them answer
/// `org.bluez.Error.Failed: Not connected` (gatt-client.c, `!gatt`);
/// StopNotify without a session answers `Failed: No notify session
/// started`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gatt_calls_on_a_disconnected_device_and_stop_notify_without_a_session() {
    let bus = bus();
    let (w, _dev_sim) = world(LinkModel::ideal(185), VehicleTiming::instant());
    let _sim = serve(w, &bus).await;
    let conn = client(&bus).await;
    let mut sig = signals(&conn).await;
    let dev = device_path(&device_address(SERIAL));
    discover(&conn, &mut sig, &dev).await;
    let d = proxy(&conn, &dev, DEVICE1).await;
    d.call_method("Connect", &()).await.unwrap();
    let svc = format!("{dev}/service000a");
    let write = proxy(&conn, &format!("{svc}/char000b"), CHAR1).await;
    let notify = proxy(&conn, &format!("{svc}/char000d"), CHAR1).await;
    let ident = proxy(&conn, &format!("{svc}/char0010"), CHAR1).await;
    let cccd = proxy(
        &conn,
        &format!("{svc}/char000d/desc000f"),
        "org.bluez.GattDescriptor1",
    )
    .await;
    let code = |e: zbus::Error| dbus_error(&e);

    // Connected, no session: StopNotify is refused.
    let e = notify.call_method("StopNotify", &()).await.unwrap_err();
    assert_eq!(code(e), "org.bluez.Error.Failed: No notify session started");
    notify.call_method("StartNotify", &()).await.unwrap();
    notify.call_method("StopNotify", &()).await.unwrap();
    let e = notify.call_method("StopNotify", &()).await.unwrap_err();
    assert_eq!(code(e), "org.bluez.Error.Failed: No notify session started");

    d.call_method("Disconnect", &()).await.unwrap();
    wait_signal(&mut sig, "Connected=false", |m| {
        is_bool_change(m, &dev, "Connected", false)
    })
    .await;
    assert!(!d.get_property::<bool>("ServicesResolved").await.unwrap());
    let objs = managed(&conn).await;
    assert!(
        objs.keys().any(|p| p.as_str() == format!("{svc}/char000b")),
        "the cached GATT objects stay: {:?}",
        objs.keys().collect::<Vec<_>>()
    );
    let e = write
        .call_method("WriteValue", &(vec![1u8], no_options()))
        .await
        .unwrap_err();
    assert_eq!(code(e), "org.bluez.Error.Failed: Not connected");
    let e = ident
        .call_method("ReadValue", &(no_options(),))
        .await
        .unwrap_err();
    assert_eq!(code(e), "org.bluez.Error.Failed: Not connected");
    let e = cccd
        .call_method("ReadValue", &(no_options(),))
        .await
        .unwrap_err();
    assert_eq!(code(e), "org.bluez.Error.Failed: Not connected");
    let e = write
        .call_method("AcquireWrite", &(no_options(),))
        .await
        .unwrap_err();
    assert_eq!(code(e), "org.bluez.Error.Failed: Not connected");
    let e = notify.call_method("StopNotify", &()).await.unwrap_err();
    assert_eq!(code(e), "org.bluez.Error.Failed: No notify session started");

    // Reconnecting brings the same objects back to life.
    d.call_method("Connect", &()).await.unwrap();
    assert!(d.get_property::<bool>("ServicesResolved").await.unwrap());
    write
        .call_method("WriteValue", &(vec![1u8], no_options()))
        .await
        .unwrap();
    let v: Vec<u8> = ident.call("ReadValue", &(no_options(),)).await.unwrap();
    assert!(!v.is_empty());
}

/// device.c's temporary timer: a discovered device that was never
/// connected is removed (InterfacesRemoved) once no advertising report
/// refreshed it for TemporaryTimeout (BlueZ: 30 s; here 400 ms). Reports
/// during discovery keep it; a device that was connected is no longer
/// temporary and stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_devices_disappear_after_the_timeout_once_discovery_stops() {
    let bus = bus();
    let (w, _dev_sim) = world(LinkModel::ideal(185), VehicleTiming::instant());
    let timeout = Duration::from_millis(400);
    let _sim = serve_with(
        w,
        &bus,
        BluezSimConfig {
            temporary_timeout: Some(timeout),
            ..BluezSimConfig::default()
        },
    )
    .await;
    let conn = client(&bus).await;
    let mut sig = signals(&conn).await;
    let dev = device_path(&device_address(SERIAL));
    let adapter = proxy(&conn, ADAPTER, "org.bluez.Adapter1").await;
    let known = |objs: &Managed| objs.keys().any(|p| p.as_str() == dev);

    discover(&conn, &mut sig, &dev).await;
    // While discovering, the reports keep it well past the timeout.
    tokio::time::sleep(timeout * 3).await;
    assert!(known(&managed(&conn).await), "kept while it advertises");
    adapter.call_method("StopDiscovery", &()).await.unwrap();
    let stopped = std::time::Instant::now();
    wait_signal(&mut sig, "InterfacesRemoved of the temporary device", |m| {
        interfaces_removed(m).is_some_and(|(p, i)| p == dev && i.iter().any(|x| x == DEVICE1))
    })
    .await;
    let after = stopped.elapsed();
    assert!(
        after >= timeout - Duration::from_millis(200),
        "removed after {after:?}, before the timeout"
    );
    assert!(!known(&managed(&conn).await));

    // Found again, connected once, disconnected: no longer temporary.
    discover(&conn, &mut sig, &dev).await;
    let d = proxy(&conn, &dev, DEVICE1).await;
    d.call_method("Connect", &()).await.unwrap();
    d.call_method("Disconnect", &()).await.unwrap();
    adapter.call_method("StopDiscovery", &()).await.unwrap();
    tokio::time::sleep(timeout * 4).await;
    assert!(known(&managed(&conn).await), "a connected device is kept");
}
