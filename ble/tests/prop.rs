//! Property tests: codec round trips, fragmentation at every MTU, corruption
//! and garbage never panic, flow control under loss and reordering.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use smartcontrol_ble::flow::Link;
use smartcontrol_ble::frame::{Fragmenter, Frame, Reassembler, MAX_MTU, MIN_MTU};
use smartcontrol_ble::message::*;
use smartcontrol_ble::security::{
    AccessGrant, GrantFields, Permissions, SessionCipher, SigningKey,
};
use smartcontrol_ble::uuids::AdvertData;

fn s8() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _-]{0,40}"
}
fn blob() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..600)
}
fn test_id() -> impl Strategy<Value = VehicleTestId> {
    proptest::sample::select(VehicleTestId::ALL.to_vec())
}
fn unit() -> impl Strategy<Value = Unit> {
    (0u8..8).prop_map(|u| Unit::from_u8(u).unwrap())
}
fn error_code() -> impl Strategy<Value = ErrorCode> {
    any::<u8>().prop_map(ErrorCode::from_u8)
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (any::<u8>(), any::<u8>(), s8(), blob()).prop_map(|(a, b, j, g)| Message::Hello(Hello {
            min_version: a,
            max_version: b,
            job_id: j,
            grant: g
        })),
        (any::<u8>(), s8(), any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(v, s, n, e)| {
            Message::Challenge(Challenge {
                version: v,
                serial: s,
                nonce: n,
                device_ephemeral: e,
            })
        }),
        (any::<[u8; 32]>(), any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(e, s1, s2)| {
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&s1);
            sig[32..].copy_from_slice(&s2);
            Message::Finish(Finish {
                phone_ephemeral: e,
                signature: sig,
            })
        }),
        (any::<u8>(), any::<u64>()).prop_map(|(p, n)| Message::SessionReady(SessionReady {
            permissions: p,
            not_after: n
        })),
        Just(Message::DeviceInfoRequest),
        blob().prop_map(|list| Message::RevocationUpdate { list }),
        (any::<u64>(), any::<u16>()).prop_map(|(sequence, entries)| {
            Message::RevocationStatus(RevocationStatus { sequence, entries })
        }),
        Just(Message::VehicleInfoRequest),
        (s8(), s8()).prop_map(|(vin, model)| Message::VehicleInfo(VehicleInfo { vin, model })),
        s8().prop_map(|job_id| Message::AttestRequest { job_id }),
        blob().prop_map(|attestation| Message::Attestation { attestation }),
        (s8(), s8(), s8(), any::<u16>(), s8(), s8()).prop_map(|(a, b, c, d, e, f)| {
            Message::DeviceInfo(DeviceInfo {
                serial: a,
                firmware_version: b,
                hardware_version: c,
                battery_millivolts: d,
                bound_vin: e,
                active_config_id: f,
            })
        }),
        (s8(), s8(), any::<u32>(), any::<[u8; 32]>()).prop_map(
            |(j, c, t, h)| Message::ConfigBegin(ConfigBegin {
                job_id: j,
                config_id: c,
                total_len: t,
                sha256: h
            })
        ),
        (any::<u32>(), any::<u16>()).prop_map(|(r, m)| Message::ConfigBeginAck(ConfigBeginAck {
            resume_offset: r,
            max_chunk: m
        })),
        (any::<u32>(), blob())
            .prop_map(|(o, d)| Message::ConfigChunk(ConfigChunk { offset: o, data: d })),
        any::<u32>().prop_map(|o| Message::ConfigChunkAck(ConfigChunkAck { offset: o })),
        any::<[u8; 32]>().prop_map(|h| Message::ConfigCommit(ConfigCommit { sha256: h })),
        (s8(), any::<[u8; 32]>()).prop_map(|(c, h)| Message::ConfigCommitted(ConfigCommitted {
            config_id: c,
            sha256: h
        })),
        Just(Message::ConfigReadBack),
        (s8(), any::<u32>(), any::<[u8; 32]>()).prop_map(|(c, t, h)| Message::ConfigDataHeader(
            ConfigDataHeader {
                config_id: c,
                total_len: t,
                sha256: h
            }
        )),
        (any::<u32>(), blob())
            .prop_map(|(o, d)| Message::ConfigData(ConfigData { offset: o, data: d })),
        (s8(), s8()).prop_map(|(j, v)| Message::BindVehicle(BindVehicle { job_id: j, vin: v })),
        s8().prop_map(|vin| Message::VehicleBound { vin }),
        test_id().prop_map(|t| Message::VehicleTest(VehicleTest { test: t })),
        (test_id(), any::<bool>(), unit(), any::<i64>(), any::<u16>()).prop_map(
            |(t, p, u, v, h)| Message::VehicleTestResult(VehicleTestResult {
                test: t,
                passed: p,
                unit: u,
                value: v,
                hint: HintCode::from_u16(h)
            })
        ),
        (error_code(), any::<u8>(), s8()).prop_map(|(c, r, d)| Message::error(c, r, d)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_message_round_trips(m in message()) {
        let bytes = m.encode();
        prop_assert_eq!(Message::decode(&bytes).unwrap(), m);
    }

    #[test]
    fn truncated_messages_are_errors(m in message(), cut in any::<prop::sample::Index>()) {
        let bytes = m.encode();
        let n = cut.index(bytes.len());
        if n < bytes.len() {
            prop_assert!(Message::decode(&bytes[..n]).is_err());
        }
    }

    #[test]
    fn fragmentation_round_trips_at_every_mtu(mtu in MIN_MTU..=MAX_MTU, msg in proptest::collection::vec(any::<u8>(), 1..16_384)) {
        let f = Fragmenter::new(mtu).unwrap();
        let frames = f.encode_all(&msg, 0);
        prop_assert_eq!(frames.len(), f.fragment_count(msg.len()));
        let mut r = Reassembler::default();
        let mut out = None;
        for (i, fr) in frames.iter().enumerate() {
            prop_assert!(fr.len() <= mtu - 3);
            let got = r.push_bytes(fr).unwrap();
            if i + 1 < frames.len() { prop_assert!(got.is_none()); } else { out = got; }
        }
        prop_assert_eq!(out.unwrap(), msg);
    }

    #[test]
    fn frame_corruption_is_detected(mtu in MIN_MTU..=MAX_MTU, msg in proptest::collection::vec(any::<u8>(), 1..2000), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let f = Fragmenter::new(mtu).unwrap();
        let mut frame = f.encode_all(&msg, 7).remove(0);
        let i = pos.index(frame.len());
        frame[i] ^= 1 << bit;
        prop_assert!(Frame::decode(&frame).is_err());
    }

    #[test]
    fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..700)) {
        let _ = Frame::decode(&data);
        let _ = Message::decode(&data);
        let _ = AccessGrant::decode(&data);
        let _ = AdvertData::decode(&data);
        let mut r = Reassembler::new(1000);
        let _ = r.push_bytes(&data);
        let mut l = Link::new(23).unwrap();
        let _ = l.handle_frame(&data);
        let _ = SessionCipher::for_fuzzing().open(&data);
        smartcontrol_ble::fuzzing::fuzz_handshake(&data);
        smartcontrol_ble::fuzzing::fuzz_reassembly(&data);
    }

    #[test]
    fn grant_round_trips_and_corruption_breaks_signature(
        serial in s8(), job in s8(), nb in any::<u64>(), na in any::<u64>(), bits in 0u8..8,
        pos in any::<prop::sample::Index>(), flip in 1u8..=255,
    ) {
        let key = SigningKey::from_bytes(&[4; 32]);
        let g = AccessGrant::sign(GrantFields {
            grant_id: [2; 16], device_serial: serial, vin: "VIN".into(), job_id: job,
            technician_id: "t".into(), phone_public_key: [8; 32],
            permissions: Permissions::from_bits(bits).unwrap(), not_before: nb, not_after: na,
        }, &key).unwrap();
        let mut bytes = g.encode();
        prop_assert_eq!(&AccessGrant::decode(&bytes).unwrap(), &g);
        g.verify(&key.verifying_key()).unwrap();
        let i = pos.index(bytes.len());
        bytes[i] ^= flip;
        if let Ok(bad) = AccessGrant::decode(&bytes) {
            prop_assert!(bad.verify(&key.verifying_key()).is_err());
        }
    }

    /// Two links exchange messages over a channel that drops, duplicates and
    /// reorders frames in both directions; everything arrives once, in order.
    #[test]
    fn flow_control_delivers_in_order_under_loss_and_reorder(
        mtu in prop_oneof![Just(23usize), Just(64), Just(247)],
        sizes in proptest::collection::vec(1usize..1500, 1..8),
        seed in any::<u64>(),
        loss in 0u64..30,
    ) {
        let mut rng = smartcontrol_ble::fuzzing::XorShift::new(seed);
        let mut a = Link::new(mtu).unwrap();
        let mut b = Link::new(mtu).unwrap();
        let msgs: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, n)| vec![i as u8; *n]).collect();
        for m in &msgs { a.send_message(m); }
        let mut got = Vec::new();
        let mut a_to_b: Vec<Vec<u8>> = Vec::new();
        let mut b_to_a: Vec<Vec<u8>> = Vec::new();
        for _round in 0..1_000_000 {
            while let Some(f) = a.poll_transmit() { a_to_b.push(f); }
            while let Some(f) = b.poll_transmit() { b_to_a.push(f); }
            if a_to_b.is_empty() && b_to_a.is_empty() {
                if got.len() == msgs.len() && a.is_idle() { break; }
                a.on_timeout();
                continue;
            }
            // Deliver one frame in each direction, with faults.
            for (queue, dst, is_b) in [(&mut a_to_b, &mut b, true), (&mut b_to_a, &mut a, false)] {
                if queue.is_empty() { continue; }
                let idx = if rng.below(100) < 10 { rng.below(queue.len()) } else { 0 };
                let frame = queue.remove(idx);
                let r = rng.below(100) as u64;
                if r < loss { continue; }
                if r < loss + 3 { queue.push(frame.clone()); }
                if let Ok(Some(m)) = dst.handle_frame(&frame) {
                    if is_b { got.push(m); }
                }
            }
        }
        prop_assert_eq!(got.len(), msgs.len(), "messages delivered");
        prop_assert!(got == msgs, "message content or order differs");
    }
}
