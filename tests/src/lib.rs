//! Shared helpers of the end-to-end tests and benchmarks: a seeded
//! sim-cloud on loopback, technician devices (a core each, with its own
//! temporary data directory), the simulated-BlueZ rig ([`bluez`]) and a
//! counting, link-shaping TCP proxy ([`wire`]).

pub mod bluez;
pub mod wire;

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use smartcontrol_core::ble::security::VerifyingKey;
use smartcontrol_core::cloud_api::JobKind;
use smartcontrol_core::{CoreConfig, JobQuery, JobView, RetryPolicy, SmartControl};
use smartcontrol_sim_cloud::{seed_demo, DemoSeed, SimCloud, SimCloudConfig};
use smartcontrol_sim_device::{LinkModel, SimDevice, SimDeviceConfig, SimWorld, VehicleTiming};

pub use smartcontrol_sim_cloud::{current_totp_code, FaultConfig};

/// A sim-cloud seeded with the demo data.
pub struct DemoCloud {
    pub cloud: SimCloud,
    pub seed: DemoSeed,
}

impl DemoCloud {
    /// Starts an in-memory sim-cloud on a free loopback port and seeds it.
    pub async fn start() -> anyhow::Result<DemoCloud> {
        let cloud = SimCloud::start(SimCloudConfig::default()).await?;
        let seed = seed_demo(cloud.admin())?;
        Ok(DemoCloud { cloud, seed })
    }

    /// A device of a technician (not logged in yet).
    pub fn device(&self, dir: &Path) -> anyhow::Result<SmartControl> {
        open_device(&self.cloud.base_url(), dir)
    }

    /// Anna's device, logged in.
    pub async fn anna(&self, dir: &Path) -> anyhow::Result<SmartControl> {
        let d = self.device(dir)?;
        d.login(&self.seed.anna_email, &self.seed.password, None)
            .await?;
        Ok(d)
    }

    /// Ben's device, logged in with his TOTP code.
    pub async fn ben(&self, dir: &Path) -> anyhow::Result<SmartControl> {
        let d = self.device(dir)?;
        let code = current_totp_code(&self.seed.totp_secret)?;
        d.login(&self.seed.ben_email, &self.seed.password, Some(&code))
            .await?;
        Ok(d)
    }

    /// Cuts every technician request (connection reset) until [`DemoCloud::online`].
    pub fn offline(&self) {
        self.cloud.set_faults(FaultConfig {
            reset_rate: 1.0,
            ..FaultConfig::default()
        });
    }

    /// Removes every fault.
    pub fn online(&self) {
        self.cloud.set_faults(FaultConfig::default());
    }

    /// Anna's device with an installation job (that names its VIN and
    /// CloudBoxx and requires the default work) she claimed and synced, so
    /// its access grant is on the device.
    pub async fn claimed_installation(&self, dir: &Path) -> anyhow::Result<(SmartControl, String)> {
        let anna = self.anna(dir).await?;
        anna.sync().await?;
        let mut job = None;
        for id in ids(&anna, JobView::Available)? {
            let cloud = anna.job(&id)?.cloud;
            if cloud.kind == JobKind::Installation
                && cloud.vin.is_some()
                && cloud.cloudboxx_serial.is_some()
                && cloud.requirements.vehicle_tests.len() == 10
            {
                job = Some(id);
                break;
            }
        }
        let job =
            job.ok_or_else(|| anyhow::anyhow!("the demo seed has no available installation job"))?;
        anna.claim(&job)?;
        anna.sync().await?;
        anyhow::ensure!(
            anna.access_grant(&job)?.is_some(),
            "no grant synced for {job}"
        );
        Ok((anna, job))
    }

    /// The sim-device scenario (TOML) of `job`'s CloudBoxx, provisioned with
    /// its fleet's key, in the job's real vehicle; see [`bluez::scenario`]
    /// for the other parameters.
    pub fn job_scenario(
        &self,
        job: &str,
        profile: &str,
        disconnect_after_frames: Option<u64>,
    ) -> anyhow::Result<String> {
        let cloud_job = self.cloud.admin().job(job)?.job;
        let key = self
            .cloud
            .admin()
            .fleet_public_key_hex(&cloud_job.fleet_id)?;
        let serial = cloud_job
            .cloudboxx_serial
            .ok_or_else(|| anyhow::anyhow!("job {job} names no CloudBoxx serial"))?;
        let (vin, model) = self.vehicle_of(job)?;
        Ok(bluez::scenario(
            &bluez::ScenarioUnit {
                serial: &serial,
                fleet_key_hex: &key,
                vin: &vin,
                model: &model,
            },
            profile,
            disconnect_after_frames,
        ))
    }

    /// The real vehicle of a demo job: (VIN, catalogue model id), also
    /// where the job leaves them to the technician.
    pub fn vehicle_of(&self, job: &str) -> anyhow::Result<(String, String)> {
        self.seed
            .vehicles
            .get(job)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("job {job} is not a demo job"))
    }

    /// The simulated CloudBoxx `serial` of `job`'s fleet, installed in the
    /// job's real vehicle (VIN and model it reports), with an instant
    /// vehicle, an untimed link and `clock` as its time.
    pub fn unit(&self, job: &str, serial: &str, clock: &TestClock) -> anyhow::Result<SimDevice> {
        self.unit_with(job, serial, clock, |_| {})
    }

    /// [`DemoCloud::unit`], with `adjust` applied to its configuration.
    pub fn unit_with(
        &self,
        job: &str,
        serial: &str,
        clock: &TestClock,
        adjust: impl FnOnce(&mut SimDeviceConfig),
    ) -> anyhow::Result<SimDevice> {
        let cloud_job = self.cloud.admin().job(job)?.job;
        let key = self.cloud.admin().fleet_public_key(&cloud_job.fleet_id)?;
        let mut config = SimDeviceConfig::new(serial, VerifyingKey::from_bytes(&key)?);
        let (vin, model) = self.vehicle_of(job)?;
        config.vehicle.vin = vin;
        config.vehicle.model = model;
        config.timing = VehicleTiming::instant();
        config.link = LinkModel::ideal(247);
        config.clock = Some(clock.device_clock());
        adjust(&mut config);
        Ok(SimDevice::new(config))
    }

    /// The job's own unit (its CloudBoxx serial) in a world of its own.
    pub fn job_unit(&self, job: &str, clock: &TestClock) -> anyhow::Result<(SimWorld, SimDevice)> {
        let serial = self
            .cloud
            .admin()
            .job(job)?
            .job
            .cloudboxx_serial
            .ok_or_else(|| anyhow::anyhow!("job {job} names no CloudBoxx serial"))?;
        let dev = self.unit(job, &serial, clock)?;
        let world = SimWorld::new();
        world.add(dev.clone());
        Ok((world, dev))
    }
}

/// Wall time moved by an offset tests control: what simulated units and
/// the simulated cloud's clock agree on when a test lets days pass.
#[derive(Clone, Default)]
pub struct TestClock {
    offset_secs: Arc<AtomicI64>,
}

impl TestClock {
    /// Real time, no offset.
    pub fn new() -> TestClock {
        TestClock::default()
    }

    /// Moves this clock (and `cloud`'s) forward by `secs`.
    pub fn advance(&self, cloud: &SimCloud, secs: i64) {
        self.offset_secs.fetch_add(secs, Ordering::SeqCst);
        cloud.admin().advance_clock(secs);
    }

    /// Unix seconds now.
    pub fn now(&self) -> i64 {
        chrono::Utc::now().timestamp() + self.offset_secs.load(Ordering::SeqCst)
    }

    /// The clock as a simulated unit reads it.
    pub fn device_clock(&self) -> smartcontrol_core::ble::transport::DeviceClock {
        let offset = self.offset_secs.clone();
        Arc::new(move || {
            let now = chrono::Utc::now().timestamp() + offset.load(Ordering::SeqCst);
            u64::try_from(now).unwrap_or(0)
        })
    }
}

/// Workflow options for tests: quick reconnects.
pub fn quick_workflow() -> smartcontrol_core::WorkflowOptions {
    smartcontrol_core::WorkflowOptions {
        reconnect_delay: Duration::from_millis(10),
        ..smartcontrol_core::WorkflowOptions::default()
    }
}

/// Opens a core on `dir` against `server`, with fast retries for tests.
pub fn open_device(server: &str, dir: &Path) -> anyhow::Result<SmartControl> {
    let mut config = CoreConfig::new(dir, server);
    config.request_timeout = Duration::from_secs(10);
    config.retry = RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    };
    Ok(SmartControl::open(config)?)
}

/// Ids of the jobs in a view (first 1,000).
pub fn ids(device: &SmartControl, view: JobView) -> anyhow::Result<Vec<String>> {
    let mut q = JobQuery::view(view);
    q.limit = 1000;
    Ok(device.jobs(&q)?.jobs.into_iter().map(|j| j.id).collect())
}
