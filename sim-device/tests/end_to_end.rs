//! In-process end to end with ble's client: handshake, device info, 4 KiB
//! configuration, read-back, binding, every vehicle test healthy and under
//! each vehicle fault.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use smartcontrol_ble::message::{HintCode, VehicleTestId};
use smartcontrol_ble::transport::BleConnector;
use smartcontrol_sim_device::{Door, LinkModel, VehicleFault, VehicleTiming};

#[tokio::test(start_paused = true)]
async fn full_job_on_a_healthy_vehicle() {
    let (w, dev) = world(LinkModel::fast(), VehicleTiming::realistic());
    let ads = w.scan(Duration::from_secs(1)).await.unwrap();
    assert_eq!(ads.len(), 1);
    assert_eq!(ads[0].data.serial, SERIAL);

    let mut c = session(&w, &grant()).await;
    let info = c.device_info().await.unwrap();
    assert_eq!(info.serial, SERIAL);
    assert_eq!(info.firmware_version, "2.4.1");
    assert_eq!(info.active_config_id, "factory");
    assert!(info.bound_vin.is_empty());

    let cfg = config_bytes(4096, 1);
    let committed = c
        .write_config("preset-berlin", &cfg, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(committed.config_id, "preset-berlin");
    let back = c.read_config().await.unwrap();
    assert_eq!(back.bytes, cfg);
    assert_eq!(back.config_id, "preset-berlin");
    assert_eq!(dev.active_config().await.unwrap().bytes, cfg);

    assert_eq!(c.bind_vehicle(VIN).await.unwrap(), VIN);
    assert_eq!(c.device_info().await.unwrap().bound_vin, VIN);

    let start = tokio::time::Instant::now();
    for t in VehicleTestId::ALL {
        let r = c.run_test(t).await.unwrap();
        assert!(r.passed, "{t:?}: {r:?}");
        assert_eq!(r.hint, HintCode::None);
    }
    // Two lock actuations of 300-800 ms each happened on the virtual clock.
    assert!(start.elapsed() >= Duration::from_millis(600));
    c.close().await.unwrap();
    let fw = dev.firmware();
    let fw = fw.lock().await;
    assert_eq!(fw.test_log.len(), 10);
    assert!(!fw.vehicle.state.locked);
    assert!(fw.vehicle.state.driving_enabled);
}

#[tokio::test(start_paused = true)]
async fn every_vehicle_fault_fails_its_test_with_a_hint() {
    let cases: Vec<(VehicleFault, VehicleTestId, HintCode)> = vec![
        (
            VehicleFault::DoorStuckOpen(Door::FrontLeft),
            VehicleTestId::DoorsClosed,
            HintCode::CloseDoors,
        ),
        (
            VehicleFault::DoorStuckOpen(Door::Trunk),
            VehicleTestId::CentralLockLock,
            HintCode::CloseDoors,
        ),
        (
            VehicleFault::ImmobilizerNotWired,
            VehicleTestId::ImmobilizerDisableDriving,
            HintCode::CheckImmobilizerWiring,
        ),
        (
            VehicleFault::ImmobilizerNotWired,
            VehicleTestId::ImmobilizerEnableDriving,
            HintCode::CheckImmobilizerWiring,
        ),
        (
            VehicleFault::NoGnssFix,
            VehicleTestId::PositionFix,
            HintCode::MoveToOpenSky,
        ),
        (
            VehicleFault::LowBattery,
            VehicleTestId::CentralLockUnlock,
            HintCode::ChargeVehicleBattery,
        ),
        (
            VehicleFault::KeyMissing,
            VehicleTestId::KeyHolderPresent,
            HintCode::PlaceKeyInHolder,
        ),
        (
            VehicleFault::CanDisconnected,
            VehicleTestId::Mileage,
            HintCode::CheckCanConnection,
        ),
        (
            VehicleFault::LockActuatorFailure,
            VehicleTestId::CentralLockLock,
            HintCode::CheckLockActuator,
        ),
    ];
    let (w, dev) = world(LinkModel::fast(), VehicleTiming::realistic());
    let mut c = session(&w, &grant()).await;
    for (fault, test, hint) in cases {
        dev.faults().set_vehicle_fault(fault, true);
        let r = c.run_test(test).await.unwrap();
        assert!(!r.passed, "{fault:?} {test:?}: {r:?}");
        assert_eq!(r.hint, hint, "{fault:?} {test:?}");
        dev.faults().set_vehicle_fault(fault, false);
        let r = c.run_test(test).await.unwrap();
        assert!(r.passed, "after clearing {fault:?}: {r:?}");
    }
    // Low battery also shows in the device info.
    dev.faults()
        .set_vehicle_fault(VehicleFault::LowBattery, true);
    assert!(c.device_info().await.unwrap().battery_millivolts < 11_500);
}

#[tokio::test(start_paused = true)]
async fn scripted_fault_on_test_and_firmware_error() {
    let (w, dev) = world(LinkModel::typical(), VehicleTiming::instant());
    dev.faults().on_test(
        VehicleTestId::DoorsClosed,
        VehicleFault::DoorStuckOpen(Door::RearRight),
    );
    dev.faults().fail_operation(
        smartcontrol_sim_device::Operation::BindVehicle,
        smartcontrol_ble::ErrorCode::Busy,
        Some(1),
    );
    let mut c = session(&w, &grant()).await;
    // Before the doors test, the door is fine (key holder test runs first).
    assert!(
        c.run_test(VehicleTestId::KeyHolderPresent)
            .await
            .unwrap()
            .passed
    );
    let r = c.run_test(VehicleTestId::DoorsClosed).await.unwrap();
    assert_eq!(
        (r.passed, r.value, r.hint),
        (false, 1, HintCode::CloseDoors)
    );
    let e = c.bind_vehicle(VIN).await.unwrap_err();
    assert_eq!(e.device_code(), Some(smartcontrol_ble::ErrorCode::Busy));
    // One-shot: the retry works.
    assert_eq!(c.bind_vehicle(VIN).await.unwrap(), VIN);
}

#[tokio::test(start_paused = true)]
async fn lossy_link_still_completes_through_retransmission() {
    let (w, dev) = world(LinkModel::typical(), VehicleTiming::instant());
    dev.faults().set_loss_rate(0.03);
    dev.faults().corrupt_frames([5, 40]);
    let mut c = session(&w, &grant()).await;
    let cfg = config_bytes(8192, 3);
    c.write_config("lossy", &cfg, &mut |_| {}).await.unwrap();
    assert_eq!(c.read_config().await.unwrap().bytes, cfg);
    let n = dev.link_counters();
    assert!(n.frames_dropped > 0, "{n:?}");
    assert!(n.frames_corrupted >= 2, "{n:?}");
}
