//! Bulk seeding and the initial pull of 10,000 jobs, and the demo seed's
//! shape.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use smartcontrol_cloud_api::{ChangesResponse, JobKind, JobStatus, TokenResponse};
use smartcontrol_sim_cloud::{seed_bulk, seed_demo, BulkSeed, SimCloud, SimCloudConfig};

/// The bulk technician's tokens, through the login endpoint.
async fn login(http: &reqwest::Client, cloud: &SimCloud, bulk: &BulkSeed) -> TokenResponse {
    http.post(format!("{}/api/v1/auth/login", cloud.base_url()))
        .json(&serde_json::json!({"email": bulk.technician_email, "password": bulk.password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn initial_pull_of_10000_jobs_is_fast() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = SimCloud::start(SimCloudConfig {
        db_path: Some(dir.path().join("cloud.db")),
        ..SimCloudConfig::default()
    })
    .await
    .unwrap();
    let t0 = Instant::now();
    let bulk = seed_bulk(cloud.admin(), 10_000).unwrap();
    let seeded = t0.elapsed();
    assert_eq!(bulk.job_ids.len(), 10_000);

    let http = reqwest::Client::new();
    let login = login(&http, &cloud, &bulk).await;
    let t1 = Instant::now();
    let page: ChangesResponse = http
        .get(format!("{}/api/v1/technician/changes", cloud.base_url()))
        .bearer_auth(&login.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pulled = t1.elapsed();
    assert_eq!(page.jobs.len(), 10_000);
    assert!(!page.has_more);
    tracing::info!(?seeded, ?pulled, "bulk timings");
    eprintln!("seed_bulk(10000): {seeded:?}, initial pull: {pulled:?}");
    // Generous bounds: debug builds on a busy CI machine.
    let limit = if cfg!(debug_assertions) { 5 } else { 1 };
    assert!(pulled.as_secs() < limit, "pull took {pulled:?}");
    assert!(seeded.as_secs() < limit * 2, "seeding took {seeded:?}");
    cloud.shutdown().await;
}

#[tokio::test]
async fn demo_seed_has_the_documented_shape() {
    let cloud = SimCloud::start(SimCloudConfig::default()).await.unwrap();
    let seed = seed_demo(cloud.admin()).unwrap();
    assert_eq!(seed.autotech_job_ids.len(), 26);
    assert_eq!(seed.other_job_ids.len(), 4);
    assert_eq!(seed.pending_job_ids.len(), 6);
    let jobs = cloud
        .list_jobs(&seed.provider_id, &Default::default())
        .unwrap();
    assert_eq!(jobs.len(), 36);
    let count = |f: &dyn Fn(&smartcontrol_cloud_api::Job) -> bool| {
        jobs.iter().filter(|j| f(&j.job)).count()
    };
    let maint = count(&|j| j.kind == JobKind::Maintenance);
    let tests = count(&|j| j.vehicle_tests_required);
    let skm = count(&|j| {
        j.central_lock_connection_type
            .as_ref()
            .is_some_and(|c| c.as_str() == "SKM")
    });
    let pending = count(&|j| j.status == JobStatus::Pending);
    eprintln!("maintenance {maint}, tests required {tests}, skm {skm}, pending {pending}");
    let per = |ids: &[String]| {
        let m = jobs
            .iter()
            .filter(|j| ids.contains(&j.job.id) && j.job.kind == JobKind::Maintenance)
            .count();
        let t = jobs
            .iter()
            .filter(|j| ids.contains(&j.job.id) && j.job.vehicle_tests_required)
            .count();
        (ids.len() - m, m, t)
    };
    eprintln!(
        "autotech (inst, maint, tests) {:?}, other {:?}, pending {:?}",
        per(&seed.autotech_job_ids),
        per(&seed.other_job_ids),
        per(&seed.pending_job_ids)
    );
    assert_eq!(maint, 12);
    // Every installation requires tests (all ten by default, the lock and
    // immobilizer tests for some); maintenance visits only some.
    assert_eq!(tests, 27);
    assert_eq!(seed.no_required_work_job_ids.len(), 9);
    assert!(skm > 0);
    // Jobs that name a VIN name a valid one; four leave it to the technician.
    assert_eq!(seed.open_vin_job_ids.len(), 4);
    assert_eq!(seed.open_serial_job_ids.len(), 3);
    for j in &jobs {
        if let Some(vin) = &j.job.vin {
            smartcontrol_cloud_api::site::validate_vin(vin).unwrap();
        }
    }
    for (vin, _) in seed.vehicles.values() {
        smartcontrol_cloud_api::site::validate_vin(vin).unwrap();
    }
    assert_eq!(jobs[0].job.license_plate.as_deref(), Some("B-SC 1042"));
    cloud.shutdown().await;
}

/// A changes page streamed while it is read is the same document as the
/// page answered whole (members in another order), page by page, with the
/// same cursor and `has_more`, for both encodings.
#[tokio::test]
async fn streamed_pages_are_the_whole_pages() {
    let cloud = SimCloud::start(SimCloudConfig::default()).await.unwrap();
    let bulk = seed_bulk(cloud.admin(), 1_200).unwrap();
    for (encoding, http) in [
        (
            "zstd",
            reqwest::Client::builder().no_gzip().build().unwrap(),
        ),
        (
            "gzip",
            reqwest::Client::builder().no_zstd().build().unwrap(),
        ),
        (
            "identity",
            reqwest::Client::builder()
                .no_gzip()
                .no_zstd()
                .build()
                .unwrap(),
        ),
    ] {
        let login = login(&http, &cloud, &bulk).await;
        let page = |since: Option<String>, streamed: bool| {
            cloud.set_streamed_changes(streamed);
            let mut url = format!("{}/api/v1/technician/changes?limit=500", cloud.base_url());
            if let Some(s) = since {
                url.push_str(&format!("&since={s}"));
            }
            let req = http.get(url).bearer_auth(&login.access_token);
            async move {
                let resp = req.send().await.unwrap();
                assert_eq!(resp.status(), 200);
                let body = resp.bytes().await.unwrap();
                serde_json::from_slice::<serde_json::Value>(&body).unwrap()
            }
        };
        let (mut since, mut pages, mut jobs) = (None, 0, 0);
        loop {
            let streamed = page(since.clone(), true).await;
            let whole = page(since.clone(), false).await;
            assert_eq!(streamed, whole, "{encoding}, page {pages}");
            let parsed: ChangesResponse = serde_json::from_value(streamed).unwrap();
            pages += 1;
            jobs += parsed.jobs.len();
            since = Some(parsed.cursor);
            if !parsed.has_more {
                break;
            }
        }
        assert_eq!((pages, jobs), (3, 1_200), "{encoding}");
        // A bad cursor is an answer of its own (400), not a cut stream.
        cloud.set_streamed_changes(true);
        let resp = http
            .get(format!(
                "{}/api/v1/technician/changes?since=x",
                cloud.base_url()
            ))
            .bearer_auth(&login.access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{encoding}");
        let err: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(err["error"], "bad_request", "{encoding}");
    }
    cloud.shutdown().await;
}
