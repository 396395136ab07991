//! Property test of the outbox against a real sim-cloud: any interleaving of
//! technician actions, failed or cut syncs (503, connection reset, commit
//! then lost answer, offline) and device restarts ends, once the network is
//! back, in the cloud state the technician saw locally, with every accepted
//! action applied exactly once (each applied action bumps a job's version by
//! one, so versions count applications).
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use proptest::prelude::*;
use smartcontrol_cloud_api::JobStatus;
use smartcontrol_core::{JobView, SmartControl};
use smartcontrol_sim_cloud::FaultConfig;
use smartcontrol_tests::{ids, DemoCloud};

#[derive(Debug, Clone)]
enum Op {
    /// Technician action `kind` on job `job` (refusals by the rules are fine).
    Act { job: usize, kind: u8 },
    /// A sync while the cloud misbehaves in one way.
    Sync { fault: u8 },
    /// The app is killed and reopened on the same data directory.
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..3, 0u8..6).prop_map(|(job, kind)| Op::Act { job, kind }),
        2 => (0u8..5).prop_map(|fault| Op::Sync { fault }),
        1 => Just(Op::Restart),
    ]
}

fn fault(kind: u8) -> FaultConfig {
    let mut f = FaultConfig::default();
    match kind {
        0 => {}
        1 => f.fail_next = 5,
        2 => f.reset_next = 1,
        3 => f.drop_response_next = 1,
        _ => f.reset_rate = 1.0,
    }
    f
}

fn act(d: &SmartControl, job: &str, kind: u8) -> bool {
    match kind {
        0 => d.claim(job),
        1 => d.withdraw(job),
        2 => d.start_installation(job),
        3 => d.complete_succeeded(job, None),
        4 => d.complete_failed(job, "vehicle not at the address"),
        _ => d.take_over(job),
    }
    .is_ok()
}

async fn run(ops: Vec<Op>) {
    let c = DemoCloud::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut anna = c.anna(dir.path()).await.unwrap();
    anna.sync().await.unwrap();
    let jobs: Vec<String> = ids(&anna, JobView::Available)
        .unwrap()
        .into_iter()
        .filter(|j| !c.seed.tests_required_job_ids.contains(j))
        .take(3)
        .collect();
    let v0: Vec<i64> = jobs
        .iter()
        .map(|j| c.cloud.admin().job(j).unwrap().job.version)
        .collect();
    let mut accepted: HashMap<usize, i64> = HashMap::new();
    for op in ops {
        match op {
            Op::Act { job, kind } => {
                if act(&anna, &jobs[job], kind) {
                    *accepted.entry(job).or_default() += 1;
                }
            }
            Op::Sync { fault: f } => {
                c.cloud.set_faults(fault(f));
                let _ = anna.sync().await;
                c.cloud.set_faults(FaultConfig::default());
            }
            Op::Restart => {
                drop(anna);
                anna = c.device(dir.path()).unwrap();
            }
        }
    }
    anna.sync().await.unwrap();
    assert_eq!(anna.status().unwrap().pending_actions, 0);
    assert!(anna.conflicts().unwrap().is_empty(), "no one else acted");
    for (i, job) in jobs.iter().enumerate() {
        let cloud = c.cloud.admin().job(job).unwrap().job;
        let local = anna.job(job).unwrap();
        assert_eq!(cloud.status, local.summary.status, "job {i}");
        assert_eq!(
            cloud.assignee.map(|a| a.id),
            local.summary.assignee_id,
            "job {i}"
        );
        assert_eq!(
            cloud.version,
            v0[i] + accepted.get(&i).copied().unwrap_or(0),
            "job {i}: every accepted action applied exactly once"
        );
        if cloud.status == JobStatus::Failed {
            assert_eq!(
                cloud.failure_comment.as_deref(),
                Some("vehicle not at the address")
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_interleaving_reaches_the_same_cloud_state_exactly_once(
        ops in proptest::collection::vec(op(), 1..25)
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(run(ops));
    }
}
