//! The link-time formula: the minimum time the BLE link needs to move protocol
//! traffic for a given link profile (PHY, data length extension, ATT MTU,
//! connection interval, packets per connection event).
//!
//! Model (see the spec, section "Link time"):
//! * a frame of `f` bytes is an ATT PDU of `f + 3` bytes, an L2CAP SDU of
//!   `f + 7` bytes, split into `ceil((f + 7) / ll_payload)` LL data PDUs;
//! * an LL PDU with `p` payload bytes is `preamble + 4 (access address) + 2
//!   (header) + p + 3 (CRC)` bytes on air at 1 or 2 Mbit/s; each central PDU is
//!   answered by a peripheral PDU (empty, or carrying an ACK frame) after
//!   T_IFS = 150 µs, and the next pair follows after another T_IFS;
//! * a connection event carries at most `packets_per_event` pairs and no more
//!   pairs than fit in the interval; ACK frames travel in the peripheral's
//!   reply slots and take no extra pairs;
//! * pipelined frames fill events back to back: `events = ceil(pdus /
//!   pairs_per_event)`, `time = (events - 1) * interval + pairs_in_last *
//!   pair_time`;
//! * a response cannot come before the next connection event: each
//!   request/response exchange the protocol must wait for adds one interval;
//! * what the phone sends in reaction to a response goes out in the event
//!   after the one that carried it: that event closed when neither side set
//!   the MD (more data) bit (Core spec Vol 6 Part B §4.5.6), long before a
//!   host could answer, so back-to-back exchanges the phone drives are two
//!   intervals apart.

use std::time::Duration;

use crate::frame::{Fragmenter, ATT_HEADER_LEN, CONTROL_FRAME_LEN, FIRST_EXTRA, FRAME_OVERHEAD};
use crate::message::{chunk_data_len, CHUNK_MESSAGE_OVERHEAD};
use crate::security::RECORD_OVERHEAD;

/// L2CAP basic header bytes.
pub const L2CAP_HEADER_LEN: usize = 4;
/// Inter-frame space in microseconds.
pub const T_IFS_US: f64 = 150.0;
/// Assumed length of job and configuration ids in [`ConfigBegin`](crate::message::ConfigBegin) (UUID strings).
pub const ASSUMED_ID_LEN: usize = 36;

/// Physical layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phy {
    /// LE 1M (8 µs per byte, 1-byte preamble).
    Le1M,
    /// LE 2M (4 µs per byte, 2-byte preamble).
    Le2M,
}

impl Phy {
    fn us_per_byte(self) -> f64 {
        match self {
            Phy::Le1M => 8.0,
            Phy::Le2M => 4.0,
        }
    }

    fn preamble(self) -> usize {
        match self {
            Phy::Le1M => 1,
            Phy::Le2M => 2,
        }
    }
}

/// A BLE link configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkProfile {
    /// PHY.
    pub phy: Phy,
    /// Max LL data PDU payload: 27 without, up to 251 with data length extension.
    pub ll_payload: usize,
    /// Negotiated ATT MTU.
    pub att_mtu: usize,
    /// Connection interval.
    pub interval: Duration,
    /// Max packet pairs per connection event (a stack/controller limit).
    pub packets_per_event: usize,
    /// Receiver window in frames (ACK every `window / 4` frames).
    pub window: usize,
}

impl LinkProfile {
    /// Fast: 2M PHY, DLE 251, MTU 247, 15 ms, 10 packets per event.
    pub fn fast() -> Self {
        Self {
            phy: Phy::Le2M,
            ll_payload: 251,
            att_mtu: 247,
            interval: Duration::from_millis(15),
            packets_per_event: 10,
            window: 32,
        }
    }

    /// Typical phone: 1M PHY, DLE 251, MTU 185, 15 ms, 5 packets per event.
    pub fn typical() -> Self {
        Self {
            phy: Phy::Le1M,
            ll_payload: 251,
            att_mtu: 185,
            interval: Duration::from_millis(15),
            packets_per_event: 5,
            window: 32,
        }
    }

    /// Legacy: 1M PHY, no DLE (27), MTU 23, 30 ms, 1 packet per event.
    pub fn legacy() -> Self {
        Self {
            phy: Phy::Le1M,
            ll_payload: 27,
            att_mtu: 23,
            interval: Duration::from_millis(30),
            packets_per_event: 1,
            window: 32,
        }
    }

    fn pdu_us(&self, payload: usize) -> f64 {
        (self.phy.preamble() + 4 + 2 + payload + 3) as f64 * self.phy.us_per_byte()
    }

    /// LL PDUs needed for one frame of `frame_len` bytes.
    pub fn pdus_per_frame(&self, frame_len: usize) -> usize {
        (frame_len + ATT_HEADER_LEN + L2CAP_HEADER_LEN).div_ceil(self.ll_payload.max(1))
    }

    /// Air time of one central PDU (full LL payload, or the frame's size when
    /// smaller) plus the peripheral's reply (an ACK frame) and two T_IFS.
    pub fn pair_us(&self) -> f64 {
        let att_sdu = self.att_mtu + L2CAP_HEADER_LEN;
        let data = self.pdu_us(att_sdu.min(self.ll_payload));
        let reply = self.pdu_us(CONTROL_FRAME_LEN + ATT_HEADER_LEN + L2CAP_HEADER_LEN);
        data + reply + 2.0 * T_IFS_US
    }

    /// Packet pairs that fit in one connection event.
    pub fn pairs_per_event(&self) -> usize {
        let fit = (self.interval.as_secs_f64() * 1e6 / self.pair_us()).floor() as usize;
        self.packets_per_event.min(fit).max(1)
    }

    /// Minimum time to move `pdus` LL PDUs pipelined in one direction.
    pub fn stream_time(&self, pdus: usize) -> Duration {
        if pdus == 0 {
            return Duration::ZERO;
        }
        let per = self.pairs_per_event();
        let events = pdus.div_ceil(per);
        let last = pdus - (events - 1) * per;
        self.interval * (events as u32 - 1)
            + Duration::from_secs_f64(last as f64 * self.pair_us() / 1e6)
    }

    /// LL PDUs for one message of `len` bytes (its frames at this MTU).
    pub fn pdus_for_message(&self, len: usize) -> usize {
        let Ok(f) = Fragmenter::new(self.att_mtu) else {
            return 0;
        };
        let n = f.fragment_count(len);
        // All but the last frame are full; the last carries the remainder.
        let full = f.max_frame_len();
        let last_payload = len + FIRST_EXTRA - (n - 1) * f.chunk_capacity();
        (n - 1) * self.pdus_per_frame(full)
            + self.pdus_per_frame(last_payload.min(f.chunk_capacity()) + FRAME_OVERHEAD)
    }

    /// Minimum time for messages of the given lengths sent back to back.
    pub fn messages_time(&self, lens: &[usize]) -> Duration {
        self.stream_time(lens.iter().map(|l| self.pdus_for_message(*l)).sum())
    }

    /// Sealed message lengths of a configuration transfer of `config_len` bytes
    /// (ConfigBegin, chunks, ConfigCommit), as the client sends them.
    pub fn config_transfer_messages(&self, config_len: usize) -> Vec<usize> {
        let chunk = chunk_data_len(self.att_mtu);
        let mut out = vec![1 + 1 + ASSUMED_ID_LEN + 1 + ASSUMED_ID_LEN + 4 + 32 + RECORD_OVERHEAD];
        let mut left = config_len;
        while left > 0 {
            let n = left.min(chunk);
            out.push(CHUNK_MESSAGE_OVERHEAD + n + RECORD_OVERHEAD);
            left -= n;
        }
        out.push(1 + 32 + RECORD_OVERHEAD);
        out
    }

    /// Minimum time of a configuration transfer: the pipelined stream of its
    /// messages plus two waits for a response (ConfigBeginAck before the chunks,
    /// ConfigCommitted after the commit). It stays a lower bound although the
    /// chunks wait for the event after ConfigBeginAck's: the stream counts
    /// ConfigBegin as if it shared the chunks' events, and it has one of its
    /// own.
    pub fn min_config_transfer_time(&self, config_len: usize) -> Duration {
        self.messages_time(&self.config_transfer_messages(config_len)) + self.interval * 2
    }

    /// Minimum time of one request/response exchange: the request's stream,
    /// one interval for the response to start, the response's stream. The
    /// phone's next request starts one interval after the response's event
    /// at the earliest (see the module's notes).
    pub fn min_exchange_time(&self, request_len: usize, response_len: usize) -> Duration {
        self.messages_time(&[request_len]) + self.interval + self.messages_time(&[response_len])
    }

    /// Application-level throughput of a long transfer (bytes per second).
    pub fn config_throughput(&self, config_len: usize) -> f64 {
        config_len as f64 / self.min_config_transfer_time(config_len).as_secs_f64()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn mtu_247_frame_is_one_dle_pdu() {
        let p = LinkProfile::fast();
        assert_eq!(p.pdus_per_frame(244), 1);
        assert_eq!(LinkProfile::legacy().pdus_per_frame(20), 1);
        // MTU 185 with DLE: 189-byte SDU in one PDU.
        assert_eq!(LinkProfile::typical().pdus_per_frame(182), 1);
    }

    #[test]
    fn pair_fits_and_limits() {
        let p = LinkProfile::fast();
        // 262 bytes * 4 µs + 28 * 4 + 300 = 1460 µs.
        assert!((p.pair_us() - 1460.0).abs() < 0.01);
        assert_eq!(p.pairs_per_event(), 10);
        assert_eq!(LinkProfile::legacy().pairs_per_event(), 1);
    }

    #[test]
    fn stream_time_counts_events() {
        let p = LinkProfile::legacy();
        // 3 PDUs, 1 per event: 2 full intervals + one pair.
        let t = p.stream_time(3);
        assert!(t > Duration::from_millis(60) && t < Duration::from_millis(61));
        assert_eq!(p.stream_time(0), Duration::ZERO);
    }

    #[test]
    fn bigger_links_are_faster() {
        let n = 64 * 1024;
        let fast = LinkProfile::fast().min_config_transfer_time(n);
        let typ = LinkProfile::typical().min_config_transfer_time(n);
        let legacy = LinkProfile::legacy().min_config_transfer_time(n);
        assert!(fast < typ && typ < legacy, "{fast:?} {typ:?} {legacy:?}");
    }

    #[test]
    fn message_pdus_match_fragmenter() {
        let p = LinkProfile::legacy();
        let f = Fragmenter::new(23).unwrap();
        for len in [1, 8, 9, 12, 100, 2000] {
            assert_eq!(p.pdus_for_message(len), f.fragment_count(len), "len {len}");
        }
    }
}
