//! A private `dbus-daemon` for tests: its own configuration in a temporary
//! directory (anyone may own any name, send and receive everything), listening
//! on a Unix socket there; killed by its pid when dropped.

use std::io::{BufRead, BufReader, Read};

use super::process::{drain, drained};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::BluezError;

/// A running private message bus (a `dbus-daemon` child process).
#[derive(Debug)]
pub struct PrivateBus {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

fn config(socket_dir: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <!-- A private system-like bus for the simulated BlueZ (sim-device). -->
  <type>system</type>
  <listen>unix:dir={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"#,
        socket_dir.display()
    )
}

impl PrivateBus {
    /// Start `dbus-daemon` (found on `PATH`) with a generated configuration and
    /// wait for it to print its address (up to 10 s).
    pub fn start() -> Result<PrivateBus, BluezError> {
        Self::start_with("dbus-daemon")
    }

    /// Like [`PrivateBus::start`] with an explicit `dbus-daemon` program.
    pub fn start_with(program: &str) -> Result<PrivateBus, BluezError> {
        let dir = tempfile::Builder::new()
            .prefix("sim-bluez-bus")
            .tempdir()
            .map_err(|e| BluezError::Bus(format!("cannot create a temporary directory: {e}")))?;
        let conf = dir.path().join("bus.conf");
        std::fs::write(&conf, config(dir.path()))
            .map_err(|e| BluezError::Bus(format!("cannot write {}: {e}", conf.display())))?;
        let mut child = Command::new(program)
            .arg(format!("--config-file={}", conf.display()))
            .arg("--nofork")
            .arg("--nopidfile")
            .arg("--print-address=1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                BluezError::Bus(format!(
                    "cannot run {program}: {e} (install it: apt-get install dbus-daemon; \
                     scripts/test installs it)"
                ))
            })?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| BluezError::Bus("dbus-daemon has no stdout".into()))?;
        let stderr = child.stderr.take().map(drain);
        // Read the address line on a thread so a hung daemon cannot block us.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            let mut line = String::new();
            let r = lines.read_line(&mut line).map(|_| line);
            let _ = tx.send(r);
            // Keep draining so the daemon never blocks on a full pipe.
            let mut sink = Vec::new();
            let _ = lines.read_to_end(&mut sink);
        });
        let line = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(line)) if !line.trim().is_empty() => line.trim().to_owned(),
            other => {
                let _ = child.kill();
                let _ = child.wait();
                let err = stderr.as_ref().map(drained).unwrap_or_default();
                return Err(BluezError::Bus(format!(
                    "dbus-daemon did not print its address ({}): {}",
                    match other {
                        Ok(Ok(_)) => "empty output".to_owned(),
                        Ok(Err(e)) => e.to_string(),
                        Err(_) => "timed out".to_owned(),
                    },
                    err
                )));
            }
        };
        Ok(PrivateBus {
            child,
            address: line,
            _dir: dir,
        })
    }

    /// The bus address (`unix:path=…,guid=…`), for `DBUS_SYSTEM_BUS_ADDRESS`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Process id of the `dbus-daemon`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
