//! The CloudBoxx configuration a job asks for: a preset of the bundled
//! library specialised with the job's vehicle data. The app writes these
//! bytes to the unit; the cloud recomputes them to check the unit's
//! attested configuration. Deterministic, so the same job always yields the
//! same bytes (and a resumed transfer matches).

use sha2::{Digest, Sha256};

use crate::Job;

/// The preset a job without one gets.
pub const DEFAULT_PRESET: &str = "standard";

/// `(configuration id, bytes)` for `job` as it stands with the technician's
/// site data ([`Job::effective`]).
pub fn job_configuration(job: &Job) -> (String, Vec<u8>) {
    let preset = job
        .cloudboxx_config_preset
        .clone()
        .unwrap_or_else(|| DEFAULT_PRESET.to_owned());
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

/// SHA-256 of [`job_configuration`]'s bytes.
pub fn job_configuration_sha256(job: &Job) -> [u8; 32] {
    Sha256::digest(job_configuration(job).1).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
