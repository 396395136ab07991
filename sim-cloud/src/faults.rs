//! Fault injection on the technician-facing routes and request counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::SimError;

/// What goes wrong, and how often, on `/api/v1/auth/*` and
/// `/api/v1/technician/*`. Deterministic counters take precedence over the
/// seeded rates.
#[derive(Clone, Default, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultConfig {
    /// Delay before every request is handled.
    pub latency_ms: u64,
    /// Probability of answering 503 `unavailable` without handling.
    pub error_rate: f64,
    /// Probability of aborting the connection before handling.
    pub reset_rate: f64,
    /// Probability of handling (and committing) the request, then aborting
    /// the connection instead of answering.
    pub drop_response_rate: f64,
    /// The next N requests answer 503 `unavailable`.
    pub fail_next: u32,
    /// The next N requests abort the connection before handling.
    pub reset_next: u32,
    /// The next N requests are handled, then the connection is aborted.
    pub drop_response_next: u32,
    /// The next N requests are handled (and committed) at once, then their
    /// answer is held back `slow_answer_ms` (a slow link on the way back).
    pub slow_answer_next: u32,
    /// How long `slow_answer_next` holds an answer back.
    pub slow_answer_ms: u64,
    /// Seed of the random rates (none: from the OS).
    pub seed: Option<u64>,
    /// Only requests to these paths (e.g. `/api/v1/auth/refresh`) get the
    /// faults and the latency, and only they count down the `*_next`
    /// counters; empty: every faulted route.
    pub paths: Vec<String>,
}

/// Largest `latency_ms` and `slow_answer_ms` accepted.
pub const MAX_LATENCY_MS: u64 = 60_000;
/// Largest `fail_next`, `reset_next`, `drop_response_next` and `slow_answer_next` accepted.
pub const MAX_FAULT_COUNT: u32 = 100_000;

impl FaultConfig {
    /// Checks the ranges: rates from 0 to 1, `latency_ms` up to
    /// [`MAX_LATENCY_MS`], counters up to [`MAX_FAULT_COUNT`]; 400 naming
    /// the field otherwise.
    pub fn validate(&self) -> Result<(), SimError> {
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("reset_rate", self.reset_rate),
            ("drop_response_rate", self.drop_response_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(SimError::bad_request(format!(
                    "{name} is {rate}: give a probability from 0 to 1"
                )));
            }
        }
        for (name, ms) in [
            ("latency_ms", self.latency_ms),
            ("slow_answer_ms", self.slow_answer_ms),
        ] {
            if ms > MAX_LATENCY_MS {
                return Err(SimError::bad_request(format!(
                    "{name} is {ms}: give at most {MAX_LATENCY_MS}"
                )));
            }
        }
        for (name, n) in [
            ("fail_next", self.fail_next),
            ("reset_next", self.reset_next),
            ("drop_response_next", self.drop_response_next),
            ("slow_answer_next", self.slow_answer_next),
        ] {
            if n > MAX_FAULT_COUNT {
                return Err(SimError::bad_request(format!(
                    "{name} is {n}: give at most {MAX_FAULT_COUNT}"
                )));
            }
        }
        Ok(())
    }
}

/// Counters of handled requests (since start or the last reset).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestStats {
    /// Every request except `/_sim/*`.
    pub total: u64,
    /// `POST /api/v1/auth/login`.
    pub login: u64,
    /// `POST /api/v1/auth/refresh`.
    pub refresh: u64,
    /// `GET /api/v1/technician/changes`.
    pub changes: u64,
    /// `POST /api/v1/technician/actions`.
    pub actions: u64,
}

/// Request counters shared by the server and the handle.
#[derive(Default, Debug)]
pub(crate) struct Stats {
    total: AtomicU64,
    login: AtomicU64,
    refresh: AtomicU64,
    changes: AtomicU64,
    actions: AtomicU64,
}

impl Stats {
    pub(crate) fn snapshot(&self) -> RequestStats {
        RequestStats {
            total: self.total.load(Ordering::SeqCst),
            login: self.login.load(Ordering::SeqCst),
            refresh: self.refresh.load(Ordering::SeqCst),
            changes: self.changes.load(Ordering::SeqCst),
            actions: self.actions.load(Ordering::SeqCst),
        }
    }
    pub(crate) fn reset(&self) {
        for c in [
            &self.total,
            &self.login,
            &self.refresh,
            &self.changes,
            &self.actions,
        ] {
            c.store(0, Ordering::SeqCst);
        }
    }
    fn count(&self, path: &str) {
        if path.starts_with("/_sim/") {
            return;
        }
        self.total.fetch_add(1, Ordering::SeqCst);
        let c = match path {
            smartcontrol_cloud_api::LOGIN_PATH => &self.login,
            smartcontrol_cloud_api::REFRESH_PATH => &self.refresh,
            smartcontrol_cloud_api::CHANGES_PATH => &self.changes,
            smartcontrol_cloud_api::ACTIONS_PATH => &self.actions,
            _ => return,
        };
        c.fetch_add(1, Ordering::SeqCst);
    }
}

/// One request's fate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    Fail,
    Reset,
    DropResponse,
    SlowAnswer(u64),
}

/// The active configuration with its random source.
pub(crate) struct FaultState {
    config: FaultConfig,
    rng: StdRng,
}

impl FaultState {
    pub(crate) fn new(config: FaultConfig) -> Self {
        let rng = match config.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_os_rng(),
        };
        FaultState { config, rng }
    }
    pub(crate) fn config(&self) -> FaultConfig {
        self.config.clone()
    }
    fn decide(&mut self, path: &str) -> (u64, Fault) {
        if !self.config.paths.is_empty() && !self.config.paths.iter().any(|p| p == path) {
            return (0, Fault::None);
        }
        let c = &mut self.config;
        let fault = if c.fail_next > 0 {
            c.fail_next -= 1;
            Fault::Fail
        } else if c.reset_next > 0 {
            c.reset_next -= 1;
            Fault::Reset
        } else if c.drop_response_next > 0 {
            c.drop_response_next -= 1;
            Fault::DropResponse
        } else if c.slow_answer_next > 0 {
            c.slow_answer_next -= 1;
            Fault::SlowAnswer(c.slow_answer_ms)
        } else if c.reset_rate > 0.0 && self.rng.random_bool(c.reset_rate.clamp(0.0, 1.0)) {
            Fault::Reset
        } else if c.error_rate > 0.0 && self.rng.random_bool(c.error_rate.clamp(0.0, 1.0)) {
            Fault::Fail
        } else if c.drop_response_rate > 0.0
            && self.rng.random_bool(c.drop_response_rate.clamp(0.0, 1.0))
        {
            Fault::DropResponse
        } else {
            Fault::None
        };
        (self.config.latency_ms, fault)
    }
}

/// Shared fault state.
pub(crate) type SharedFaults = Arc<Mutex<FaultState>>;

/// A response whose body fails at once: hyper aborts the connection and
/// the client sees a transport error instead of an answer.
fn aborting_response() -> Response {
    let stream = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated connection reset",
        ))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = StatusCode::OK;
    resp
}

/// Middleware: applies the configured faults to one request.
pub(crate) async fn fault_layer(
    State(faults): State<SharedFaults>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_owned();
    let (latency, fault) = faults
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .decide(&path);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    match fault {
        Fault::None => next.run(req).await,
        Fault::Fail => {
            tracing::info!(%path, "fault: 503");
            SimError::new(503, "unavailable", "simulated outage").into_response()
        }
        Fault::Reset => {
            tracing::info!(%path, "fault: connection reset before handling");
            aborting_response()
        }
        Fault::DropResponse => {
            let resp = next.run(req).await;
            tracing::info!(%path, status = %resp.status(), "fault: response dropped after handling");
            drop(resp);
            aborting_response()
        }
        Fault::SlowAnswer(ms) => {
            let resp = next.run(req).await;
            tracing::info!(%path, status = %resp.status(), ms, "fault: answer held back after handling");
            tokio::time::sleep(Duration::from_millis(ms)).await;
            resp
        }
    }
}

/// Middleware: counts requests.
pub(crate) async fn stats_layer(
    State(stats): State<Arc<Stats>>,
    req: Request,
    next: Next,
) -> Response {
    stats.count(req.uri().path());
    next.run(req).await
}
