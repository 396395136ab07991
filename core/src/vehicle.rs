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
use smartcontrol_ble::client::{ClientConfig, ClientError, Connection};
use smartcontrol_ble::message::{
    ErrorCode, HintCode, Unit, VehicleTestId, VehicleTestResult as BleResult,
};
use smartcontrol_ble::security::{
    AccessGrant, Attestation, Permissions, SecurityError, SignedRevocationList,
};
use smartcontrol_ble::transport::{BleConnector, TransportError};
use smartcontrol_cloud_api::configuration::job_configuration;
use smartcontrol_cloud_api::{
    DeviceReport, Job, JobKind, JobStatus, RequiredStep, VehicleTestResult, WorkflowStepReport,
};

use crate::error::CoreError;
use crate::model::RequiredWork;
use crate::store::{meta, now_rfc3339, RunRecord, Store};
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
    /// The vehicle's own VIN and model compared with the job's.
    CheckVehicle,
    BindVehicle,
    Configure,
    Verify,
    VehicleTests,
    /// The unit signs what the run did (what the cloud trusts).
    Attest,
}

impl WorkflowStep {
    /// Machine name, as in the job report.
    pub fn name(self) -> &'static str {
        match self {
            WorkflowStep::Connect => "connect",
            WorkflowStep::Authenticate => "authenticate",
            WorkflowStep::Identify => "identify",
            WorkflowStep::CheckVehicle => "check_vehicle",
            WorkflowStep::BindVehicle => "bind_vehicle",
            WorkflowStep::Configure => "configure",
            WorkflowStep::Verify => "verify",
            WorkflowStep::VehicleTests => "vehicle_tests",
            WorkflowStep::Attest => "attest",
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
    /// Every test of the run passed.
    pub all_tests_passed: bool,
    /// Reconnections the run needed.
    pub reconnects: u32,
    /// The job's required work as this run proved it: when `done`, the
    /// job can be completed as SUCCEEDED.
    pub required_work: RequiredWork,
    /// Counter of the unit's signed attestation of this run.
    pub attestation_counter: Option<u64>,
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
        ClientError::Device(m) if m.code == ErrorCode::WrongVehicle => CoreError::WrongVehicle {
            detail: format!("the CloudBoxx refused: {}", m.detail),
        },
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
    /// The unit's signed revocation list this phone holds: handed over at
    /// every connection, so revocations reach units without coverage.
    revocations: Option<SignedRevocationList>,
}

impl Session<'_> {
    async fn open(&self) -> Result<Connection, ClientError> {
        let channel = self.connector.connect(&self.serial).await?;
        Connection::handshake_with_revocations(
            channel,
            &self.grant,
            &self.job_id,
            &self.phone_key,
            self.client,
            self.revocations.as_ref(),
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
        if let Some(reason) = self
            .inner
            .store
            .read(|c| Store::meta_get(c, meta::ACCOUNT_REMOVED))?
        {
            let pending = self.status()?.pending_actions;
            return Err(CoreError::AccountRemoved { reason, pending });
        }
        let detail = self.job(job_id)?;
        let job = detail.effective.clone();
        if detail.summary.status != JobStatus::Running
            || detail.summary.assignee_id.as_deref() != Some(me.technician_id.as_str())
        {
            return Err(CoreError::NoVehicleAccess {
                job_id: job_id.to_owned(),
                why: "the job is not your running job; claim it first".to_owned(),
            });
        }
        let no_access = |why: String| CoreError::NoVehicleAccess {
            job_id: job_id.to_owned(),
            why,
        };
        let Some(serial) = job.cloudboxx_serial.clone() else {
            return Err(no_access(
                "the job names no CloudBoxx: enter the unit's serial (type it or scan its label), \
                 then sync once while online for its access grant"
                    .to_owned(),
            ));
        };
        let entered_here = || {
            format!(
                "the CloudBoxx serial {serial} was entered on site: its access grant needs one sync \
                 while online (the cloud checks that the unit belongs to the fleet); connect to the \
                 network and sync"
            )
        };
        let entered_on_site = detail.cloud.cloudboxx_serial.is_none();
        let Some(envelope) = self.access_grant(job_id)? else {
            return Err(no_access(if entered_on_site {
                entered_here()
            } else {
                "no access grant on this device; sync while online with the job claimed".to_owned()
            }));
        };
        if envelope.not_after <= chrono::Utc::now().timestamp() {
            return Err(no_access(
                "the access grant has expired; sync while online to renew it".to_owned(),
            ));
        }
        let grant = AccessGrant::from_hex(&envelope.grant).map_err(|e| {
            no_access(format!(
                "the stored access grant is unreadable ({e}); sync to download it again"
            ))
        })?;
        if grant.fields.device_serial != serial {
            return Err(no_access(entered_here()));
        }
        let revocations = self
            .inner
            .store
            .read(|c| Store::revocation_list(c, &serial))?
            .and_then(|hex| match SignedRevocationList::from_hex(&hex) {
                Ok(l) => Some(l),
                Err(e) => {
                    tracing::warn!(error = %e, "held revocation list unreadable; not handed over");
                    None
                }
            });
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
            revocations,
        };
        let mut run = Run {
            steps: Vec::new(),
            on_event,
        };
        let result = self.workflow_steps(&session, &job, options, &mut run).await;
        // Whatever happened is kept for the report, failures included; a
        // run that ended early has no attestation, so it proves nothing.
        let (device, tests, attestation) = match &result {
            Ok(v) => (Some(&v.device), v.tests.as_slice(), Some(&v.attestation)),
            Err(_) => (None, [].as_slice(), None),
        };
        self.inner.store.save_run(
            job_id,
            &RunRecord {
                device,
                steps: &run.steps,
                tests,
                attestation,
            },
        )?;
        self.inner.events.emit(crate::Event::JobsChanged {
            job_ids: vec![job_id.to_owned()],
        });
        let done = result?;
        let required_work = self.job(job_id)?.required_work;
        Ok(WorkflowReport {
            job_id: job_id.to_owned(),
            all_tests_passed: done.tests.iter().all(|t| t.passed),
            device: done.device,
            steps: run.steps,
            tests: done.tests,
            reconnects: done.reconnects,
            required_work,
            attestation_counter: Some(done.attestation.fields.counter),
        })
    }

    async fn workflow_steps(
        &self,
        session: &Session<'_>,
        job: &Job,
        options: &WorkflowOptions,
        run: &mut Run<'_>,
    ) -> Result<RunOutcome, CoreError> {
        let mut reconnects = 0;
        run.start(WorkflowStep::Connect);
        let mut conn = match session.open().await {
            Ok(c) => c,
            Err(ClientError::Security(s)) => {
                run.done(WorkflowStep::Connect, true, "connected");
                run.done(WorkflowStep::Authenticate, false, &s.to_string());
                return Err(refused(&s));
            }
            Err(ClientError::Device(e)) if e.code.is_security() => {
                run.done(WorkflowStep::Connect, true, "connected");
                let err = device_error(&ClientError::Device(e));
                run.done(WorkflowStep::Authenticate, false, &err.to_string());
                return Err(err);
            }
            Err(e) => {
                run.done(WorkflowStep::Connect, false, &e.to_string());
                return Err(device_error(&e));
            }
        };
        run.done(WorkflowStep::Connect, true, &format!("MTU {}", conn.mtu()));
        let revocation_note = match conn.revocation_status() {
            Some(Ok(s)) => format!("; revocation list {} handed over", s.sequence),
            Some(Err(e)) => format!("; the unit refused the revocation list ({})", e.code),
            None => String::new(),
        };
        run.done(
            WorkflowStep::Authenticate,
            true,
            &format!("session encrypted{revocation_note}"),
        );

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

        // Maintenance access without configuration work does not include
        // configuring the unit: it keeps its binding and configuration, and
        // only the vehicle tests run.
        let may_configure = session
            .grant
            .fields
            .permissions
            .contains(Permissions::CONFIGURE);
        let binds = may_configure
            && (job.kind == JobKind::Installation
                || job.requirements.steps.contains(&RequiredStep::BindVehicle));

        run.start(WorkflowStep::CheckVehicle);
        let vehicle = conn
            .vehicle_info()
            .await
            .map_err(|e| run.fail(WorkflowStep::CheckVehicle, &e))?;
        match check_vehicle(job, &vehicle, &info.bound_vin, binds) {
            Ok(detail) => run.done(WorkflowStep::CheckVehicle, true, &detail),
            Err(err) => {
                run.done(WorkflowStep::CheckVehicle, false, &err.to_string());
                return Err(err);
            }
        }

        if binds {
            if let Some(vin) = job.vin.as_deref() {
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

        run.start(WorkflowStep::Attest);
        let attestation = conn
            .attest()
            .await
            .map_err(|e| run.fail(WorkflowStep::Attest, &e))?;
        run.done(
            WorkflowStep::Attest,
            true,
            &format!(
                "CloudBoxx {} signed run {}",
                attestation.fields.device_serial, attestation.fields.counter
            ),
        );
        if let Err(e) = conn.close().await {
            tracing::debug!(error = %e, "closing the BLE session");
        }
        Ok(RunOutcome {
            device,
            tests: results,
            reconnects,
            attestation,
        })
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

/// What a run that reached its end produced.
struct RunOutcome {
    device: DeviceReport,
    tests: Vec<VehicleTestResult>,
    reconnects: u32,
    attestation: Attestation,
}

/// Compares the vehicle's own identity with the job's before anything is
/// written: a mismatch stops the run with what to check. `binds`: the run
/// will bind the unit (the job must name a VIN, typed or entered).
fn check_vehicle(
    job: &Job,
    vehicle: &smartcontrol_ble::message::VehicleInfo,
    bound_vin: &str,
    binds: bool,
) -> Result<String, CoreError> {
    let reported = if vehicle.vin.is_empty() {
        "the vehicle does not report its VIN (compare it with the VIN plate)".to_owned()
    } else {
        format!("the vehicle reports VIN {}", vehicle.vin)
    };
    let Some(vin) = job.vin.as_deref() else {
        if binds {
            return Err(CoreError::InvalidSiteData {
                field: "vin".to_owned(),
                detail: format!(
                    "the job leaves the VIN to you and none is entered yet: enter the VIN from \
                     the vehicle's VIN plate (type it or scan the barcode); {reported}"
                ),
            });
        }
        return Ok(reported);
    };
    if !vehicle.vin.is_empty() && !vehicle.vin.eq_ignore_ascii_case(vin) {
        return Err(CoreError::WrongVehicle {
            detail: format!(
                "the vehicle reports VIN {}, the job's VIN is {vin}",
                vehicle.vin
            ),
        });
    }
    if let Some(model) = &job.vehicle_model {
        if !vehicle.model.is_empty() && !vehicle.model.eq_ignore_ascii_case(&model.id) {
            return Err(CoreError::WrongVehicle {
                detail: format!(
                    "the vehicle reports model {}, the job is for a {} ({})",
                    vehicle.model, model.name, model.id
                ),
            });
        }
    }
    if !binds && !bound_vin.is_empty() && !bound_vin.eq_ignore_ascii_case(vin) {
        return Err(CoreError::WrongVehicle {
            detail: format!("this CloudBoxx is bound to VIN {bound_vin}, the job's VIN is {vin}"),
        });
    }
    let model = if vehicle.model.is_empty() {
        String::new()
    } else {
        format!(", model {}", vehicle.model)
    };
    Ok(if vehicle.vin.is_empty() {
        reported
    } else {
        format!("VIN {}{model} match the job", vehicle.vin)
    })
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
