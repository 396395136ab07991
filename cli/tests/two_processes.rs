//! Two `smartcontrol` processes on one data directory (the CLI allows it):
//! a late push answer of one must not overwrite the newer job the other
//! already pulled.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use smartcontrol_cloud_api::{Action, ActionRequest, JobStatus, PushActionsRequest};
use smartcontrol_core::{CoreConfig, JobView, SmartControl};
use smartcontrol_sim_cloud::{seed_demo, FaultConfig, SimCloud, SimCloudConfig};

mod common;
use common::smartcontrol;

/// A pushes Anna's claim on a slow link; the cloud commits it (version
/// v+1), Ben takes the job over (v+2), B syncs on the same data directory
/// and stores v+2, moving the cursor past it; then A's late answer (v+1)
/// arrives. The store must keep v+2, now and after further syncs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_push_answer_of_another_process_does_not_overwrite_a_newer_job() {
    let cloud = SimCloud::start(SimCloudConfig::default()).await.unwrap();
    let seed = seed_demo(cloud.admin()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = cloud.base_url();
    let job = {
        let core = SmartControl::open(CoreConfig::new(dir.path(), &server)).unwrap();
        core.login(&seed.anna_email, &seed.password, None)
            .await
            .unwrap();
        core.sync().await.unwrap();
        let job = core
            .jobs(&smartcontrol_core::JobQuery::view(JobView::Available))
            .unwrap()
            .jobs[0]
            .id
            .clone();
        core.claim(&job).unwrap();
        job
    };
    let v0 = cloud.admin().job(&job).unwrap().job.version;

    // A: the push is committed at once, its answer takes 4 s to come back.
    cloud.set_faults(FaultConfig {
        slow_answer_next: 1,
        slow_answer_ms: 4000,
        paths: vec![smartcontrol_cloud_api::ACTIONS_PATH.to_owned()],
        ..FaultConfig::default()
    });
    let mut a = smartcontrol(dir.path(), &server)
        .arg("sync")
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while cloud.admin().job(&job).unwrap().job.version == v0 {
        assert!(
            Instant::now() < deadline,
            "A's push never reached the cloud"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(cloud.admin().job(&job).unwrap().job.version, v0 + 1);

    // Ben takes the job over.
    let ben = cloud.admin().user_by_email(&seed.ben_email).unwrap();
    let taken = cloud
        .admin()
        .push_actions(
            &ben,
            &PushActionsRequest {
                actions: vec![ActionRequest {
                    idempotency_key: "ben-takes-over".into(),
                    job_id: job.clone(),
                    base_version: v0 + 1,
                    performed_at: chrono::Utc::now().to_rfc3339(),
                    action: Action::TakeOver,
                }],
            },
        )
        .unwrap();
    assert!(
        matches!(
            taken.results[0].outcome,
            smartcontrol_cloud_api::ActionOutcome::Applied { .. }
        ),
        "{taken:?}"
    );
    let v_ben = cloud.admin().job(&job).unwrap().job.version;
    assert_eq!(v_ben, v0 + 2);

    // B: a full sync on the same data directory while A still waits.
    let b = smartcontrol(dir.path(), &server)
        .arg("sync")
        .status()
        .unwrap();
    assert!(b.success());
    assert!(
        a.try_wait().unwrap().is_none(),
        "A must still wait for its answer"
    );
    {
        let core = SmartControl::open(CoreConfig::new(dir.path(), &server)).unwrap();
        assert_eq!(core.job(&job).unwrap().cloud.version, v_ben);
    }
    assert!(a.wait().unwrap().success());

    // After A's late answer, and after another sync: Ben's version stays.
    for round in 0..2 {
        let core = SmartControl::open(CoreConfig::new(dir.path(), &server)).unwrap();
        let d = core.job(&job).unwrap();
        assert_eq!(d.cloud.version, v_ben, "round {round}");
        assert_eq!(d.summary.status, JobStatus::Running);
        assert_eq!(d.summary.assignee_id.as_deref(), Some(seed.ben_id.as_str()));
        assert!(!core
            .jobs(&smartcontrol_core::JobQuery::view(JobView::Mine))
            .unwrap()
            .jobs
            .iter()
            .any(|j| j.id == job));
        drop(core);
        let s = smartcontrol(dir.path(), &server)
            .arg("sync")
            .status()
            .unwrap();
        assert!(s.success());
    }
}
