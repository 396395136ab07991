//! What the technician enters on site where the provider left a
//! specification empty, and the checks both the app and the cloud apply to
//! it (and to the provider's own values): VINs per ISO 3779, license
//! plates, CloudBoxx serials, the CloudBoxx label QR code, models from the
//! catalogue.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{CentralLockConnectionType, VehicleModel};

/// Longest serial a CloudBoxx advertises (its advertisement carries it).
pub const MAX_SERIAL_LEN: usize = 20;
/// Longest license plate accepted.
pub const MAX_PLATE_LEN: usize = 16;
/// Most master data entries a technician may add to one job.
pub const MAX_MASTER_DATA_ENTRIES: usize = 32;

/// Values the technician entered for a job, each only where the provider
/// left the specification empty. `None` (or an absent key) changes
/// nothing; a later entry of the same field replaces the technician's
/// earlier one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SiteData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_plate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vehicle_model: Option<VehicleModel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub central_lock_connection_type: Option<CentralLockConnectionType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudboxx_serial: Option<String>,
    /// Master data keys the provider did not set.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub master_data: serde_json::Map<String, serde_json::Value>,
    /// Fields (as [`SiteField::name`]) whose value came from a scan (VIN
    /// barcode, CloudBoxx label) rather than typing.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub scanned: BTreeSet<String>,
}

impl SiteData {
    /// Nothing entered.
    pub fn is_empty(&self) -> bool {
        self.fields().is_empty()
    }

    /// The fields this entry sets.
    pub fn fields(&self) -> Vec<SiteField> {
        let mut out = Vec::new();
        if self.vin.is_some() {
            out.push(SiteField::Vin);
        }
        if self.license_plate.is_some() {
            out.push(SiteField::LicensePlate);
        }
        if self.vehicle_model.is_some() {
            out.push(SiteField::VehicleModel);
        }
        if self.central_lock_connection_type.is_some() {
            out.push(SiteField::CentralLockConnectionType);
        }
        if self.cloudboxx_serial.is_some() {
            out.push(SiteField::CloudboxxSerial);
        }
        out.extend(
            self.master_data
                .keys()
                .map(|k| SiteField::MasterData(k.clone())),
        );
        out
    }

    /// `later` applied on top of `self` (later entries win field by field).
    pub fn merged(&self, later: &SiteData) -> SiteData {
        let mut out = self.clone();
        if later.vin.is_some() {
            out.vin.clone_from(&later.vin);
        }
        if later.license_plate.is_some() {
            out.license_plate.clone_from(&later.license_plate);
        }
        if later.vehicle_model.is_some() {
            out.vehicle_model.clone_from(&later.vehicle_model);
        }
        if later.central_lock_connection_type.is_some() {
            out.central_lock_connection_type
                .clone_from(&later.central_lock_connection_type);
        }
        if later.cloudboxx_serial.is_some() {
            out.cloudboxx_serial.clone_from(&later.cloudboxx_serial);
        }
        for (k, v) in &later.master_data {
            out.master_data.insert(k.clone(), v.clone());
        }
        for f in later.fields() {
            if later.scanned.contains(&f.name()) {
                out.scanned.insert(f.name());
            } else {
                out.scanned.remove(&f.name());
            }
        }
        out
    }
}

/// A specification the technician can fill in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SiteField {
    Vin,
    LicensePlate,
    VehicleModel,
    CentralLockConnectionType,
    CloudboxxSerial,
    /// One master data key.
    MasterData(String),
}

impl SiteField {
    /// Stable name: `vin`, `license_plate`, `vehicle_model`,
    /// `central_lock_connection_type`, `cloudboxx_serial`, `master_data.KEY`.
    pub fn name(&self) -> String {
        match self {
            SiteField::Vin => "vin".into(),
            SiteField::LicensePlate => "license_plate".into(),
            SiteField::VehicleModel => "vehicle_model".into(),
            SiteField::CentralLockConnectionType => "central_lock_connection_type".into(),
            SiteField::CloudboxxSerial => "cloudboxx_serial".into(),
            SiteField::MasterData(k) => format!("master_data.{k}"),
        }
    }
}

impl std::fmt::Display for SiteField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// Why an entered (or specified) value is not accepted. Each message says
/// what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SiteDataError {
    #[error("VIN {vin:?} is not valid: {why}; check it against the vehicle's VIN plate and enter it again")]
    InvalidVin { vin: String, why: String },
    #[error("license plate {plate:?} is not valid: {why}")]
    InvalidPlate { plate: String, why: String },
    #[error("CloudBoxx serial {serial:?} is not valid: {why}; it is printed on the unit's label")]
    InvalidSerial { serial: String, why: String },
    #[error(
        "the scanned CloudBoxx label is not readable ({why}): scan it again or type the serial"
    )]
    InvalidLabel { why: String },
    #[error("vehicle model {given:?} is not in the catalogue: pick one of the catalogue's models ({known})")]
    UnknownModel { given: String, known: String },
    #[error(
        "the {model} does not support central lock connection {lock}: pick one of {supported}"
    )]
    LockTypeUnsupported {
        model: String,
        lock: String,
        supported: String,
    },
    #[error("central lock connection type {given:?} is unknown: use one of {known}")]
    UnknownLockType { given: String, known: String },
    #[error("master data key {key:?} is not valid: {why}")]
    InvalidMasterData { key: String, why: String },
    #[error("nothing to enter: give at least one value")]
    Empty,
}

/// ISO 3779 transliteration of a VIN character (letters I, O and Q never occur).
fn vin_value(c: char) -> Option<u32> {
    Some(match c {
        '0'..='9' => c.to_digit(10)?,
        'A' | 'J' => 1,
        'B' | 'K' | 'S' => 2,
        'C' | 'L' | 'T' => 3,
        'D' | 'M' | 'U' => 4,
        'E' | 'N' | 'V' => 5,
        'F' | 'W' => 6,
        'G' | 'P' | 'X' => 7,
        'H' | 'Y' => 8,
        'R' | 'Z' => 9,
        _ => return None,
    })
}

const VIN_WEIGHTS: [u32; 17] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];

/// The check digit (position 9) a 17-character VIN should carry: `0`–`9`
/// or `X`. `None` if a character is not a VIN character.
pub fn vin_check_digit(vin: &str) -> Option<char> {
    let mut sum = 0;
    for (c, w) in vin.chars().zip(VIN_WEIGHTS) {
        sum += vin_value(c)? * w;
    }
    let r = sum % 11;
    Some(if r == 10 {
        'X'
    } else {
        char::from_digit(r, 10)?
    })
}

/// Whether the VIN's world manufacturer identifier is of a region that
/// mandates the check digit: North America (`1`–`5`) and China (`L`).
/// Elsewhere position 9 is free, as ISO 3779 allows.
pub fn vin_check_digit_applies(vin: &str) -> bool {
    matches!(vin.chars().next(), Some('1'..='5' | 'L'))
}

/// Checks a VIN already in canonical form (17 upper-case characters).
pub fn validate_vin(vin: &str) -> Result<(), SiteDataError> {
    let bad = |why: String| SiteDataError::InvalidVin {
        vin: vin.to_owned(),
        why,
    };
    let n = vin.chars().count();
    if n != 17 {
        return Err(bad(format!("a VIN has 17 characters, this one {n}")));
    }
    if let Some(c) = vin.chars().find(|c| matches!(c, 'I' | 'O' | 'Q')) {
        return Err(bad(format!(
            "VINs never contain the letter {c} (I, O and Q look like 1 and 0)"
        )));
    }
    if let Some(c) = vin
        .chars()
        .find(|c| !(c.is_ascii_digit() || c.is_ascii_uppercase()))
    {
        return Err(bad(format!(
            "{c:?} is not a VIN character (letters and digits only)"
        )));
    }
    if vin_check_digit_applies(vin) {
        let expected = vin_check_digit(vin).ok_or_else(|| bad("unreadable".into()))?;
        let got = vin.chars().nth(8).unwrap_or(' ');
        if got != expected {
            return Err(bad(format!(
                "its check digit (9th character) is {got}, the other characters give {expected}: a character is mistyped"
            )));
        }
    }
    Ok(())
}

/// A typed VIN: spaces and dashes removed, upper-cased, then validated.
pub fn normalize_vin(typed: &str) -> Result<String, SiteDataError> {
    let vin: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect();
    validate_vin(&vin)?;
    Ok(vin)
}

/// The raw text of a scanned VIN barcode (Code 39 on the door pillar, or
/// a Data Matrix): control characters and separators dropped, a leading
/// `VIN` label or the Code 39 import marker `I` (an 18th character before
/// the VIN) removed, then validated as [`normalize_vin`] does.
pub fn vin_from_scan(raw: &str) -> Result<String, SiteDataError> {
    let mut text: String = raw
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .flat_map(|c| c.to_uppercase())
        .collect();
    if text.len() == 20 && text.starts_with("VIN") {
        text.drain(..3);
    }
    if text.len() == 18 && text.starts_with('I') {
        text.remove(0);
    }
    validate_vin(&text)?;
    Ok(text)
}

/// A typed license plate: trimmed, runs of spaces collapsed, upper-cased;
/// letters (umlauts too), digits, spaces and dashes, 1 to
/// [`MAX_PLATE_LEN`] characters.
pub fn normalize_plate(typed: &str) -> Result<String, SiteDataError> {
    let plate = typed
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase();
    let bad = |why: &str| SiteDataError::InvalidPlate {
        plate: typed.to_owned(),
        why: why.to_owned(),
    };
    if plate.is_empty() {
        return Err(bad("it is empty"));
    }
    if plate.chars().count() > MAX_PLATE_LEN {
        return Err(bad("it is longer than 16 characters"));
    }
    if !plate
        .chars()
        .all(|c| c.is_alphanumeric() || c == ' ' || c == '-')
    {
        return Err(bad("use letters, digits, spaces and dashes only"));
    }
    Ok(plate)
}

/// Checks a CloudBoxx serial: 1 to [`MAX_SERIAL_LEN`] characters of
/// `A-Z a-z 0-9 . _ -` (it must fit the unit's advertisement).
pub fn validate_serial(serial: &str) -> Result<(), SiteDataError> {
    let bad = |why: &str| SiteDataError::InvalidSerial {
        serial: serial.to_owned(),
        why: why.to_owned(),
    };
    if serial.is_empty() {
        return Err(bad("it is empty"));
    }
    if serial.len() > MAX_SERIAL_LEN {
        return Err(bad("a serial has at most 20 characters"));
    }
    if !serial
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(bad("use letters, digits, '-', '_' and '.' only"));
    }
    Ok(())
}

/// A typed serial: trimmed and upper-cased, then validated.
pub fn normalize_serial(typed: &str) -> Result<String, SiteDataError> {
    let s = typed.trim().to_uppercase();
    validate_serial(&s)?;
    Ok(s)
}

/// What a CloudBoxx label's QR code says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudBoxxLabel {
    pub serial: String,
    pub hardware: String,
}

/// Prefix of the label format, version 1.
pub const LABEL_PREFIX: &str = "CBX1";

fn label_check(serial: &str, hardware: &str) -> String {
    let digest = Sha256::digest(format!("{LABEL_PREFIX}/{serial}/{hardware}").as_bytes());
    digest.iter().take(2).map(|b| format!("{b:02X}")).collect()
}

/// The text of a unit's label QR code: `CBX1/SERIAL/HARDWARE/CHECK`, where
/// CHECK is the first 4 upper-case hex digits of
/// SHA-256("CBX1/SERIAL/HARDWARE") (see docs/cloudboxx-protocol.md).
pub fn cloudboxx_label_text(serial: &str, hardware: &str) -> String {
    format!(
        "{LABEL_PREFIX}/{serial}/{hardware}/{}",
        label_check(serial, hardware)
    )
}

/// Parses the raw text of a scanned CloudBoxx label.
pub fn parse_cloudboxx_label(raw: &str) -> Result<CloudBoxxLabel, SiteDataError> {
    let bad = |why: &str| SiteDataError::InvalidLabel {
        why: why.to_owned(),
    };
    let text = raw.trim();
    let parts: Vec<&str> = text.split('/').collect();
    let [prefix, serial, hardware, check] = parts.as_slice() else {
        return Err(bad("expected CBX1/SERIAL/HARDWARE/CHECK"));
    };
    if !prefix.eq_ignore_ascii_case(LABEL_PREFIX) {
        return Err(bad(
            "this is not a CloudBoxx label (it does not start with CBX1/)",
        ));
    }
    let serial = serial.trim().to_uppercase();
    validate_serial(&serial).map_err(|e| bad(&e.to_string()))?;
    let hardware = hardware.trim();
    if hardware.is_empty() || hardware.len() > 32 || !hardware.chars().all(|c| c.is_ascii_graphic())
    {
        return Err(bad("the hardware revision is missing or not printable"));
    }
    if !check
        .trim()
        .eq_ignore_ascii_case(&label_check(&serial, hardware))
    {
        return Err(bad(
            "its check code does not match (a damaged or mis-read label)",
        ));
    }
    Ok(CloudBoxxLabel {
        serial,
        hardware: hardware.to_owned(),
    })
}

/// A vehicle model of the provider's catalogue and how its central lock
/// can be connected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VehicleModelEntry {
    pub id: String,
    pub name: String,
    /// Central lock connection types the model supports (SKM only where the
    /// model has a Secure Key Module).
    pub central_lock_types: Vec<CentralLockConnectionType>,
}

impl VehicleModelEntry {
    /// The model as a job names it.
    pub fn model(&self) -> VehicleModel {
        VehicleModel {
            id: self.id.clone(),
            name: self.name.clone(),
        }
    }
}

/// `GET /api/v1/technician/vehicle-models`: the catalogue technicians pick
/// models from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VehicleCatalogue {
    /// Changes whenever the catalogue does (the changes feed reports it).
    pub version: i64,
    pub models: Vec<VehicleModelEntry>,
}

impl VehicleCatalogue {
    /// The entry with this id or name (case-insensitive).
    pub fn find(&self, given: &str) -> Result<&VehicleModelEntry, SiteDataError> {
        let g = given.trim();
        self.models
            .iter()
            .find(|m| m.id.eq_ignore_ascii_case(g) || m.name.eq_ignore_ascii_case(g))
            .ok_or_else(|| SiteDataError::UnknownModel {
                given: given.to_owned(),
                known: self
                    .models
                    .iter()
                    .map(|m| m.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Checks a lock type against the model (by id) where the catalogue
    /// knows the model.
    pub fn check_lock(
        &self,
        model_id: Option<&str>,
        lock: &CentralLockConnectionType,
    ) -> Result<(), SiteDataError> {
        if let CentralLockConnectionType::Other(v) = lock {
            return Err(SiteDataError::UnknownLockType {
                given: v.clone(),
                known: CentralLockConnectionType::KNOWN
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let Some(entry) = model_id.and_then(|id| self.models.iter().find(|m| m.id == id)) else {
            return Ok(());
        };
        if entry.central_lock_types.contains(lock) {
            return Ok(());
        }
        Err(SiteDataError::LockTypeUnsupported {
            model: entry.name.clone(),
            lock: lock.to_string(),
            supported: entry
                .central_lock_types
                .iter()
                .map(|l| l.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

/// Checks master data keys a technician adds: 1 to 64 characters of
/// `a-z 0-9 _ .`, at most [`MAX_MASTER_DATA_ENTRIES`] per entry.
pub fn validate_master_data(
    data: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), SiteDataError> {
    if data.len() > MAX_MASTER_DATA_ENTRIES {
        return Err(SiteDataError::InvalidMasterData {
            key: String::new(),
            why: format!("at most {MAX_MASTER_DATA_ENTRIES} entries at a time"),
        });
    }
    for (k, v) in data {
        let bad = |why: &str| SiteDataError::InvalidMasterData {
            key: k.clone(),
            why: why.to_owned(),
        };
        if k.is_empty()
            || k.len() > 64
            || !k
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
        {
            return Err(bad("use 1 to 64 of a-z, 0-9, '_' and '.'"));
        }
        if v.is_null() || v.is_object() || v.is_array() {
            return Err(bad("the value must be text, a number or true/false"));
        }
        if v.as_str().is_some_and(|s| s.len() > 256) {
            return Err(bad("the value is longer than 256 characters"));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn vins_follow_iso_3779() {
        // A North American VIN with a correct check digit (49 CFR 565 example).
        validate_vin("1M8GDM9AXKP042788").unwrap();
        assert_eq!(vin_check_digit("1M8GDM9AXKP042788"), Some('X'));
        let e = validate_vin("1M8GDM9A1KP042788").unwrap_err().to_string();
        assert!(e.contains("check digit"), "{e}");
        // European VINs need no check digit.
        validate_vin("WVWZZZ1JZXW000001").unwrap();
        for (bad, why) in [
            ("WVWZZZ1JZXW00000", "17 characters"),
            ("WVWZZZ1JZXW00000O", "letter O"),
            ("WVWZZZ1JZXW0000I1", "letter I"),
            ("WVWZZZ1JZXW0000-1", "not a VIN character"),
        ] {
            let e = validate_vin(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert_eq!(
            normalize_vin(" wvw zzz1jz-xw000001 ").unwrap(),
            "WVWZZZ1JZXW000001"
        );
    }

    #[test]
    fn scanned_vins_lose_their_barcode_decoration() {
        assert_eq!(
            vin_from_scan("I1M8GDM9AXKP042788\r\n").unwrap(),
            "1M8GDM9AXKP042788"
        );
        assert_eq!(
            vin_from_scan("VIN: WVWZZZ1JZXW000001").unwrap(),
            "WVWZZZ1JZXW000001"
        );
        assert!(vin_from_scan("hello").is_err());
    }

    #[test]
    fn labels_carry_a_check_code() {
        let text = cloudboxx_label_text("CBX-100001", "CBX-2");
        let label = parse_cloudboxx_label(&format!("  {text}\n")).unwrap();
        assert_eq!(label.serial, "CBX-100001");
        assert_eq!(label.hardware, "CBX-2");
        // The example of docs/cloudboxx-protocol.md §15.
        assert_eq!(text, "CBX1/CBX-100001/CBX-2/16E6");
        let damaged = text.replace("100001", "100007");
        let e = parse_cloudboxx_label(&damaged).unwrap_err().to_string();
        assert!(e.contains("check code"), "{e}");
        assert!(parse_cloudboxx_label("https://example.com").is_err());
    }

    #[test]
    fn plates_and_serials_are_normalised() {
        assert_eq!(normalize_plate("  b-sc   1042 ").unwrap(), "B-SC 1042");
        assert_eq!(normalize_plate("m-ü 7").unwrap(), "M-Ü 7");
        assert!(normalize_plate("B/SC 1").is_err());
        assert_eq!(normalize_serial(" cbx-100001 ").unwrap(), "CBX-100001");
        assert!(normalize_serial("CBX 1").is_err());
        assert!(normalize_serial(&"X".repeat(21)).is_err());
    }

    #[test]
    fn the_catalogue_knows_lock_types() {
        let cat = VehicleCatalogue {
            version: 1,
            models: vec![VehicleModelEntry {
                id: "vw-golf8".into(),
                name: "Volkswagen Golf 8".into(),
                central_lock_types: vec![CentralLockConnectionType::Can],
            }],
        };
        assert_eq!(cat.find("volkswagen golf 8").unwrap().id, "vw-golf8");
        assert!(cat.find("golf").is_err());
        cat.check_lock(Some("vw-golf8"), &CentralLockConnectionType::Can)
            .unwrap();
        let e = cat
            .check_lock(
                Some("vw-golf8"),
                &CentralLockConnectionType::SecureKeyModule,
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not support"), "{e}");
    }

    #[test]
    fn later_entries_win_and_scans_are_remembered() {
        let first = SiteData {
            vin: Some("A".into()),
            scanned: ["vin".to_owned()].into(),
            ..SiteData::default()
        };
        let typed = SiteData {
            vin: Some("B".into()),
            license_plate: Some("P".into()),
            ..SiteData::default()
        };
        let m = first.merged(&typed);
        assert_eq!(m.vin.as_deref(), Some("B"));
        assert!(
            m.scanned.is_empty(),
            "the typed VIN replaced the scanned one"
        );
        assert_eq!(m.fields(), vec![SiteField::Vin, SiteField::LicensePlate]);
    }

    proptest! {
        /// Any VIN made of VIN characters with its check digit set passes;
        /// changing one other character of a check-digit VIN is caught
        /// unless the change keeps the weighted sum.
        #[test]
        fn check_digits_are_consistent(chars in proptest::collection::vec(
            proptest::sample::select("0123456789ABCDEFGHJKLMNPRSTUVWXYZ".chars().collect::<Vec<_>>()), 17)) {
            let mut v: Vec<char> = chars;
            v[0] = '1';
            let s: String = v.iter().collect();
            let d = vin_check_digit(&s).unwrap();
            v[8] = d;
            let s: String = v.iter().collect();
            prop_assert!(validate_vin(&s).is_ok());
            prop_assert_eq!(vin_from_scan(&format!("I{s}")).unwrap(), s);
        }

        /// Parsers never panic on arbitrary input.
        #[test]
        fn parsers_never_panic(raw in ".{0,64}") {
            let _ = vin_from_scan(&raw);
            let _ = normalize_vin(&raw);
            let _ = normalize_plate(&raw);
            let _ = normalize_serial(&raw);
            let _ = parse_cloudboxx_label(&raw);
        }
    }
}
