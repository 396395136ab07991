//! A job's required work and how a device attestation proves it: the one
//! rule book the app (before it queues SUCCEEDED) and the cloud (before it
//! accepts it) both apply.
//!
//! A job requires workflow steps (an installation: bind, configure and
//! verify by read-back on its bound CloudBoxx) and a set of vehicle tests.
//! SUCCEEDED needs every one of them in the **latest** run on the job's own
//! device, as that device attested it ([`smartcontrol_ble::security::Attestation`]);
//! FAILED with a comment never depends on it.

use serde::{Deserialize, Serialize};
use smartcontrol_ble::message::VehicleTestId;
use smartcontrol_ble::security::AttestationFields;

use crate::{Job, JobKind};

open_enum! {
    /// A step of the on-vehicle workflow a job can require.
    RequiredStep {
        /// The job's own CloudBoxx was reached, authenticated and attested.
        Identify => "identify",
        /// The unit is bound to the job's VIN, which is the vehicle's own.
        BindVehicle => "bind_vehicle",
        /// The unit's active configuration is the job's.
        Configure => "configure",
        /// The configuration was read back from the unit in the run.
        Verify => "verify",
    }
}

/// What must be done before a job may SUCCEED.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRequirements {
    /// Workflow steps, in workflow order.
    #[serde(default)]
    pub steps: Vec<RequiredStep>,
    /// Vehicle tests (wire names, e.g. `central_lock_lock`) that must pass.
    #[serde(default)]
    pub vehicle_tests: Vec<String>,
}

/// The tests an installation requires when the provider does not choose:
/// every test the CloudBoxx can run.
pub fn default_installation_tests() -> Vec<String> {
    VehicleTestId::ALL
        .iter()
        .map(|t| t.name().to_owned())
        .collect()
}

impl JobRequirements {
    /// The documented default of a kind: an INSTALLATION requires
    /// bind_vehicle, configure and verify and every vehicle test; a
    /// MAINTENANCE visit requires identify (the job's own unit was reached)
    /// and no test. Other kinds require nothing.
    pub fn default_for(kind: &JobKind) -> JobRequirements {
        match kind {
            JobKind::Installation => JobRequirements {
                steps: vec![
                    RequiredStep::BindVehicle,
                    RequiredStep::Configure,
                    RequiredStep::Verify,
                ],
                vehicle_tests: default_installation_tests(),
            },
            JobKind::Maintenance => JobRequirements {
                steps: vec![RequiredStep::Identify],
                vehicle_tests: Vec::new(),
            },
            JobKind::Other(_) => JobRequirements::default(),
        }
    }

    /// Nothing is required.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty() && self.vehicle_tests.is_empty()
    }

    /// Whether the work writes to the unit (the grant then carries the
    /// CONFIGURE permission).
    pub fn needs_configure(&self) -> bool {
        self.steps.iter().any(|s| {
            matches!(
                s,
                RequiredStep::BindVehicle | RequiredStep::Configure | RequiredStep::Verify
            )
        })
    }

    /// The required tests as protocol ids; an unknown name is an error
    /// message naming it.
    pub fn test_ids(&self) -> Result<Vec<VehicleTestId>, String> {
        self.vehicle_tests
            .iter()
            .map(|n| {
                VehicleTestId::from_name(n).ok_or_else(|| {
                    format!(
                        "unknown vehicle test {n:?}; known: {}",
                        default_installation_tests().join(", ")
                    )
                })
            })
            .collect()
    }

    /// Checks the names (unknown steps or tests, duplicates): a message for
    /// people, or Ok.
    pub fn validate(&self) -> Result<(), String> {
        for s in &self.steps {
            if let RequiredStep::Other(v) = s {
                return Err(format!(
                    "unknown required step {v:?}; known: identify, bind_vehicle, configure, verify"
                ));
            }
        }
        self.test_ids()?;
        let mut names = self.vehicle_tests.clone();
        names.sort();
        names.dedup();
        if names.len() != self.vehicle_tests.len() {
            return Err("a required vehicle test is listed twice".into());
        }
        Ok(())
    }
}

/// One piece of required work the latest run did not prove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MissingWork {
    /// No attested run on the device exists for the job.
    NoRun,
    /// The attestation is of another device than the job's.
    WrongDevice { expected: String, found: String },
    /// The attestation is of another job.
    WrongJob { found: String },
    /// A required step was not achieved.
    Step { step: RequiredStep, why: String },
    /// A required test did not pass in the latest run.
    Test { test: String, why: String },
}

impl std::fmt::Display for MissingWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MissingWork::NoRun => f.write_str(
                "no on-vehicle run of the job's CloudBoxx is recorded (run the on-vehicle workflow)",
            ),
            MissingWork::WrongDevice { expected, found } => write!(
                f,
                "the latest run was on CloudBoxx {found}, the job's unit is {expected}"
            ),
            MissingWork::WrongJob { found } => {
                write!(f, "the latest run's attestation is for job {found}")
            }
            MissingWork::Step { step, why } => write!(f, "step {step}: {why}"),
            MissingWork::Test { test, why } => write!(f, "test {test}: {why}"),
        }
    }
}

/// Joins missing work into one sentence for a refusal.
pub fn describe_missing(missing: &[MissingWork]) -> String {
    missing
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// What the latest attested run (`run`, already verified by the caller
/// when it is the cloud) leaves missing of `job`'s requirements. `job` is
/// the job as it stands with the technician's site data (see
/// [`Job::effective`]). Empty: SUCCEEDED is allowed.
pub fn missing_work(job: &Job, run: Option<&AttestationFields>) -> Vec<MissingWork> {
    let req = &job.requirements;
    if req.is_empty() {
        return Vec::new();
    }
    let Some(run) = run else {
        return vec![MissingWork::NoRun];
    };
    let serial = job.cloudboxx_serial.clone().unwrap_or_default();
    if run.device_serial != serial {
        return vec![MissingWork::WrongDevice {
            expected: serial,
            found: run.device_serial.clone(),
        }];
    }
    if run.job_id != job.id {
        return vec![MissingWork::WrongJob {
            found: run.job_id.clone(),
        }];
    }
    let mut missing = Vec::new();
    let step = |step: RequiredStep, why: String| MissingWork::Step { step, why };
    let expected_sha = || crate::configuration::job_configuration_sha256(job);
    for s in &req.steps {
        match s {
            RequiredStep::Identify => {}
            RequiredStep::BindVehicle => {
                if let Some(why) = binding_problem(job, run) {
                    missing.push(step(s.clone(), why));
                }
            }
            RequiredStep::Configure => {
                if run.config_sha256 != Some(expected_sha()) {
                    let why = if run.config_id.is_empty() {
                        "the unit has no configuration".to_owned()
                    } else {
                        format!(
                            "the unit's active configuration {} is not the job's",
                            run.config_id
                        )
                    };
                    missing.push(step(s.clone(), why));
                }
            }
            RequiredStep::Verify => match run.read_back_sha256 {
                Some(sha) if sha == expected_sha() => {}
                Some(_) => missing.push(step(
                    s.clone(),
                    "the configuration read back is not the job's".to_owned(),
                )),
                None => missing.push(step(
                    s.clone(),
                    "the configuration was not read back in the latest run".to_owned(),
                )),
            },
            RequiredStep::Other(name) => missing.push(step(
                s.clone(),
                format!("step {name} is unknown to this version: update the app"),
            )),
        }
    }
    for name in &req.vehicle_tests {
        let why = match VehicleTestId::from_name(name) {
            None => Some(format!(
                "test {name} is unknown to this version: update the app"
            )),
            Some(id) => match run.result_of(id) {
                None => Some("not run in the latest run".to_owned()),
                Some(r) if !r.passed => Some(match r.hint {
                    smartcontrol_ble::message::HintCode::None => "failed".to_owned(),
                    h => format!("failed ({})", h.text()),
                }),
                Some(_) => None,
            },
        };
        if let Some(why) = why {
            missing.push(MissingWork::Test {
                test: name.clone(),
                why,
            });
        }
    }
    missing
}

/// Why the attested binding does not prove the job's vehicle, if it does not.
fn binding_problem(job: &Job, run: &AttestationFields) -> Option<String> {
    let Some(vin) = job.vin.as_deref().filter(|v| !v.is_empty()) else {
        return Some("the job has no VIN: enter the vehicle's VIN".to_owned());
    };
    if !run.vehicle_vin.is_empty() && !run.vehicle_vin.eq_ignore_ascii_case(vin) {
        return Some(format!(
            "the vehicle reports VIN {}, the job's is {vin}",
            run.vehicle_vin
        ));
    }
    if let (Some(model), false) = (&job.vehicle_model, run.vehicle_model.is_empty()) {
        if !run.vehicle_model.eq_ignore_ascii_case(&model.id) {
            return Some(format!(
                "the vehicle reports model {}, the job's is {}",
                run.vehicle_model, model.id
            ));
        }
    }
    if run.bound_vin.is_empty() {
        return Some("the unit is not bound to a vehicle".to_owned());
    }
    if !run.bound_vin.eq_ignore_ascii_case(vin) {
        return Some(format!(
            "the unit is bound to {}, not to {vin}",
            run.bound_vin
        ));
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use smartcontrol_ble::message::{HintCode, Unit, VehicleTestResult};

    const VIN: &str = "WVWZZZ1JZXW000001";

    fn job() -> Job {
        let mut j: Job = serde_json::from_value(serde_json::json!({
            "id": "job-1", "provider_id": "p", "provider_name": "P", "fleet_id": "f",
            "fleet_name": "F", "kind": "INSTALLATION", "status": "RUNNING",
            "vin": VIN, "cloudboxx_serial": "CBX-1",
            "vehicle_model": {"id": "vw-golf8", "name": "Volkswagen Golf 8"},
            "version": 1, "updated_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        j.requirements = JobRequirements::default_for(&JobKind::Installation);
        j
    }

    fn passing_run(job: &Job) -> AttestationFields {
        let sha = crate::configuration::job_configuration_sha256(job);
        AttestationFields {
            device_serial: "CBX-1".into(),
            job_id: "job-1".into(),
            grant_id: [1; 16],
            counter: 3,
            device_time: 0,
            vehicle_vin: VIN.into(),
            vehicle_model: "vw-golf8".into(),
            bound_vin: VIN.into(),
            config_id: "c".into(),
            config_sha256: Some(sha),
            read_back_sha256: Some(sha),
            tests: VehicleTestId::ALL
                .iter()
                .map(|t| VehicleTestResult {
                    test: *t,
                    passed: true,
                    unit: Unit::None,
                    value: 0,
                    hint: HintCode::None,
                })
                .collect(),
        }
    }

    #[test]
    fn a_full_run_satisfies_an_installation() {
        let j = job();
        assert_eq!(missing_work(&j, Some(&passing_run(&j))), vec![]);
        assert_eq!(missing_work(&j, None), vec![MissingWork::NoRun]);
    }

    #[test]
    fn each_gap_is_named() {
        let j = job();
        let mut run = passing_run(&j);
        run.tests.retain(|t| t.test == VehicleTestId::IgnitionState);
        run.read_back_sha256 = None;
        run.bound_vin = String::new();
        let missing = missing_work(&j, Some(&run));
        let text = describe_missing(&missing);
        assert_eq!(missing.len(), 2 + 9, "{text}");
        assert!(
            text.contains("step bind_vehicle: the unit is not bound"),
            "{text}"
        );
        assert!(
            text.contains("step verify: the configuration was not read back"),
            "{text}"
        );
        assert!(text.contains("test central_lock_lock: not run"), "{text}");
        let mut run = passing_run(&j);
        run.tests[8].passed = false;
        run.tests[8].hint = HintCode::CloseDoors;
        let text = describe_missing(&missing_work(&j, Some(&run)));
        assert!(
            text.starts_with("test doors_closed: failed (a door"),
            "{text}"
        );
    }

    #[test]
    fn the_vehicle_must_be_the_jobs() {
        let j = job();
        let mut run = passing_run(&j);
        run.vehicle_vin = "WVWZZZ1JZXW999999".into();
        let text = describe_missing(&missing_work(&j, Some(&run)));
        assert!(
            text.contains("the vehicle reports VIN WVWZZZ1JZXW999999"),
            "{text}"
        );
        let mut run = passing_run(&j);
        run.device_serial = "CBX-2".into();
        assert!(matches!(
            missing_work(&j, Some(&run))[..],
            [MissingWork::WrongDevice { .. }]
        ));
        // Another configuration (e.g. after the technician entered master
        // data that changes it) does not count.
        let mut changed = j.clone();
        changed.master_data.insert("station".into(), "X".into());
        let text = describe_missing(&missing_work(&changed, Some(&passing_run(&j))));
        assert!(
            text.contains("step configure") && text.contains("step verify"),
            "{text}"
        );
    }

    #[test]
    fn requirements_validate_their_names() {
        let mut r = JobRequirements::default_for(&JobKind::Maintenance);
        assert!(r.validate().is_ok() && !r.needs_configure());
        r.vehicle_tests.push("warp_drive".into());
        assert!(r.validate().unwrap_err().contains("warp_drive"));
        let r: JobRequirements =
            serde_json::from_value(serde_json::json!({"steps": ["verify", "teleport"]})).unwrap();
        assert!(r.validate().unwrap_err().contains("teleport"));
    }
}
