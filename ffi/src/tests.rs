//! Tests of the binding layer with Rust fakes of the foreign traits: a
//! keychain, a listener, a workflow listener and a native BLE transport over
//! the in-process simulated CloudBoxx, against an in-process sim-cloud.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use smartcontrol_ble::security::VerifyingKey;
use smartcontrol_ble::transport::{BleConnector, FrameWriter};
use smartcontrol_sim_cloud::{seed_demo, DemoSeed, FaultConfig, SimCloud, SimCloudConfig};
use smartcontrol_sim_device::{SimDevice, SimDeviceConfig, SimWorld};

use crate::hooks::secrets::tests::FakeKeychain;
use crate::*;

/// A native BLE stack fake: the app side of [`BleTransport`] over the
/// simulated CloudBoxx world, synchronous as a platform callback API is.
struct FakeNativeBle {
    world: SimWorld,
    handle: tokio::runtime::Handle,
}

struct FakeLink {
    mtu: u16,
    writer: Mutex<Box<dyn FrameWriter>>,
    handle: tokio::runtime::Handle,
}

impl BleTransport for FakeNativeBle {
    fn scan(&self, _timeout_ms: u32) -> Result<Vec<BleAdvertisement>, BleTransportError> {
        let ads = self
            .handle
            .block_on(self.world.scan(Duration::ZERO))
            .map_err(|e| BleTransportError::Io {
                reason: e.to_string(),
            })?;
        Ok(ads
            .into_iter()
            .map(|a| BleAdvertisement {
                service_data: a.data.encode(),
                rssi: a.rssi,
            })
            .collect())
    }

    fn connect(
        &self,
        serial: String,
        events: Arc<BleLinkEvents>,
    ) -> Result<Arc<dyn BleLink>, BleTransportError> {
        let _context = self.handle.enter();
        let channel = self.world.connect_with_mtu(&serial, None).map_err(|_| {
            BleTransportError::NotFound {
                serial: serial.clone(),
            }
        })?;
        let mut notifications = channel.notifications;
        self.handle.spawn(async move {
            while let Some(frame) = notifications.recv().await {
                events.on_notification(frame);
            }
            events.on_disconnected();
        });
        Ok(Arc::new(FakeLink {
            mtu: channel.mtu as u16,
            writer: Mutex::new(channel.writer),
            handle: self.handle.clone(),
        }))
    }
}

impl BleLink for FakeLink {
    fn mtu(&self) -> u16 {
        self.mtu
    }

    fn write(&self, frame: Vec<u8>) -> Result<(), BleTransportError> {
        let mut writer = self.writer.lock().expect("lock");
        self.handle
            .block_on(writer.write(&frame))
            .map_err(|_| BleTransportError::Disconnected)
    }

    fn disconnect(&self) {
        let mut writer = self.writer.lock().expect("lock");
        let _ = self.handle.block_on(writer.disconnect());
    }
}

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<CoreEvent>>,
}

impl CoreListener for Recorder {
    fn on_event(&self, event: CoreEvent) {
        self.events.lock().expect("lock").push(event);
    }
}

#[derive(Default)]
struct Progress {
    seen: Mutex<Vec<WorkflowProgress>>,
}

impl WorkflowListener for Progress {
    fn on_progress(&self, progress: WorkflowProgress) {
        self.seen.lock().expect("lock").push(progress);
    }
}

struct Fixture {
    cloud: SimCloud,
    seed: DemoSeed,
    _dir: tempfile::TempDir,
    core: Arc<SmartControlCore>,
}

async fn fixture(transport: Option<Arc<dyn BleTransport>>) -> Fixture {
    let cloud = SimCloud::start(SimCloudConfig::default())
        .await
        .expect("sim-cloud starts");
    let seed = seed_demo(cloud.admin()).expect("seeded");
    let dir = tempfile::tempdir().expect("tempdir");
    let core = SmartControlCore::new(
        CoreSettings {
            data_dir: dir.path().display().to_string(),
            server_url: cloud.base_url(),
            request_timeout_ms: 5_000,
            retry_attempts: 1,
            retry_base_delay_ms: 5,
            retry_max_delay_ms: 10,
        },
        Some(Arc::new(FakeKeychain::default())),
        transport,
    )
    .expect("opens");
    Fixture {
        cloud,
        seed,
        _dir: dir,
        core,
    }
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

fn available(core: &SmartControlCore) -> JobPage {
    core.jobs(JobQuery {
        view: JobView::Available,
        search: None,
        provider: None,
        fleet: None,
        limit: 1000,
        offset: 0,
    })
    .expect("jobs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_job_through_the_binding_with_a_native_ble_transport() {
    let world = SimWorld::new();
    let native = Arc::new(FakeNativeBle {
        world: world.clone(),
        handle: tokio::runtime::Handle::current(),
    });
    let f = fixture(Some(native)).await;
    let core = &f.core;

    let recorder = Arc::new(Recorder::default());
    let subscription = core.subscribe(recorder.clone()).expect("subscribes");
    wait_for("the first status", || {
        !recorder.events.lock().expect("lock").is_empty()
    })
    .await;
    match &recorder.events.lock().expect("lock")[0] {
        CoreEvent::Status { status } => {
            assert!(!status.logged_in);
            assert_eq!(status.state, SyncState::Never);
        }
        other => panic!("first event must be the status, got {other:?}"),
    }

    let account = core
        .login(f.seed.anna_email.clone(), "demo".into(), None)
        .await
        .expect("logs in");
    assert_eq!(account.name, "Anna Schmidt");
    let report = core.sync().await.expect("syncs");
    assert!(report.jobs_received > 0);

    let page = available(core);
    assert_eq!(page.total, page.jobs.len() as u64);
    let job = page
        .jobs
        .iter()
        .find(|j| {
            j.fleet_name == "Berlin Fleet"
                && j.vin.is_some()
                && f.seed.cloudboxx_serials.contains_key(&j.id)
        })
        .expect("a Berlin job")
        .clone();
    let searched = core
        .jobs(JobQuery {
            view: JobView::Available,
            search: Some(job.label.to_lowercase()),
            provider: Some("shared mobility gmbh".into()),
            fleet: None,
            limit: 10,
            offset: 0,
        })
        .expect("search");
    assert!(searched.jobs.iter().any(|j| j.id == job.id));

    let detail = core.job(job.id.clone()).expect("detail");
    let serial = detail
        .specifications
        .cloudboxx_serial
        .clone()
        .expect("the job names its CloudBoxx");
    // The list shows fleet names, not ids: the seed's fleet of that name.
    let fleet_id = match job.fleet_name.as_str() {
        "Berlin Fleet" => &f.seed.berlin_fleet_id,
        "Hamburg Fleet" => &f.seed.hamburg_fleet_id,
        other => panic!("unexpected fleet {other}"),
    };
    let key = f
        .cloud
        .admin()
        .fleet_public_key(fleet_id)
        .expect("fleet key");
    let mut unit = SimDeviceConfig::new(&serial, VerifyingKey::from_bytes(&key).expect("key"));
    let (vin, model) = f.seed.vehicles[&job.id].clone();
    unit.vehicle.vin = vin;
    unit.vehicle.model = model;
    world.add(SimDevice::new(unit));

    assert_eq!(detail.available_actions, vec![JobAction::Claim]);
    assert!(!detail.required_work.items.is_empty());
    assert!(!detail.required_work.done);
    assert!(core
        .vehicle_models()
        .expect("catalogue")
        .iter()
        .any(|m| m.id == "vw-golf8" && m.central_lock_types.contains(&"CAN".to_owned())));

    let queued = core.claim(job.id.clone()).expect("claims");
    assert!(core
        .job(job.id.clone())
        .expect("detail")
        .available_actions
        .contains(&JobAction::Withdraw));
    assert_eq!(queued.status, JobStatus::Running);
    assert_eq!(core.pending_count().expect("count"), 1);
    core.sync().await.expect("claim synced");
    assert_eq!(core.pending_count().expect("count"), 0);

    let progress = Arc::new(Progress::default());
    let run = core
        .run_installation(
            job.id.clone(),
            WorkflowOptions {
                reconnect_attempts: 2,
                reconnect_delay_ms: 10,
                tests: vec![],
            },
            progress.clone(),
            None,
        )
        .await
        .expect("workflow runs");
    assert_eq!(run.device.serial, serial);
    assert!(run.all_tests_passed, "{run:?}");
    assert!(run.required_work.done, "{run:?}");
    assert!(run
        .required_work
        .items
        .iter()
        .all(|i| i.done && i.detail.is_none()));
    assert!(!run.tests.is_empty());
    let seen = progress.seen.lock().expect("lock").clone();
    assert!(seen.iter().any(|p| matches!(
        p,
        WorkflowProgress::StepDone {
            step: WorkflowStep::Configure,
            ok: true,
            ..
        }
    )));
    assert_eq!(
        seen.iter()
            .filter(|p| matches!(p, WorkflowProgress::TestResult { .. }))
            .count(),
        run.tests.len()
    );
    assert_eq!(
        core.job(job.id.clone())
            .expect("detail")
            .vehicle_tests
            .len(),
        run.tests.len()
    );

    // Offline: the completion is kept and reaches the cloud later.
    f.cloud.set_faults(FaultConfig {
        reset_rate: 1.0,
        ..FaultConfig::default()
    });
    core.complete_succeeded(job.id.clone(), Some("done".into()))
        .expect("completes locally");
    let offline = core.sync().await.expect_err("offline");
    assert_eq!(offline.kind(), "offline", "{offline}");
    assert_eq!(core.status().expect("status").state, SyncState::Offline);
    // START_INSTALLATION (queued by the workflow) and the completion.
    assert_eq!(core.pending_count().expect("count"), 2);
    f.cloud.set_faults(FaultConfig::default());
    core.sync().await.expect("back online");
    assert_eq!(core.pending_count().expect("count"), 0);
    let done = core
        .jobs(JobQuery {
            view: JobView::Done,
            search: None,
            provider: None,
            fleet: None,
            limit: 10,
            offset: 0,
        })
        .expect("done");
    assert!(done.jobs.iter().any(|j| j.id == job.id));

    wait_for("pending and sync events", || {
        let events = recorder.events.lock().expect("lock");
        events
            .iter()
            .any(|e| matches!(e, CoreEvent::PendingCountChanged { count: 1 }))
            && events.iter().any(|e| {
                matches!(
                    e,
                    CoreEvent::SyncStateChanged {
                        state: SyncState::Offline
                    }
                )
            })
    })
    .await;

    subscription.cancel();
    assert!(!subscription.is_active());
    let before = recorder.events.lock().expect("lock").len();
    let next = available(core).jobs[0].id.clone();
    core.claim(next).expect("claims");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(recorder.events.lock().expect("lock").len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_keep_the_core_kind_and_advice() {
    let f = fixture(None).await;
    let err = f.core.claim("J-1".into()).expect_err("not logged in");
    assert_eq!(err.kind(), "not_logged_in");
    assert!(err.to_string().contains("log in"), "{err}");
    let err = f
        .core
        .login(f.seed.anna_email.clone(), "wrong".into(), None)
        .await
        .expect_err("wrong password");
    assert!(matches!(err, SmartControlError::InvalidCredentials(_)));
    f.core
        .login(f.seed.anna_email.clone(), "demo".into(), None)
        .await
        .expect("logs in");
    let err = f
        .core
        .run_installation(
            "no-such-job".into(),
            WorkflowOptions {
                reconnect_attempts: 0,
                reconnect_delay_ms: 0,
                tests: vec!["warp_drive".into()],
            },
            Arc::new(Progress::default()),
            None,
        )
        .await
        .expect_err("unknown test");
    assert_eq!(err.kind(), "invalid_input");
    assert!(err.to_string().contains("central_lock_lock"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_transport_failure_is_a_device_error_with_advice() {
    struct NoRadio;
    impl BleTransport for NoRadio {
        fn scan(&self, _: u32) -> Result<Vec<BleAdvertisement>, BleTransportError> {
            Ok(vec![BleAdvertisement {
                service_data: vec![0xff],
                rssi: None,
            }])
        }
        fn connect(
            &self,
            serial: String,
            _events: Arc<BleLinkEvents>,
        ) -> Result<Arc<dyn BleLink>, BleTransportError> {
            Err(BleTransportError::NotFound { serial })
        }
    }
    let connector = hooks::ble::ForeignConnector(Arc::new(NoRadio));
    let ads = connector
        .scan(Duration::from_millis(1))
        .await
        .expect("scan");
    assert!(ads.is_empty(), "undecodable adverts are skipped");
    let err = connector.connect("CBX-1").await.expect_err("not found");
    assert_eq!(
        err,
        smartcontrol_ble::TransportError::NotFound("CBX-1".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_sync_runs_on_the_crate_runtime_and_stops() {
    let f = fixture(None).await;
    f.core
        .login(f.seed.anna_email.clone(), "demo".into(), None)
        .await
        .expect("logs in");
    // Called from a thread with no tokio context, as from Kotlin.
    let core = f.core.clone();
    std::thread::spawn(move || core.start_background_sync(60_000))
        .join()
        .expect("thread")
        .expect("starts");
    wait_for("the first background sync", || {
        f.core.status().expect("status").state == SyncState::Online
    })
    .await;
    let job = available(&f.core).jobs[0].id.clone();
    f.core.claim(job).expect("claims");
    // The queued action wakes the loop: no manual sync.
    wait_for("the claim to sync in the background", || {
        f.core.pending_count().expect("count") == 0
    })
    .await;
    f.core.stop_background_sync();
    let next = available(&f.core).jobs[0].id.clone();
    f.core.claim(next).expect("claims");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(f.core.pending_count().expect("count"), 1, "stopped loop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn site_data_is_entered_through_the_binding_and_refused_where_the_provider_decided() {
    let f = fixture(None).await;
    let core = &f.core;
    core.login(f.seed.anna_email.clone(), "demo".into(), None)
        .await
        .expect("logs in");
    core.sync().await.expect("syncs");
    let open = available(core)
        .jobs
        .into_iter()
        .find(|j| f.seed.open_vin_job_ids.contains(&j.id))
        .expect("a job that leaves the VIN open");
    core.claim(open.id.clone()).expect("claims");
    let detail = core.job(open.id.clone()).expect("detail");
    assert!(detail.open_fields.contains(&"vin".to_owned()));
    assert!(detail.available_actions.contains(&JobAction::EnterSiteData));
    let (vin, _) = f.seed.vehicles[&open.id].clone();
    let bad = core
        .enter_site_data(
            open.id.clone(),
            SiteEntry {
                vin: Some("WVWZZZ".into()),
                ..SiteEntry::default()
            },
        )
        .expect_err("too short");
    assert_eq!(bad.kind(), "invalid_site_data");
    assert!(bad.to_string().contains("17 characters"), "{bad}");
    core.enter_site_data(
        open.id.clone(),
        SiteEntry {
            vin_scan: Some(format!(" {vin}\n")),
            license_plate: Some("b-xy 1".into()),
            master_data: vec![MasterDataEntry {
                key: "parking_level".into(),
                value: "-2".into(),
            }],
            ..SiteEntry::default()
        },
    )
    .expect("entered");
    let detail = core.job(open.id.clone()).expect("detail");
    assert_eq!(detail.specifications.vin.as_deref(), Some(vin.as_str()));
    assert_eq!(
        detail.specifications.license_plate.as_deref(),
        Some("B-XY 1")
    );
    assert!(detail.entered_on_site.contains(&"vin".to_owned()));
    assert!(!detail.open_fields.contains(&"vin".to_owned()));
    // A job whose VIN the provider set: refused, saying why.
    let specified = available(core)
        .jobs
        .into_iter()
        .find(|j| j.vin.is_some())
        .expect("a job with a VIN");
    core.claim(specified.id.clone()).expect("claims");
    let refused = core
        .enter_site_data(
            specified.id.clone(),
            SiteEntry {
                vin: Some(vin.clone()),
                ..SiteEntry::default()
            },
        )
        .expect_err("the provider specified it");
    assert_eq!(refused.kind(), "action_refused");
    assert!(
        refused.to_string().contains("provider specified vin"),
        "{refused}"
    );
    core.sync().await.expect("syncs");
    let cloud = f.cloud.admin().job(&open.id).expect("job").job;
    assert_eq!(cloud.site_data.vin.as_deref(), Some(vin.as_str()));
}
