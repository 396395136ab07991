//! What the on-vehicle workflow left per job: the latest run's device
//! report, step outcomes, vehicle test results and the unit's signed
//! attestation. Only the latest run counts: a new run replaces all of it.

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use smartcontrol_ble::security::Attestation;
use smartcontrol_cloud_api::{DeviceReport, JobReport, VehicleTestResult, WorkflowStepReport};

use super::{now_rfc3339, Store};
use crate::error::{CoreError, Result};

/// One run of the workflow, as recorded.
pub(crate) struct RunRecord<'a> {
    pub device: Option<&'a DeviceReport>,
    pub steps: &'a [WorkflowStepReport],
    pub tests: &'a [VehicleTestResult],
    pub attestation: Option<&'a Attestation>,
}

impl Store {
    /// Records a run (replacing the previous run of the job entirely, its
    /// test results included), in one transaction.
    pub(crate) fn save_run(&self, job_id: &str, run: &RunRecord<'_>) -> Result<()> {
        let device = run.device.map(serde_json::to_string).transpose()?;
        let steps = serde_json::to_string(run.steps)?;
        let attestation = run.attestation.map(Attestation::to_hex);
        self.write(|tx| {
            if Self::job_state(tx, job_id)?.is_none() {
                return Err(CoreError::JobNotFound {
                    job_id: job_id.to_owned(),
                }
                .into());
            }
            tx.execute(
                "INSERT INTO workflow_reports (job_id, device_json, steps_json, updated_at,
                    attestation_hex)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (job_id) DO UPDATE SET device_json = excluded.device_json,
                    steps_json = excluded.steps_json, updated_at = excluded.updated_at,
                    attestation_hex = excluded.attestation_hex",
                params![job_id, device, steps, now_rfc3339(), attestation],
            )?;
            Self::replace_vehicle_tests(tx, job_id, run.tests)
        })
    }

    fn replace_vehicle_tests(
        tx: &Transaction<'_>,
        job_id: &str,
        results: &[VehicleTestResult],
    ) -> Result<()> {
        tx.execute("DELETE FROM vehicle_tests WHERE job_id = ?1", [job_id])?;
        for t in results {
            tx.execute(
                "INSERT OR REPLACE INTO vehicle_tests (job_id, test, passed, measured, hint, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![job_id, t.test, t.passed, t.measured, t.hint, t.at],
            )?;
        }
        Ok(())
    }

    /// The unit's attestation of the job's latest run, if it gave one.
    pub(crate) fn latest_attestation(
        conn: &Connection,
        job_id: &str,
    ) -> Result<Option<Attestation>> {
        let hex: Option<Option<String>> = conn
            .prepare_cached("SELECT attestation_hex FROM workflow_reports WHERE job_id = ?1")?
            .query_row([job_id], |r| r.get(0))
            .optional()?;
        Ok(hex.flatten().and_then(|h| match Attestation::from_hex(&h) {
            Ok(a) => Some(a),
            Err(e) => {
                tracing::warn!(job_id, error = %e, "stored attestation unreadable; the run does not count");
                None
            }
        }))
    }

    /// Completes a report with what this device recorded for the job's
    /// latest run: test results, the CloudBoxx, the steps and the unit's
    /// attestation (what the cloud checks).
    pub(crate) fn with_run(
        conn: &Connection,
        job_id: &str,
        mut report: JobReport,
    ) -> Result<JobReport> {
        if report.vehicle_tests.is_empty() {
            report.vehicle_tests = Self::vehicle_tests(conn, job_id)?;
        }
        let row: Option<(Option<String>, String, Option<String>)> = conn
            .query_row(
                "SELECT device_json, steps_json, attestation_hex FROM workflow_reports
                 WHERE job_id = ?1",
                [job_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        if let Some((device, steps, attestation)) = row {
            let device: Option<DeviceReport> =
                device.map(|d| serde_json::from_str(&d)).transpose()?;
            report.device = report.device.or(device);
            if report.steps.is_empty() {
                report.steps = serde_json::from_str(&steps)?;
            }
            report.attestation = report.attestation.or(attestation);
        }
        Ok(report)
    }

    /// Test results of the job's latest run, by test name.
    pub(crate) fn vehicle_tests(conn: &Connection, job_id: &str) -> Result<Vec<VehicleTestResult>> {
        let mut stmt = conn.prepare_cached(
            "SELECT test, passed, measured, hint, at FROM vehicle_tests WHERE job_id = ?1
             ORDER BY test",
        )?;
        let rows = stmt.query_map([job_id], |r| {
            Ok(VehicleTestResult {
                test: r.get(0)?,
                passed: r.get(1)?,
                measured: r.get(2)?,
                hint: r.get(3)?,
                at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }
}
