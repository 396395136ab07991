//! A peripheral-side disconnect in the middle of the configuration transfer,
//! through the real BLE driver and the simulated BlueZ (`sim-device --bluez`
//! in its own process on a private `dbus-daemon`): BlueZ reports the link
//! down, the driver closes the channel, core's workflow reconnects and the
//! transfer resumes where the device acknowledged. (Its own test binary:
//! libdbus keeps one system bus address per process.)
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peripheral_side_disconnect_mid_configuration_is_recovered() {
    let c = DemoCloud::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (anna, job) = c.claimed_installation(dir.path()).await.unwrap();

    let rig = BluezRig::start(&c.job_scenario(&job, "fast", Some(40)).unwrap()).unwrap();
    let connector = rig.connector(test_driver_config()).await.unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let report = anna
        .run_vehicle_workflow(&job, &connector, &options(), &move |e| {
            sink.lock().unwrap().push(e)
        })
        .await
        .unwrap();
    assert!(report.reconnects >= 1, "reconnects {}", report.reconnects);
    assert!(report.all_tests_passed, "{:?}", report.tests);
    assert!(report.steps.iter().all(|s| s.ok));
    let events = events.lock().unwrap().clone();
    assert!(events
        .iter()
        .any(|e| matches!(e, WorkflowEvent::Reconnecting { .. })));
    assert!(
        events.iter().any(
            |e| matches!(e, WorkflowEvent::ConfigProgress { resumed_from, .. } if *resumed_from > 0)
        ),
        "the transfer resumed instead of restarting"
    );
    anna.complete_succeeded(&job, None).unwrap();
    anna.sync().await.unwrap();
    assert_eq!(
        c.cloud.admin().job(&job).unwrap().job.status,
        JobStatus::Succeeded
    );
}
