//! `smartcontrol demo` (placeholder while sim-cloud lands).

use crate::cli::DemoArgs;
use crate::exit::{self, Failure};

pub async fn run(_args: DemoArgs, _json: bool) -> Result<u8, Failure> {
    Ok(exit::OK)
}
