//! The simulated unit's own cellular link to the fleet cloud. A real
//! CloudBoxx has an LTE-M modem; while it has coverage it fetches the
//! fleet's signed revocation list for itself, so a withdrawn grant stops
//! working even if no phone ever connects. Here the link is HTTP to
//! sim-cloud's `GET /api/v1/devices/{serial}/revocation-list` (no token:
//! the list is signed by the fleet key, which the unit verifies), and its
//! coverage is a switch QA scenarios and tests turn on and off.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Deserialize;
use smartcontrol_ble::security::{SecurityError, SignedRevocationList};
use thiserror::Error;

/// Default interval between revocation polls while coverage is up.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(30);

/// How a unit reaches the fleet cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellularConfig {
    /// Base URL of the fleet cloud, e.g. `http://127.0.0.1:8080`.
    pub cloud_url: String,
    /// Coverage at start.
    pub up: bool,
    /// Interval between polls while covered.
    pub poll_interval: Duration,
}

impl CellularConfig {
    /// Covered, polling every [`DEFAULT_POLL_INTERVAL`].
    pub fn new(cloud_url: impl Into<String>) -> Self {
        Self {
            cloud_url: cloud_url.into(),
            up: true,
            poll_interval: DEFAULT_POLL_INTERVAL,
        }
    }
}

/// Why a fetch over the cellular link did not update the unit.
#[derive(Debug, Error)]
pub enum CellularError {
    /// The unit has no cellular link configured.
    #[error("this unit has no cellular link configured")]
    NotConfigured,
    /// No coverage right now.
    #[error("no cellular coverage")]
    NoCoverage,
    /// The request failed or the cloud answered with an error.
    #[error("fleet cloud unreachable or failing: {0}")]
    Http(String),
    /// The answer is not a revocation list.
    #[error("the fleet cloud sent no readable revocation list: {0}")]
    Malformed(String),
    /// The list does not verify for this unit (signature, serial).
    #[error("revocation list refused: {0}")]
    Refused(SecurityError),
}

#[derive(Deserialize)]
struct Envelope {
    list: String,
}

/// A unit's link (coverage switch and HTTP client).
#[derive(Debug)]
pub(crate) struct Cellular {
    config: CellularConfig,
    up: AtomicBool,
    http: reqwest::Client,
}

impl Cellular {
    pub(crate) fn new(config: CellularConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self {
            up: AtomicBool::new(config.up),
            config,
            http,
        }
    }

    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }

    pub(crate) fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
        tracing::info!(up, "cellular coverage switched");
    }

    pub(crate) fn poll_interval(&self) -> Duration {
        self.config.poll_interval
    }

    /// One request for the unit's current list.
    pub(crate) async fn fetch(&self, serial: &str) -> Result<SignedRevocationList, CellularError> {
        if !self.is_up() {
            return Err(CellularError::NoCoverage);
        }
        let url = format!(
            "{}/api/v1/devices/{serial}/revocation-list",
            self.config.cloud_url.trim_end_matches('/')
        );
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| CellularError::Http(e.to_string()))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| CellularError::Http(e.to_string()))?;
        if !status.is_success() {
            return Err(CellularError::Http(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            )));
        }
        let env: Envelope =
            serde_json::from_slice(&body).map_err(|e| CellularError::Malformed(e.to_string()))?;
        SignedRevocationList::from_hex(&env.list)
            .map_err(|e| CellularError::Malformed(e.to_string()))
    }
}
