//! `smartcontrol demo`: the whole offline-first scenario with zero setup.
//!
//! An in-process simulated cloud (temporary database, demo data), two
//! technicians' devices (two cores with their own temporary data
//! directories), and a cuttable network link in front of the cloud for
//! Anna's device. The story: Anna takes four installations and loses the
//! network; SUCCEEDED is refused until the on-vehicle work is done and signed
//! by the unit; a VIN the provider left open is typed wrong, caught before
//! binding and corrected by a scan; Ben takes over one of her jobs and his
//! phone carries the revocation of her grant to the unit, which then refuses
//! it; Anna comes back, her outbox drains exactly once, and her offline work
//! on Ben's job becomes a conflict; days pass on Ben's job and each sync
//! renews his access. The provider sees the reports and the vehicle records.
//! The end state is verified; the exit code says whether it matched.

// The demo narrates on stdout (or prints its JSON summary there).
#![allow(clippy::print_stdout)]

mod link;

use std::fmt::Display;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use smartcontrol_core::ble::message::VehicleTestId;
use smartcontrol_core::ble::security::VerifyingKey;
use smartcontrol_core::ble::transport::DeviceClock;
use smartcontrol_core::cloud_api::{JobKind, JobStatus};
use smartcontrol_core::{
    Conflict, CoreConfig, CoreError, JobQuery, JobSummary, JobView, QueuedAction, RetryPolicy,
    SiteEntry, SmartControl, SyncReport, WorkflowEvent, WorkflowOptions, WorkflowReport,
};
use smartcontrol_sim_cloud::{
    seed_demo, DemoSeed, FaultConfig, SimCloud, SimCloudConfig, DEMO_PASSWORD,
};
use smartcontrol_sim_device::{
    Door, LinkModel, SimDevice, SimDeviceConfig, SimWorld, VehicleFault, VehicleTiming,
};

use crate::cli::DemoArgs;
use crate::exit::{self, Failure};
use crate::output;
use link::Link;

/// Anna's note after the failing test's hint in the FAILED comment.
const FAILURE_NOTE: &str = "door sensor replacement ordered";
/// J1's configuration transfer loses the link after this many frames of
/// its first connection (mid-transfer: about half of the configuration).
const DISCONNECT_AFTER_FRAMES: u64 = 330;
/// J1's link: the smallest ATT MTU (a legacy phone), so the configuration
/// takes a few hundred frames and the cut lands well inside it.
const J1_MTU: usize = 23;
/// The fault of J2's vehicle.
const J2_FAULT: VehicleFault = VehicleFault::DoorStuckOpen(Door::RearLeft);
/// Anna's notes on the job that succeeded.
const SUCCESS_NOTES: &str = "CloudBoxx installed behind the glove box; all vehicle tests passed";
/// Ben's notes on the job he took over.
const J3_NOTES: &str = "finished after the missing harness arrived";
/// Anna's notes on the job whose VIN she entered.
const J4_NOTES: &str = "VIN and plate taken from the vehicle";
/// The plate Anna reads off the vehicle of J4.
const J4_PLATE: &str = "B-AT 4711";
/// How far the demo's clocks jump twice while Ben's job waits for parts
/// (two jumps take the job past the 72 h of its first grant).
const LONG_JOB_STEP_SECS: i64 = 50 * 3600;

pub async fn run(args: DemoArgs, json: bool) -> Result<u8, Failure> {
    let started = Instant::now();
    let root = tempfile::Builder::new()
        .prefix("smartcontrol-demo-")
        .tempdir()?;
    let mut n = Narrator::new(json);
    let result = scenario(root.path(), &mut n).await;
    let kept = if args.keep {
        let path = root.keep();
        Some(path.display().to_string())
    } else {
        None
    };
    let outcome = match result {
        Ok(o) => o,
        Err(mut failure) => {
            failure.message = format!(
                "the demo stopped in step {} ({}): {}",
                n.steps.len(),
                n.steps.last().map(|s| s.title.as_str()).unwrap_or("setup"),
                failure.message
            );
            return Err(failure);
        }
    };
    let ok = outcome.checks.iter().all(|c| c.ok);
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    if json {
        output::print_json(&Summary {
            ok,
            duration_ms,
            cloud_url: &outcome.cloud_url,
            kept_dir: kept.as_deref(),
            steps: &n.steps,
            jobs: &outcome.jobs,
            conflicts: &outcome.conflicts,
            stats: &outcome.stats,
            verification: Verification {
                ok,
                checks: &outcome.checks,
            },
        })?;
    } else {
        println!();
        if ok {
            println!(
                "Demo passed: the end state is the expected one ({} checks, {:.1} s).",
                outcome.checks.len(),
                duration_ms as f64 / 1000.0
            );
        } else {
            println!("Demo FAILED: the end state differs from the expected one:");
            for c in outcome.checks.iter().filter(|c| !c.ok) {
                println!("  ✗ {}: expected {}, got {}", c.check, c.expected, c.actual);
            }
        }
        if let Some(dir) = &kept {
            println!("Kept the demo's data in {dir} (cloud.db, anna/, ben/).");
        }
    }
    Ok(if ok { exit::OK } else { exit::OPERATIONAL })
}

// ---- JSON summary ----------------------------------------------------------

#[derive(Serialize)]
struct Summary<'a> {
    ok: bool,
    duration_ms: u64,
    cloud_url: &'a str,
    kept_dir: Option<&'a str>,
    steps: &'a [StepLog],
    jobs: &'a [FinalJob],
    conflicts: &'a [Conflict],
    stats: &'a Stats,
    verification: Verification<'a>,
}

#[derive(Serialize)]
struct Verification<'a> {
    ok: bool,
    checks: &'a [Check],
}

/// One of the four jobs of the story, as the provider sees it at the end.
#[derive(Serialize)]
struct FinalJob {
    /// succeeded | failed | taken_over | entered_on_site
    role: &'static str,
    id: String,
    label: String,
    status: String,
    assignee: Option<String>,
    failure_comment: Option<String>,
    notes: Option<String>,
    vehicle_tests: usize,
    /// The report carries the unit's signed attestation.
    attested: bool,
    version: i64,
    /// The on-vehicle workflow Anna ran on this job's CloudBoxx.
    workflow_report: Option<WorkflowReport>,
}

#[derive(Serialize, Default)]
struct Stats {
    /// Connections Anna's device tried while offline (refused by the cut link).
    offline_connection_attempts: u64,
    /// Push requests the cloud received during Anna's reconnect sync.
    push_requests_on_reconnect: u64,
    /// HTTP requests of Anna's reconnect sync (retries included).
    reconnect_sync_requests: u64,
}

#[derive(Serialize)]
struct Check {
    check: String,
    expected: String,
    actual: String,
    ok: bool,
}

struct Outcome {
    cloud_url: String,
    jobs: Vec<FinalJob>,
    conflicts: Vec<Conflict>,
    stats: Stats,
    checks: Vec<Check>,
}

// ---- narration -------------------------------------------------------------

#[derive(Serialize)]
struct StepLog {
    step: usize,
    title: String,
    log: Vec<String>,
}

/// Prints the story as it happens (text mode) and records it (JSON mode).
struct Narrator {
    json: bool,
    steps: Vec<StepLog>,
}

impl Narrator {
    fn new(json: bool) -> Narrator {
        Narrator {
            json,
            steps: Vec::new(),
        }
    }

    fn step(&mut self, title: &str) {
        let step = self.steps.len() + 1;
        if !self.json {
            println!();
            println!("Step {step} — {title}");
        }
        self.steps.push(StepLog {
            step,
            title: title.to_owned(),
            log: Vec::new(),
        });
    }

    fn say(&mut self, line: impl Into<String>) {
        let line = line.into();
        if !self.json {
            println!("  {line}");
        }
        if let Some(s) = self.steps.last_mut() {
            s.log.push(line);
        }
    }

    /// A table or other preformatted text (not recorded in the JSON log).
    fn block(&self, text: &str) {
        if !self.json {
            for line in text.lines() {
                println!("    {line}");
            }
        }
    }

    /// Runs `fut` with a spinner on stderr (terminals only, text mode only).
    async fn spin<T>(&self, message: &str, fut: impl Future<Output = T>) -> T {
        let pb = if self.json {
            ProgressBar::hidden()
        } else {
            let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("  {spinner} {msg}") {
                pb.set_style(style);
            }
            pb.set_message(message.to_owned());
            pb.enable_steady_tick(Duration::from_millis(80));
            pb
        };
        let out = fut.await;
        pb.finish_and_clear();
        out
    }
}

fn checker() -> impl FnMut(&str, &dyn Display, &dyn Display) -> Check {
    |check, expected, actual| {
        let (expected, actual) = (expected.to_string(), actual.to_string());
        Check {
            check: check.to_owned(),
            ok: expected == actual,
            expected,
            actual,
        }
    }
}

/// A core error in the middle of the story: the demo cannot go on.
fn at(what: &'static str) -> impl Fn(CoreError) -> Failure {
    move |e| Failure::operational("demo", format!("{what}: {e}"))
}

fn sim(what: &'static str) -> impl Fn(smartcontrol_sim_cloud::SimError) -> Failure {
    move |e| Failure::operational("demo", format!("{what}: simulated cloud: {e}"))
}

fn queued_line(core: &SmartControl, q: &QueuedAction) -> String {
    format!(
        "Queued: {} of {} — {} action(s) waiting for sync",
        output::action_words(&q.action),
        label(core, &q.job_id),
        q.pending_actions
    )
}

fn label(core: &SmartControl, id: &str) -> String {
    core.job(id)
        .map(|d| d.summary.label())
        .unwrap_or_else(|_| id.to_owned())
}

fn jobs_table(core: &SmartControl, view: JobView) -> Result<String, Failure> {
    let page = core.jobs(&JobQuery::view(view))?;
    Ok(short_table(&page.jobs))
}

/// A narrower job table for the narration (the id column is shortened;
/// `smartcontrol jobs` prints full ids).
fn short_table(jobs: &[JobSummary]) -> String {
    if jobs.is_empty() {
        return "(none)".to_owned();
    }
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            vec![
                j.id.chars().take(8).collect(),
                j.label(),
                j.vehicle_model.clone().unwrap_or_default(),
                j.status.to_string(),
                j.assignee_name.clone().unwrap_or_else(|| "-".to_owned()),
                if j.pending_actions > 0 {
                    format!("{} ({})", output::WAITING, j.pending_actions)
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    output::table(
        &["ID", "PLATE", "MODEL", "STATUS", "ASSIGNEE", "SYNC"],
        &rows,
    )
}

fn report_text(r: &SyncReport) -> String {
    format!(
        "{} applied, {} rejected, {} job(s) received, {} removed, {} request(s), {} pending",
        r.applied, r.rejected, r.jobs_received, r.jobs_removed, r.requests, r.pending_actions
    )
}

/// Time as the simulated units read it: the wall clock plus the days the
/// demo lets pass (the simulated cloud's clock moves along).
#[derive(Clone, Default)]
struct DemoClock(Arc<AtomicI64>);

impl DemoClock {
    fn advance(&self, cloud: &SimCloud, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
        cloud.admin().advance_clock(secs);
    }

    fn device_clock(&self) -> DeviceClock {
        let offset = self.0.clone();
        Arc::new(move || {
            u64::try_from(chrono::Utc::now().timestamp() + offset.load(Ordering::SeqCst))
                .unwrap_or(0)
        })
    }
}

/// The simulated CloudBoxx of a demo job: the job's serial, provisioned with
/// its fleet's public key, in the job's real vehicle (the VIN and model it
/// reports); untimed link and instant vehicle (the demo stays fast).
fn cloudboxx(
    cloud: &SimCloud,
    seed: &DemoSeed,
    job_id: &str,
    mtu: usize,
    clock: &DemoClock,
) -> Result<SimDevice, Failure> {
    let bad = |what: String| Failure::operational("demo", what);
    let serial = seed
        .cloudboxx_serials
        .get(job_id)
        .ok_or_else(|| bad(format!("job {job_id} has no CloudBoxx serial")))?;
    let (vin, model) = seed
        .vehicles
        .get(job_id)
        .cloned()
        .ok_or_else(|| bad(format!("job {job_id} has no demo vehicle")))?;
    let job = cloud
        .admin()
        .job(job_id)
        .map_err(sim("the job's fleet"))?
        .job;
    let key = cloud
        .admin()
        .fleet_public_key(&job.fleet_id)
        .map_err(sim("the fleet's public key"))?;
    let key =
        VerifyingKey::from_bytes(&key).map_err(|e| bad(format!("the fleet's public key: {e}")))?;
    let mut config = SimDeviceConfig::new(serial, key);
    config.vehicle.vin = vin;
    config.vehicle.model = model;
    config.timing = VehicleTiming::instant();
    config.link = LinkModel::ideal(mtu);
    config.clock = Some(clock.device_clock());
    Ok(SimDevice::new(config))
}

/// A technician runs the on-vehicle workflow of `job_id` (offline) and the
/// demo narrates it. A failure keeps the core's error kind.
async fn at_vehicle(
    n: &mut Narrator,
    anna: &SmartControl,
    world: &SimWorld,
    job_id: &str,
    options: &WorkflowOptions,
) -> Result<WorkflowReport, Failure> {
    let options = WorkflowOptions {
        reconnect_delay: Duration::from_millis(20),
        ..options.clone()
    };
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let report = n
        .spin(
            "running the on-vehicle workflow",
            anna.run_vehicle_workflow(job_id, world, &options, &move |e| {
                if let Ok(mut v) = sink.lock() {
                    v.push(e);
                }
            }),
        )
        .await
        .map_err(|e| {
            let mut f = Failure::from(e);
            f.message = format!("the on-vehicle workflow: {}", f.message);
            f
        })?;
    let events = events.lock().map(|v| v.clone()).unwrap_or_default();
    // Link losses: where the transfer stood and where it resumed.
    let mut acked = 0;
    let mut lost_at = None;
    for e in &events {
        match e {
            WorkflowEvent::ConfigProgress {
                acked: a,
                resumed_from,
                ..
            } => {
                if let Some(x) = lost_at.take() {
                    n.say(format!(
                        "↻ link lost at {x} bytes, reconnecting… resumed at {resumed_from}"
                    ));
                }
                acked = *a;
            }
            WorkflowEvent::Reconnecting { .. } => lost_at = Some(acked),
            _ => {}
        }
    }
    for st in &report.steps {
        n.say(format!(
            "{} {}: {}",
            if st.ok { "✓" } else { "✗" },
            st.step,
            st.detail
        ));
    }
    n.block(&crate::vehicle::test_table(&report.tests));
    Ok(report)
}

fn device(dir: &Path, url: &str) -> Result<SmartControl, Failure> {
    let mut config = CoreConfig::new(dir, url);
    // Loopback: a lost answer shows within a second, and retries are quick
    // (the backoff is still exponential with jitter, just small).
    config.request_timeout = Duration::from_secs(3);
    config.retry = RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(40),
        max_delay: Duration::from_millis(400),
    };
    Ok(SmartControl::open(config)?)
}

fn totp_now(secret: &str) -> Result<String, Failure> {
    use totp_rs::{Algorithm, Secret, TOTP};
    let bad = |e: String| Failure::operational("demo", format!("TOTP: {e}"));
    let bytes = Secret::Encoded(secret.to_owned())
        .to_bytes()
        .map_err(|e| bad(format!("{e:?}")))?;
    let totp = TOTP::new(Algorithm::SHA1, 6, 1, 30, bytes).map_err(|e| bad(e.to_string()))?;
    totp.generate_current().map_err(|e| bad(e.to_string()))
}

// ---- the story -------------------------------------------------------------

async fn scenario(root: &Path, n: &mut Narrator) -> Result<Outcome, Failure> {
    let cloud = SimCloud::start(SimCloudConfig {
        db_path: Some(root.join("cloud.db")),
        ..SimCloudConfig::default()
    })
    .await
    .map_err(|e| {
        Failure::operational("demo", format!("cannot start the simulated cloud: {e:#}"))
    })?;
    let seed = seed_demo(cloud.admin()).map_err(sim("seeding demo data"))?;
    let anna_link = Link::start(cloud.addr()).await?;
    let anna = device(&root.join("anna"), &anna_link.url())?;
    let ben = device(&root.join("ben"), &cloud.base_url())?;
    let cloud_url = cloud.base_url();
    let clock = DemoClock::default();
    let mut stats = Stats::default();
    let mut facts = Facts::default();

    if !n.json {
        println!("SmartControl demo — offline-first jobs for two technicians and one cloud");
        println!("  Simulated cloud on {cloud_url} (in-process, temporary database), seeded with:");
        println!(
            "  provider Shared Mobility GmbH (Berlin Fleet, Hamburg Fleet); partners AutoTech"
        );
        println!(
            "  Installations (technicians Anna and Ben) and Other Installers; {} jobs ({} for AutoTech).",
            seed.autotech_job_ids.len() + seed.other_job_ids.len() + seed.pending_job_ids.len(),
            seed.autotech_job_ids.len()
        );
        println!("  Anna's device reaches the cloud through a network link the demo can cut.");
    }

    // ---- 1 ------------------------------------------------------------------
    n.step("Anna logs in, syncs and takes four installation jobs");
    let account = n
        .spin(
            "logging in",
            anna.login(&seed.anna_email, DEMO_PASSWORD, None),
        )
        .await
        .map_err(at("Anna's login"))?;
    n.say(format!(
        "✓ {} <{}> logged in ({})",
        account.name, account.email, account.company_name
    ));
    let r = n
        .spin("syncing", anna.sync())
        .await
        .map_err(at("Anna's first sync"))?;
    n.say(format!(
        "✓ sync: {} job(s) received in {} request(s)",
        r.jobs_received, r.requests
    ));
    let available = anna.jobs(&JobQuery::view(JobView::Available))?;
    n.say(format!(
        "Available Jobs: {} (assigned to AutoTech, nobody works on them yet)",
        available.total
    ));
    // Installations that name their CloudBoxx; J4 leaves the VIN and plate
    // to the technician, J1 requires every vehicle test.
    let installation = |id: &str, open_vin: bool| {
        anna.job(id).is_ok_and(|d| {
            d.cloud.kind == JobKind::Installation
                && d.cloud.cloudboxx_serial.is_some()
                && d.cloud.vin.is_none() == open_vin
        })
    };
    let mut named: Vec<String> = available
        .jobs
        .iter()
        .filter(|j| installation(&j.id, false))
        .map(|j| j.id.clone())
        .collect();
    if let Some(i) = named.iter().position(|id| {
        anna.job(id)
            .is_ok_and(|d| d.cloud.requirements.vehicle_tests.len() == 10)
    }) {
        let j1 = named.remove(i);
        named.insert(0, j1);
    }
    let j4 = available
        .jobs
        .iter()
        .find(|j| installation(&j.id, true))
        .map(|j| j.id.clone());
    let (Some(j4), [j1, j2, j3, ..]) = (j4, named.as_slice()) else {
        return Err(Failure::operational(
            "demo",
            "the demo data has fewer than four suitable available installation jobs",
        ));
    };
    let (j1, j2, j3) = (j1.clone(), j2.clone(), j3.clone());
    let (l1, l2, l3) = (label(&anna, &j1), label(&anna, &j2), label(&anna, &j3));
    for id in [&j1, &j2, &j3, &j4] {
        let q = anna.claim(id).map_err(at("Anna's claim"))?;
        n.say(queued_line(&anna, &q));
    }
    let r = n
        .spin("syncing", anna.sync())
        .await
        .map_err(at("Anna's sync after claiming"))?;
    n.say(format!("✓ Synced: {}", report_text(&r)));
    n.say("Anna's jobs (My Jobs):");
    n.block(&jobs_table(&anna, JobView::Mine)?);
    let version_after_claim = |id: &str| anna.job(id).map(|d| d.cloud.version);
    let (v1, v2, v3, v4) = (
        version_after_claim(&j1)?,
        version_after_claim(&j2)?,
        version_after_claim(&j3)?,
        version_after_claim(&j4)?,
    );
    let anna_j3_grant = anna
        .access_grant(&j3)?
        .ok_or_else(|| Failure::operational("demo", "no access grant synced for Anna's job"))?;

    // ---- 2 ------------------------------------------------------------------
    n.step("Anna loses the network and keeps working offline");
    anna_link.cut();
    n.say(
        "✗ Anna's link to the cloud is cut (an underground garage); the cloud stays up for others",
    );
    let q = anna
        .start_installation(&j1)
        .map_err(at("Anna's offline start"))?;
    n.say(queued_line(&anna, &q));
    match anna.complete_succeeded(&j1, None) {
        Err(e @ CoreError::ActionRefused { .. }) => {
            facts.early_success_refused = e.to_string().contains("required work is not done");
            n.say(format!(
                "Refused locally, by the same rules as the cloud: {e}"
            ));
        }
        Err(e) => return Err(at("the completion before the on-vehicle work")(e)),
        Ok(_) => {
            return Err(Failure::operational(
                "demo",
                format!("{l1} requires on-vehicle work, yet completing it before was accepted"),
            ))
        }
    }
    n.say(format!(
        "At the vehicle of {l1}: a new CloudBoxx, reached over BLE (simulated in-process)"
    ));
    let world = SimWorld::new();
    let dev1 = cloudboxx(&cloud, &seed, &j1, J1_MTU, &clock)?;
    let dev2 = cloudboxx(&cloud, &seed, &j2, 185, &clock)?;
    let dev3 = cloudboxx(&cloud, &seed, &j3, 247, &clock)?;
    let dev4 = cloudboxx(&cloud, &seed, &j4, 247, &clock)?;
    for d in [&dev1, &dev2, &dev3, &dev4] {
        world.add(d.clone());
    }
    dev1.faults()
        .disconnect_after_frames(DISCONNECT_AFTER_FRAMES);
    let r1 = at_vehicle(n, &anna, &world, &j1, &WorkflowOptions::default()).await?;
    n.say(crate::vehicle::next_step(&r1));
    let q = anna
        .complete_succeeded(&j1, Some(SUCCESS_NOTES.to_owned()))
        .map_err(at("Anna's offline completion"))?;
    n.say(queued_line(&anna, &q));
    let q = anna
        .start_installation(&j2)
        .map_err(at("Anna's offline start"))?;
    n.say(queued_line(&anna, &q));
    n.say(format!(
        "At the vehicle of {l2}: its CloudBoxx, in a vehicle with a fault ({})",
        J2_FAULT.name()
    ));
    dev2.faults().set_vehicle_fault(J2_FAULT, true);
    let r2 = at_vehicle(n, &anna, &world, &j2, &WorkflowOptions::default()).await?;
    n.say(crate::vehicle::next_step(&r2));
    let failure_comment = format!("{}; {FAILURE_NOTE}", crate::vehicle::failure_comment(&r2));
    let q = anna
        .complete_failed(&j2, &failure_comment)
        .map_err(at("Anna's offline failure report"))?;
    n.say(queued_line(&anna, &q));

    // J4: the provider left the VIN and the plate to the technician.
    let (real_vin, _) = seed.vehicles.get(&j4).cloned().unwrap_or_default();
    let l4_plate = J4_PLATE;
    n.say(format!(
        "At the vehicle of job {}: the provider left VIN and plate to Anna",
        &j4[..8]
    ));
    let typo = mistyped(&real_vin);
    let q = anna
        .enter_site_data(
            &j4,
            &SiteEntry {
                vin: Some(typo.clone()),
                license_plate: Some(l4_plate.to_lowercase()),
                ..SiteEntry::default()
            },
        )
        .map_err(at("Anna's entry of the VIN"))?;
    n.say(format!(
        "She types VIN {typo} from the VIN plate and the plate {l4_plate}: {}",
        queued_line(&anna, &q)
    ));
    let l4 = label(&anna, &j4);
    match at_vehicle(n, &anna, &world, &j4, &WorkflowOptions::default()).await {
        Err(mismatch) if mismatch.kind == "wrong_vehicle" => {
            facts.vin_mismatch_caught = dev4.firmware().lock().await.bound_vin.is_empty();
            n.say(format!(
                "✗ Stopped before binding: {} (the unit stays unbound)",
                mismatch.message
            ));
        }
        Err(e) => return Err(e),
        Ok(_) => {
            return Err(Failure::operational(
                "demo",
                "a mistyped VIN went unnoticed by the workflow",
            ))
        }
    }
    let scan = format!("{real_vin}\r\n");
    let q = anna
        .enter_site_data(
            &j4,
            &SiteEntry {
                vin_scan: Some(scan),
                ..SiteEntry::default()
            },
        )
        .map_err(at("Anna's scan of the VIN barcode"))?;
    n.say(format!(
        "She scans the VIN barcode on the door pillar instead: {}",
        queued_line(&anna, &q)
    ));
    let r4 = at_vehicle(n, &anna, &world, &j4, &WorkflowOptions::default()).await?;
    n.say(crate::vehicle::next_step(&r4));
    let q = anna
        .complete_succeeded(&j4, Some(J4_NOTES.to_owned()))
        .map_err(at("Anna's completion of the job with the entered VIN"))?;
    n.say(queued_line(&anna, &q));

    let q = anna
        .start_installation(&j3)
        .map_err(at("Anna's offline start"))?;
    n.say(queued_line(&anna, &q));
    match n.spin("trying to sync", anna.sync()).await {
        Err(CoreError::Offline { .. }) => {
            let st = anna.status()?;
            stats.offline_connection_attempts = anna_link.refused();
            n.say(format!(
                "✗ Sync attempt: offline, {} action(s) queued and kept ({} connection attempt(s) with backoff, all refused)",
                st.pending_actions,
                anna_link.refused()
            ));
            n.say(format!(
                "Status: {}, {} action(s) waiting for sync, nothing lost",
                output::state_words(st.state),
                st.pending_actions
            ));
        }
        Err(e) => return Err(at("Anna's offline sync")(e)),
        Ok(_) => {
            return Err(Failure::operational(
                "demo",
                "Anna's sync succeeded although her network was cut",
            ))
        }
    }
    n.say("My Jobs (local state, queued actions applied):");
    n.block(&jobs_table(&anna, JobView::Mine)?);
    n.say("Done:");
    n.block(&jobs_table(&anna, JobView::Done)?);

    // ---- 3 ------------------------------------------------------------------
    n.step("Ben takes over one of Anna's jobs; his phone carries the revocation to the unit");
    match ben.login(&seed.ben_email, DEMO_PASSWORD, None).await {
        Err(CoreError::TotpRequired) => {
            n.say("Login with the password alone: refused, Ben's account needs the 6-digit code")
        }
        Err(e) => return Err(at("Ben's login without a code")(e)),
        Ok(_) => {
            return Err(Failure::operational(
                "demo",
                "Ben's login without a TOTP code was accepted",
            ))
        }
    }
    let code = totp_now(&seed.totp_secret)?;
    let account = n
        .spin(
            "logging in",
            ben.login(&seed.ben_email, DEMO_PASSWORD, Some(&code)),
        )
        .await
        .map_err(at("Ben's login"))?;
    n.say(format!(
        "✓ {} logged in with the code from his authenticator app",
        account.name
    ));
    let r = n
        .spin("syncing", ben.sync())
        .await
        .map_err(at("Ben's sync"))?;
    n.say(format!("✓ sync: {} job(s) received", r.jobs_received));
    n.say("Colleagues' jobs on Ben's phone (the cloud has not heard of Anna's offline work):");
    n.block(&jobs_table(&ben, JobView::Colleagues)?);
    let q = ben.take_over(&j3).map_err(at("Ben's take-over"))?;
    n.say(queued_line(&ben, &q));
    let r = n
        .spin("syncing", ben.sync())
        .await
        .map_err(at("Ben's sync after the take-over"))?;
    n.say(format!(
        "✓ Synced: {}; Ben's phone now holds the job's grant and the unit's signed revocation list (Anna's grant is on it)",
        report_text(&r)
    ));
    let ben_first_grant = ben
        .access_grant(&j3)?
        .ok_or_else(|| Failure::operational("demo", "no access grant synced for Ben"))?;
    n.say(format!("At the vehicle of {l3}: Ben checks the unit"));
    let quick = WorkflowOptions {
        tests: vec![VehicleTestId::IgnitionState],
        ..WorkflowOptions::default()
    };
    at_vehicle(n, &ben, &world, &j3, &quick).await?;
    facts.revocation_handed_over =
        dev3.is_revoked(&hex16(&anna_j3_grant.grant_id).unwrap_or([0; 16]));
    n.say(format!(
        "Anna, still offline, still holds her old grant for {l3} and tries the unit:"
    ));
    match anna
        .run_vehicle_workflow(&j3, &world, &quick, &|_| {})
        .await
    {
        Err(e @ CoreError::DeviceRefused { .. }) => {
            facts.stale_grant_refused = e.to_string().contains("Revoked")
                || e.to_string().contains("revoked");
            n.say(format!("✗ {e}"));
        }
        Err(e) => return Err(at("Anna's attempt with her revoked grant")(e)),
        Ok(_) => {
            return Err(Failure::operational(
                "demo",
                "the unit accepted a grant the cloud had revoked after Ben's phone handed over the list",
            ))
        }
    }

    // ---- 4 ------------------------------------------------------------------
    n.step("Anna is back online: her outbox drains, the work on the taken-over job is refused");
    anna_link.restore();
    // The cloud applies the next request but its answer never arrives: the
    // core must retry with the same idempotency keys and nothing may be
    // applied twice.
    cloud.set_faults(FaultConfig {
        drop_response_next: 1,
        ..FaultConfig::default()
    });
    n.say("✓ Anna's network is back (and the cloud will lose its answer to her first push)");
    let before = cloud.stats();
    let r = n
        .spin("syncing", anna.sync())
        .await
        .map_err(at("Anna's sync after reconnecting"))?;
    let after = cloud.stats();
    stats.push_requests_on_reconnect = after.actions.saturating_sub(before.actions);
    stats.reconnect_sync_requests = r.requests;
    n.say(format!("✓ Synced: {}", report_text(&r)));
    if stats.push_requests_on_reconnect > 1 {
        n.say(format!(
            "The first push was applied but its answer lost; after a backoff the core sent it again \
             ({} push requests) with the same idempotency keys, and the cloud applied nothing twice",
            stats.push_requests_on_reconnect
        ));
    }
    n.say(
        "The cloud checked each SUCCEEDED against the unit's signed attestation of its latest run",
    );
    let st = anna.status()?;
    n.say(format!(
        "Outbox: {} action(s) pending; {} open conflict(s)",
        st.pending_actions, st.open_conflicts
    ));
    let conflicts = anna.conflicts()?;
    n.say("Anna's conflicts (`smartcontrol conflicts`):");
    n.block(&output::table(
        output::CONFLICT_HEADER,
        &output::conflict_rows(&conflicts),
    ));
    n.say("Anna's Done list now:");
    n.block(&jobs_table(&anna, JobView::Done)?);
    n.say("Her colleagues' jobs (the one Ben took over):");
    n.block(&jobs_table(&anna, JobView::Colleagues)?);

    // ---- 5 ------------------------------------------------------------------
    n.step("A long job: Ben's access is renewed whenever his phone syncs");
    clock.advance(&cloud, LONG_JOB_STEP_SECS);
    n.say(format!(
        "{} h later (parts were missing): Ben's grant ends {}",
        LONG_JOB_STEP_SECS / 3600,
        rfc3339(ben_first_grant.not_after)
    ));
    n.spin("syncing", ben.sync())
        .await
        .map_err(at("Ben's sync two days later"))?;
    let renewed = ben
        .access_grant(&j3)?
        .ok_or_else(|| Failure::operational("demo", "Ben's grant vanished on renewal"))?;
    facts.grant_renewed = renewed.not_after > ben_first_grant.not_after;
    n.say(format!(
        "✓ The sync renewed it: valid until {}",
        rfc3339(renewed.not_after)
    ));
    clock.advance(&cloud, LONG_JOB_STEP_SECS);
    n.say(format!(
        "Another {} h later, past the first grant's end, Ben is back at the vehicle of {l3}",
        LONG_JOB_STEP_SECS / 3600
    ));
    let r3 = at_vehicle(n, &ben, &world, &j3, &WorkflowOptions::default()).await?;
    facts.renewed_grant_opened = r3.required_work.done
        && u64::try_from(ben_first_grant.not_after).unwrap_or(u64::MAX) < dev3.now();
    n.say(crate::vehicle::next_step(&r3));
    let q = ben
        .complete_succeeded(&j3, Some(J3_NOTES.to_owned()))
        .map_err(at("Ben's completion"))?;
    n.say(queued_line(&ben, &q));
    let r = n
        .spin("syncing", ben.sync())
        .await
        .map_err(at("Ben's sync after completing"))?;
    n.say(format!("✓ Synced: {}", report_text(&r)));

    // ---- 6 ------------------------------------------------------------------
    n.step("The provider's view: the jobs, their reports and the vehicles");
    let provider_job = |id: &str| cloud.admin().job(id).map_err(sim("the provider's view"));
    let mut jobs = Vec::new();
    let mut reports = vec![
        Some(r1.clone()),
        Some(r2.clone()),
        Some(r3.clone()),
        Some(r4.clone()),
    ]
    .into_iter();
    for (role, id, l) in [
        ("succeeded", &j1, &l1),
        ("failed", &j2, &l2),
        ("taken_over", &j3, &l3),
        ("entered_on_site", &j4, &l4),
    ] {
        let pj = provider_job(id)?;
        let job = pj.job;
        jobs.push(FinalJob {
            role,
            id: job.id.clone(),
            label: l.clone(),
            status: job.status.to_string(),
            assignee: job.assignee.as_ref().map(|a| a.name.clone()),
            failure_comment: job.failure_comment.clone(),
            notes: pj.report.as_ref().and_then(|r| r.notes.clone()),
            vehicle_tests: pj.report.as_ref().map_or(0, |r| r.vehicle_tests.len()),
            attested: pj.report.as_ref().is_some_and(|r| r.attestation.is_some()),
            version: job.version,
            workflow_report: reports.next().flatten(),
        });
    }
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            let detail = match (&j.failure_comment, &j.notes) {
                (Some(c), _) => format!("comment: {c}"),
                (None, Some(notes)) => format!(
                    "{} vehicle test(s){}; notes: {notes}",
                    j.vehicle_tests,
                    if j.attested {
                        ", signed by the unit"
                    } else {
                        ""
                    }
                ),
                _ => String::new(),
            };
            vec![
                j.label.clone(),
                j.status.clone(),
                j.assignee.clone().unwrap_or_else(|| "-".to_owned()),
                j.version.to_string(),
                detail,
            ]
        })
        .collect();
    n.block(&output::table(
        &["PLATE", "STATUS", "TECHNICIAN", "VERSION", "REPORT"],
        &rows,
    ));
    let vehicles = cloud
        .admin()
        .list_vehicles(&seed.provider_id)
        .map_err(sim("the provider's vehicles"))?;
    n.say("Vehicles with an installed CloudBoxx (linked by the installations):");
    n.block(&output::table(
        &["VIN", "PLATE", "MODEL", "CLOUDBOXX", "CONFIGURATION"],
        &vehicles
            .iter()
            .map(|v| {
                vec![
                    v.vin.clone(),
                    v.license_plate.clone().unwrap_or_default(),
                    v.vehicle_model
                        .as_ref()
                        .map(|m| m.name.clone())
                        .unwrap_or_default(),
                    v.cloudboxx_serial.clone(),
                    v.config_id.clone().unwrap_or_default(),
                ]
            })
            .collect::<Vec<_>>(),
    ));
    let j4_cloud = provider_job(&j4)?.job;
    n.say(format!(
        "{l4}: VIN {} ({}) and plate {} entered on site by Anna",
        j4_cloud.site_data.vin.as_deref().unwrap_or("-"),
        if j4_cloud.site_data.scanned.contains("vin") {
            "scanned"
        } else {
            "typed"
        },
        j4_cloud.site_data.license_plate.as_deref().unwrap_or("-"),
    ));

    // ---- 7 ------------------------------------------------------------------
    n.step("Verify the end state");
    let mut check = checker();
    let mut checks = Vec::new();
    let find = |role: &str| jobs.iter().find(|j| j.role == role);
    let (f1, f2, f3, f4) = (
        find("succeeded"),
        find("failed"),
        find("taken_over"),
        find("entered_on_site"),
    );
    let get = |j: Option<&FinalJob>, f: fn(&FinalJob) -> String| j.map(f).unwrap_or_default();
    checks.push(check(
        &format!("{l1} status"),
        &JobStatus::Succeeded,
        &get(f1, |j| j.status.clone()),
    ));
    checks.push(check(
        &format!("{l1} technician"),
        &"Anna Schmidt",
        &get(f1, |j| j.assignee.clone().unwrap_or_default()),
    ));
    checks.push(check(
        &format!("{l1} vehicle tests reported"),
        &10,
        &get(f1, |j| j.vehicle_tests.to_string()),
    ));
    checks.push(check(
        &format!("{l1} SUCCEEDED refused before the on-vehicle work"),
        &true,
        &facts.early_success_refused,
    ));
    checks.push(check(
        &format!("{l1} results signed by its CloudBoxx"),
        &true,
        &get(f1, |j| j.attested.to_string()),
    ));
    checks.push(check(
        &format!("{l2} status"),
        &JobStatus::Failed,
        &get(f2, |j| j.status.clone()),
    ));
    checks.push(check(
        &format!("{l2} failure comment"),
        &failure_comment,
        &get(f2, |j| j.failure_comment.clone().unwrap_or_default()),
    ));
    checks.push(check(
        &format!("{l3} status"),
        &JobStatus::Succeeded,
        &get(f3, |j| j.status.clone()),
    ));
    checks.push(check(
        &format!("{l3} technician"),
        &"Ben Keller",
        &get(f3, |j| j.assignee.clone().unwrap_or_default()),
    ));
    checks.push(check(
        &format!("{l4} status"),
        &JobStatus::Succeeded,
        &get(f4, |j| j.status.clone()),
    ));
    // Exactly once: every applied action bumps a job's version by one.
    checks.push(check(
        &format!("{l1} version (claim + start + complete, each once)"),
        &(v1 + 2),
        &get(f1, |j| j.version.to_string()),
    ));
    checks.push(check(
        &format!("{l2} version (claim + start + fail, each once)"),
        &(v2 + 2),
        &get(f2, |j| j.version.to_string()),
    ));
    checks.push(check(
        &format!("{l3} version (claim + Ben's take-over, start, complete; Anna's start refused)"),
        &(v3 + 3),
        &get(f3, |j| j.version.to_string()),
    ));
    checks.push(check(
        &format!("{l4} version (claim + VIN typed + start + VIN scanned + complete)"),
        &(v4 + 4),
        &get(f4, |j| j.version.to_string()),
    ));
    checks.push(check(
        &format!("{l4} mistyped VIN stopped the run before binding"),
        &true,
        &facts.vin_mismatch_caught,
    ));
    checks.push(check(
        &format!("{l4} VIN entered on site (scanned), as the provider sees it"),
        &format!("{real_vin} scanned"),
        &format!(
            "{} {}",
            j4_cloud.site_data.vin.clone().unwrap_or_default(),
            if j4_cloud.site_data.scanned.contains("vin") {
                "scanned"
            } else {
                "typed"
            }
        ),
    ));
    checks.push(check(
        &format!("{l4} plate entered on site"),
        &l4_plate,
        &j4_cloud.site_data.license_plate.clone().unwrap_or_default(),
    ));
    let recorded = |id: &str| vehicles.iter().any(|v| v.job_id == id);
    checks.push(check(
        "vehicle records linked by the installations",
        &format!("{} {} {} {}", true, false, true, true),
        &format!(
            "{} {} {} {}",
            recorded(&j1),
            recorded(&j2),
            recorded(&j3),
            recorded(&j4)
        ),
    ));
    checks.push(check(
        &format!("{l3} unit learned Anna's revocation from Ben's phone"),
        &true,
        &facts.revocation_handed_over,
    ));
    checks.push(check(
        &format!("{l3} unit refused Anna's revoked grant"),
        &true,
        &facts.stale_grant_refused,
    ));
    checks.push(check(
        &format!("{l3} grant renewed by Ben's sync"),
        &true,
        &facts.grant_renewed,
    ));
    checks.push(check(
        &format!("{l3} renewed grant opened the unit after the first one expired"),
        &true,
        &facts.renewed_grant_opened,
    ));
    let open = anna.conflicts()?;
    checks.push(check("Anna's open conflicts", &1, &open.len()));
    let c = open.first();
    checks.push(check(
        "conflict reason",
        &"TAKEN_OVER",
        &c.map(|c| c.reason.to_string()).unwrap_or_default(),
    ));
    checks.push(check(
        "conflict job",
        &l3,
        &c.map(|c| c.job_label.clone()).unwrap_or_default(),
    ));
    checks.push(check(
        "conflict work",
        &"START_INSTALLATION",
        &c.map(|c| c.action.name()).unwrap_or_default(),
    ));
    checks.push(check("Anna's outbox", &0, &anna.status()?.pending_actions));
    checks.push(check("Ben's outbox", &0, &ben.status()?.pending_actions));
    let local = |core: &SmartControl, id: &str| {
        core.job(id)
            .map(|d| {
                format!(
                    "{} {}",
                    d.summary.status,
                    d.summary.assignee_name.unwrap_or_default()
                )
            })
            .unwrap_or_else(|e| e.to_string())
    };
    checks.push(check(
        &format!("Anna's device agrees on {l1}"),
        &"SUCCEEDED Anna Schmidt",
        &local(&anna, &j1),
    ));
    checks.push(check(
        &format!("Anna's device agrees on {l2}"),
        &"FAILED Anna Schmidt",
        &local(&anna, &j2),
    ));
    checks.push(check(
        &format!("Ben's device agrees on {l3}"),
        &"SUCCEEDED Ben Keller",
        &local(&ben, &j3),
    ));
    let mut all = JobQuery::view(JobView::All);
    all.limit = 10_000;
    let anna_all = anna.jobs(&all)?;
    let foreign = anna_all
        .jobs
        .iter()
        .filter(|j| seed.other_job_ids.contains(&j.id) || seed.pending_job_ids.contains(&j.id))
        .count();
    checks.push(check(
        "jobs of other partners or PENDING on Anna's device",
        &0,
        &foreign,
    ));
    checks.push(check(
        "lost answer was retried (push requests on reconnect)",
        &2,
        &stats.push_requests_on_reconnect,
    ));
    // The on-vehicle work as the provider sees it.
    let provider_report = cloud
        .admin()
        .job(&j1)
        .map_err(sim("the provider's view"))?
        .report;
    let device = provider_report.as_ref().and_then(|r| r.device.clone());
    checks.push(check(
        &format!("{l1} report: CloudBoxx"),
        &r1.device.serial,
        &device
            .as_ref()
            .map(|d| d.serial.clone())
            .unwrap_or_default(),
    ));
    checks.push(check(
        &format!("{l1} report: passing vehicle tests"),
        &10,
        &provider_report
            .as_ref()
            .map_or(0, |r| r.vehicle_tests.iter().filter(|t| t.passed).count()),
    ));
    checks.push(check(
        &format!("{l1} report: ok workflow steps"),
        &9,
        &provider_report
            .as_ref()
            .map_or(0, |r| r.steps.iter().filter(|s| s.ok).count()),
    ));
    let configure = provider_report
        .as_ref()
        .and_then(|r| r.steps.iter().find(|s| s.step == "configure"))
        .map(|s| s.detail.clone())
        .unwrap_or_default();
    checks.push(check(
        &format!("{l1} configuration transfer resumed after the lost link"),
        &true,
        &configure.contains("resumed"),
    ));
    checks.push(check(&format!("{l1} link reconnects"), &1, &r1.reconnects));
    let active = dev1.active_config().await.map(|c| c.config_id);
    checks.push(check(
        &format!("{l1} CloudBoxx active configuration = reported"),
        &r1.device.config_id.clone().unwrap_or_default(),
        &active.unwrap_or_default(),
    ));
    checks.push(check(
        &format!("{l1} CloudBoxx configuration in the provider's report"),
        &r1.device.config_id.clone().unwrap_or_default(),
        &device.and_then(|d| d.config_id).unwrap_or_default(),
    ));
    let hint = r2
        .tests
        .iter()
        .find(|t| !t.passed)
        .and_then(|t| t.hint.clone())
        .unwrap_or_else(|| "(no failing test)".to_owned());
    let comment = get(f2, |j| j.failure_comment.clone().unwrap_or_default());
    checks.push(check(
        &format!("{l2} comment has the failing test's hint"),
        &hint,
        &if comment.contains(&hint) {
            hint.clone()
        } else {
            comment
        },
    ));
    for (id, l) in [(&j1, &l1), (&j2, &l2), (&j4, &l4)] {
        checks.push(check(
            &format!("Anna's access grant for {l} after completion"),
            &"none",
            &match anna.access_grant(id)? {
                Some(_) => "still there",
                None => "none",
            },
        ));
    }
    checks.push(check(
        &format!("Anna's access grant for {l3} after the take-over"),
        &"none",
        &match anna.access_grant(&j3)? {
            Some(_) => "still there",
            None => "none",
        },
    ));
    for c in &checks {
        n.say(format!(
            "{} {}: {}",
            if c.ok { "✓" } else { "✗" },
            c.check,
            if c.ok {
                c.actual.clone()
            } else {
                format!("expected {}, got {}", c.expected, c.actual)
            }
        ));
    }

    drop(anna_link);
    cloud.shutdown().await;
    Ok(Outcome {
        cloud_url,
        jobs,
        conflicts: open,
        stats,
        checks,
    })
}

/// What the story saw happen, for the checks.
#[derive(Default)]
struct Facts {
    early_success_refused: bool,
    vin_mismatch_caught: bool,
    revocation_handed_over: bool,
    stale_grant_refused: bool,
    grant_renewed: bool,
    renewed_grant_opened: bool,
}

/// `vin` with one digit changed, as a typo (same length, still a VIN).
fn mistyped(vin: &str) -> String {
    let mut chars: Vec<char> = vin.chars().collect();
    if let Some(c) = chars.iter_mut().rev().find(|c| c.is_ascii_digit()) {
        *c = if *c == '7' { '1' } else { '7' };
    }
    chars.into_iter().collect()
}

fn rfc3339(ts: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp(ts, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| ts.to_string())
}

fn hex16(s: &str) -> Option<[u8; 16]> {
    let bytes = smartcontrol_core::ble::security::from_hex(s).ok()?;
    bytes.try_into().ok()
}
