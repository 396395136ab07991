//! Running `sim-device --bluez` as a child process (for end-to-end tests in
//! other crates): spawn, parse its ready lines (bus address, serials and
//! Bluetooth addresses), kill it by its pid on drop.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::BluezError;

/// Stdout line that starts the ready block: `sim-device bluez ready on <bus>`.
pub const READY_PREFIX: &str = "sim-device bluez ready on ";
/// Stdout line per device: `device <SERIAL> <ADDRESS>`.
pub const DEVICE_PREFIX: &str = "device ";
/// Stdout line that ends the ready block: `sim-device bluez serving <N> devices`.
pub const SERVING_PREFIX: &str = "sim-device bluez serving ";

/// Read `r` to its end on a thread, keeping the first 16 KiB (so a child
/// never blocks on a full pipe); the text read so far.
pub(crate) fn drain(mut r: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let kept = Arc::new(Mutex::new(String::new()));
    let out = kept.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            let mut k = out.lock().unwrap_or_else(|p| p.into_inner());
            if k.len() < 16 * 1024 {
                k.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
    });
    kept
}

/// What a drained stream holds, once the process had a moment to write it.
pub(crate) fn drained(kept: &Arc<Mutex<String>>) -> String {
    std::thread::sleep(Duration::from_millis(50));
    kept.lock()
        .unwrap_or_else(|p| p.into_inner())
        .trim()
        .to_owned()
}

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
        let stderr = child.stderr.take().map(drain);
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            let mut line = String::new();
            while matches!(lines.read_line(&mut line), Ok(n) if n > 0) {
                // Keep reading after the ready block (the receiver is gone).
                let _ = tx.send(line.trim().to_owned());
                line.clear();
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut bus = None;
        let mut devices = BTreeMap::new();
        let fail = |mut child: Child, why: String| {
            let _ = child.kill();
            let _ = child.wait();
            let err = stderr.as_ref().map(drained).unwrap_or_default();
            BluezError::Process(format!("{why}; stderr: {err}"))
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
