//! The state of the simulated units of `vehicle run --device sim:SCENARIO.toml`
//! between runs: one JSON file per unit in `<data-dir>/sim-units/`, named by
//! a hash of the scenario file's canonical path and the unit's serial. Loaded
//! when the units are built (unless `--reset-device-state`), saved after the
//! run, whatever its outcome.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use smartcontrol_sim_device::{SimDevice, SimWorld, UnitState};

use crate::exit::Failure;

/// How long saving waits for a unit to finish with its connections.
const SETTLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Where the units of one scenario keep their state.
pub struct UnitFiles {
    units: Vec<(SimDevice, PathBuf)>,
}

/// `<data-dir>/sim-units/<hash>.json` of `serial` in the scenario at
/// `scenario` (a canonical path).
pub fn state_path(data_dir: &Path, scenario: &Path, serial: &str) -> PathBuf {
    let mut h = Sha256::new();
    h.update(scenario.as_os_str().as_encoded_bytes());
    h.update([0u8]);
    h.update(serial.as_bytes());
    let hex: String = h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    data_dir.join("sim-units").join(format!("{hex}.json"))
}

impl UnitFiles {
    /// Restores each unit of `world` from its state file, if there is one
    /// and `reset` is false.
    pub async fn load(
        world: &SimWorld,
        scenario: &Path,
        data_dir: &Path,
        reset: bool,
    ) -> Result<UnitFiles, Failure> {
        let mut units = Vec::new();
        for device in world.devices() {
            let path = state_path(data_dir, scenario, device.serial());
            if reset {
                tracing::info!(serial = device.serial(), path = %path.display(), "unit state reset");
            } else {
                match std::fs::read(&path) {
                    Ok(bytes) => {
                        let state: UnitState = serde_json::from_slice(&bytes)
                            .map_err(|e| corrupt(&path, device.serial(), &e.to_string()))?;
                        device
                            .restore(&state)
                            .await
                            .map_err(|e| corrupt(&path, device.serial(), &e.to_string()))?;
                        tracing::info!(serial = device.serial(), path = %path.display(), "unit state loaded");
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(Failure::operational(
                            "storage",
                            format!(
                                "cannot read the simulated unit state {}: {e}",
                                path.display()
                            ),
                        ))
                    }
                }
            }
            units.push((device, path));
        }
        Ok(UnitFiles { units })
    }

    /// Writes each unit's state (atomically: a temporary file renamed over
    /// the old one) once the unit is done with its connections, so a link
    /// cut mid-transfer saves every frame the unit received before the cut
    /// (at most [`SETTLE_TIMEOUT`] later; then the state as it is, logged).
    pub async fn save(&self) -> Result<(), Failure> {
        for (device, path) in &self.units {
            if tokio::time::timeout(SETTLE_TIMEOUT, device.connections_closed())
                .await
                .is_err()
            {
                tracing::warn!(
                    serial = device.serial(),
                    "simulated unit still connected; saving its state as it is"
                );
            }
            let state = device.snapshot().await;
            write_state(path, &state).map_err(|e| {
                Failure::operational(
                    "storage",
                    format!(
                        "cannot save the state of simulated unit {} to {}: {e}",
                        device.serial(),
                        path.display()
                    ),
                )
            })?;
            tracing::debug!(serial = device.serial(), path = %path.display(), "unit state saved");
        }
        Ok(())
    }
}

fn corrupt(path: &Path, serial: &str, why: &str) -> Failure {
    Failure::bad_input(format!(
        "the saved state of simulated unit {serial} in {} is unusable ({why}); \
         pass --reset-device-state to start from the scenario file again",
        path.display()
    ))
}

fn write_state(path: &Path, state: &UnitState) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_vec(state).map_err(std::io::Error::other)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, &json)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_files_differ_by_scenario_and_serial() {
        let d = Path::new("/data");
        let a = state_path(d, Path::new("/s/a.toml"), "CBX-1");
        assert_eq!(a, state_path(d, Path::new("/s/a.toml"), "CBX-1"));
        assert_ne!(a, state_path(d, Path::new("/s/b.toml"), "CBX-1"));
        assert_ne!(a, state_path(d, Path::new("/s/a.toml"), "CBX-2"));
        assert!(a.starts_with("/data/sim-units"));
    }
}
