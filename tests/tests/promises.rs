//! The promises of Installer Jobs end to end, through the core, the
//! simulated cloud and simulated CloudBoxx units: a job completes only
//! after its required work, attested by its own unit; the vehicle's
//! identity is checked before binding; what the provider left open is
//! entered on site and reaches the provider; vehicle access is renewed while
//! the job runs and truly ends (account removal, take-over, completion, a
//! copied data directory).
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use smartcontrol_core::ble::message::VehicleTestId;
use smartcontrol_core::cloud_api::{Action, JobKind, JobStatus, RejectReason};
use smartcontrol_core::{CoreError, Event, JobView, SiteEntry, SmartControl, WorkflowOptions};
use smartcontrol_sim_cloud::model::NewJob;
use smartcontrol_sim_device::CellularConfig;
use smartcontrol_tests::{ids, open_device, quick_workflow, DemoCloud, TestClock};

fn only(tests: &[VehicleTestId]) -> WorkflowOptions {
    WorkflowOptions {
        tests: tests.to_vec(),
        ..quick_workflow()
    }
}

/// The first of Anna's available jobs the predicate picks.
fn pick(
    c: &DemoCloud,
    anna: &SmartControl,
    pred: impl Fn(&smartcontrol_core::cloud_api::Job) -> bool,
) -> String {
    ids(anna, JobView::Available)
        .unwrap()
        .into_iter()
        .find(|id| pred(&c.cloud.admin().job(id).unwrap().job))
        .unwrap()
}

fn refusal(r: Result<smartcontrol_core::QueuedAction, CoreError>) -> String {
    match r {
        Err(e @ CoreError::ActionRefused { .. }) => e.to_string(),
        other => panic!("expected a refusal by the rules, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installation_completes_only_after_its_required_work_in_the_latest_run() {
    let c = DemoCloud::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (anna, job) = c.claimed_installation(dir.path()).await.unwrap();
    let clock = TestClock::new();
    let (world, unit) = c.job_unit(&job, &clock).unwrap();
    // Right after the claim, with no device work at all.
    let text = refusal(anna.complete_succeeded(&job, None));
    assert!(text.contains("no on-vehicle run"), "{text}");
    let detail = anna.job(&job).unwrap();
    assert!(!detail.required_work.done);
    assert_eq!(detail.required_work.items.len(), 3 + 10);
    // One passing test is not enough.
    let r = anna
        .run_vehicle_workflow(
            &job,
            &world,
            &only(&[VehicleTestId::IgnitionState]),
            &|_| {},
        )
        .await
        .unwrap();
    assert!(r.all_tests_passed && !r.required_work.done);
    let text = refusal(anna.complete_succeeded(&job, None));
    assert!(
        text.contains("test central_lock_lock: not run in the latest run"),
        "{text}"
    );
    assert!(!text.contains("ignition_state"), "{text}");
    // A full run, then a worse one: the latest counts.
    let full = anna
        .run_vehicle_workflow(&job, &world, &quick_workflow(), &|_| {})
        .await
        .unwrap();
    assert!(full.required_work.done, "{:?}", full.required_work);
    unit.faults()
        .set_vehicle_fault(smartcontrol_sim_device::VehicleFault::NoGnssFix, true);
    anna.run_vehicle_workflow(&job, &world, &quick_workflow(), &|_| {})
        .await
        .unwrap();
    let text = refusal(anna.complete_succeeded(&job, None));
    assert!(text.contains("test position_fix: failed"), "{text}");
    unit.faults()
        .set_vehicle_fault(smartcontrol_sim_device::VehicleFault::NoGnssFix, false);
    anna.run_vehicle_workflow(&job, &world, &quick_workflow(), &|_| {})
        .await
        .unwrap();
    anna.complete_succeeded(&job, Some("done".into())).unwrap();
    anna.sync().await.unwrap();
    let pj = c.cloud.admin().job(&job).unwrap();
    assert_eq!(pj.job.status, JobStatus::Succeeded);
    assert!(pj.report.unwrap().attestation.is_some());
    let vehicles = c.cloud.admin().list_vehicles(&c.seed.provider_id).unwrap();
    let v = vehicles.iter().find(|v| v.job_id == job).unwrap();
    assert_eq!(Some(v.vin.clone()), pj.job.vin);
    assert_eq!(v.cloudboxx_serial, pj.job.cloudboxx_serial.unwrap());
    // FAILED with a comment never depends on the work.
    let other = pick(&c, &anna, |j| j.kind == JobKind::Installation);
    anna.claim(&other).unwrap();
    let failed = anna
        .complete_failed(&other, "the vehicle was not there")
        .unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_in_another_vehicle_is_caught_before_binding() {
    let c = DemoCloud::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (anna, job) = c.claimed_installation(dir.path()).await.unwrap();
    let clock = TestClock::new();
    let (world, unit) = c.job_unit(&job, &clock).unwrap();
    unit.firmware().lock().await.vehicle.state.vin = "WVWZZZ1JZXW999999".into();
    let err = anna
        .run_vehicle_workflow(&job, &world, &quick_workflow(), &|_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, CoreError::WrongVehicle { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("the vehicle reports VIN WVWZZZ1JZXW999999"),
        "{err}"
    );
    assert!(
        unit.firmware().lock().await.bound_vin.is_empty(),
        "nothing was bound"
    );
    // The same for a model that is not the job's.
    let (vin, _) = c.vehicle_of(&job).unwrap();
    {
        let fw = unit.firmware();
        let mut fw = fw.lock().await;
        fw.vehicle.state.vin = vin;
        fw.vehicle.state.model = "renault-zoe".into();
    }
    let err = anna
        .run_vehicle_workflow(&job, &world, &quick_workflow(), &|_| {})
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("the vehicle reports model renault-zoe"),
        "{err}"
    );
    let steps = anna.job(&job).unwrap();
    assert!(!steps.required_work.done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_provider_left_open_is_entered_offline_and_reaches_the_provider() {
    let c = DemoCloud::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let anna = c.anna(dir.path()).await.unwrap();
    anna.sync().await.unwrap();
    let job = pick(&c, &anna, |j| {
        c.seed.open_vin_job_ids.contains(&j.id) && j.cloudboxx_serial.is_some()
    });
    anna.claim(&job).unwrap();
    anna.sync().await.unwrap();
    let clock = TestClock::new();
    let (world, unit) = c.job_unit(&job, &clock).unwrap();
    let (vin, _) = c.vehicle_of(&job).unwrap();
    c.offline();
    // Without the VIN there is nothing to bind to: the run says what to do.
    let err = anna
        .run_vehicle_workflow(&job, &world, &quick_workflow(), &|_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, CoreError::InvalidSiteData { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("the vehicle reports VIN {vin}")),
        "{err}"
    );
    // A scan and a typed plate, validated and queued offline.
    let bad = anna
        .enter_site_data(
            &job,
            &SiteEntry {
                vin: Some("WVWZZZ1JZXW00000".into()),
                ..SiteEntry::default()
            },
        )
        .unwrap_err();
    assert!(matches!(bad, CoreError::InvalidSiteData { .. }), "{bad}");
    assert_eq!(
        anna.status().unwrap().pending_actions,
        1,
        "only the START_INSTALLATION"
    );
    anna.enter_site_data(
        &job,
        &SiteEntry {
            vin_scan: Some(format!("{vin}\r\n")),
            license_plate: Some("B-OP 42".into()),
            master_data: vec![("parking_bay".into(), "14".into())],
            ..SiteEntry::default()
        },
    )
    .unwrap();
    let r = anna
        .run_vehicle_workflow(&job, &world, &quick_workflow(), &|_| {})
        .await
        .unwrap();
    assert!(r.required_work.done, "{:?}", r.required_work);
    assert_eq!(unit.firmware().lock().await.bound_vin, vin);
    anna.complete_succeeded(&job, None).unwrap();
    c.online();
    let report = anna.sync().await.unwrap();
    assert_eq!(report.rejected, 0);
    let pj = c.cloud.admin().job(&job).unwrap();
    assert_eq!(pj.job.status, JobStatus::Succeeded);
    assert!(pj.job.vin.is_none());
    assert_eq!(pj.job.site_data.vin.as_deref(), Some(vin.as_str()));
    assert!(pj.job.site_data.scanned.contains("vin"));
    assert_eq!(pj.job.site_data.master_data["parking_bay"], 14);
    let v = c.cloud.admin().vehicle(&c.seed.provider_id, &vin).unwrap();
    assert_eq!(v.license_plate.as_deref(), Some("B-OP 42"));
    assert_eq!(v.job_id, job);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serial_entered_on_site_needs_one_online_round_trip() {
    let c = DemoCloud::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let anna = c.anna(dir.path()).await.unwrap();
    anna.sync().await.unwrap();
    let job = pick(&c, &anna, |j| {
        c.seed.open_serial_job_ids.contains(&j.id) && j.kind == JobKind::Installation
    });
    anna.claim(&job).unwrap();
    anna.sync().await.unwrap();
    let fleet = c.cloud.admin().job(&job).unwrap().job.fleet_id;
    let spare = c.seed.spare_serials[&fleet][0].clone();
    let clock = TestClock::new();
    let unit = c.unit(&job, &spare, &clock).unwrap();
    let world = smartcontrol_sim_device::SimWorld::new();
    world.add(unit);
    // No unit named yet: the error says how to get one.
    let err = anna
        .run_vehicle_workflow(&job, &world, &quick_workflow(), &|_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("enter the unit's serial"), "{err}");
    // Offline, from the unit's label.
    c.offline();
    let label = smartcontrol_core::cloud_api::site::cloudboxx_label_text(&spare, "CBX-2");
    anna.enter_site_data(
        &job,
        &SiteEntry {
            cloudboxx_label_scan: Some(label),
            ..SiteEntry::default()
        },
    )
    .unwrap();
    let err = anna
        .run_vehicle_workflow(&job, &world, &quick_workflow(), &|_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, CoreError::NoVehicleAccess { .. }), "{err}");
    assert!(
        err.to_string().contains("needs one sync while online"),
        "{err}"
    );
    c.online();
    anna.sync().await.unwrap();
    let grant = anna.access_grant(&job).unwrap().unwrap();
    let g = smartcontrol_core::ble::security::AccessGrant::from_hex(&grant.grant).unwrap();
    assert_eq!(g.fields.device_serial, spare);
    let r = anna
        .run_vehicle_workflow(&job, &world, &quick_workflow(), &|_| {})
        .await
        .unwrap();
    assert!(r.required_work.done);
    anna.complete_succeeded(&job, None).unwrap();
    anna.sync().await.unwrap();
    assert_eq!(
        c.cloud.admin().job(&job).unwrap().job.status,
        JobStatus::Succeeded
    );

    // A serial that is not one of the fleet's units: a conflict, and the
    // job goes back to the cloud's truth.
    let other = pick(&c, &anna, |j| {
        c.seed.open_serial_job_ids.contains(&j.id) && j.kind == JobKind::Installation
    });
    anna.claim(&other).unwrap();
    anna.enter_site_data(
        &other,
        &SiteEntry {
            cloudboxx_serial: Some("CBX-424242".into()),
            ..SiteEntry::default()
        },
    )
    .unwrap();
    assert_eq!(
        anna.job(&other)
            .unwrap()
            .effective
            .cloudboxx_serial
            .as_deref(),
        Some("CBX-424242")
    );
    let report = anna.sync().await.unwrap();
    assert_eq!(report.rejected, 1);
    let conflict = anna.conflicts().unwrap().pop().unwrap();
    assert_eq!(conflict.reason, RejectReason::UnknownDevice);
    assert!(
        conflict.message.contains("not registered in the fleet"),
        "{}",
        conflict.message
    );
    assert!(matches!(conflict.action, Action::EnterSiteData { .. }));
    assert!(anna
        .job(&other)
        .unwrap()
        .effective
        .cloudboxx_serial
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_job_keeps_its_access_across_validity_windows() {
    let c = DemoCloud::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (anna, job) = c.claimed_installation(dir.path()).await.unwrap();
    let clock = TestClock::new();
    let (world, _unit) = c.job_unit(&job, &clock).unwrap();
    let quick = only(&[VehicleTestId::IgnitionState]);
    anna.run_vehicle_workflow(&job, &world, &quick, &|_| {})
        .await
        .unwrap();
    let first = anna.access_grant(&job).unwrap().unwrap();
    // Three validity windows of 72 h, a sync every 50 h.
    let mut last = first.clone();
    for _ in 0..5 {
        clock.advance(&c.cloud, 50 * 3600);
        anna.sync().await.unwrap();
        let now = anna.access_grant(&job).unwrap().unwrap();
        assert!(now.not_after > clock.now(), "renewed before it expired");
        assert!(now.not_after >= last.not_after);
        last = now;
        anna.run_vehicle_workflow(&job, &world, &quick, &|_| {})
            .await
            .unwrap();
    }
    assert!(clock.now() > first.not_after + 72 * 3600);
    // Offline for longer than a window: the unit refuses until a sync.
    clock.advance(&c.cloud, 80 * 3600);
    let err = anna
        .run_vehicle_workflow(&job, &world, &quick, &|_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, CoreError::DeviceRefused { .. }), "{err}");
    assert!(err.to_string().contains("expired"), "{err}");
    anna.sync().await.unwrap();
    anna.run_vehicle_workflow(&job, &world, &quick, &|_| {})
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_company_ends_vehicle_access_at_once_and_keeps_the_work() {
    let c = DemoCloud::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (anna, job) = c.claimed_installation(dir.path()).await.unwrap();
    let clock = TestClock::new();
    let (world, _unit) = c.job_unit(&job, &clock).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let mut rx = anna.subscribe();
    let sink = events.clone();
    let listener = tokio::spawn(async move {
        while let Ok(e) = rx.recv().await {
            sink.lock().unwrap().push(e);
        }
    });
    // Work queued offline.
    anna.start_installation(&job).unwrap();
    c.cloud.admin().delete_company(&c.seed.autotech_id).unwrap();
    let err = anna.sync().await.unwrap_err();
    assert!(
        matches!(err, CoreError::AccountRemoved { pending: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("company was deleted"), "{err}");
    assert!(anna.access_grant(&job).unwrap().is_none(), "erased at once");
    // The vehicle stays closed, and says why.
    let err = anna
        .run_vehicle_workflow(&job, &world, &quick_workflow(), &|_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, CoreError::AccountRemoved { .. }), "{err}");
    // Nothing is lost: the queued work stays visible.
    let st = anna.status().unwrap();
    assert_eq!(st.pending_actions, 1);
    assert!(st.last_error.unwrap().contains("no longer exists"));
    assert_eq!(
        anna.pending_actions().unwrap()[0].action.name(),
        "START_INSTALLATION"
    );
    assert!(matches!(
        anna.complete_failed(&job, "x"),
        Err(CoreError::AccountRemoved { .. })
    ));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    listener.abort();
    assert!(events.lock().unwrap().iter().any(|e| matches!(
        e,
        Event::AccessEnded { job_id, reason } if *job_id == job && reason == "ACCOUNT_REMOVED"
    )));
    // An expired access token is not that case: the next sync refreshes.
    let dir2 = tempfile::tempdir().unwrap();
    let olga = c.device(dir2.path()).unwrap();
    olga.login(&c.seed.olga_email, &c.seed.password, None)
        .await
        .unwrap();
    olga.sync().await.unwrap();
    c.cloud.admin().advance_clock(2 * 3600);
    olga.sync().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_of_the_data_dir_made_before_completion_cannot_open_the_vehicle() {
    let c = DemoCloud::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (anna, job) = c.claimed_installation(dir.path()).await.unwrap();
    let clock = TestClock::new();
    let serial = c.seed.cloudboxx_serials[&job].clone();
    // The unit has its own cellular link (out of coverage for now).
    let unit = c
        .unit_with(&job, &serial, &clock, |cfg| {
            cfg.cellular = Some(CellularConfig {
                cloud_url: c.cloud.base_url(),
                up: false,
                poll_interval: std::time::Duration::from_secs(3600),
            });
        })
        .unwrap();
    let world = smartcontrol_sim_device::SimWorld::new();
    world.add(unit.clone());
    // A copy of the phone's data directory, taken while the job runs.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), copy.path());
    anna.run_vehicle_workflow(&job, &world, &quick_workflow(), &|_| {})
        .await
        .unwrap();
    anna.complete_succeeded(&job, None).unwrap();
    anna.sync().await.unwrap();
    assert_eq!(
        c.cloud.admin().job(&job).unwrap().job.status,
        JobStatus::Succeeded
    );
    let stolen = open_device(&c.cloud.base_url(), copy.path()).unwrap();
    assert!(
        stolen.access_grant(&job).unwrap().is_some(),
        "the copy holds the old grant"
    );
    // Residual window: the unit has heard of nothing yet (no coverage, no
    // phone since), so the copy still opens it (docs/cloudboxx-protocol.md).
    stolen
        .run_vehicle_workflow(
            &job,
            &world,
            &only(&[VehicleTestId::IgnitionState]),
            &|_| {},
        )
        .await
        .unwrap();
    // As soon as the unit has coverage it learns the revocation itself.
    unit.set_cellular_up(true);
    unit.fetch_revocations().await.unwrap();
    let err = stolen
        .run_vehicle_workflow(&job, &world, &quick_workflow(), &|_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, CoreError::DeviceRefused { .. }), "{err}");
    assert!(err.to_string().contains("revoked"), "{err}");

    // Without coverage, the next phone that connects carries the list: a
    // maintenance job on the same unit for Ben.
    let copy2 = tempfile::tempdir().unwrap();
    copy_dir(copy.path(), copy2.path());
    let unit2 = c.unit(&job, &serial, &clock).unwrap();
    let world2 = smartcontrol_sim_device::SimWorld::new();
    world2.add(unit2.clone());
    let stolen2 = open_device(&c.cloud.base_url(), copy2.path()).unwrap();
    stolen2
        .run_vehicle_workflow(
            &job,
            &world2,
            &only(&[VehicleTestId::IgnitionState]),
            &|_| {},
        )
        .await
        .unwrap();
    let cloud_job = c.cloud.admin().job(&job).unwrap().job;
    let mut spec = smartcontrol_sim_cloud::model::JobSpec {
        kind: JobKind::Maintenance,
        cloudboxx_serial: Some(serial.clone()),
        vin: cloud_job.vin.clone(),
        ..Default::default()
    };
    spec.vehicle_model = cloud_job.vehicle_model.clone();
    let maintenance = c
        .cloud
        .admin()
        .create_job(
            &c.seed.provider_id,
            NewJob {
                fleet_id: cloud_job.fleet_id.clone(),
                spec,
                assigned_company_id: Some(c.seed.autotech_id.clone()),
            },
        )
        .unwrap()
        .job
        .id;
    let bdir = tempfile::tempdir().unwrap();
    let ben = c.ben(bdir.path()).await.unwrap();
    ben.sync().await.unwrap();
    ben.claim(&maintenance).unwrap();
    ben.sync().await.unwrap();
    let r = ben
        .run_vehicle_workflow(&maintenance, &world2, &quick_workflow(), &|_| {})
        .await
        .unwrap();
    assert!(
        r.steps[1].detail.contains("revocation list"),
        "{:?}",
        r.steps[1]
    );
    let err = stolen2
        .run_vehicle_workflow(&job, &world2, &quick_workflow(), &|_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("revoked"), "{err}");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_reaches_the_unit_from_the_new_holders_phone() {
    let c = DemoCloud::start().await.unwrap();
    let adir = tempfile::tempdir().unwrap();
    let bdir = tempfile::tempdir().unwrap();
    let (anna, job) = c.claimed_installation(adir.path()).await.unwrap();
    let ben = c.ben(bdir.path()).await.unwrap();
    ben.sync().await.unwrap();
    let clock = TestClock::new();
    let (world, _unit) = c.job_unit(&job, &clock).unwrap();
    ben.take_over(&job).unwrap();
    ben.sync().await.unwrap();
    // Anna's phone has not synced: it still holds the old grant, and the
    // unit has not heard of the take-over.
    assert!(anna.access_grant(&job).unwrap().is_some());
    let quick = only(&[VehicleTestId::IgnitionState]);
    ben.run_vehicle_workflow(&job, &world, &quick, &|_| {})
        .await
        .unwrap();
    let err = anna
        .run_vehicle_workflow(&job, &world, &quick, &|_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, CoreError::DeviceRefused { .. }), "{err}");
    assert!(err.to_string().contains("revoked"), "{err}");
    // Her next sync erases the grant.
    anna.sync().await.unwrap();
    assert!(anna.access_grant(&job).unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_take_over_queued_offline_on_a_job_given_back_meanwhile_applies_as_a_claim() {
    let c = DemoCloud::start().await.unwrap();
    let adir = tempfile::tempdir().unwrap();
    let bdir = tempfile::tempdir().unwrap();
    let (anna, job) = c.claimed_installation(adir.path()).await.unwrap();
    let ben = c.ben(bdir.path()).await.unwrap();
    ben.sync().await.unwrap();
    // Ben, offline, takes the job over and starts on it.
    ben.take_over(&job).unwrap();
    ben.start_installation(&job).unwrap();
    // Meanwhile Anna gives it back.
    anna.withdraw(&job).unwrap();
    anna.sync().await.unwrap();
    let report = ben.sync().await.unwrap();
    assert_eq!((report.applied, report.rejected), (2, 0));
    assert!(ben.conflicts().unwrap().is_empty());
    let j = c.cloud.admin().job(&job).unwrap().job;
    assert_eq!(j.status, JobStatus::Running);
    assert_eq!(j.assignee.unwrap().name, "Ben Keller");
    assert!(j.installation_started_at.is_some());
    assert!(ben.access_grant(&job).unwrap().is_some());
}
