//! Runs the built `smartcontrol` binary against an in-process simulated
//! cloud started by each test.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use smartcontrol_sim_cloud::{seed_demo, DemoSeed, SimCloud, SimCloudConfig, DEMO_PASSWORD};

const BIN: &str = env!("CARGO_BIN_EXE_smartcontrol");

struct World {
    cloud: SimCloud,
    seed: DemoSeed,
    dir: tempfile::TempDir,
}

async fn world() -> World {
    let cloud = SimCloud::start(SimCloudConfig::default())
        .await
        .expect("sim-cloud starts");
    let seed = seed_demo(cloud.admin()).expect("demo data");
    World {
        cloud,
        seed,
        dir: tempfile::tempdir().expect("temp dir"),
    }
}

fn run_at(server: &str, data_dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--server")
        .arg(server)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("SMARTCONTROL_SERVER")
        .env_remove("SMARTCONTROL_DATA_DIR")
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs")
}

impl World {
    fn run(&self, args: &[&str]) -> Output {
        run_at(&self.cloud.base_url(), self.dir.path(), args)
    }

    /// Runs and expects exit code 0; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?} failed: stdout {} stderr {}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
    }

    fn login_anna_and_sync(&self) {
        self.ok(&[
            "login",
            "--email",
            &self.seed.anna_email,
            "--password",
            DEMO_PASSWORD,
        ]);
        self.ok(&["sync"]);
    }

    /// The first available job that names its VIN and CloudBoxx.
    fn first_available(&self) -> String {
        self.available_where(|j| j.vin.is_some() && j.cloudboxx_serial.is_some())
    }

    /// The first available installation that names its VIN and CloudBoxx.
    fn available_installation(&self) -> String {
        self.available_where(|j| {
            j.kind == smartcontrol_core::cloud_api::JobKind::Installation
                && j.vin.is_some()
                && j.cloudboxx_serial.is_some()
        })
    }

    fn available_where(&self, pred: impl Fn(&smartcontrol_core::cloud_api::Job) -> bool) -> String {
        let page = self.json(&["jobs", "available"]);
        page["jobs"]
            .as_array()
            .expect("jobs")
            .iter()
            .filter_map(|j| j["id"].as_str())
            .find(|id| pred(&self.cloud.admin().job(id).expect("job").job))
            .expect("a matching available job")
            .to_owned()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

fn sorted(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sync_and_jobs_json_field_names() {
    let w = world().await;
    let account = w.json(&[
        "login",
        "--email",
        &w.seed.anna_email,
        "--password",
        DEMO_PASSWORD,
    ]);
    assert_eq!(
        keys(&account),
        sorted(&[
            "technician_id",
            "name",
            "email",
            "company_id",
            "company_name"
        ])
    );
    let report = w.json(&["sync"]);
    assert_eq!(
        keys(&report),
        sorted(&[
            "applied",
            "rejected",
            "jobs_received",
            "jobs_removed",
            "requests",
            "pending_actions"
        ])
    );
    assert_eq!(report["jobs_received"], w.seed.autotech_job_ids.len());

    let page = w.json(&["jobs", "available", "--limit", "5"]);
    assert_eq!(keys(&page), sorted(&["jobs", "total"]));
    assert_eq!(page["total"], w.seed.autotech_job_ids.len());
    assert_eq!(page["jobs"].as_array().map(Vec::len), Some(5));
    assert_eq!(
        keys(&page["jobs"][0]),
        sorted(&[
            "id",
            "kind",
            "status",
            "license_plate",
            "vin",
            "custom_name",
            "vehicle_model",
            "provider_id",
            "provider_name",
            "fleet_id",
            "fleet_name",
            "planned_service_date",
            "assignee_id",
            "assignee_name",
            "vehicle_tests_required",
            "pending_actions"
        ])
    );
    let id = page["jobs"][0]["id"].as_str().expect("id").to_owned();

    let detail = w.json(&["job", "show", &id]);
    assert_eq!(
        keys(&detail),
        sorted(&[
            "summary",
            "cloud",
            "effective",
            "site_data",
            "open_fields",
            "required_work",
            "installation_started",
            "failure_comment",
            "pending",
            "vehicle_tests",
            "available_actions"
        ])
    );
    assert_eq!(
        keys(&detail["required_work"]),
        sorted(&["items", "done", "blocker"])
    );
    assert_eq!(detail["cloud"]["id"], id.as_str());
    // An available job: the rules offer only the claim.
    assert_eq!(detail["available_actions"], serde_json::json!(["claim"]));
    // The text form shows the full id and every field of the cloud job.
    let shown = w.ok(&["job", "show", &id[..8]]);
    assert!(shown.contains(&id), "{shown}");
    assert!(shown.contains("you can:               claim\n"), "{shown}");
    for field in keys(&detail["cloud"]) {
        assert!(shown.contains(&field), "job show lacks {field}: {shown}");
    }

    let status = w.json(&["status"]);
    assert_eq!(
        keys(&status),
        sorted(&[
            "account",
            "logged_in",
            "pending_actions",
            "open_conflicts",
            "state",
            "last_sync_at",
            "last_attempt_at",
            "last_error"
        ])
    );
    assert_eq!(status["state"], "online");
    assert_eq!(status["account"]["email"], w.seed.anna_email.as_str());

    let table = w.ok(&["jobs"]);
    assert!(table.contains(&id), "{table}");
    assert!(
        table.contains(&format!("of {}", w.seed.autotech_job_ids.len())),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_claim_is_queued_and_counted_then_synced() {
    let w = world().await;
    w.login_anna_and_sync();
    let id = w.first_available();

    let out = w.ok(&["claim", &id, "--offline"]);
    assert!(out.contains("Queued: claim of"), "{out}");
    assert!(out.contains("1 action(s) waiting for sync"), "{out}");
    assert!(out.contains(&id), "{out}");

    let status = w.json(&["status"]);
    assert_eq!(status["pending_actions"], 1);
    let mine = w.ok(&["jobs", "mine"]);
    assert!(mine.contains("waiting for sync"), "{mine}");
    let page = w.json(&["jobs", "mine"]);
    assert_eq!(page["jobs"][0]["pending_actions"], 1);
    assert_eq!(page["jobs"][0]["status"], "RUNNING");

    // The next action in JSON mode, still offline.
    let doc = w.json(&["--offline", "start", &id]);
    assert_eq!(keys(&doc), sorted(&["queued", "sync", "job_status"]));
    assert_eq!(
        keys(&doc["queued"]),
        sorted(&[
            "idempotency_key",
            "job_id",
            "action",
            "status",
            "pending_actions"
        ])
    );
    assert_eq!(doc["queued"]["action"], "START_INSTALLATION");
    assert_eq!(doc["queued"]["pending_actions"], 2);
    assert_eq!(doc["sync"]["outcome"], "skipped");

    let report = w.json(&["sync"]);
    assert_eq!(report["applied"], 2);
    assert_eq!(report["pending_actions"], 0);
    let job = w.cloud.admin().job(&id).expect("job on the cloud");
    assert_eq!(job.job.status.as_str(), "RUNNING");
    assert!(job.job.installation_started_at.is_some());

    // Online action: queued and synced in one command.
    let out = w.ok(&[
        "complete",
        &id,
        "--failed",
        "--comment",
        "door sensor stuck",
    ]);
    assert!(out.contains("Synced:"), "{out}");
    let job = w.cloud.admin().job(&id).expect("job on the cloud");
    assert_eq!(job.job.status.as_str(), "FAILED");
    assert_eq!(
        job.job.failure_comment.as_deref(),
        Some("door sensor stuck")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_exits_2_with_a_clear_message() {
    let w = world().await;
    w.login_anna_and_sync();
    let id = w.first_available();

    let out = w.run(&["claim", "00000000-no-such-job"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is not on this device"),
        "{}",
        text(&out.stderr)
    );

    let out = w.run(&["--json", "job", "show", "00000000-no-such-job"]);
    assert_eq!(out.status.code(), Some(2));
    let err: Value = serde_json::from_slice(&out.stdout).expect("JSON error on stdout");
    assert_eq!(err["error"]["kind"], "job_not_found");
    assert!(err["error"]["message"].as_str().is_some());

    let out = w.run(&["complete", &id, "--failed"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--comment"),
        "{}",
        text(&out.stderr)
    );

    let out = w.run(&["--json", "complete", &id, "--failed"]);
    assert_eq!(out.status.code(), Some(2));
    let err: Value = serde_json::from_slice(&out.stdout).expect("JSON error on stdout");
    assert_eq!(err["error"]["kind"], "usage");
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("--comment")),
        "{err}"
    );

    let out = w.run(&["complete", &id, "--succeeded", "--failed", "--comment", "x"]);
    assert_eq!(out.status.code(), Some(2));

    let out = w.run(&["--offline", "complete", &id, "--succeeded"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("claim it first"), "{stderr}");

    let out = w.run(&["--json", "--offline", "start", &id]);
    assert_eq!(out.status.code(), Some(2));
    let err: Value = serde_json::from_slice(&out.stdout).expect("JSON error on stdout");
    assert_eq!(err["error"]["kind"], "action_refused");

    let out = w.run(&["conflicts", "dismiss", "99"]);
    assert_eq!(out.status.code(), Some(2));

    // Nothing was queued by the refused commands.
    assert_eq!(w.json(&["status"])["pending_actions"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_logged_in_exits_3() {
    let w = world().await;
    // Status works without a login and says so.
    let status = w.json(&["status"]);
    assert_eq!(status["logged_in"], false);
    assert_eq!(status["state"], "never");
    for args in [
        &["jobs"][..],
        &["sync"][..],
        &["claim", "some-job"][..],
        &["conflicts"][..],
    ] {
        let out = w.run(args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert!(
            text(&out.stderr).contains("not logged in"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let out = w.run(&["--json", "jobs"]);
    assert_eq!(out.status.code(), Some(3));
    let err: Value = serde_json::from_slice(&out.stdout).expect("JSON error on stdout");
    assert_eq!(err["error"]["kind"], "not_logged_in");

    // Wrong password, and a TOTP account without a code.
    let out = w.run(&[
        "login",
        "--email",
        &w.seed.anna_email,
        "--password",
        "wrong",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let out = w.run(&[
        "login",
        "--email",
        &w.seed.ben_email,
        "--password",
        DEMO_PASSWORD,
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("--totp"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_login_and_password_on_stdin() {
    let w = world().await;
    let code = smartcontrol_sim_cloud::current_totp_code(&w.seed.totp_secret).expect("code");
    let mut child = Command::new(BIN)
        .arg("--server")
        .arg(w.cloud.base_url())
        .arg("--data-dir")
        .arg(w.dir.path())
        .args(["login", "--email", &w.seed.ben_email, "--totp", &code])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{DEMO_PASSWORD}").expect("write password");
    }
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Ben Keller"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_cloud_exits_1_and_keeps_the_queue() {
    let w = world().await;
    w.login_anna_and_sync();
    let id = w.first_available();
    // A port nobody listens on.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    let out = run_at(&dead, w.dir.path(), &["claim", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Queued: claim of"), "{stdout}");
    assert!(
        stdout.contains("Offline: the action stays queued and will sync later"),
        "{stdout}"
    );

    let out = run_at(&dead, w.dir.path(), &["sync"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("offline"), "{stderr}");
    assert!(stderr.contains("1 waiting for sync"), "{stderr}");

    let out = run_at(&dead, w.dir.path(), &["--json", "sync"]);
    assert_eq!(out.status.code(), Some(1));
    let err: Value = serde_json::from_slice(&out.stdout).expect("JSON error on stdout");
    assert_eq!(err["error"]["kind"], "offline");

    let status = w.json(&["status"]);
    assert_eq!(status["pending_actions"], 1);
    assert_eq!(status["state"], "offline");

    // Logging out would lose the queued claim.
    let out = w.run(&["logout"]);
    assert_eq!(out.status.code(), Some(2));

    // Back online: it drains.
    let report = w.json(&["sync"]);
    assert_eq!(report["applied"], 1);
    w.ok(&["logout"]);
    assert_eq!(w.json(&["status"])["logged_in"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn take_over_conflict_is_listed_and_dismissed() {
    let w = world().await;
    w.login_anna_and_sync();
    let id = w.first_available();
    w.ok(&["claim", &id]);
    w.ok(&["--offline", "start", &id]);

    // Ben takes the job over from his own device meanwhile.
    let ben_dir = tempfile::tempdir().expect("temp dir");
    let code = smartcontrol_sim_cloud::current_totp_code(&w.seed.totp_secret).expect("code");
    let url = w.cloud.base_url();
    let ben = |args: &[&str]| run_at(&url, ben_dir.path(), args);
    let out = ben(&[
        "login",
        "--email",
        &w.seed.ben_email,
        "--password",
        DEMO_PASSWORD,
        "--totp",
        &code,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(ben(&["sync"]).status.code(), Some(0));
    let out = ben(&["take-over", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Synced:"));

    let report = w.json(&["sync"]);
    assert_eq!(report["rejected"], 1);
    let conflicts = w.json(&["conflicts"]);
    let list = conflicts.as_array().expect("a list");
    assert_eq!(list.len(), 1);
    assert_eq!(
        keys(&list[0]),
        sorted(&[
            "id",
            "idempotency_key",
            "job_id",
            "job_label",
            "action",
            "vehicle_tests",
            "reason",
            "message",
            "server_job",
            "created_at"
        ])
    );
    assert_eq!(list[0]["reason"], "TAKEN_OVER");
    assert_eq!(list[0]["action"]["type"], "START_INSTALLATION");
    let cid = list[0]["id"].to_string();

    // Re-submitting is refused by the rules: the job is Ben's now.
    let out = w.run(&["conflicts", "resubmit", &cid]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let text_list = w.ok(&["conflicts"]);
    assert!(text_list.contains("TAKEN_OVER"), "{text_list}");
    w.ok(&["conflicts", "dismiss", &cid]);
    assert_eq!(w.json(&["conflicts"]), serde_json::json!([]));

    // An online action the cloud rejects in the sync right after it: exit 2.
    let other = w.first_available();
    w.ok(&["claim", &other]);
    assert_eq!(ben(&["sync"]).status.code(), Some(0));
    assert_eq!(ben(&["take-over", &other]).status.code(), Some(0));
    let out = w.run(&["start", &other]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Queued: installation start"), "{stdout}");
    assert!(
        stdout.contains("Rejected by the cloud (TAKEN_OVER)"),
        "{stdout}"
    );
    let conflicts = w.json(&["conflicts"]);
    assert_eq!(conflicts.as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_json_exits_0_with_verification_ok() {
    let out = Command::new(BIN)
        .args(["demo", "--json"])
        .env_remove("RUST_LOG")
        .output()
        .expect("the demo runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout {} stderr {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    assert_eq!(summary["ok"], true);
    assert_eq!(summary["verification"]["ok"], true);
    assert_eq!(summary["steps"].as_array().map(Vec::len), Some(7));
    assert_eq!(summary["conflicts"].as_array().map(Vec::len), Some(1));
    assert_eq!(summary["conflicts"][0]["reason"], "TAKEN_OVER");
    let statuses: Vec<&str> = summary["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|j| j["status"].as_str())
        .collect();
    assert_eq!(statuses, ["SUCCEEDED", "FAILED", "SUCCEEDED", "SUCCEEDED"]);
    let roles: Vec<&str> = summary["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|j| j["role"].as_str())
        .collect();
    assert_eq!(
        roles,
        ["succeeded", "failed", "taken_over", "entered_on_site"]
    );
    let j1 = &summary["jobs"][0]["workflow_report"];
    assert_eq!(j1["all_tests_passed"], true, "{j1}");
    assert_eq!(j1["required_work"]["done"], true, "{j1}");
    assert_eq!(j1["reconnects"], 1);
    assert_eq!(j1["tests"].as_array().map(Vec::len), Some(10));
    assert_eq!(j1["steps"].as_array().map(Vec::len), Some(9));
    assert_eq!(summary["jobs"][0]["attested"], true);
    let j2 = &summary["jobs"][1]["workflow_report"];
    assert_eq!(j2["all_tests_passed"], false, "{j2}");
    let hint = j2["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .find(|t| t["passed"] == false)
        .and_then(|t| t["hint"].as_str())
        .expect("a failing test with a hint");
    let comment = summary["jobs"][1]["failure_comment"]
        .as_str()
        .expect("a comment");
    assert!(comment.contains(hint), "{comment} / {hint}");
    // Ben finished J3 after two clock jumps on a renewed grant.
    assert_eq!(summary["jobs"][2]["assignee"], "Ben Keller");
    let checks = summary["verification"]["checks"]
        .as_array()
        .expect("checks");
    for needle in [
        "SUCCEEDED refused before the on-vehicle work",
        "mistyped VIN stopped the run before binding",
        "unit refused Anna's revoked grant",
        "renewed grant opened the unit",
        "vehicle records linked",
    ] {
        assert!(
            checks
                .iter()
                .any(|c| c["check"].as_str().is_some_and(|t| t.contains(needle))
                    && c["ok"] == true),
            "no passing check {needle:?}"
        );
    }
}

#[test]
fn demo_text_narrates_all_steps() {
    let out = Command::new(BIN)
        .arg("demo")
        .env_remove("RUST_LOG")
        .output()
        .expect("the demo runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for needle in [
        "Step 1",
        "Step 7",
        "Stopped before binding: ",
        "She scans the VIN barcode",
        "revocation list",
        "refused access (Revoked",
        "The sync renewed it",
        "Vehicles with an installed CloudBoxx",
        "waiting for sync",
        "TAKEN_OVER",
        "link lost at",
        "resumed at",
        "✓ vehicle_tests: 10 passed, 0 failed",
        "doors_closed failed: a door is open",
        "Demo passed",
    ] {
        assert!(stdout.contains(needle), "missing {needle}: {stdout}");
    }
    // No spinner or escape codes when stdout/stderr are not terminals.
    assert!(!stdout.contains('\u{1b}'), "{stdout}");
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
}

/// A sim-device server on loopback with the CloudBoxx of `job_id`,
/// provisioned with its fleet's public key, in the job's vehicle (untimed
/// link, instant vehicle).
async fn cloudboxx_server(
    cloud: &SimCloud,
    seed: &DemoSeed,
    job_id: &str,
) -> (
    smartcontrol_sim_device::SocketServer,
    smartcontrol_sim_device::SimDevice,
) {
    use smartcontrol_core::ble::security::VerifyingKey;
    use smartcontrol_sim_device::{
        LinkModel, SimDevice, SimDeviceConfig, SimWorld, SocketServer, VehicleTiming,
    };
    let job = cloud.admin().job(job_id).expect("job").job;
    let serial = job.cloudboxx_serial.clone().expect("a CloudBoxx serial");
    let key = cloud
        .admin()
        .fleet_public_key(&job.fleet_id)
        .expect("fleet key");
    let mut config = SimDeviceConfig::new(
        &serial,
        VerifyingKey::from_bytes(&key).expect("a valid key"),
    );
    let (vin, model) = seed.vehicles[job_id].clone();
    config.vehicle.vin = vin;
    config.vehicle.model = model;
    config.timing = VehicleTiming::instant();
    config.link = LinkModel::ideal(185);
    let device = SimDevice::new(config);
    let world = SimWorld::new();
    world.add(device.clone());
    let server = SocketServer::bind("127.0.0.1:0", world)
        .await
        .expect("sim-device listens");
    (server, device)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vehicle_run_against_a_socket_served_cloudboxx_then_complete() {
    let w = world().await;
    w.login_anna_and_sync();
    let job = w.available_installation();
    w.ok(&["claim", &job]);
    w.ok(&["sync"]);
    // Right after the claim, SUCCEEDED is refused and says what is missing.
    let out = w.run(&["complete", &job, "--succeeded"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains("no on-vehicle run"), "{err}");
    let (server, device) = cloudboxx_server(&w.cloud, &w.seed, &job).await;
    let addr = format!("tcp://{}", server.local_addr());

    // Without the job's grant nothing happens: an unknown test name is bad input.
    let out = w.run(&["vehicle", "run", &job, "--device", &addr, "--tests", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = w.run(&["vehicle", "run", &job, "--device", "ble://x"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    let report = w.json(&["vehicle", "run", &job, "--device", &addr]);
    assert_eq!(
        keys(&report),
        sorted(&[
            "job_id",
            "device",
            "steps",
            "tests",
            "all_tests_passed",
            "reconnects",
            "required_work",
            "attestation_counter"
        ])
    );
    assert_eq!(report["required_work"]["done"], true, "{report}");
    assert_eq!(report["job_id"], job.as_str());
    assert_eq!(report["all_tests_passed"], true, "{report}");
    assert_eq!(report["tests"].as_array().map(Vec::len), Some(10));
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["step"].as_str())
        .collect();
    assert_eq!(
        steps,
        [
            "connect",
            "authenticate",
            "identify",
            "check_vehicle",
            "bind_vehicle",
            "configure",
            "verify",
            "vehicle_tests",
            "attest"
        ]
    );
    assert!(report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .all(|s| s["ok"] == true));
    let active = device.active_config().await.expect("a configuration");
    assert_eq!(report["device"]["config_id"], active.config_id.as_str());

    // Text mode: step lines, the test table and what to do next. A run of
    // two tests is the latest run now, and two passing tests are not the
    // job's required ten.
    let stdout = w.ok(&[
        "vehicle",
        "run",
        &job,
        "--device",
        &addr,
        "--tests",
        "doors_closed,mileage",
    ]);
    for needle in [
        "✓ connect",
        "✓ configure: already active",
        "doors_closed",
        "PASS",
        "Required work:",
        "✗ test central_lock_lock: not run in the latest run",
        "Required work is still missing",
    ] {
        assert!(stdout.contains(needle), "missing {needle}: {stdout}");
    }
    let out = w.run(&["complete", &job, "--succeeded"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("test central_lock_lock: not run in the latest run"),
        "{err}"
    );
    let stdout = w.ok(&["vehicle", "run", &job, "--device", &addr]);
    assert!(
        stdout.contains("The job's required work is done (signed by the CloudBoxx)"),
        "{stdout}"
    );

    w.ok(&["complete", &job, "--succeeded"]);
    let provider = w.cloud.admin().job(&job).expect("job");
    assert_eq!(
        provider.job.status,
        smartcontrol_core::cloud_api::JobStatus::Succeeded
    );
    let r = provider.report.expect("a report");
    assert_eq!(r.steps.len(), 9);
    assert!(r.device.is_some());
    assert!(r.attestation.is_some());
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vehicle_run_reports_a_failing_test_with_its_hint() {
    let w = world().await;
    w.login_anna_and_sync();
    let job = w.first_available();
    w.ok(&["claim", &job]);
    w.ok(&["sync"]);
    let (server, device) = cloudboxx_server(&w.cloud, &w.seed, &job).await;
    device.faults().set_vehicle_fault(
        smartcontrol_sim_device::VehicleFault::DoorStuckOpen(smartcontrol_sim_device::Door::Trunk),
        true,
    );
    let addr = format!("tcp://{}", server.local_addr());
    let stdout = w.ok(&["vehicle", "run", &job, "--device", &addr]);
    for needle in ["FAIL", "doors_closed", "test(s) failed", "a door is open"] {
        assert!(stdout.contains(needle), "missing {needle}: {stdout}");
    }
    // Someone else's job: no vehicle access (exit 2).
    let other = &w.seed.other_job_ids[0];
    let out = w.run(&["--json", "vehicle", "run", other, "--device", &addr]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    server.shutdown();
}

/// `--device sim:SCENARIO.toml`: the scenario's CloudBoxxes run in-process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vehicle_run_against_an_in_process_scenario_device() {
    let w = world().await;
    w.login_anna_and_sync();
    let job = w.available_installation();
    w.ok(&["claim", &job]);
    w.ok(&["sync"]);
    let cloud_job = w.cloud.admin().job(&job).expect("job").job;
    let (vin, model) = w.seed.vehicles[&job].clone();
    let key = w
        .cloud
        .admin()
        .fleet_public_key_hex(&cloud_job.fleet_id)
        .expect("fleet key");
    let dir = tempfile::tempdir().expect("dir");
    let scenario = dir.path().join("garage.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"cli test\"\n\n[[device]]\nserial = \"{}\"\nfleet_public_key = \"{key}\"\ntiming = \"instant\"\n\n[device.vehicle]\nvin = \"{vin}\"\nmodel = \"{model}\"\n\n[device.link]\nprofile = \"ideal\"\n\n[[device.event]]\non_test = \"doors_closed\"\naction = \"door_stuck_open\"\ndoor = \"front_left\"\n",
            cloud_job.cloudboxx_serial.expect("serial")
        ),
    )
    .expect("write scenario");
    let device = format!("sim:{}", scenario.display());
    let out = w.run(&["vehicle", "run", &job, "--device", &device, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["all_tests_passed"], false, "{report}");
    let failed: Vec<&str> = report["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .filter(|t| t["passed"] == false)
        .filter_map(|t| t["test"].as_str())
        .collect();
    assert!(failed.contains(&"doors_closed"), "{failed:?}");
    let out = w.run(&["vehicle", "run", &job, "--device", "sim:/no/such/file.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

/// `job enter`: typed and scanned values, checked before they are queued,
/// only where the provider left the specification open; the provider sees
/// them after the sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_enter_fills_in_what_the_provider_left_open() {
    let w = world().await;
    w.login_anna_and_sync();
    let open = w.available_where(|j| j.vin.is_none() && j.cloudboxx_serial.is_some());
    let specified = w.first_available();
    w.ok(&["claim", &open]);
    w.ok(&["claim", &specified]);
    w.ok(&["sync"]);
    let (vin, _) = w.seed.vehicles[&open].clone();
    let bad = |args: &[&str], needle: &str| {
        let out = w.run(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stdout)
        );
        let err = text(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    };
    bad(
        &["job", "enter", &open, "--vin", "WVWZZZ1JZXW00000O"],
        "VINs never contain the letter O",
    );
    bad(
        &["job", "enter", &open, "--vin", "1M8GDM9A1KP042788"],
        "check digit",
    );
    bad(
        &["job", "enter", &open, "--model", "Golf"],
        "is not in the catalogue",
    );
    bad(
        &["job", "enter", &specified, "--vin", &vin],
        "the provider specified vin",
    );
    bad(
        &[
            "job",
            "enter",
            &open,
            "--scan-label",
            "CBX1/CBX-1/CBX-2/0000",
        ],
        "check code",
    );
    bad(&["job", "enter", &open], "nothing to enter");
    let out = w.run(&["job", "enter", &open, "--vin", &vin, "--scan-vin", &vin]);
    assert_eq!(out.status.code(), Some(2), "clap refuses both sources");
    // Offline: the entry is queued like any other action.
    let queued = w.json(&[
        "--offline",
        "job",
        "enter",
        &open,
        "--scan-vin",
        &format!("I{vin}\r\n"),
        "--plate",
        "b-at   4711",
        "--master",
        "parking_level=-2",
    ]);
    assert_eq!(queued["queued"]["action"], "ENTER_SITE_DATA");
    assert_eq!(queued["sync"]["outcome"], "skipped");
    let detail = w.json(&["job", "show", &open]);
    assert_eq!(detail["effective"]["vin"], vin.as_str());
    assert_eq!(detail["effective"]["license_plate"], "B-AT 4711");
    assert_eq!(detail["site_data"]["scanned"], serde_json::json!(["vin"]));
    let shown = w.ok(&["job", "show", &open]);
    assert!(shown.contains("vin*"), "{shown}");
    let found = w.json(&["jobs", "--search", "at 4711"]);
    assert_eq!(found["total"], 1, "searchable at once, offline");
    w.ok(&["sync"]);
    let cloud = w.cloud.admin().job(&open).expect("job").job;
    assert_eq!(cloud.site_data.vin.as_deref(), Some(vin.as_str()));
    assert_eq!(cloud.site_data.license_plate.as_deref(), Some("B-AT 4711"));
    assert_eq!(cloud.site_data.master_data["parking_level"], -2);
    assert!(
        cloud.vin.is_none(),
        "the provider's specification stays empty"
    );
}

/// Search matches the vehicle model, by name and by catalogue id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_jobs_by_vehicle_model() {
    let w = world().await;
    w.login_anna_and_sync();
    let golf = w.json(&["jobs", "--search", "Golf"]);
    let total = golf["total"].as_u64().expect("total");
    assert!(total > 0, "{golf}");
    for j in golf["jobs"].as_array().expect("jobs") {
        assert_eq!(j["vehicle_model"], "Volkswagen Golf 8", "{j}");
    }
    assert_eq!(w.json(&["jobs", "--search", "vw-golf8"])["total"], total);
}

/// Output piped into a reader that stops early (`| head -2`) ends the
/// command quietly, as any Unix tool, for every command that prints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_commands_quietly() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let w = world().await;
    w.login_anna_and_sync();
    let job = w.available_installation();
    w.ok(&["claim", &job]);
    w.ok(&["sync"]);
    let (server, _device) = cloudboxx_server(&w.cloud, &w.seed, &job).await;
    let addr = format!("tcp://{}", server.local_addr());
    for args in [
        vec!["vehicle", "run", job.as_str(), "--device", addr.as_str()],
        vec!["jobs"],
        vec!["job", "show", job.as_str()],
    ] {
        let mut child = Command::new(BIN)
            .arg("--server")
            .arg(w.cloud.base_url())
            .arg("--data-dir")
            .arg(w.dir.path())
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawns");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        for _ in 0..2 {
            lines.next().expect("a line").expect("text");
        }
        drop(lines);
        let out = child.wait_with_output().expect("exits");
        let err = text(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(
            out.status.success() || out.status.signal() == Some(13),
            "{args:?}: {:?} {err}",
            out.status
        );
        assert_ne!(out.status.code(), Some(101), "{args:?}");
    }
    server.shutdown();
}

/// A scenario file with the CloudBoxx of `job` (instant vehicle, ideal
/// link) and `events` appended; returns the `--device` argument.
fn scenario_for_job(w: &World, job: &str, dir: &Path, events: &str) -> String {
    let cloud_job = w.cloud.admin().job(job).expect("job").job;
    let (vin, model) = w.seed.vehicles[job].clone();
    let key = w
        .cloud
        .admin()
        .fleet_public_key_hex(&cloud_job.fleet_id)
        .expect("fleet key");
    let scenario = dir.join("unit.toml");
    std::fs::write(
        &scenario,
        format!(
            "[[device]]\nserial = \"{}\"\nfleet_public_key = \"{key}\"\ntiming = \"instant\"\n\n[device.vehicle]\nvin = \"{vin}\"\nmodel = \"{model}\"\n\n[device.link]\nprofile = \"ideal\"\n\n{events}",
            cloud_job.cloudboxx_serial.expect("serial")
        ),
    )
    .expect("write scenario");
    format!("sim:{}", scenario.display())
}

/// Issue 11: a `times = 1` fault of a scenario fires once across runs, and
/// `--reset-device-state` arms it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_unit_state_spends_a_one_time_fault_across_runs() {
    let w = world().await;
    w.login_anna_and_sync();
    let job = w.available_installation();
    w.ok(&["claim", &job]);
    w.ok(&["sync"]);
    let dir = tempfile::tempdir().expect("dir");
    let device = scenario_for_job(
        &w,
        &job,
        dir.path(),
        "[[device.event]]\non_operation = \"vehicle_test\"\naction = \"error\"\ncode = \"vehicle_fault\"\ntimes = 1\n",
    );
    let run = |extra: &[&str]| {
        let mut args = vec!["--json", "vehicle", "run", &job, "--device", &device];
        args.extend_from_slice(extra);
        let out = w.run(&args);
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out.stdout)));
        (out.status.code(), report)
    };
    let faulted = |(code, report): &(Option<i32>, Value)| {
        *code != Some(0) || report["all_tests_passed"] != true
    };
    let first = run(&[]);
    assert!(
        faulted(&first),
        "the fault fires in the first run: {first:?}"
    );
    let second = run(&[]);
    assert_eq!(second.0, Some(0), "{second:?}");
    assert_eq!(
        second.1["all_tests_passed"], true,
        "spent in the first run: {second:?}"
    );
    let reset = run(&["--reset-device-state"]);
    assert!(faulted(&reset), "armed again after a reset: {reset:?}");
    let after = run(&[]);
    assert_eq!(after.1["all_tests_passed"], true, "spent again: {after:?}");

    // A corrupt state file names itself and the flag.
    let states: Vec<_> = std::fs::read_dir(w.dir.path().join("sim-units"))
        .expect("state dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    assert_eq!(states.len(), 1, "{states:?}");
    std::fs::write(&states[0], "{ not json").expect("corrupt");
    let out = w.run(&["vehicle", "run", &job, "--device", &device]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains(&states[0].display().to_string()), "{err}");
    assert!(err.contains("--reset-device-state"), "{err}");
    let out = w.run(&[
        "vehicle",
        "run",
        &job,
        "--device",
        &device,
        "--reset-device-state",
    ]);
    assert!(
        !text(&out.stderr).contains("unusable"),
        "{}",
        text(&out.stderr)
    );
    assert!(!text(&out.stdout).is_empty(), "the run went ahead");
}

/// Issue 11: a configuration transfer cut off (no reconnects) resumes in
/// the next run at the bytes the unit had staged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_unit_state_resumes_an_interrupted_configuration_in_the_next_run() {
    let w = world().await;
    w.login_anna_and_sync();
    let job = w.available_installation();
    w.ok(&["claim", &job]);
    w.ok(&["sync"]);
    let dir = tempfile::tempdir().expect("dir");
    let device = scenario_for_job(
        &w,
        &job,
        dir.path(),
        "[[device.event]]\nafter_frames = 45\naction = \"disconnect\"\n",
    );
    let out = w.run(&[
        "vehicle",
        "run",
        &job,
        "--device",
        &device,
        "--reconnects",
        "0",
    ]);
    let first = text(&out.stdout);
    assert_ne!(out.status.code(), Some(0), "the link drops: {first}");
    assert!(
        first.contains("configuration"),
        "cut during the transfer: {first}"
    );
    let out = w.run(&[
        "vehicle",
        "run",
        &job,
        "--device",
        &device,
        "--reconnects",
        "0",
    ]);
    let second = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{second} {}", text(&out.stderr));
    assert!(
        second.contains("configuration resumed at"),
        "first run: {first}\nsecond run: {second}"
    );
    assert!(second.contains("✓ configure"), "{second}");
}
