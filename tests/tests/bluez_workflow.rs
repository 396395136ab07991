//! The on-vehicle job flow through the real BLE driver: a private
//! `dbus-daemon`, the simulated BlueZ (`sim-device --bluez`, its own process)
//! and the code under test (core + `BtleplugConnector` over D-Bus), with
//! sim-cloud issuing the grant and receiving the report. The rig stops both
//! processes by their ids. (One test per binary: libdbus keeps one system
//! bus address per process.)
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use smartcontrol_ble::transport::BleConnector;
use smartcontrol_cloud_api::JobStatus;
use smartcontrol_core::{WorkflowEvent, WorkflowOptions};
use smartcontrol_tests::bluez::{test_driver_config, BluezRig};
use smartcontrol_tests::DemoCloud;

fn options() -> WorkflowOptions {
    WorkflowOptions {
        reconnect_delay: Duration::from_millis(100),
        ..WorkflowOptions::default()
    }
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installation_runs_through_btleplug_and_the_simulated_bluez() {
    let c = DemoCloud::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (anna, job) = c.claimed_installation(dir.path()).await.unwrap();
    let serial = c
        .cloud
        .admin()
        .job(&job)
        .unwrap()
        .job
        .cloudboxx_serial
        .unwrap();

    let rig = BluezRig::start(&c.job_scenario(&job, "fast", None).unwrap()).unwrap();
    let (bus_pid, sim_pid) = rig.pids();
    assert!(process_alive(bus_pid) && process_alive(sim_pid));
    assert_eq!(rig.serials(), vec![serial.clone()]);
    let connector = rig.connector(test_driver_config()).await.unwrap();
    assert_eq!(connector.adapter_name(), "hci0");

    // The driver sees the unit advertise its serial.
    let seen = connector.scan(Duration::from_millis(600)).await.unwrap();
    assert!(
        seen.iter().any(|a| a.data.serial == serial),
        "scan found {seen:?}"
    );

    // At the vehicle, offline.
    c.offline();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let report = anna
        .run_vehicle_workflow(&job, &connector, &options(), &move |e| {
            sink.lock().unwrap().push(e)
        })
        .await
        .unwrap();
    assert!(report.all_tests_passed, "{:?}", report.tests);
    assert_eq!(report.tests.len(), 10);
    assert_eq!(report.reconnects, 0);
    let steps: Vec<_> = report.steps.iter().map(|s| s.step.as_str()).collect();
    assert_eq!(
        steps,
        [
            "connect",
            "authenticate",
            "identify",
            "check_vehicle",
            "bind_vehicle",
            "configure",
            "verify",
            "vehicle_tests",
            "attest"
        ]
    );
    assert!(report.steps.iter().all(|s| s.ok));
    assert_eq!(report.device.serial, serial);
    // The MTU came from the (simulated) platform, not the 23-byte fallback.
    let connect_detail = &report.steps[0].detail;
    assert!(
        connect_detail.contains("MTU") && !connect_detail.contains("MTU 23"),
        "{connect_detail}"
    );
    assert!(events
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, WorkflowEvent::ConfigProgress { .. })));

    anna.complete_succeeded(&job, Some("installed over BLE".into()))
        .unwrap();
    c.online();
    anna.sync().await.unwrap();
    let provider_view = c.cloud.admin().job(&job).unwrap();
    assert_eq!(provider_view.job.status, JobStatus::Succeeded);
    let r = provider_view.report.unwrap();
    assert_eq!(r.vehicle_tests.len(), 10);
    assert_eq!(r.device.unwrap().config_id, report.device.config_id);

    drop(connector);
    drop(rig);
    assert!(!process_alive(sim_pid), "sim-device stopped by its pid");
    assert!(!process_alive(bus_pid), "dbus-daemon stopped by its pid");
}
