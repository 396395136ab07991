//! Running `sim-device --bluez` as a child process (for end-to-end tests in
//! other crates): spawn, parse its ready lines (bus address, serials and
//! Bluetooth addresses), kill it by its pid on drop.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::BluezError;

/// Stdout line that starts the ready block: `sim-device bluez ready on <bus>`.
pub const READY_PREFIX: &str = "sim-device bluez ready on ";
/// Stdout line per device: `device <SERIAL> <ADDRESS>`.
pub const DEVICE_PREFIX: &str = "device ";
/// Stdout line that ends the ready block: `sim-device bluez serving <N> devices`.
pub const SERVING_PREFIX: &str = "sim-device bluez serving ";

/// A `sim-device --bluez` child process; killed (by its pid) when dropped.
#[derive(Debug)]
pub struct SimDeviceProcess {
    child: Child,
    bus_address: String,
    devices: BTreeMap<String, String>,
}

/// Where the `sim-device` binary is: `$SIM_DEVICE_BIN`, else next to (or one
/// directory above) the running executable, as cargo lays out
/// `target/<profile>/sim-device` and `target/<profile>/deps/<test>`.
pub fn locate_sim_device_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SIM_DEVICE_BIN") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let mut dir = exe.parent();
    for _ in 0..2 {
        let d = dir?;
        let candidate = d.join(format!("sim-device{}", std::env::consts::EXE_SUFFIX));
        if candidate.is_file() {
            return Some(candidate);
        }
        dir = d.parent();
    }
    None
}

impl SimDeviceProcess {
    /// Run `program --bluez --bus <bus_address> <args…>` (args e.g.
    /// `["--device", "CBX-1"]` or `["--scenario", "file.toml"]`) and wait (up
    /// to 20 s) for its ready block.
    pub fn spawn(
        program: impl AsRef<Path>,
        bus_address: &str,
        args: &[&str],
    ) -> Result<SimDeviceProcess, BluezError> {
        let program = program.as_ref();
        let mut child = Command::new(program)
            .arg("--bluez")
            .arg("--bus")
            .arg(bus_address)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| BluezError::Process(format!("cannot run {}: {e}", program.display())))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| BluezError::Process("no stdout".into()))?;
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            let mut line = String::new();
            while matches!(lines.read_line(&mut line), Ok(n) if n > 0) {
                if tx.send(line.trim().to_owned()).is_err() {
                    break;
                }
                line.clear();
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut bus = None;
        let mut devices = BTreeMap::new();
        let fail = |mut child: Child, why: String| {
            let _ = child.kill();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            let _ = child.wait();
            BluezError::Process(format!("{why}; stderr: {}", err.trim()))
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => {
                    return Err(fail(
                        child,
                        "no ready block within 20 s (or it exited)".into(),
                    ))
                }
            };
            if let Some(a) = line.strip_prefix(READY_PREFIX) {
                bus = Some(a.to_owned());
            } else if line.starts_with(SERVING_PREFIX) {
                break;
            } else if let Some(rest) = line.strip_prefix(DEVICE_PREFIX) {
                let mut parts = rest.split_whitespace();
                if let (Some(serial), Some(addr)) = (parts.next(), parts.next()) {
                    devices.insert(serial.to_owned(), addr.to_owned());
                }
            }
        }
        let Some(bus_address) = bus else {
            return Err(fail(child, "no ready line".into()));
        };
        Ok(SimDeviceProcess {
            child,
            bus_address,
            devices,
        })
    }

    /// The bus the process serves `org.bluez` on.
    pub fn bus_address(&self) -> &str {
        &self.bus_address
    }

    /// Served devices: serial → Bluetooth address.
    pub fn devices(&self) -> &BTreeMap<String, String> {
        &self.devices
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kill the process and wait for it.
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SimDeviceProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
