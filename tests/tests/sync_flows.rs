//! End-to-end flows of the core against a real sim-cloud over loopback HTTP:
//! offline queueing, injected faults with exactly-once effect, every
//! conflict case, access control between companies, token refresh.
#![allow(clippy::unwrap_used)]

use smartcontrol_cloud_api::{JobStatus, RejectReason};
use smartcontrol_core::{ActionKind, CoreError, Event, JobView, SyncState};
use smartcontrol_sim_cloud::FaultConfig;
use smartcontrol_tests::{ids, DemoCloud};

async fn status_on_cloud(c: &DemoCloud, job_id: &str) -> (JobStatus, Option<String>, i64) {
    let j = c.cloud.admin().job(job_id).unwrap().job;
    (j.status, j.assignee.map(|a| a.name), j.version)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_actions_are_queued_then_synced_once() {
    let c = DemoCloud::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let anna = c.anna(dir.path()).await.unwrap();
    let first = anna.sync().await.unwrap();
    assert!(first.jobs_received > 0);
    let available = ids(&anna, JobView::Available).unwrap();
    let job = available
        .iter()
        .find(|id| !c.seed.tests_required_job_ids.contains(id))
        .unwrap()
        .clone();
    let (_, _, v0) = status_on_cloud(&c, &job).await;

    c.offline();
    let mut events = anna.subscribe();
    anna.claim(&job).unwrap();
    anna.start_installation(&job).unwrap();
    anna.complete_succeeded(&job, Some("all good".into()))
        .unwrap();
    // The UI sees the effect at once, marked as waiting for sync.
    assert!(ids(&anna, JobView::Done).unwrap().contains(&job));
    assert_eq!(anna.job(&job).unwrap().summary.pending_actions, 3);
    let err = anna.sync().await.unwrap_err();
    assert!(matches!(err, CoreError::Offline { .. }), "{err}");
    let status = anna.status().unwrap();
    assert_eq!(status.pending_actions, 3);
    assert_eq!(status.state, SyncState::Offline);
    assert!(status.last_error.is_some());
    // Nothing reached the cloud.
    assert_eq!(status_on_cloud(&c, &job).await.0, JobStatus::Assigned);
    let mut saw_pending = false;
    while let Ok(e) = events.try_recv() {
        saw_pending |= matches!(e, Event::PendingCountChanged { count: 3 });
    }
    assert!(saw_pending, "pending count announced");

    c.online();
    let report = anna.sync().await.unwrap();
    assert_eq!(report.applied, 3);
    assert_eq!(report.pending_actions, 0);
    let (status, assignee, v1) = status_on_cloud(&c, &job).await;
    assert_eq!(status, JobStatus::Succeeded);
    assert_eq!(assignee, anna.account().unwrap().map(|a| a.name));
    assert_eq!(v1, v0 + 3, "each action applied exactly once");
    assert_eq!(anna.status().unwrap().state, SyncState::Online);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_faults_never_apply_an_action_twice() {
    let c = DemoCloud::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let anna = c.anna(dir.path()).await.unwrap();
    anna.sync().await.unwrap();
    let jobs: Vec<String> = ids(&anna, JobView::Available)
        .unwrap()
        .into_iter()
        .take(4)
        .collect();
    let before: Vec<i64> = {
        let mut v = vec![];
        for j in &jobs {
            v.push(status_on_cloud(&c, j).await.2);
        }
        v
    };
    for j in &jobs {
        anna.claim(j).unwrap();
    }
    // The cloud commits the batch, then the answer is lost; then a 503. The
    // retries inside one sync (3 tries) carry the same keys.
    c.cloud.set_faults(FaultConfig {
        drop_response_next: 1,
        fail_next: 1,
        ..FaultConfig::default()
    });
    let report = anna.sync().await.unwrap();
    assert_eq!(report.applied, 4);
    assert_eq!(
        report.requests, 4,
        "2 failed pushes, 1 push, 1 pull: {report:?}"
    );
    for (j, v) in jobs.iter().zip(before) {
        let (status, _, now) = status_on_cloud(&c, j).await;
        assert_eq!(status, JobStatus::Running);
        assert_eq!(now, v + 1, "claim of {j} applied once");
    }
    assert_eq!(anna.status().unwrap().pending_actions, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_that_fails_for_good_keeps_the_outbox_and_a_later_one_drains_it() {
    let c = DemoCloud::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let anna = c.anna(dir.path()).await.unwrap();
    anna.sync().await.unwrap();
    let job = ids(&anna, JobView::Available).unwrap()[0].clone();
    anna.claim(&job).unwrap();
    // More failures than the retry policy's 3 tries: 503 every time.
    c.cloud.set_faults(FaultConfig {
        fail_next: 3,
        ..FaultConfig::default()
    });
    let err = anna.sync().await.unwrap_err();
    assert!(
        matches!(err, CoreError::Server { status: 503, .. }),
        "{err}"
    );
    let pending = anna.pending_actions().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].attempts, 1, "attempt noted on the queued action");
    assert!(pending[0].last_error.is_some());
    anna.sync().await.unwrap();
    assert_eq!(status_on_cloud(&c, &job).await.0, JobStatus::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn take_over_while_offline_becomes_a_conflict_with_the_work_kept() {
    let c = DemoCloud::start().await.unwrap();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let anna = c.anna(da.path()).await.unwrap();
    let ben = c.ben(db.path()).await.unwrap();
    anna.sync().await.unwrap();
    let job = ids(&anna, JobView::Available).unwrap()[0].clone();
    anna.claim(&job).unwrap();
    anna.sync().await.unwrap();

    // Anna works offline; meanwhile Ben takes the job over.
    anna.start_installation(&job).unwrap();
    anna.complete_failed(&job, "CAN bus not reachable behind the dashboard")
        .unwrap();
    ben.sync().await.unwrap();
    assert!(ids(&ben, JobView::Colleagues).unwrap().contains(&job));
    // The UI offers Ben only what the rules allow: taking the job over.
    assert_eq!(
        ben.job(&job).unwrap().available_actions,
        vec![ActionKind::TakeOver]
    );
    // Anna's device still shows her local, finished state: nothing to do.
    assert!(anna.job(&job).unwrap().available_actions.is_empty());
    let refused = ben.claim(&job).unwrap_err();
    assert!(matches!(refused, CoreError::ActionRefused { .. }));
    ben.take_over(&job).unwrap();
    ben.sync().await.unwrap();

    let mut events = anna.subscribe();
    let report = anna.sync().await.unwrap();
    assert_eq!(report.applied, 0);
    assert_eq!(report.rejected, 2);
    let conflicts = anna.conflicts().unwrap();
    assert_eq!(conflicts.len(), 2);
    assert_eq!(conflicts[0].reason, RejectReason::TakenOver);
    assert_eq!(conflicts[1].reason, RejectReason::PrecedingActionRejected);
    match &conflicts[1].action {
        smartcontrol_cloud_api::Action::CompleteFailed { comment, .. } => {
            assert_eq!(comment, "CAN bus not reachable behind the dashboard")
        }
        other => panic!("unexpected {other:?}"),
    }
    // Anna's device shows the cloud's truth: Ben holds the job.
    let d = anna.job(&job).unwrap();
    assert_eq!(d.summary.status, JobStatus::Running);
    assert_ne!(
        d.summary.assignee_id,
        anna.account().unwrap().map(|a| a.technician_id)
    );
    assert!(ids(&anna, JobView::Colleagues).unwrap().contains(&job));
    let mut conflict_event = false;
    while let Ok(e) = events.try_recv() {
        conflict_event |= matches!(e, Event::ConflictsChanged { open: 2 });
    }
    assert!(conflict_event);
    // Re-submitting the failure is refused by the rules (not her job); the
    // conflict stays open.
    let again = anna.resubmit_conflict(conflicts[1].id).unwrap_err();
    assert!(matches!(again, CoreError::ActionRefused { .. }), "{again}");
    assert_eq!(anna.conflicts().unwrap().len(), 2);
    anna.dismiss_conflict(conflicts[0].id).unwrap();
    assert_eq!(anna.conflicts().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unassigned_and_disconnected_jobs_leave_with_their_work_as_conflicts() {
    let c = DemoCloud::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let anna = c.anna(dir.path()).await.unwrap();
    anna.sync().await.unwrap();
    let available = ids(&anna, JobView::Available).unwrap();
    let admin = c.cloud.admin();
    let fleet_of = |id: &str| admin.job(id).unwrap().job.fleet_id;
    let berlin: Vec<_> = available
        .iter()
        .filter(|j| fleet_of(j) == c.seed.berlin_fleet_id)
        .cloned()
        .collect();
    let hamburg: Vec<_> = available
        .iter()
        .filter(|j| fleet_of(j) == c.seed.hamburg_fleet_id)
        .cloned()
        .collect();
    assert!(berlin.len() >= 2 && !hamburg.is_empty());

    // Offline: claim one job of each fleet and another Berlin job.
    c.offline();
    anna.claim(&berlin[0]).unwrap();
    anna.claim(&hamburg[0]).unwrap();
    // The provider unassigns berlin[0]; the partner deletes the Hamburg connection.
    admin.unassign_job(&c.seed.provider_id, &berlin[0]).unwrap();
    let hamburg_connection = admin
        .list_company_connections(&c.seed.autotech_id)
        .unwrap()
        .into_iter()
        .find(|x| x.fleet_id == c.seed.hamburg_fleet_id)
        .unwrap();
    admin
        .delete_connection(&c.seed.autotech_id, &hamburg_connection.id)
        .unwrap();
    c.online();

    let report = anna.sync().await.unwrap();
    assert_eq!(report.rejected, 2, "{report:?}");
    let conflicts = anna.conflicts().unwrap();
    let reasons: Vec<_> = conflicts.iter().map(|c| c.reason.clone()).collect();
    assert!(reasons.contains(&RejectReason::Unassigned), "{reasons:?}");
    assert!(
        reasons.contains(&RejectReason::ConnectionDeleted),
        "{reasons:?}"
    );
    // Neither job is on the device any more; no Hamburg job is.
    let all = ids(&anna, JobView::All).unwrap();
    assert!(!all.contains(&berlin[0]));
    assert!(hamburg.iter().all(|j| !all.contains(j)));
    assert!(all.contains(&berlin[1]));
    assert!(matches!(
        anna.job(&berlin[0]),
        Err(CoreError::JobNotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn technicians_never_see_or_touch_another_companys_jobs() {
    let c = DemoCloud::start().await.unwrap();
    let (da, dol) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let anna = c.anna(da.path()).await.unwrap();
    let olga = c.device(dol.path()).unwrap();
    olga.login(&c.seed.olga_email, &c.seed.password, None)
        .await
        .unwrap();
    anna.sync().await.unwrap();
    olga.sync().await.unwrap();
    let anna_jobs = ids(&anna, JobView::All).unwrap();
    let olga_jobs = ids(&olga, JobView::All).unwrap();
    assert!(!anna_jobs.is_empty() && !olga_jobs.is_empty());
    assert!(anna_jobs.iter().all(|j| !olga_jobs.contains(j)));
    assert!(anna_jobs
        .iter()
        .all(|j| c.seed.autotech_job_ids.contains(j)));
    assert!(olga_jobs.iter().all(|j| c.seed.other_job_ids.contains(j)));
    // Pending jobs are never visible to technicians.
    assert!(c
        .seed
        .pending_job_ids
        .iter()
        .all(|j| !anna_jobs.contains(j) && !olga_jobs.contains(j)));

    // A forged push for an AutoTech job with Olga's token is refused.
    let token = c
        .cloud
        .admin()
        .login(&smartcontrol_cloud_api::LoginRequest {
            email: c.seed.olga_email.clone(),
            password: c.seed.password.clone(),
            totp: None,
            phone_public_key: None,
        })
        .unwrap()
        .access_token;
    let resp: smartcontrol_cloud_api::PushActionsResponse = reqwest::Client::new()
        .post(format!(
            "{}{}",
            c.cloud.base_url(),
            smartcontrol_cloud_api::ACTIONS_PATH
        ))
        .bearer_auth(token)
        .json(&smartcontrol_cloud_api::PushActionsRequest {
            actions: vec![smartcontrol_cloud_api::ActionRequest {
                idempotency_key: "forged-1".into(),
                job_id: anna_jobs[0].clone(),
                base_version: 1,
                performed_at: chrono::Utc::now().to_rfc3339(),
                action: smartcontrol_cloud_api::Action::Claim,
            }],
        })
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(matches!(
        &resp.results[0].outcome,
        smartcontrol_cloud_api::ActionOutcome::Rejected {
            reason: RejectReason::NotFound,
            job: None,
            ..
        }
    ));
    assert_eq!(
        status_on_cloud(&c, &anna_jobs[0]).await.0,
        JobStatus::Assigned
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_errors_are_typed_and_expired_tokens_are_refreshed() {
    let c = DemoCloud::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = c.device(dir.path()).unwrap();
    assert!(matches!(
        d.sync().await.unwrap_err(),
        CoreError::NotLoggedIn
    ));
    assert!(matches!(
        d.login(&c.seed.anna_email, "wrong", None)
            .await
            .unwrap_err(),
        CoreError::InvalidCredentials
    ));
    assert!(matches!(
        d.login(&c.seed.ben_email, &c.seed.password, None)
            .await
            .unwrap_err(),
        CoreError::TotpRequired
    ));
    assert!(matches!(
        d.login(&c.seed.ben_email, &c.seed.password, Some("000000"))
            .await
            .unwrap_err(),
        CoreError::InvalidTotp
    ));
    // Tokens that expire at once: every sync must refresh first.
    c.cloud.admin().set_access_token_ttl(1);
    let anna = c.anna(dir.path()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    c.cloud.reset_stats();
    anna.sync().await.unwrap();
    assert!(c.cloud.stats().refresh >= 1);
    // Logout erases the technician's data; it refuses while work is unsynced.
    let job = ids(&anna, JobView::Available).unwrap()[0].clone();
    c.offline();
    anna.claim(&job).unwrap();
    assert!(matches!(
        anna.logout(false).unwrap_err(),
        CoreError::PendingActionsWouldBeLost { count: 1 }
    ));
    c.online();
    c.cloud.admin().set_access_token_ttl(3600);
    anna.sync().await.unwrap();
    anna.logout(false).unwrap();
    assert!(anna.account().unwrap().is_none());
    assert!(ids(&anna, JobView::All).unwrap().is_empty());
}

/// The cloud rotates the refresh token, then the answer is lost: the core
/// retries with the token it still holds, gets the same new pair, and the
/// technician stays signed in (before: 401 and every sync failed until a new
/// login).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_refresh_answer_does_not_log_the_technician_out() {
    let c = DemoCloud::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    c.cloud.admin().set_access_token_ttl(1);
    let anna = c.anna(dir.path()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    c.cloud.admin().set_access_token_ttl(3600);
    c.cloud.set_faults(FaultConfig {
        drop_response_next: 1,
        paths: vec![smartcontrol_cloud_api::REFRESH_PATH.to_owned()],
        ..FaultConfig::default()
    });
    c.cloud.reset_stats();
    let report = anna.sync().await.unwrap();
    assert!(report.jobs_received > 0);
    assert_eq!(c.cloud.stats().refresh, 2, "one lost answer, one retry");
    assert_eq!(c.cloud.faults().drop_response_next, 0, "the fault fired");
    // The rotated pair was stored: the next syncs need no refresh at all.
    c.cloud.reset_stats();
    anna.sync().await.unwrap();
    anna.sync().await.unwrap();
    assert_eq!(c.cloud.stats().refresh, 0);
    assert!(anna.account().unwrap().is_some());
}
