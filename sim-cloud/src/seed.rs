//! Demo and benchmark data.

use std::collections::BTreeMap;

use smartcontrol_ble::security::simulated_device_key;
use smartcontrol_cloud_api::site::vin_check_digit;
use smartcontrol_cloud_api::{
    CentralLockConnectionType, FuelType, InstallationVariant, JobKind, RequiredStep,
};

use crate::error::SimResult;
use crate::model::{vehicle_model, JobSpec, NewJob, NewUser, Role};
use crate::SimAdmin;

/// Password of every demo account.
pub const DEMO_PASSWORD: &str = "demo";

/// Base32 TOTP secret of `ben@autotech.test` (SHA1, 6 digits, 30 s).
pub const DEMO_TOTP_SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

/// Ids and accounts created by [`seed_demo`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSeed {
    /// "Shared Mobility GmbH".
    pub provider_id: String,
    /// `provider@demo.test`.
    pub provider_email: String,
    /// "Berlin Fleet".
    pub berlin_fleet_id: String,
    /// "Hamburg Fleet".
    pub hamburg_fleet_id: String,
    /// "AutoTech Installations".
    pub autotech_id: String,
    /// `admin@autotech.test`.
    pub autotech_admin_email: String,
    /// `anna@autotech.test` (technician, password only).
    pub anna_email: String,
    /// User id of Anna.
    pub anna_id: String,
    /// `ben@autotech.test` (technician, TOTP [`DEMO_TOTP_SECRET`]).
    pub ben_email: String,
    /// User id of Ben.
    pub ben_id: String,
    /// "Other Installers".
    pub other_id: String,
    /// `admin@other.test`.
    pub other_admin_email: String,
    /// `olga@other.test` (technician of Other Installers).
    pub olga_email: String,
    /// User id of Olga.
    pub olga_id: String,
    /// Password of every account ([`DEMO_PASSWORD`]).
    pub password: String,
    /// TOTP secret of Ben ([`DEMO_TOTP_SECRET`]).
    pub totp_secret: String,
    /// Jobs ASSIGNED to AutoTech (both fleets).
    pub autotech_job_ids: Vec<String>,
    /// Jobs ASSIGNED to Other Installers (Hamburg).
    pub other_job_ids: Vec<String>,
    /// PENDING jobs.
    pub pending_job_ids: Vec<String>,
    /// Jobs (of any of the above) whose requirements include vehicle tests.
    pub tests_required_job_ids: Vec<String>,
    /// Jobs whose provider requires no device work at all (visual-check
    /// maintenance visits): SUCCEEDED right after claim is allowed.
    pub no_required_work_job_ids: Vec<String>,
    /// Jobs that leave the VIN and plate to the technician.
    pub open_vin_job_ids: Vec<String>,
    /// Jobs that leave the CloudBoxx serial to the technician.
    pub open_serial_job_ids: Vec<String>,
    /// The real vehicle of every job: job id -> (VIN, catalogue model id),
    /// also where the job leaves them open (simulated vehicles report these).
    pub vehicles: BTreeMap<String, (String, String)>,
    /// Registered units not named by any job, per fleet id (what a
    /// technician enters on site for a job without a serial).
    pub spare_serials: BTreeMap<String, Vec<String>>,
    /// CloudBoxx serial of every demo job that names one: job id ->
    /// `CBX-1000NN` (see [`demo_cloudboxx_serial`]). Every demo unit (and
    /// the spares) is registered with its fleet under its simulated key
    /// (`smartcontrol_ble::security::simulated_device_key`).
    pub cloudboxx_serials: BTreeMap<String, String>,
    /// Ed25519 public key of the Berlin fleet (its CloudBoxxes verify
    /// grants with it).
    pub berlin_fleet_public_key: [u8; 32],
    /// Ed25519 public key of the Hamburg fleet.
    pub hamburg_fleet_public_key: [u8; 32],
}

/// Serial of the CloudBoxx of demo job `i` (0-based, in creation order):
/// `CBX-100001`, `CBX-100002`, ...
pub fn demo_cloudboxx_serial(i: usize) -> String {
    format!("CBX-{}", 100_001 + i)
}

/// Spare registered units of a demo fleet (`CBX-19000N` Berlin,
/// `CBX-19010N` Hamburg), not named by any job.
pub fn demo_spare_serials(hamburg: bool) -> Vec<String> {
    let base = if hamburg { 190_101 } else { 190_001 };
    (0..3).map(|i| format!("CBX-{}", base + i)).collect()
}

/// A valid VIN of demo vehicle `i`: the model's manufacturer code, `ZZZ`,
/// a letter (never I, O or Q) and digits, with the ISO 3779 check digit
/// where the region requires one (North America).
pub fn demo_vin(wmi: &str, i: usize) -> String {
    const LETTERS: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ";
    let letter = LETTERS[i % LETTERS.len()] as char;
    let mut vin: Vec<char> = format!(
        "{wmi}ZZZ{letter}{:010}",
        4_711_000_000u64 + (i as u64) * 7919
    )
    .chars()
    .collect();
    let text: String = vin.iter().collect();
    if smartcontrol_cloud_api::site::vin_check_digit_applies(&text) {
        if let Some(d) = vin_check_digit(&text) {
            vin[8] = d;
        }
    }
    vin.into_iter().collect()
}

/// Serial of the CloudBoxx of [`seed_bulk`] job `i`: `CBX-300000` + i.
pub fn bulk_cloudboxx_serial(i: usize) -> String {
    format!("CBX-{}", 300_000 + i)
}

/// Vehicle models used by the demo: (catalogue id, fuel, lock type, WMI).
const DEMO_MODELS: &[(&str, FuelType, CentralLockConnectionType, &str)] = &[
    (
        "vw-id3",
        FuelType::Electric,
        CentralLockConnectionType::SecureKeyModule,
        "WVW",
    ),
    (
        "vw-golf8",
        FuelType::Petrol,
        CentralLockConnectionType::Can,
        "WVW",
    ),
    (
        "renault-zoe",
        FuelType::Electric,
        CentralLockConnectionType::Analog,
        "VF1",
    ),
    (
        "bmw-i3",
        FuelType::Electric,
        CentralLockConnectionType::SecureKeyModule,
        "WBY",
    ),
    (
        "fiat-500e",
        FuelType::Electric,
        CentralLockConnectionType::Can,
        "ZFA",
    ),
    (
        "tesla-model3",
        FuelType::Electric,
        CentralLockConnectionType::KeylessBypass,
        "5YJ",
    ),
    (
        "skoda-octavia",
        FuelType::Diesel,
        CentralLockConnectionType::Can,
        "TMB",
    ),
    (
        "toyota-yaris-hybrid",
        FuelType::Hybrid,
        CentralLockConnectionType::Analog,
        "VNK",
    ),
    (
        "mini-cooper-se",
        FuelType::Electric,
        CentralLockConnectionType::SecureKeyModule,
        "WMW",
    ),
    (
        "opel-corsa-e",
        FuelType::Electric,
        CentralLockConnectionType::Can,
        "W0V",
    ),
];

const INSTRUCTIONS: &[&str] = &[
    "Vehicle is parked on level -2, bay 14. Key in the key box at the entrance (code from dispatch).",
    "Install behind the glove box; route the antenna along the A-pillar.",
    "Customer reported intermittent unlock failures. Check the lock wiring and re-run the lock tests.",
    "Replace the old telematics unit and return it in the supplied envelope.",
    "Check firmware and apply the current configuration preset. Mileage must be read back.",
    "Hidden installation required: the unit must not be visible from the driver's seat.",
];

const STATIONS: &[&str] = &[
    "Alexanderplatz",
    "Potsdamer Platz",
    "Kreuzberg Depot",
    "Altona",
    "HafenCity",
    "Wandsbek Depot",
];

/// One demo job; `i` in 0..36 decides every field.
fn demo_job(
    i: usize,
    fleet_id: &str,
    hamburg: bool,
    company: Option<&str>,
    today: chrono::NaiveDate,
) -> NewJob {
    let (model_id, fuel, lock, wmi) = &DEMO_MODELS[i % DEMO_MODELS.len()];
    let kind = if i % 3 == 2 {
        JobKind::Maintenance
    } else {
        JobKind::Installation
    };
    let plate = if hamburg {
        format!("HH-SM {}", 2217 + i * 13)
    } else {
        format!("B-SC {}", 1042 + i * 17)
    };
    let vin = demo_vin(wmi, i);
    let open_choice = i % 7 == 3;
    let open_vin = i % 9 == 4;
    let open_serial = i % 11 == 5;
    // Maintenance visits that are a visual check require no device work;
    // others ask for the tests. Installations require the default work
    // (bind, configure, verify, every test), some only the lock and
    // immobilizer tests.
    let (required_steps, required_tests) = match (&kind, i % 4) {
        (JobKind::Maintenance, 0) => (
            None,
            Some(smartcontrol_cloud_api::work::default_installation_tests()),
        ),
        (JobKind::Maintenance, _) => (Some(Vec::<RequiredStep>::new()), Some(Vec::new())),
        (_, 1) => (
            None,
            Some(
                [
                    "central_lock_lock",
                    "central_lock_unlock",
                    "immobilizer_disable_driving",
                    "immobilizer_enable_driving",
                ]
                .map(str::to_owned)
                .to_vec(),
            ),
        ),
        _ => (None, None),
    };
    let variant = match i % 3 {
        0 => InstallationVariant::Standard,
        1 => InstallationVariant::Hidden,
        _ => InstallationVariant::Retrofit,
    };
    let preset = match (lock, fuel) {
        (CentralLockConnectionType::SecureKeyModule, _) => "skm-keyless-v1",
        (_, FuelType::Electric) => "sharing-ev-v2",
        _ => "sharing-ice-v3",
    };
    let station = STATIONS[(i % 3) + if hamburg { 3 } else { 0 }];
    let mut master = serde_json::Map::new();
    master.insert(
        "cost_center".into(),
        (if hamburg { "HAM-02" } else { "BER-01" }).into(),
    );
    master.insert("station".into(), station.into());
    master.insert("initial_mileage_km".into(), (1200 + i * 523).into());
    let date = today + chrono::Duration::days((i % 14) as i64);
    let spec = JobSpec {
        kind: kind.clone(),
        vin: (!open_vin).then_some(vin),
        license_plate: (!open_vin).then_some(plate),
        custom_name: Some(format!(
            "{}-{:03}",
            if hamburg { "SM-HH" } else { "SM-B" },
            i + 1
        )),
        vehicle_model: Some(vehicle_model(model_id)),
        installation_variant: if open_choice || kind == JobKind::Maintenance {
            None
        } else {
            Some(variant)
        },
        central_lock_connection_type: if open_choice {
            None
        } else {
            Some(lock.clone())
        },
        fuel_type: Some(fuel.clone()),
        cloudboxx_serial: (!open_serial).then(|| demo_cloudboxx_serial(i)),
        hardware: Some(
            if kind == JobKind::Maintenance {
                "CloudBoxx 3 (installed)"
            } else {
                "CloudBoxx 3 LTE-M"
            }
            .into(),
        ),
        cloudboxx_config_preset: if open_choice {
            None
        } else {
            Some(preset.into())
        },
        master_data: master,
        planned_service_date: Some(date.format("%Y-%m-%d").to_string()),
        instructions: Some(if required_steps.as_ref().is_some_and(Vec::is_empty) {
            "Visual check of the installation and the wiring; no device work needed.".into()
        } else {
            INSTRUCTIONS[i % INSTRUCTIONS.len()].into()
        }),
        vehicle_tests_required: None,
        required_steps,
        required_tests,
    };
    NewJob {
        fleet_id: fleet_id.to_owned(),
        spec,
        assigned_company_id: company.map(str::to_owned),
    }
}

/// Fills the cloud with the demo world: provider "Shared Mobility GmbH"
/// (`provider@demo.test`), fleets "Berlin Fleet" and "Hamburg Fleet",
/// partner "AutoTech Installations" (admin `admin@autotech.test`,
/// technicians `anna@autotech.test` and `ben@autotech.test` with TOTP
/// [`DEMO_TOTP_SECRET`]) connected to both fleets, partner "Other
/// Installers" (`admin@other.test`, technician `olga@other.test`) connected
/// to Hamburg only, and 36 jobs: 26 ASSIGNED to AutoTech (18 Berlin, 8
/// Hamburg), 4 ASSIGNED to Other Installers (Hamburg), 6 PENDING. Every
/// password is [`DEMO_PASSWORD`]. Every job names a CloudBoxx
/// ([`demo_cloudboxx_serial`] of its index); the fleets get random signing
/// keys (public keys in [`DemoSeed`] and [`SimAdmin::fleet_public_key`]).
pub fn seed_demo(admin: &SimAdmin) -> SimResult<DemoSeed> {
    let provider_id = admin.create_provider("Shared Mobility GmbH")?;
    admin.create_provider_user(
        &provider_id,
        "provider@demo.test",
        "Paula Provider",
        DEMO_PASSWORD,
    )?;
    let berlin = admin.create_fleet(&provider_id, "Berlin Fleet")?;
    let hamburg = admin.create_fleet(&provider_id, "Hamburg Fleet")?;
    let autotech = admin.create_company("AutoTech Installations")?;
    let other = admin.create_company("Other Installers")?;
    let user = |company: &str, email: &str, name: &str, role: Role, totp: Option<&str>| {
        admin.create_company_user(
            company,
            &NewUser {
                email: email.into(),
                name: name.into(),
                role,
                password: DEMO_PASSWORD.into(),
                totp_secret: totp.map(str::to_owned),
            },
        )
    };
    user(
        &autotech,
        "admin@autotech.test",
        "Alex Admin",
        Role::Admin,
        None,
    )?;
    let anna = user(
        &autotech,
        "anna@autotech.test",
        "Anna Schmidt",
        Role::Technician,
        None,
    )?;
    let ben = user(
        &autotech,
        "ben@autotech.test",
        "Ben Keller",
        Role::Technician,
        Some(DEMO_TOTP_SECRET),
    )?;
    user(&other, "admin@other.test", "Oskar Admin", Role::Admin, None)?;
    let olga = user(
        &other,
        "olga@other.test",
        "Olga Petrova",
        Role::Technician,
        None,
    )?;
    admin.connect(&provider_id, &berlin, &autotech)?;
    admin.connect(&provider_id, &hamburg, &autotech)?;
    admin.connect(&provider_id, &hamburg, &other)?;

    let today = admin.now().date_naive();
    // Every unit of the demo (and three spares per fleet) is registered
    // with its fleet under its simulated key.
    let mut units: BTreeMap<String, Vec<(String, [u8; 32])>> = BTreeMap::new();
    for i in 0..36 {
        let fleet = if i >= 20 { &hamburg } else { &berlin };
        let serial = demo_cloudboxx_serial(i);
        let key = simulated_device_key(&serial).verifying_key().to_bytes();
        units.entry(fleet.clone()).or_default().push((serial, key));
    }
    let mut spare_serials = BTreeMap::new();
    for (fleet, hamburg_fleet) in [(&berlin, false), (&hamburg, true)] {
        let spares = demo_spare_serials(hamburg_fleet);
        for s in &spares {
            let key = simulated_device_key(s).verifying_key().to_bytes();
            units
                .entry(fleet.clone())
                .or_default()
                .push((s.clone(), key));
        }
        spare_serials.insert(fleet.clone(), spares);
    }
    for (fleet, devices) in &units {
        admin.register_devices_unchecked(fleet, devices)?;
    }
    let mut vehicles = BTreeMap::new();
    let mut jobs = Vec::new();
    for i in 0..36 {
        let hamburg_job = i >= 20;
        let fleet = if hamburg_job { &hamburg } else { &berlin };
        let company = match i {
            0..18 | 20..28 => Some(autotech.as_str()),
            28..32 => Some(other.as_str()),
            _ => None,
        };
        jobs.push(demo_job(i, fleet, hamburg_job, company, today));
    }
    let created = admin.create_jobs(&provider_id, jobs)?;
    for (i, j) in created.iter().enumerate() {
        let (model_id, _, _, wmi) = &DEMO_MODELS[i % DEMO_MODELS.len()];
        vehicles.insert(j.job.id.clone(), (demo_vin(wmi, i), (*model_id).to_owned()));
    }
    let berlin_fleet_public_key = admin.fleet_public_key(&berlin)?;
    let hamburg_fleet_public_key = admin.fleet_public_key(&hamburg)?;
    let mut seed = DemoSeed {
        provider_id,
        provider_email: "provider@demo.test".into(),
        berlin_fleet_id: berlin,
        hamburg_fleet_id: hamburg,
        autotech_id: autotech.clone(),
        autotech_admin_email: "admin@autotech.test".into(),
        anna_email: anna.email,
        anna_id: anna.id,
        ben_email: ben.email,
        ben_id: ben.id,
        other_id: other.clone(),
        other_admin_email: "admin@other.test".into(),
        olga_email: olga.email,
        olga_id: olga.id,
        password: DEMO_PASSWORD.into(),
        totp_secret: DEMO_TOTP_SECRET.into(),
        autotech_job_ids: Vec::new(),
        other_job_ids: Vec::new(),
        pending_job_ids: Vec::new(),
        tests_required_job_ids: Vec::new(),
        no_required_work_job_ids: Vec::new(),
        open_vin_job_ids: Vec::new(),
        open_serial_job_ids: Vec::new(),
        vehicles,
        spare_serials,
        cloudboxx_serials: BTreeMap::new(),
        berlin_fleet_public_key,
        hamburg_fleet_public_key,
    };
    for j in created {
        let j = j.job;
        match &j.cloudboxx_serial {
            Some(serial) => {
                seed.cloudboxx_serials.insert(j.id.clone(), serial.clone());
            }
            None => seed.open_serial_job_ids.push(j.id.clone()),
        }
        if j.vin.is_none() {
            seed.open_vin_job_ids.push(j.id.clone());
        }
        if j.vehicle_tests_required {
            seed.tests_required_job_ids.push(j.id.clone());
        }
        if j.requirements.is_empty() {
            seed.no_required_work_job_ids.push(j.id.clone());
        }
        match j.assigned_company_id.as_deref() {
            Some(c) if c == autotech => seed.autotech_job_ids.push(j.id),
            Some(c) if c == other => seed.other_job_ids.push(j.id),
            _ => seed.pending_job_ids.push(j.id),
        }
    }
    tracing::info!("demo data seeded");
    Ok(seed)
}

/// What [`seed_bulk`] created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkSeed {
    /// The provider.
    pub provider_id: String,
    /// `bulk-provider-…@bulk.test`, password [`DEMO_PASSWORD`].
    pub provider_email: String,
    /// The single fleet.
    pub fleet_id: String,
    /// The partner company.
    pub company_id: String,
    /// The technician's user id.
    pub technician_id: String,
    /// `bulk-tech-…@bulk.test`, password [`DEMO_PASSWORD`], no TOTP.
    pub technician_email: String,
    /// Password of both accounts.
    pub password: String,
    /// The ASSIGNED jobs, in creation order.
    pub job_ids: Vec<String>,
}

/// Creates a provider, fleet, partner (ACCEPTED connection), a technician
/// and `n_jobs` ASSIGNED jobs in one transaction (benchmarks). Account
/// e-mails get a random suffix so it can be called repeatedly.
pub fn seed_bulk(admin: &SimAdmin, n_jobs: usize) -> SimResult<BulkSeed> {
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let provider_id = admin.create_provider(&format!("Bulk Mobility {suffix}"))?;
    let provider_email = format!("bulk-provider-{suffix}@bulk.test");
    admin.create_provider_user(
        &provider_id,
        &provider_email,
        "Bulk Provider",
        DEMO_PASSWORD,
    )?;
    let fleet_id = admin.create_fleet(&provider_id, "Bulk Fleet")?;
    let company_id = admin.create_company(&format!("Bulk Installers {suffix}"))?;
    let technician_email = format!("bulk-tech-{suffix}@bulk.test");
    let tech = admin.create_company_user(
        &company_id,
        &NewUser {
            email: technician_email.clone(),
            name: "Bulk Technician".into(),
            role: Role::Technician,
            password: DEMO_PASSWORD.into(),
            totp_secret: None,
        },
    )?;
    admin.connect(&provider_id, &fleet_id, &company_id)?;
    let today = admin.now().date_naive();
    let jobs = (0..n_jobs)
        .map(|i| {
            let mut j = demo_job(i % 36, &fleet_id, false, Some(&company_id), today);
            j.spec.license_plate = Some(format!("B-BK {}", 10_000 + i));
            j.spec.custom_name = Some(format!("BULK-{i:06}"));
            j.spec.cloudboxx_serial = Some(bulk_cloudboxx_serial(i));
            j
        })
        .collect();
    let job_ids = admin.insert_assigned_jobs(&provider_id, jobs)?;
    let units: Vec<(String, [u8; 32])> = (0..n_jobs)
        .map(|i| {
            let serial = bulk_cloudboxx_serial(i);
            let key = simulated_device_key(&serial).verifying_key().to_bytes();
            (serial, key)
        })
        .collect();
    admin.register_devices_unchecked(&fleet_id, &units)?;
    Ok(BulkSeed {
        provider_id,
        provider_email,
        fleet_id,
        company_id,
        technician_id: tech.id,
        technician_email,
        password: DEMO_PASSWORD.into(),
        job_ids,
    })
}
