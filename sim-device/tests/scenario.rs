//! Scenario files: the shipped examples parse and build; bad files give typed
//! errors with line numbers; scripted events take effect.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;
use smartcontrol_ble::client::Connection;
use smartcontrol_ble::message::VehicleTestId;
use smartcontrol_ble::security::AccessGrant;
use smartcontrol_ble::transport::BleConnector;
use smartcontrol_sim_device::keys::{demo_fleet_signing_key, public_key_hex};
use smartcontrol_sim_device::scenario::{Action, Trigger};
use smartcontrol_sim_device::{Scenario, ScenarioError};

#[test]
fn shipped_examples_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!s.devices.is_empty());
            n += 1;
        }
    }
    assert!(n >= 3);
    let faults =
        Scenario::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/faults.toml"))
            .unwrap();
    let d = &faults.devices[0];
    assert_eq!(d.events[0].trigger, Trigger::AfterFrames(120));
    assert_eq!(d.events[0].action, Action::Disconnect);
    assert_eq!(d.config.revoked.len(), 1);
    assert_eq!(d.loss_rate, 0.01);
}

fn err(src: &str) -> ScenarioError {
    Scenario::parse(src).unwrap_err()
}

#[test]
fn bad_files_give_typed_errors_with_lines() {
    // TOML syntax.
    let e = err("[[device]]\nserial = \"A\"\nfleet_public_key = demo\n");
    assert!(matches!(e, ScenarioError::Syntax { line: 3, .. }), "{e}");
    // Unknown key.
    let e = err("[[device]]\nserial = \"A\"\nfleet_public_key = \"demo\"\ncolour = 1\n");
    assert!(matches!(e, ScenarioError::Syntax { line: 4, .. }), "{e}");
    // Bad hex key.
    let e = err("[[device]]\nserial = \"A\"\nfleet_public_key = \"abcd\"\n");
    assert!(matches!(e, ScenarioError::Invalid { line: 3, .. }), "{e}");
    assert!(e.to_string().contains("64 hex digits"), "{e}");
    // Unknown test name in an event.
    let e = err(concat!(
        "[[device]]\nserial = \"A\"\nfleet_public_key = \"demo\"\n",
        "\n[[device.event]]\non_test = \"wipers\"\naction = \"no_gnss_fix\"\n"
    ));
    // Semantic errors in an event point at its [[device.event]] header.
    assert!(matches!(e, ScenarioError::Invalid { line: 5, .. }), "{e}");
    assert!(e.to_string().contains("wipers"), "{e}");
    // Disconnect without a frame count; duplicate serial; no devices.
    let e = err(concat!(
        "[[device]]\nserial = \"A\"\nfleet_public_key = \"demo\"\n",
        "[[device.event]]\naction = \"disconnect\"\n"
    ));
    assert!(e.to_string().contains("after_frames"), "{e}");
    let e = err(concat!(
        "[[device]]\nserial = \"A\"\nfleet_public_key = \"demo\"\n",
        "[[device]]\nserial = \"A\"\nfleet_public_key = \"demo\"\n"
    ));
    assert!(matches!(e, ScenarioError::Invalid { line: 5, .. }), "{e}");
    assert!(matches!(
        err("name = \"x\"\n"),
        ScenarioError::Invalid { .. }
    ));
    // Unknown link profile and error code.
    let e = err("[[device]]\nserial = \"A\"\nfleet_public_key = \"demo\"\n[device.link]\nprofile = \"5G\"\n");
    assert!(e.to_string().contains("5G"), "{e}");
    let e = err(concat!(
        "[[device]]\nserial = \"A\"\nfleet_public_key = \"demo\"\n",
        "[[device.event]]\non_operation = \"device_info\"\naction = \"error\"\ncode = \"oops\"\n"
    ));
    assert!(e.to_string().contains("oops"), "{e}");
    assert!(matches!(
        Scenario::load("/nonexistent/x.toml"),
        Err(ScenarioError::Io { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn scripted_scenario_runs() {
    let hex = public_key_hex(&demo_fleet_signing_key().verifying_key());
    let src = format!(
        r#"
[[device]]
serial = "{SERIAL}"
fleet_public_key = "{hex}"
clock = {NOW}
timing = "instant"

[device.link]
profile = "ideal"
mtu = 185

[device.vehicle]
vin = "{VIN}"
open_doors = ["trunk"]

[[device.event]]
on_test = "position_fix"
action = "no_gnss_fix"
"#
    );
    let world = Scenario::parse(&src).unwrap().build();
    let g = AccessGrant::sign(fields(), &demo_fleet_signing_key()).unwrap();
    let ch = world.connect(SERIAL).await.unwrap();
    assert_eq!(ch.mtu, 185);
    let mut c = Connection::handshake(ch, &g, JOB, &phone(), client())
        .await
        .unwrap();
    let doors = c.run_test(VehicleTestId::DoorsClosed).await.unwrap();
    assert_eq!((doors.passed, doors.value), (false, 1));
    assert!(!c.run_test(VehicleTestId::PositionFix).await.unwrap().passed);
}
