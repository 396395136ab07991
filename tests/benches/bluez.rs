//! Benchmark of the on-vehicle flow (connect → authenticate → identify →
//! bind → configure → verify → vehicle tests) through the real BLE driver
//! (btleplug → libdbus → private dbus-daemon → simulated BlueZ in the
//! `sim-device --bluez` process) against the same flow over the in-process
//! link (`SimWorld` as the `BleConnector`), with the same scenario and link
//! profile, in the same run; prints wall times and the ratio.
//!
//! `cargo bench -p smartcontrol-tests --bench bluez` runs 10 flows per path
//! (`BLUEZ_BENCH_RUNS=N` to change, `BLUEZ_BENCH_PROFILE=fast|typical|legacy|ideal`
//! for the link); under `cargo test --bench bluez` (no `--bench` argument) it
//! runs one flow per path so the benchmark cannot rot.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use smartcontrol_ble::btleplug::BtleplugConfig;
use smartcontrol_ble::transport::BleConnector;
use smartcontrol_core::{SmartControl, WorkflowEvent, WorkflowOptions};
use smartcontrol_sim_device::Scenario;
use smartcontrol_tests::bluez::BluezRig;
use smartcontrol_tests::DemoCloud;

fn options() -> WorkflowOptions {
    WorkflowOptions {
        reconnect_delay: Duration::from_millis(100),
        ..WorkflowOptions::default()
    }
}

/// Wall times of the runs, and per step (from its start to its end, summed
/// over the run when a reconnect repeats it) the time of every run.
async fn flows(
    anna: &SmartControl,
    job: &str,
    connector: &dyn BleConnector,
    runs: usize,
) -> (Vec<Duration>, BTreeMap<String, Vec<Duration>>) {
    let mut out = Vec::with_capacity(runs);
    let mut steps: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    for _ in 0..runs {
        let started: Mutex<BTreeMap<String, Instant>> = Mutex::default();
        let took: Mutex<BTreeMap<String, Duration>> = Mutex::default();
        let on_event = |e: WorkflowEvent| match e {
            WorkflowEvent::StepStarted { step } => {
                started
                    .lock()
                    .unwrap()
                    .insert(format!("{step:?}"), Instant::now());
            }
            WorkflowEvent::StepDone { step, .. } => {
                let name = format!("{step:?}");
                if let Some(t) = started.lock().unwrap().remove(&name) {
                    *took.lock().unwrap().entry(name).or_default() += t.elapsed();
                }
            }
            _ => {}
        };
        let start = Instant::now();
        let report = anna
            .run_vehicle_workflow(job, connector, &options(), &on_event)
            .await
            .unwrap();
        out.push(start.elapsed());
        assert!(report.all_tests_passed, "{:?}", report.tests);
        assert!(report.steps.iter().all(|s| s.ok), "{:?}", report.steps);
        for (name, d) in took.into_inner().unwrap() {
            steps.entry(name).or_default().push(d);
        }
    }
    (out, steps)
}

fn median_of(d: &[Duration]) -> Duration {
    let mut d = d.to_vec();
    d.sort();
    d.get(d.len() / 2).copied().unwrap_or_default()
}

struct Stats {
    min: Duration,
    median: Duration,
    mean: Duration,
}

fn stats(mut d: Vec<Duration>) -> Stats {
    d.sort();
    let n = u32::try_from(d.len()).unwrap().max(1);
    Stats {
        min: d[0],
        median: d[d.len() / 2],
        mean: d.iter().sum::<Duration>() / n,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let runs: usize = if full {
        std::env::var("BLUEZ_BENCH_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10)
    } else {
        1
    };
    let profile = std::env::var("BLUEZ_BENCH_PROFILE").unwrap_or_else(|_| "fast".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = DemoCloud::start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (anna, job) = c.claimed_installation(dir.path()).await.unwrap();
        let text = c.job_scenario(&job, &profile, None).unwrap();

        // Same scenario, two paths: in-process link, then btleplug + BlueZ.
        let world = Scenario::parse(&text).unwrap().build();
        let (in_process, in_process_steps) = flows(&anna, &job, &world, runs).await;
        let in_process = stats(in_process);

        let rig = BluezRig::start(&text).unwrap();
        let connector = rig
            .connector(BtleplugConfig {
                retry_delay: Duration::from_millis(100),
                ..BtleplugConfig::default()
            })
            .await
            .unwrap();
        let (bluez, bluez_steps) = flows(&anna, &job, &connector, runs).await;
        let bluez = stats(bluez);
        drop(connector);
        drop(rig);

        println!(
            "on-vehicle flow (connect → tests), link profile {profile:?}, {runs} run(s) per path"
        );
        println!("  path                              min        median     mean");
        for (name, s) in [
            ("in-process link (SimWorld)", &in_process),
            ("btleplug + simulated BlueZ", &bluez),
        ] {
            println!(
                "  {name:<32} {:>8.1} ms {:>8.1} ms {:>8.1} ms",
                ms(s.min),
                ms(s.median),
                ms(s.mean)
            );
        }
        println!("  per step (median)                 in-process btleplug + BlueZ");
        for (name, d) in &in_process_steps {
            let b = bluez_steps.get(name).map(|b| median_of(b)).unwrap_or_default();
            println!(
                "  {name:<32} {:>8.1} ms {:>8.1} ms",
                ms(median_of(d)),
                ms(b)
            );
        }
        println!(
            "  ratio btleplug/in-process (median): {:.2}x",
            ms(bluez.median) / ms(in_process.median).max(f64::EPSILON)
        );
        println!(
            "figure: on-vehicle job through btleplug and the simulated BlueZ, link {profile}, median of {runs} = {:.1} ms (baseline in-process link (SimWorld) = {:.1} ms, ratio {:.2})",
            ms(bluez.median),
            ms(in_process.median),
            ms(bluez.median) / ms(in_process.median).max(f64::EPSILON)
        );
    });
}
