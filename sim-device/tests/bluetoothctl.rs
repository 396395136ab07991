//! An independent BlueZ client against the simulated BlueZ: Debian's
//! `bluetoothctl` scans, connects, lists the GATT attributes, reads the
//! identity characteristic (the bytes must be the device's AdvertData) and
//! disconnects, all on a private bus.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use smartcontrol_sim_device::bluez::{
    device_address, device_path, BluezSim, BluezSimConfig, PrivateBus,
};
use smartcontrol_sim_device::{LinkModel, VehicleTiming};

const MISSING: &str = "scripts/test installs them (apt-get install bluez dbus-daemon)";

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            }
            continue;
        }
        if c == '\r' || c == '\u{1}' || c == '\u{2}' {
            continue;
        }
        out.push(c);
    }
    out
}

fn require_bluetoothctl() {
    let ok = Command::new("bluetoothctl")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(ok, "bluetoothctl not found: {MISSING}");
}

/// `bluetoothctl --timeout N <args>` on `bus` (a separate process: the
/// connection state is the service's); its output without ANSI codes.
fn once(bus: &str, timeout: u32, args: &[&str]) -> String {
    let out = Command::new("bluetoothctl")
        .env("DBUS_SYSTEM_BUS_ADDRESS", bus)
        .arg("--timeout")
        .arg(timeout.to_string())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("bluetoothctl: {e}: {MISSING}"));
    strip_ansi(&String::from_utf8_lossy(&out.stdout))
}

/// An interactive bluetoothctl: commands on stdin, output collected.
struct Interactive {
    child: std::process::Child,
    rx: mpsc::Receiver<String>,
    seen: String,
}

impl Interactive {
    fn start(bus: &str) -> Self {
        let mut child = Command::new("bluetoothctl")
            .env("DBUS_SYSTEM_BUS_ADDRESS", bus)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("bluetoothctl: {e}: {MISSING}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut buf = Vec::new();
            while matches!(r.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
                if tx.send(strip_ansi(&String::from_utf8_lossy(&buf))).is_err() {
                    return;
                }
                buf.clear();
            }
        });
        Self {
            child,
            rx,
            seen: String::new(),
        }
    }

    fn send(&mut self, cmd: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{cmd}").unwrap();
        stdin.flush().unwrap();
    }

    /// Wait (≤ 10 s) until the output since the last wait contains `needle`;
    /// returns that output.
    fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(at) = self.seen.find(needle) {
                // Keep the rest of the line that holds the needle.
                let end = self.seen[at..]
                    .find('\n')
                    .map(|i| at + i + 1)
                    .unwrap_or(self.seen.len());
                let out = self.seen[..end].to_owned();
                self.seen.drain(..end);
                return out;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(chunk) => self.seen.push_str(&chunk),
                Err(_) => panic!(
                    "bluetoothctl never printed {needle:?}; output:\n{}",
                    self.seen
                ),
            }
        }
    }
}

impl Drop for Interactive {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Hex bytes of bluetoothctl's hexdump lines (`  01 02 …   ascii`).
fn hexdump_bytes(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.rsplit("]# ").next().unwrap_or(line);
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if tokens.is_empty() || !is_hex_byte(tokens[0]) || !line.starts_with("  ") {
            continue;
        }
        for t in tokens {
            if !is_hex_byte(t) {
                break;
            }
            out.push(u8::from_str_radix(t, 16).unwrap());
        }
    }
    out
}

fn is_hex_byte(t: &str) -> bool {
    t.len() == 2 && t.chars().all(|c| c.is_ascii_hexdigit())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bluetoothctl_scans_connects_and_reads_the_identity() {
    require_bluetoothctl();
    let bus = PrivateBus::start().unwrap_or_else(|e| panic!("{e}: {MISSING}"));
    let (w, dev_sim) = world(LinkModel::fast(), VehicleTiming::instant());
    let sim = BluezSim::serve(w, bus.address(), BluezSimConfig::default())
        .await
        .unwrap();
    let addr = device_address(SERIAL);
    let identity_path = format!("{}/service000a/char0010", device_path(&addr));
    let expected = dev_sim.advertisement().await.data.encode();
    let b = bus.address().to_owned();

    let (scan, connect, listing, read, info) = tokio::task::spawn_blocking({
        let b = b.clone();
        let addr = addr.clone();
        let identity_path = identity_path.clone();
        move || {
            let mut ctl = Interactive::start(&b);
            ctl.wait_for("Agent registered");
            ctl.send("scan on");
            let scan = ctl.wait_for(&format!("[NEW] Device {addr}"));
            ctl.send("scan off");
            ctl.wait_for("Discovering: no");
            ctl.send(&format!("connect {addr}"));
            let connect = ctl.wait_for("Connection successful");
            ctl.send("menu gatt");
            ctl.wait_for("Menu gatt:");
            ctl.send(&format!("list-attributes {addr}"));
            let listing = ctl.wait_for(&identity_path);
            ctl.send(&format!("select-attribute {identity_path}"));
            ctl.send("read");
            ctl.wait_for("Attempting to read");
            // The hexdump line ends with the ASCII column: the serial.
            let read = ctl.wait_for(SERIAL);
            ctl.send("back");
            ctl.send(&format!("info {addr}"));
            // BlueZ drops RSSI when discovery stops ("scan off" above), so
            // the last line of `info` is the service data's hexdump; the
            // `version` line marks its end.
            let mut info = ctl.wait_for("ServiceData Value:");
            ctl.send("version");
            info.push_str(&ctl.wait_for("Version"));
            ctl.send("quit");
            (scan, connect, listing, read, info)
        }
    })
    .await
    .unwrap();
    assert!(
        scan.contains(&format!("[NEW] Device {addr} {SERIAL}")),
        "scan output:\n{scan}"
    );
    assert!(
        connect.contains(&format!("Device {addr} Connected: yes")),
        "connect output:\n{connect}"
    );
    assert!(sim.is_connected(SERIAL));
    for needle in [
        "service000a",
        "char000b",
        "char000d",
        "desc000f",
        "char0010",
    ] {
        assert!(
            listing.contains(needle),
            "list-attributes lacks {needle}:\n{listing}"
        );
    }
    assert!(
        listing.contains("Client Characteristic Configuration"),
        "{listing}"
    );
    assert_eq!(hexdump_bytes(&read), expected, "read output:\n{read}");
    assert!(info.contains(&format!("Name: {SERIAL}")), "info:\n{info}");
    assert!(info.contains("Connected: yes"), "info:\n{info}");
    assert!(info.contains("(random)"), "info:\n{info}");
    assert!(!info.contains("RSSI:"), "RSSI after scan off:\n{info}");
    // The advertised service data, as bluetoothctl shows it.
    let sd = info.split("ServiceData Value:").nth(1).unwrap_or_default();
    assert_eq!(hexdump_bytes(sd), expected, "info:\n{info}");

    let disconnect = tokio::task::spawn_blocking({
        let addr = addr.clone();
        move || once(&b, 3, &["disconnect", &addr])
    })
    .await
    .unwrap();
    assert!(
        disconnect.contains("Successful disconnected"),
        "disconnect output:\n{disconnect}"
    );
    assert!(!sim.is_connected(SERIAL));
}
