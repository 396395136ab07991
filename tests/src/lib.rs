//! Shared helpers of the end-to-end tests and benchmarks: a seeded
//! sim-cloud on loopback, technician devices (a core each, with its own
//! temporary data directory) and the simulated-BlueZ rig ([`bluez`]).

pub mod bluez;

use std::path::Path;
use std::time::Duration;

use smartcontrol_core::cloud_api::JobKind;
use smartcontrol_core::{CoreConfig, JobQuery, JobView, RetryPolicy, SmartControl};
use smartcontrol_sim_cloud::{seed_demo, DemoSeed, SimCloud, SimCloudConfig};

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

    /// Anna's device with an installation job she claimed and synced, so its
    /// access grant is on the device.
    pub async fn claimed_installation(&self, dir: &Path) -> anyhow::Result<(SmartControl, String)> {
        let anna = self.anna(dir).await?;
        anna.sync().await?;
        let mut job = None;
        for id in ids(&anna, JobView::Available)? {
            if anna.job(&id)?.cloud.kind == JobKind::Installation {
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
    /// its fleet's key; see [`bluez::scenario`] for the other parameters.
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
        Ok(bluez::scenario(
            &serial,
            &key,
            profile,
            disconnect_after_frames,
        ))
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
