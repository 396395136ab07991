//! One simulated CloudBoxx: provisioned identity, firmware, vehicle, link model
//! and fault handle; each connection runs the protocol engine
//! ([`DeviceConnection`]) in a tokio task behind the link model.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smartcontrol_ble::device::{DeviceConnection, RequestContext, StoredConfig};
use smartcontrol_ble::message::{Message, PROTOCOL_VERSION};
use smartcontrol_ble::security::{
    simulated_device_key, DeviceIdentity, DeviceRevocations, RevocationUpdateOutcome,
    SecurityError, SignedRevocationList, SigningKey, VerifyingKey,
};
use smartcontrol_ble::transport::{Advertisement, BleChannel, DeviceClock, TransportError};
use smartcontrol_ble::uuids::{AdvertData, ADV_FLAG_STAGED_CONFIG, ADV_FLAG_UNBOUND};
use tokio::time::Instant;

use crate::cellular::{Cellular, CellularConfig, CellularError};
use crate::faults::FaultHandle;
use crate::firmware::{SimFirmware, DEFAULT_CONFIG_CAPACITY};
use crate::link::{open_link, DeviceEnd, LinkCounters, LinkMeter, LinkModel, RateFaults};
use crate::state::{
    vehicle_fault_names, vehicle_faults_from_names, StateError, UnitState, UNIT_STATE_VERSION,
};
use crate::vehicle::{Vehicle, VehicleState, VehicleTiming};

/// What a simulated device is built from.
#[derive(Clone)]
pub struct SimDeviceConfig {
    /// Advertised serial.
    pub serial: String,
    /// Firmware version string.
    pub firmware_version: String,
    /// Hardware revision string.
    pub hardware_version: String,
    /// Provisioned fleet public key (grants are verified with it).
    pub fleet_public_key: VerifyingKey,
    /// Revoked grant ids.
    pub revoked: Vec<[u8; 16]>,
    /// Vehicle state.
    pub vehicle: VehicleState,
    /// Vehicle operation delays.
    pub timing: VehicleTiming,
    /// Radio link.
    pub link: LinkModel,
    /// Configuration space in bytes.
    pub config_capacity: u32,
    /// Factory configuration `(id, bytes)`.
    pub initial_config: Option<(String, Vec<u8>)>,
    /// VIN already bound (empty: a new, unbound unit).
    pub bound_vin: String,
    /// Device time in unix seconds (None: the system clock).
    pub clock: Option<DeviceClock>,
    /// The unit's own signing key (attestations); default: the simulated
    /// key of its serial (`simulated_device_key`).
    pub device_key: SigningKey,
    /// Its own cellular link to the fleet cloud (None: no modem coverage
    /// configured).
    pub cellular: Option<CellularConfig>,
}

impl std::fmt::Debug for SimDeviceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimDeviceConfig")
            .field("serial", &self.serial)
            .field("firmware_version", &self.firmware_version)
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

impl SimDeviceConfig {
    /// Defaults: firmware 2.4.1, hardware CBX-2, a healthy fuel vehicle with
    /// realistic delays, the fast link, 256 KiB configuration space, unbound,
    /// system clock.
    pub fn new(serial: &str, fleet_public_key: VerifyingKey) -> Self {
        Self {
            serial: serial.to_owned(),
            firmware_version: "2.4.1".into(),
            hardware_version: "CBX-2".into(),
            fleet_public_key,
            revoked: Vec::new(),
            vehicle: VehicleState::default(),
            timing: VehicleTiming::realistic(),
            link: LinkModel::fast(),
            config_capacity: DEFAULT_CONFIG_CAPACITY,
            initial_config: None,
            bound_vin: String::new(),
            clock: None,
            device_key: simulated_device_key(serial),
            cellular: None,
        }
    }
}

fn system_clock() -> DeviceClock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    })
}

struct DeviceInner {
    serial: String,
    fleet_public_key: VerifyingKey,
    firmware: Arc<tokio::sync::Mutex<SimFirmware>>,
    faults: FaultHandle,
    link: Mutex<LinkModel>,
    revocations: Arc<Mutex<DeviceRevocations>>,
    clock: Mutex<DeviceClock>,
    meter: LinkMeter,
    cellular: Option<Cellular>,
    /// Connections whose protocol engine is still running (see
    /// [`SimDevice::connections_closed`]).
    live_connections: Arc<tokio::sync::watch::Sender<usize>>,
}

/// A simulated CloudBoxx (cheap to clone; clones share the device).
#[derive(Clone)]
pub struct SimDevice {
    inner: Arc<DeviceInner>,
}

impl std::fmt::Debug for SimDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimDevice")
            .field("serial", &self.inner.serial)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SimDevice {
    /// Build a device from its configuration.
    pub fn new(config: SimDeviceConfig) -> Self {
        let faults = FaultHandle::new();
        let vehicle = Vehicle::new(config.vehicle, config.timing);
        let mut fw = SimFirmware::new(&config.serial, vehicle, faults.clone());
        fw.firmware_version = config.firmware_version;
        fw.hardware_version = config.hardware_version;
        fw.config = smartcontrol_ble::device::ConfigStore::new(config.config_capacity);
        if let Some((id, bytes)) = config.initial_config {
            fw.config.set_active(&id, bytes);
        }
        fw.bound_vin = config.bound_vin;
        fw.device_key = config.device_key;
        let device = Self {
            inner: Arc::new(DeviceInner {
                serial: config.serial,
                fleet_public_key: config.fleet_public_key,
                firmware: Arc::new(tokio::sync::Mutex::new(fw)),
                faults,
                link: Mutex::new(config.link),
                revocations: Arc::new(Mutex::new(DeviceRevocations::with_ids(config.revoked))),
                clock: Mutex::new(config.clock.unwrap_or_else(system_clock)),
                meter: LinkMeter::default(),
                cellular: config.cellular.map(Cellular::new),
                live_connections: Arc::new(tokio::sync::watch::Sender::new(0)),
            }),
        };
        device.start_cellular_polling();
        device
    }

    /// The unit's public key (what the fleet registers to verify its
    /// attestations).
    pub async fn device_public_key(&self) -> VerifyingKey {
        self.inner.firmware.lock().await.device_key.verifying_key()
    }

    /// Waits until every connection opened so far has ended on the unit's
    /// side: the link is down and the firmware has processed every frame
    /// the link delivered before it went down (as a real unit's controller
    /// hands its host what it received and acknowledged on air). A
    /// [`SimDevice::snapshot`] after it holds everything the unit got; one
    /// taken while a connection is still being wound down may not.
    pub async fn connections_closed(&self) {
        let mut live = self.inner.live_connections.subscribe();
        // Err: the sender is gone with the device, so nothing runs.
        let _ = live.wait_for(|n| *n == 0).await;
    }

    /// The unit's persistent state now: configuration (committed and
    /// staged), bound VIN, attestation counter, revocations, vehicle faults
    /// in effect and the faults still armed.
    pub async fn snapshot(&self) -> UnitState {
        let fw = self.inner.firmware.lock().await;
        UnitState {
            version: UNIT_STATE_VERSION,
            serial: self.inner.serial.clone(),
            config: fw.config.snapshot(),
            bound_vin: fw.bound_vin.clone(),
            attestations: fw.attestations,
            revocations: lock(&self.inner.revocations).snapshot(),
            vehicle_faults: vehicle_fault_names(&fw.vehicle.faults),
            faults: self.inner.faults.snapshot(),
        }
    }

    /// Continue from a [`SimDevice::snapshot`] (of this unit, possibly in an
    /// earlier process). Everything is checked first: on an error the unit
    /// is unchanged.
    pub async fn restore(&self, state: &UnitState) -> Result<(), StateError> {
        if state.version != UNIT_STATE_VERSION {
            return Err(StateError::Version {
                found: state.version,
            });
        }
        if state.serial != self.inner.serial {
            return Err(StateError::Serial {
                found: state.serial.clone(),
                expected: self.inner.serial.clone(),
            });
        }
        let vehicle_faults = vehicle_faults_from_names(&state.vehicle_faults)?;
        let mut fw = self.inner.firmware.lock().await;
        let mut config = fw.config.clone();
        config.restore(state.config.clone())?;
        // The last check: once the faults are armed, nothing can fail.
        self.inner.faults.restore(&state.faults)?;
        fw.config = config;
        fw.bound_vin = state.bound_vin.clone();
        fw.attestations = state.attestations;
        fw.vehicle.faults = vehicle_faults;
        *lock(&self.inner.revocations) =
            DeviceRevocations::from_snapshot(state.revocations.clone());
        tracing::info!(serial = %self.inner.serial, "unit state restored");
        Ok(())
    }

    /// Whether the unit's revocation list holds `grant_id`.
    pub fn is_revoked(&self, grant_id: &[u8; 16]) -> bool {
        use smartcontrol_ble::security::RevocationList;
        lock(&self.inner.revocations).is_revoked(grant_id)
    }

    /// The unit's revocations now (sequence of the newest list applied,
    /// entries).
    pub fn revocations(&self) -> DeviceRevocations {
        lock(&self.inner.revocations).clone()
    }

    /// Applies a signed revocation list as the firmware does when it
    /// arrives over the cellular link.
    pub fn apply_revocation_list(
        &self,
        list: &SignedRevocationList,
    ) -> Result<RevocationUpdateOutcome, SecurityError> {
        let now = self.now();
        lock(&self.inner.revocations).apply(
            list,
            &self.inner.serial,
            &self.inner.fleet_public_key,
            now,
        )
    }

    /// Whether the unit has cellular coverage now (false without a
    /// configured link).
    pub fn cellular_up(&self) -> bool {
        self.inner.cellular.as_ref().is_some_and(Cellular::is_up)
    }

    /// Switches the unit's cellular coverage (QA: the vehicle drives into
    /// an underground garage, or out of it).
    pub fn set_cellular_up(&self, up: bool) {
        if let Some(c) = &self.inner.cellular {
            c.set_up(up);
        }
    }

    /// Fetches the fleet's revocation list for this unit over the cellular
    /// link now and applies it (what the poller does every interval).
    pub async fn fetch_revocations(&self) -> Result<RevocationUpdateOutcome, CellularError> {
        let cellular = self
            .inner
            .cellular
            .as_ref()
            .ok_or(CellularError::NotConfigured)?;
        let list = cellular.fetch(&self.inner.serial).await?;
        self.apply_revocation_list(&list)
            .map_err(CellularError::Refused)
    }

    fn start_cellular_polling(&self) {
        let Some(c) = &self.inner.cellular else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(serial = %self.inner.serial, "no runtime: the cellular link will not poll");
            return;
        };
        let interval = c.poll_interval();
        let weak = Arc::downgrade(&self.inner);
        rt.spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let Some(inner) = weak.upgrade() else { return };
                let device = SimDevice { inner };
                if device.cellular_up() {
                    match device.fetch_revocations().await {
                        Ok(outcome) => tracing::debug!(?outcome, serial = device.serial(), "cellular revocation poll"),
                        Err(e) => tracing::info!(error = %e, serial = device.serial(), "cellular revocation poll failed"),
                    }
                }
            }
        });
    }

    /// Advertised serial.
    pub fn serial(&self) -> &str {
        &self.inner.serial
    }

    /// The provisioned fleet public key.
    pub fn fleet_public_key(&self) -> VerifyingKey {
        self.inner.fleet_public_key
    }

    /// Runtime fault injection.
    pub fn faults(&self) -> FaultHandle {
        self.inner.faults.clone()
    }

    /// The firmware (configuration store, binding, vehicle, logs).
    pub fn firmware(&self) -> Arc<tokio::sync::Mutex<SimFirmware>> {
        self.inner.firmware.clone()
    }

    /// The active configuration.
    pub async fn active_config(&self) -> Option<StoredConfig> {
        self.inner.firmware.lock().await.config.active().cloned()
    }

    /// The link model used by the next connection.
    pub fn link(&self) -> LinkModel {
        *lock(&self.inner.link)
    }

    /// Change the link model (next connection on).
    pub fn set_link(&self, link: LinkModel) {
        *lock(&self.inner.link) = link;
    }

    /// Link counters over every connection so far.
    pub fn link_counters(&self) -> LinkCounters {
        self.inner.meter.counters()
    }

    /// Start of the next connection event of the latest connection (at or
    /// after now), for measurements aligned to the event grid.
    pub fn next_connection_event(&self) -> Option<Instant> {
        self.inner.meter.next_anchor(Instant::now())
    }

    /// Sleep until just before a connection event of the latest connection
    /// (1 ms ahead, the timer's resolution) and return that event's start, so
    /// a measured operation starts on the event grid as the link-time formula
    /// assumes. Returns now when there is no connection yet.
    pub async fn align_to_connection_event(&self) -> Instant {
        let lead = Duration::from_millis(1);
        let Some(anchor) = self.inner.meter.next_anchor(Instant::now() + lead) else {
            return Instant::now();
        };
        tokio::time::sleep_until(anchor - lead).await;
        anchor
    }

    /// Add a grant id to the revocation list (provisioning, tests).
    pub fn revoke(&self, grant_id: [u8; 16]) {
        lock(&self.inner.revocations).revoke(grant_id, u64::MAX);
    }

    /// Replace the device clock (unix seconds).
    pub fn set_clock(&self, clock: DeviceClock) {
        *lock(&self.inner.clock) = clock;
    }

    /// Device time now (unix seconds).
    pub fn now(&self) -> u64 {
        (lock(&self.inner.clock))()
    }

    /// What the device advertises.
    pub async fn advertisement(&self) -> Advertisement {
        let fw = self.inner.firmware.lock().await;
        let mut flags = 0;
        if fw.bound_vin.is_empty() {
            flags |= ADV_FLAG_UNBOUND;
        }
        if fw.config.staged_len().is_some() {
            flags |= ADV_FLAG_STAGED_CONFIG;
        }
        Advertisement {
            data: AdvertData {
                protocol_version: PROTOCOL_VERSION,
                flags,
                serial: self.inner.serial.clone(),
            },
            rssi: Some(-55),
        }
    }

    /// Open a connection (phone side) through the link model; `mtu` caps the
    /// ATT MTU the link negotiates. Must be called inside a tokio runtime.
    pub fn connect(&self, mtu: Option<usize>) -> Result<BleChannel, TransportError> {
        let mut model = self.link();
        if let Some(m) = mtu {
            model.profile.att_mtu = model.profile.att_mtu.min(m.max(23));
        }
        let (conn_faults, rates, claimed) = {
            let mut s = self.inner.faults.state();
            (
                std::mem::take(&mut s.next_connection),
                RateFaults {
                    loss_rate: s.loss_rate,
                    corrupt_rate: s.corrupt_rate,
                    seed: s.seed,
                },
                s.wrong_serial
                    .clone()
                    .unwrap_or_else(|| self.inner.serial.clone()),
            )
        };
        let identity = DeviceIdentity {
            serial: claimed,
            fleet_public_key: self.inner.fleet_public_key,
        };
        let conn = DeviceConnection::new(identity, model.mtu())
            .map_err(|e| TransportError::Io(e.to_string()))?;
        let (channel, end) = open_link(
            &self.inner.serial,
            model,
            conn_faults,
            rates,
            self.inner.meter.clone(),
        );
        let retransmit = if model.timed {
            Duration::from_millis(300).max(model.profile.interval * 12)
        } else {
            Duration::from_millis(300)
        };
        let runner = DeviceRunner {
            end,
            conn,
            firmware: self.inner.firmware.clone(),
            clock: lock(&self.inner.clock).clone(),
            revocations: self.inner.revocations.clone(),
            retransmit,
            meter: self.inner.meter.clone(),
            _live: LiveConnection::new(self.inner.live_connections.clone()),
        };
        tracing::debug!(serial = %self.inner.serial, link = %model.describe(), "connected");
        tokio::spawn(runner.run());
        Ok(channel)
    }
}

/// Counts a connection as live while its engine runs.
struct LiveConnection(Arc<tokio::sync::watch::Sender<usize>>);

impl LiveConnection {
    fn new(live: Arc<tokio::sync::watch::Sender<usize>>) -> Self {
        live.send_modify(|n| *n += 1);
        Self(live)
    }
}

impl Drop for LiveConnection {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Runs one connection's protocol engine against the firmware.
struct DeviceRunner {
    end: DeviceEnd,
    conn: DeviceConnection,
    firmware: Arc<tokio::sync::Mutex<SimFirmware>>,
    clock: DeviceClock,
    revocations: Arc<Mutex<DeviceRevocations>>,
    retransmit: Duration,
    meter: LinkMeter,
    _live: LiveConnection,
}

/// Responses waiting for a vehicle operation, in order.
type Pending = VecDeque<(Instant, Vec<Message>)>;

impl DeviceRunner {
    fn flush(&mut self) -> bool {
        while let Some(frame) = self.conn.poll_transmit() {
            if self.end.tx.send(frame).is_err() {
                return false;
            }
        }
        true
    }

    async fn run(mut self) {
        let mut rng = rand_core::OsRng;
        let mut pending = Pending::new();
        loop {
            if !self.flush() {
                // The link went down with frames possibly still queued for
                // the unit: they were delivered, so the firmware handles them.
                self.handle_the_rest(&mut pending, &mut rng).await;
                return;
            }
            if self.conn.should_close() {
                tracing::debug!("device closing connection after refusal");
                return;
            }
            let due = pending.front().map(|p| p.0);
            let retransmit = self.conn.has_unacked();
            tokio::select! {
                incoming = self.end.rx.recv() => {
                    let Some(bytes) = incoming else { return };
                    self.handle(&bytes, &mut pending, &mut rng).await;
                }
                _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    if let Some((_, responses)) = pending.pop_front() {
                        for r in &responses {
                            self.conn.respond(r);
                        }
                    }
                }
                _ = tokio::time::sleep(self.retransmit), if retransmit => {
                    self.conn.on_timeout();
                }
            }
        }
    }

    /// One frame from the phone through the protocol engine and, for each
    /// request it completes, the firmware.
    async fn handle(&mut self, bytes: &[u8], pending: &mut Pending, rng: &mut rand_core::OsRng) {
        let now = (self.clock)();
        let requests = {
            let mut revocations = lock(&self.revocations);
            self.conn.on_frame(bytes, now, &mut revocations, rng)
        };
        self.meter.with(|m| m.counters.frames_handled += 1);
        for req in requests {
            let (responses, delay) = {
                let Some(grant) = self.conn.grant() else {
                    break;
                };
                let ctx = RequestContext {
                    grant,
                    now,
                    data_chunk_len: self.conn.data_chunk_len(),
                    session: self.conn.session_log(),
                };
                self.firmware.lock().await.handle_timed(req, &ctx)
            };
            if delay.is_zero() && pending.is_empty() {
                for r in &responses {
                    self.conn.respond(r);
                }
            } else {
                let mut at = Instant::now() + delay;
                if let Some(last) = pending.back() {
                    at = at.max(last.0);
                }
                pending.push_back((at, responses));
            }
        }
    }

    /// After the link went down: the frames it delivered before, handled
    /// in order; nothing more goes out (the link task has ended, so the
    /// queue ends with them).
    async fn handle_the_rest(&mut self, pending: &mut Pending, rng: &mut rand_core::OsRng) {
        while let Some(bytes) = self.end.rx.recv().await {
            self.handle(&bytes, pending, rng).await;
            while self.conn.poll_transmit().is_some() {}
        }
        if !pending.is_empty() {
            tracing::debug!(
                responses = pending.len(),
                "link down: responses of vehicle operations not sent"
            );
        }
    }
}
