//! Sync on the wire, against a real sim-cloud behind a loopback TCP proxy
//! (`smartcontrol_tests::wire`): the bytes per job of an initial sync of
//! 10,000 jobs, of a sync with nothing new and of a push of 1,000 queued
//! actions; the initial sync's CPU time split into the core's share and
//! sim-cloud's, beside a bare serde + SQLite baseline; and initial syncs
//! through a shaped link (bandwidth, round-trip time) beside their floor
//! (bytes / bandwidth + the round trips made), with the time until the
//! first page of Available Jobs is in the store. The CPU split is measured
//! with sim-cloud answering each page whole, the slow link with sim-cloud
//! streaming each page while it reads it (see `main`).
//!
//! Every figure is one line, `figure: NAME = VALUE UNIT`, followed where
//! there is one by ` (baseline NAME = VALUE UNIT, ratio R)`.
//! `cargo bench -p smartcontrol-tests --bench wire` runs the full matrix
//! (1,000 and 10,000 jobs at 1 Mbit/s with 150 ms RTT and 10 Mbit/s with
//! 50 ms RTT); `cargo test --bench wire` (scripts/test) a quick pass: the
//! slow link only with 1,000 jobs at 10 Mbit/s.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smartcontrol_core::{JobQuery, JobView, SmartControl};
use smartcontrol_sim_cloud::{seed_bulk, BulkSeed, SimCloud, SimCloudConfig};
use smartcontrol_tests::open_device;
use smartcontrol_tests::wire::{Shape, WireProxy};
use tokio::runtime::Runtime;

const JOBS: usize = 10_000;
/// Jobs of the first page of Available Jobs (the list's default page).
const FIRST_PAGE: u64 = 100;

fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn figure(name: &str, value: f64, unit: &str) {
    println!("figure: {name} = {value:.3} {unit}");
}

fn figure_vs(name: &str, value: f64, unit: &str, base: &str, base_value: f64) {
    let ratio = if base_value > 0.0 {
        value / base_value
    } else {
        f64::NAN
    };
    println!(
        "figure: {name} = {value:.3} {unit} (baseline {base} = {base_value:.3} {unit}, ratio {ratio:.2})"
    );
}

async fn logged_in(url: &str, seed: &BulkSeed, dir: &std::path::Path) -> SmartControl {
    let d = open_device(url, dir).unwrap();
    d.login(&seed.technician_email, &seed.password, None)
        .await
        .unwrap();
    d
}

/// Watches the store from another thread while a sync runs: the time at
/// which the first page of Available Jobs was there.
struct FirstPage {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Option<Duration>>,
}

impl FirstPage {
    fn watch(device: &SmartControl, start: Instant) -> FirstPage {
        let stop = Arc::new(AtomicBool::new(false));
        let (d, s) = (device.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let q = JobQuery::view(JobView::Available);
            loop {
                if d.jobs(&q).map(|p| p.total).unwrap_or(0) >= FIRST_PAGE {
                    return Some(start.elapsed());
                }
                if s.load(Ordering::SeqCst) {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        FirstPage { stop, thread }
    }

    fn seen(self) -> Option<Duration> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

/// The JSON of the changes feed for `seed`'s technician, as one page and
/// with no compression, and the bytes the exchange took on the wire.
async fn uncompressed_feed(proxy: &WireProxy, seed: &BulkSeed) -> (Vec<u8>, u64) {
    let http = reqwest::Client::builder()
        .no_gzip()
        .no_zstd()
        .build()
        .unwrap();
    let login: serde_json::Value = http
        .post(format!("{}/api/v1/auth/login", proxy.url()))
        .json(&serde_json::json!({"email": seed.technician_email, "password": seed.password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    proxy.reset();
    let body = http
        .get(format!(
            "{}/api/v1/technician/changes?limit=10000",
            proxy.url()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    (body, proxy.stats().bytes())
}

/// A job of the feed parsed with serde beside its text as sent: what a
/// bare client needs to insert the job's JSON without serialising it again
/// (the core keeps the wire text too, so the baseline must not pay for a
/// second serialisation the core no longer does).
struct BareJob {
    job: smartcontrol_core::cloud_api::Job,
    json: Box<serde_json::value::RawValue>,
}

impl<'de> serde::Deserialize<'de> for BareJob {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<BareJob, D::Error> {
        let json = Box::<serde_json::value::RawValue>::deserialize(d)?;
        let job = serde_json::from_str(json.get()).map_err(serde::de::Error::custom)?;
        Ok(BareJob { job, json })
    }
}

/// The baseline of the core's share: parse the page with serde and insert
/// the same rows (id, status, the job's JSON as sent) into a bare table in
/// one transaction, with the core's durability (WAL, synchronous = FULL).
fn bare_apply(json: &[u8], dir: &std::path::Path) -> Duration {
    let path = dir.join(format!("bare-{}.db", uuid_like()));
    let mut conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE jobs (id TEXT PRIMARY KEY, status TEXT NOT NULL, server_json TEXT NOT NULL);",
    )
    .unwrap();
    let start = Instant::now();
    let page: smartcontrol_core::cloud_api::ChangesResponse<BareJob> =
        serde_json::from_slice(json).unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut stmt = tx
            .prepare("INSERT INTO jobs (id, status, server_json) VALUES (?1, ?2, ?3)")
            .unwrap();
        for BareJob { job, json } in &page.jobs {
            stmt.execute(rusqlite::params![job.id, job.status.as_str(), json.get()])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    start.elapsed()
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn main() {
    let full = full_run();
    let rt = Runtime::new().unwrap();
    let cloud = rt
        .block_on(SimCloud::start(SimCloudConfig::default()))
        .unwrap();
    let seed = seed_bulk(cloud.admin(), JOBS).unwrap();
    let proxy = rt
        .block_on(WireProxy::start(cloud.addr(), Shape::loopback()))
        .unwrap();
    let work = tempfile::tempdir().unwrap();

    // 1. Bytes, and 4. the initial sync's CPU split, on loopback. sim-cloud
    // answers each page whole here: the time it takes to answer (seen by
    // the proxy) then ends before the core reads a byte of the answer, so
    // the wall time minus that time is the core's own work. Streamed (as on
    // the slow link below), the core would parse while sim-cloud still
    // writes, and that parsing would hide inside sim-cloud's time.
    cloud.set_streamed_changes(false);
    let (feed, feed_wire) = rt.block_on(uncompressed_feed(&proxy, &seed));
    let rounds = if full { 3 } else { 1 };
    let (mut core_best, mut cloud_best, mut bare_best) =
        (Duration::MAX, Duration::MAX, Duration::MAX);
    let mut settle_best = Duration::MAX;
    let mut initial_bytes = 0;
    let mut initial_requests = 0;
    let mut device = None;
    for _ in 0..rounds {
        let dir = tempfile::tempdir().unwrap();
        let d = rt.block_on(logged_in(&proxy.url(), &seed, dir.path()));
        proxy.reset();
        let start = Instant::now();
        let report = rt.block_on(d.sync()).unwrap();
        let total = start.elapsed();
        // The store adds the jobs to its search index and copies its log
        // into the database in the background after the sync: timed on
        // its own, and over before the baseline runs (it would otherwise
        // share the machine with it).
        let settling = Instant::now();
        d.settle_store();
        settle_best = settle_best.min(settling.elapsed());
        assert_eq!(report.jobs_received, JOBS as u64);
        let stats = proxy.stats();
        initial_bytes = stats.bytes();
        initial_requests = report.requests;
        core_best = core_best.min(total.saturating_sub(stats.upstream_time));
        cloud_best = cloud_best.min(stats.upstream_time);
        bare_best = bare_best.min(bare_apply(&feed, work.path()));
        device = Some((d, dir));
    }
    let (device, _device_dir) = device.unwrap();
    figure_vs(
        "initial sync of 10,000 jobs, bytes on the wire per job",
        initial_bytes as f64 / JOBS as f64,
        "B",
        "uncompressed JSON in one page",
        feed_wire as f64 / JOBS as f64,
    );
    figure(
        "initial sync of 10,000 jobs, requests",
        initial_requests as f64,
        "requests",
    );
    figure_vs(
        "initial sync of 10,000 jobs on loopback, core's share",
        core_best.as_secs_f64() * 1e3,
        "ms",
        "serde parse + one-transaction insert of the same rows",
        bare_best.as_secs_f64() * 1e3,
    );
    figure(
        "initial sync of 10,000 jobs on loopback, sim-cloud's share",
        cloud_best.as_secs_f64() * 1e3,
        "ms",
    );
    figure(
        "initial sync of 10,000 jobs, search index and store log checkpoint still running after it (background)",
        settle_best.as_secs_f64() * 1e3,
        "ms",
    );

    proxy.reset();
    let report = rt.block_on(device.sync()).unwrap();
    let stats = proxy.stats();
    figure(
        "sync with nothing new, bytes on the wire",
        stats.bytes() as f64,
        "B",
    );
    figure(
        "sync with nothing new, requests",
        report.requests as f64,
        "requests",
    );

    let push_seed = seed_bulk(cloud.admin(), 1_000).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = rt.block_on(logged_in(&proxy.url(), &push_seed, dir.path()));
    rt.block_on(d.sync()).unwrap();
    for j in &push_seed.job_ids {
        d.claim(j).unwrap();
    }
    proxy.reset();
    let report = rt.block_on(d.sync()).unwrap();
    assert_eq!(report.applied, 1_000);
    let stats = proxy.stats();
    figure(
        "push of 1,000 queued actions, bytes on the wire per action",
        stats.bytes() as f64 / 1_000.0,
        "B",
    );
    figure(
        "push of 1,000 queued actions, requests (push and pull)",
        report.requests as f64,
        "requests",
    );

    // 3. A slow link, sim-cloud streaming each page as it reads it.
    cloud.set_streamed_changes(true);
    let small = seed_bulk(cloud.admin(), 1_000).unwrap();
    let mut cases: Vec<(&BulkSeed, usize, u64, u64)> = vec![(&small, 1_000, 10, 50)];
    if full {
        cases.push((&small, 1_000, 1, 150));
        cases.push((&seed, JOBS, 10, 50));
        cases.push((&seed, JOBS, 1, 150));
    }
    for (seed, n, mbit, rtt_ms) in cases {
        let shape = Shape::mobile(mbit, rtt_ms);
        let link = rt.block_on(WireProxy::start(cloud.addr(), shape)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = rt.block_on(logged_in(&link.url(), seed, dir.path()));
        link.reset();
        let start = Instant::now();
        let watch = FirstPage::watch(&d, start);
        let report = rt.block_on(d.sync()).unwrap();
        let total = start.elapsed();
        let first = watch.seen();
        assert_eq!(report.jobs_received, n as u64);
        let stats = link.stats();
        // One round trip per request (each waits for the answer before the
        // next page is asked for, the catalogue after the last page) and
        // one per new connection (its handshake).
        let trips = u32::try_from(report.requests + stats.connections).unwrap_or(u32::MAX);
        let floor = shape.transmit(stats.bytes()) + shape.rtt * trips;
        let case = format!("{n} jobs at {mbit} Mbit/s, {rtt_ms} ms RTT");
        figure_vs(
            &format!("initial sync of {case}"),
            total.as_secs_f64(),
            "s",
            &format!(
                "floor ({} B / bandwidth + {trips} round trips: {} requests, {} new connections)",
                stats.bytes(),
                report.requests,
                stats.connections
            ),
            floor.as_secs_f64(),
        );
        match first {
            Some(t) => figure_vs(
                &format!("first page of Available Jobs in the store, {case}"),
                t.as_secs_f64(),
                "s",
                "whole initial sync",
                total.as_secs_f64(),
            ),
            None => println!(
                "figure: first page of Available Jobs in the store, {case} = not before the end"
            ),
        }
    }
    rt.block_on(cloud.shutdown());
}
