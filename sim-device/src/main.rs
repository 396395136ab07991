//! `sim-device`: serve simulated CloudBoxx units over a loopback TCP socket
//! (framing in `smartcontrol_sim_device::socket`), from a QA scenario file or a
//! quick single device.

use clap::Parser;
use smartcontrol_sim_device::keys::{demo_fleet_public_key, parse_fleet_public_key};
use smartcontrol_sim_device::{Scenario, SimDevice, SimDeviceConfig, SimWorld, SocketServer};

/// Serve simulated CloudBoxx devices over TCP.
#[derive(Debug, Parser)]
#[command(name = "sim-device", version)]
struct Args {
    /// Address to listen on (port 0: pick a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Scenario file (TOML, see docs/sim-device-scenarios.md).
    #[arg(long)]
    scenario: Option<std::path::PathBuf>,
    /// Without a scenario: serials of healthy devices to serve.
    #[arg(long = "device", default_value = "CBX-000101")]
    devices: Vec<String>,
    /// Without a scenario: fleet public key (64 hex digits) or "demo".
    #[arg(long, default_value = "demo")]
    fleet_public_key: String,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let world = match &args.scenario {
        Some(path) => match Scenario::load(path) {
            Ok(s) => s.build(),
            Err(e) => {
                eprintln!("sim-device: {}: {e}", path.display());
                return std::process::ExitCode::from(2);
            }
        },
        None => {
            let key = if args.fleet_public_key == "demo" {
                demo_fleet_public_key()
            } else {
                match parse_fleet_public_key(&args.fleet_public_key) {
                    Ok(k) => k,
                    Err(e) => {
                        eprintln!("sim-device: --fleet-public-key: {e}");
                        return std::process::ExitCode::from(2);
                    }
                }
            };
            let world = SimWorld::new();
            for serial in &args.devices {
                world.add(SimDevice::new(SimDeviceConfig::new(serial, key)));
            }
            world
        }
    };
    let server = match SocketServer::bind(&args.listen, world.clone()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sim-device: cannot listen on {}: {e}", args.listen);
            return std::process::ExitCode::from(1);
        }
    };
    // The listen line and the serials are the binary's interface: tools read them.
    #[allow(clippy::print_stdout)]
    {
        println!("sim-device listening on {}", server.local_addr());
        for serial in world.serials() {
            println!("device {serial}");
        }
    }
    tokio::select! {
        _ = server.wait() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    std::process::ExitCode::SUCCESS
}
