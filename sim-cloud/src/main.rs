//! `sim-cloud`: runs the simulated fleet cloud until Ctrl-C.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use smartcontrol_sim_cloud::{seed_bulk, seed_demo, SimCloud, SimCloudConfig};

/// Command line of the simulated cloud.
#[derive(Debug, Parser)]
#[command(
    name = "sim-cloud",
    about = "Simulated fleet cloud (provider, partner and technician APIs)"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// SQLite database file (default: in memory).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Seed data: `demo`, or `bulk:N` for N assigned jobs.
    #[arg(long)]
    seed: Option<String>,
    /// Access token lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    access_token_ttl: i64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let cloud = SimCloud::start(SimCloudConfig {
        db_path: args.db,
        listen: args.listen,
        access_token_ttl_secs: args.access_token_ttl,
        ..SimCloudConfig::default()
    })
    .await?;
    let mut accounts = Vec::new();
    match args.seed.as_deref() {
        None => {}
        Some("demo") => {
            let d = seed_demo(cloud.admin())?;
            accounts = vec![
                format!("provider:      {} / {}", d.provider_email, d.password),
                format!("partner admin: {} / {}", d.autotech_admin_email, d.password),
                format!("technician:    {} / {}", d.anna_email, d.password),
                format!(
                    "technician:    {} / {} (TOTP secret {})",
                    d.ben_email, d.password, d.totp_secret
                ),
            ];
        }
        Some(s) if s.starts_with("bulk:") => {
            let n: usize = s["bulk:".len()..].parse()?;
            let b = seed_bulk(cloud.admin(), n)?;
            tracing::info!(technician = %b.technician_email, jobs = n, "bulk data seeded");
            let pw = smartcontrol_sim_cloud::DEMO_PASSWORD;
            accounts = vec![
                format!("provider:      {} / {pw}", b.provider_email),
                format!("technician:    {} / {pw}", b.technician_email),
            ];
        }
        Some(other) => anyhow::bail!("unknown seed {other:?} (use demo or bulk:N)"),
    }
    announce(&cloud.base_url(), &accounts)?;
    tokio::signal::ctrl_c().await?;
    tracing::info!("shutting down");
    cloud.shutdown().await;
    Ok(())
}

#[allow(clippy::print_stdout)]
fn announce(url: &str, accounts: &[String]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "sim-cloud listening on {url}")?;
    for a in accounts {
        writeln!(out, "  {a}")?;
    }
    out.flush()
}
