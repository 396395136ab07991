//! The on-vehicle workflow of a job: connect to the job's CloudBoxx,
//! authenticate with the job-scoped grant, identify the device, bind it to
//! the vehicle (installation), apply and verify the job's configuration, run
//! the vehicle tests, and record everything locally for the job's report.
//!
//! It runs fully offline with a grant downloaded earlier. The BLE side is
//! reached only through `smartcontrol-ble`'s `BleConnector` seam and its
//! phone-side `Connection` (the thin adapter is [`Session`] below), so the
//! same code drives the in-process simulator, the socket-served simulator
//! and the btleplug driver.

use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};
use smartcontrol_ble::client::{ClientConfig, ClientError, Connection};
use smartcontrol_ble::message::{
    ErrorCode, HintCode, Unit, VehicleTestId, VehicleTestResult as BleResult,
};
use smartcontrol_ble::security::{AccessGrant, Permissions, SecurityError};
use smartcontrol_ble::transport::{BleConnector, TransportError};
use smartcontrol_cloud_api::{
    DeviceReport, Job, JobKind, JobStatus, VehicleTestResult, WorkflowStepReport,
};

use crate::error::CoreError;
use crate::store::now_rfc3339;
use crate::SmartControl;

/// How the workflow behaves at the vehicle.
#[derive(Debug, Clone)]
pub struct WorkflowOptions {
    /// Reconnections after a dropped link before giving up (the
    /// configuration transfer resumes where the device acknowledged).
    pub reconnect_attempts: u32,
    /// Pause before a reconnection.
    pub reconnect_delay: Duration,
    /// Timing of the BLE client.
    pub client: ClientConfig,
    /// Tests to run; empty: every vehicle test.
    pub tests: Vec<VehicleTestId>,
}

impl Default for WorkflowOptions {
    fn default() -> Self {
        WorkflowOptions {
            reconnect_attempts: 3,
            reconnect_delay: Duration::from_millis(500),
            client: ClientConfig::default(),
            tests: Vec::new(),
        }
    }
}

/// A step of the workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowStep {
    Connect,
    Authenticate,
    Identify,
    BindVehicle,
    Configure,
    Verify,
    VehicleTests,
}

impl WorkflowStep {
    /// Machine name, as in the job report.
    pub fn name(self) -> &'static str {
        match self {
            WorkflowStep::Connect => "connect",
            WorkflowStep::Authenticate => "authenticate",
            WorkflowStep::Identify => "identify",
            WorkflowStep::BindVehicle => "bind_vehicle",
            WorkflowStep::Configure => "configure",
            WorkflowStep::Verify => "verify",
            WorkflowStep::VehicleTests => "vehicle_tests",
        }
    }
}

/// Progress of a running workflow, for progress bars and wizards.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WorkflowEvent {
    StepStarted {
        step: WorkflowStep,
    },
    StepDone {
        step: WorkflowStep,
        ok: bool,
        detail: String,
    },
    /// Configuration bytes the device acknowledged so far.
    ConfigProgress {
        acked: u32,
        total: u32,
        resumed_from: u32,
    },
    /// The link dropped; reconnecting (attempt `attempt`).
    Reconnecting {
        attempt: u32,
        reason: String,
    },
    TestResult {
        result: VehicleTestResult,
    },
}

/// What one run of the workflow did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkflowReport {
    pub job_id: String,
    pub device: DeviceReport,
    pub steps: Vec<WorkflowStepReport>,
    pub tests: Vec<VehicleTestResult>,
    /// Every test passed: the job can be completed as SUCCEEDED.
    pub all_tests_passed: bool,
    /// Reconnections the run needed.
    pub reconnects: u32,
}

/// The configuration a job asks for: a preset from the app's bundled
/// library, specialised with the job's vehicle data. Deterministic, so the
/// same job always yields the same bytes (and a resumed transfer matches).
pub fn job_configuration(job: &Job) -> (String, Vec<u8>) {
    let preset = job
        .cloudboxx_config_preset
        .clone()
        .unwrap_or_else(|| "standard".to_owned());
    let mut doc = String::new();
    doc.push_str("# CloudBoxx configuration\n");
    doc.push_str(&format!("preset = {preset}\n"));
    let opt = |v: Option<String>| v.unwrap_or_default();
    doc.push_str(&format!("vin = {}\n", opt(job.vin.clone())));
    doc.push_str(&format!(
        "vehicle_model = {}\n",
        opt(job.vehicle_model.as_ref().map(|m| m.id.clone()))
    ));
    doc.push_str(&format!(
        "central_lock = {}\n",
        opt(job
            .central_lock_connection_type
            .as_ref()
            .map(|t| t.to_string()))
    ));
    doc.push_str(&format!(
        "fuel_type = {}\n",
        opt(job.fuel_type.as_ref().map(|t| t.to_string()))
    ));
    doc.push_str(&format!(
        "installation_variant = {}\n",
        opt(job.installation_variant.as_ref().map(|t| t.to_string()))
    ));
    for (k, v) in &job.master_data {
        doc.push_str(&format!("master.{k} = {v}\n"));
    }
    // The preset's CAN signal table (the bulk of a real configuration):
    // 96 signal definitions derived from the preset name.
    let mut seed: [u8; 32] = Sha256::digest(preset.as_bytes()).into();
    for i in 0..96u32 {
        seed = Sha256::digest(seed).into();
        doc.push_str(&format!(
            "signal.{i:03} = id=0x{:03x} start={} len={} scale={}.{:02} offset={}\n",
            u16::from_le_bytes([seed[0], seed[1]]) & 0x7ff,
            seed[2] % 64,
            1 + seed[3] % 16,
            seed[4] % 10,
            seed[5] % 100,
            i16::from_le_bytes([seed[6], seed[7]]) % 1000,
        ));
    }
    let id = format!("{preset}-{}", &hex(&Sha256::digest(doc.as_bytes()))[..12]);
    (id, doc.into_bytes())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Wire name of a vehicle test in job reports.
pub fn test_name(t: VehicleTestId) -> &'static str {
    match t {
        VehicleTestId::CentralLockLock => "central_lock_lock",
        VehicleTestId::CentralLockUnlock => "central_lock_unlock",
        VehicleTestId::ImmobilizerDisableDriving => "immobilizer_disable_driving",
        VehicleTestId::ImmobilizerEnableDriving => "immobilizer_enable_driving",
        VehicleTestId::IgnitionState => "ignition_state",
        VehicleTestId::Mileage => "mileage",
        VehicleTestId::FuelOrChargeLevel => "fuel_or_charge_level",
        VehicleTestId::PositionFix => "position_fix",
        VehicleTestId::DoorsClosed => "doors_closed",
        VehicleTestId::KeyHolderPresent => "key_holder_present",
    }
}

/// What the technician can do about a failed test.
pub fn hint_text(h: HintCode) -> Option<String> {
    let s = match h {
        HintCode::None => return None,
        HintCode::CloseDoors => {
            "a door is open or its sensor is stuck: close all doors, check the door sensor"
        }
        HintCode::CheckImmobilizerWiring => {
            "the immobilizer does not respond: check the immobilizer relay wiring"
        }
        HintCode::MoveToOpenSky => {
            "no GNSS fix: move the vehicle under open sky or check the antenna"
        }
        HintCode::ChargeVehicleBattery => "vehicle battery low: charge it or connect a charger",
        HintCode::PlaceKeyInHolder => "key fob not detected: place the key in the key holder",
        HintCode::SwitchIgnitionOff => "switch the ignition off and retry",
        HintCode::SwitchIgnitionOn => "switch the ignition on and retry",
        HintCode::CheckCanConnection => "no vehicle bus traffic: check the CAN connection",
        HintCode::CheckLockActuator => "a lock did not move: check the lock actuator wiring",
        HintCode::CheckLevelSensor => "level implausible: check the fuel or charge signal",
        HintCode::Other(code) => {
            return Some(format!("device hint {code}: see the CloudBoxx manual"))
        }
    };
    Some(s.to_owned())
}

fn measured(r: &BleResult) -> Option<String> {
    let v = r.value;
    match r.unit {
        Unit::None => None,
        Unit::Boolean => Some(if v != 0 { "yes" } else { "no" }.to_owned()),
        Unit::Kilometers => Some(format!("{v} km")),
        Unit::Percent => Some(format!("{v} %")),
        Unit::Millivolts => Some(format!("{v} mV")),
        Unit::Satellites => Some(format!("{v} satellites")),
        Unit::Meters => Some(format!("{v} m")),
        #[allow(unreachable_patterns)]
        _ => Some(v.to_string()),
    }
}

/// A BLE test result in the job report's terms.
pub fn report_result(r: &BleResult) -> VehicleTestResult {
    VehicleTestResult {
        test: test_name(r.test).to_owned(),
        passed: r.passed,
        measured: measured(r),
        hint: hint_text(r.hint),
        at: now_rfc3339(),
    }
}

/// Maps a BLE client failure to what the technician is told.
fn device_error(e: &ClientError) -> CoreError {
    match e {
        ClientError::Security(s) => refused(s),
        ClientError::Device(m) if is_access_refusal(m.code) => CoreError::DeviceRefused {
            detail: format!("{}: {}", m.code, m.detail),
        },
        ClientError::Device(m) => CoreError::Device {
            detail: format!("the CloudBoxx reported {}: {}", m.code, m.detail),
        },
        other => CoreError::Device {
            detail: other.to_string(),
        },
    }
}

/// Device error codes that mean "you may not", not "something broke".
fn is_access_refusal(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NotAuthenticated
            | ErrorCode::PermissionDenied
            | ErrorCode::GrantExpired
            | ErrorCode::GrantNotYetValid
            | ErrorCode::BadSignature
            | ErrorCode::WrongDevice
            | ErrorCode::WrongJob
            | ErrorCode::Replay
            | ErrorCode::Reordered
            | ErrorCode::Revoked
            | ErrorCode::BadProof
            | ErrorCode::WrongVehicle
    )
}

fn refused(s: &SecurityError) -> CoreError {
    CoreError::DeviceRefused {
        detail: s.to_string(),
    }
}

/// The link broke (and a reconnection may help).
fn is_link_failure(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Transport(_) | ClientError::Interrupted { .. }
    )
}

/// Thin adapter: one authenticated BLE session with the job's CloudBoxx.
struct Session<'a> {
    connector: &'a dyn BleConnector,
    serial: String,
    job_id: String,
    grant: AccessGrant,
    phone_key: smartcontrol_ble::security::PhoneKey,
    client: ClientConfig,
}

impl Session<'_> {
    async fn open(&self) -> Result<Connection, ClientError> {
        let channel = self.connector.connect(&self.serial).await?;
        Connection::handshake(
            channel,
            &self.grant,
            &self.job_id,
            &self.phone_key,
            self.client,
        )
        .await
    }
}

impl SmartControl {
    /// Runs the on-vehicle workflow of one of the technician's RUNNING jobs
    /// against its CloudBoxx, reached through `connector`. Works offline with
    /// the grant downloaded when the job was claimed. Starts the
    /// installation if needed, records the test results and the device and
    /// step outcomes for the job's report; completing the job stays the
    /// technician's decision.
    pub async fn run_vehicle_workflow(
        &self,
        job_id: &str,
        connector: &dyn BleConnector,
        options: &WorkflowOptions,
        on_event: &(dyn Fn(WorkflowEvent) + Send + Sync),
    ) -> Result<WorkflowReport, CoreError> {
        let me = self.account()?.ok_or(CoreError::NotLoggedIn)?;
        let detail = self.job(job_id)?;
        let job = detail.cloud.clone();
        if detail.summary.status != JobStatus::Running
            || detail.summary.assignee_id.as_deref() != Some(me.technician_id.as_str())
        {
            return Err(CoreError::NoVehicleAccess {
                job_id: job_id.to_owned(),
                why: "the job is not your running job; claim it first".to_owned(),
            });
        }
        let envelope = self
            .access_grant(job_id)?
            .ok_or_else(|| CoreError::NoVehicleAccess {
                job_id: job_id.to_owned(),
                why: "no access grant on this device; sync while online with the job claimed"
                    .to_owned(),
            })?;
        if envelope.not_after <= chrono::Utc::now().timestamp() {
            return Err(CoreError::NoVehicleAccess {
                job_id: job_id.to_owned(),
                why: "the access grant has expired; sync while online to renew it".to_owned(),
            });
        }
        let grant =
            AccessGrant::from_hex(&envelope.grant).map_err(|e| CoreError::NoVehicleAccess {
                job_id: job_id.to_owned(),
                why: format!(
                    "the stored access grant is unreadable ({e}); sync to download it again"
                ),
            })?;
        let serial = grant.fields.device_serial.clone();
        if !detail.installation_started {
            self.start_installation(job_id)?;
        }
        let session = Session {
            connector,
            serial: serial.clone(),
            job_id: job_id.to_owned(),
            grant,
            phone_key: self.phone_key()?,
            client: options.client,
        };
        let mut run = Run {
            steps: Vec::new(),
            on_event,
        };
        let result = self.workflow_steps(&session, &job, options, &mut run).await;
        // Whatever happened is kept for the report, failures included.
        let (device, tests, reconnects) = match &result {
            Ok(v) => (Some(v.0.clone()), v.1.clone(), v.2),
            Err(_) => (None, Vec::new(), 0),
        };
        self.inner
            .store
            .save_workflow_report(job_id, device.as_ref(), &run.steps)?;
        if !tests.is_empty() {
            self.record_vehicle_tests(job_id, &tests)?;
        }
        let (device, tests, _) = result?;
        Ok(WorkflowReport {
            job_id: job_id.to_owned(),
            all_tests_passed: tests.iter().all(|t| t.passed),
            device,
            steps: run.steps,
            tests,
            reconnects,
        })
    }

    async fn workflow_steps(
        &self,
        session: &Session<'_>,
        job: &Job,
        options: &WorkflowOptions,
        run: &mut Run<'_>,
    ) -> Result<(DeviceReport, Vec<VehicleTestResult>, u32), CoreError> {
        let mut reconnects = 0;
        run.start(WorkflowStep::Connect);
        let mut conn = match session.open().await {
            Ok(c) => c,
            Err(ClientError::Security(s)) => {
                run.done(WorkflowStep::Connect, true, "connected");
                run.done(WorkflowStep::Authenticate, false, &s.to_string());
                return Err(refused(&s));
            }
            Err(e) => {
                run.done(WorkflowStep::Connect, false, &e.to_string());
                return Err(device_error(&e));
            }
        };
        run.done(WorkflowStep::Connect, true, &format!("MTU {}", conn.mtu()));
        run.done(WorkflowStep::Authenticate, true, "session encrypted");

        run.start(WorkflowStep::Identify);
        let info = conn
            .device_info()
            .await
            .map_err(|e| run.fail(WorkflowStep::Identify, &e))?;
        if info.serial != session.serial {
            let err = CoreError::WrongDevice {
                expected: session.serial.clone(),
                found: info.serial.clone(),
            };
            run.done(WorkflowStep::Identify, false, &err.to_string());
            return Err(err);
        }
        run.done(
            WorkflowStep::Identify,
            true,
            &format!(
                "{} firmware {} hardware {} battery {} mV",
                info.serial, info.firmware_version, info.hardware_version, info.battery_millivolts
            ),
        );
        let mut device = DeviceReport {
            serial: info.serial.clone(),
            firmware_version: info.firmware_version.clone(),
            hardware_version: info.hardware_version.clone(),
            battery_millivolts: u32::from(info.battery_millivolts),
            bound_vin: (!info.bound_vin.is_empty()).then(|| info.bound_vin.clone()),
            config_id: None,
            config_sha256: None,
        };

        // Maintenance access does not include configuring the unit: it keeps
        // its binding and configuration, and only the vehicle tests run.
        let may_configure = session
            .grant
            .fields
            .permissions
            .contains(Permissions::CONFIGURE);
        if may_configure && job.kind == JobKind::Installation {
            if let Some(vin) = job.vin.as_deref().filter(|v| !v.is_empty()) {
                run.start(WorkflowStep::BindVehicle);
                if info.bound_vin == vin {
                    run.done(WorkflowStep::BindVehicle, true, "already bound");
                } else {
                    let bound = conn
                        .bind_vehicle(vin)
                        .await
                        .map_err(|e| run.fail(WorkflowStep::BindVehicle, &e))?;
                    run.done(
                        WorkflowStep::BindVehicle,
                        true,
                        &format!("bound to {bound}"),
                    );
                    device.bound_vin = Some(bound);
                }
            }
        }

        if !may_configure {
            device.config_id =
                (!info.active_config_id.is_empty()).then(|| info.active_config_id.clone());
        } else {
            let (config_id, bytes) = job_configuration(job);
            run.start(WorkflowStep::Configure);
            if info.active_config_id == config_id {
                run.done(WorkflowStep::Configure, true, "already active");
            } else {
                let mut resumed_from = 0;
                loop {
                    let on_event = run.on_event;
                    let mut progress = |p: smartcontrol_ble::client::ConfigProgress| {
                        on_event(WorkflowEvent::ConfigProgress {
                            acked: p.acked,
                            total: p.total,
                            resumed_from: p.resumed_from,
                        });
                    };
                    match conn.write_config(&config_id, &bytes, &mut progress).await {
                        Ok(_) => break,
                        Err(e)
                            if is_link_failure(&e) && reconnects < options.reconnect_attempts =>
                        {
                            reconnects += 1;
                            if let ClientError::Interrupted { acked_offset, .. } = &e {
                                resumed_from = *acked_offset;
                            }
                            (run.on_event)(WorkflowEvent::Reconnecting {
                                attempt: reconnects,
                                reason: e.to_string(),
                            });
                            tracing::warn!(error = %e, attempt = reconnects, "link lost during configuration; reconnecting");
                            conn = self
                                .reconnect(session, options, &mut reconnects)
                                .await
                                .map_err(|e| run.fail(WorkflowStep::Configure, &e))?;
                        }
                        Err(e) => return Err(run.fail(WorkflowStep::Configure, &e)),
                    }
                }
                let detail = if resumed_from > 0 {
                    format!("{} bytes committed, resumed at {resumed_from}", bytes.len())
                } else {
                    format!("{} bytes committed", bytes.len())
                };
                run.done(WorkflowStep::Configure, true, &detail);
            }

            run.start(WorkflowStep::Verify);
            let snapshot = conn
                .read_config()
                .await
                .map_err(|e| run.fail(WorkflowStep::Verify, &e))?;
            if snapshot.config_id != config_id || snapshot.bytes != bytes {
                let err = CoreError::ConfigurationMismatch {
                    detail: format!(
                        "the device reports configuration {:?} ({} bytes), expected {config_id} ({} bytes)",
                        snapshot.config_id,
                        snapshot.bytes.len(),
                        bytes.len()
                    ),
                };
                run.done(WorkflowStep::Verify, false, &err.to_string());
                return Err(err);
            }
            run.done(
                WorkflowStep::Verify,
                true,
                "read-back matches the job's preset",
            );
            device.config_id = Some(config_id);
            device.config_sha256 = Some(hex(&snapshot.sha256));
        }

        run.start(WorkflowStep::VehicleTests);
        let tests: Vec<VehicleTestId> = if options.tests.is_empty() {
            VehicleTestId::ALL.to_vec()
        } else {
            options.tests.clone()
        };
        let mut results = Vec::new();
        for t in tests {
            let r = conn
                .run_test(t)
                .await
                .map_err(|e| run.fail(WorkflowStep::VehicleTests, &e))?;
            let result = report_result(&r);
            (run.on_event)(WorkflowEvent::TestResult {
                result: result.clone(),
            });
            results.push(result);
        }
        let failed = results.iter().filter(|r| !r.passed).count();
        run.done(
            WorkflowStep::VehicleTests,
            failed == 0,
            &format!("{} passed, {failed} failed", results.len() - failed),
        );
        if let Err(e) = conn.close().await {
            tracing::debug!(error = %e, "closing the BLE session");
        }
        Ok((device, results, reconnects))
    }

    async fn reconnect(
        &self,
        session: &Session<'_>,
        options: &WorkflowOptions,
        reconnects: &mut u32,
    ) -> Result<Connection, ClientError> {
        loop {
            tokio::time::sleep(options.reconnect_delay).await;
            match session.open().await {
                Ok(c) => return Ok(c),
                Err(e) if is_link_failure(&e) && *reconnects < options.reconnect_attempts => {
                    *reconnects += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Step bookkeeping of one run.
struct Run<'a> {
    steps: Vec<WorkflowStepReport>,
    on_event: &'a (dyn Fn(WorkflowEvent) + Send + Sync),
}

impl Run<'_> {
    fn start(&self, step: WorkflowStep) {
        (self.on_event)(WorkflowEvent::StepStarted { step });
    }

    fn done(&mut self, step: WorkflowStep, ok: bool, detail: &str) {
        self.steps.push(WorkflowStepReport {
            step: step.name().to_owned(),
            ok,
            detail: detail.to_owned(),
            at: now_rfc3339(),
        });
        (self.on_event)(WorkflowEvent::StepDone {
            step,
            ok,
            detail: detail.to_owned(),
        });
    }

    fn fail(&mut self, step: WorkflowStep, e: &ClientError) -> CoreError {
        self.done(step, false, &e.to_string());
        device_error(e)
    }
}

impl From<TransportError> for CoreError {
    fn from(e: TransportError) -> Self {
        CoreError::Device {
            detail: e.to_string(),
        }
    }
}
