//! How the core's costs grow with the store: for stores of 1,000, 10,000
//! and 100,000 jobs, the first page of Available Jobs, a search matching
//! ten jobs, one durable action (claim or withdraw), the initial sync, the
//! search index and store log checkpoint left running after the sync (the
//! store is measured after them), the database's size on disk and the core's resident memory.
//!
//! sim-cloud runs in this process, seeded with `seed_bulk`; each store size
//! is measured by a core in a child process (this benchmark started again
//! with `GROWTH_CHILD` set), so the resident memory read from its
//! `/proc/self/status` is the core's own and each size starts from a fresh
//! process (the peak, `VmHWM`, only ever grows).
//!
//! Every figure is one line, `figure: NAME at N jobs = VALUE UNIT`, with the
//! 1,000-job figure as the baseline of the larger stores:
//! ` (baseline NAME at 1000 jobs = VALUE UNIT, ratio R)`. Listing and
//! searching should stay flat (ratio within 2); sync and size grow linearly,
//! which the per-job figures show as a ratio near 1.
//! `cargo bench -p smartcontrol-tests --bench growth` measures 1,000, 10,000
//! and 100,000 jobs; `cargo test --bench growth` (scripts/test) a quick pass
//! of 1,000 and 2,000 jobs with fewer rounds (seeding and syncing 10,000
//! jobs unoptimised takes minutes). `GROWTH_SIZES=1000,10000` measures
//! only the sizes listed.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use smartcontrol_core::{JobQuery, JobView};
use smartcontrol_sim_cloud::{seed_bulk, SimCloud, SimCloudConfig};
use smartcontrol_tests::open_device;
use tokio::runtime::Runtime;

/// The search term: custom names `BULK-000120` to `BULK-000129`.
const SEARCH: &str = "bulk-00012";
const SEARCH_MATCHES: u64 = 10;
const FIRST_PAGE: usize = 100;

fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// What one child measured for one store size, keyed by cost.
type Measured = BTreeMap<String, f64>;

/// The costs, in the order they are printed: (key, figure name, unit).
const COSTS: &[(&str, &str, &str)] = &[
    ("list", "list Available Jobs (first page of 100)", "ms"),
    ("search", "search (10 matches)", "ms"),
    ("action", "durable action (claim or withdraw)", "ms"),
    ("sync", "initial sync", "ms"),
    ("sync_per_job", "initial sync per job", "us"),
    (
        "settle",
        "search index and store log checkpoint left after the sync (background)",
        "ms",
    ),
    ("db", "database size on disk", "MB"),
    ("db_per_job", "database size on disk per job", "kB"),
    ("rss", "core's resident memory after sync (VmRSS)", "MB"),
    ("hwm", "core's peak resident memory (VmHWM)", "MB"),
];

fn main() {
    if let Ok(spec) = std::env::var("GROWTH_CHILD") {
        child(&spec);
        return;
    }
    // `GROWTH_SIZES=1000,10000` measures only those sizes (the first is the
    // baseline of the others), e.g. to compare two builds without waiting
    // for 100,000 jobs.
    let chosen: Option<Vec<usize>> = std::env::var("GROWTH_SIZES").ok().map(|v| {
        v.split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .expect("GROWTH_SIZES is a list of job counts")
            })
            .collect()
    });
    let sizes: &[usize] = match &chosen {
        Some(sizes) => sizes,
        None if full_run() => &[1_000, 10_000, 100_000],
        None => &[1_000, 2_000],
    };
    let rt = Runtime::new().unwrap();
    let mut results: Vec<(usize, Measured)> = Vec::new();
    for &n in sizes {
        let cloud = rt
            .block_on(SimCloud::start(SimCloudConfig::default()))
            .unwrap();
        let seed = seed_bulk(cloud.admin(), n).unwrap();
        let rounds = if full_run() { 200 } else { 20 };
        let spec = format!(
            "{}\n{}\n{}\n{n}\n{rounds}",
            cloud.base_url(),
            seed.technician_email,
            seed.password
        );
        let mut proc = Command::new(std::env::current_exe().unwrap())
            .env("GROWTH_CHILD", spec)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = proc.stdout.take().unwrap();
        let mut measured = Measured::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("measured: ") {
                let (k, v) = rest.split_once(' ').unwrap();
                measured.insert(k.to_owned(), v.parse().unwrap());
            }
        }
        let status = proc.wait().unwrap();
        assert!(
            status.success(),
            "the core measuring {n} jobs failed: {status}"
        );
        for (key, _, _) in COSTS {
            assert!(measured.contains_key(*key), "{n} jobs: no {key} measured");
        }
        eprintln!("growth: {n} jobs measured");
        results.push((n, measured));
        rt.block_on(cloud.shutdown());
    }

    println!();
    let (base_n, base) = &results[0];
    for (key, name, unit) in COSTS {
        for (n, m) in &results {
            let v = m[*key];
            if n == base_n {
                println!("figure: {name} at {n} jobs = {v:.3} {unit}");
            } else {
                let b = base[*key];
                let ratio = if b > 0.0 { v / b } else { f64::NAN };
                println!(
                    "figure: {name} at {n} jobs = {v:.3} {unit} (baseline {name} at {base_n} jobs = {b:.3} {unit}, ratio {ratio:.2})"
                );
            }
        }
    }
}

fn median(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Bytes of every file under `dir` (the database, its WAL and index files).
fn size_on_disk(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let meta = e.metadata().unwrap();
        total += if meta.is_dir() {
            size_on_disk(&e.path())
        } else {
            meta.len()
        };
    }
    total
}

/// A field of /proc/self/status in MB (`VmRSS`, `VmHWM`).
fn status_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    let kb: f64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb / 1024.0
}

/// The core's side: one store size, measured and printed as
/// `measured: KEY VALUE` lines for the parent.
fn child(spec: &str) {
    let parts: Vec<&str> = spec.lines().collect();
    let [url, email, password, n, rounds] = parts[..] else {
        panic!("GROWTH_CHILD is url, e-mail, password, jobs, rounds: {spec:?}");
    };
    let n: u64 = n.parse().unwrap();
    let rounds: usize = rounds.parse().unwrap();
    let rt = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let device = open_device(url, dir.path()).unwrap();
    rt.block_on(device.login(email, password, None)).unwrap();

    let start = Instant::now();
    let report = rt.block_on(device.sync()).unwrap();
    let sync = start.elapsed();
    assert_eq!(report.jobs_received, n);
    let rss = status_mb("VmRSS");
    // The store adds the jobs to its search index and copies its log into
    // the database in background threads after the sync (hundreds of MB of
    // log at 100,000 jobs): timed on its own,
    // and over before the size is read and the store is measured, as on a
    // phone left idle for a moment after its sync.
    let settling = Instant::now();
    device.settle_store();
    let settle = settling.elapsed();
    let db = size_on_disk(dir.path());

    let available = JobQuery::view(JobView::Available);
    let page = device.jobs(&available).unwrap();
    assert_eq!(page.total, n);
    assert_eq!(page.jobs.len(), FIRST_PAGE);
    let list = median(
        (0..rounds)
            .map(|_| {
                let t = Instant::now();
                let p = device.jobs(&available).unwrap();
                let e = t.elapsed();
                assert_eq!(p.jobs.len(), FIRST_PAGE);
                e
            })
            .collect(),
    );

    let mut search = JobQuery::view(JobView::All);
    search.search = Some(SEARCH.into());
    assert_eq!(device.jobs(&search).unwrap().total, SEARCH_MATCHES);
    let searched = median(
        (0..rounds)
            .map(|_| {
                let t = Instant::now();
                let p = device.jobs(&search).unwrap();
                let e = t.elapsed();
                assert_eq!(p.jobs.len() as u64, SEARCH_MATCHES);
                e
            })
            .collect(),
    );

    let job = page.jobs[0].id.clone();
    let action = median(
        (0..rounds.min(100))
            .map(|i| {
                let t = Instant::now();
                if i % 2 == 0 {
                    device.claim(&job).unwrap();
                } else {
                    device.withdraw(&job).unwrap();
                }
                t.elapsed()
            })
            .collect(),
    );

    let out = [
        ("list", ms(list)),
        ("search", ms(searched)),
        ("action", ms(action)),
        ("sync", ms(sync)),
        ("sync_per_job", sync.as_secs_f64() * 1e6 / n as f64),
        ("settle", ms(settle)),
        ("db", db as f64 / 1e6),
        ("db_per_job", db as f64 / 1e3 / n as f64),
        ("rss", rss),
        ("hwm", status_mb("VmHWM")),
    ];
    for (k, v) in out {
        println!("measured: {k} {v}");
    }
}
