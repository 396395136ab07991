//! `sim-device`: serve simulated CloudBoxx units over a loopback TCP socket
//! (framing in `smartcontrol_sim_device::socket`) or, with `--bluez`, as a
//! simulated BlueZ on a D-Bus (`docs/sim-bluez.md`), from a QA scenario file
//! or quick healthy devices.

use clap::Parser;
use smartcontrol_sim_device::bluez::{device_address, BluezSim, BluezSimConfig};
use smartcontrol_sim_device::keys::{demo_fleet_public_key, parse_fleet_public_key};
use smartcontrol_sim_device::{
    CellularConfig, Scenario, SimDevice, SimDeviceConfig, SimWorld, SocketServer,
};

/// `SERIAL[,vin=VIN][,model=MODEL]` into a device configuration.
fn device_spec(
    spec: &str,
    key: smartcontrol_ble::security::VerifyingKey,
) -> Result<SimDeviceConfig, String> {
    let mut parts = spec.split(',');
    let serial = parts.next().unwrap_or_default().trim();
    if serial.is_empty() || serial.len() > 20 {
        return Err(format!(
            "--device {spec:?}: the serial must be 1..=20 bytes"
        ));
    }
    let mut config = SimDeviceConfig::new(serial, key);
    for p in parts {
        match p.split_once('=') {
            Some(("vin", v)) => config.vehicle.vin = v.trim().to_owned(),
            Some(("model", v)) => config.vehicle.model = v.trim().to_owned(),
            _ => {
                return Err(format!(
                    "--device {spec:?}: expected SERIAL,vin=VIN,model=MODEL, got {p:?}"
                ))
            }
        }
    }
    Ok(config)
}

/// The units' public keys, one line each: what the fleet registers.
#[allow(clippy::print_stdout)]
async fn print_device_keys(world: &SimWorld) {
    for d in world.devices() {
        let key = d.device_public_key().await;
        let hex: String = key.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        println!("device-key {} {hex}", d.serial());
    }
}

/// Serve simulated CloudBoxx devices over TCP or as a simulated BlueZ.
#[derive(Debug, Parser)]
#[command(name = "sim-device", version)]
struct Args {
    /// Address to listen on (port 0: pick a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Scenario file (TOML, see docs/sim-device-scenarios.md).
    #[arg(long)]
    scenario: Option<std::path::PathBuf>,
    /// Without a scenario: healthy devices to serve, as SERIAL or
    /// SERIAL,vin=VIN,model=MODEL (the VIN and model code the vehicle
    /// reports; default VIN WVWZZZ1JZXW000001, no model).
    #[arg(long = "device", default_value = "CBX-000101")]
    devices: Vec<String>,
    /// Give every unit a cellular link to this fleet cloud (sim-cloud's
    /// URL): it fetches its signed revocation list while covered.
    #[arg(long, value_name = "URL")]
    cloud: Option<String>,
    /// With --cloud: seconds between revocation polls.
    #[arg(long, default_value_t = 30.0)]
    cloud_poll_secs: f64,
    /// Without a scenario: fleet public key (64 hex digits) or "demo".
    #[arg(long, default_value = "demo")]
    fleet_public_key: String,
    /// Serve the devices as a simulated BlueZ (`org.bluez`) on a D-Bus
    /// instead of TCP.
    #[arg(long)]
    bluez: bool,
    /// With --bluez: the bus address (default: $DBUS_SYSTEM_BUS_ADDRESS).
    #[arg(long, env = "DBUS_SYSTEM_BUS_ADDRESS")]
    bus: Option<String>,
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn serve_bluez(world: SimWorld, bus: Option<String>) -> std::process::ExitCode {
    let Some(bus) = bus else {
        eprintln!(
            "sim-device: --bluez needs a bus: set DBUS_SYSTEM_BUS_ADDRESS or pass --bus ADDRESS \
             (a private bus: dbus-daemon --config-file=... --print-address, see docs/sim-bluez.md)"
        );
        return std::process::ExitCode::from(2);
    };
    let sim = match BluezSim::serve(world.clone(), &bus, BluezSimConfig::default()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sim-device: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    // The ready block is the binary's interface: tools read it.
    #[allow(clippy::print_stdout)]
    {
        let serials = world.serials();
        println!("sim-device bluez ready on {bus}");
        for serial in &serials {
            println!("device {serial} {}", device_address(serial));
        }
        print_device_keys(&world).await;
        println!("sim-device bluez serving {} devices", serials.len());
    }
    shutdown_signal().await;
    sim.stop().await;
    std::process::ExitCode::SUCCESS
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
    if !(0.05..=86_400.0).contains(&args.cloud_poll_secs) {
        eprintln!("sim-device: --cloud-poll-secs must be within 0.05..=86400");
        return std::process::ExitCode::from(2);
    }
    let cellular = args.cloud.as_ref().map(|url| CellularConfig {
        cloud_url: url.clone(),
        up: true,
        poll_interval: std::time::Duration::from_secs_f64(args.cloud_poll_secs),
    });
    let world = match &args.scenario {
        Some(path) => match Scenario::load(path) {
            Ok(mut s) => {
                if let Some(c) = &cellular {
                    for d in &mut s.devices {
                        d.config.cellular.get_or_insert_with(|| c.clone());
                    }
                }
                s.build()
            }
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
            for spec in &args.devices {
                match device_spec(spec, key) {
                    Ok(mut config) => {
                        config.cellular.clone_from(&cellular);
                        world.add(SimDevice::new(config));
                    }
                    Err(e) => {
                        eprintln!("sim-device: {e}");
                        return std::process::ExitCode::from(2);
                    }
                }
            }
            world
        }
    };
    if args.bluez {
        return serve_bluez(world, args.bus).await;
    }
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
        print_device_keys(&world).await;
    }
    tokio::select! {
        _ = server.wait() => {}
        _ = shutdown_signal() => {}
    }
    std::process::ExitCode::SUCCESS
}
