//! HTTP client of the cloud's technician API (reqwest), with typed errors
//! and retries with exponential backoff and jitter for transient failures.
//!
//! Bytes on the wire: every request offers `Accept-Encoding: gzip, zstd`
//! (reqwest decompresses the answer), and push bodies go out compressed with
//! zstd (`Content-Encoding: zstd`). The JSON is the documented one.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use smartcontrol_cloud_api as api;

/// Why a request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum ClientError {
    /// The request did not complete: no route, refused, reset, timeout, or
    /// the response was cut off. The cloud may or may not have acted.
    #[error("network: {0}")]
    Transport(String),
    /// The cloud answered with an error status.
    #[error("HTTP {status}: {code}: {message}")]
    Http {
        status: u16,
        code: String,
        message: String,
    },
    /// The cloud answered 2xx with a body that is not what the API says.
    #[error("malformed response: {0}")]
    Malformed(String),
}

impl ClientError {
    /// Worth retrying: network trouble, 5xx, 429.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            ClientError::Transport(_) => true,
            ClientError::Http { status, .. } => *status >= 500 || *status == 429,
            ClientError::Malformed(_) => false,
        }
    }

    /// The access token is no longer accepted.
    pub(crate) fn is_unauthorized(&self) -> bool {
        matches!(self, ClientError::Http { status: 401, .. })
    }

    pub(crate) fn code(&self) -> Option<&str> {
        match self {
            ClientError::Http { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// How often and how patiently transient failures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// Delay before try `n + 1` (n >= 1): exponential, capped, with "full
    /// jitter" (uniform in [delay/2, delay]) so many phones coming back
    /// online at once do not retry in lockstep.
    pub fn delay(&self, n: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(n.saturating_sub(1)));
        let capped = exp.min(self.max_delay);
        let half = capped / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(rand::rng().random_range(0..=jitter_ms))
    }

    /// Runs `op` until it succeeds, fails for good, or the tries run out.
    pub(crate) async fn run<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T, ClientError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let mut n = 1;
        loop {
            match op().await {
                Err(e) if e.is_transient() && n < self.attempts => {
                    let delay = self.delay(n);
                    tracing::info!(what, attempt = n, error = %e, ?delay, "transient failure, retrying");
                    tokio::time::sleep(delay).await;
                    n += 1;
                }
                other => return other,
            }
        }
    }
}

/// A job of the changes feed with its JSON as the cloud sent it: the store
/// keeps that text as the cloud's copy (`server_json`), so a sync parses
/// each job once and never serialises it again.
#[derive(Debug)]
pub(crate) struct WireJob {
    pub job: api::Job,
    pub json: Box<RawValue>,
}

impl<'de> Deserialize<'de> for WireJob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<WireJob, D::Error> {
        let json = Box::<RawValue>::deserialize(d)?;
        let job = serde_json::from_str(json.get()).map_err(serde::de::Error::custom)?;
        Ok(WireJob { job, json })
    }
}

/// What the phone holds, told to the changes feed so the cloud sends only
/// grants and revocation lists the phone lacks.
#[derive(Debug, Clone, Default)]
pub(crate) struct Held {
    pub grants: Vec<String>,
    pub revocations: Vec<(String, u64)>,
}

/// The technician API of one cloud.
#[derive(Clone)]
pub(crate) struct CloudClient {
    http: reqwest::Client,
    base: String,
    /// Requests sent so far (each retry counts).
    requests: Arc<AtomicU64>,
}

impl CloudClient {
    pub(crate) fn new(base_url: &str, timeout: Duration) -> Result<CloudClient, ClientError> {
        let http = reqwest::Client::builder()
            .gzip(true)
            .zstd(true)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("smartcontrol-core/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        Ok(CloudClient {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            requests: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Requests sent so far by this client and its clones.
    pub(crate) fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub(crate) async fn login(
        &self,
        req: &api::LoginRequest,
    ) -> Result<api::TokenResponse, ClientError> {
        self.send(self.http.post(self.url(api::LOGIN_PATH)).json(req))
            .await
    }

    pub(crate) async fn refresh(
        &self,
        refresh_token: &str,
    ) -> Result<api::TokenResponse, ClientError> {
        let req = api::RefreshRequest {
            refresh_token: refresh_token.to_owned(),
        };
        self.send(self.http.post(self.url(api::REFRESH_PATH)).json(&req))
            .await
    }

    pub(crate) async fn changes(
        &self,
        token: &str,
        since: Option<&str>,
        limit: usize,
        held: &Held,
    ) -> Result<api::ChangesResponse<WireJob>, ClientError> {
        let mut req = self
            .http
            .get(self.url(api::CHANGES_PATH))
            .bearer_auth(token)
            .query(&[("limit", limit)]);
        if let Some(since) = since {
            req = req.query(&[("since", since)]);
        }
        if !held.grants.is_empty() {
            req = req.query(&[(api::HELD_GRANTS_PARAM, held.grants.join(","))]);
        }
        if !held.revocations.is_empty() {
            let lists: Vec<String> = held
                .revocations
                .iter()
                .map(|(serial, seq)| format!("{serial}:{seq}"))
                .collect();
            req = req.query(&[(api::HELD_REVOCATIONS_PARAM, lists.join(","))]);
        }
        // A page of up to 10,000 jobs: parsed while it streams in, each job
        // as its last byte arrives (`page_reader`), so that a slow link
        // hides the parsing and only the page's last bytes are left after
        // the transfer.
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut resp = req
            .send()
            .await
            .map_err(|e| ClientError::Transport(error_chain(&e)))?;
        let status = resp.status();
        if !status.is_success() {
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| ClientError::Transport(error_chain(&e)))?;
            return Err(http_error(status, &bytes));
        }
        let mut page = super::page_reader::PageReader::default();
        // Reading the body can fail mid-way (connection reset): transport.
        while let Some(piece) = resp
            .chunk()
            .await
            .map_err(|e| ClientError::Transport(error_chain(&e)))?
        {
            page.feed(&piece)
                .map_err(|e| ClientError::Malformed(e.to_string()))?;
        }
        page.finish()
            .map_err(|e| ClientError::Malformed(e.to_string()))
    }

    pub(crate) async fn vehicle_models(
        &self,
        token: &str,
    ) -> Result<api::site::VehicleCatalogue, ClientError> {
        self.send(
            self.http
                .get(self.url(api::VEHICLE_MODELS_PATH))
                .bearer_auth(token),
        )
        .await
    }

    pub(crate) async fn push(
        &self,
        token: &str,
        body: &[u8],
    ) -> Result<api::PushActionsResponse, ClientError> {
        self.send(
            self.http
                .post(self.url(api::ACTIONS_PATH))
                .bearer_auth(token)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::CONTENT_ENCODING, "zstd")
                .body(body.to_vec()),
        )
        .await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let resp = req
            .send()
            .await
            .map_err(|e| ClientError::Transport(error_chain(&e)))?;
        let status = resp.status();
        // Reading the body can fail mid-way (connection reset): transport.
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(error_chain(&e)))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| ClientError::Malformed(e.to_string()));
        }
        Err(http_error(status, &bytes))
    }
}

/// The error of an answer with an error status and body `bytes` (an
/// `ApiError`, or whatever else came).
fn http_error(status: reqwest::StatusCode, bytes: &[u8]) -> ClientError {
    let (code, message) = match serde_json::from_slice::<api::ApiError>(bytes) {
        Ok(e) => (e.error, e.message),
        Err(_) => (
            status
                .canonical_reason()
                .unwrap_or("error")
                .to_lowercase()
                .replace(' ', "_"),
            String::from_utf8_lossy(bytes).chars().take(200).collect(),
        ),
    };
    ClientError::Http {
        status: status.as_u16(),
        code,
        message,
    }
}

/// A push body as sent: the request's JSON, compressed with zstd (level 3:
/// queued actions repeat field names and ids, a few percent of the JSON).
pub(crate) fn push_body(body: &api::PushActionsRequest) -> Result<Vec<u8>, crate::error::Error> {
    let json = serde_json::to_vec(body)?;
    Ok(zstd::bulk::compress(&json, PUSH_ZSTD_LEVEL)?)
}

/// zstd level of push bodies: zstd's default, fast on a phone.
const PUSH_ZSTD_LEVEL: i32 = 3;

/// The error and its sources on one line (reqwest hides the useful part).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let p = RetryPolicy {
            attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        for _ in 0..50 {
            let d1 = p.delay(1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d3 = p.delay(3);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
            let d9 = p.delay(9);
            assert!(d9 >= Duration::from_millis(500) && d9 <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn transient_classification() {
        assert!(ClientError::Transport("reset".into()).is_transient());
        let http = |status| ClientError::Http {
            status,
            code: "x".into(),
            message: String::new(),
        };
        assert!(http(503).is_transient());
        assert!(http(429).is_transient());
        assert!(!http(400).is_transient());
        assert!(!http(401).is_transient());
        assert!(http(401).is_unauthorized());
        assert!(!ClientError::Malformed("x".into()).is_transient());
    }
}
