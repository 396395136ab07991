//! Windowed flow control (sans-IO): pipelined writes without response with
//! cumulative ACKs, NAK on a gap and go-back-N retransmission.
//!
//! [`Link`] is one endpoint (phone or device; the protocol is symmetric). The
//! caller moves bytes and time:
//!
//! * [`Link::send_message`] queues a message (it is fragmented at once);
//! * [`Link::poll_transmit`] yields the next ATT payload to write or notify
//!   (pending ACK/NAK first, then data frames while fewer than `window` are
//!   unacknowledged);
//! * [`Link::handle_frame`] consumes a received ATT payload and may return a
//!   complete message;
//! * [`Link::on_timeout`] is called when the retransmission timer fires while
//!   [`Link::has_unacked`] is true.
//!
//! No clock, no I/O: the sim-device link model drives it on a virtual clock, the
//! phone client and a btleplug driver on tokio time.

use std::collections::VecDeque;

use crate::frame::{
    DataFrame, Fragmenter, Frame, FrameError, Reassembler, DEFAULT_MAX_MESSAGE_LEN,
};

/// Default number of unacknowledged frames a sender may have in flight.
pub const DEFAULT_WINDOW: u16 = 32;
/// Largest window a receiver may advertise (keeps seq arithmetic unambiguous).
pub const MAX_WINDOW: u16 = 1024;

/// Counters for diagnostics and benchmarks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LinkStats {
    /// Data frames written, including retransmissions.
    pub data_frames_sent: u64,
    /// Data frames written again after a NAK or timeout.
    pub retransmissions: u64,
    /// ACK/NAK frames written.
    pub control_frames_sent: u64,
    /// Frames received that failed to decode (CRC, malformed).
    pub bad_frames: u64,
    /// Data frames dropped as duplicates or out of order.
    pub dropped_frames: u64,
    /// Complete messages delivered.
    pub messages_received: u64,
}

/// One endpoint of the framed, flow-controlled link.
#[derive(Debug, Clone)]
pub struct Link {
    fragmenter: Fragmenter,
    // sender
    frames: VecDeque<(u16, Vec<u8>)>,
    next_seq_to_assign: u16,
    next_to_send: usize,
    peer_window: u16,
    // receiver
    reassembler: Reassembler,
    expected: u16,
    our_window: u16,
    since_ack: u16,
    nak_outstanding: bool,
    pending_control: Option<Frame>,
    stats: LinkStats,
}

impl Link {
    /// Endpoint for a negotiated ATT MTU with default window and message limit.
    pub fn new(mtu: usize) -> Result<Self, FrameError> {
        Self::with_limits(mtu, DEFAULT_WINDOW, DEFAULT_MAX_MESSAGE_LEN)
    }

    /// Endpoint with an explicit receive window (1..=1024) and message limit.
    pub fn with_limits(mtu: usize, window: u16, max_message: usize) -> Result<Self, FrameError> {
        let window = window.clamp(1, MAX_WINDOW);
        Ok(Self {
            fragmenter: Fragmenter::new(mtu)?,
            frames: VecDeque::new(),
            next_seq_to_assign: 0,
            next_to_send: 0,
            peer_window: DEFAULT_WINDOW,
            reassembler: Reassembler::new(max_message),
            expected: 0,
            our_window: window,
            since_ack: 0,
            nak_outstanding: false,
            pending_control: None,
            stats: LinkStats::default(),
        })
    }

    /// The fragmenter for this link's MTU.
    pub fn fragmenter(&self) -> Fragmenter {
        self.fragmenter
    }

    /// Diagnostic counters.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Queue a message for transmission.
    pub fn send_message(&mut self, message: &[u8]) {
        let frags: Vec<DataFrame> = self.fragmenter.fragments(message).collect();
        for mut f in frags {
            f.seq = self.next_seq_to_assign;
            self.next_seq_to_assign = self.next_seq_to_assign.wrapping_add(1);
            self.frames.push_back((f.seq, Frame::Data(f).encode()));
        }
    }

    /// Next ATT payload to send, if any is allowed now.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if let Some(ctrl) = self.pending_control.take() {
            self.stats.control_frames_sent += 1;
            return Some(ctrl.encode());
        }
        if self.next_to_send < self.frames.len()
            && self.next_to_send < usize::from(self.peer_window)
        {
            let (_, bytes) = &self.frames[self.next_to_send];
            self.next_to_send += 1;
            self.stats.data_frames_sent += 1;
            return Some(bytes.clone());
        }
        None
    }

    /// Whether sent data frames await acknowledgement (arm the retransmit timer).
    pub fn has_unacked(&self) -> bool {
        self.next_to_send > 0
    }

    /// Whether everything queued has been sent and acknowledged.
    pub fn is_idle(&self) -> bool {
        self.frames.is_empty() && self.pending_control.is_none()
    }

    /// Frames queued or in flight (not yet acknowledged).
    pub fn queued_frames(&self) -> usize {
        self.frames.len()
    }

    /// Retransmission timer fired: resend everything unacknowledged.
    pub fn on_timeout(&mut self) {
        if self.next_to_send > 0 {
            self.stats.retransmissions += self.next_to_send as u64;
            tracing::debug!(frames = self.next_to_send, "retransmit after timeout");
            self.next_to_send = 0;
        }
    }

    fn apply_ack(&mut self, next_seq: u16, window: u16) -> bool {
        let base = self
            .frames
            .front()
            .map(|(s, _)| *s)
            .unwrap_or(self.next_seq_to_assign);
        let count = usize::from(next_seq.wrapping_sub(base));
        if count > self.next_to_send {
            // Acknowledges frames never sent (or a stale ack from far behind): ignore.
            return false;
        }
        self.frames.drain(..count);
        self.next_to_send -= count;
        self.peer_window = window.clamp(1, MAX_WINDOW);
        true
    }

    /// Consume one received ATT payload. Returns a complete message when one
    /// finishes. Errors are per-frame (the frame is dropped; the link stays usable)
    /// except that a reassembly error also discards the partial message.
    pub fn handle_frame(&mut self, bytes: &[u8]) -> Result<Option<Vec<u8>>, FrameError> {
        let frame = match Frame::decode(bytes) {
            Ok(f) => f,
            Err(e) => {
                self.stats.bad_frames += 1;
                return Err(e);
            }
        };
        match frame {
            Frame::Ack { next_seq, window } => {
                self.apply_ack(next_seq, window);
                Ok(None)
            }
            Frame::Nak { next_seq, window } => {
                if self.apply_ack(next_seq, window) && self.next_to_send > 0 {
                    self.stats.retransmissions += self.next_to_send as u64;
                    self.next_to_send = 0;
                }
                Ok(None)
            }
            Frame::Data(d) => self.handle_data(d),
        }
    }

    fn handle_data(&mut self, d: DataFrame) -> Result<Option<Vec<u8>>, FrameError> {
        let ahead = d.seq.wrapping_sub(self.expected);
        if ahead != 0 {
            self.stats.dropped_frames += 1;
            if ahead < 0x8000 {
                // Gap: something before this frame was lost.
                if !self.nak_outstanding {
                    self.nak_outstanding = true;
                    self.pending_control = Some(Frame::Nak {
                        next_seq: self.expected,
                        window: self.our_window,
                    });
                }
            } else {
                // Duplicate: our ACK may have been lost; re-acknowledge.
                self.queue_ack();
            }
            return Ok(None);
        }
        self.expected = self.expected.wrapping_add(1);
        self.nak_outstanding = false;
        self.since_ack += 1;
        let last = d.last;
        let result = self.reassembler.push(&d);
        if last || self.since_ack >= (self.our_window / 4).max(1) || result.is_err() {
            self.queue_ack();
        }
        if let Ok(Some(_)) = &result {
            self.stats.messages_received += 1;
        }
        result
    }

    fn queue_ack(&mut self) {
        self.since_ack = 0;
        // A pending NAK (same position, plus "resend") is kept over a plain ACK.
        self.pending_control = Some(match self.pending_control {
            Some(Frame::Nak { .. }) => Frame::Nak {
                next_seq: self.expected,
                window: self.our_window,
            },
            _ => Frame::Ack {
                next_seq: self.expected,
                window: self.our_window,
            },
        });
    }
}
