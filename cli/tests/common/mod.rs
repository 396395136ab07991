//! Helpers shared by the CLI's process-level tests.

use std::path::Path;
use std::process::{Command, Stdio};

/// A quiet `smartcontrol` process on `dir` against `server` (no stdin,
/// stdout and stderr discarded).
pub fn smartcontrol(dir: &Path, server: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smartcontrol"));
    cmd.arg("--data-dir")
        .arg(dir)
        .arg("--server")
        .arg(server)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}
