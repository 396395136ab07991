//! Sans-IO handshake state machines and the sealed record layer.
//!
//! ```text
//! phone                                   device
//!   Hello{versions, job_id, grant}   ──▶   verify grant (sig, serial, job, revoked, time)
//!                                    ◀──   Challenge{version, serial, nonce, device_eph}
//!   sign(transcript) with phone key
//!   Finish{phone_eph, signature}     ──▶   verify proof of possession, derive keys
//!                                    ◀──   sealed SessionReady{permissions, not_after}
//! ```

use std::collections::HashSet;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use ed25519_dalek::{Signature, Signer, VerifyingKey};
use hkdf::Hkdf;
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use x25519_dalek::{EphemeralSecret, PublicKey as X25519Public};
use zeroize::Zeroizing;

use super::{AccessGrant, PhoneKey, SecurityError};
use crate::codec::Reader;
use crate::message::{Challenge, Finish, Hello, Message, SessionReady, PROTOCOL_VERSION};
use crate::Permissions;

/// First byte of a sealed record (plaintext messages never use it).
pub const SEALED_RECORD_TYPE: u8 = 0x80;
/// Bytes a sealed record adds to its plaintext: type (1) + counter (8) + tag (16).
pub const RECORD_OVERHEAD: usize = 1 + 8 + 16;

const TRANSCRIPT_LABEL: &[u8] = b"CloudBoxx-Handshake-v1";
const POP_LABEL: &[u8] = b"CloudBoxx-PoP-v1";
const INFO_PHONE_TO_DEVICE: &[u8] = b"CloudBoxx-v1 phone->device";
const INFO_DEVICE_TO_PHONE: &[u8] = b"CloudBoxx-v1 device->phone";
const DIR_PHONE_TO_DEVICE: [u8; 4] = *b"P2D\0";
const DIR_DEVICE_TO_PHONE: [u8; 4] = *b"D2P\0";

/// Where the device looks up revoked grant ids.
pub trait RevocationList {
    /// Whether the grant id is revoked.
    fn is_revoked(&self, grant_id: &[u8; 16]) -> bool;
}

impl RevocationList for HashSet<[u8; 16]> {
    fn is_revoked(&self, grant_id: &[u8; 16]) -> bool {
        self.contains(grant_id)
    }
}

impl RevocationList for [[u8; 16]] {
    fn is_revoked(&self, grant_id: &[u8; 16]) -> bool {
        self.contains(grant_id)
    }
}

impl RevocationList for Vec<[u8; 16]> {
    fn is_revoked(&self, grant_id: &[u8; 16]) -> bool {
        self.contains(grant_id)
    }
}

/// What a device is provisioned with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceIdentity {
    /// The device's serial.
    pub serial: String,
    /// The fleet's Ed25519 public key grants are verified with.
    pub fleet_public_key: VerifyingKey,
}

fn transcript_hash(hello: &[u8], challenge: &[u8], phone_ephemeral: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(TRANSCRIPT_LABEL);
    h.update((hello.len() as u32).to_le_bytes());
    h.update(hello);
    h.update((challenge.len() as u32).to_le_bytes());
    h.update(challenge);
    h.update(phone_ephemeral);
    h.finalize().into()
}

fn pop_message(th: &[u8; 32]) -> Vec<u8> {
    [POP_LABEL, th.as_slice()].concat()
}

fn derive_keys(shared: &[u8; 32], th: &[u8; 32]) -> Result<([u8; 32], [u8; 32]), SecurityError> {
    let hk = Hkdf::<Sha256>::new(Some(th), shared);
    let mut p2d = [0u8; 32];
    let mut d2p = [0u8; 32];
    hk.expand(INFO_PHONE_TO_DEVICE, &mut p2d)
        .map_err(|_| SecurityError::BadKey("hkdf"))?;
    hk.expand(INFO_DEVICE_TO_PHONE, &mut d2p)
        .map_err(|_| SecurityError::BadKey("hkdf"))?;
    Ok((p2d, d2p))
}

/// ChaCha20-Poly1305 record layer for one established session.
///
/// Record: `0x80 | counter u64 LE | ciphertext | tag[16]`; nonce = direction
/// (4 bytes) || counter (8 bytes LE); AAD = the 9-byte header. The receiver
/// accepts only the next counter: lower is a replay, higher a reordering.
pub struct SessionCipher {
    send: ChaCha20Poly1305,
    recv: ChaCha20Poly1305,
    send_dir: [u8; 4],
    recv_dir: [u8; 4],
    send_counter: u64,
    recv_counter: u64,
}

impl std::fmt::Debug for SessionCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCipher")
            .field("send_counter", &self.send_counter)
            .field("recv_counter", &self.recv_counter)
            .finish_non_exhaustive()
    }
}

impl SessionCipher {
    fn new(send_key: &[u8; 32], recv_key: &[u8; 32], phone: bool) -> Self {
        let (send_dir, recv_dir) = if phone {
            (DIR_PHONE_TO_DEVICE, DIR_DEVICE_TO_PHONE)
        } else {
            (DIR_DEVICE_TO_PHONE, DIR_PHONE_TO_DEVICE)
        };
        Self {
            send: ChaCha20Poly1305::new(Key::from_slice(send_key)),
            recv: ChaCha20Poly1305::new(Key::from_slice(recv_key)),
            send_dir,
            recv_dir,
            send_counter: 0,
            recv_counter: 0,
        }
    }

    fn nonce(dir: [u8; 4], counter: u64) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[..4].copy_from_slice(&dir);
        n[4..].copy_from_slice(&counter.to_le_bytes());
        n
    }

    /// Seal a plaintext message into a record.
    pub fn seal(&mut self, plaintext: &[u8]) -> Vec<u8> {
        let counter = self.send_counter;
        self.send_counter += 1;
        let mut header = [0u8; 9];
        header[0] = SEALED_RECORD_TYPE;
        header[1..].copy_from_slice(&counter.to_le_bytes());
        let nonce = Self::nonce(self.send_dir, counter);
        // Encryption with a valid key and in-memory buffer cannot fail.
        let ct = self
            .send
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &header,
                },
            )
            .unwrap_or_default();
        [header.as_slice(), &ct].concat()
    }

    /// Open a record; refuses tampering, replays and reordering. State only
    /// advances on success.
    pub fn open(&mut self, record: &[u8]) -> Result<Vec<u8>, SecurityError> {
        let mut r = Reader::new(record);
        let ty = r.u8("record type")?;
        if ty != SEALED_RECORD_TYPE {
            return Err(SecurityError::Unexpected("plaintext after handshake"));
        }
        let counter = r.u64("record counter")?;
        let ct = r.rest();
        let nonce = Self::nonce(self.recv_dir, counter);
        let pt = self
            .recv
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: ct,
                    aad: &record[..9],
                },
            )
            .map_err(|_| SecurityError::BadRecord)?;
        if counter < self.recv_counter {
            return Err(SecurityError::Replay {
                got: counter,
                expected: self.recv_counter,
            });
        }
        if counter > self.recv_counter {
            return Err(SecurityError::Reordered {
                got: counter,
                expected: self.recv_counter,
            });
        }
        self.recv_counter += 1;
        Ok(pt)
    }

    /// Seal an encoded [`Message`].
    pub fn seal_message(&mut self, msg: &Message) -> Vec<u8> {
        self.seal(&msg.encode())
    }

    /// Open a record and decode the message inside.
    pub fn open_message(&mut self, record: &[u8]) -> Result<Message, SecurityError> {
        Ok(Message::decode(&self.open(record)?)?)
    }

    /// Next counter this side will send.
    pub fn send_counter(&self) -> u64 {
        self.send_counter
    }
}

/// Phone side of the handshake.
pub struct PhoneHandshake {
    hello_bytes: Vec<u8>,
    phone_key: PhoneKey,
    device_serial: String,
}

impl std::fmt::Debug for PhoneHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoneHandshake")
            .field("device_serial", &self.device_serial)
            .finish_non_exhaustive()
    }
}

impl PhoneHandshake {
    /// Start: returns the state and the plaintext Hello to send. Fails early if
    /// the grant does not name this phone's key or the job.
    pub fn start(
        grant: &AccessGrant,
        job_id: &str,
        phone_key: &PhoneKey,
    ) -> Result<(Self, Message), SecurityError> {
        if grant.fields.phone_public_key != phone_key.public_key() {
            return Err(SecurityError::BadProof);
        }
        if grant.fields.job_id != job_id {
            return Err(SecurityError::WrongJob {
                grant: grant.fields.job_id.clone(),
                requested: job_id.to_owned(),
            });
        }
        let hello = Message::Hello(Hello {
            min_version: PROTOCOL_VERSION,
            max_version: PROTOCOL_VERSION,
            job_id: job_id.to_owned(),
            grant: grant.encode(),
        });
        Ok((
            Self {
                hello_bytes: hello.encode(),
                phone_key: phone_key.clone(),
                device_serial: grant.fields.device_serial.clone(),
            },
            hello,
        ))
    }

    /// Handle the device's Challenge: returns the Finish to send and the
    /// session cipher (pending the device's sealed SessionReady).
    pub fn on_challenge(
        self,
        challenge: &Challenge,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(Message, SessionCipher), SecurityError> {
        if challenge.version != PROTOCOL_VERSION {
            return Err(SecurityError::UnsupportedVersion {
                min: PROTOCOL_VERSION,
                max: PROTOCOL_VERSION,
            });
        }
        if challenge.serial != self.device_serial {
            return Err(SecurityError::WrongDevice {
                grant: self.device_serial,
                device: challenge.serial.clone(),
            });
        }
        let challenge_bytes = Message::Challenge(challenge.clone()).encode();
        let secret = EphemeralSecret::random_from_rng(&mut *rng);
        let phone_ephemeral = X25519Public::from(&secret).to_bytes();
        let th = transcript_hash(&self.hello_bytes, &challenge_bytes, &phone_ephemeral);
        let signature = self
            .phone_key
            .signing_key()
            .sign(&pop_message(&th))
            .to_bytes();
        let shared = secret.diffie_hellman(&X25519Public::from(challenge.device_ephemeral));
        if !shared.was_contributory() {
            return Err(SecurityError::BadKey("non-contributory key exchange"));
        }
        let (p2d, d2p) = derive_keys(shared.as_bytes(), &th)?;
        let (p2d, d2p) = (Zeroizing::new(p2d), Zeroizing::new(d2p));
        Ok((
            Message::Finish(Finish {
                phone_ephemeral,
                signature,
            }),
            SessionCipher::new(&p2d, &d2p, true),
        ))
    }

    /// Check the device's first sealed record (SessionReady).
    pub fn on_ready(
        cipher: &mut SessionCipher,
        record: &[u8],
    ) -> Result<SessionReady, SecurityError> {
        match cipher.open_message(record)? {
            Message::SessionReady(r) => Ok(r),
            Message::Error(e) => Err(SecurityError::Refused(e.code)),
            _ => Err(SecurityError::Unexpected("expected SessionReady")),
        }
    }
}

/// An authenticated session on the device.
#[derive(Debug)]
pub struct Established {
    /// The verified grant.
    pub grant: AccessGrant,
    /// Record layer.
    pub cipher: SessionCipher,
}

impl Established {
    /// Check a permission and the grant's time window for one operation.
    pub fn authorize(&self, needed: Permissions, now: u64) -> Result<(), SecurityError> {
        self.grant.check_time(now)?;
        if !self.grant.fields.permissions.contains(needed) {
            return Err(SecurityError::MissingPermission {
                needed,
                granted: self.grant.fields.permissions,
            });
        }
        Ok(())
    }

    /// Check an operation's job id against the grant.
    pub fn check_job(&self, job_id: &str) -> Result<(), SecurityError> {
        if self.grant.fields.job_id != job_id {
            return Err(SecurityError::WrongJob {
                grant: self.grant.fields.job_id.clone(),
                requested: job_id.to_owned(),
            });
        }
        Ok(())
    }
}

enum DeviceState {
    AwaitHello,
    AwaitFinish {
        grant: Box<AccessGrant>,
        hello_bytes: Vec<u8>,
        challenge_bytes: Vec<u8>,
        secret: EphemeralSecret,
    },
    Done,
}

/// Device side of the handshake.
pub struct DeviceHandshake {
    identity: DeviceIdentity,
    state: DeviceState,
}

impl std::fmt::Debug for DeviceHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceHandshake")
            .field("serial", &self.identity.serial)
            .finish_non_exhaustive()
    }
}

impl DeviceHandshake {
    /// New handshake for a fresh connection.
    pub fn new(identity: DeviceIdentity) -> Self {
        Self {
            identity,
            state: DeviceState::AwaitHello,
        }
    }

    /// The device's serial.
    pub fn serial(&self) -> &str {
        &self.identity.serial
    }

    /// The fleet key the device verifies grants and revocation lists with.
    pub fn fleet_public_key(&self) -> VerifyingKey {
        self.identity.fleet_public_key
    }

    /// Verify the Hello and its grant; returns the Challenge to send.
    ///
    /// Checks, in order: version, grant encoding, fleet signature, device serial,
    /// job id, revocation, not_before, not_after.
    pub fn on_hello(
        &mut self,
        hello: &Hello,
        now: u64,
        revoked: &(impl RevocationList + ?Sized),
        rng: &mut impl CryptoRngCore,
    ) -> Result<Challenge, SecurityError> {
        if !matches!(self.state, DeviceState::AwaitHello) {
            return Err(SecurityError::Unexpected("Hello after Hello"));
        }
        self.state = DeviceState::Done;
        if hello.min_version > PROTOCOL_VERSION || hello.max_version < PROTOCOL_VERSION {
            return Err(SecurityError::UnsupportedVersion {
                min: hello.min_version,
                max: hello.max_version,
            });
        }
        let grant = AccessGrant::decode(&hello.grant)?;
        grant.verify(&self.identity.fleet_public_key)?;
        if grant.fields.device_serial != self.identity.serial {
            return Err(SecurityError::WrongDevice {
                grant: grant.fields.device_serial.clone(),
                device: self.identity.serial.clone(),
            });
        }
        if grant.fields.job_id != hello.job_id {
            return Err(SecurityError::WrongJob {
                grant: grant.fields.job_id.clone(),
                requested: hello.job_id.clone(),
            });
        }
        if revoked.is_revoked(&grant.fields.grant_id) {
            return Err(SecurityError::Revoked);
        }
        grant.check_time(now)?;
        let mut nonce = [0u8; 32];
        rng.fill_bytes(&mut nonce);
        let secret = EphemeralSecret::random_from_rng(&mut *rng);
        let challenge = Challenge {
            version: PROTOCOL_VERSION,
            serial: self.identity.serial.clone(),
            nonce,
            device_ephemeral: X25519Public::from(&secret).to_bytes(),
        };
        self.state = DeviceState::AwaitFinish {
            grant: Box::new(grant),
            hello_bytes: Message::Hello(hello.clone()).encode(),
            challenge_bytes: Message::Challenge(challenge.clone()).encode(),
            secret,
        };
        Ok(challenge)
    }

    /// Verify the phone's proof of possession and derive the session. Returns the
    /// established session and the sealed SessionReady record to send.
    pub fn on_finish(&mut self, finish: &Finish) -> Result<(Established, Vec<u8>), SecurityError> {
        let DeviceState::AwaitFinish {
            grant,
            hello_bytes,
            challenge_bytes,
            secret,
        } = std::mem::replace(&mut self.state, DeviceState::Done)
        else {
            return Err(SecurityError::Unexpected("Finish before Hello"));
        };
        let th = transcript_hash(&hello_bytes, &challenge_bytes, &finish.phone_ephemeral);
        let phone_key = VerifyingKey::from_bytes(&grant.fields.phone_public_key)
            .map_err(|_| SecurityError::BadProof)?;
        phone_key
            .verify_strict(&pop_message(&th), &Signature::from_bytes(&finish.signature))
            .map_err(|_| SecurityError::BadProof)?;
        let shared = secret.diffie_hellman(&X25519Public::from(finish.phone_ephemeral));
        if !shared.was_contributory() {
            return Err(SecurityError::BadKey("non-contributory key exchange"));
        }
        let (p2d, d2p) = derive_keys(shared.as_bytes(), &th)?;
        let (p2d, d2p) = (Zeroizing::new(p2d), Zeroizing::new(d2p));
        let mut cipher = SessionCipher::new(&d2p, &p2d, false);
        let ready = cipher.seal_message(&Message::SessionReady(SessionReady {
            permissions: grant.fields.permissions.bits(),
            not_after: grant.fields.not_after,
        }));
        Ok((
            Established {
                grant: *grant,
                cipher,
            },
            ready,
        ))
    }
}

impl SessionCipher {
    /// A cipher with fixed all-zero keys, only for fuzzing the record decoder.
    #[doc(hidden)]
    pub fn for_fuzzing() -> Self {
        Self::new(&[0u8; 32], &[0u8; 32], true)
    }
}
