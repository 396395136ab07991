//! The on-vehicle workflow end to end: sim-cloud issues the job-scoped
//! grant on claim, the core runs the workflow offline against a CloudBoxx
//! provisioned with the fleet's public key, the report reaches the provider,
//! and access ends with the job.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use smartcontrol_cloud_api::{JobKind, JobStatus};
use smartcontrol_core::ble::device::BasicDevice;
use smartcontrol_core::ble::security::{DeviceIdentity, DeviceRevocations, VerifyingKey};
use smartcontrol_core::ble::transport::{LoopbackConnector, LoopbackDevice};
use smartcontrol_core::{CoreError, JobView, WorkflowEvent, WorkflowOptions};
use smartcontrol_tests::{ids, DemoCloud};

struct Vehicle {
    connector: LoopbackConnector,
    device: Arc<tokio::sync::Mutex<BasicDevice>>,
    entry: LoopbackDevice,
}

/// The CloudBoxx of `job_id`, provisioned with its fleet's public key.
fn cloudboxx_for(c: &DemoCloud, job_id: &str) -> Vehicle {
    let job = c.cloud.admin().job(job_id).unwrap().job;
    let serial = job.cloudboxx_serial.clone().unwrap();
    let key = c.cloud.admin().fleet_public_key(&job.fleet_id).unwrap();
    let device = Arc::new(tokio::sync::Mutex::new(BasicDevice::new(&serial)));
    let entry = LoopbackDevice {
        identity: DeviceIdentity {
            serial,
            fleet_public_key: VerifyingKey::from_bytes(&key).unwrap(),
        },
        handler: device.clone(),
        revocations: Arc::new(Mutex::new(DeviceRevocations::new())),
        clock: Arc::new(|| u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)),
        mtu: 185,
        drop_next_after_writes: Arc::new(Mutex::new(None)),
    };
    let connector = LoopbackConnector::new();
    connector.add(entry.clone());
    Vehicle {
        connector,
        device,
        entry,
    }
}

fn options() -> WorkflowOptions {
    WorkflowOptions {
        reconnect_delay: std::time::Duration::from_millis(10),
        ..WorkflowOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installation_runs_offline_and_its_report_reaches_the_provider() {
    let c = DemoCloud::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (anna, job) = c.claimed_installation(dir.path()).await.unwrap();
    assert!(
        anna.access_grant(&job).unwrap().is_some(),
        "grant downloaded"
    );
    let vehicle = cloudboxx_for(&c, &job);

    // At the vehicle, offline; the link drops once mid-configuration.
    c.offline();
    *vehicle.entry.drop_next_after_writes.lock().unwrap() = Some(24);
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let report = anna
        .run_vehicle_workflow(&job, &vehicle.connector, &options(), &move |e| {
            sink.lock().unwrap().push(e)
        })
        .await
        .unwrap();
    assert!(report.all_tests_passed);
    assert_eq!(report.tests.len(), 10);
    assert_eq!(report.reconnects, 1);
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
    assert!(report.required_work.done, "{:?}", report.required_work);
    let events = events.lock().unwrap().clone();
    assert!(events
        .iter()
        .any(|e| matches!(e, WorkflowEvent::Reconnecting { .. })));
    assert!(events.iter().any(
        |e| matches!(e, WorkflowEvent::ConfigProgress { resumed_from, .. } if *resumed_from > 0)
    ));
    let cloud_job = c.cloud.admin().job(&job).unwrap().job;
    {
        let device = vehicle.device.lock().await;
        assert_eq!(
            device.config.active().map(|a| a.config_id.clone()),
            report.device.config_id
        );
        assert_eq!(Some(device.info.bound_vin.clone()), cloud_job.vin);
    }

    anna.complete_succeeded(&job, Some("installed behind the glovebox".into()))
        .unwrap();
    assert!(
        anna.access_grant(&job).unwrap().is_none(),
        "access ends with the job"
    );
    c.online();
    anna.sync().await.unwrap();
    let provider_view = c.cloud.admin().job(&job).unwrap();
    assert_eq!(provider_view.job.status, JobStatus::Succeeded);
    let r = provider_view.report.unwrap();
    assert_eq!(r.vehicle_tests.len(), 10);
    assert_eq!(r.device.unwrap().config_id, report.device.config_id);
    assert_eq!(r.steps.len(), 9);
    assert!(
        r.attestation.is_some(),
        "the unit's signed attestation travels with the report"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_grant_or_on_the_wrong_unit_the_workflow_stops_with_a_clear_error() {
    let c = DemoCloud::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (anna, job) = c.claimed_installation(dir.path()).await.unwrap();
    let vehicle = cloudboxx_for(&c, &job);

    // The unit answers with another serial than it advertises.
    vehicle.device.lock().await.info.serial = "CBX-999999".into();
    let err = anna
        .run_vehicle_workflow(&job, &vehicle.connector, &options(), &|_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, CoreError::WrongDevice { .. }), "{err}");

    // Withdrawn: the grant is erased and the workflow refuses.
    anna.withdraw(&job).unwrap();
    assert!(anna.access_grant(&job).unwrap().is_none());
    let err = anna
        .run_vehicle_workflow(&job, &vehicle.connector, &options(), &|_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, CoreError::NoVehicleAccess { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_grant_is_refused_by_the_device() {
    let c = DemoCloud::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (anna, job) = c.claimed_installation(dir.path()).await.unwrap();
    let vehicle = cloudboxx_for(&c, &job);
    let grant_id = anna.access_grant(&job).unwrap().unwrap().grant_id;
    let mut id = [0u8; 16];
    for (i, b) in id.iter_mut().enumerate() {
        *b = u8::from_str_radix(&grant_id[2 * i..2 * i + 2], 16).unwrap();
    }
    vehicle
        .entry
        .revocations
        .lock()
        .unwrap()
        .revoke(id, u64::MAX);
    let err = anna
        .run_vehicle_workflow(&job, &vehicle.connector, &options(), &|_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, CoreError::DeviceRefused { .. }), "{err}");
    let step = &anna.job(&job).unwrap();
    assert_eq!(step.summary.status, JobStatus::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maintenance_job_tests_the_vehicle_without_reconfiguring_the_unit() {
    let c = DemoCloud::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let anna = c.anna(dir.path()).await.unwrap();
    anna.sync().await.unwrap();
    let job = ids(&anna, JobView::Available)
        .unwrap()
        .into_iter()
        .find(|j| anna.job(j).unwrap().cloud.kind == JobKind::Maintenance)
        .unwrap();
    anna.claim(&job).unwrap();
    anna.sync().await.unwrap();
    let vehicle = cloudboxx_for(&c, &job);
    let report = anna
        .run_vehicle_workflow(&job, &vehicle.connector, &options(), &|_| {})
        .await
        .unwrap();
    let steps: Vec<_> = report.steps.iter().map(|s| s.step.as_str()).collect();
    assert_eq!(
        steps,
        [
            "connect",
            "authenticate",
            "identify",
            "check_vehicle",
            "vehicle_tests",
            "attest"
        ],
        "maintenance access has no configure permission"
    );
    assert!(report.all_tests_passed);
    assert!(vehicle.device.lock().await.config.active().is_none());
}
