//! Where the time of `jobs()` of 1,000 jobs goes below the Kotlin facade:
//! the core's query (`SmartControl::jobs`), the FFI's translation into
//! its records (`SmartControlCore::jobs`) and UniFFI's lowering of the
//! page into the buffer JNA hands to Kotlin. The Kotlin side (lifting and
//! the facade) is `FacadeBenchmarkTest` on the release library.
//!
//! `cargo bench -p smartcontrol-ffi --bench list` prints one `figure:`
//! line each (median of 200, the three calls interleaved, after 30
//! warm-up rounds).
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use smartcontrol_ffi::{CoreSettings, JobPage, JobQuery, JobView, SmartControlCore};
use smartcontrol_sim_cloud::{seed_bulk, SimCloud, SimCloudConfig};

const JOBS: usize = 1_000;

fn median(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() / 2]
}

/// Medians of each call, interleaved round by round so that all see the
/// same load of a shared machine (after 30 warm-up rounds).
fn medians<const N: usize>(rounds: usize, calls: [&dyn Fn() -> usize; N]) -> [Duration; N] {
    for _ in 0..30 {
        for call in &calls {
            std::hint::black_box(call());
        }
    }
    let mut times: [Vec<Duration>; N] = std::array::from_fn(|_| Vec::with_capacity(rounds));
    for _ in 0..rounds {
        for (call, t) in calls.iter().zip(times.iter_mut()) {
            let start = Instant::now();
            std::hint::black_box(call());
            t.push(start.elapsed());
        }
    }
    times.map(median)
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let rounds = if std::env::args().any(|a| a == "--bench") {
        200
    } else {
        5
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cloud = rt
        .block_on(SimCloud::start(SimCloudConfig::default()))
        .unwrap();
    let seed = seed_bulk(cloud.admin(), JOBS).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let core = SmartControlCore::new(
        CoreSettings {
            data_dir: dir.path().to_string_lossy().into_owned(),
            server_url: cloud.base_url(),
            request_timeout_ms: 15_000,
            retry_attempts: 4,
            retry_base_delay_ms: 200,
            retry_max_delay_ms: 5_000,
        },
        None,
        None,
    )
    .unwrap();
    rt.block_on(core.login(seed.technician_email.clone(), seed.password.clone(), None))
        .unwrap();
    rt.block_on(core.sync()).unwrap();
    let query = JobQuery {
        view: JobView::Available,
        search: None,
        provider: None,
        fleet: None,
        limit: JOBS as u32,
        offset: 0,
    };
    assert_eq!(core.jobs(query.clone()).unwrap().jobs.len(), JOBS);

    // A second handle to the same store, as the Kotlin benchmark's direct
    // binding: the core's own call, without the FFI's records.
    let plain = {
        let _context = rt.enter();
        smartcontrol_core::SmartControl::open(smartcontrol_core::CoreConfig::new(
            dir.path(),
            cloud.base_url(),
        ))
        .unwrap()
    };
    let core_query = smartcontrol_core::JobQuery::from(query.clone());
    assert_eq!(plain.jobs(&core_query).unwrap().jobs.len(), JOBS);
    let [core_only, ffi, lowered] = medians(
        rounds,
        [
            &|| plain.jobs(&core_query).unwrap().jobs.len(),
            &|| core.jobs(query.clone()).unwrap().jobs.len(),
            &|| {
                let page: JobPage = core.jobs(query.clone()).unwrap();
                let buf = <JobPage as uniffi::Lower<smartcontrol_ffi::UniFfiTag>>::lower(page);
                let len = buf.len();
                buf.destroy();
                len
            },
        ],
    );
    println!(
        "figure: jobs() of 1,000 jobs in the core (SQLite and JobSummary), median of {rounds} = {}",
        ms(core_only)
    );
    println!("figure: jobs() of 1,000 jobs through the FFI's records, median of {rounds} = {} (baseline the core's jobs() = {}, ratio {:.2})", ms(ffi), ms(core_only), ffi.as_secs_f64() / core_only.as_secs_f64());
    println!("figure: jobs() of 1,000 jobs lowered for the foreign side, median of {rounds} = {} (baseline the core's jobs() = {}, ratio {:.2})", ms(lowered), ms(core_only), lowered.as_secs_f64() / core_only.as_secs_f64());
}
