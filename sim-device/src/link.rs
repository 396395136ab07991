//! The link model: a transport between the phone's [`BleChannel`] and the
//! device that schedules frames the way BLE does, on tokio time (a paused clock
//! in tests, so link time is deterministic and nothing really sleeps).
//!
//! Model (it agrees with `smartcontrol_ble::linktime`, the spec's §12):
//! * connection events start every `interval` from the connection's start
//!   (fixed anchors); an event carries at most `pairs_per_event` pairs, each
//!   taking `pair_us` (one central PDU, the peripheral's reply, two T_IFS);
//! * a frame of `f` bytes needs `ceil((f + 7) / ll_payload)` LL PDUs; the
//!   central (phone) PDU and the peripheral (device) PDU of a pair each carry
//!   one PDU, so both directions share the event;
//! * a frame is delivered at the end of the pair that carried its last PDU;
//! * each PDU carries the MD (more data) bit: set when its side has another
//!   PDU for this event queued behind it. When neither PDU of a pair sets it,
//!   the peripheral's packet closes the event (Core spec Vol 6 Part B §4.5.6:
//!   with MD = 0 on both sides the central "shall not send another packet");
//!   the event also ends at the pair limit;
//! * the phone's host may still get a write into an open event: what it
//!   writes after a delivery goes out in the next pair of the same event only
//!   if the event is still open (MD set by either side). What it writes in
//!   reaction to the pair that closed the event waits for the next event, as
//!   on a real phone, whose host cannot answer within T_IFS;
//! * the device's firmware answers in the next connection event (its frames
//!   are eligible only if they were queued when the event began). So a
//!   request/response exchange costs one interval, and the phone's next
//!   request after a response one more, as the formula says;
//! * faults: frames are numbered 1.. per connection in delivery order (both
//!   directions); dropped frames use air time but are not delivered, corrupted
//!   frames arrive with a flipped byte, and the link drops after N frames.
//!
//! [`LinkModel::ideal`] skips timing (frames pass at once) but keeps faults.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smartcontrol_ble::frame::{ATT_HEADER_LEN, MAX_MTU, MIN_MTU};
use smartcontrol_ble::linktime::{LinkProfile, Phy};
use smartcontrol_ble::transport::{
    ensure_frame_fits, BleChannel, BoxFuture, FrameWriter, TransportError, ATT_MAX_VALUE_LEN,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::faults::ConnectionFaults;

/// How a simulated device's radio link behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkModel {
    /// PHY, data length, MTU, interval, packets per event.
    pub profile: LinkProfile,
    /// Schedule frames on connection events (false: deliver at once).
    pub timed: bool,
}

impl LinkModel {
    /// Timed link with `profile`.
    pub fn timed(profile: LinkProfile) -> Self {
        Self {
            profile,
            timed: true,
        }
    }

    /// 2M PHY, DLE 251, MTU 247, 15 ms, 10 packets per event.
    pub fn fast() -> Self {
        Self::timed(LinkProfile::fast())
    }

    /// 1M PHY, DLE 251, MTU 185, 15 ms, 5 packets per event.
    pub fn typical() -> Self {
        Self::timed(LinkProfile::typical())
    }

    /// 1M PHY, LL 27, MTU 23, 30 ms, 1 packet per event.
    pub fn legacy() -> Self {
        Self::timed(LinkProfile::legacy())
    }

    /// No timing at all, at ATT MTU `mtu`.
    pub fn ideal(mtu: usize) -> Self {
        let mut profile = LinkProfile::fast();
        profile.att_mtu = mtu.clamp(MIN_MTU, MAX_MTU);
        Self {
            profile,
            timed: false,
        }
    }

    /// Negotiated ATT MTU.
    pub fn mtu(&self) -> usize {
        self.profile.att_mtu
    }

    /// A one-line description.
    pub fn describe(&self) -> String {
        if !self.timed {
            return format!("ideal (untimed), MTU {}", self.mtu());
        }
        let p = &self.profile;
        format!(
            "{} PHY, LL {}, MTU {}, {} ms, {}/event",
            match p.phy {
                Phy::Le1M => "1M",
                Phy::Le2M => "2M",
            },
            p.ll_payload,
            p.att_mtu,
            p.interval.as_secs_f64() * 1e3,
            p.packets_per_event
        )
    }
}

impl Default for LinkModel {
    fn default() -> Self {
        Self::fast()
    }
}

/// Counters of a device's link, over all its connections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Connections opened.
    pub connections: u64,
    /// Frames delivered phone → device.
    pub frames_to_device: u64,
    /// Frames phone → device the unit's protocol engine has processed. It
    /// catches up with `frames_to_device` once the unit is done with a
    /// connection ([`crate::SimDevice::connections_closed`]), also one the
    /// link dropped.
    pub frames_handled: u64,
    /// Frames delivered device → phone.
    pub frames_to_phone: u64,
    /// Frames lost on air (injected).
    pub frames_dropped: u64,
    /// Frames corrupted on air (injected).
    pub frames_corrupted: u64,
    /// Frames over the air on the latest connection (the fault numbering).
    pub frames_this_connection: u64,
    /// Connection events that carried data.
    pub events: u64,
    /// Packet pairs used.
    pub pairs: u64,
    /// Links dropped by an injected disconnect.
    pub injected_disconnects: u64,
}

#[derive(Debug, Default)]
pub(crate) struct MeterState {
    pub counters: LinkCounters,
    pub anchor_base: Option<Instant>,
    pub interval: Duration,
}

/// Shared counters and the latest connection's event grid.
#[derive(Debug, Clone, Default)]
pub(crate) struct LinkMeter(pub Arc<Mutex<MeterState>>);

impl LinkMeter {
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut MeterState) -> R) -> R {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    pub fn counters(&self) -> LinkCounters {
        self.with(|m| m.counters.clone())
    }

    pub fn next_anchor(&self, now: Instant) -> Option<Instant> {
        self.with(|m| {
            let base = m.anchor_base?;
            Some(next_anchor(base, m.interval, now))
        })
    }
}

fn next_anchor(base: Instant, interval: Duration, at_or_after: Instant) -> Instant {
    let elapsed = at_or_after.saturating_duration_since(base).as_nanos();
    let step = interval.as_nanos().max(1);
    let k = elapsed.div_ceil(step);
    base + Duration::from_nanos((k * step) as u64)
}

/// Phone-side writer into the link.
struct LinkWriter {
    tx: Option<mpsc::UnboundedSender<Vec<u8>>>,
    max_frame: usize,
}

impl FrameWriter for LinkWriter {
    fn write<'a>(&'a mut self, frame: &'a [u8]) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            ensure_frame_fits(frame, self.max_frame)?;
            let tx = self.tx.as_ref().ok_or(TransportError::Disconnected)?;
            tx.send(frame.to_vec())
                .map_err(|_| TransportError::Disconnected)
        })
    }

    fn write_long<'a>(&'a mut self, value: &'a [u8]) -> BoxFuture<'a, Result<(), TransportError>> {
        // The device's GATT server gets the whole value at Execute Write; the
        // link model charges it the PDUs its length takes.
        Box::pin(async move {
            ensure_frame_fits(value, ATT_MAX_VALUE_LEN.max(self.max_frame))?;
            let tx = self.tx.as_ref().ok_or(TransportError::Disconnected)?;
            tx.send(value.to_vec())
                .map_err(|_| TransportError::Disconnected)
        })
    }

    fn disconnect(&mut self) -> BoxFuture<'_, Result<(), TransportError>> {
        self.tx = None;
        Box::pin(async { Ok(()) })
    }
}

/// The device end of a link.
pub(crate) struct DeviceEnd {
    /// Frames written by the phone.
    pub rx: mpsc::UnboundedReceiver<Vec<u8>>,
    /// Frames to notify.
    pub tx: mpsc::UnboundedSender<Vec<u8>>,
}

struct InFlight {
    bytes: Vec<u8>,
    pdus_left: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    ToDevice,
    ToPhone,
}

struct LinkTask {
    model: LinkModel,
    faults: ConnectionFaults,
    loss_rate: f64,
    corrupt_rate: f64,
    rng: u64,
    central_rx: mpsc::UnboundedReceiver<Vec<u8>>,
    periph_rx: mpsc::UnboundedReceiver<Vec<u8>>,
    to_device: mpsc::UnboundedSender<Vec<u8>>,
    to_phone: mpsc::Sender<Vec<u8>>,
    frame_no: u64,
    meter: LinkMeter,
    central: VecDeque<InFlight>,
    periph: VecDeque<InFlight>,
}

/// Random-ish but reproducible faults per connection.
pub(crate) struct RateFaults {
    pub loss_rate: f64,
    pub corrupt_rate: f64,
    pub seed: u64,
}

/// Create a link: the phone's channel (advertised `serial`) and the device end.
/// Spawns the link task on the current tokio runtime.
pub(crate) fn open_link(
    serial: &str,
    model: LinkModel,
    faults: ConnectionFaults,
    rates: RateFaults,
    meter: LinkMeter,
) -> (BleChannel, DeviceEnd) {
    let mtu = model.mtu().clamp(MIN_MTU, MAX_MTU);
    let (central_tx, central_rx) = mpsc::unbounded_channel();
    let (periph_tx, periph_rx) = mpsc::unbounded_channel();
    let (to_device, device_rx) = mpsc::unbounded_channel();
    let (to_phone, phone_rx) = mpsc::channel(4096);
    let connection_no = meter.with(|m| {
        m.counters.connections += 1;
        m.counters.frames_this_connection = 0;
        m.anchor_base = Some(Instant::now());
        m.interval = model.profile.interval;
        m.counters.connections
    });
    let task = LinkTask {
        model,
        faults,
        loss_rate: rates.loss_rate,
        corrupt_rate: rates.corrupt_rate,
        rng: (rates.seed ^ connection_no.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1,
        central_rx,
        periph_rx,
        to_device,
        to_phone,
        frame_no: 0,
        meter,
        central: VecDeque::new(),
        periph: VecDeque::new(),
    };
    tokio::spawn(task.run());
    (
        BleChannel {
            serial: serial.to_owned(),
            mtu,
            writer: Box::new(LinkWriter {
                tx: Some(central_tx),
                max_frame: mtu - ATT_HEADER_LEN,
            }),
            notifications: phone_rx,
        },
        DeviceEnd {
            rx: device_rx,
            tx: periph_tx,
        },
    )
}

/// Let tasks woken by a delivery run before the link goes on (deterministic on
/// the current-thread runtime tests use).
async fn settle() {
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}

impl LinkTask {
    fn random(&mut self) -> f64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn inflight(&self, bytes: Vec<u8>) -> InFlight {
        let pdus_left = self.model.profile.pdus_per_frame(bytes.len()).max(1);
        InFlight { bytes, pdus_left }
    }

    /// Move everything written so far into the queues; false when a side closed.
    fn drain(&mut self) -> bool {
        loop {
            match self.central_rx.try_recv() {
                Ok(b) => {
                    let f = self.inflight(b);
                    self.central.push_back(f);
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => return false,
            }
        }
        loop {
            match self.periph_rx.try_recv() {
                Ok(b) => {
                    let f = self.inflight(b);
                    self.periph.push_back(f);
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    // The device closed: what it queued still goes out first.
                    return !self.periph.is_empty();
                }
            }
        }
        true
    }

    /// Deliver one frame that went over the air; false ends the link.
    async fn deliver(&mut self, mut bytes: Vec<u8>, dir: Dir) -> bool {
        self.frame_no += 1;
        let n = self.frame_no;
        let lost = self.faults.drop_frames.contains(&n)
            || (self.loss_rate > 0.0 && self.random() < self.loss_rate);
        let corrupt = !lost
            && (self.faults.corrupt_frames.contains(&n)
                || (self.corrupt_rate > 0.0 && self.random() < self.corrupt_rate));
        self.meter.with(|m| {
            m.counters.frames_this_connection = n;
            if lost {
                m.counters.frames_dropped += 1;
            } else if corrupt {
                m.counters.frames_corrupted += 1;
            }
            match dir {
                Dir::ToDevice if !lost => m.counters.frames_to_device += 1,
                Dir::ToPhone if !lost => m.counters.frames_to_phone += 1,
                _ => {}
            }
        });
        if corrupt && !bytes.is_empty() {
            let i = bytes.len() / 2;
            bytes[i] ^= 0x5A;
        }
        if !lost {
            let ok = match dir {
                Dir::ToDevice => self.to_device.send(bytes).is_ok(),
                Dir::ToPhone => self.to_phone.send(bytes).await.is_ok(),
            };
            if !ok {
                return false;
            }
        }
        if self
            .faults
            .disconnect_after_frames
            .is_some_and(|limit| n >= limit)
        {
            tracing::info!(frames = n, "injected disconnect");
            self.meter.with(|m| m.counters.injected_disconnects += 1);
            return false;
        }
        true
    }

    async fn run(mut self) {
        if self.faults.disconnect_after_frames == Some(0) {
            self.meter.with(|m| m.counters.injected_disconnects += 1);
            return;
        }
        if self.model.timed {
            self.run_timed().await;
        } else {
            self.run_ideal().await;
        }
        tracing::debug!(frames = self.frame_no, "link closed");
    }

    async fn run_ideal(&mut self) {
        loop {
            tokio::select! {
                f = self.central_rx.recv() => match f {
                    Some(b) => if !self.deliver(b, Dir::ToDevice).await { return },
                    None => return,
                },
                f = self.periph_rx.recv() => match f {
                    Some(b) => if !self.deliver(b, Dir::ToPhone).await { return },
                    None => return,
                },
            }
        }
    }

    async fn run_timed(&mut self) {
        let p = self.model.profile;
        let interval = p.interval.max(Duration::from_micros(1));
        let pair = Duration::from_secs_f64(p.pair_us() / 1e6);
        let per_event = p.pairs_per_event();
        let base = self
            .meter
            .with(|m| m.anchor_base)
            .unwrap_or_else(Instant::now);
        let mut last_anchor: Option<Instant> = None;
        loop {
            if self.central.is_empty() && self.periph.is_empty() {
                tokio::select! {
                    f = self.central_rx.recv() => match f {
                        Some(b) => { let f = self.inflight(b); self.central.push_back(f) }
                        None => return,
                    },
                    f = self.periph_rx.recv() => match f {
                        Some(b) => { let f = self.inflight(b); self.periph.push_back(f) }
                        None => return,
                    },
                }
            }
            let mut anchor = next_anchor(base, interval, Instant::now());
            if last_anchor.is_some_and(|l| anchor <= l) {
                anchor = next_anchor(base, interval, anchor + Duration::from_nanos(1));
            }
            last_anchor = Some(anchor);
            tokio::time::sleep_until(anchor).await;
            settle().await;
            if !self.drain() {
                return;
            }
            let mut periph_eligible = self.periph.len();
            let mut pairs = 0usize;
            while pairs < per_event && (!self.central.is_empty() || periph_eligible > 0) {
                let mut done_central = None;
                let mut done_periph = None;
                if let Some(f) = self.central.front_mut() {
                    f.pdus_left -= 1;
                    if f.pdus_left == 0 {
                        done_central = self.central.pop_front();
                    }
                }
                if periph_eligible > 0 {
                    if let Some(f) = self.periph.front_mut() {
                        f.pdus_left -= 1;
                        if f.pdus_left == 0 {
                            done_periph = self.periph.pop_front();
                            periph_eligible -= 1;
                        }
                    }
                }
                // The MD bits of this pair's PDUs: whether either side still
                // has a PDU for this event after them. Core spec Vol 6 Part B
                // §4.5.6: when neither sets MD, the peripheral's packet closes
                // the event and the central shall not send another, so what
                // the phone's host writes in reaction to this pair (its
                // controller sent MD = 0) waits for the next event.
                let more_data = !self.central.is_empty() || periph_eligible > 0;
                pairs += 1;
                tokio::time::sleep_until(anchor + pair * pairs as u32).await;
                if let Some(f) = done_central {
                    if !self.deliver(f.bytes, Dir::ToDevice).await {
                        return;
                    }
                }
                if let Some(f) = done_periph {
                    if !self.deliver(f.bytes, Dir::ToPhone).await {
                        return;
                    }
                }
                settle().await;
                if !self.drain() {
                    return;
                }
                if !more_data {
                    break;
                }
            }
            self.meter.with(|m| {
                m.counters.events += 1;
                m.counters.pairs += pairs as u64;
            });
        }
    }
}
