//! The `sim-device` binary prints its address and serials and serves them.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use smartcontrol_ble::transport::BleConnector;
use smartcontrol_sim_device::SocketConnector;

#[tokio::test]
async fn binary_serves_a_scenario() {
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/demo.toml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sim-device"))
        .args(["--listen", "127.0.0.1:0", "--scenario", scenario])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first.strip_prefix("sim-device listening on ").unwrap();
    let serials: Vec<String> = (0..2).map(|_| lines.next().unwrap().unwrap()).collect();
    assert_eq!(serials, ["device CBX-000101", "device CBX-000102"]);
    let conn = SocketConnector::new(addr.parse().unwrap());
    let ads = conn.scan(Duration::from_secs(1)).await.unwrap();
    assert_eq!(ads.len(), 2);
    let ch = conn.connect("CBX-000102").await.unwrap();
    assert_eq!(ch.mtu, 247);
    child.kill().unwrap();
    let _ = child.wait();
}

#[test]
fn bad_scenario_exits_2_with_the_line() {
    let dir = std::env::temp_dir().join(format!("sim-device-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[[device]]\nserial = \"A\"\nfleet_public_key = \"xyz\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sim-device"))
        .args(["--scenario", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
