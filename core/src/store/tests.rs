//! Unit tests of the store: views, durable actions, replay, conflicts.
#![allow(clippy::unwrap_used)]

use super::*;
use smartcontrol_ble::message::{HintCode, Unit, VehicleTestId, VehicleTestResult as BleResult};
use smartcontrol_ble::security::{simulated_device_key, Attestation, AttestationFields};
use smartcontrol_cloud_api::{
    JobKind, JobReport, JobRequirements, RemovalReason, Technician, VehicleModel, VehicleTestResult,
};

fn me() -> Actor {
    Actor {
        id: "t-anna".into(),
        name: "Anna".into(),
    }
}

fn ben() -> Technician {
    Technician {
        id: "t-ben".into(),
        name: "Ben".into(),
    }
}

pub(crate) fn cloud_job(id: &str, plate: &str, status: JobStatus) -> Job {
    Job {
        id: id.into(),
        provider_id: "p1".into(),
        provider_name: "Shared Mobility".into(),
        fleet_id: "f1".into(),
        fleet_name: "Berlin Fleet".into(),
        kind: JobKind::Installation,
        status,
        vin: Some(format!("WVWZZZ1JZ{id:0>8}")),
        license_plate: Some(plate.into()),
        custom_name: Some(format!("Car {plate}")),
        vehicle_model: None,
        installation_variant: None,
        central_lock_connection_type: None,
        fuel_type: None,
        hardware: None,
        cloudboxx_serial: None,
        cloudboxx_config_preset: None,
        master_data: Default::default(),
        planned_service_date: None,
        instructions: None,
        assigned_company_id: Some("c1".into()),
        assignee: None,
        installation_started_at: None,
        failure_comment: None,
        vehicle_tests_required: false,
        requirements: JobRequirements::default(),
        site_data: SiteData::default(),
        version: 1,
        updated_at: "2026-11-23T10:00:00Z".into(),
    }
}

fn store_with(jobs: &[Job]) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    store
        .write(|tx| {
            for j in jobs {
                Store::upsert_cloud_job(tx, j, &me())?;
            }
            Ok(())
        })
        .unwrap();
    (dir, store)
}

fn view(store: &Store, view: JobView) -> Vec<String> {
    store
        .jobs(Some("t-anna"), &JobQuery::view(view))
        .unwrap()
        .jobs
        .into_iter()
        .map(|j| j.id)
        .collect()
}

#[test]
fn views_reflect_queued_actions_at_once() {
    let (_d, store) = store_with(&[
        cloud_job("1", "B-SC 1", JobStatus::Assigned),
        cloud_job("2", "B-SC 2", JobStatus::Assigned),
    ]);
    assert_eq!(view(&store, JobView::Available), ["1", "2"]);
    let q = store.queue_action(&me(), "1", Action::Claim).unwrap();
    assert_eq!(q.status, JobStatus::Running);
    assert_eq!(q.pending_actions, 1);
    assert_eq!(view(&store, JobView::Available), ["2"]);
    let mine = store
        .jobs(Some("t-anna"), &JobQuery::view(JobView::Mine))
        .unwrap();
    assert_eq!(mine.jobs.len(), 1);
    assert_eq!(
        mine.jobs[0].pending_actions, 1,
        "marked as waiting for sync"
    );
    store
        .queue_action(
            &me(),
            "1",
            Action::CompleteFailed {
                comment: "no CAN access".into(),
                report: JobReport::default(),
            },
        )
        .unwrap();
    assert_eq!(view(&store, JobView::Done), ["1"]);
    let detail = store.job("1", None).unwrap();
    assert_eq!(detail.failure_comment.as_deref(), Some("no CAN access"));
    assert_eq!(detail.pending.len(), 2);
    assert_eq!(detail.pending[0].base_version, 1);
}

#[test]
fn a_refused_action_changes_nothing() {
    let (_d, store) = store_with(&[cloud_job("1", "B-SC 1", JobStatus::Assigned)]);
    let err = store
        .queue_action(&me(), "1", Action::StartInstallation)
        .unwrap_err()
        .into_public();
    assert!(matches!(err, CoreError::ActionRefused { .. }), "{err}");
    assert_eq!(store.pending_all().unwrap().len(), 0);
    assert_eq!(view(&store, JobView::Available), ["1"]);
    let missing = store
        .queue_action(&me(), "nope", Action::Claim)
        .unwrap_err();
    assert!(matches!(
        missing.into_public(),
        CoreError::JobNotFound { .. }
    ));
}

#[test]
fn search_and_filters_match_plate_vin_name_provider() {
    let mut other = cloud_job("3", "HH-XY 9", JobStatus::Assigned);
    other.provider_id = "p2".into();
    other.provider_name = "Other Provider".into();
    other.fleet_id = "f2".into();
    other.fleet_name = "Hamburg Fleet".into();
    let (_d, store) = store_with(&[
        cloud_job("1", "B-SC 1042", JobStatus::Assigned),
        cloud_job("2", "B-SC 2000", JobStatus::Assigned),
        other,
    ]);
    let search = |s: &str| search_ids(&store, s);
    assert_eq!(search("sc 10"), ["1"]);
    assert_eq!(search("00000002"), ["2"], "VIN");
    assert_eq!(search("car hh"), ["3"], "custom name");
    assert_eq!(search("other prov"), ["3"], "provider");
    assert_eq!(
        search("100%"),
        Vec::<String>::new(),
        "LIKE wildcards are literal"
    );
    let mut q = JobQuery::view(JobView::All);
    q.provider = Some("other provider".into());
    assert_eq!(store.jobs(None, &q).unwrap().total, 1);
    q.provider = None;
    q.fleet = Some("f1".into());
    assert_eq!(store.jobs(None, &q).unwrap().total, 2);
}

#[test]
fn cloud_updates_keep_queued_actions_applied_on_top() {
    let (_d, store) = store_with(&[cloud_job("1", "B-SC 1", JobStatus::Assigned)]);
    store.queue_action(&me(), "1", Action::Claim).unwrap();
    // The provider edits something unrelated while the claim is queued.
    let mut updated = cloud_job("1", "B-SC 1", JobStatus::Assigned);
    updated.instructions = Some("use the SKM".into());
    updated.version = 2;
    store
        .write(|tx| Store::upsert_cloud_job(tx, &updated, &me()))
        .unwrap();
    let d = store.job("1", None).unwrap();
    assert_eq!(d.summary.status, JobStatus::Running, "claim still applied");
    assert_eq!(d.cloud.instructions.as_deref(), Some("use the SKM"));
}

#[test]
fn a_rejection_keeps_the_work_as_conflicts_and_restores_cloud_truth() {
    let (_d, store) = store_with(&[
        cloud_job("1", "B-SC 1", JobStatus::Running),
        cloud_job("2", "B-SC 2", JobStatus::Assigned),
    ]);
    // Locally the job is Anna's.
    let mut mine = cloud_job("1", "B-SC 1", JobStatus::Running);
    mine.assignee = Some(Technician {
        id: "t-anna".into(),
        name: "Anna".into(),
    });
    store
        .write(|tx| Store::upsert_cloud_job(tx, &mine, &me()))
        .unwrap();
    store
        .save_run(
            "1",
            &RunRecord {
                device: None,
                steps: &[],
                tests: &[VehicleTestResult {
                    test: "doors".into(),
                    passed: true,
                    measured: None,
                    hint: None,
                    at: "2026-11-23T10:00:00Z".into(),
                }],
                attestation: None,
            },
        )
        .unwrap();
    let start = store
        .queue_action(&me(), "1", Action::StartInstallation)
        .unwrap();
    store
        .queue_action(
            &me(),
            "1",
            Action::CompleteSucceeded {
                report: JobReport::default(),
            },
        )
        .unwrap();
    store.queue_action(&me(), "2", Action::Claim).unwrap();
    // Ben took job 1 over meanwhile: the cloud refuses the first action.
    let mut truth = mine.clone();
    truth.assignee = Some(ben());
    truth.version = 3;
    let n = store
        .write(|tx| {
            Store::action_rejected(
                tx,
                &start.idempotency_key,
                &RejectReason::TakenOver,
                "Ben took the job over",
                Some(&truth),
                &me(),
            )
        })
        .unwrap();
    assert_eq!(n, 2, "the refused action and the one queued after it");
    let conflicts = store.read(Store::open_conflicts).unwrap();
    assert_eq!(conflicts.len(), 2);
    assert_eq!(conflicts[0].reason, RejectReason::TakenOver);
    assert_eq!(conflicts[0].job_label, "B-SC 1");
    assert_eq!(conflicts[0].vehicle_tests.len(), 1, "test results kept");
    assert_eq!(conflicts[1].reason, RejectReason::PrecedingActionRejected);
    assert!(matches!(
        conflicts[1].action,
        Action::CompleteSucceeded { .. }
    ));
    // The other job's action is untouched; job 1 is Ben's now.
    let pending = store.pending_all().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].job_id, "2");
    let d = store.job("1", None).unwrap();
    assert_eq!(d.summary.assignee_name.as_deref(), Some("Ben"));
    assert_eq!(view(&store, JobView::Colleagues), ["1"]);
    // Dismissing closes it; it cannot be dismissed twice.
    store
        .write(|tx| Store::resolve_conflict(tx, conflicts[0].id, "dismissed"))
        .unwrap();
    let again = store
        .write(|tx| Store::resolve_conflict(tx, conflicts[0].id, "dismissed"))
        .unwrap_err();
    assert!(matches!(
        again.into_public(),
        CoreError::ConflictNotFound { .. }
    ));
}

#[test]
fn a_job_leaving_reach_takes_its_queued_work_to_conflicts() {
    let (_d, store) = store_with(&[cloud_job("1", "B-SC 1", JobStatus::Assigned)]);
    store.queue_action(&me(), "1", Action::Claim).unwrap();
    let n = store
        .write(|tx| {
            Store::job_removed(
                tx,
                "1",
                &RejectReason::ConnectionDeleted,
                &format!("left: {}", RemovalReason::ConnectionDeleted),
                &me(),
            )
        })
        .unwrap();
    assert_eq!(n, 1);
    assert!(store.job("1", None).is_err());
    assert_eq!(store.pending_all().unwrap().len(), 0);
    assert_eq!(store.read(Store::open_conflict_count).unwrap(), 1);
}

#[test]
fn queued_actions_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    {
        let store = Store::open(&path).unwrap();
        store
            .write(|tx| {
                Store::upsert_cloud_job(tx, &cloud_job("1", "B-SC 1", JobStatus::Assigned), &me())
            })
            .unwrap();
        store.queue_action(&me(), "1", Action::Claim).unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.pending_all().unwrap().len(), 1);
    assert_eq!(view(&store, JobView::Mine), ["1"]);
}

#[test]
fn pragmas_are_durable() {
    let (_d, store) = store_with(&[]);
    store
        .read(|c| {
            let mode: String = c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
            let sync: i64 = c.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
            assert_eq!(mode, "wal");
            assert_eq!(sync, 2, "FULL");
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_search_index_follows_changes_removals_and_logout() {
    let (_d, store) = store_with(&[
        cloud_job("1", "B-SC 1042", JobStatus::Assigned),
        cloud_job("2", "B-SC 2000", JobStatus::Assigned),
    ]);
    let found = |s: &str| search_ids(&store, s);
    assert_eq!(found("SC 1042"), ["1"]);
    // The provider corrects the plate: old text gone, new text found.
    let mut changed = cloud_job("1", "B-XY 7777", JobStatus::Assigned);
    changed.version = 2;
    store
        .write(|tx| Store::upsert_cloud_job(tx, &changed, &me()))
        .unwrap();
    assert!(found("SC 1042").is_empty());
    assert_eq!(found("xy 777"), ["1"]);
    assert_eq!(
        found("\"quoted\""),
        Vec::<String>::new(),
        "quotes are literal"
    );
    store.write(|tx| Store::delete_job(tx, "1")).unwrap();
    assert!(found("xy 777").is_empty());
    assert_eq!(found("sc 2000"), ["2"]);
    store.write(Store::clear_account).unwrap();
    assert!(found("sc 2000").is_empty());
    store
        .write(|tx| {
            Store::upsert_cloud_job(tx, &cloud_job("3", "B-SC 2000", JobStatus::Assigned), &me())
        })
        .unwrap();
    assert_eq!(found("sc 2000"), ["3"], "index usable after delete-all");
}

#[test]
fn access_grants_end_with_the_job() {
    let mut mine = cloud_job("1", "B-SC 1", JobStatus::Running);
    mine.assignee = Some(Technician {
        id: "t-anna".into(),
        name: "Anna".into(),
    });
    let mut second = mine.clone();
    second.id = "2".into();
    let (_d, store) = store_with(&[mine.clone(), second.clone()]);
    let grant = |job: &str| smartcontrol_cloud_api::AccessGrantEnvelope {
        job_id: job.into(),
        grant_id: format!("g{job}"),
        grant: "00".into(),
        not_after: 4_102_444_800,
    };
    store
        .write(|tx| {
            Store::save_grant(tx, &grant("1"))?;
            Store::save_grant(tx, &grant("2"))
        })
        .unwrap();
    let has = |job: &str| store.read(|c| Store::grant(c, job)).unwrap().is_some();
    assert!(has("1") && has("2"));
    // Completing locally (offline) ends access at once.
    store
        .queue_action(
            &me(),
            "1",
            Action::CompleteFailed {
                comment: "no vehicle".into(),
                report: JobReport::default(),
            },
        )
        .unwrap();
    assert!(!has("1"));
    // Ben took job 2 over: the cloud's news ends access.
    let mut taken = second.clone();
    taken.assignee = Some(ben());
    taken.version = 2;
    let ended = store
        .write(|tx| Store::upsert_cloud_job(tx, &taken, &me()))
        .unwrap();
    assert!(ended);
    assert!(!has("2"));
    // Logout erases whatever is left.
    store
        .write(|tx| Store::save_grant(tx, &grant("3")))
        .unwrap();
    store.write(Store::clear_account).unwrap();
    assert!(!has("3"));
}

fn running_mine(mut job: Job) -> Job {
    job.status = JobStatus::Running;
    job.assignee = Some(Technician {
        id: "t-anna".into(),
        name: "Anna".into(),
    });
    job
}

#[test]
fn search_matches_the_vehicle_model() {
    let mut golf = cloud_job("1", "B-SC 1", JobStatus::Assigned);
    golf.vehicle_model = Some(VehicleModel {
        id: "vw-golf8".into(),
        name: "Volkswagen Golf 8".into(),
    });
    let (_d, store) = store_with(&[golf, cloud_job("2", "B-SC 2", JobStatus::Assigned)]);
    for term in ["Golf", "golf 8", "vw-golf8", "Volkswagen"] {
        assert_eq!(search_ids(&store, term), ["1"], "{term}");
    }
}

#[test]
fn site_data_shows_at_once_and_leaves_with_a_refusal() {
    let mut open = running_mine(cloud_job("1", "B-SC 1", JobStatus::Running));
    open.vin = None;
    open.license_plate = None;
    let (_d, store) = store_with(&[open.clone()]);
    let entered = store
        .queue_action(
            &me(),
            "1",
            Action::EnterSiteData {
                data: SiteData {
                    vin: Some("WVWZZZ1JZXW000777".into()),
                    license_plate: Some("B-XY 77".into()),
                    ..SiteData::default()
                },
            },
        )
        .unwrap();
    let d = store.job("1", Some(&me())).unwrap();
    assert_eq!(d.summary.vin.as_deref(), Some("WVWZZZ1JZXW000777"));
    assert_eq!(d.summary.license_plate.as_deref(), Some("B-XY 77"));
    assert_eq!(d.effective.vin.as_deref(), Some("WVWZZZ1JZXW000777"));
    assert!(d.cloud.vin.is_none(), "the cloud's truth is kept apart");
    assert!(!d.open_fields.contains(&"vin".to_owned()));
    let mut q = JobQuery::view(JobView::All);
    q.search = Some("xy 77".into());
    assert_eq!(store.jobs(None, &q).unwrap().total, 1, "searchable offline");
    // What the provider specified cannot be entered.
    let mut specified = running_mine(cloud_job("2", "B-SC 2", JobStatus::Running));
    specified.id = "2".into();
    store
        .write(|tx| Store::upsert_cloud_job(tx, &specified, &me()))
        .unwrap();
    let err = store
        .queue_action(
            &me(),
            "2",
            Action::EnterSiteData {
                data: SiteData {
                    vin: Some("WVWZZZ1JZXW000777".into()),
                    ..SiteData::default()
                },
            },
        )
        .unwrap_err()
        .into_public();
    assert!(
        err.to_string().contains("the provider specified vin"),
        "{err}"
    );
    // The cloud refuses the entry: lists and search go back to its truth.
    store
        .write(|tx| {
            Store::action_rejected(
                tx,
                &entered.idempotency_key,
                &RejectReason::Invalid,
                "bad",
                Some(&open),
                &me(),
            )
        })
        .unwrap();
    let d = store.job("1", None).unwrap();
    assert_eq!(d.summary.vin, None);
    assert_eq!(store.jobs(None, &q).unwrap().total, 0);
}

fn attested_run(job: &Job, tests: &[(VehicleTestId, bool)]) -> Attestation {
    let sha = smartcontrol_cloud_api::configuration::job_configuration_sha256(job);
    let vin = job.vin.clone().unwrap_or_default();
    Attestation::sign(
        AttestationFields {
            device_serial: job.cloudboxx_serial.clone().unwrap_or_default(),
            job_id: job.id.clone(),
            grant_id: [1; 16],
            counter: 1,
            device_time: 0,
            vehicle_vin: vin.clone(),
            vehicle_model: String::new(),
            bound_vin: vin,
            config_id: "c".into(),
            config_sha256: Some(sha),
            read_back_sha256: Some(sha),
            tests: tests
                .iter()
                .map(|(t, passed)| BleResult {
                    test: *t,
                    passed: *passed,
                    unit: Unit::None,
                    value: 0,
                    hint: HintCode::None,
                })
                .collect(),
        },
        &simulated_device_key("CBX-1"),
    )
    .unwrap()
}

#[test]
fn success_needs_the_latest_attested_run_to_cover_the_requirements() {
    let mut job = running_mine(cloud_job("1", "B-SC 1", JobStatus::Running));
    job.cloudboxx_serial = Some("CBX-1".into());
    job.requirements = JobRequirements::default_for(&JobKind::Installation);
    job.requirements.vehicle_tests = vec!["doors_closed".into(), "mileage".into()];
    let (_d, store) = store_with(&[job.clone()]);
    let succeed = || {
        store.queue_action(
            &me(),
            "1",
            Action::CompleteSucceeded {
                report: JobReport::default(),
            },
        )
    };
    let err = succeed().unwrap_err().into_public().to_string();
    assert!(err.contains("no on-vehicle run"), "{err}");
    let detail = store.job("1", Some(&me())).unwrap();
    assert!(!detail.required_work.done);
    assert_eq!(detail.required_work.items.len(), 5);
    assert!(!detail
        .available_actions
        .contains(&crate::ActionKind::CompleteSucceeded));
    // One passing test is not enough.
    let partial = attested_run(&job, &[(VehicleTestId::Mileage, true)]);
    let save = |a: &Attestation| {
        store
            .save_run(
                "1",
                &RunRecord {
                    device: None,
                    steps: &[],
                    tests: &[],
                    attestation: Some(a),
                },
            )
            .unwrap()
    };
    save(&partial);
    let err = succeed().unwrap_err().into_public().to_string();
    assert!(
        err.contains("test doors_closed: not run in the latest run"),
        "{err}"
    );
    let full = attested_run(
        &job,
        &[
            (VehicleTestId::Mileage, true),
            (VehicleTestId::DoorsClosed, true),
        ],
    );
    save(&full);
    let detail = store.job("1", Some(&me())).unwrap();
    assert!(detail.required_work.done, "{:?}", detail.required_work);
    // A later, worse run is what counts.
    save(&partial);
    assert!(succeed().is_err());
    save(&full);
    let q = succeed().unwrap();
    assert_eq!(q.status, JobStatus::Succeeded);
    let pending = store.pending_all().unwrap();
    let Action::CompleteSucceeded { report } = &pending[0].action else {
        panic!("{pending:?}")
    };
    assert_eq!(report.attestation.as_deref(), Some(full.to_hex().as_str()));
}

#[test]
fn a_queued_take_over_of_a_job_given_back_meanwhile_shows_as_the_cloud_will_apply_it() {
    let mut running = cloud_job("1", "B-SC 1", JobStatus::Running);
    running.assignee = Some(ben());
    let (_d, store) = store_with(&[running]);
    store.queue_action(&me(), "1", Action::TakeOver).unwrap();
    // Ben gave the job back; the cloud's page arrives before the push.
    let mut given_back = cloud_job("1", "B-SC 1", JobStatus::Assigned);
    given_back.version = 2;
    store
        .write(|tx| Store::upsert_cloud_job(tx, &given_back, &me()))
        .unwrap();
    let d = store.job("1", Some(&me())).unwrap();
    assert_eq!(d.summary.status, JobStatus::Running);
    assert_eq!(d.summary.assignee_id.as_deref(), Some("t-anna"));
}

/// A late push answer (version 3, the claim) arrives after a pull stored a
/// colleague's take-over (version 4): the newer cloud copy stays, else the
/// store shows a job the technician no longer holds and, the cursor being
/// past version 4, never heals.
#[test]
fn an_older_cloud_copy_never_overwrites_a_newer_one() {
    let mut assigned = cloud_job("1", "B-SC 1", JobStatus::Assigned);
    assigned.version = 2;
    let (_d, store) = store_with(&[assigned.clone()]);
    let queued = store.queue_action(&me(), "1", Action::Claim).unwrap();
    let mut taken = cloud_job("1", "B-SC 1", JobStatus::Running);
    taken.assignee = Some(ben());
    taken.version = 4;
    taken.instructions = Some("taken over by Ben".into());
    store
        .write(|tx| Store::upsert_cloud_job(tx, &taken, &me()))
        .unwrap();
    let mut mine = running_mine(assigned.clone());
    mine.version = 3;
    let ended = store
        .write(|tx| Store::action_applied(tx, &queued.idempotency_key, &mine, &me()))
        .unwrap();
    assert!(!ended, "the job was not Anna's before the late answer");
    let d = store.job("1", None).unwrap();
    assert_eq!(d.cloud.version, 4, "version 4 kept");
    assert_eq!(d.summary.status, JobStatus::Running);
    assert_eq!(d.summary.assignee_name.as_deref(), Some("Ben"));
    assert_eq!(d.cloud.instructions.as_deref(), Some("taken over by Ben"));
    assert_eq!(store.read(Store::pending_count).unwrap(), 0);
    assert!(!view(&store, JobView::Mine).contains(&"1".to_owned()));
    // The same version again (a repeated page) and newer ones still apply.
    store
        .write(|tx| Store::upsert_cloud_job(tx, &taken, &me()))
        .unwrap();
    let mut done = taken.clone();
    done.status = JobStatus::Succeeded;
    done.version = 5;
    store
        .write(|tx| Store::upsert_cloud_job(tx, &done, &me()))
        .unwrap();
    assert_eq!(store.job("1", None).unwrap().cloud.version, 5);
}

#[test]
fn refetchable_writes_leave_every_other_write_fully_durable() {
    let (_dir, store) = store_with(&[]);
    let synchronous = |store: &Store| -> i64 {
        Store::lock(&store.writer)
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap()
    };
    // 2 = FULL: every commit waits for the disk.
    assert_eq!(synchronous(&store), 2);
    store
        .write_refetchable(|tx| Store::meta_set(tx, meta::CURSOR, Some("7")))
        .unwrap();
    assert_eq!(synchronous(&store), 2);
    let failed: Result<()> = store.write_refetchable(|tx| {
        Store::meta_set(tx, meta::CURSOR, Some("8"))?;
        Err(CoreError::JobNotFound { job_id: "x".into() }.into())
    });
    assert!(failed.is_err());
    assert_eq!(synchronous(&store), 2);
    assert_eq!(
        store
            .read(|c| Store::meta_get(c, meta::CURSOR))
            .unwrap()
            .as_deref(),
        Some("7"),
        "a failed page is rolled back with its cursor"
    );
}

/// A job deleted by a pull (it left the technician's reach) leaves a
/// tombstone: a late push answer of another process (its action was
/// applied before the removal) must not bring the job back; only the
/// changes feed does, which clears the tombstone.
#[test]
fn a_late_push_answer_does_not_resurrect_a_removed_job() {
    let mut assigned = cloud_job("1", "B-SC 1", JobStatus::Assigned);
    assigned.version = 3;
    let (_d, store) = store_with(&[assigned.clone()]);
    let queued = store.queue_action(&me(), "1", Action::Claim).unwrap();
    // The pull removes the job (the provider withdrew it).
    store
        .write(|tx| {
            Store::job_removed(tx, "1", &RejectReason::Unassigned, "unassigned", &me()).map(|_| ())
        })
        .unwrap();
    assert!(store.job("1", None).is_err(), "removed");
    assert_eq!(
        store.write(|tx| Store::tombstone(tx, "1")).unwrap(),
        Some(3),
        "tombstone with the version at deletion"
    );
    // The late answer of the claim (version 4, applied before the removal).
    let mut mine = running_mine(assigned.clone());
    mine.version = 4;
    let ended = store
        .write(|tx| Store::action_applied(tx, &queued.idempotency_key, &mine, &me()))
        .unwrap();
    assert!(!ended);
    assert!(
        store.job("1", None).is_err(),
        "the late answer did not resurrect it"
    );
    assert!(!view(&store, JobView::Mine).contains(&"1".to_owned()));
    // The job comes back through the feed (assigned again, version 6).
    let mut again = assigned.clone();
    again.version = 6;
    store
        .write(|tx| {
            Store::clear_tombstone(tx, "1")?;
            Store::upsert_cloud_job(tx, &again, &me())
        })
        .unwrap();
    assert_eq!(store.job("1", None).unwrap().cloud.version, 6);
    assert_eq!(store.write(|tx| Store::tombstone(tx, "1")).unwrap(), None);
}

/// Each plain view's total (cached per data version of the store) against
/// a COUNT(*) over the jobs themselves.
fn assert_totals_counted(store: &Store) {
    let views = [
        (JobView::Available, "status = 'ASSIGNED'"),
        (
            JobView::Mine,
            "status = 'RUNNING' AND assignee_id = 't-anna'",
        ),
        (
            JobView::Done,
            "status IN ('SUCCEEDED', 'FAILED') AND assignee_id = 't-anna'",
        ),
        (
            JobView::Colleagues,
            "status = 'RUNNING' AND assignee_id <> 't-anna'",
        ),
        (JobView::All, "1"),
    ];
    for (v, filter) in views {
        let total = store
            .jobs(Some("t-anna"), &JobQuery::view(v))
            .unwrap()
            .total;
        let counted: i64 = store
            .read(|c| {
                Ok(c.query_row(
                    &format!("SELECT COUNT(*) FROM jobs WHERE {filter}"),
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(total, counted as u64, "total of {v:?}");
    }
}

#[test]
fn view_totals_follow_every_change_of_status_assignee_and_store() {
    let mut running = cloud_job("3", "B-SC 3", JobStatus::Running);
    running.assignee = Some(ben());
    let (_d, store) = store_with(&[
        cloud_job("1", "B-SC 1", JobStatus::Assigned),
        cloud_job("2", "B-SC 2", JobStatus::Assigned),
        running,
    ]);
    assert_totals_counted(&store);
    assert_eq!(
        store
            .jobs(Some("t-anna"), &JobQuery::view(JobView::Available))
            .unwrap()
            .total,
        2
    );
    store.queue_action(&me(), "1", Action::Claim).unwrap();
    assert_totals_counted(&store);
    store
        .queue_action(
            &me(),
            "1",
            Action::CompleteFailed {
                comment: "no CAN access".into(),
                report: JobReport::default(),
            },
        )
        .unwrap();
    assert_totals_counted(&store);
    store.queue_action(&me(), "2", Action::Claim).unwrap();
    store.queue_action(&me(), "2", Action::Withdraw).unwrap();
    assert_totals_counted(&store);
    // The cloud moves a job to Ben; a newer version of another job.
    let mut to_ben = cloud_job("2", "B-SC 2", JobStatus::Running);
    to_ben.assignee = Some(ben());
    to_ben.version = 5;
    store
        .write(|tx| Store::upsert_cloud_job(tx, &to_ben, &me()).map(|_| ()))
        .unwrap();
    assert_totals_counted(&store);
    store.write(|tx| Store::delete_job(tx, "3")).unwrap();
    assert_totals_counted(&store);
    // Not logged in: nobody's jobs are "mine".
    assert_eq!(
        store
            .jobs(None, &JobQuery::view(JobView::Mine))
            .unwrap()
            .total,
        0
    );
    store.write(Store::clear_account).unwrap();
    assert_totals_counted(&store);
    assert_eq!(
        store
            .jobs(Some("t-anna"), &JobQuery::view(JobView::All))
            .unwrap()
            .total,
        0
    );
}

#[test]
fn a_search_counts_every_match_beyond_its_page() {
    let (_d, store) = store_with(&[
        cloud_job("1", "B-SC 101", JobStatus::Assigned),
        cloud_job("2", "B-SC 102", JobStatus::Assigned),
        cloud_job("3", "B-SC 103", JobStatus::Assigned),
        cloud_job("4", "M-XY 999", JobStatus::Assigned),
    ]);
    let mut q = JobQuery::view(JobView::Available);
    q.search = Some("sc 10".into());
    q.limit = 2;
    let page = store.jobs(Some("t-anna"), &q).unwrap();
    assert_eq!((page.jobs.len(), page.total), (2, 3));
    q.offset = 2;
    let page = store.jobs(Some("t-anna"), &q).unwrap();
    assert_eq!((page.jobs.len(), page.total), (1, 3));
    q.offset = 5;
    let page = store.jobs(Some("t-anna"), &q).unwrap();
    assert_eq!((page.jobs.len(), page.total), (0, 3), "past the last match");
    q.search = Some("qq".into());
    q.offset = 0;
    assert_eq!(store.jobs(Some("t-anna"), &q).unwrap().total, 0);
}

/// A view's cached total follows a write by another process sharing the
/// data directory (another connection's commit changes the data version).
#[test]
fn a_cached_view_total_follows_another_process_writing_the_same_store() {
    let (d, store) = store_with(&[
        cloud_job("1", "B-SC 1", JobStatus::Assigned),
        cloud_job("2", "B-SC 2", JobStatus::Assigned),
    ]);
    let available = |s: &Store| {
        s.jobs(Some("t-anna"), &JobQuery::view(JobView::Available))
            .unwrap()
            .total
    };
    assert_eq!(available(&store), 2);
    assert_eq!(available(&store), 2, "the cached total");
    let other = Store::open(&d.path().join("t.db")).unwrap();
    other
        .write(|tx| {
            Store::upsert_cloud_job(tx, &cloud_job("3", "B-SC 3", JobStatus::Assigned), &me())
                .map(|_| ())
        })
        .unwrap();
    assert_eq!(available(&store), 3, "another process's job is counted");
    other.queue_action(&me(), "1", Action::Claim).unwrap();
    assert_eq!(available(&store), 2, "another process's claim is counted");
    assert_totals_counted(&store);
}

/// Pages a commit appended to the write-ahead log of `store` at `db`.
fn wal_frames(store: &Store, db: &Path) -> u64 {
    let page: u64 = Store::lock(&store.writer)
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    let wal = std::fs::metadata(db.with_extension("db-wal")).map_or(0, |m| m.len());
    // A 32-byte header, then one 24-byte header per frame of a page.
    wal.saturating_sub(32) / (page + 24)
}

#[test]
fn a_claim_or_withdraw_commits_few_pages() {
    let jobs: Vec<Job> = (0..500)
        .map(|i| cloud_job(&format!("{i}"), &format!("B-SC {i}"), JobStatus::Assigned))
        .collect();
    let (d, store) = store_with(&jobs);
    let db = d.path().join("t.db");
    // Some queued work on other jobs, as on a phone offline for a while.
    for i in 100..300 {
        store
            .queue_action(&me(), &format!("{i}"), Action::Claim)
            .unwrap();
    }
    let mut most = 0;
    for (job, action) in [
        ("42", Action::Claim),
        ("42", Action::Withdraw),
        ("7", Action::Claim),
    ] {
        // A background checkpoint the queued work started would keep the
        // log from being truncated.
        store.settle();
        Store::lock(&store.writer)
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        assert_eq!(wal_frames(&store, &db), 0);
        store.queue_action(&me(), job, action).unwrap();
        most = most.max(wal_frames(&store, &db));
    }
    // The job's row (with its count of queued actions), its entry in the
    // open jobs' index (it stays in place: the status follows the list
    // order), its assignee index (one entry in or out) and the outbox row
    // with its key's index: 5, one more when an index page splits. Before
    // version 7 of the schema it was 9 to 11 (a provider index, the
    // AUTOINCREMENT counter, both sides of the assignee index), before
    // version 9 it was 7 (the status index's old and new page, the
    // outbox's index by job).
    assert!(most <= 6, "a durable action committed {most} pages");
}

#[test]
fn a_new_action_sorts_after_every_queued_one() {
    let (_d, store) = store_with(&[
        cloud_job("1", "B-SC 1", JobStatus::Assigned),
        cloud_job("2", "B-SC 2", JobStatus::Assigned),
        cloud_job("3", "B-SC 3", JobStatus::Assigned),
    ]);
    store.queue_action(&me(), "1", Action::Claim).unwrap();
    let last = store.queue_action(&me(), "2", Action::Claim).unwrap();
    // The newest action leaves the outbox (the cloud applied it) while an
    // older one stays queued: the next action still sorts after it.
    let mut applied = cloud_job("2", "B-SC 2", JobStatus::Running);
    applied.version = 2;
    store
        .write(|tx| Store::action_applied(tx, &last.idempotency_key, &applied, &me()))
        .unwrap();
    store.queue_action(&me(), "3", Action::Claim).unwrap();
    let queued = store.pending_all().unwrap();
    let jobs: Vec<&str> = queued.iter().map(|p| p.job_id.as_str()).collect();
    assert_eq!(jobs, ["1", "3"]);
    assert!(queued[0].seq < queued[1].seq);
}

/// Every job's count of queued actions (its row's) against the outbox.
fn assert_pending_counts_match_the_outbox(store: &Store) {
    let wrong: Vec<(String, i64, i64)> = store
        .read(|c| {
            let mut stmt = c.prepare(
                "SELECT id, pending_actions,
                    (SELECT COUNT(*) FROM outbox WHERE outbox.job_id = jobs.id)
                 FROM jobs",
            )?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .unwrap()
        .into_iter()
        .filter(|(_, stored, counted)| stored != counted)
        .collect();
    assert!(
        wrong.is_empty(),
        "job, stored count, outbox rows: {wrong:?}"
    );
}

#[test]
fn a_jobs_count_of_queued_actions_follows_every_outbox_change() {
    let (_d, store) = store_with(&[
        cloud_job("1", "B-SC 1", JobStatus::Assigned),
        cloud_job("2", "B-SC 2", JobStatus::Assigned),
        cloud_job("3", "B-SC 3", JobStatus::Assigned),
    ]);
    let claim1 = store.queue_action(&me(), "1", Action::Claim).unwrap();
    store.queue_action(&me(), "1", Action::Withdraw).unwrap();
    store.queue_action(&me(), "1", Action::Claim).unwrap();
    let claim2 = store.queue_action(&me(), "2", Action::Claim).unwrap();
    store.queue_action(&me(), "3", Action::Claim).unwrap();
    assert_pending_counts_match_the_outbox(&store);
    let pending = |id: &str| store.job(id, None).unwrap().summary.pending_actions;
    assert_eq!((pending("1"), pending("2"), pending("3")), (3, 1, 1));
    let listed: Vec<(String, u32)> = store
        .jobs(Some("t-anna"), &JobQuery::view(JobView::All))
        .unwrap()
        .jobs
        .into_iter()
        .map(|j| (j.id, j.pending_actions))
        .collect();
    assert_eq!(
        listed,
        [("1".into(), 3), ("2".into(), 1), ("3".into(), 1)],
        "lists show each job's queued actions"
    );
    // The cloud applies the first one: one fewer.
    let mut applied = cloud_job("1", "B-SC 1", JobStatus::Running);
    applied.assignee = Some(Technician {
        id: "t-anna".into(),
        name: "Anna".into(),
    });
    applied.version = 2;
    store
        .write(|tx| Store::action_applied(tx, &claim1.idempotency_key, &applied, &me()))
        .unwrap();
    assert_eq!(pending("1"), 2);
    assert_eq!(store.job("1", None).unwrap().pending.len(), 2);
    // A refusal moves the job's actions to conflicts.
    store
        .write(|tx| {
            Store::action_rejected(
                tx,
                &claim2.idempotency_key,
                &RejectReason::TakenOver,
                "Ben took it",
                Some(&cloud_job("2", "B-SC 2", JobStatus::Assigned)),
                &me(),
            )
        })
        .unwrap();
    assert_eq!(pending("2"), 0);
    assert!(store.job("2", None).unwrap().pending.is_empty());
    // A job leaving reach takes its work along; a new cloud copy of a job
    // keeps its count.
    store
        .write(|tx| Store::job_removed(tx, "3", &RejectReason::ConnectionDeleted, "gone", &me()))
        .unwrap();
    let mut newer = applied.clone();
    newer.version = 3;
    store
        .write(|tx| Store::upsert_cloud_job(tx, &newer, &me()).map(|_| ()))
        .unwrap();
    assert_eq!(pending("1"), 2);
    assert_pending_counts_match_the_outbox(&store);
    // Logging out empties both.
    store.write(Store::clear_account).unwrap();
    assert_eq!(store.read(Store::pending_count).unwrap(), 0);
}

#[test]
fn an_actions_pending_count_is_the_outbox_size_whoever_wrote_last() {
    let (d, store) = store_with(&[
        cloud_job("1", "B-SC 1", JobStatus::Assigned),
        cloud_job("2", "B-SC 2", JobStatus::Assigned),
        cloud_job("3", "B-SC 3", JobStatus::Assigned),
    ]);
    let counted = |s: &Store| s.read(Store::pending_count).unwrap();
    let first = store.queue_action(&me(), "1", Action::Claim).unwrap();
    assert_eq!(first.pending_actions, 1);
    assert_eq!(
        store
            .queue_action(&me(), "1", Action::Withdraw)
            .unwrap()
            .pending_actions,
        2
    );
    // This store's other writes (a push answer) change the outbox.
    let mut applied = cloud_job("1", "B-SC 1", JobStatus::Running);
    applied.version = 2;
    store
        .write(|tx| Store::action_applied(tx, &first.idempotency_key, &applied, &me()))
        .unwrap();
    let q = store.queue_action(&me(), "2", Action::Claim).unwrap();
    assert_eq!((q.pending_actions, counted(&store)), (2, 2));
    // Another process on the same data directory queues one.
    let other = Store::open(&d.path().join("t.db")).unwrap();
    assert_eq!(
        other
            .queue_action(&me(), "3", Action::Claim)
            .unwrap()
            .pending_actions,
        3
    );
    let q = store.queue_action(&me(), "2", Action::Withdraw).unwrap();
    assert_eq!((q.pending_actions, counted(&store)), (4, 4));
    // A refused action leaves the outbox as it was.
    assert!(store.queue_action(&me(), "2", Action::Withdraw).is_err());
    let q = store.queue_action(&me(), "2", Action::Claim).unwrap();
    assert_eq!((q.pending_actions, counted(&store)), (5, 5));
}

#[test]
fn upgrading_counts_the_queued_actions_of_each_job() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        schema::migrations().to_version(&mut conn, 7).unwrap();
        conn.execute_batch(
            "INSERT INTO jobs (id, server_json, server_version, kind, provider_id,
                provider_name, fleet_id, fleet_name, vehicle_tests_required, search_text,
                status, sort_key)
             VALUES ('1', '{}', 1, 'INSTALLATION', 'p', 'P', 'f', 'F', 0, '', 'RUNNING', 'a'),
                    ('2', '{}', 1, 'INSTALLATION', 'p', 'P', 'f', 'F', 0, '', 'ASSIGNED', 'b');
             INSERT INTO outbox (idempotency_key, job_id, technician_id, action_json,
                base_version, performed_at)
             VALUES ('k1', '1', 't', '{}', 1, 'now'), ('k2', '1', 't', '{}', 1, 'now');",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let counts: Vec<(String, i64)> = store
        .read(|c| {
            let mut stmt = c.prepare("SELECT id, pending_actions FROM jobs ORDER BY id")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .unwrap();
    assert_eq!(counts, [("1".into(), 2), ("2".into(), 0)]);
}

#[test]
fn the_views_read_their_indexes() {
    let (_d, store) = store_with(&[cloud_job("1", "B-SC 1", JobStatus::Assigned)]);
    let plan_of = |view: JobView, columns: &str| -> String {
        let (sql, uses_me) = Store::view_filter(view);
        let named: &[(&str, &dyn rusqlite::ToSql)] =
            if uses_me { &[(":me", &"t-anna")] } else { &[] };
        store
            .read(|c| {
                let mut stmt = c.prepare(&format!(
                    "EXPLAIN QUERY PLAN SELECT {columns} FROM jobs WHERE {sql}
                     ORDER BY sort_key LIMIT 100"
                ))?;
                let rows = stmt
                    .query_map(named, |r| r.get::<_, String>(3))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows.join("; "))
            })
            .unwrap()
    };
    let plan = |view: JobView| plan_of(view, "id");
    assert!(
        plan(JobView::Available).contains("INDEX jobs_open_list"),
        "{}",
        plan(JobView::Available)
    );
    // A page of Available Jobs, every column of its rows, from the index
    // alone (migration 11): a column added to the list rows must be added
    // to `jobs_open_list` too.
    let page_plan = plan_of(JobView::Available, SUMMARY_COLUMNS);
    assert!(
        page_plan.contains("COVERING INDEX jobs_open_list"),
        "{page_plan}"
    );
    for view in [JobView::Mine, JobView::Done, JobView::Colleagues] {
        assert!(
            plan(view).contains("INDEX jobs_by_assignee"),
            "{view:?}: {}",
            plan(view)
        );
    }
    assert!(
        plan(JobView::All).contains("INDEX jobs_by_sort"),
        "{}",
        plan(JobView::All)
    );
}

#[test]
fn actions_that_skip_the_cloud_json_are_judged_as_with_it() {
    let mut job = running_mine(cloud_job("1", "B-SC 1", JobStatus::Running));
    job.vehicle_tests_required = true;
    job.vin = None;
    let (_d, store) = store_with(&[job, cloud_job("2", "B-SC 2", JobStatus::Assigned)]);
    let actions = [
        Action::Claim,
        Action::TakeOver,
        Action::Withdraw,
        Action::StartInstallation,
        Action::CompleteFailed {
            comment: "no signal".into(),
            report: JobReport::default(),
        },
        Action::CompleteFailed {
            comment: " ".into(),
            report: JobReport::default(),
        },
    ];
    for id in ["1", "2"] {
        let (full, _) = store.read(|c| Store::job_state(c, id)).unwrap().unwrap();
        let (light, _) = store
            .read(|c| Store::job_state_for(c, id, false))
            .unwrap()
            .unwrap();
        for action in &actions {
            assert!(!reads_work(action));
            let judged = |state: &JobState| {
                rules::apply(state, &me(), action).map(|n| {
                    (
                        n.status,
                        n.assignee_id,
                        n.failure_comment,
                        n.installation_started,
                        n.site,
                    )
                })
            };
            assert_eq!(judged(&light), judged(&full), "job {id}, {action:?}");
        }
    }
}

/// The files a killed process leaves in `dir` (`names`: the database, its
/// log; not the log's shared-memory index, which the next open rebuilds),
/// copied to a new directory as they are now.
fn crash_image(dir: &Path, names: &[&str]) -> tempfile::TempDir {
    let image = tempfile::tempdir().unwrap();
    for name in names {
        std::fs::copy(dir.join(name), image.path().join(name)).unwrap();
    }
    image
}

fn stored_jobs_and_cursor(db: &Path) -> (i64, Option<String>) {
    let store = Store::open(db).unwrap();
    store
        .read(|c| {
            Ok((
                c.query_row("SELECT COUNT(*) FROM jobs", [], |r| r.get(0))?,
                Store::meta_get(c, meta::CURSOR)?,
            ))
        })
        .unwrap()
}

#[test]
fn sync_pages_survive_a_crash_before_their_checkpoint_which_copies_them_later() {
    let (d, store) = store_with(&[]);
    let dir = d.path();
    // Pages as a sync writes them: several MB of log in all, more than
    // an ordinary commit lets the log grow before a checkpoint.
    for page in 0..4 {
        store
            .write_refetchable(|tx| {
                for i in 0..1_000 {
                    let job = cloud_job(
                        &format!("{page}-{i}"),
                        &format!("B-SC {page}{i:04}"),
                        JobStatus::Assigned,
                    );
                    let json = serde_json::to_string(&job)?;
                    Store::upsert_pulled_job(tx, &job, &json, false, SearchIndexing::Later, &me())?;
                }
                Store::meta_set(tx, meta::CURSOR, Some(&format!("c{page}")))
            })
            .unwrap();
    }
    let log = std::fs::metadata(dir.join("t.db-wal")).unwrap().len();
    assert!(
        log > WAL_CHECKPOINT_BYTES,
        "the pages left {log} bytes of log"
    );
    assert!(
        store.checkpoints.slot().is_none(),
        "no checkpoint while the sync writes its pages"
    );
    // Killed now: every page is in the log, none in the database file yet.
    let image = crash_image(dir, &["t.db", "t.db-wal"]);
    assert_eq!(
        stored_jobs_and_cursor(&image.path().join("t.db")),
        (4_000, Some("c3".into()))
    );
    // The next ordinary commit (the sync's status at its end) starts the
    // checkpoint; once it is done, the database file alone holds it all.
    store
        .write(|tx| Store::meta_set(tx, meta::LAST_STATE, Some("online")))
        .unwrap();
    assert!(store.checkpoints.slot().is_some(), "a checkpoint started");
    store.settle();
    let image = crash_image(dir, &["t.db"]);
    assert_eq!(
        stored_jobs_and_cursor(&image.path().join("t.db")),
        (4_000, Some("c3".into()))
    );
    // Reads and writes go on as before.
    let mut q = JobQuery::view(JobView::All);
    q.search = Some("sc 30042".into());
    let found = store.jobs(None, &q).unwrap();
    assert_eq!(found.total, 1);
    assert_eq!(found.jobs[0].id, "3-42");
    store.queue_action(&me(), "3-42", Action::Claim).unwrap();
}

#[test]
fn an_action_without_a_signed_in_account_is_refused_and_writes_nothing() {
    let (_d, store) = store_with(&[cloud_job("1", "B-SC 1", JobStatus::Assigned)]);
    let err = store
        .queue_action_signed_in("1", Action::Claim)
        .unwrap_err()
        .into_public();
    assert!(matches!(err, CoreError::NotLoggedIn), "{err}");
    assert!(store.pending_all().unwrap().is_empty());
    let page = store
        .jobs(None, &JobQuery::view(JobView::Available))
        .unwrap();
    assert_eq!(page.total, 1, "the job is still available");
}

#[test]
fn actions_alone_keep_the_log_at_its_limit_by_restarting_it() {
    // About 20 KB of log per action: 400 actions fill the 4 MB threshold
    // twice. The writer copies the log itself once it passes the
    // threshold, so the next action restarts it and writes over the file
    // from its start: the file stays at the limit (a checkpoint racing the
    // actions in the background let it grow to 10 MB and more, each
    // commit making it longer).
    let (d, store) = store_with(&[cloud_job("1", "B-SC 1", JobStatus::Assigned)]);
    let wal = d.path().join("t.db-wal");
    let mut largest = 0;
    for i in 0..400 {
        let action = if i % 2 == 0 {
            Action::Claim
        } else {
            Action::Withdraw
        };
        store.queue_action(&me(), "1", action).unwrap();
        largest = largest.max(std::fs::metadata(&wal).unwrap().len());
    }
    assert!(
        largest > WAL_CHECKPOINT_BYTES - 512 * 1024,
        "the actions wrote only {largest} bytes of log"
    );
    assert!(
        largest <= JOURNAL_SIZE_LIMIT_BYTES + 256 * 1024,
        "the log grew to {largest} bytes"
    );
    assert!(
        store.checkpoints.slot().is_none(),
        "no checkpoint in the background"
    );
    assert_eq!(store.pending_all().unwrap().len(), 400);
}

#[test]
fn a_pulled_job_is_stored_as_the_cloud_sent_it() {
    let (_d, store) = store_with(&[]);
    let job = cloud_job("1", "B-SC 1", JobStatus::Assigned);
    // A field this core does not know yet stays in the cloud's copy.
    let mut value = serde_json::to_value(&job).unwrap();
    value["added_later"] = serde_json::json!({"x": 1});
    let json = value.to_string();
    store
        .write(|tx| Store::upsert_pulled_job(tx, &job, &json, true, SearchIndexing::Now, &me()))
        .unwrap();
    let stored: String = store
        .read(|c| {
            Ok(
                c.query_row("SELECT server_json FROM jobs WHERE id = '1'", [], |r| {
                    r.get(0)
                })?,
            )
        })
        .unwrap();
    assert_eq!(stored, json);
    assert_eq!(store.job("1", Some(&me())).unwrap().cloud, job);
}

#[test]
fn jobs_stored_before_version_8_are_found_by_search_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let mut conn = Connection::open(&db).unwrap();
    schema::migrations().to_version(&mut conn, 7).unwrap();
    // Two jobs as version 7 stored them, with its trigram index.
    conn.execute_batch(
        "INSERT INTO jobs (id, server_json, server_version, kind, provider_id, provider_name,
            fleet_id, fleet_name, vehicle_tests_required, search_text, status, sort_key)
         VALUES ('1', '{}', 1, 'INSTALLATION', 'p1', 'Shared Mobility', 'f1', 'Berlin Fleet', 0,
            'b-sc 1042' || char(31) || 'shared mobility', 'ASSIGNED', '1'),
            ('2', '{}', 1, 'INSTALLATION', 'p1', 'Shared Mobility', 'f1', 'Berlin Fleet', 0,
            'b-sc 2000' || char(31) || 'shared mobility', 'ASSIGNED', '2');
         INSERT INTO jobs_search (jobs_search) VALUES ('rebuild');",
    )
    .unwrap();
    drop(conn);
    let store = Store::open(&db).unwrap();
    let ids = |term: &str| {
        let mut q = JobQuery::view(JobView::All);
        q.search = Some(term.into());
        let page = store.jobs(None, &q).unwrap();
        page.jobs.into_iter().map(|j| j.id).collect::<Vec<_>>()
    };
    assert_eq!(ids("sc 104"), ["1"]);
    assert_eq!(ids("shared mobility"), ["1", "2"]);
    let rebuild_mark = store
        .read(|c| Store::meta_get(c, meta::SEARCH_REBUILD))
        .unwrap();
    assert_eq!(rebuild_mark, None, "the index is filled once");
}

/// Every way a term can sit in a job's text, found through the windows
/// of the search index exactly as a substring scan finds it.
#[test]
fn search_finds_every_substring_as_a_scan_does() {
    let (_d, store) = store_with(&search_jobs());
    assert_search_is_a_scan(&store);
    let search = |term: &str| search_ids(&store, term);
    assert_eq!(search("b-sc 10420"), ["b"]);
    assert_eq!(search("bulk-00012"), ["b", "c"]);
    assert_eq!(search("süd \"nord"), ["a"]);
}

#[test]
fn jobs_of_a_sync_are_found_before_and_after_the_indexer_adds_them() {
    let (_d, store) = store_with(&[]);
    // As a sync's page writes them: queued for the index.
    let page = |jobs: &[Job]| {
        store
            .write_refetchable(|tx| {
                for job in jobs {
                    let json = serde_json::to_string(job)?;
                    Store::upsert_pulled_job(tx, job, &json, false, SearchIndexing::Later, &me())?;
                }
                Ok(())
            })
            .unwrap()
    };
    let jobs = search_jobs();
    page(&jobs);
    assert!(!store.search_queue_is_empty().unwrap());
    assert_search_is_a_scan(&store);
    // A queued job changed by the next page stays queued, with its new
    // text; one removed leaves the queue.
    let mut changed = jobs[0].clone();
    changed.version += 1;
    changed.custom_name = Some("Pritsche West".into());
    page(&[changed.clone()]);
    store.write(|tx| Store::delete_job(tx, "c")).unwrap();
    assert_search_is_a_scan(&store);
    // Indexed in batches (one job each here: a segment each), then found
    // by the index.
    let mut taken = Vec::new();
    loop {
        match store.index_queued_search(1).unwrap() {
            0 => break,
            n => taken.push(n),
        }
    }
    assert_eq!(taken, [1, 1]);
    assert!(store.search_queue_is_empty().unwrap());
    assert_search_is_a_scan(&store);
    // The batches' segments merged, until there is nothing left to merge.
    let mut merges = 0;
    while store.merge_search_index(8).unwrap() {
        merges += 1;
        assert!(merges < 100, "merging never ends");
    }
    assert!(
        merges > 0,
        "two segments (the first page and the batch) merged"
    );
    assert!(!store.merge_search_index(8).unwrap());
    assert_search_is_a_scan(&store);
    let indexed: i64 = store
        .read(|c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM jobs_search WHERE jobs_search MATCH '\"pritsche\"*'",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(indexed, 1, "the new text is in the index");
    // Changed again once indexed: replaced in the index at once.
    let mut again = changed;
    again.version += 1;
    again.custom_name = Some("Pritsche Ost".into());
    store
        .write(|tx| Store::upsert_cloud_job(tx, &again, &me()))
        .unwrap();
    assert!(store.search_queue_is_empty().unwrap());
    assert_search_is_a_scan(&store);
}

/// The ids of every job of All a search for `term` finds, in list order.
fn search_ids(store: &Store, term: &str) -> Vec<String> {
    let mut q = JobQuery::view(JobView::All);
    q.search = Some(term.into());
    store
        .jobs(None, &q)
        .unwrap()
        .jobs
        .into_iter()
        .map(|j| j.id)
        .collect()
}

fn search_jobs() -> Vec<Job> {
    let mut a = cloud_job("a", "B-SC 1042", JobStatus::Assigned);
    a.custom_name = Some("Lieferwagen Süd \"Nord\" 7".into());
    a.vehicle_model = Some(VehicleModel {
        id: "vw-id-buzz".into(),
        name: "Volkswagen ID. Buzz Cargo".into(),
    });
    let mut b = cloud_job("b", "B-SC 10420", JobStatus::Assigned);
    b.custom_name = Some("BULK-000120".into());
    let mut c = cloud_job("c", "HH-AB 1", JobStatus::Assigned);
    c.custom_name = Some("BULK-0001200".into());
    vec![a, b, c]
}

/// Every term of a list finds what a plain substring scan of each job's
/// `search_text` finds.
fn assert_search_is_a_scan(store: &Store) {
    let texts: Vec<(String, String)> = store
        .read(|conn| {
            Ok(conn
                .prepare("SELECT id, search_text FROM jobs ORDER BY sort_key")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?)
        })
        .unwrap();
    let search = |term: &str| {
        let mut q = JobQuery::view(JobView::All);
        q.search = Some(term.into());
        let page = store.jobs(None, &q).unwrap();
        let ids: Vec<String> = page.jobs.into_iter().map(|j| j.id).collect();
        assert_eq!(page.total, ids.len() as u64, "{term}: total");
        ids
    };
    let terms = [
        // 3 to 8 characters: one prefix query over the windows.
        "sc 104",
        "104",
        "042",
        "c 1",
        "süd",
        "\"nord\"",
        "d\" 7",
        "id.",
        "buzz",
        "-sc",
        // Longer than a window: windows covering it, then the text.
        "sc 10420",
        "b-sc 10420",
        "b-sc 1042",
        "lieferwagen süd",
        "en süd \"nord\" 7",
        "volkswagen id. buzz cargo",
        "bulk-000120",
        "bulk-00012",
        "ulk-0012",
        "ulk-001200",
        "bulk-0001200",
        "shared mobility",
        "wvwzzz1jz0000000a",
        // Nowhere, or across two fields.
        "xyz",
        "sc 1043",
        "buzz cargox",
        "berlin fleetvw",
        "1042\u{1f}wvw",
    ];
    for term in terms {
        let scanned: Vec<String> = texts
            .iter()
            .filter(|(_, text)| text.contains(&term.to_lowercase()))
            .map(|(id, _)| id.clone())
            .collect();
        assert_eq!(search(term), scanned, "{term}");
        assert_eq!(search(&term.to_uppercase()), scanned, "{term}, upper case");
    }
}

#[test]
fn jobs_left_queued_for_the_index_by_a_stopped_process_are_indexed_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(crate::DATABASE_FILE);
    {
        // A sync's page written, then the process gone before the indexer.
        let store = Store::open(&db).unwrap();
        store
            .write_refetchable(|tx| {
                for job in search_jobs() {
                    let json = serde_json::to_string(&job)?;
                    Store::upsert_pulled_job(tx, &job, &json, false, SearchIndexing::Later, &me())?;
                }
                Ok(())
            })
            .unwrap();
        assert!(!store.search_queue_is_empty().unwrap());
    }
    let core = crate::SmartControl::open(crate::CoreConfig::new(
        dir.path(),
        "http://127.0.0.1:9".to_owned(),
    ))
    .unwrap();
    core.settle_store();
    drop(core);
    let store = Store::open(&db).unwrap();
    assert!(store.search_queue_is_empty().unwrap());
    assert_search_is_a_scan(&store);
}
