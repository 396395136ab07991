//! What the technician enters on site: typed or scanned values checked by
//! the shared rules (`cloud_api::site`) before they are queued like any
//! other action.

use smartcontrol_cloud_api::site::{
    normalize_plate, normalize_serial, normalize_vin, parse_cloudboxx_label, validate_master_data,
    vin_from_scan, SiteDataError, VehicleCatalogue,
};
use smartcontrol_cloud_api::{CentralLockConnectionType, Job, SiteData, SiteField};

use crate::error::CoreError;
use crate::model::SiteEntry;

fn bad(field: &str, e: SiteDataError) -> CoreError {
    CoreError::InvalidSiteData {
        field: field.to_owned(),
        detail: e.to_string(),
    }
}

fn both(field: &str, typed: &str, scanned: &str) -> CoreError {
    CoreError::InvalidSiteData {
        field: field.to_owned(),
        detail: format!("give the {field} typed ({typed}) or scanned ({scanned}), not both"),
    }
}

/// Checks and normalises an entry for `job` (as it stands, for the model a
/// lock type must suit). `catalogue`: the vehicle models synced to the
/// device (needed to enter a model).
pub(crate) fn parse_entry(
    entry: &SiteEntry,
    catalogue: Option<&VehicleCatalogue>,
    job: &Job,
) -> Result<SiteData, CoreError> {
    let mut data = SiteData::default();
    let present = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    match (present(&entry.vin), present(&entry.vin_scan)) {
        (Some(_), Some(_)) => return Err(both("vin", "vin", "vin_scan")),
        (Some(v), None) => data.vin = Some(normalize_vin(&v).map_err(|e| bad("vin", e))?),
        (None, Some(raw)) => {
            data.vin = Some(vin_from_scan(&raw).map_err(|e| bad("vin", e))?);
            data.scanned.insert(SiteField::Vin.name());
        }
        (None, None) => {}
    }
    if let Some(p) = present(&entry.license_plate) {
        data.license_plate = Some(normalize_plate(&p).map_err(|e| bad("license_plate", e))?);
    }
    if let Some(m) = present(&entry.vehicle_model) {
        let catalogue = catalogue.ok_or_else(|| CoreError::InvalidSiteData {
            field: "vehicle_model".into(),
            detail: "the vehicle catalogue is not on this device yet: sync once while online"
                .into(),
        })?;
        data.vehicle_model = Some(
            catalogue
                .find(&m)
                .map_err(|e| bad("vehicle_model", e))?
                .model(),
        );
    }
    if let Some(l) = present(&entry.central_lock_connection_type) {
        let lock = CentralLockConnectionType::from(l.to_uppercase());
        let model = data
            .vehicle_model
            .as_ref()
            .or(job.vehicle_model.as_ref())
            .map(|m| m.id.clone());
        let known = VehicleCatalogue {
            version: 0,
            models: Vec::new(),
        };
        catalogue
            .unwrap_or(&known)
            .check_lock(model.as_deref(), &lock)
            .map_err(|e| bad("central_lock_connection_type", e))?;
        data.central_lock_connection_type = Some(lock);
    }
    match (
        present(&entry.cloudboxx_serial),
        present(&entry.cloudboxx_label_scan),
    ) {
        (Some(_), Some(_)) => {
            return Err(both(
                "cloudboxx_serial",
                "cloudboxx_serial",
                "cloudboxx_label_scan",
            ))
        }
        (Some(s), None) => {
            data.cloudboxx_serial =
                Some(normalize_serial(&s).map_err(|e| bad("cloudboxx_serial", e))?)
        }
        (None, Some(raw)) => {
            let label = parse_cloudboxx_label(&raw).map_err(|e| bad("cloudboxx_serial", e))?;
            data.cloudboxx_serial = Some(label.serial);
            data.scanned.insert(SiteField::CloudboxxSerial.name());
        }
        (None, None) => {}
    }
    for (k, v) in &entry.master_data {
        let v = v.trim();
        let value = serde_json::from_str::<serde_json::Value>(v)
            .ok()
            .filter(|j| j.is_number() || j.is_boolean())
            .unwrap_or_else(|| serde_json::Value::String(v.to_owned()));
        data.master_data.insert(k.trim().to_owned(), value);
    }
    validate_master_data(&data.master_data).map_err(|e| bad("master_data", e))?;
    if data.is_empty() {
        return Err(bad("site data", SiteDataError::Empty));
    }
    Ok(data)
}
