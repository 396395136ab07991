//! A cloud that answers with bodies the app cannot read: sync fails with a
//! typed error and the local store stays exactly as it was.
#![allow(clippy::unwrap_used)]

use axum::routing::{get, post};
use axum::Router;
use smartcontrol_core::{CoreError, JobView};
use smartcontrol_tests::{ids, open_device, DemoCloud};

/// Serves `changes` and `actions` with the given raw bodies (status 200).
async fn broken_cloud(changes: &'static str, actions: &'static str) -> String {
    let app = Router::new()
        .route(
            smartcontrol_cloud_api::CHANGES_PATH,
            get(move || async move { changes }),
        )
        .route(
            smartcontrol_cloud_api::ACTIONS_PATH,
            post(move || async move { actions }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Syncs against a broken cloud on the same data directory and checks the
/// error is typed and the store unchanged.
async fn sync_against(
    dir: &std::path::Path,
    job: &str,
    changes: &'static str,
    actions: &'static str,
) {
    let url = broken_cloud(changes, actions).await;
    let device = open_device(&url, dir).unwrap();
    let jobs_before = ids(&device, JobView::All).unwrap();
    let before = device.job(job).unwrap();
    let cursor_jobs = device
        .jobs(&smartcontrol_core::JobQuery::view(JobView::All))
        .unwrap();
    let err = device.sync().await.unwrap_err();
    assert!(
        matches!(err, CoreError::MalformedResponse { .. }),
        "{changes} / {actions}: {err}"
    );
    assert_eq!(ids(&device, JobView::All).unwrap(), jobs_before);
    assert_eq!(
        device
            .jobs(&smartcontrol_core::JobQuery::view(JobView::All))
            .unwrap(),
        cursor_jobs
    );
    let after = device.job(job).unwrap();
    assert_eq!(after.summary, before.summary);
    assert_eq!(after.cloud, before.cloud);
    // Only the attempt counter and last error of a queued action change:
    // they tell the technician why it is stuck.
    let queued = |d: &smartcontrol_core::JobDetail| {
        d.pending
            .iter()
            .map(|p| (p.idempotency_key.clone(), p.action.clone(), p.base_version))
            .collect::<Vec<_>>()
    };
    assert_eq!(queued(&after), queued(&before));
    assert!(device.conflicts().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_answers_are_typed_errors_and_leave_the_store_intact() {
    let c = DemoCloud::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let anna = c.anna(dir.path()).await.unwrap();
    anna.sync().await.unwrap();
    let job = ids(&anna, JobView::Available).unwrap()[0].clone();
    drop(anna);

    // Nothing queued: the pull gets the broken answer.
    for changes in [
        "<html>maintenance</html>",
        r#"{"cursor": 5, "jobs": "none"}"#,
        // A job missing required fields in an otherwise valid page.
        r#"{"cursor":"9","jobs":[{"id":"x"}]}"#,
        r#"{"cursor":"9","jobs":[],"removed":[{"job_id":7}]}"#,
    ] {
        sync_against(dir.path(), &job, changes, "{}").await;
    }

    // A queued claim: the push gets the broken answer.
    let anna = c.device(dir.path()).unwrap();
    anna.claim(&job).unwrap();
    drop(anna);
    for actions in [
        "<html>maintenance</html>",
        r#"{"results": 3}"#,
        r#"{"results":[]}"#,
        // Well-formed answer for the wrong action (key mismatch).
        r#"{"results":[{"idempotency_key":"someone-else","outcome":"REJECTED","reason":"NOT_FOUND","message":"x"}]}"#,
        // An outcome this app cannot read.
        r#"{"results":[{"idempotency_key":"k","outcome":"MAYBE"}]}"#,
    ] {
        sync_against(dir.path(), &job, r#"{"cursor":"1","jobs":[]}"#, actions).await;
    }

    // Back to the real cloud: everything syncs normally.
    let anna = c.device(dir.path()).unwrap();
    let report = anna.sync().await.unwrap();
    assert_eq!(report.applied, 1);
}
