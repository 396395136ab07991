//! The driver's bounded connection retries against the simulated BlueZ
//! (in this process, on a private `dbus-daemon`) with injected connect
//! failures: BlueZ answering `org.bluez.Error.Failed:
//! le-connection-abort-by-local` is retried up to `connect_attempts`, then
//! reported; a serial nobody advertises is `NotFound` after the scan
//! timeout. (Its own test binary: libdbus keeps one system bus address per
//! process.)
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use smartcontrol_ble::btleplug::{BtleplugConfig, BtleplugConnector};
use smartcontrol_ble::transport::{BleConnector, TransportError};
use smartcontrol_sim_device::bluez::{BluezSim, BluezSimConfig, PrivateBus};
use smartcontrol_sim_device::{demo_fleet_public_key, SimDevice, SimDeviceConfig, SimWorld};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_failures_are_retried_a_bounded_number_of_times() {
    let bus = PrivateBus::start().unwrap();
    let world = SimWorld::new();
    world.add(SimDevice::new(SimDeviceConfig::new(
        "CBX-000301",
        demo_fleet_public_key(),
    )));
    let sim = BluezSim::serve(world, bus.address(), BluezSimConfig::default())
        .await
        .unwrap();
    std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", bus.address());
    let connector = BtleplugConnector::new(BtleplugConfig {
        adapter: Some("hci0".into()),
        scan_timeout: Duration::from_millis(1500),
        connect_attempts: 3,
        retry_delay: Duration::from_millis(50),
        ..BtleplugConfig::default()
    })
    .await
    .unwrap();

    // Two aborted connections, then the third attempt gets through.
    sim.fail_next_connects(2, "le-connection-abort-by-local");
    let before = sim.connect_attempts();
    let mut channel = connector.connect("CBX-000301").await.unwrap();
    assert_eq!(sim.connect_attempts() - before, 3);
    assert!(channel.mtu > 23, "MTU from the platform: {}", channel.mtu);
    assert!(sim.is_connected("CBX-000301"));
    channel.writer.disconnect().await.unwrap();
    // The forwarder ends and closes the notifications.
    let closed = tokio::time::timeout(Duration::from_secs(5), channel.notifications.recv())
        .await
        .unwrap();
    assert!(closed.is_none());
    for _ in 0..50 {
        if !sim.is_connected("CBX-000301") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!sim.is_connected("CBX-000301"), "disconnected on request");

    // Three failures exhaust the attempts: the platform's text is reported.
    sim.fail_next_connects(3, "le-connection-abort-by-local");
    let before = sim.connect_attempts();
    let err = connector.connect("CBX-000301").await.unwrap_err();
    assert_eq!(sim.connect_attempts() - before, 3);
    assert!(
        matches!(&err, TransportError::Io(t) if t.contains("le-connection-abort-by-local")),
        "{err:?}"
    );

    // Nobody advertises this serial.
    let err = connector.connect("CBX-999999").await.unwrap_err();
    assert_eq!(err, TransportError::NotFound("CBX-999999".into()));

    sim.stop().await;
}
