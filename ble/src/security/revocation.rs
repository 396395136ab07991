//! Signed revocation lists: how a CloudBoxx learns that a grant it would
//! still accept (signature and time window valid) was withdrawn.
//!
//! The cloud signs, with the fleet key, the list of revoked grants of one
//! device that have not expired yet. The device receives it over its own
//! cellular link and from any phone that connects (plaintext
//! `RevocationUpdate` before the Hello: the list authenticates itself).
//! [`DeviceRevocations`] is what the device keeps: it accepts only a list
//! for its own serial, signed by its fleet, newer than the one it has, and
//! it never forgets a revocation before the grant's own expiry.

use ed25519_dalek::{SigningKey, VerifyingKey};

use super::signed::{self, SignedBody};
use super::{RevocationList, SecurityError};
use crate::codec::{DecodeError, Reader, Writer};

/// Domain-separation prefix of the signed list bytes.
pub const REVOCATION_SIGNATURE_CONTEXT: &[u8] = b"CloudBoxx-Revocations-v1";
const REVOCATION_LIST_VERSION: u8 = 1;
/// Most entries one list may carry (the cloud lists only revoked grants
/// that have not expired yet, a handful per device).
pub const MAX_REVOCATION_ENTRIES: usize = 512;

/// One revoked grant: its id and when it would have expired anyway (after
/// that the device may forget it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RevokedGrant {
    /// Grant id.
    pub grant_id: [u8; 16],
    /// The grant's own `not_after` (unix seconds).
    pub not_after: u64,
}

/// The signed content of a revocation list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationListFields {
    /// The one device the list is for.
    pub device_serial: String,
    /// Increases with every change of the device's revocations; a device
    /// ignores a list not newer than the one it applied.
    pub sequence: u64,
    /// When the cloud issued the list (unix seconds).
    pub issued_at: u64,
    /// Every revoked, not yet expired grant of the device.
    pub entries: Vec<RevokedGrant>,
}

impl RevocationListFields {
    fn encode_body(&self) -> Result<Vec<u8>, SecurityError> {
        if self.device_serial.len() > 255 {
            return Err(SecurityError::Malformed(DecodeError::InvalidValue {
                field: "device_serial",
                value: self.device_serial.len() as u64,
            }));
        }
        if self.entries.len() > MAX_REVOCATION_ENTRIES {
            return Err(SecurityError::Malformed(DecodeError::InvalidValue {
                field: "entries",
                value: self.entries.len() as u64,
            }));
        }
        let mut w = Writer::new();
        w.u8(REVOCATION_LIST_VERSION)
            .str8(&self.device_serial)
            .u64(self.sequence)
            .u64(self.issued_at)
            .u16(self.entries.len() as u16);
        for e in &self.entries {
            w.bytes(&e.grant_id).u64(e.not_after);
        }
        Ok(w.into_vec())
    }
}

/// A revocation list and the fleet key's signature over it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRevocationList {
    /// Signed content.
    pub fields: RevocationListFields,
    /// Ed25519 signature over `"CloudBoxx-Revocations-v1" || body`.
    pub signature: [u8; 64],
}

impl SignedBody for RevocationListFields {
    const CONTEXT: &'static [u8] = REVOCATION_SIGNATURE_CONTEXT;

    fn signed_body(&self) -> Result<Vec<u8>, SecurityError> {
        self.encode_body()
    }
}

impl SignedRevocationList {
    /// Sign `fields` with the fleet key (used by the cloud).
    pub fn sign(
        fields: RevocationListFields,
        fleet_key: &SigningKey,
    ) -> Result<Self, SecurityError> {
        let signature = signed::sign(&fields, fleet_key)?;
        Ok(Self { fields, signature })
    }

    /// Verify the signature with the fleet public key (strict Ed25519).
    pub fn verify(&self, fleet_public_key: &VerifyingKey) -> Result<(), SecurityError> {
        signed::verify(&self.fields, &self.signature, fleet_public_key)
    }

    /// Encoded list: body followed by the 64-byte signature.
    pub fn encode(&self) -> Vec<u8> {
        signed::encode(&self.fields, &self.signature)
    }

    /// Decode an encoded list (does not verify the signature).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u8("revocation list version")?;
        if version != REVOCATION_LIST_VERSION {
            return Err(DecodeError::InvalidValue {
                field: "revocation list version",
                value: u64::from(version),
            });
        }
        let device_serial = r.str8("device_serial")?;
        let sequence = r.u64("sequence")?;
        let issued_at = r.u64("issued_at")?;
        let n = usize::from(r.u16("entries")?);
        if n > MAX_REVOCATION_ENTRIES {
            return Err(DecodeError::InvalidValue {
                field: "entries",
                value: n as u64,
            });
        }
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            entries.push(RevokedGrant {
                grant_id: r.array("grant_id")?,
                not_after: r.u64("not_after")?,
            });
        }
        let signature = r.array("signature")?;
        r.finish()?;
        Ok(Self {
            fields: RevocationListFields {
                device_serial,
                sequence,
                issued_at,
                entries,
            },
            signature,
        })
    }

    /// Lower-case hex of [`SignedRevocationList::encode`] (JSON transport).
    pub fn to_hex(&self) -> String {
        crate::security::to_hex(&self.encode())
    }

    /// Parse [`SignedRevocationList::to_hex`] output.
    pub fn from_hex(s: &str) -> Result<Self, DecodeError> {
        Self::decode(&crate::security::from_hex(s)?)
    }
}

/// What applying a list did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationUpdateOutcome {
    /// The list was newer and is now in force.
    Applied,
    /// The device already had this list or a newer one; nothing changed.
    NotNewer,
}

/// The revocations a device keeps (in flash on a real unit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceRevocations {
    sequence: u64,
    entries: Vec<RevokedGrant>,
}

impl DeviceRevocations {
    /// No revocations, sequence 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Grant ids revoked at provisioning (kept until the device is reset).
    pub fn with_ids(ids: impl IntoIterator<Item = [u8; 16]>) -> Self {
        Self {
            sequence: 0,
            entries: ids
                .into_iter()
                .map(|grant_id| RevokedGrant {
                    grant_id,
                    not_after: u64::MAX,
                })
                .collect(),
        }
    }

    /// Sequence of the newest list applied (0: none).
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Revoked grants held now.
    pub fn entries(&self) -> &[RevokedGrant] {
        &self.entries
    }

    /// Adds one revoked grant id directly (provisioning, tests).
    pub fn revoke(&mut self, grant_id: [u8; 16], not_after: u64) {
        if !self.entries.iter().any(|e| e.grant_id == grant_id) {
            self.entries.push(RevokedGrant {
                grant_id,
                not_after,
            });
        }
    }

    /// Verifies `list` (fleet signature, this device's serial) and, when it
    /// is newer than the one applied, merges it in. Entries whose grant has
    /// expired by `now` are forgotten: an expired grant is refused anyway.
    pub fn apply(
        &mut self,
        list: &SignedRevocationList,
        serial: &str,
        fleet_public_key: &VerifyingKey,
        now: u64,
    ) -> Result<RevocationUpdateOutcome, SecurityError> {
        list.verify(fleet_public_key)?;
        if list.fields.device_serial != serial {
            return Err(SecurityError::WrongDevice {
                grant: list.fields.device_serial.clone(),
                device: serial.to_owned(),
            });
        }
        if list.fields.sequence <= self.sequence {
            return Ok(RevocationUpdateOutcome::NotNewer);
        }
        for e in &list.fields.entries {
            match self.entries.iter_mut().find(|x| x.grant_id == e.grant_id) {
                Some(x) => x.not_after = x.not_after.max(e.not_after),
                None => self.entries.push(*e),
            }
        }
        self.sequence = list.fields.sequence;
        self.prune(now);
        tracing::info!(
            sequence = self.sequence,
            entries = self.entries.len(),
            "revocation list applied"
        );
        Ok(RevocationUpdateOutcome::Applied)
    }

    /// Forgets revocations of grants that expired before `now`.
    pub fn prune(&mut self, now: u64) {
        self.entries.retain(|e| e.not_after >= now);
    }
}

/// What a [`DeviceRevocations`] holds, to keep a simulated unit's flash
/// between processes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RevocationsSnapshot {
    /// Sequence of the newest list applied.
    pub sequence: u64,
    /// Revoked grants: id and the end of the grant's validity (unix seconds).
    pub entries: Vec<([u8; 16], u64)>,
}

impl DeviceRevocations {
    /// Sequence and entries, for [`DeviceRevocations::from_snapshot`].
    pub fn snapshot(&self) -> RevocationsSnapshot {
        RevocationsSnapshot {
            sequence: self.sequence,
            entries: self
                .entries
                .iter()
                .map(|e| (e.grant_id, e.not_after))
                .collect(),
        }
    }

    /// The revocations a [`DeviceRevocations::snapshot`] was taken of.
    pub fn from_snapshot(snapshot: RevocationsSnapshot) -> Self {
        Self {
            sequence: snapshot.sequence,
            entries: snapshot
                .entries
                .into_iter()
                .map(|(grant_id, not_after)| RevokedGrant {
                    grant_id,
                    not_after,
                })
                .collect(),
        }
    }
}

impl RevocationList for DeviceRevocations {
    fn is_revoked(&self, grant_id: &[u8; 16]) -> bool {
        self.entries.iter().any(|e| &e.grant_id == grant_id)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn list(serial: &str, sequence: u64, ids: &[(u8, u64)]) -> SignedRevocationList {
        SignedRevocationList::sign(
            RevocationListFields {
                device_serial: serial.into(),
                sequence,
                issued_at: 1_700_000_000,
                entries: ids
                    .iter()
                    .map(|(b, n)| RevokedGrant {
                        grant_id: [*b; 16],
                        not_after: *n,
                    })
                    .collect(),
            },
            &key(),
        )
        .unwrap()
    }

    #[test]
    fn round_trips_and_verifies() {
        let l = list("CBX-1", 3, &[(1, 10), (2, 20)]);
        let back = SignedRevocationList::from_hex(&l.to_hex()).unwrap();
        assert_eq!(back, l);
        back.verify(&key().verifying_key()).unwrap();
        let mut forged = back.clone();
        forged.fields.entries.pop();
        assert_eq!(
            forged.verify(&key().verifying_key()),
            Err(SecurityError::BadSignature)
        );
    }

    #[test]
    fn only_newer_lists_for_this_device_apply_and_expired_entries_go() {
        let pk = key().verifying_key();
        let mut d = DeviceRevocations::new();
        assert_eq!(
            d.apply(&list("CBX-1", 2, &[(1, 100), (2, 50)]), "CBX-1", &pk, 60)
                .unwrap(),
            RevocationUpdateOutcome::Applied
        );
        // Grant 2 expired at 50 < now 60: forgotten.
        assert!(d.is_revoked(&[1; 16]) && !d.is_revoked(&[2; 16]));
        // An older list cannot roll the device back.
        assert_eq!(
            d.apply(&list("CBX-1", 1, &[]), "CBX-1", &pk, 60).unwrap(),
            RevocationUpdateOutcome::NotNewer
        );
        assert!(d.is_revoked(&[1; 16]));
        // A newer list without an entry does not forget an unexpired one.
        d.apply(&list("CBX-1", 5, &[(3, 100)]), "CBX-1", &pk, 60)
            .unwrap();
        assert!(d.is_revoked(&[1; 16]) && d.is_revoked(&[3; 16]));
        assert_eq!(d.sequence(), 5);
        assert!(matches!(
            d.apply(&list("CBX-2", 9, &[]), "CBX-1", &pk, 60),
            Err(SecurityError::WrongDevice { .. })
        ));
        let other = SigningKey::from_bytes(&[8u8; 32]).verifying_key();
        assert_eq!(
            d.apply(&list("CBX-1", 9, &[]), "CBX-1", &other, 60),
            Err(SecurityError::BadSignature)
        );
    }

    #[test]
    fn decode_rejects_oversized_lists() {
        let mut w = Writer::new();
        w.u8(1).str8("x").u64(1).u64(1).u16(600);
        assert!(SignedRevocationList::decode(w.as_slice()).is_err());
    }
}
