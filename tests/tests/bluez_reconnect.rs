//! A peripheral-side disconnect in the middle of the configuration transfer,
//! through the real BLE driver and the simulated BlueZ (`sim-device --bluez`
//! in its own process on a private `dbus-daemon`): BlueZ reports the link
//! down, the driver closes the channel, core's workflow reconnects and the
//! transfer resumes where the device acknowledged. (Its own test binary:
//! libdbus keeps one system bus address per process.)
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use smartcontrol_ble::btleplug::BtleplugConfig;
use smartcontrol_cloud_api::{JobKind, JobStatus};
use smartcontrol_core::{JobView, SmartControl, WorkflowEvent, WorkflowOptions};
use smartcontrol_tests::bluez::{scenario, BluezRig};
use smartcontrol_tests::{ids, DemoCloud};

/// Anna claims an installation job and syncs (the grant arrives).
async fn claimed_installation(c: &DemoCloud, dir: &std::path::Path) -> (SmartControl, String) {
    let anna = c.anna(dir).await.unwrap();
    anna.sync().await.unwrap();
    let job = ids(&anna, JobView::Available)
        .unwrap()
        .into_iter()
        .find(|j| anna.job(j).unwrap().cloud.kind == JobKind::Installation)
        .unwrap();
    anna.claim(&job).unwrap();
    anna.sync().await.unwrap();
    assert!(anna.access_grant(&job).unwrap().is_some(), "grant synced");
    (anna, job)
}

/// The scenario of the job's CloudBoxx, provisioned with its fleet's key.
fn job_scenario(c: &DemoCloud, job: &str, disconnect_after_frames: Option<u64>) -> String {
    let cloud_job = c.cloud.admin().job(job).unwrap().job;
    let key = c
        .cloud
        .admin()
        .fleet_public_key_hex(&cloud_job.fleet_id)
        .unwrap();
    scenario(
        &cloud_job.cloudboxx_serial.unwrap(),
        &key,
        "fast",
        disconnect_after_frames,
    )
}

fn driver_config() -> BtleplugConfig {
    BtleplugConfig {
        scan_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(10),
        retry_delay: Duration::from_millis(100),
        ..BtleplugConfig::default()
    }
}

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
    let (anna, job) = claimed_installation(&c, dir.path()).await;

    let rig = BluezRig::start(&job_scenario(&c, &job, Some(40))).unwrap();
    let connector = rig.connector(driver_config()).await.unwrap();
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
