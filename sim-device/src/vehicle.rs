//! The vehicle model behind the CloudBoxx: central locks, doors, immobilizer,
//! ignition, odometer, fuel or charge level, GNSS, key holder and the 12 V
//! battery, with realistic operation delays and the faults QA injects.
//!
//! [`Vehicle::run_test`] is synchronous: it updates the state and returns the
//! structured result together with how long the operation takes. The device
//! runner waits that long on tokio time before answering, so paused-clock tests
//! never really sleep.

use std::collections::BTreeSet;
use std::time::Duration;

use smartcontrol_ble::message::{HintCode, Unit, VehicleTestId, VehicleTestResult};

/// A door (or the trunk) with its own sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Door {
    /// Driver side front.
    FrontLeft,
    /// Passenger side front.
    FrontRight,
    /// Rear left.
    RearLeft,
    /// Rear right.
    RearRight,
    /// Trunk / tailgate.
    Trunk,
}

impl Door {
    /// Every door.
    pub const ALL: [Door; 5] = [
        Door::FrontLeft,
        Door::FrontRight,
        Door::RearLeft,
        Door::RearRight,
        Door::Trunk,
    ];

    /// Stable snake_case name (scenario files).
    pub fn name(self) -> &'static str {
        match self {
            Door::FrontLeft => "front_left",
            Door::FrontRight => "front_right",
            Door::RearLeft => "rear_left",
            Door::RearRight => "rear_right",
            Door::Trunk => "trunk",
        }
    }

    /// Parse [`Door::name`].
    pub fn from_name(name: &str) -> Option<Door> {
        Door::ALL.into_iter().find(|d| d.name() == name)
    }
}

/// What the vehicle runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Energy {
    /// Combustion: the level is the fuel tank in percent.
    Fuel,
    /// Electric: the level is the traction battery charge in percent.
    Electric,
}

/// Injected vehicle faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VehicleFault {
    /// The door's sensor reports open whatever the door does.
    DoorStuckOpen(Door),
    /// The immobilizer relay is not wired: commands have no effect.
    ImmobilizerNotWired,
    /// The GNSS receiver never gets a fix (garage, antenna unplugged).
    NoGnssFix,
    /// The 12 V battery is low (actuators refuse, low supply voltage).
    LowBattery,
    /// The key fob is not in the key holder.
    KeyMissing,
    /// No CAN traffic (odometer unreadable).
    CanDisconnected,
    /// The lock actuators do not move.
    LockActuatorFailure,
}

impl VehicleFault {
    /// Stable snake_case name (scenario files); doors add `:door`.
    pub fn name(self) -> String {
        match self {
            VehicleFault::DoorStuckOpen(d) => format!("door_stuck_open:{}", d.name()),
            VehicleFault::ImmobilizerNotWired => "immobilizer_not_wired".into(),
            VehicleFault::NoGnssFix => "no_gnss_fix".into(),
            VehicleFault::LowBattery => "low_battery".into(),
            VehicleFault::KeyMissing => "key_missing".into(),
            VehicleFault::CanDisconnected => "can_disconnected".into(),
            VehicleFault::LockActuatorFailure => "lock_actuator_failure".into(),
        }
    }
}

/// Supply voltage the vehicle reports with [`VehicleFault::LowBattery`].
pub const LOW_BATTERY_MILLIVOLTS: u16 = 11_100;
/// Below this supply voltage actuating tests fail with a charge hint.
pub const MIN_ACTUATION_MILLIVOLTS: u16 = 11_500;

/// GNSS receiver state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gnss {
    /// Whether the sky is visible (a fix is possible).
    pub sky_visible: bool,
    /// Satellites in use once fixed.
    pub satellites: u8,
    /// Latitude in degrees.
    pub latitude: f64,
    /// Longitude in degrees.
    pub longitude: f64,
}

/// Vehicle state (what the sensors would report without faults).
#[derive(Debug, Clone, PartialEq)]
pub struct VehicleState {
    /// The vehicle's VIN (what it reports on its bus).
    pub vin: String,
    /// Model code the vehicle reports (a catalogue id such as `vw-golf8`);
    /// empty: this vehicle reports none.
    pub model: String,
    /// Central locking locked.
    pub locked: bool,
    /// Doors that are open.
    pub open_doors: BTreeSet<Door>,
    /// Immobilizer relay wired to the CloudBoxx.
    pub immobilizer_wired: bool,
    /// Driving enabled (immobilizer released).
    pub driving_enabled: bool,
    /// Ignition on.
    pub ignition_on: bool,
    /// Odometer in km.
    pub odometer_km: u32,
    /// Fuel or electric.
    pub energy: Energy,
    /// Fuel or charge level in percent.
    pub level_percent: u8,
    /// GNSS receiver.
    pub gnss: Gnss,
    /// Key fob in the key holder.
    pub key_present: bool,
    /// 12 V battery in millivolts.
    pub battery_millivolts: u16,
}

impl Default for VehicleState {
    fn default() -> Self {
        Self {
            vin: "WVWZZZ1JZXW000001".into(),
            model: String::new(),
            locked: true,
            open_doors: BTreeSet::new(),
            immobilizer_wired: true,
            driving_enabled: false,
            ignition_on: false,
            odometer_km: 12_345,
            energy: Energy::Fuel,
            level_percent: 64,
            gnss: Gnss {
                sky_visible: true,
                satellites: 9,
                latitude: 52.5200,
                longitude: 13.4050,
            },
            key_present: true,
            battery_millivolts: 12_600,
        }
    }
}

/// How long vehicle operations take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VehicleTiming {
    /// Lock actuation, shortest.
    pub lock_min: Duration,
    /// Lock actuation, longest (each actuation picks a value in between).
    pub lock_max: Duration,
    /// Immobilizer relay switching (and confirmation).
    pub immobilizer: Duration,
    /// How long the device waits for a relay or lock that never answers.
    pub actuator_timeout: Duration,
    /// Time to first GNSS fix after the device powered up.
    pub gnss_first_fix: Duration,
    /// How long a position test searches before giving up.
    pub gnss_timeout: Duration,
    /// Reading a signal from the vehicle bus (odometer, level, ignition).
    pub bus_read: Duration,
}

impl VehicleTiming {
    /// Delays of a real installation: locks 300–800 ms, relay 150 ms, first fix
    /// 1.5 s, GNSS timeout 5 s, bus reads 40 ms.
    pub fn realistic() -> Self {
        Self {
            lock_min: Duration::from_millis(300),
            lock_max: Duration::from_millis(800),
            immobilizer: Duration::from_millis(150),
            actuator_timeout: Duration::from_millis(1_000),
            gnss_first_fix: Duration::from_millis(1_500),
            gnss_timeout: Duration::from_secs(5),
            bus_read: Duration::from_millis(40),
        }
    }

    /// No delays (link-time benchmarks measure the link alone).
    pub fn instant() -> Self {
        Self {
            lock_min: Duration::ZERO,
            lock_max: Duration::ZERO,
            immobilizer: Duration::ZERO,
            actuator_timeout: Duration::ZERO,
            gnss_first_fix: Duration::ZERO,
            gnss_timeout: Duration::ZERO,
            bus_read: Duration::ZERO,
        }
    }
}

impl Default for VehicleTiming {
    fn default() -> Self {
        Self::realistic()
    }
}

/// The simulated vehicle: state, timing, active faults.
#[derive(Debug, Clone)]
pub struct Vehicle {
    /// Current state.
    pub state: VehicleState,
    /// Operation delays.
    pub timing: VehicleTiming,
    /// Active faults.
    pub faults: BTreeSet<VehicleFault>,
    powered_at: tokio::time::Instant,
    actuations: u64,
}

fn result(
    test: VehicleTestId,
    passed: bool,
    unit: Unit,
    value: i64,
    hint: HintCode,
) -> VehicleTestResult {
    VehicleTestResult {
        test,
        passed,
        unit,
        value,
        hint,
    }
}

impl Vehicle {
    /// A vehicle in `state` with `timing`, no faults, powered up now.
    pub fn new(state: VehicleState, timing: VehicleTiming) -> Self {
        Self {
            state,
            timing,
            faults: BTreeSet::new(),
            powered_at: tokio::time::Instant::now(),
            actuations: 0,
        }
    }

    /// Supply voltage as measured (with the low-battery fault applied).
    pub fn battery_millivolts(&self) -> u16 {
        if self.faults.contains(&VehicleFault::LowBattery) {
            self.state.battery_millivolts.min(LOW_BATTERY_MILLIVOLTS)
        } else {
            self.state.battery_millivolts
        }
    }

    /// Doors the sensors report open (real or stuck).
    pub fn reported_open_doors(&self) -> BTreeSet<Door> {
        let mut open = self.state.open_doors.clone();
        for f in &self.faults {
            if let VehicleFault::DoorStuckOpen(d) = f {
                open.insert(*d);
            }
        }
        open
    }

    fn lock_delay(&mut self) -> Duration {
        self.actuations += 1;
        let span = self.timing.lock_max.saturating_sub(self.timing.lock_min);
        let span_ms = span.as_millis() as u64;
        // Deterministic spread over the range (a small LCG step per actuation).
        let pick = if span_ms == 0 {
            0
        } else {
            (self.actuations.wrapping_mul(2_654_435_761) >> 7) % (span_ms + 1)
        };
        self.timing.lock_min + Duration::from_millis(pick)
    }

    fn actuator_blocked(&self, test: VehicleTestId) -> Option<VehicleTestResult> {
        (self.battery_millivolts() < MIN_ACTUATION_MILLIVOLTS).then(|| {
            result(
                test,
                false,
                Unit::Millivolts,
                i64::from(self.battery_millivolts()),
                HintCode::ChargeVehicleBattery,
            )
        })
    }

    /// Run one test: the structured result and the time the operation takes.
    pub fn run_test(&mut self, test: VehicleTestId) -> (VehicleTestResult, Duration) {
        use VehicleTestId as T;
        let t = self.timing;
        match test {
            T::CentralLockLock | T::CentralLockUnlock => {
                if let Some(r) = self.actuator_blocked(test) {
                    return (r, t.bus_read);
                }
                if self.faults.contains(&VehicleFault::LockActuatorFailure) {
                    return (
                        result(test, false, Unit::None, 0, HintCode::CheckLockActuator),
                        t.actuator_timeout,
                    );
                }
                let lock = test == T::CentralLockLock;
                let open = self.reported_open_doors().len() as i64;
                if lock && open > 0 {
                    // The firmware refuses to lock with a door reported open.
                    return (
                        result(test, false, Unit::Count, open, HintCode::CloseDoors),
                        t.bus_read,
                    );
                }
                let delay = self.lock_delay();
                self.state.locked = lock;
                (result(test, true, Unit::None, 0, HintCode::None), delay)
            }
            T::ImmobilizerDisableDriving | T::ImmobilizerEnableDriving => {
                if let Some(r) = self.actuator_blocked(test) {
                    return (r, t.bus_read);
                }
                if !self.state.immobilizer_wired
                    || self.faults.contains(&VehicleFault::ImmobilizerNotWired)
                {
                    return (
                        result(test, false, Unit::None, 0, HintCode::CheckImmobilizerWiring),
                        t.actuator_timeout,
                    );
                }
                self.state.driving_enabled = test == T::ImmobilizerEnableDriving;
                (
                    result(test, true, Unit::None, 0, HintCode::None),
                    t.immobilizer,
                )
            }
            T::IgnitionState => {
                let on = self.state.ignition_on;
                let hint = if on {
                    HintCode::SwitchIgnitionOff
                } else {
                    HintCode::None
                };
                (
                    result(test, !on, Unit::Boolean, i64::from(on), hint),
                    t.bus_read,
                )
            }
            T::Mileage => {
                if self.faults.contains(&VehicleFault::CanDisconnected) {
                    return (
                        result(
                            test,
                            false,
                            Unit::Kilometers,
                            0,
                            HintCode::CheckCanConnection,
                        ),
                        t.actuator_timeout,
                    );
                }
                (
                    result(
                        test,
                        true,
                        Unit::Kilometers,
                        i64::from(self.state.odometer_km),
                        HintCode::None,
                    ),
                    t.bus_read,
                )
            }
            T::FuelOrChargeLevel => {
                let level = self.state.level_percent;
                let r = if level > 100 {
                    result(
                        test,
                        false,
                        Unit::Percent,
                        i64::from(level),
                        HintCode::CheckLevelSensor,
                    )
                } else if self.state.energy == Energy::Electric && level < 10 {
                    result(
                        test,
                        false,
                        Unit::Percent,
                        i64::from(level),
                        HintCode::ChargeVehicleBattery,
                    )
                } else {
                    result(test, true, Unit::Percent, i64::from(level), HintCode::None)
                };
                (r, t.bus_read)
            }
            T::PositionFix => {
                if !self.state.gnss.sky_visible || self.faults.contains(&VehicleFault::NoGnssFix) {
                    return (
                        result(test, false, Unit::Satellites, 0, HintCode::MoveToOpenSky),
                        t.gnss_timeout,
                    );
                }
                let up = tokio::time::Instant::now().saturating_duration_since(self.powered_at);
                let wait = t.gnss_first_fix.saturating_sub(up).max(t.bus_read);
                (
                    result(
                        test,
                        true,
                        Unit::Satellites,
                        i64::from(self.state.gnss.satellites),
                        HintCode::None,
                    ),
                    wait,
                )
            }
            T::DoorsClosed => {
                let open = self.reported_open_doors().len() as i64;
                let hint = if open > 0 {
                    HintCode::CloseDoors
                } else {
                    HintCode::None
                };
                (result(test, open == 0, Unit::Count, open, hint), t.bus_read)
            }
            T::KeyHolderPresent => {
                let present =
                    self.state.key_present && !self.faults.contains(&VehicleFault::KeyMissing);
                let hint = if present {
                    HintCode::None
                } else {
                    HintCode::PlaceKeyInHolder
                };
                (
                    result(test, present, Unit::Boolean, i64::from(present), hint),
                    t.bus_read,
                )
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn healthy_vehicle_passes_everything_with_plausible_delays() {
        let mut v = Vehicle::new(VehicleState::default(), VehicleTiming::realistic());
        for t in VehicleTestId::ALL {
            let (r, d) = v.run_test(t);
            assert!(r.passed, "{t:?}: {r:?}");
            if matches!(
                t,
                VehicleTestId::CentralLockLock | VehicleTestId::CentralLockUnlock
            ) {
                assert!(d >= Duration::from_millis(300) && d <= Duration::from_millis(800));
            }
        }
        assert!(!v.state.locked, "unlock ran last");
    }

    #[tokio::test(start_paused = true)]
    async fn faults_fail_with_hints() {
        let mut v = Vehicle::new(VehicleState::default(), VehicleTiming::instant());
        v.faults.insert(VehicleFault::DoorStuckOpen(Door::RearLeft));
        let (r, _) = v.run_test(VehicleTestId::DoorsClosed);
        assert_eq!(
            (r.passed, r.value, r.hint),
            (false, 1, HintCode::CloseDoors)
        );
        v.faults.clear();
        v.faults.insert(VehicleFault::LowBattery);
        let (r, _) = v.run_test(VehicleTestId::CentralLockUnlock);
        assert_eq!(r.hint, HintCode::ChargeVehicleBattery);
        assert_eq!(v.battery_millivolts(), LOW_BATTERY_MILLIVOLTS);
    }
}
