//! Fuzz targets for every decoder that reads radio bytes, shared by the
//! cargo-fuzz crate (`ble/fuzz`, nightly) and the bounded stable runner
//! (`cargo run -p smartcontrol-ble --release --example fuzz_decoders`).
//!
//! Each target must return without panicking for any input.

use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;

use crate::device::{BasicDevice, DeviceConnection};
use crate::flow::Link;
use crate::frame::{Fragmenter, Frame, Reassembler};
use crate::message::{Message, VehicleTestId};
use crate::security::{
    simulated_device_key, AccessGrant, Attestation, AttestationFields, DeviceIdentity,
    DeviceRevocations, GrantFields, Permissions, RevocationListFields, RevokedGrant, SessionCipher,
    SignedRevocationList,
};
use crate::uuids::AdvertData;

/// A named fuzz target.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: &[Target] = &[
    ("frame", fuzz_frame),
    ("reassembly", fuzz_reassembly),
    ("message", fuzz_message),
    ("grant", fuzz_grant),
    ("handshake", fuzz_handshake),
    ("advert", fuzz_advert),
    ("session", fuzz_session),
    ("revocations", fuzz_revocations),
    ("attestation", fuzz_attestation),
];

/// Frame decoder; a decoded frame must re-encode to the same bytes.
pub fn fuzz_frame(data: &[u8]) {
    if let Ok(f) = Frame::decode(data) {
        assert_eq!(f.encode(), data, "frame re-encoding differs");
    }
}

/// Flow-controlled reassembly: input split into frames by a leading length byte.
pub fn fuzz_reassembly(data: &[u8]) {
    let mut link = Link::new(23 + usize::from(data.first().copied().unwrap_or(0))).ok();
    let mut reasm = Reassembler::new(4096);
    let mut rest = data.get(1..).unwrap_or_default();
    while let Some((&n, tail)) = rest.split_first() {
        let n = usize::from(n).min(tail.len());
        let (frame, tail) = tail.split_at(n);
        if let Some(l) = link.as_mut() {
            let _ = l.handle_frame(frame);
            while l.poll_transmit().is_some() {}
        }
        let _ = reasm.push_bytes(frame);
        rest = tail;
    }
}

/// Message decoder; a decoded message must re-encode to the same bytes.
pub fn fuzz_message(data: &[u8]) {
    if let Ok(m) = Message::decode(data) {
        assert_eq!(m.encode(), data, "message re-encoding differs");
    }
}

/// Grant decoder and verification.
pub fn fuzz_grant(data: &[u8]) {
    if let Ok(g) = AccessGrant::decode(data) {
        assert_eq!(g.encode(), data, "grant re-encoding differs");
        let _ = g.verify(&fleet_key().verifying_key());
        let _ = g.check_time(1_700_000_000);
    }
}

/// Revocation list decoder, verification and application to a device's
/// store (what a phone or the cellular link hands the device).
pub fn fuzz_revocations(data: &[u8]) {
    if let Ok(l) = SignedRevocationList::decode(data) {
        assert_eq!(l.encode(), data, "revocation list re-encoding differs");
        let mut store = DeviceRevocations::new();
        let _ = store.apply(&l, "CBX-FUZZ", &fleet_key().verifying_key(), 1_700_000_000);
    }
}

/// Attestation decoder and verification (what the cloud reads from a phone).
pub fn fuzz_attestation(data: &[u8]) {
    if let Ok(a) = Attestation::decode(data) {
        assert_eq!(a.encode(), data, "attestation re-encoding differs");
        let _ = a.verify(&simulated_device_key("CBX-FUZZ").verifying_key());
    }
}

/// Advertisement decoder.
pub fn fuzz_advert(data: &[u8]) {
    let _ = AdvertData::decode(data);
}

/// The device engine fed arbitrary messages (handshake and sealed records):
/// input split into messages by a leading length byte, each fragmented
/// correctly so the bytes reach the handshake/record decoders.
pub fn fuzz_handshake(data: &[u8]) {
    let identity = DeviceIdentity {
        serial: "CBX-FUZZ".into(),
        fleet_public_key: fleet_key().verifying_key(),
    };
    let Ok(mut dev) = DeviceConnection::new(identity, 64) else {
        return;
    };
    let mut handler = BasicDevice::new("CBX-FUZZ");
    let mut revoked = DeviceRevocations::new();
    let Ok(frag) = Fragmenter::new(64) else {
        return;
    };
    let mut seq = 0u16;
    let mut rest = data;
    while let Some((&n, tail)) = rest.split_first() {
        let n = usize::from(n).min(tail.len());
        let (msg, tail) = tail.split_at(n);
        for frame in frag.encode_all(msg, seq) {
            seq = seq.wrapping_add(1);
            dev.on_frame_with(
                &frame,
                1_700_000_000,
                &mut revoked,
                &mut rand_core::OsRng,
                &mut handler,
            );
        }
        while dev.poll_transmit().is_some() {}
        rest = tail;
    }
    // Random bytes as a sealed record on a fresh cipher pair.
    let _ = fuzz_cipher().open(data);
}

/// Establish a real session, then deliver the input as the plaintext of a
/// correctly sealed record (reaches message decoding, authorization and the
/// firmware dispatch), and the input itself as a raw record.
pub fn fuzz_session(data: &[u8]) {
    let Some((mut dev, mut phone_link, mut cipher)) = session_pair() else {
        return;
    };
    let mut handler = BasicDevice::new("CBX-FUZZ");
    let mut revoked = DeviceRevocations::new();
    phone_link.send_message(&cipher.seal(data));
    phone_link.send_message(data);
    while let Some(frame) = phone_link.poll_transmit() {
        dev.on_frame_with(
            &frame,
            1_700_000_000,
            &mut revoked,
            &mut rand_core::OsRng,
            &mut handler,
        );
    }
    while let Some(frame) = dev.poll_transmit() {
        if let Ok(Some(record)) = phone_link.handle_frame(&frame) {
            let _ = cipher.open_message(&record);
        }
    }
}

/// A device engine and a phone (link + cipher) after a completed handshake.
pub fn session_pair() -> Option<(DeviceConnection, Link, SessionCipher)> {
    let phone = crate::security::PhoneKey::from_seed(&[9; 32]);
    let grant = AccessGrant::sign(corpus_grant_fields(), &fleet_key()).ok()?;
    let identity = DeviceIdentity {
        serial: "CBX-FUZZ".into(),
        fleet_public_key: fleet_key().verifying_key(),
    };
    let mut dev = DeviceConnection::new(identity, 64).ok()?;
    let mut link = Link::new(64).ok()?;
    let mut revoked = DeviceRevocations::new();
    let (hs, hello) = crate::security::PhoneHandshake::start(&grant, "job-1", &phone).ok()?;
    link.send_message(&hello.encode());
    let mut pump = |link: &mut Link, dev: &mut DeviceConnection| -> Option<Vec<u8>> {
        while let Some(f) = link.poll_transmit() {
            let _ = dev.on_frame(&f, 1_700_000_000, &mut revoked, &mut rand_core::OsRng);
        }
        let mut got = None;
        while let Some(f) = dev.poll_transmit() {
            if let Ok(Some(m)) = link.handle_frame(&f) {
                got = Some(m);
            }
        }
        // Deliver the phone's ACKs.
        while let Some(f) = link.poll_transmit() {
            let _ = dev.on_frame(&f, 1_700_000_000, &mut revoked, &mut rand_core::OsRng);
        }
        got
    };
    let Message::Challenge(ch) = Message::decode(&pump(&mut link, &mut dev)?).ok()? else {
        return None;
    };
    let (finish, mut cipher) = hs.on_challenge(&ch, &mut rand_core::OsRng).ok()?;
    link.send_message(&finish.encode());
    let ready = pump(&mut link, &mut dev)?;
    crate::security::PhoneHandshake::on_ready(&mut cipher, &ready).ok()?;
    Some((dev, link, cipher))
}

fn corpus_grant_fields() -> GrantFields {
    GrantFields {
        grant_id: [1; 16],
        device_serial: "CBX-FUZZ".into(),
        vin: "WVWZZZ1JZXW000001".into(),
        job_id: "job-1".into(),
        technician_id: "tech-1".into(),
        phone_public_key: SigningKey::from_bytes(&[9; 32]).verifying_key().to_bytes(),
        permissions: Permissions::ALL,
        not_before: 1_600_000_000,
        not_after: 1_800_000_000,
    }
}

fn fleet_key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

fn fuzz_cipher() -> SessionCipher {
    SessionCipher::for_fuzzing()
}

/// Valid encodings to seed mutation: frames, messages, a grant, a Hello.
pub fn corpus() -> Vec<Vec<u8>> {
    let fields = corpus_grant_fields();
    let mut out = Vec::new();
    if let Ok(g) = AccessGrant::sign(fields, &fleet_key()) {
        out.push(g.encode());
        let hello = Message::Hello(crate::message::Hello {
            min_version: 1,
            max_version: 1,
            job_id: "job-1".into(),
            grant: g.encode(),
        });
        let enc = hello.encode();
        let mut framed = vec![enc.len().min(255) as u8];
        framed.extend_from_slice(&enc);
        out.push(framed);
        out.push(enc);
    }
    if let Ok(l) = SignedRevocationList::sign(
        RevocationListFields {
            device_serial: "CBX-FUZZ".into(),
            sequence: 3,
            issued_at: 1_700_000_000,
            entries: vec![RevokedGrant {
                grant_id: [1; 16],
                not_after: 1_800_000_000,
            }],
        },
        &fleet_key(),
    ) {
        out.push(l.encode());
        out.push(Message::RevocationUpdate { list: l.encode() }.encode());
    }
    if let Ok(a) = Attestation::sign(
        AttestationFields {
            device_serial: "CBX-FUZZ".into(),
            job_id: "job-1".into(),
            grant_id: [1; 16],
            counter: 1,
            device_time: 1_700_000_000,
            vehicle_vin: "WVWZZZ1JZXW000001".into(),
            vehicle_model: "vw-golf8".into(),
            bound_vin: "WVWZZZ1JZXW000001".into(),
            config_id: "c".into(),
            config_sha256: Some([2; 32]),
            read_back_sha256: None,
            tests: Vec::new(),
        },
        &simulated_device_key("CBX-FUZZ"),
    ) {
        out.push(a.encode());
    }
    for m in [
        Message::DeviceInfoRequest,
        Message::VehicleInfoRequest,
        Message::AttestRequest {
            job_id: "job-1".into(),
        },
        Message::ConfigReadBack,
        Message::VehicleTest(crate::message::VehicleTest {
            test: VehicleTestId::DoorsClosed,
        }),
        Message::error(crate::message::ErrorCode::Busy, 0x20, "busy"),
        Message::ConfigChunk(crate::message::ConfigChunk {
            offset: 10,
            data: vec![1, 2, 3],
        }),
    ] {
        out.push(m.encode());
    }
    if let Ok(f) = Fragmenter::new(23) {
        out.extend(f.encode_all(&[0xAB; 40], 5));
    }
    out.push(
        Frame::Ack {
            next_seq: 3,
            window: 32,
        }
        .encode(),
    );
    out.push(
        AdvertData {
            protocol_version: 1,
            flags: 1,
            serial: "CBX-1".into(),
        }
        .encode(),
    );
    out
}

/// Deterministic xorshift64* generator (no dependency, fixed seed).
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// Seeded generator (seed 0 is replaced).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// Next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Produce one input: random bytes, or a mutated corpus entry.
pub fn generate(rng: &mut XorShift, corpus: &[Vec<u8>]) -> Vec<u8> {
    if corpus.is_empty() || rng.below(4) == 0 {
        let len = rng.below(300);
        return (0..len).map(|_| rng.next_u64() as u8).collect();
    }
    let mut v = corpus[rng.below(corpus.len())].clone();
    for _ in 0..=rng.below(4) {
        match rng.below(5) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next_u64() as u8;
            }
            2 => {
                let cut = rng.below(v.len() + 1);
                v.truncate(cut);
            }
            3 => {
                let i = rng.below(v.len() + 1);
                v.insert(i, rng.next_u64() as u8);
            }
            _ => {
                let i = rng.below(v.len() + 1);
                let n = rng.below(16);
                let junk: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                v.splice(i..i, junk);
            }
        }
    }
    v
}

/// Run one target on up to `iterations` generated inputs within `budget`;
/// returns the number of inputs run. Panics (a bug) propagate.
pub fn run_bounded(target: fn(&[u8]), iterations: u64, budget: Duration, seed: u64) -> u64 {
    let corpus = corpus();
    for c in &corpus {
        target(c);
    }
    let mut rng = XorShift::new(seed);
    let start = Instant::now();
    let mut n = 0;
    while n < iterations && start.elapsed() < budget {
        target(&generate(&mut rng, &corpus));
        n += 1;
    }
    n
}
