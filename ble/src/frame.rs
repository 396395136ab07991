//! Link-layer framing: one frame per ATT write / notification payload.
//!
//! A frame is `control | flags | seq | [msg_len] | payload | crc32`. Data frames
//! carry one fragment of a message; ACK/NAK frames carry flow-control state (see
//! [`crate::flow`]). Every frame ends with a CRC-32 (IEEE) over all preceding
//! bytes so that corruption anywhere (a buggy stack, the simulator's fault
//! injector) is detected before the AEAD layer even on plaintext handshake
//! messages; a frame with a bad CRC is dropped and treated as lost.

use thiserror::Error;

use crate::codec::{DecodeError, Reader, Writer};

/// Link-layer version carried in the high nibble of every frame's first byte.
pub const LINK_VERSION: u8 = 1;
/// Smallest ATT MTU allowed by Bluetooth (and supported here).
pub const MIN_MTU: usize = 23;
/// Largest ATT MTU allowed by Bluetooth.
pub const MAX_MTU: usize = 517;
/// ATT header bytes (opcode + handle) in a write command or notification.
pub const ATT_HEADER_LEN: usize = 3;
/// Fixed per-frame overhead: control, flags, seq (4) + CRC-32 (4).
pub const FRAME_OVERHEAD: usize = 8;
/// Extra bytes in the first fragment of a message (u32 total length).
pub const FIRST_EXTRA: usize = 4;
/// Length of an ACK or NAK frame.
pub const CONTROL_FRAME_LEN: usize = 10;
/// Default limit on one reassembled message (bounds receiver memory).
pub const DEFAULT_MAX_MESSAGE_LEN: usize = 16 * 1024;

const KIND_DATA: u8 = 1;
const KIND_ACK: u8 = 2;
const KIND_NAK: u8 = 3;
const FLAG_FIRST: u8 = 0x01;
const FLAG_LAST: u8 = 0x02;

/// Framing failures. Every decoder returns one of these instead of panicking.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// MTU outside 23..=517.
    #[error("ATT MTU {0} outside 23..=517")]
    BadMtu(usize),
    /// Frame too short to hold a header and CRC.
    #[error("frame of {0} bytes is too short")]
    TooShort(usize),
    /// CRC mismatch: the frame was corrupted.
    #[error("frame CRC mismatch")]
    BadCrc,
    /// Unsupported link version in the control byte.
    #[error("unsupported link version {0}")]
    BadVersion(u8),
    /// Unknown frame kind.
    #[error("unknown frame kind {0}")]
    BadKind(u8),
    /// Reserved flag bits set or inconsistent fields.
    #[error("malformed frame: {0}")]
    Malformed(&'static str),
    /// A continuation fragment arrived without a first fragment.
    #[error("continuation fragment without a first fragment")]
    UnexpectedContinuation,
    /// A first fragment arrived while another message was incomplete.
    #[error("new message started before the previous one ended")]
    UnexpectedFirst,
    /// Declared or accumulated message length exceeds the limit.
    #[error("message of {len} bytes exceeds limit {limit}")]
    TooLarge {
        /// Declared or accumulated length.
        len: usize,
        /// Configured limit.
        limit: usize,
    },
    /// The fragments did not add up to the declared length.
    #[error("message length mismatch: declared {declared}, received {received}")]
    LengthMismatch {
        /// Length announced in the first fragment.
        declared: usize,
        /// Bytes actually received.
        received: usize,
    },
    /// The message is empty (messages always have a type byte).
    #[error("empty message")]
    EmptyMessage,
}

impl From<DecodeError> for FrameError {
    fn from(_: DecodeError) -> Self {
        FrameError::Malformed("truncated field")
    }
}

/// One fragment of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFrame {
    /// Link sequence number (assigned by the flow-control sender).
    pub seq: u16,
    /// First fragment of a message (carries `total_len`).
    pub first: bool,
    /// Last fragment of a message.
    pub last: bool,
    /// Total message length; present exactly when `first`.
    pub total_len: Option<u32>,
    /// Fragment payload.
    pub payload: Vec<u8>,
}

/// A decoded link frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A message fragment.
    Data(DataFrame),
    /// Cumulative acknowledgement: every seq before `next_seq` was received.
    Ack {
        /// Next sequence number the receiver expects.
        next_seq: u16,
        /// Frames the sender may have in flight beyond `next_seq - 1`.
        window: u16,
    },
    /// Negative acknowledgement: a gap was detected at `next_seq`; resend from it.
    Nak {
        /// Next sequence number the receiver expects.
        next_seq: u16,
        /// Frames the sender may have in flight.
        window: u16,
    },
}

impl Frame {
    /// Encode to the bytes of one ATT payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match self {
            Frame::Data(d) => {
                let mut flags = 0;
                if d.first {
                    flags |= FLAG_FIRST;
                }
                if d.last {
                    flags |= FLAG_LAST;
                }
                w.u8(LINK_VERSION << 4 | KIND_DATA).u8(flags).u16(d.seq);
                if d.first {
                    w.u32(d.total_len.unwrap_or(0));
                }
                w.bytes(&d.payload);
            }
            Frame::Ack { next_seq, window } => {
                w.u8(LINK_VERSION << 4 | KIND_ACK)
                    .u8(0)
                    .u16(*next_seq)
                    .u16(*window);
            }
            Frame::Nak { next_seq, window } => {
                w.u8(LINK_VERSION << 4 | KIND_NAK)
                    .u8(0)
                    .u16(*next_seq)
                    .u16(*window);
            }
        }
        let crc = crc32fast::hash(w.as_slice());
        w.u32(crc);
        w.into_vec()
    }

    /// Decode one ATT payload. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<Frame, FrameError> {
        if bytes.len() < FRAME_OVERHEAD {
            return Err(FrameError::TooShort(bytes.len()));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        let mut crc_bytes = [0u8; 4];
        crc_bytes.copy_from_slice(crc);
        if crc32fast::hash(body) != u32::from_le_bytes(crc_bytes) {
            return Err(FrameError::BadCrc);
        }
        let mut r = Reader::new(body);
        let control = r.u8("control")?;
        if control >> 4 != LINK_VERSION {
            return Err(FrameError::BadVersion(control >> 4));
        }
        let flags = r.u8("flags")?;
        let seq = r.u16("seq")?;
        match control & 0x0f {
            KIND_DATA => {
                if flags & !(FLAG_FIRST | FLAG_LAST) != 0 {
                    return Err(FrameError::Malformed("reserved flag bits set"));
                }
                let first = flags & FLAG_FIRST != 0;
                let total_len = if first {
                    Some(r.u32("total_len")?)
                } else {
                    None
                };
                Ok(Frame::Data(DataFrame {
                    seq,
                    first,
                    last: flags & FLAG_LAST != 0,
                    total_len,
                    payload: r.rest().to_vec(),
                }))
            }
            kind @ (KIND_ACK | KIND_NAK) => {
                if flags != 0 {
                    return Err(FrameError::Malformed("flags on control frame"));
                }
                let window = r.u16("window")?;
                r.finish()
                    .map_err(|_| FrameError::Malformed("control frame length"))?;
                Ok(if kind == KIND_ACK {
                    Frame::Ack {
                        next_seq: seq,
                        window,
                    }
                } else {
                    Frame::Nak {
                        next_seq: seq,
                        window,
                    }
                })
            }
            kind => Err(FrameError::BadKind(kind)),
        }
    }
}

/// Splits messages into data frames that fit one ATT payload at a given MTU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragmenter {
    mtu: usize,
}

impl Fragmenter {
    /// Fragmenter for a negotiated ATT MTU (23..=517).
    pub fn new(mtu: usize) -> Result<Self, FrameError> {
        if !(MIN_MTU..=MAX_MTU).contains(&mtu) {
            return Err(FrameError::BadMtu(mtu));
        }
        Ok(Self { mtu })
    }

    /// The ATT MTU.
    pub fn mtu(&self) -> usize {
        self.mtu
    }

    /// Largest frame (ATT payload) at this MTU: `mtu - 3`.
    pub fn max_frame_len(&self) -> usize {
        self.mtu - ATT_HEADER_LEN
    }

    /// Message bytes carried by a continuation fragment.
    pub fn chunk_capacity(&self) -> usize {
        self.max_frame_len() - FRAME_OVERHEAD
    }

    /// Message bytes carried by the first fragment.
    pub fn first_capacity(&self) -> usize {
        self.chunk_capacity() - FIRST_EXTRA
    }

    /// Number of fragments a message of `len` bytes needs.
    pub fn fragment_count(&self, len: usize) -> usize {
        if len <= self.first_capacity() {
            1
        } else {
            1 + (len - self.first_capacity()).div_ceil(self.chunk_capacity())
        }
    }

    /// Largest message that fits in exactly `n` fragments (n ≥ 1).
    pub fn capacity(&self, n: usize) -> usize {
        self.first_capacity() + n.saturating_sub(1) * self.chunk_capacity()
    }

    /// Split `message` into fragments (seq numbers are left at 0; the flow-control
    /// sender assigns them).
    pub fn fragments<'a>(&self, message: &'a [u8]) -> impl Iterator<Item = DataFrame> + 'a {
        let first_cap = self.first_capacity();
        let cap = self.chunk_capacity();
        let total = message.len();
        let count = self.fragment_count(total);
        (0..count).map(move |i| {
            let (start, end) = if i == 0 {
                (0, total.min(first_cap))
            } else {
                let s = first_cap + (i - 1) * cap;
                (s, total.min(s + cap))
            };
            DataFrame {
                seq: 0,
                first: i == 0,
                last: i + 1 == count,
                total_len: (i == 0).then_some(total as u32),
                payload: message[start..end].to_vec(),
            }
        })
    }

    /// Encode `message` as ATT payloads with consecutive seqs from `start_seq`.
    pub fn encode_all(&self, message: &[u8], start_seq: u16) -> Vec<Vec<u8>> {
        self.fragments(message)
            .enumerate()
            .map(|(i, mut f)| {
                f.seq = start_seq.wrapping_add(i as u16);
                Frame::Data(f).encode()
            })
            .collect()
    }
}

/// Rebuilds messages from in-order data frames, bounding memory.
#[derive(Debug, Clone)]
pub struct Reassembler {
    max_len: usize,
    current: Option<(usize, Vec<u8>)>,
}

impl Default for Reassembler {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_MESSAGE_LEN)
    }
}

impl Reassembler {
    /// Reassembler that refuses messages longer than `max_len` bytes.
    pub fn new(max_len: usize) -> Self {
        Self {
            max_len,
            current: None,
        }
    }

    /// Whether a message is partially received.
    pub fn in_progress(&self) -> bool {
        self.current.is_some()
    }

    /// Feed the next in-order data frame; returns a complete message when the
    /// last fragment arrives. On error the partial message is discarded.
    pub fn push(&mut self, frame: &DataFrame) -> Result<Option<Vec<u8>>, FrameError> {
        let result = self.push_inner(frame);
        if result.is_err() {
            self.current = None;
        }
        result
    }

    fn push_inner(&mut self, frame: &DataFrame) -> Result<Option<Vec<u8>>, FrameError> {
        if frame.first {
            if self.current.is_some() {
                return Err(FrameError::UnexpectedFirst);
            }
            let declared = frame.total_len.unwrap_or(0) as usize;
            if declared == 0 {
                return Err(FrameError::EmptyMessage);
            }
            if declared > self.max_len {
                return Err(FrameError::TooLarge {
                    len: declared,
                    limit: self.max_len,
                });
            }
            self.current = Some((declared, Vec::with_capacity(declared)));
        }
        let Some((declared, buf)) = self.current.as_mut() else {
            return Err(FrameError::UnexpectedContinuation);
        };
        let declared = *declared;
        if buf.len() + frame.payload.len() > declared {
            return Err(FrameError::LengthMismatch {
                declared,
                received: buf.len() + frame.payload.len(),
            });
        }
        buf.extend_from_slice(&frame.payload);
        if frame.last {
            let received = buf.len();
            let (_, buf) = self.current.take().unwrap_or_default();
            if received != declared {
                return Err(FrameError::LengthMismatch { declared, received });
            }
            return Ok(Some(buf));
        }
        Ok(None)
    }

    /// Decode an ATT payload and push it (ignores seq; for callers without flow
    /// control). Control frames are an error here.
    pub fn push_bytes(&mut self, bytes: &[u8]) -> Result<Option<Vec<u8>>, FrameError> {
        match Frame::decode(bytes)? {
            Frame::Data(d) => self.push(&d),
            _ => Err(FrameError::Malformed("control frame fed to reassembler")),
        }
    }
}
