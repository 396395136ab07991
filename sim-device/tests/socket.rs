//! The socket server and SocketConnector round trip over loopback TCP.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use smartcontrol_ble::client::Connection;
use smartcontrol_ble::message::VehicleTestId;
use smartcontrol_ble::transport::{BleConnector, TransportError};
use smartcontrol_sim_device::{LinkModel, SocketConnector, SocketServer, VehicleTiming};

#[tokio::test]
async fn socket_round_trip() {
    // Real time here: a quick untimed link keeps it fast.
    let (w, dev) = world(LinkModel::ideal(185), VehicleTiming::instant());
    let server = SocketServer::bind("127.0.0.1:0", w).await.unwrap();
    let conn = SocketConnector::new(server.local_addr());

    let ads = conn.scan(Duration::from_millis(100)).await.unwrap();
    assert_eq!(ads.len(), 1);
    assert_eq!(ads[0].data.serial, SERIAL);

    match conn.connect("CBX-NOPE").await {
        Err(TransportError::NotFound(s)) => assert_eq!(s, "CBX-NOPE"),
        other => panic!("{other:?}"),
    }

    let ch = conn.connect(SERIAL).await.unwrap();
    assert_eq!(ch.mtu, 185);
    let mut c = Connection::handshake(ch, &grant(), JOB, &phone(), client())
        .await
        .unwrap();
    assert_eq!(c.device_info().await.unwrap().serial, SERIAL);
    let cfg = config_bytes(4096, 2);
    c.write_config("over-tcp", &cfg, &mut |_| {}).await.unwrap();
    assert_eq!(c.read_config().await.unwrap().bytes, cfg);
    assert!(c.run_test(VehicleTestId::DoorsClosed).await.unwrap().passed);
    c.close().await.unwrap();
    assert_eq!(dev.active_config().await.unwrap().config_id, "over-tcp");

    // MTU cap and a device-side disconnect reach the client.
    let conn = conn.with_mtu(23);
    dev.faults().disconnect_after_frames(3);
    let ch = conn.connect(SERIAL).await.unwrap();
    assert_eq!(ch.mtu, 23);
    let err = Connection::handshake(ch, &grant(), JOB, &phone(), client())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            smartcontrol_ble::ClientError::Transport(TransportError::Disconnected)
        ),
        "{err:?}"
    );
    server.shutdown();
}
