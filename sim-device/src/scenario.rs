//! QA scenario files: TOML that defines simulated devices (identity, fleet
//! key, vehicle state, link profile) and scripted faults and events. The format
//! is documented in `docs/sim-device-scenarios.md`; examples live in
//! `sim-device/scenarios/`.
//!
//! [`Scenario::parse`] checks everything (unknown keys, names, hex keys,
//! missing parameters) and reports errors with line and column;
//! [`Scenario::build`] creates the devices in a [`SimWorld`] with the events
//! armed through their [`FaultHandle`](crate::FaultHandle)s.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use smartcontrol_ble::linktime::{LinkProfile, Phy};
use smartcontrol_ble::message::{ErrorCode, VehicleTestId};
use thiserror::Error;
use toml::Spanned;

use crate::device::{SimDevice, SimDeviceConfig};
use crate::faults::Operation;
use crate::keys::{demo_fleet_public_key, parse_fleet_public_key, parse_hex32};
use crate::link::LinkModel;
use crate::vehicle::{Door, Energy, VehicleFault, VehicleState, VehicleTiming};
use crate::world::SimWorld;

/// A scenario file that cannot be used.
#[derive(Debug, Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key, or a value of the wrong type.
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// Well-formed TOML that does not describe a valid scenario.
    #[error("line {line}, column {column}: {message}")]
    Invalid {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

impl ScenarioError {
    /// The 1-based line the error points at (0 for I/O errors).
    pub fn line(&self) -> usize {
        match self {
            ScenarioError::Io { .. } => 0,
            ScenarioError::Syntax { line, .. } | ScenarioError::Invalid { line, .. } => *line,
        }
    }
}

fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

struct Ctx<'a> {
    src: &'a str,
}

impl Ctx<'_> {
    fn invalid(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> ScenarioError {
        let (line, column) = line_col(self.src, span.start);
        ScenarioError::Invalid {
            line,
            column,
            message: message.into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    device: Vec<Spanned<RawDevice>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    serial: Spanned<String>,
    firmware: Option<String>,
    hardware: Option<String>,
    fleet_public_key: Spanned<String>,
    #[serde(default)]
    revoked: Vec<Spanned<String>>,
    #[serde(default)]
    bound_vin: String,
    clock: Option<u64>,
    timing: Option<Spanned<String>>,
    config_capacity: Option<u32>,
    initial_config: Option<RawConfig>,
    #[serde(default)]
    link: Option<Spanned<RawLink>>,
    #[serde(default)]
    vehicle: Option<RawVehicle>,
    /// 64 hex digits: the seed of the unit's own Ed25519 key (default: the
    /// simulated key of its serial).
    device_key: Option<Spanned<String>>,
    #[serde(default)]
    cellular: Option<Spanned<RawCellular>>,
    #[serde(default)]
    event: Vec<Spanned<RawEvent>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCellular {
    url: String,
    up: Option<bool>,
    poll_secs: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    id: String,
    text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    profile: Option<String>,
    phy: Option<String>,
    mtu: Option<usize>,
    ll_payload: Option<usize>,
    interval_ms: Option<f64>,
    packets_per_event: Option<usize>,
    loss: Option<f64>,
    corrupt: Option<f64>,
    seed: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVehicle {
    vin: Option<String>,
    model: Option<String>,
    locked: Option<bool>,
    #[serde(default)]
    open_doors: Vec<Spanned<String>>,
    immobilizer_wired: Option<bool>,
    driving_enabled: Option<bool>,
    ignition: Option<bool>,
    odometer_km: Option<u32>,
    energy: Option<Spanned<String>>,
    level_percent: Option<u8>,
    gnss_fix: Option<bool>,
    satellites: Option<u8>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    key_present: Option<bool>,
    battery_mv: Option<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    after_frames: Option<u64>,
    on_test: Option<String>,
    on_operation: Option<String>,
    action: String,
    door: Option<String>,
    code: Option<String>,
    times: Option<u32>,
    serial: Option<String>,
    #[serde(default)]
    frames: Vec<u64>,
}

/// When a scripted event fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// From the start.
    Start,
    /// After this many frames over the air on the first connection.
    AfterFrames(u64),
    /// When this vehicle test starts.
    OnTest(VehicleTestId),
    /// When this operation is requested.
    OnOperation(Operation),
}

/// What a scripted event does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Drop the link.
    Disconnect,
    /// Lose these frame numbers (first connection).
    DropFrames(Vec<u64>),
    /// Corrupt these frame numbers (first connection).
    CorruptFrames(Vec<u64>),
    /// Answer with a firmware error `times` times (None: always).
    Error {
        /// The code.
        code: ErrorCode,
        /// How often.
        times: Option<u32>,
    },
    /// Switch a vehicle fault on.
    VehicleFault(VehicleFault),
    /// Claim another serial.
    WrongSerial(String),
}

/// One scripted event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptedEvent {
    /// When.
    pub trigger: Trigger,
    /// What.
    pub action: Action,
}

/// One device of a scenario, validated.
#[derive(Debug, Clone)]
pub struct ScenarioDevice {
    /// How to build it.
    pub config: SimDeviceConfig,
    /// Random frame loss rate.
    pub loss_rate: f64,
    /// Random frame corruption rate.
    pub corrupt_rate: f64,
    /// Seed of the loss generator.
    pub seed: u64,
    /// Scripted events.
    pub events: Vec<ScriptedEvent>,
}

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Optional name.
    pub name: Option<String>,
    /// Optional description.
    pub description: Option<String>,
    /// Devices, in file order.
    pub devices: Vec<ScenarioDevice>,
}

/// `snake_case` name of an error code (`vehicle_fault`, `busy`, ...).
pub fn error_code_name(code: ErrorCode) -> String {
    let mut out = String::new();
    for (i, c) in format!("{code:?}").chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Parse [`error_code_name`] output.
pub fn error_code_from_name(name: &str) -> Option<ErrorCode> {
    (0u8..=255)
        .map(ErrorCode::from_u8)
        .filter(|c| !matches!(c, ErrorCode::Other(_)))
        .find(|c| error_code_name(*c) == name)
}

fn vehicle_fault(
    ctx: &Ctx<'_>,
    ev: &Spanned<RawEvent>,
) -> Result<Option<VehicleFault>, ScenarioError> {
    let e = ev.get_ref();
    Ok(Some(match e.action.as_str() {
        "door_stuck_open" => {
            let name = e.door.as_deref().unwrap_or("front_left");
            let door = Door::from_name(name)
                .ok_or_else(|| ctx.invalid(ev.span(), format!("unknown door {name:?}")))?;
            VehicleFault::DoorStuckOpen(door)
        }
        "immobilizer_not_wired" => VehicleFault::ImmobilizerNotWired,
        "no_gnss_fix" => VehicleFault::NoGnssFix,
        "low_battery" => VehicleFault::LowBattery,
        "key_missing" => VehicleFault::KeyMissing,
        "can_disconnected" => VehicleFault::CanDisconnected,
        "lock_actuator_failure" => VehicleFault::LockActuatorFailure,
        _ => return Ok(None),
    }))
}

fn event(ctx: &Ctx<'_>, ev: &Spanned<RawEvent>) -> Result<ScriptedEvent, ScenarioError> {
    let e = ev.get_ref();
    let bad = |m: String| ctx.invalid(ev.span(), m);
    let triggers = [
        e.after_frames.is_some(),
        e.on_test.is_some(),
        e.on_operation.is_some(),
    ]
    .iter()
    .filter(|t| **t)
    .count();
    if triggers > 1 {
        return Err(bad(
            "an event has at most one of after_frames, on_test, on_operation".into(),
        ));
    }
    let trigger = if let Some(n) = e.after_frames {
        Trigger::AfterFrames(n)
    } else if let Some(t) = &e.on_test {
        Trigger::OnTest(
            VehicleTestId::from_name(t).ok_or_else(|| bad(format!("unknown test {t:?}")))?,
        )
    } else if let Some(o) = &e.on_operation {
        Trigger::OnOperation(
            Operation::from_name(o).ok_or_else(|| bad(format!("unknown operation {o:?}")))?,
        )
    } else {
        Trigger::Start
    };
    let action = match e.action.as_str() {
        "disconnect" => {
            if !matches!(trigger, Trigger::AfterFrames(_)) {
                return Err(bad("disconnect needs after_frames".into()));
            }
            Action::Disconnect
        }
        "drop_frames" | "corrupt_frames" => {
            if e.frames.is_empty() {
                return Err(bad(format!("{} needs frames = [...]", e.action)));
            }
            if e.action == "drop_frames" {
                Action::DropFrames(e.frames.clone())
            } else {
                Action::CorruptFrames(e.frames.clone())
            }
        }
        "error" => {
            let name = e
                .code
                .as_deref()
                .ok_or_else(|| bad("error needs code".into()))?;
            let code = error_code_from_name(name)
                .ok_or_else(|| bad(format!("unknown error code {name:?}")))?;
            if !matches!(trigger, Trigger::OnOperation(_) | Trigger::OnTest(_)) {
                return Err(bad("error needs on_operation or on_test".into()));
            }
            Action::Error {
                code,
                times: e.times,
            }
        }
        "wrong_serial" => Action::WrongSerial(
            e.serial
                .clone()
                .ok_or_else(|| bad("wrong_serial needs serial".into()))?,
        ),
        other => match vehicle_fault(ctx, ev)? {
            Some(f) => {
                if matches!(trigger, Trigger::AfterFrames(_) | Trigger::OnOperation(_)) {
                    return Err(bad(format!(
                        "vehicle fault {other} fires at start or on_test"
                    )));
                }
                Action::VehicleFault(f)
            }
            None => return Err(bad(format!("unknown action {other:?}"))),
        },
    };
    Ok(ScriptedEvent { trigger, action })
}

fn link(
    ctx: &Ctx<'_>,
    raw: &Spanned<RawLink>,
) -> Result<(LinkModel, f64, f64, u64), ScenarioError> {
    let l = raw.get_ref();
    let bad = |m: String| ctx.invalid(raw.span(), m);
    let mut model = match l.profile.as_deref().unwrap_or("fast") {
        "fast" => LinkModel::fast(),
        "typical" => LinkModel::typical(),
        "legacy" => LinkModel::legacy(),
        "ideal" => LinkModel::ideal(247),
        other => return Err(bad(format!("unknown link profile {other:?}"))),
    };
    let p: &mut LinkProfile = &mut model.profile;
    if let Some(phy) = &l.phy {
        p.phy = match phy.as_str() {
            "1M" => Phy::Le1M,
            "2M" => Phy::Le2M,
            other => return Err(bad(format!("phy must be \"1M\" or \"2M\", got {other:?}"))),
        };
    }
    if let Some(m) = l.mtu {
        if !(23..=517).contains(&m) {
            return Err(bad(format!("mtu {m} outside 23..=517")));
        }
        p.att_mtu = m;
    }
    if let Some(ll) = l.ll_payload {
        if !(27..=251).contains(&ll) {
            return Err(bad(format!("ll_payload {ll} outside 27..=251")));
        }
        p.ll_payload = ll;
    }
    if let Some(ms) = l.interval_ms {
        if !(7.5..=4000.0).contains(&ms) {
            return Err(bad(format!("interval_ms {ms} outside 7.5..=4000")));
        }
        p.interval = std::time::Duration::from_secs_f64(ms / 1e3);
    }
    if let Some(n) = l.packets_per_event {
        if n == 0 {
            return Err(bad("packets_per_event must be at least 1".into()));
        }
        p.packets_per_event = n;
    }
    for (name, v) in [("loss", l.loss), ("corrupt", l.corrupt)] {
        if let Some(v) = v {
            if !(0.0..=0.5).contains(&v) {
                return Err(bad(format!("{name} {v} outside 0.0..=0.5")));
            }
        }
    }
    Ok((
        model,
        l.loss.unwrap_or(0.0),
        l.corrupt.unwrap_or(0.0),
        l.seed.unwrap_or(1),
    ))
}

fn vehicle(ctx: &Ctx<'_>, raw: Option<&RawVehicle>) -> Result<VehicleState, ScenarioError> {
    let mut v = VehicleState::default();
    let Some(r) = raw else { return Ok(v) };
    if let Some(x) = &r.vin {
        v.vin = x.clone();
    }
    if let Some(x) = &r.model {
        v.model = x.clone();
    }
    if let Some(x) = r.locked {
        v.locked = x;
    }
    for d in &r.open_doors {
        let door = Door::from_name(d.get_ref())
            .ok_or_else(|| ctx.invalid(d.span(), format!("unknown door {:?}", d.get_ref())))?;
        v.open_doors.insert(door);
    }
    if let Some(x) = r.immobilizer_wired {
        v.immobilizer_wired = x;
    }
    if let Some(x) = r.driving_enabled {
        v.driving_enabled = x;
    }
    if let Some(x) = r.ignition {
        v.ignition_on = x;
    }
    if let Some(x) = r.odometer_km {
        v.odometer_km = x;
    }
    if let Some(e) = &r.energy {
        v.energy = match e.get_ref().as_str() {
            "fuel" => Energy::Fuel,
            "electric" => Energy::Electric,
            other => {
                return Err(ctx.invalid(
                    e.span(),
                    format!("energy must be \"fuel\" or \"electric\", got {other:?}"),
                ))
            }
        };
    }
    if let Some(x) = r.level_percent {
        v.level_percent = x;
    }
    if let Some(x) = r.gnss_fix {
        v.gnss.sky_visible = x;
    }
    if let Some(x) = r.satellites {
        v.gnss.satellites = x;
    }
    if let Some(x) = r.latitude {
        v.gnss.latitude = x;
    }
    if let Some(x) = r.longitude {
        v.gnss.longitude = x;
    }
    if let Some(x) = r.key_present {
        v.key_present = x;
    }
    if let Some(x) = r.battery_mv {
        v.battery_millivolts = x;
    }
    Ok(v)
}

impl Scenario {
    /// Parse and validate scenario text.
    pub fn parse(src: &str) -> Result<Scenario, ScenarioError> {
        let raw: RawScenario = toml::from_str(src).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(src, s.start)).unwrap_or((1, 1));
            ScenarioError::Syntax {
                line,
                column,
                message: e.message().to_owned(),
            }
        })?;
        let ctx = Ctx { src };
        if raw.device.is_empty() {
            return Err(ScenarioError::Invalid {
                line: 1,
                column: 1,
                message: "a scenario defines at least one [[device]]".into(),
            });
        }
        let mut serials = BTreeSet::new();
        let mut devices = Vec::new();
        for d in &raw.device {
            let d = d.get_ref();
            let serial = d.serial.get_ref().clone();
            if serial.is_empty() || serial.len() > 20 {
                return Err(ctx.invalid(d.serial.span(), "serial must be 1..=20 bytes"));
            }
            if !serials.insert(serial.clone()) {
                return Err(ctx.invalid(d.serial.span(), format!("duplicate serial {serial}")));
            }
            let key_text = d.fleet_public_key.get_ref();
            let fleet_public_key = if key_text == "demo" {
                demo_fleet_public_key()
            } else {
                parse_fleet_public_key(key_text)
                    .map_err(|e| ctx.invalid(d.fleet_public_key.span(), e.to_string()))?
            };
            let mut config = SimDeviceConfig::new(&serial, fleet_public_key);
            if let Some(f) = &d.firmware {
                config.firmware_version = f.clone();
            }
            if let Some(h) = &d.hardware {
                config.hardware_version = h.clone();
            }
            for r in &d.revoked {
                let text = r.get_ref();
                // 16-byte grant ids: 32 hex digits (padded to reuse the 32-byte parser).
                if text.len() != 32 {
                    return Err(ctx.invalid(r.span(), "revoked grant ids are 32 hex digits"));
                }
                let full = parse_hex32(&format!("{text}{}", "0".repeat(32)))
                    .map_err(|e| ctx.invalid(r.span(), e.to_string()))?;
                let mut id = [0u8; 16];
                id.copy_from_slice(&full[..16]);
                config.revoked.push(id);
            }
            config.bound_vin = d.bound_vin.clone();
            if let Some(t) = d.clock {
                config.clock = Some(Arc::new(move || t));
            }
            if let Some(t) = &d.timing {
                config.timing = match t.get_ref().as_str() {
                    "realistic" => VehicleTiming::realistic(),
                    "instant" => VehicleTiming::instant(),
                    other => {
                        return Err(ctx.invalid(
                            t.span(),
                            format!("timing must be \"realistic\" or \"instant\", got {other:?}"),
                        ))
                    }
                };
            }
            if let Some(c) = d.config_capacity {
                config.config_capacity = c;
            }
            if let Some(c) = &d.initial_config {
                config.initial_config = Some((c.id.clone(), c.text.as_bytes().to_vec()));
            }
            let (mut loss_rate, mut corrupt_rate, mut seed) = (0.0, 0.0, 1);
            if let Some(l) = &d.link {
                let (model, loss, corrupt, s) = link(&ctx, l)?;
                config.link = model;
                (loss_rate, corrupt_rate, seed) = (loss, corrupt, s);
            }
            config.vehicle = vehicle(&ctx, d.vehicle.as_ref())?;
            if let Some(k) = &d.device_key {
                let seed = parse_hex32(k.get_ref())
                    .map_err(|e| ctx.invalid(k.span(), format!("device_key: {e}")))?;
                config.device_key = smartcontrol_ble::security::SigningKey::from_bytes(&seed);
            }
            if let Some(c) = &d.cellular {
                let raw = c.get_ref();
                let poll = raw.poll_secs.unwrap_or(30.0);
                if !(0.05..=86_400.0).contains(&poll) {
                    return Err(
                        ctx.invalid(c.span(), format!("poll_secs {poll} outside 0.05..=86400"))
                    );
                }
                if !(raw.url.starts_with("http://") || raw.url.starts_with("https://")) {
                    return Err(
                        ctx.invalid(c.span(), "cellular url must start with http:// or https://")
                    );
                }
                config.cellular = Some(crate::cellular::CellularConfig {
                    cloud_url: raw.url.clone(),
                    up: raw.up.unwrap_or(true),
                    poll_interval: std::time::Duration::from_secs_f64(poll),
                });
            }
            let events = d
                .event
                .iter()
                .map(|e| event(&ctx, e))
                .collect::<Result<Vec<_>, _>>()?;
            devices.push(ScenarioDevice {
                config,
                loss_rate,
                corrupt_rate,
                seed,
                events,
            });
        }
        Ok(Scenario {
            name: raw.name,
            description: raw.description,
            devices,
        })
    }

    /// Read and parse a scenario file.
    pub fn load(path: impl AsRef<Path>) -> Result<Scenario, ScenarioError> {
        let path = path.as_ref();
        let src = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&src)
    }

    /// Create the devices with their events armed.
    pub fn build(&self) -> SimWorld {
        let world = SimWorld::new();
        for d in &self.devices {
            let dev = SimDevice::new(d.config.clone());
            let f = dev.faults();
            f.state().seed = d.seed;
            f.set_loss_rate(d.loss_rate);
            f.set_corrupt_rate(d.corrupt_rate);
            for e in &d.events {
                arm(&dev, e);
            }
            world.add(dev);
        }
        world
    }
}

fn arm(dev: &SimDevice, e: &ScriptedEvent) {
    let f = dev.faults();
    match (&e.trigger, &e.action) {
        (Trigger::AfterFrames(n), Action::Disconnect) => f.disconnect_after_frames(*n),
        (_, Action::DropFrames(v)) => f.drop_frames(v.iter().copied()),
        (_, Action::CorruptFrames(v)) => f.corrupt_frames(v.iter().copied()),
        (Trigger::OnOperation(op), Action::Error { code, times }) => {
            f.fail_operation(*op, *code, *times)
        }
        (Trigger::OnTest(_), Action::Error { code, times }) => {
            f.fail_operation(Operation::VehicleTest, *code, *times)
        }
        (Trigger::OnTest(t), Action::VehicleFault(v)) => f.on_test(*t, *v),
        (_, Action::VehicleFault(v)) => f.set_vehicle_fault(*v, true),
        (_, Action::WrongSerial(s)) => f.set_wrong_serial(Some(s.clone())),
        (t, a) => tracing::warn!(?t, ?a, "event combination ignored"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn error_code_names_round_trip() {
        assert_eq!(error_code_name(ErrorCode::VehicleFault), "vehicle_fault");
        assert_eq!(error_code_from_name("busy"), Some(ErrorCode::Busy));
        assert_eq!(
            error_code_from_name("low_battery"),
            Some(ErrorCode::LowBattery)
        );
        assert_eq!(error_code_from_name("nope"), None);
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("a\nbc\nd", 3), (2, 2));
        assert_eq!(line_col("x", 0), (1, 1));
    }
}
