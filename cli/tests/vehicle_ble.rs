//! `smartcontrol vehicle run --device ble[:ADAPTER]` end to end: the built
//! binary talks through btleplug to a simulated BlueZ (`sim-device --bluez`)
//! on a private `dbus-daemon`, found through `DBUS_SYSTEM_BUS_ADDRESS` as a
//! laptop's CLI finds the real `bluetoothd`. Both processes are stopped by
//! their ids at the end.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;
use smartcontrol_sim_cloud::{seed_demo, SimCloud, SimCloudConfig, DEMO_PASSWORD};
use smartcontrol_sim_device::bluez::{locate_sim_device_binary, PrivateBus, SimDeviceProcess};

const BIN: &str = env!("CARGO_BIN_EXE_smartcontrol");

/// `sim-device` next to this test executable, built if missing.
fn sim_device_binary() -> PathBuf {
    if let Some(p) = locate_sim_device_binary() {
        return p;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "-p",
            "smartcontrol-sim-device",
            "--bin",
            "sim-device",
        ])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building sim-device failed: {status}");
    locate_sim_device_binary().expect("sim-device next to the test executable")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Cli {
    server: String,
    dir: tempfile::TempDir,
    bus: Option<String>,
}

impl Cli {
    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.arg("--server")
            .arg(&self.server)
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(args)
            .env_remove("SMARTCONTROL_SERVER")
            .env_remove("SMARTCONTROL_DATA_DIR")
            .env_remove("RUST_LOG");
        if let Some(bus) = &self.bus {
            cmd.env("DBUS_SYSTEM_BUS_ADDRESS", bus);
        }
        cmd.output().expect("the binary runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: stdout {} stderr {}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }
}

fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vehicle_run_reaches_a_cloudboxx_through_the_simulated_bluez() {
    let cloud = SimCloud::start(SimCloudConfig::default())
        .await
        .expect("sim-cloud starts");
    let seed = seed_demo(cloud.admin()).expect("demo data");
    let mut cli = Cli {
        server: cloud.base_url(),
        dir: tempfile::tempdir().expect("temp dir"),
        bus: None,
    };
    cli.ok(&[
        "login",
        "--email",
        &seed.anna_email,
        "--password",
        DEMO_PASSWORD,
    ]);
    cli.ok(&["sync"]);
    let page: Value =
        serde_json::from_str(&cli.ok(&["--json", "jobs", "available"])).expect("json");
    let job = page["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|j| j["id"].as_str())
        .find(|id| {
            let j = cloud.admin().job(id).expect("job").job;
            j.kind == smartcontrol_core::cloud_api::JobKind::Installation
                && j.vin.is_some()
                && j.cloudboxx_serial.is_some()
        })
        .expect("an installation job")
        .to_owned();
    cli.ok(&["claim", &job]);
    cli.ok(&["sync"]);

    // The job's CloudBoxx behind a simulated BlueZ on a private bus.
    let cloud_job = cloud.admin().job(&job).expect("job").job;
    let serial = cloud_job.cloudboxx_serial.expect("serial");
    let key = cloud
        .admin()
        .fleet_public_key_hex(&cloud_job.fleet_id)
        .expect("fleet key");
    let vin = cloud_job.vin.clone().expect("vin");
    let model = cloud_job.vehicle_model.clone().expect("model").id;
    let scenario = cli.dir.path().join("bluez.toml");
    std::fs::write(
        &scenario,
        format!(
            "[[device]]\nserial = \"{serial}\"\nfleet_public_key = \"{key}\"\n\
             timing = \"instant\"\n\n[device.vehicle]\nvin = \"{vin}\"\nmodel = \"{model}\"\n\n\
             [device.link]\nprofile = \"fast\"\n"
        ),
    )
    .expect("write scenario");
    let bus = PrivateBus::start().expect("dbus-daemon starts");
    let sim = SimDeviceProcess::spawn(
        sim_device_binary(),
        bus.address(),
        &["--scenario", scenario.to_str().expect("utf-8 path")],
    )
    .expect("sim-device --bluez starts");
    assert_eq!(sim.devices().keys().next(), Some(&serial));
    cli.bus = Some(bus.address().to_owned());

    // An adapter that does not exist is bad input, naming what exists.
    let out = cli.run(&["vehicle", "run", &job, "--device", "ble:hci7"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("hci0"), "{}", text(&out.stderr));

    let out = cli.run(&["--json", "vehicle", "run", &job, "--device", "ble:hci0"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("json report");
    assert_eq!(report["all_tests_passed"], true, "{report}");
    assert_eq!(report["device"]["serial"], serial.as_str(), "{report}");
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["step"].as_str())
        .collect();
    assert_eq!(steps.first(), Some(&"connect"), "{report}");
    assert_eq!(steps.last(), Some(&"attest"), "{report}");
    assert_eq!(report["required_work"]["done"], true, "{report}");

    // The text mode with the alias and the default adapter.
    let stdout = cli.ok(&["vehicle", "run", &job, "--device", "bluez"]);
    assert!(stdout.contains("via bluez"), "{stdout}");
    assert!(stdout.contains("✓ connect: MTU"), "{stdout}");
    assert!(stdout.contains("required work is done"), "{stdout}");

    let (bus_pid, sim_pid) = (bus.pid(), sim.pid());
    sim.stop();
    drop(bus);
    assert!(!process_alive(sim_pid) && !process_alive(bus_pid));

    // With the bus gone the CLI says there is no Bluetooth service (exit 1).
    let out = cli.run(&["vehicle", "run", &job, "--device", "ble"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no Bluetooth adapter"),
        "{}",
        text(&out.stderr)
    );
}
