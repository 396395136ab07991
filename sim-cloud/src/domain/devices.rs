//! The fleet's CloudBoxx registry, the check of what a unit attests, and
//! the vehicle records installations leave behind.
//!
//! A unit is registered with its fleet together with its own Ed25519
//! public key. A completion that claims SUCCEEDED must carry the unit's
//! attestation of its latest run; [`verify_attestation`] checks that the
//! attestation is the job's unit's own (signature with the registered key),
//! of this job, made under an access of the technician that did not end
//! since, and not already used; [`smartcontrol_cloud_api::work::missing_work`]
//! then decides whether the attested run covers the job's requirements.

use rusqlite::{params, Connection as Db, OptionalExtension};
use smartcontrol_ble::security::{Attestation, AttestationFields, VerifyingKey};
use smartcontrol_cloud_api::Job;

use super::grants::{parse_hex32, to_hex, ACCESS_ENDING_REASONS};
use super::orgs::check_fleet_owner;
use super::{rfc3339, SimAdmin};
use crate::error::{SimError, SimResult};
use crate::model::{RegisteredDevice, VehicleRecord};

/// Whether `serial` is a unit registered in `fleet_id`.
pub(crate) fn registered_in_fleet(conn: &Db, serial: &str, fleet_id: &str) -> SimResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM devices WHERE serial = ?1 AND fleet_id = ?2")?
        .exists([serial, fleet_id])?)
}

/// Why an attestation is not accepted (a sentence for the refusal).
pub(crate) type Untrusted = String;

/// Verifies a completion's attestation for `job` (effective) by `tech_id`;
/// the verified content, or why it cannot be trusted.
pub(crate) fn verify_attestation(
    conn: &Db,
    job: &Job,
    tech_id: &str,
    attestation_hex: Option<&str>,
) -> SimResult<Result<AttestationFields, Untrusted>> {
    let Some(hex) = attestation_hex else {
        return Ok(Err(
            "the completion carries no attestation from the CloudBoxx: run the on-vehicle workflow, \
             which has the unit sign its results"
                .into(),
        ));
    };
    let att = match Attestation::from_hex(hex) {
        Ok(a) => a,
        Err(e) => return Ok(Err(format!("the attestation is unreadable ({e})"))),
    };
    let f = &att.fields;
    let key: Option<(String, String)> = conn
        .prepare_cached("SELECT fleet_id, public_key FROM devices WHERE serial = ?1")?
        .query_row([&f.device_serial], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((fleet, key_hex)) = key else {
        return Ok(Err(format!(
            "CloudBoxx {} is not registered with any fleet: its results cannot be verified",
            f.device_serial
        )));
    };
    if fleet != job.fleet_id {
        return Ok(Err(format!(
            "CloudBoxx {} belongs to another fleet than the job's",
            f.device_serial
        )));
    }
    let key = parse_hex32(&key_hex)
        .and_then(|k| VerifyingKey::from_bytes(&k).ok())
        .ok_or_else(|| SimError::internal(format!("bad registered key of {}", f.device_serial)))?;
    if att.verify(&key).is_err() {
        return Ok(Err(format!(
            "the results are not signed by CloudBoxx {} (forged or altered on the way)",
            f.device_serial
        )));
    }
    if f.job_id != job.id {
        return Ok(Err(format!(
            "the attestation is of job {}, not of this job (replayed from another job)",
            f.job_id
        )));
    }
    let grant: Option<(String, String, Option<String>)> = conn
        .prepare_cached(
            "SELECT job_id, technician_id, revoked_reason FROM grants WHERE grant_id = ?1",
        )?
        .query_row([to_hex(&f.grant_id)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    match grant {
        None => {
            return Ok(Err(
                "the attestation was made under an access grant this cloud never issued".into(),
            ))
        }
        Some((g_job, g_tech, _)) if g_job != job.id || g_tech != tech_id => {
            return Ok(Err(
                "the attestation was made under another technician's access to the unit".into(),
            ))
        }
        Some((_, _, Some(reason))) if ACCESS_ENDING_REASONS.contains(&reason.as_str()) => {
            return Ok(Err(format!(
                "the attestation was made under an access that ended since ({reason}): run the \
                 on-vehicle workflow again"
            )))
        }
        Some(_) => {}
    }
    let used: Option<String> = conn
        .prepare_cached(
            "SELECT job_id FROM attestations WHERE device_serial = ?1 AND counter = ?2",
        )?
        .query_row(params![f.device_serial, f.counter as i64], |r| r.get(0))
        .optional()?;
    if let Some(used_for) = used {
        return Ok(Err(format!(
            "CloudBoxx {} run {} was already reported (for job {used_for}): a replayed result",
            f.device_serial, f.counter
        )));
    }
    Ok(Ok(att.fields))
}

/// Records an accepted attestation so it can never count again.
pub(crate) fn record_attestation(conn: &Db, f: &AttestationFields, now: &str) -> SimResult<()> {
    conn.prepare_cached(
        "INSERT INTO attestations (device_serial, counter, job_id, accepted_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![f.device_serial, f.counter as i64, f.job_id, now])?;
    Ok(())
}

/// The vehicle record an installation leaves: VIN, plate, model, unit and
/// the configuration the unit attested.
pub(crate) fn record_vehicle(
    conn: &Db,
    job: &Job,
    f: &AttestationFields,
    now: &str,
) -> SimResult<()> {
    let Some(vin) = job.vin.as_deref() else {
        return Ok(());
    };
    conn.prepare_cached(
        "INSERT INTO vehicles (provider_id, vin, fleet_id, license_plate, vehicle_model_id, \
         vehicle_model_name, cloudboxx_serial, config_id, config_sha256, job_id, installed_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
         ON CONFLICT (provider_id, vin) DO UPDATE SET fleet_id = excluded.fleet_id, \
         license_plate = excluded.license_plate, vehicle_model_id = excluded.vehicle_model_id, \
         vehicle_model_name = excluded.vehicle_model_name, cloudboxx_serial = excluded.cloudboxx_serial, \
         config_id = excluded.config_id, config_sha256 = excluded.config_sha256, \
         job_id = excluded.job_id, installed_at = excluded.installed_at",
    )?
    .execute(params![
        job.provider_id,
        vin,
        job.fleet_id,
        job.license_plate,
        job.vehicle_model.as_ref().map(|m| m.id.as_str()),
        job.vehicle_model.as_ref().map(|m| m.name.as_str()),
        f.device_serial,
        (!f.config_id.is_empty()).then_some(f.config_id.as_str()),
        f.config_sha256.map(|s| to_hex(&s)),
        job.id,
        now,
    ])?;
    Ok(())
}

fn read_vehicle(r: &rusqlite::Row<'_>) -> rusqlite::Result<VehicleRecord> {
    let model_id: Option<String> = r.get(3)?;
    let model_name: Option<String> = r.get(4)?;
    Ok(VehicleRecord {
        vin: r.get(0)?,
        fleet_id: r.get(1)?,
        license_plate: r.get(2)?,
        vehicle_model: model_id.map(|id| smartcontrol_cloud_api::VehicleModel {
            name: model_name.unwrap_or_else(|| id.clone()),
            id,
        }),
        cloudboxx_serial: r.get(5)?,
        config_id: r.get(6)?,
        config_sha256: r.get(7)?,
        job_id: r.get(8)?,
        installed_at: r.get(9)?,
    })
}

const VEHICLE_SELECT: &str =
    "SELECT vin, fleet_id, license_plate, vehicle_model_id, vehicle_model_name, \
     cloudboxx_serial, config_id, config_sha256, job_id, installed_at FROM vehicles";

impl SimAdmin {
    /// `POST /api/v1/provider/fleets/{fleet_id}/devices`: registers a unit
    /// (serial, public key, hardware) with a fleet of the provider. 409
    /// when the serial is registered in another fleet; re-registering in the
    /// same fleet replaces the key (a unit swapped under warranty).
    pub fn register_device(
        &self,
        provider_id: &str,
        fleet_id: &str,
        device: &RegisteredDevice,
    ) -> SimResult<RegisteredDevice> {
        smartcontrol_cloud_api::site::validate_serial(&device.serial)
            .map_err(|e| SimError::bad_request(e.to_string()))?;
        let key = parse_hex32(&device.public_key)
            .filter(|k| VerifyingKey::from_bytes(k).is_ok())
            .ok_or_else(|| {
                SimError::bad_request("public_key must be 64 hex digits of an Ed25519 public key")
            })?;
        let now = rfc3339(self.now());
        self.with_tx(|tx| {
            check_fleet_owner(tx, provider_id, fleet_id)?;
            let existing: Option<String> = tx
                .query_row(
                    "SELECT fleet_id FROM devices WHERE serial = ?1",
                    [&device.serial],
                    |r| r.get(0),
                )
                .optional()?;
            if existing.as_deref().is_some_and(|f| f != fleet_id) {
                return Err(SimError::conflict(format!(
                    "CloudBoxx {} is registered in another fleet",
                    device.serial
                )));
            }
            tx.execute(
                "INSERT INTO devices (serial, fleet_id, public_key, hardware, registered_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (serial) DO UPDATE SET \
                 public_key = excluded.public_key, hardware = excluded.hardware",
                params![device.serial, fleet_id, to_hex(&key), device.hardware, now],
            )?;
            Ok(RegisteredDevice {
                serial: device.serial.clone(),
                fleet_id: fleet_id.to_owned(),
                public_key: to_hex(&key),
                hardware: device.hardware.clone(),
                registered_at: now.clone(),
            })
        })
    }

    /// Registers many units of one fleet in one transaction (seeding).
    pub(crate) fn register_devices_unchecked(
        &self,
        fleet_id: &str,
        devices: &[(String, [u8; 32])],
    ) -> SimResult<()> {
        let now = rfc3339(self.now());
        self.with_tx(|tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO devices (serial, fleet_id, public_key, hardware, registered_at) \
                 VALUES (?1, ?2, ?3, 'CBX-2', ?4)",
            )?;
            for (serial, key) in devices {
                stmt.execute(params![serial, fleet_id, to_hex(key), now])?;
            }
            Ok(())
        })
    }

    /// `GET /api/v1/provider/fleets/{fleet_id}/devices`.
    pub fn list_devices(
        &self,
        provider_id: &str,
        fleet_id: &str,
    ) -> SimResult<Vec<RegisteredDevice>> {
        self.with_db(|c| {
            check_fleet_owner(c, provider_id, fleet_id)?;
            Ok(c.prepare(
                "SELECT serial, fleet_id, public_key, hardware, registered_at FROM devices \
                 WHERE fleet_id = ?1 ORDER BY serial",
            )?
            .query_map([fleet_id], |r| {
                Ok(RegisteredDevice {
                    serial: r.get(0)?,
                    fleet_id: r.get(1)?,
                    public_key: r.get(2)?,
                    hardware: r.get(3)?,
                    registered_at: r.get(4)?,
                })
            })?
            .collect::<Result<_, _>>()?)
        })
    }

    /// `GET /api/v1/provider/vehicles`: the provider's vehicles with an
    /// installed CloudBoxx, by VIN.
    pub fn list_vehicles(&self, provider_id: &str) -> SimResult<Vec<VehicleRecord>> {
        self.with_db(|c| {
            Ok(c.prepare(&format!(
                "{VEHICLE_SELECT} WHERE provider_id = ?1 ORDER BY vin"
            ))?
            .query_map([provider_id], read_vehicle)?
            .collect::<Result<_, _>>()?)
        })
    }

    /// `GET /api/v1/provider/vehicles/{vin}`; 404 when no installation
    /// linked a unit to it.
    pub fn vehicle(&self, provider_id: &str, vin: &str) -> SimResult<VehicleRecord> {
        self.with_db(|c| {
            c.query_row(
                &format!("{VEHICLE_SELECT} WHERE provider_id = ?1 AND vin = ?2"),
                [provider_id, vin],
                read_vehicle,
            )
            .optional()?
            .ok_or_else(|| SimError::not_found(format!("no vehicle {vin}")))
        })
    }
}
