//! `smartcontrol vehicle run`: the on-vehicle workflow of a job against its
//! CloudBoxx, with live step lines, a progress bar for the configuration
//! transfer, reconnect notices and a readable test report. The rendering
//! helpers are shared with the demo.

// Step lines and the report go to stdout (the progress bar to stderr).
#![allow(clippy::print_stdout)]

use std::io::IsTerminal;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use smartcontrol_ble::btleplug::{BtleplugConfig, BtleplugConnector, BtleplugError};
use smartcontrol_core::ble::message::VehicleTestId;
use smartcontrol_core::ble::transport::BleConnector;
use smartcontrol_core::cloud_api::VehicleTestResult;
use smartcontrol_core::{SmartControl, WorkflowEvent, WorkflowOptions, WorkflowReport};
use smartcontrol_sim_device::{Scenario, SimWorld, SocketConnector};

use crate::cli::VehicleRunArgs;
use crate::exit::{self, Failure};
use crate::output;
use crate::sim_units::UnitFiles;

/// Where the CloudBoxx is reached.
pub enum Device {
    /// A `sim-device` socket server.
    Socket(SocketAddr),
    /// Simulated CloudBoxxes in this process, from a QA scenario file.
    InProcess {
        /// The units, as the scenario file builds them.
        world: SimWorld,
        /// Canonical path of the scenario file (keys the units' state files).
        scenario: PathBuf,
    },
    /// A real CloudBoxx over the platform's Bluetooth adapter (btleplug).
    Ble {
        /// Adapter name (BlueZ: `hci0`); `None`: the first adapter.
        adapter: Option<String>,
    },
}

impl Device {
    /// `tcp://HOST:PORT`, `sim:SCENARIO.toml` or `ble[:ADAPTER]` (alias
    /// `bluez[:ADAPTER]`).
    pub fn parse(addr: &str) -> Result<Device, Failure> {
        if let Some(adapter) = parse_ble(addr)? {
            return Ok(Device::Ble { adapter });
        }
        if let Some(path) = addr.strip_prefix("sim:") {
            let scenario = Scenario::load(path).map_err(|e| {
                Failure::bad_input(format!("--device {addr:?}: scenario {path}: {e}"))
            })?;
            let canonical = std::fs::canonicalize(path).map_err(|e| {
                Failure::bad_input(format!("--device {addr:?}: scenario {path}: {e}"))
            })?;
            return Ok(Device::InProcess {
                world: scenario.build(),
                scenario: canonical,
            });
        }
        parse_device(addr).map(Device::Socket)
    }

    async fn connector(&self) -> Result<Box<dyn BleConnector + '_>, Failure> {
        Ok(match self {
            Device::Socket(addr) => Box::new(SocketConnector::new(*addr)),
            Device::InProcess { world, .. } => Box::new(world.clone()),
            Device::Ble { adapter } => {
                let config = BtleplugConfig {
                    adapter: adapter.clone(),
                    ..BtleplugConfig::default()
                };
                Box::new(
                    BtleplugConnector::new(config)
                        .await
                        .map_err(bluetooth_failure)?,
                )
            }
        })
    }
}

/// `ble`, `ble:ADAPTER`, `bluez`, `bluez:ADAPTER` → `Some(adapter)`; other
/// addresses → `None`.
pub fn parse_ble(addr: &str) -> Result<Option<Option<String>>, Failure> {
    let rest = ["ble", "bluez"]
        .into_iter()
        .find_map(|p| addr.strip_prefix(p));
    let Some(rest) = rest else {
        return Ok(None);
    };
    if rest.is_empty() {
        return Ok(Some(None));
    }
    let name = rest.strip_prefix(':').unwrap_or(rest);
    let valid = !name.is_empty()
        && rest.starts_with(':')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return Err(Failure::bad_input(format!(
            "--device {addr:?}: expected ble or ble:ADAPTER (an adapter name such as hci0)"
        )));
    }
    Ok(Some(Some(name.to_owned())))
}

/// A driver set-up failure: a named adapter that does not exist is bad
/// input, anything else an operational failure.
fn bluetooth_failure(e: BtleplugError) -> Failure {
    match e {
        BtleplugError::AdapterNotFound { .. } => Failure::bad_input(e.to_string()),
        _ => Failure::operational("bluetooth", e.to_string()),
    }
}

/// `tcp://HOST:PORT` → the address of a sim-device socket server.
pub fn parse_device(addr: &str) -> Result<SocketAddr, Failure> {
    let Some(rest) = addr.strip_prefix("tcp://") else {
        return Err(Failure::bad_input(format!(
            "--device {addr:?}: expected tcp://HOST:PORT (a sim-device server), \
             sim:SCENARIO.toml (simulated CloudBoxxes in this process) or \
             ble[:ADAPTER] (a real CloudBoxx over Bluetooth, e.g. ble:hci0)"
        )));
    };
    rest.to_socket_addrs()
        .map_err(|e| Failure::bad_input(format!("--device {addr:?}: {e}")))?
        .next()
        .ok_or_else(|| Failure::bad_input(format!("--device {addr:?}: no address")))
}

/// Test names (as in job reports) → test ids; empty: every test.
pub fn parse_tests(names: &[String]) -> Result<Vec<VehicleTestId>, Failure> {
    names
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|name| {
            VehicleTestId::from_name(name).ok_or_else(|| {
                let known: Vec<&str> = VehicleTestId::ALL.iter().map(|t| t.name()).collect();
                Failure::bad_input(format!(
                    "unknown vehicle test {name:?}; known tests: {}",
                    known.join(", ")
                ))
            })
        })
        .collect()
}

pub async fn run(
    core: &SmartControl,
    json: bool,
    job_id: &str,
    args: &VehicleRunArgs,
    data_dir: &Path,
) -> Result<u8, Failure> {
    let device = Device::parse(&args.device)?;
    let units =
        match &device {
            Device::InProcess { world, scenario } => {
                Some(UnitFiles::load(world, scenario, data_dir, args.reset_device_state).await?)
            }
            _ if args.reset_device_state => return Err(Failure::bad_input(
                "--reset-device-state applies to simulated units only (--device sim:SCENARIO.toml)",
            )),
            _ => None,
        };
    let options = WorkflowOptions {
        reconnect_attempts: args.reconnects,
        tests: parse_tests(&args.tests)?,
        ..WorkflowOptions::default()
    };
    let connector = device.connector().await?;
    let live = Live::new(!json, std::io::stderr().is_terminal());
    if !json {
        println!("Job {job_id}: on-vehicle workflow via {}", args.device);
    }
    let on_event = |e| live.event(e);
    let workflow = core.run_vehicle_workflow(job_id, connector.as_ref(), &options, &on_event);
    // Ctrl-C ends the run here, so the simulated units' state is still saved.
    let result = tokio::select! {
        r = workflow => r.map_err(Failure::from),
        Ok(()) = tokio::signal::ctrl_c() => Err(Failure::operational(
            "interrupted",
            "vehicle run interrupted (Ctrl-C)",
        )),
    };
    live.finish(result.as_ref().ok());
    if let Some(units) = &units {
        match (units.save().await, &result) {
            (Err(e), Ok(_)) => return Err(e),
            // The run's own failure is what the user sees; this is logged.
            (Err(e), Err(_)) => {
                tracing::error!(error = %e.message, "simulated unit state not saved")
            }
            (Ok(()), _) => {}
        }
    }
    let report = result?;
    if json {
        output::print_json(&report)?;
    } else {
        println!();
        println!("Vehicle tests:");
        for line in test_table(&report.tests).lines() {
            println!("  {line}");
        }
        if !report.required_work.items.is_empty() {
            println!();
            println!("Required work:");
            for line in crate::output::required_work_lines(&report.required_work) {
                println!("  {line}");
            }
        }
        println!();
        println!("{}", next_step(&report));
    }
    Ok(exit::OK)
}

/// The test report: test, PASS/FAIL, measured value, hint.
pub fn test_table(tests: &[VehicleTestResult]) -> String {
    if tests.is_empty() {
        return "(no tests run)".to_owned();
    }
    let rows: Vec<Vec<String>> = tests
        .iter()
        .map(|t| {
            vec![
                t.test.clone(),
                if t.passed { "PASS" } else { "FAIL" }.to_owned(),
                t.measured.clone().unwrap_or_else(|| "-".to_owned()),
                t.hint.clone().unwrap_or_default(),
            ]
        })
        .collect();
    output::table(&["TEST", "RESULT", "MEASURED", "HINT"], &rows)
}

/// A FAILED comment naming the failing tests and their hints, e.g.
/// "doors_closed failed: a door is open or its sensor is stuck: …".
pub fn failure_comment(report: &WorkflowReport) -> String {
    report
        .tests
        .iter()
        .filter(|t| !t.passed)
        .map(|t| match &t.hint {
            Some(h) => format!("{} failed: {h}", t.test),
            None => format!("{} failed", t.test),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What the technician does next.
pub fn next_step(report: &WorkflowReport) -> String {
    let failed = report.tests.iter().filter(|t| !t.passed).count();
    if report.required_work.done {
        format!(
            "The job's required work is done (signed by the CloudBoxx): complete with `smartcontrol complete {} --succeeded`",
            report.job_id
        )
    } else if failed == 0 {
        let missing: Vec<String> = crate::output::required_work_lines(&report.required_work)
            .into_iter()
            .filter(|l| l.starts_with('✗'))
            .collect();
        format!(
            "Required work is still missing ({}): run the workflow again with every required test, or complete as failed with a comment",
            missing.join("; ")
        )
    } else {
        format!(
            "{failed} test(s) failed: fix and re-run, or complete as failed with a comment \
             (hint: {}): `smartcontrol complete {} --failed --comment \"...\"`",
            failure_comment(report),
            report.job_id
        )
    }
}

/// Live output of a running workflow.
struct Live {
    state: Mutex<LiveState>,
}

struct LiveState {
    enabled: bool,
    tty: bool,
    /// The last finished step: printed once the next event shows it succeeded.
    pending: Option<(&'static str, String)>,
    bar: Option<ProgressBar>,
    last_acked: u32,
    /// Quarters of the transfer printed (plain output).
    printed_quarter: u32,
    resumed_from: u32,
}

impl Live {
    fn new(enabled: bool, tty: bool) -> Live {
        Live {
            state: Mutex::new(LiveState {
                enabled,
                tty,
                pending: None,
                bar: None,
                last_acked: 0,
                printed_quarter: 0,
                resumed_from: 0,
            }),
        }
    }

    fn event(&self, e: WorkflowEvent) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        if !s.enabled {
            return;
        }
        match e {
            WorkflowEvent::StepStarted { .. } => s.flush(true),
            WorkflowEvent::StepDone { step, detail, .. } => {
                s.flush(true);
                if let Some(bar) = s.bar.take() {
                    bar.finish_and_clear();
                }
                s.pending = Some((step.name(), detail));
            }
            WorkflowEvent::ConfigProgress {
                acked,
                total,
                resumed_from,
            } => {
                s.flush(true);
                s.last_acked = acked;
                let newly_resumed = resumed_from > 0 && resumed_from != s.resumed_from;
                s.resumed_from = resumed_from;
                if s.tty {
                    let bar = s.bar.get_or_insert_with(|| {
                        let pb = ProgressBar::with_draw_target(
                            Some(u64::from(total)),
                            ProgressDrawTarget::stderr(),
                        );
                        if let Ok(style) = ProgressStyle::with_template(
                            "  configuration [{bar:30}] {pos}/{len} bytes {msg}",
                        ) {
                            pb.set_style(style.progress_chars("=> "));
                        }
                        pb
                    });
                    bar.set_position(u64::from(acked));
                    if newly_resumed {
                        bar.set_message(format!("(resumed at {resumed_from})"));
                    }
                } else {
                    if newly_resumed {
                        println!("  … configuration resumed at {resumed_from}/{total} bytes");
                    }
                    let quarter = (acked.saturating_mul(4)).checked_div(total).unwrap_or(4);
                    if quarter > s.printed_quarter || (acked == 0 && s.printed_quarter == 0) {
                        s.printed_quarter = quarter.max(1);
                        println!("  … configuration {acked}/{total} bytes acknowledged");
                    }
                }
            }
            WorkflowEvent::Reconnecting { attempt, reason } => {
                s.flush(true);
                let line = format!(
                    "  ↻ link lost at {} bytes ({reason}); reconnecting (attempt {attempt})…",
                    s.last_acked
                );
                s.print(&line);
            }
            WorkflowEvent::TestResult { result } => {
                s.flush(true);
                let line = format!(
                    "    {} {}{}",
                    if result.passed { "PASS" } else { "FAIL" },
                    result.test,
                    result
                        .measured
                        .as_deref()
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default()
                );
                s.print(&line);
            }
        }
    }

    /// Prints the last step with its real outcome.
    fn finish(&self, report: Option<&WorkflowReport>) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        if let Some(bar) = s.bar.take() {
            bar.finish_and_clear();
        }
        if !s.enabled {
            return;
        }
        let ok = report.is_some_and(|r| r.steps.last().is_some_and(|st| st.ok));
        s.flush(ok);
    }
}

impl LiveState {
    fn flush(&mut self, ok: bool) {
        if let Some((step, detail)) = self.pending.take() {
            let line = format!("{} {step}: {detail}", if ok { "✓" } else { "✗" });
            self.print(&line);
        }
    }

    fn print(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| println!("{line}")),
            None => println!("{line}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ble_devices_name_an_optional_adapter() {
        assert_eq!(parse_ble("ble").ok(), Some(Some(None)));
        assert_eq!(parse_ble("bluez").ok(), Some(Some(None)));
        assert_eq!(
            parse_ble("ble:hci1").ok(),
            Some(Some(Some("hci1".to_owned())))
        );
        assert_eq!(
            parse_ble("bluez:hci0").ok(),
            Some(Some(Some("hci0".to_owned())))
        );
        assert_eq!(parse_ble("tcp://127.0.0.1:1").ok(), Some(None));
        for bad in ["ble://x", "ble:", "blex", "ble:hci 0"] {
            let e = parse_ble(bad).err().map(|f| f.code);
            assert_eq!(e, Some(exit::BAD_INPUT), "{bad}");
        }
    }
}
