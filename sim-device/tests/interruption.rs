//! Interruption: the link drops at every frame boundary of a configuration
//! transfer (2 KiB at MTU 23); the previous configuration stays active and is
//! never half-written, and a reconnect resumes and commits the new one.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use smartcontrol_ble::client::{ClientError, Connection};
use smartcontrol_ble::transport::BleConnector;
use smartcontrol_sim_device::{LinkModel, SimDevice, SimWorld, VehicleTiming};

const LEN: usize = 2048;

async fn connect(w: &SimWorld) -> Result<Connection, ClientError> {
    let ch = w.connect(SERIAL).await?;
    Connection::handshake(ch, &grant(), JOB, &phone(), client()).await
}

fn fresh() -> (SimWorld, SimDevice) {
    // Untimed link at MTU 23: the same frame boundaries as a legacy link, fast.
    world(LinkModel::ideal(23), VehicleTiming::instant())
}

#[tokio::test(start_paused = true)]
async fn disconnect_at_every_frame_boundary_keeps_the_old_config_and_resumes() {
    let cfg = config_bytes(LEN, 4);
    // Frames of a clean connection: handshake + transfer.
    let (w, dev) = fresh();
    let mut c = connect(&w).await.unwrap();
    c.write_config("new", &cfg, &mut |_| {}).await.unwrap();
    let total = dev.link_counters().frames_this_connection;
    assert!(total > 150, "{total} frames");

    let mut resumed_mid_transfer = 0;
    for n in 1..total {
        let (w, dev) = fresh();
        dev.faults().disconnect_after_frames(n);
        let first = match connect(&w).await {
            Ok(mut c) => c.write_config("new", &cfg, &mut |_| {}).await.map(|_| ()),
            Err(e) => Err(e),
        };
        // The unit is done with the cut connection: every frame the link
        // delivered before the cut went through its engine and firmware.
        dev.connections_closed().await;
        let counters = dev.link_counters();
        assert_eq!(
            counters.frames_handled, counters.frames_to_device,
            "n={n}: frames delivered but never handled"
        );
        let active = dev.active_config().await.unwrap();
        match &first {
            Err(_) => {
                // Either untouched, or fully committed just before the cut.
                assert!(
                    active.config_id == "factory" || active.bytes == cfg,
                    "n={n}: half-written config {}",
                    active.config_id
                );
                if active.config_id == "factory" {
                    assert_eq!(active.bytes, b"factory defaults", "n={n}");
                }
            }
            Ok(()) => assert_eq!(active.bytes, cfg, "n={n}"),
        }
        // Reconnect (no fault) and finish.
        let mut c = connect(&w).await.unwrap();
        let mut resumed_from = 0;
        c.write_config("new", &cfg, &mut |p| resumed_from = p.resumed_from)
            .await
            .unwrap();
        if resumed_from > 0 {
            resumed_mid_transfer += 1;
        }
        let active = dev.active_config().await.unwrap();
        assert_eq!(
            (active.config_id.as_str(), &active.bytes),
            ("new", &cfg),
            "n={n}"
        );
        assert_eq!(c.read_config().await.unwrap().bytes, cfg, "n={n}");
    }
    assert!(resumed_mid_transfer > 0, "no resume from a staged offset");
}
