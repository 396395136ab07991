//! `kill -9` of a `smartcontrol sync` process in the middle of pushing the
//! outbox, then a restart: nothing is lost and every action reaches the
//! cloud exactly once.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use smartcontrol_cloud_api::{JobStatus, MAX_ACTIONS_PER_PUSH};
use smartcontrol_core::{CoreConfig, SmartControl};
use smartcontrol_sim_cloud::{seed_bulk, FaultConfig, SimCloud, SimCloudConfig};

const ACTIONS: usize = 3 * MAX_ACTIONS_PER_PUSH; // three push batches

mod common;
use common::smartcontrol;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_sync_loses_nothing_and_applies_nothing_twice() {
    let cloud = SimCloud::start(SimCloudConfig::default()).await.unwrap();
    let seed = seed_bulk(cloud.admin(), ACTIONS).unwrap();
    let dir = tempfile::tempdir().unwrap();
    {
        let core = SmartControl::open(CoreConfig::new(dir.path(), cloud.base_url())).unwrap();
        core.login(&seed.technician_email, &seed.password, None)
            .await
            .unwrap();
        core.sync().await.unwrap();
        for j in &seed.job_ids {
            core.claim(j).unwrap();
        }
    }
    let versions_before: Vec<i64> = seed
        .job_ids
        .iter()
        .map(|j| cloud.admin().job(j).unwrap().job.version)
        .collect();

    // Each request takes 400 ms: the process is killed after the first
    // batch was committed and while a later one is in flight.
    cloud.set_faults(FaultConfig {
        latency_ms: 400,
        ..FaultConfig::default()
    });
    let mut child = smartcontrol(dir.path(), &cloud.base_url())
        .arg("sync")
        .spawn()
        .unwrap();
    // Kill as soon as the first batch is committed (the first queued claim
    // is in it), while the later batches are still to come.
    let first = &seed.job_ids[0];
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while cloud.admin().job(first).unwrap().job.status != JobStatus::Running {
        assert!(
            std::time::Instant::now() < deadline,
            "the first push batch never reached the cloud"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "sync should still be running when killed"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let running_after_kill = seed
        .job_ids
        .iter()
        .filter(|j| cloud.admin().job(j).unwrap().job.status == JobStatus::Running)
        .count();
    assert!(
        running_after_kill > 0 && running_after_kill < ACTIONS,
        "killed mid-way: {running_after_kill} of {ACTIONS} applied"
    );

    // Restart: the same command finishes the work.
    cloud.set_faults(FaultConfig::default());
    let status = smartcontrol(dir.path(), &cloud.base_url())
        .arg("sync")
        .status()
        .unwrap();
    assert!(status.success());

    for (j, v) in seed.job_ids.iter().zip(versions_before) {
        let job = cloud.admin().job(j).unwrap().job;
        assert_eq!(job.status, JobStatus::Running, "{j}");
        assert_eq!(job.version, v + 1, "{j}: claim applied exactly once");
    }
    let core = SmartControl::open(CoreConfig::new(dir.path(), cloud.base_url())).unwrap();
    assert_eq!(core.status().unwrap().pending_actions, 0);
    assert!(core.conflicts().unwrap().is_empty());
}
