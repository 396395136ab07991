//! `smartcontrol demo`: the whole offline-first scenario with zero setup.
//!
//! An in-process simulated cloud (temporary database, demo data), two
//! technicians' devices (two cores with their own temporary data
//! directories), and a cuttable network link in front of the cloud for
//! Anna's device. The story: Anna takes three jobs, loses the network and
//! keeps working; Ben takes over one of her jobs meanwhile; Anna comes back,
//! her outbox drains exactly once, and her offline work on the job Ben took
//! is refused by the cloud's rules and kept as a conflict. The end state is
//! verified; the exit code says whether it matched.

// The demo narrates on stdout (or prints its JSON summary there).
#![allow(clippy::print_stdout)]

mod link;

use std::fmt::Display;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use smartcontrol_core::ble::security::VerifyingKey;
use smartcontrol_core::cloud_api::JobStatus;
use smartcontrol_core::{
    Conflict, CoreConfig, CoreError, JobQuery, JobSummary, JobView, QueuedAction, RetryPolicy,
    SmartControl, SyncReport, WorkflowEvent, WorkflowOptions, WorkflowReport,
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

/// One of the three jobs of the story, as the provider sees it at the end.
#[derive(Serialize)]
struct FinalJob {
    /// succeeded | failed | taken_over
    role: &'static str,
    id: String,
    label: String,
    status: String,
    assignee: Option<String>,
    failure_comment: Option<String>,
    notes: Option<String>,
    vehicle_tests: usize,
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

/// The simulated CloudBoxx of a demo job: the job's serial, provisioned with
/// its fleet's public key; untimed link and instant vehicle (the demo stays fast).
fn cloudboxx(
    cloud: &SimCloud,
    seed: &DemoSeed,
    job_id: &str,
    mtu: usize,
) -> Result<SimDevice, Failure> {
    let bad = |what: String| Failure::operational("demo", what);
    let serial = seed
        .cloudboxx_serials
        .get(job_id)
        .ok_or_else(|| bad(format!("job {job_id} has no CloudBoxx serial")))?;
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
    config.timing = VehicleTiming::instant();
    config.link = LinkModel::ideal(mtu);
    Ok(SimDevice::new(config))
}

/// Anna runs the on-vehicle workflow of `job_id` (offline) and the demo
/// narrates it.
async fn at_vehicle(
    n: &mut Narrator,
    anna: &SmartControl,
    world: &SimWorld,
    job_id: &str,
) -> Result<WorkflowReport, Failure> {
    let options = WorkflowOptions {
        reconnect_delay: Duration::from_millis(20),
        ..WorkflowOptions::default()
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
        .map_err(at("the on-vehicle workflow"))?;
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
    let mut stats = Stats::default();

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
    n.step("Anna logs in, syncs and takes three jobs");
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
    // J1 requires vehicle tests (it will succeed), J2 and J3 do not.
    let j1 = available
        .jobs
        .iter()
        .find(|j| j.vehicle_tests_required)
        .or_else(|| available.jobs.first())
        .map(|j| j.id.clone());
    // J2 is an installation (its CloudBoxx gets configured, so its grant
    // must allow configuration), J3 any other job.
    let is_installation = |id: &str| {
        anna.job(id)
            .is_ok_and(|d| d.cloud.kind == smartcontrol_core::cloud_api::JobKind::Installation)
    };
    let mut rest: Vec<String> = available
        .jobs
        .iter()
        .filter(|j| !j.vehicle_tests_required && Some(&j.id) != j1.as_ref())
        .map(|j| j.id.clone())
        .collect();
    if let Some(i) = rest.iter().position(|id| is_installation(id)) {
        let j2 = rest.remove(i);
        rest.insert(0, j2);
    }
    rest.truncate(2);
    let (Some(j1), [j2, j3]) = (j1, rest.as_slice()) else {
        return Err(Failure::operational(
            "demo",
            "the demo data has fewer than three suitable available jobs",
        ));
    };
    let (j2, j3) = (j2.clone(), j3.clone());
    let (l1, l2, l3) = (label(&anna, &j1), label(&anna, &j2), label(&anna, &j3));
    for id in [&j1, &j2, &j3] {
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
    let (v1, v2, v3) = (
        version_after_claim(&j1)?,
        version_after_claim(&j2)?,
        version_after_claim(&j3)?,
    );

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
        Err(e @ CoreError::ActionRefused { .. }) => n.say(format!(
            "Refused locally, by the same rules as the cloud: {e}"
        )),
        Err(e) => return Err(at("the completion before the vehicle tests")(e)),
        Ok(_) => {
            return Err(Failure::operational(
                "demo",
                format!("{l1} requires vehicle tests, yet completing it before them was accepted"),
            ))
        }
    }
    n.say(format!(
        "At the vehicle of {l1}: a new CloudBoxx, reached over BLE (simulated in-process)"
    ));
    let world = SimWorld::new();
    let (dev1, dev2) = (
        cloudboxx(&cloud, &seed, &j1, J1_MTU)?,
        cloudboxx(&cloud, &seed, &j2, 185)?,
    );
    world.add(dev1.clone());
    world.add(dev2.clone());
    dev1.faults()
        .disconnect_after_frames(DISCONNECT_AFTER_FRAMES);
    let r1 = at_vehicle(n, &anna, &world, &j1).await?;
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
    let r2 = at_vehicle(n, &anna, &world, &j2).await?;
    n.say(crate::vehicle::next_step(&r2));
    let failure_comment = format!("{}; {FAILURE_NOTE}", crate::vehicle::failure_comment(&r2));
    let q = anna
        .complete_failed(&j2, &failure_comment)
        .map_err(at("Anna's offline failure report"))?;
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
    n.step("Ben logs in with two-factor authentication and takes over one of Anna's jobs");
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
    n.say(format!("✓ Synced: {}", report_text(&r)));
    n.say(format!(
        "Ben now holds {l3}; Anna's phone, still offline, does not know"
    ));

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
    n.step("The provider's view of the three jobs");
    let provider_job = |id: &str| cloud.admin().job(id).map_err(sim("the provider's view"));
    let mut jobs = Vec::new();
    let mut reports = vec![Some(r1.clone()), Some(r2.clone()), None].into_iter();
    for (role, id, l) in [
        ("succeeded", &j1, &l1),
        ("failed", &j2, &l2),
        ("taken_over", &j3, &l3),
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
            version: job.version,
            workflow_report: reports.next().flatten(),
        });
    }
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            let detail = match (&j.failure_comment, &j.notes) {
                (Some(c), _) => format!("comment: {c}"),
                (None, Some(notes)) => {
                    format!("{} vehicle test(s); notes: {notes}", j.vehicle_tests)
                }
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
    for j in &jobs {
        n.say(format!(
            "{}: {} by {}",
            j.label,
            j.status,
            j.assignee.as_deref().unwrap_or("nobody")
        ));
    }

    // ---- 6 ------------------------------------------------------------------
    n.step("Verify the end state");
    let mut check = checker();
    let mut checks = Vec::new();
    let find = |role: &str| jobs.iter().find(|j| j.role == role);
    let (f1, f2, f3) = (find("succeeded"), find("failed"), find("taken_over"));
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
        &JobStatus::Running,
        &get(f3, |j| j.status.clone()),
    ));
    checks.push(check(
        &format!("{l3} technician"),
        &"Ben Keller",
        &get(f3, |j| j.assignee.clone().unwrap_or_default()),
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
        &format!("{l3} version (claim + Ben's take-over; Anna's start refused)"),
        &(v3 + 1),
        &get(f3, |j| j.version.to_string()),
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
        &format!("Anna's device agrees on {l3}"),
        &"RUNNING Ben Keller",
        &local(&anna, &j3),
    ));
    checks.push(check(
        &format!("Ben's device agrees on {l3}"),
        &"RUNNING Ben Keller",
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
        &7,
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
    for (id, l) in [(&j1, &l1), (&j2, &l2)] {
        checks.push(check(
            &format!("Anna's access grant for {l} after completion"),
            &"none",
            &match anna.access_grant(id)? {
                Some(_) => "still there",
                None => "none",
            },
        ));
    }
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
