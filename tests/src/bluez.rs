//! The simulated-BlueZ rig of the end-to-end tests and the benchmark: a
//! private `dbus-daemon`, a `sim-device --bluez` process serving a scenario's
//! CloudBoxxes as `org.bluez` on it, and a [`BtleplugConnector`] of the code
//! under test pointed at that bus. Both processes are stopped by their ids
//! when the rig is dropped.
//!
//! btleplug reaches BlueZ through libdbus, which reads
//! `DBUS_SYSTEM_BUS_ADDRESS` once per process (the first time a system bus
//! connection is made) and keeps it. [`BluezRig::connector`] sets the
//! variable before that; a process can use one rig's bus only, so each test
//! that needs a rig is its own test binary (a second bus in the same process
//! is refused with an error saying so).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use smartcontrol_ble::btleplug::{BtleplugConfig, BtleplugConnector};
use smartcontrol_sim_device::bluez::{locate_sim_device_binary, PrivateBus, SimDeviceProcess};
use std::sync::OnceLock;

/// The bus address libdbus took for this process.
static PROCESS_BUS: OnceLock<String> = OnceLock::new();

/// A private bus with a simulated BlueZ in its own process.
pub struct BluezRig {
    // Field order = drop order: the simulator before its bus.
    sim: SimDeviceProcess,
    bus: PrivateBus,
    _dir: tempfile::TempDir,
}

impl BluezRig {
    /// Starts `dbus-daemon` and `sim-device --bluez --scenario` with this
    /// scenario text (docs/sim-device-scenarios.md).
    pub fn start(scenario: &str) -> anyhow::Result<BluezRig> {
        let program = sim_device_binary()?;
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("scenario.toml");
        std::fs::write(&path, scenario)?;
        let bus = PrivateBus::start().context("starting a private dbus-daemon")?;
        let path_text = path.to_str().context("scenario path is not UTF-8")?;
        let sim = SimDeviceProcess::spawn(&program, bus.address(), &["--scenario", path_text])
            .with_context(|| format!("starting {} --bluez", program.display()))?;
        Ok(BluezRig {
            sim,
            bus,
            _dir: dir,
        })
    }

    /// A btleplug connector of the code under test on this rig's bus.
    pub async fn connector(&self, config: BtleplugConfig) -> anyhow::Result<BtleplugConnector> {
        let first = PROCESS_BUS.get_or_init(|| {
            std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", self.bus.address());
            self.bus.address().to_owned()
        });
        if first != self.bus.address() {
            bail!(
                "this process already talks to the bus {first} (libdbus reads \
                 DBUS_SYSTEM_BUS_ADDRESS once per process): use one BluezRig per test binary"
            );
        }
        Ok(BtleplugConnector::new(config).await?)
    }

    /// The bus address.
    pub fn bus_address(&self) -> &str {
        self.bus.address()
    }

    /// Process ids: (dbus-daemon, sim-device).
    pub fn pids(&self) -> (u32, u32) {
        (self.bus.pid(), self.sim.pid())
    }

    /// Serials the simulator serves.
    pub fn serials(&self) -> Vec<String> {
        self.sim.devices().keys().cloned().collect()
    }
}

/// The `sim-device` binary next to the running test executable; built with
/// `$CARGO build -p smartcontrol-sim-device --bin sim-device` (plus
/// `--release` when the executable is a release build, e.g. a benchmark)
/// when missing.
pub fn sim_device_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = locate_sim_device_binary() {
        return Ok(p);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut args = vec![
        "build",
        "-p",
        "smartcontrol-sim-device",
        "--bin",
        "sim-device",
    ];
    // target/<profile>/deps/<test executable>
    let release = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(2).map(|d| d.ends_with("release")))
        .unwrap_or(false);
    if release {
        args.push("--release");
    }
    let status = Command::new(&cargo)
        .args(&args)
        .current_dir(workspace_root())
        .status()
        .context("running cargo to build sim-device")?;
    if !status.success() {
        bail!("cargo {} failed: {status}", args.join(" "));
    }
    locate_sim_device_binary()
        .context("sim-device was built but is not next to the test executable; set SIM_DEVICE_BIN")
}

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
}

/// Driver settings for tests: generous timeouts (a loaded CI machine), quick
/// retries.
pub fn test_driver_config() -> BtleplugConfig {
    BtleplugConfig {
        scan_timeout: std::time::Duration::from_secs(10),
        connect_timeout: std::time::Duration::from_secs(10),
        retry_delay: std::time::Duration::from_millis(100),
        ..BtleplugConfig::default()
    }
}

/// The CloudBoxx of a scenario and the vehicle it sits in.
#[derive(Debug, Clone, Copy)]
pub struct ScenarioUnit<'a> {
    pub serial: &'a str,
    /// The fleet's public key (64 hex digits).
    pub fleet_key_hex: &'a str,
    /// The VIN the vehicle reports.
    pub vin: &'a str,
    /// The model code the vehicle reports (empty: none).
    pub model: &'a str,
}

/// A scenario with one CloudBoxx provisioned with its fleet's key, in its
/// vehicle, with an instant vehicle, the link `profile` (fast | typical |
/// legacy | ideal) and, when given, a peripheral-side disconnect after that
/// many frames of the first connection.
pub fn scenario(
    unit: &ScenarioUnit<'_>,
    profile: &str,
    disconnect_after_frames: Option<u64>,
) -> String {
    let ScenarioUnit {
        serial,
        fleet_key_hex,
        vin,
        model,
    } = unit;
    let mut s = format!(
        "name = \"bluez e2e\"\n\n[[device]]\nserial = \"{serial}\"\n\
         fleet_public_key = \"{fleet_key_hex}\"\ntiming = \"instant\"\n\n\
         [device.vehicle]\nvin = \"{vin}\"\nmodel = \"{model}\"\n\n\
         [device.link]\nprofile = \"{profile}\"\n"
    );
    if let Some(n) = disconnect_after_frames {
        s.push_str(&format!(
            "\n[[device.event]]\nafter_frames = {n}\naction = \"disconnect\"\n"
        ));
    }
    s
}
