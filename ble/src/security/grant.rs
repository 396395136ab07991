//! The access grant the cloud signs and the device verifies.

use ed25519_dalek::{SigningKey, VerifyingKey};

use super::signed::{self, SignedBody};
use super::SecurityError;
use crate::codec::{DecodeError, Reader, Writer};

/// Domain-separation prefix of the signed grant bytes.
pub const GRANT_SIGNATURE_CONTEXT: &[u8] = b"CloudBoxx-Grant-v1";
const GRANT_VERSION: u8 = 1;

/// Permission bits of a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Permissions(u8);

impl Permissions {
    /// No permission.
    pub const NONE: Permissions = Permissions(0);
    /// Write configuration, bind the vehicle, read configuration back.
    pub const CONFIGURE: Permissions = Permissions(0x01);
    /// Run read-only vehicle tests.
    pub const TEST: Permissions = Permissions(0x02);
    /// Actuate the vehicle (lock, unlock, immobilizer).
    pub const COMMANDS: Permissions = Permissions(0x04);
    /// Every defined bit.
    pub const ALL: Permissions = Permissions(0x07);

    /// From wire bits; `None` if undefined bits are set.
    pub fn from_bits(bits: u8) -> Option<Self> {
        (bits & !Self::ALL.0 == 0).then_some(Permissions(bits))
    }

    /// Wire bits.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: Permissions) -> bool {
        self.0 & other.0 == other.0
    }

    /// Union.
    pub fn union(self, other: Permissions) -> Permissions {
        Permissions(self.0 | other.0)
    }
}

impl std::ops::BitOr for Permissions {
    type Output = Permissions;
    fn bitor(self, rhs: Self) -> Self {
        self.union(rhs)
    }
}

/// The signed content of a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantFields {
    /// Unique grant id (e.g. UUID bytes); what revocation lists hold.
    pub grant_id: [u8; 16],
    /// Serial of the one device the grant opens.
    pub device_serial: String,
    /// VIN of the vehicle.
    pub vin: String,
    /// Job id.
    pub job_id: String,
    /// Technician id.
    pub technician_id: String,
    /// The phone's Ed25519 public key.
    pub phone_public_key: [u8; 32],
    /// What the phone may do.
    pub permissions: Permissions,
    /// Valid from (unix seconds, inclusive).
    pub not_before: u64,
    /// Valid until (unix seconds, inclusive).
    pub not_after: u64,
}

impl GrantFields {
    /// Canonical encoding of the signed body (without context prefix).
    pub fn encode_body(&self) -> Result<Vec<u8>, SecurityError> {
        for (name, s) in [
            ("device_serial", &self.device_serial),
            ("vin", &self.vin),
            ("job_id", &self.job_id),
            ("technician_id", &self.technician_id),
        ] {
            if s.len() > 255 {
                return Err(SecurityError::Malformed(DecodeError::InvalidValue {
                    field: name,
                    value: s.len() as u64,
                }));
            }
        }
        let mut w = Writer::new();
        w.u8(GRANT_VERSION)
            .bytes(&self.grant_id)
            .str8(&self.device_serial)
            .str8(&self.vin)
            .str8(&self.job_id)
            .str8(&self.technician_id)
            .bytes(&self.phone_public_key)
            .u8(self.permissions.bits())
            .u64(self.not_before)
            .u64(self.not_after);
        Ok(w.into_vec())
    }
}

/// A grant and the fleet key's signature over it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGrant {
    /// Signed content.
    pub fields: GrantFields,
    /// Ed25519 signature over `"CloudBoxx-Grant-v1" || body`.
    pub signature: [u8; 64],
}

impl SignedBody for GrantFields {
    const CONTEXT: &'static [u8] = GRANT_SIGNATURE_CONTEXT;

    fn signed_body(&self) -> Result<Vec<u8>, SecurityError> {
        self.encode_body()
    }
}

impl AccessGrant {
    /// Sign `fields` with the fleet key (used by the cloud).
    pub fn sign(fields: GrantFields, fleet_key: &SigningKey) -> Result<Self, SecurityError> {
        let signature = signed::sign(&fields, fleet_key)?;
        Ok(Self { fields, signature })
    }

    /// Verify the signature with the fleet public key (strict Ed25519).
    pub fn verify(&self, fleet_public_key: &VerifyingKey) -> Result<(), SecurityError> {
        signed::verify(&self.fields, &self.signature, fleet_public_key)
    }

    /// Check the validity window against `now` (unix seconds).
    pub fn check_time(&self, now: u64) -> Result<(), SecurityError> {
        if now < self.fields.not_before {
            return Err(SecurityError::NotYetValid {
                not_before: self.fields.not_before,
                now,
            });
        }
        if now > self.fields.not_after {
            return Err(SecurityError::Expired {
                not_after: self.fields.not_after,
                now,
            });
        }
        Ok(())
    }

    /// Encoded grant: body followed by the 64-byte signature.
    pub fn encode(&self) -> Vec<u8> {
        signed::encode(&self.fields, &self.signature)
    }

    /// Decode an encoded grant (does not verify the signature).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u8("grant version")?;
        if version != GRANT_VERSION {
            return Err(DecodeError::InvalidValue {
                field: "grant version",
                value: u64::from(version),
            });
        }
        let grant_id = r.array("grant_id")?;
        let device_serial = r.str8("device_serial")?;
        let vin = r.str8("vin")?;
        let job_id = r.str8("job_id")?;
        let technician_id = r.str8("technician_id")?;
        let phone_public_key = r.array("phone_public_key")?;
        let bits = r.u8("permissions")?;
        let permissions = Permissions::from_bits(bits).ok_or(DecodeError::InvalidValue {
            field: "permissions",
            value: u64::from(bits),
        })?;
        let not_before = r.u64("not_before")?;
        let not_after = r.u64("not_after")?;
        let signature = r.array("signature")?;
        r.finish()?;
        Ok(Self {
            fields: GrantFields {
                grant_id,
                device_serial,
                vin,
                job_id,
                technician_id,
                phone_public_key,
                permissions,
                not_before,
                not_after,
            },
            signature,
        })
    }

    /// Lower-case hex of [`AccessGrant::encode`] (for JSON transport).
    pub fn to_hex(&self) -> String {
        super::to_hex(&self.encode())
    }

    /// Parse [`AccessGrant::to_hex`] output.
    pub fn from_hex(s: &str) -> Result<Self, DecodeError> {
        Self::decode(&super::from_hex(s)?)
    }
}
