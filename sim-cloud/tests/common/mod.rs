//! Helpers of the HTTP tests: a started cloud with demo data and a small
//! typed client.
#![allow(dead_code, clippy::unwrap_used)]

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use smartcontrol_ble::message::{HintCode, Unit, VehicleTestId, VehicleTestResult};
use smartcontrol_ble::security::{
    simulated_device_key, Attestation, AttestationFields, PhoneKey, SigningKey,
};
use smartcontrol_cloud_api::{
    AccessGrantEnvelope, Action, ActionOutcome, ActionRequest, ActionResult, ApiError,
    ChangesResponse, Job, JobReport, PushActionsRequest, PushActionsResponse, TokenResponse,
};
use smartcontrol_sim_cloud::{seed_demo, DemoSeed, SimCloud, SimCloudConfig};

/// A started cloud with the demo world.
pub struct World {
    pub cloud: SimCloud,
    pub seed: DemoSeed,
    pub http: Client,
}

pub async fn world() -> World {
    let cloud = SimCloud::start(SimCloudConfig::default()).await.unwrap();
    let seed = seed_demo(cloud.admin()).unwrap();
    World {
        cloud,
        seed,
        http: Client::new(),
    }
}

impl World {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.cloud.base_url(), path)
    }

    /// Any request; returns status and JSON body (Null when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut rb = self.http.request(method, self.url(path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, v)
    }

    pub async fn login_full(
        &self,
        email: &str,
        password: &str,
        totp: Option<&str>,
    ) -> Result<TokenResponse, (StatusCode, ApiError)> {
        let mut body = json!({"email": email, "password": password});
        if let Some(t) = totp {
            body["totp"] = json!(t);
        }
        let (s, v) = self
            .call(Method::POST, "/api/v1/auth/login", None, Some(body))
            .await;
        if s.is_success() {
            Ok(serde_json::from_value(v).unwrap())
        } else {
            Err((s, serde_json::from_value(v).unwrap()))
        }
    }

    /// Access token of a password-only demo account.
    pub async fn token(&self, email: &str) -> String {
        self.login_full(email, "demo", None)
            .await
            .unwrap()
            .access_token
    }

    /// Login result of a password-only demo account.
    pub async fn token_result(&self, email: &str) -> Result<String, (StatusCode, ApiError)> {
        self.login_full(email, "demo", None)
            .await
            .map(|t| t.access_token)
    }

    /// Access token of Ben (TOTP).
    pub async fn ben(&self) -> String {
        let code = smartcontrol_sim_cloud::current_totp_code(&self.seed.totp_secret).unwrap();
        self.login_full(&self.seed.ben_email, "demo", Some(&code))
            .await
            .unwrap()
            .access_token
    }

    pub async fn changes(&self, token: &str, since: &str, limit: Option<usize>) -> ChangesResponse {
        let mut path = format!("/api/v1/technician/changes?since={since}");
        if let Some(l) = limit {
            path.push_str(&format!("&limit={l}"));
        }
        let (s, v) = self.call(Method::GET, &path, Some(token), None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        serde_json::from_value(v).unwrap()
    }

    pub async fn push(&self, token: &str, actions: Vec<ActionRequest>) -> Vec<ActionResult> {
        let (s, v) = self
            .call(
                Method::POST,
                "/api/v1/technician/actions",
                Some(token),
                Some(serde_json::to_value(PushActionsRequest { actions }).unwrap()),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        serde_json::from_value::<PushActionsResponse>(v)
            .unwrap()
            .results
    }

    pub async fn push_one(&self, token: &str, job_id: &str, action: Action) -> ActionResult {
        self.push(token, vec![act(job_id, action)])
            .await
            .pop()
            .unwrap()
    }
}

pub fn act(job_id: &str, action: Action) -> ActionRequest {
    ActionRequest {
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        job_id: job_id.to_owned(),
        base_version: 0,
        performed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        action,
    }
}

pub fn applied(r: &ActionResult) -> &Job {
    match &r.outcome {
        ActionOutcome::Applied { job, .. } => job,
        other => panic!("expected APPLIED, got {other:?}"),
    }
}

pub fn rejected(r: &ActionResult) -> String {
    match &r.outcome {
        ActionOutcome::Rejected { reason, .. } => reason.as_str().to_owned(),
        other => panic!("expected REJECTED, got {other:?}"),
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn phone(n: u8) -> PhoneKey {
    PhoneKey::from_seed(&[n; 32])
}

pub async fn login_with_key(w: &World, email: &str, key: Option<&PhoneKey>) -> TokenResponse {
    let mut body = json!({"email": email, "password": "demo"});
    if email == w.seed.ben_email {
        body["totp"] =
            json!(smartcontrol_sim_cloud::current_totp_code(&w.seed.totp_secret).unwrap());
    }
    if let Some(k) = key {
        body["phone_public_key"] = json!(hex(&k.public_key()));
    }
    let (s, v) = w
        .call(Method::POST, "/api/v1/auth/login", None, Some(body))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    serde_json::from_value(v).unwrap()
}

/// An access token of a session that sent a phone key (grants are issued).
pub async fn token_with_key(w: &World, email: &str, key: &PhoneKey) -> String {
    login_with_key(w, email, Some(key)).await.access_token
}

pub fn grant_of(r: &ActionResult) -> AccessGrantEnvelope {
    match &r.outcome {
        ActionOutcome::Applied { grant: Some(g), .. } => g.clone(),
        other => panic!("expected APPLIED with a grant, got {other:?}"),
    }
}

/// What a run of `job`'s own unit attests: bound to the job's VIN in the
/// job's vehicle, the job's configuration active and read back, and `tests`
/// with their outcomes; under `grant`, with the unit's `counter`.
pub fn run_fields(
    w: &World,
    job_id: &str,
    grant: &AccessGrantEnvelope,
    counter: u64,
    tests: &[(VehicleTestId, bool)],
) -> AttestationFields {
    let job = w.cloud.job(job_id).unwrap().job.effective();
    let sha = smartcontrol_cloud_api::configuration::job_configuration_sha256(&job);
    let (config_id, _) = smartcontrol_cloud_api::configuration::job_configuration(&job);
    let vin = job.vin.clone().unwrap_or_default();
    let grant_id: [u8; 16] = smartcontrol_ble::security::from_hex(&grant.grant_id)
        .unwrap()
        .try_into()
        .unwrap();
    AttestationFields {
        device_serial: job.cloudboxx_serial.clone().unwrap(),
        job_id: job_id.to_owned(),
        grant_id,
        counter,
        device_time: 0,
        vehicle_vin: vin.clone(),
        vehicle_model: job
            .vehicle_model
            .as_ref()
            .map(|m| m.id.clone())
            .unwrap_or_default(),
        bound_vin: vin,
        config_id,
        config_sha256: Some(sha),
        read_back_sha256: Some(sha),
        tests: tests
            .iter()
            .map(|(t, passed)| VehicleTestResult {
                test: *t,
                passed: *passed,
                unit: Unit::None,
                value: 0,
                hint: if *passed {
                    HintCode::None
                } else {
                    HintCode::CloseDoors
                },
            })
            .collect(),
    }
}

/// `fields` signed with `key`, as hex (what a report carries).
pub fn signed(fields: AttestationFields, key: &SigningKey) -> String {
    Attestation::sign(fields, key).unwrap().to_hex()
}

/// A report of a run that did all of `job_id`'s required work, signed by
/// the job's unit (its simulated key, as the demo registers it).
pub fn full_report(
    w: &World,
    job_id: &str,
    grant: &AccessGrantEnvelope,
    counter: u64,
) -> JobReport {
    let job = w.cloud.job(job_id).unwrap().job;
    let tests: Vec<(VehicleTestId, bool)> = job
        .requirements
        .vehicle_tests
        .iter()
        .map(|n| (VehicleTestId::from_name(n).unwrap(), true))
        .collect();
    let fields = run_fields(w, job_id, grant, counter, &tests);
    let key = simulated_device_key(&fields.device_serial);
    JobReport {
        attestation: Some(signed(fields, &key)),
        ..JobReport::default()
    }
}
