//! `smartcontrol`: the desktop front end of the SmartControl core.
//!
//! Technician commands (login, sync, job lists, actions, conflicts, status)
//! run on one local data directory with the same core the phone apps use;
//! `smartcontrol demo` runs the whole offline-first scenario against an
//! in-process simulated cloud with zero setup.

// A command-line program's job is to print to stdout: results, tables and
// JSON documents go there by design (diagnostics go to stderr).
#![allow(clippy::print_stdout)]

mod cli;
mod commands;
mod demo;
mod exit;
mod output;
mod sim_units;
mod vehicle;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Output piped into `head` (or any reader that stops early) ends the
    // program quietly, as it does any Unix tool, instead of a panic on the
    // broken pipe.
    sigpipe::reset();
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(e) => return usage_error(e),
    };
    // The demo provokes failures on purpose (offline sync, a refused
    // action): the core's warnings about them would only be noise there.
    let quiet = matches!(args.command, cli::Command::Demo(_));
    init_tracing(args.verbose, quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::OPERATIONAL);
        }
    };
    let json = args.json;
    let code = runtime.block_on(commands::run(args));
    // Background tasks (the demo's simulated cloud, proxies) end with the runtime.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match code {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            failure.report(json);
            ExitCode::from(failure.code)
        }
    }
}

/// Help and version go out as clap prints them (exit 0); usage errors exit
/// 2, as `{"error": {"kind": "usage", ...}}` on stdout when `--json` is given.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
        || !std::env::args().any(|a| a == "--json")
    {
        e.exit();
    }
    // clap's text up to the usage line, on one line.
    let rendered = e.render().to_string();
    let body = rendered.split("\nUsage:").next().unwrap_or_default();
    let message = body
        .trim_start_matches("error: ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    exit::Failure::new(exit::BAD_INPUT, "usage", message).report(true);
    ExitCode::from(exit::BAD_INPUT)
}

/// `-v` info, `-vv` debug, `-vvv` trace; without `-v`, `RUST_LOG` or the
/// default (warn; error for `quiet`). Logs go to stderr so stdout stays parseable.
fn init_tracing(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 if quiet => "error",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = if verbose == 0 {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
    } else {
        EnvFilter::new(default)
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
