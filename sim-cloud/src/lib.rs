//! A simulated INVERS fleet cloud: provider, service-partner and technician
//! HTTP APIs with the domain rules, SQLite persistence and fault injection.
//!
//! Start it in-process with [`SimCloud::start`] (tests, demos) or run the
//! `sim-cloud` binary (QA). [`SimCloud::admin`] (also reachable through
//! `Deref`) gives direct access to the same domain functions the HTTP
//! handlers call, and [`seed_demo`] / [`seed_bulk`] fill it with data.
//!
//! Technician visibility: a technician of company C sees jobs assigned to C
//! whose fleet connection with C is ACCEPTED and that are ASSIGNED, RUNNING
//! (own or a colleague's, so "take over" is possible), or final with the
//! technician as assignee. The changes feed reports removals for
//! UNASSIGNED, CONNECTION_DELETED and DELETED, and a TAKEN_OVER removal for
//! colleagues when a job they saw RUNNING is finished by someone else.
//! Take-over emits no removal: the job stays visible with the new assignee.
//! `ActionRequest::base_version` is informational and not checked.
//!
//! Access grants: every fleet has an Ed25519 signing key
//! ([`SimAdmin::fleet_public_key`]); a claim or take-over of a job with a
//! `cloudboxx_serial` by a session that sent a phone key at login returns
//! a signed, job-scoped grant, which is revoked when access ends (see
//! [`domain::grants`]).

pub mod db;
pub mod domain;
pub mod error;
pub mod faults;
pub mod http;
pub mod model;
pub mod seed;

use std::net::SocketAddr;
use std::path::PathBuf;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use domain::{
    current_totp_code, grant_permissions, totp_for_secret, AuthUser, SimAdmin,
    GRANT_CLOCK_SKEW_SECS, GRANT_VALIDITY_SECS, REVOCATION_REASONS,
};
pub use error::{SimError, SimResult};
pub use faults::{FaultConfig, RequestStats};
pub use model::{DeviceRevocations, GrantRecord};
pub use seed::{
    bulk_cloudboxx_serial, demo_cloudboxx_serial, seed_bulk, seed_demo, BulkSeed, DemoSeed,
    DEMO_PASSWORD, DEMO_TOTP_SECRET,
};

/// How to start a [`SimCloud`].
#[derive(Debug, Clone)]
pub struct SimCloudConfig {
    /// SQLite file (WAL); `None` keeps the database in memory.
    pub db_path: Option<PathBuf>,
    /// Address to listen on (default `127.0.0.1:0`, a free port).
    pub listen: SocketAddr,
    /// Faults active from the start.
    pub faults: FaultConfig,
    /// Lifetime of access tokens in seconds (default 3600).
    pub access_token_ttl_secs: i64,
}

impl Default for SimCloudConfig {
    fn default() -> Self {
        SimCloudConfig {
            db_path: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            faults: FaultConfig::default(),
            access_token_ttl_secs: 3600,
        }
    }
}

/// A running simulated cloud (HTTP server on the current tokio runtime).
pub struct SimCloud {
    addr: SocketAddr,
    state: http::AppState,
    shutdown_tx: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl SimCloud {
    /// Opens the database, binds `config.listen` and spawns the server on
    /// the current tokio runtime.
    pub async fn start(config: SimCloudConfig) -> anyhow::Result<SimCloud> {
        let conn = db::open(config.db_path.as_deref())?;
        let admin = SimAdmin::new(conn, config.access_token_ttl_secs);
        let state = http::AppState::new(admin, config.faults);
        let app = http::router(state.clone());
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "sim-cloud server failed");
            }
        });
        tracing::info!(%addr, "sim-cloud listening");
        Ok(SimCloud {
            addr,
            state,
            shutdown_tx: Some(tx),
            task,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Direct, in-process access to the state (no HTTP).
    pub fn admin(&self) -> &SimAdmin {
        &self.state.admin
    }

    /// Replaces the active faults (counters and rates; reseeds the RNG).
    pub fn set_faults(&self, faults: FaultConfig) {
        *self
            .state
            .faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = faults::FaultState::new(faults);
    }

    /// The active faults (counters as they are now).
    pub fn faults(&self) -> FaultConfig {
        self.state
            .faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .config()
    }

    /// Whether a changes page goes on the wire while it is read (on, the
    /// default) or only once it is whole (off). Benchmarks switch it off to
    /// tell the cloud's time from the client's: with a whole answer, the
    /// time the cloud takes ends before the client reads a byte.
    pub fn set_streamed_changes(&self, on: bool) {
        self.state
            .streamed_changes
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Request counters since start or [`SimCloud::reset_stats`].
    pub fn stats(&self) -> RequestStats {
        self.state.stats.snapshot()
    }

    /// Zeroes the request counters.
    pub fn reset_stats(&self) {
        self.state.stats.reset();
    }

    /// Stops accepting connections and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
        // Open keep-alive connections may hold graceful shutdown; bound it.
        let abort = self.task.abort_handle();
        if tokio::time::timeout(std::time::Duration::from_secs(2), &mut self.task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

impl std::ops::Deref for SimCloud {
    type Target = SimAdmin;
    fn deref(&self) -> &SimAdmin {
        &self.state.admin
    }
}

impl Drop for SimCloud {
    fn drop(&mut self) {
        self.task.abort();
    }
}
