//! One test per security refusal, driven sans-IO against the device engine.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;

use common::*;
use rand_core::OsRng;
use smartcontrol_ble::flow::Link;
use smartcontrol_ble::message::{
    BindVehicle, ConfigBegin, Finish, Hello, Message, VehicleTest, VehicleTestId, PROTOCOL_VERSION,
};
use smartcontrol_ble::security::{
    AccessGrant, DeviceRevocations, PhoneHandshake, PhoneKey, SecurityError, SessionCipher,
    SigningKey,
};
use smartcontrol_ble::{DeviceConnection, ErrorCode, GrantFields, Permissions};

struct Phone {
    link: Link,
    cipher: Option<SessionCipher>,
}

/// Send plaintext or a record from the phone to the device; return the device's
/// replies (raw records).
fn exchange(
    phone: &mut Phone,
    dev: &mut DeviceConnection,
    record: &[u8],
    now: u64,
    revoked: &HashSet<[u8; 16]>,
) -> Vec<Vec<u8>> {
    phone.link.send_message(record);
    let mut replies = Vec::new();
    let mut revoked = DeviceRevocations::with_ids(revoked.iter().copied());
    for _ in 0..8 {
        while let Some(f) = phone.link.poll_transmit() {
            let _ = dev.on_frame(&f, now, &mut revoked, &mut OsRng);
        }
        while let Some(f) = dev.poll_transmit() {
            if let Ok(Some(m)) = phone.link.handle_frame(&f) {
                replies.push(m);
            }
        }
    }
    replies
}

fn hello(grant: &AccessGrant, job: &str) -> Vec<u8> {
    Message::Hello(Hello {
        min_version: PROTOCOL_VERSION,
        max_version: PROTOCOL_VERSION,
        job_id: job.into(),
        grant: grant.encode(),
    })
    .encode()
}

fn new_pair() -> (Phone, DeviceConnection) {
    (
        Phone {
            link: Link::new(100).unwrap(),
            cipher: None,
        },
        DeviceConnection::new(identity(), 100).unwrap(),
    )
}

/// Send a Hello and return the device's refusal (plaintext Error) if any.
fn hello_refusal(
    grant: &AccessGrant,
    job: &str,
    now: u64,
    revoked: &HashSet<[u8; 16]>,
) -> (Option<ErrorCode>, DeviceConnection) {
    let (mut phone, mut dev) = new_pair();
    let replies = exchange(&mut phone, &mut dev, &hello(grant, job), now, revoked);
    let code = match Message::decode(&replies[0]).unwrap() {
        Message::Error(e) => Some(e.code),
        Message::Challenge(_) => None,
        m => panic!("unexpected {m:?}"),
    };
    (code, dev)
}

fn signed(f: impl FnOnce(&mut GrantFields)) -> AccessGrant {
    let mut fields = fields(&phone());
    f(&mut fields);
    AccessGrant::sign(fields, &fleet()).unwrap()
}

/// A full handshake; returns the established phone and device.
fn established(grant: &AccessGrant) -> (Phone, DeviceConnection) {
    let (mut phone, mut dev) = new_pair();
    let revoked = HashSet::new();
    let (hs, hello) = PhoneHandshake::start(grant, JOB, &common::phone()).unwrap();
    let replies = exchange(&mut phone, &mut dev, &hello.encode(), NOW, &revoked);
    let Message::Challenge(ch) = Message::decode(&replies[0]).unwrap() else {
        panic!()
    };
    let (finish, mut cipher) = hs.on_challenge(&ch, &mut OsRng).unwrap();
    let replies = exchange(&mut phone, &mut dev, &finish.encode(), NOW, &revoked);
    PhoneHandshake::on_ready(&mut cipher, &replies[0]).unwrap();
    phone.cipher = Some(cipher);
    (phone, dev)
}

fn op_error(
    phone: &mut Phone,
    dev: &mut DeviceConnection,
    msg: &Message,
    now: u64,
) -> Option<ErrorCode> {
    let rec = phone.cipher.as_mut().unwrap().seal_message(msg);
    let replies = exchange(phone, dev, &rec, now, &HashSet::new());
    // No reply: the request was authorized and handed to the firmware.
    let reply = replies.first()?;
    match phone.cipher.as_mut().unwrap().open_message(reply).unwrap() {
        Message::Error(e) => Some(e.code),
        _ => None,
    }
}

#[test]
fn valid_grant_is_accepted() {
    let (code, _) = hello_refusal(&grant(), JOB, NOW, &HashSet::new());
    assert_eq!(code, None);
    let (mut phone, mut dev) = established(&grant());
    assert_eq!(
        op_error(&mut phone, &mut dev, &Message::DeviceInfoRequest, NOW),
        None
    );
}

#[test]
fn refuses_bad_signature() {
    let other_fleet = SigningKey::from_bytes(&[99; 32]);
    let g = AccessGrant::sign(fields(&phone()), &other_fleet).unwrap();
    let (code, dev) = hello_refusal(&g, JOB, NOW, &HashSet::new());
    assert_eq!(code, Some(ErrorCode::BadSignature));
    assert_eq!(dev.last_refusal(), Some(&SecurityError::BadSignature));
    assert!(dev.should_disconnect());
}

/// After a refusal the device still takes the phone's ACK of its Error and
/// then closes; without an ACK it resends a bounded number of times and
/// closes anyway (protocol §5.1). Before: it ignored the ACK and resent the
/// Error forever.
#[test]
fn a_refusing_device_closes_after_the_ack_or_after_bounded_resends() {
    let other_fleet = SigningKey::from_bytes(&[99; 32]);
    let g = AccessGrant::sign(fields(&phone()), &other_fleet).unwrap();
    // The phone acknowledges the Error (exchange delivers the phone's ACK).
    let (code, dev) = hello_refusal(&g, JOB, NOW, &HashSet::new());
    assert_eq!(code, Some(ErrorCode::BadSignature));
    assert!(dev.link().is_idle(), "the ACK of the Error was taken");
    assert!(!dev.has_unacked());
    assert!(dev.should_close());

    // The phone goes silent: the Error is resent, then the device gives up.
    let (mut phone, mut dev) = new_pair();
    phone.link.send_message(&hello(&g, JOB));
    let mut revoked = DeviceRevocations::with_ids([]);
    while let Some(f) = phone.link.poll_transmit() {
        let _ = dev.on_frame(&f, NOW, &mut revoked, &mut OsRng);
    }
    let mut sent = 0;
    while dev.poll_transmit().is_some() {
        sent += 1;
    }
    assert!(sent > 0, "the Error went out");
    assert!(dev.should_disconnect() && dev.has_unacked());
    let mut resends = 0;
    while !dev.should_close() {
        assert!(
            resends < smartcontrol_ble::device::REFUSAL_RESENDS,
            "the device resends the Error forever"
        );
        dev.on_timeout();
        assert!(dev.poll_transmit().is_some(), "resent");
        resends += 1;
    }
    assert_eq!(resends, smartcontrol_ble::device::REFUSAL_RESENDS);
}

#[test]
fn refuses_tampered_grant() {
    let mut g = grant();
    g.fields.permissions = Permissions::ALL;
    g.fields.not_after += 1_000_000;
    let (code, _) = hello_refusal(&g, JOB, NOW, &HashSet::new());
    assert_eq!(code, Some(ErrorCode::BadSignature));
}

#[test]
fn refuses_another_devices_grant() {
    let g = signed(|f| f.device_serial = "CBX-OTHER".into());
    let (code, _) = hello_refusal(&g, JOB, NOW, &HashSet::new());
    assert_eq!(code, Some(ErrorCode::WrongDevice));
}

#[test]
fn refuses_another_jobs_grant() {
    let g = signed(|f| f.job_id = "job-other".into());
    let (code, _) = hello_refusal(&g, JOB, NOW, &HashSet::new());
    assert_eq!(code, Some(ErrorCode::WrongJob));
    // The phone side refuses to even start with a mismatching job.
    assert!(matches!(
        PhoneHandshake::start(&g, JOB, &phone()),
        Err(SecurityError::WrongJob { .. })
    ));
}

#[test]
fn refuses_expired_grant() {
    let (code, _) = hello_refusal(&grant(), JOB, NOW + 3601, &HashSet::new());
    assert_eq!(code, Some(ErrorCode::GrantExpired));
}

#[test]
fn refuses_not_yet_valid_grant() {
    let (code, _) = hello_refusal(&grant(), JOB, NOW - 3601, &HashSet::new());
    assert_eq!(code, Some(ErrorCode::GrantNotYetValid));
}

#[test]
fn refuses_revoked_grant() {
    let revoked: HashSet<[u8; 16]> = [[0x11; 16]].into_iter().collect();
    let (code, _) = hello_refusal(&grant(), JOB, NOW, &revoked);
    assert_eq!(code, Some(ErrorCode::Revoked));
}

#[test]
fn refuses_bad_proof_of_possession() {
    let (mut phone, mut dev) = new_pair();
    let revoked = HashSet::new();
    let replies = exchange(&mut phone, &mut dev, &hello(&grant(), JOB), NOW, &revoked);
    let Message::Challenge(ch) = Message::decode(&replies[0]).unwrap() else {
        panic!()
    };
    // An attacker with the grant but another key completes the handshake.
    let thief = PhoneKey::from_seed(&[77; 32]);
    let stolen = signed(|f| f.phone_public_key = thief.public_key());
    let (hs, _) = PhoneHandshake::start(&stolen, JOB, &thief).unwrap();
    let _ = ch;
    let _ = hs;
    let finish = Message::Finish(Finish {
        phone_ephemeral: [9; 32],
        signature: [1; 64],
    });
    let replies = exchange(&mut phone, &mut dev, &finish.encode(), NOW, &revoked);
    let Message::Error(e) = Message::decode(&replies[0]).unwrap() else {
        panic!()
    };
    assert_eq!(e.code, ErrorCode::BadProof);
    assert_eq!(dev.last_refusal(), Some(&SecurityError::BadProof));
}

#[test]
fn refuses_proof_signed_by_another_key() {
    let (mut phone_side, mut dev) = new_pair();
    let revoked = HashSet::new();
    let g = grant();
    // Hello with the real grant, Finish signed by a different phone key.
    let thief = PhoneKey::from_seed(&[77; 32]);
    let stolen = signed(|f| f.phone_public_key = thief.public_key());
    let (hs, _) = PhoneHandshake::start(&stolen, JOB, &thief).unwrap();
    let replies = exchange(&mut phone_side, &mut dev, &hello(&g, JOB), NOW, &revoked);
    let Message::Challenge(ch) = Message::decode(&replies[0]).unwrap() else {
        panic!()
    };
    let (finish, _) = hs.on_challenge(&ch, &mut OsRng).unwrap();
    let replies = exchange(&mut phone_side, &mut dev, &finish.encode(), NOW, &revoked);
    let Message::Error(e) = Message::decode(&replies[0]).unwrap() else {
        panic!()
    };
    assert_eq!(e.code, ErrorCode::BadProof);
}

#[test]
fn refuses_missing_configure_permission() {
    let g = signed(|f| f.permissions = Permissions::TEST);
    let (mut phone, mut dev) = established(&g);
    let begin = Message::ConfigBegin(ConfigBegin {
        job_id: JOB.into(),
        config_id: "c".into(),
        total_len: 1,
        sha256: [0; 32],
    });
    assert_eq!(
        op_error(&mut phone, &mut dev, &begin, NOW),
        Some(ErrorCode::PermissionDenied)
    );
}

#[test]
fn refuses_missing_commands_permission() {
    let g = signed(|f| f.permissions = Permissions::TEST | Permissions::CONFIGURE);
    let (mut phone, mut dev) = established(&g);
    let lock = Message::VehicleTest(VehicleTest {
        test: VehicleTestId::CentralLockLock,
    });
    assert_eq!(
        op_error(&mut phone, &mut dev, &lock, NOW),
        Some(ErrorCode::PermissionDenied)
    );
    let read = Message::VehicleTest(VehicleTest {
        test: VehicleTestId::Mileage,
    });
    assert_eq!(op_error(&mut phone, &mut dev, &read, NOW), None);
}

#[test]
fn refuses_missing_test_permission() {
    let g = signed(|f| f.permissions = Permissions::CONFIGURE);
    let (mut phone, mut dev) = established(&g);
    let read = Message::VehicleTest(VehicleTest {
        test: VehicleTestId::Mileage,
    });
    assert_eq!(
        op_error(&mut phone, &mut dev, &read, NOW),
        Some(ErrorCode::PermissionDenied)
    );
}

#[test]
fn refuses_operation_for_another_job() {
    let (mut phone, mut dev) = established(&grant());
    let bind = Message::BindVehicle(BindVehicle {
        job_id: "job-other".into(),
        vin: VIN.into(),
    });
    assert_eq!(
        op_error(&mut phone, &mut dev, &bind, NOW),
        Some(ErrorCode::WrongJob)
    );
}

#[test]
fn refuses_binding_another_vehicle() {
    let (mut phone, mut dev) = established(&grant());
    let bind = Message::BindVehicle(BindVehicle {
        job_id: JOB.into(),
        vin: "OTHERVIN000000000".into(),
    });
    assert_eq!(
        op_error(&mut phone, &mut dev, &bind, NOW),
        Some(ErrorCode::WrongVehicle)
    );
}

#[test]
fn refuses_operation_after_grant_expired_mid_session() {
    let (mut phone, mut dev) = established(&grant());
    let info = Message::DeviceInfoRequest;
    assert_eq!(
        op_error(&mut phone, &mut dev, &info, NOW + 4000),
        Some(ErrorCode::GrantExpired)
    );
    assert!(dev.should_disconnect());
}

#[test]
fn refuses_replayed_record() {
    let (mut phone, mut dev) = established(&grant());
    let rec = phone
        .cipher
        .as_mut()
        .unwrap()
        .seal_message(&Message::DeviceInfoRequest);
    exchange(&mut phone, &mut dev, &rec, NOW, &HashSet::new());
    exchange(&mut phone, &mut dev, &rec, NOW, &HashSet::new());
    assert!(matches!(
        dev.last_refusal(),
        Some(SecurityError::Replay {
            got: 0,
            expected: 1
        })
    ));
    assert!(dev.should_disconnect());
}

#[test]
fn refuses_reordered_record() {
    let (mut phone, mut dev) = established(&grant());
    let c = phone.cipher.as_mut().unwrap();
    let first = c.seal_message(&Message::DeviceInfoRequest);
    let second = c.seal_message(&Message::DeviceInfoRequest);
    exchange(&mut phone, &mut dev, &second, NOW, &HashSet::new());
    assert!(matches!(
        dev.last_refusal(),
        Some(SecurityError::Reordered {
            got: 1,
            expected: 0
        })
    ));
    let _ = first;
}

#[test]
fn refuses_tampered_record() {
    let (mut phone, mut dev) = established(&grant());
    let mut rec = phone
        .cipher
        .as_mut()
        .unwrap()
        .seal_message(&Message::DeviceInfoRequest);
    let last = rec.len() - 1;
    rec[last] ^= 1;
    exchange(&mut phone, &mut dev, &rec, NOW, &HashSet::new());
    assert_eq!(dev.last_refusal(), Some(&SecurityError::BadRecord));
}

#[test]
fn refuses_operations_before_handshake() {
    let (mut phone, mut dev) = new_pair();
    let replies = exchange(
        &mut phone,
        &mut dev,
        &Message::DeviceInfoRequest.encode(),
        NOW,
        &HashSet::new(),
    );
    let Message::Error(e) = Message::decode(&replies[0]).unwrap() else {
        panic!()
    };
    assert_eq!(e.code, ErrorCode::NotAuthenticated);
}

#[test]
fn refuses_unsupported_version() {
    let (mut phone, mut dev) = new_pair();
    let h = Message::Hello(Hello {
        min_version: 9,
        max_version: 9,
        job_id: JOB.into(),
        grant: grant().encode(),
    });
    let replies = exchange(&mut phone, &mut dev, &h.encode(), NOW, &HashSet::new());
    let Message::Error(e) = Message::decode(&replies[0]).unwrap() else {
        panic!()
    };
    assert_eq!(e.code, ErrorCode::UnsupportedVersion);
}

#[test]
fn phone_refuses_challenge_from_another_device() {
    let (hs, _) = PhoneHandshake::start(&grant(), JOB, &phone()).unwrap();
    let ch = smartcontrol_ble::message::Challenge {
        version: 1,
        serial: "CBX-EVIL".into(),
        nonce: [0; 32],
        device_ephemeral: [9; 32],
    };
    assert!(matches!(
        hs.on_challenge(&ch, &mut OsRng),
        Err(SecurityError::WrongDevice { .. })
    ));
}

#[test]
fn grant_hex_roundtrip_and_verify() {
    let g = grant();
    let back = AccessGrant::from_hex(&g.to_hex()).unwrap();
    assert_eq!(back, g);
    back.verify(&fleet().verifying_key()).unwrap();
}

#[test]
fn file_secret_store_creates_0600_key_and_reloads() {
    use smartcontrol_ble::security::{FileSecretStore, SecretStore};
    let dir = tempfile::tempdir().unwrap();
    let store = FileSecretStore::new(dir.path().join("keys")).unwrap();
    let k1 = PhoneKey::load_or_create(&store).unwrap();
    let k2 = PhoneKey::load_or_create(&store).unwrap();
    assert_eq!(k1.public_key(), k2.public_key());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(store.path_of(PhoneKey::SECRET_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(store.get("../etc").is_err());
    store.delete(PhoneKey::SECRET_NAME).unwrap();
    assert!(store.get(PhoneKey::SECRET_NAME).unwrap().is_none());
}
