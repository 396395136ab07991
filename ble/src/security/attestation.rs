//! Device attestations: what a CloudBoxx signs with its own key so that the
//! provider can trust a job's results without trusting the phone.
//!
//! At the end of a session the phone sends `AttestRequest{job_id}`; the
//! device answers with an [`Attestation`] of its state (binding, the
//! vehicle's own VIN and model, the active configuration) and of what this
//! session did (a configuration read-back, every vehicle test result), with a
//! device-wide counter that never repeats. The phone carries it offline with
//! the job's completion; the cloud verifies it with the device's public key
//! (registered with the fleet) before it accepts SUCCEEDED.

use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::signed::{self, SignedBody};
use super::SecurityError;
use crate::codec::{DecodeError, Reader, Writer};
use crate::message::{HintCode, Unit, VehicleTestId, VehicleTestResult};

/// Domain-separation prefix of the signed attestation bytes.
pub const ATTESTATION_SIGNATURE_CONTEXT: &[u8] = b"CloudBoxx-Attestation-v1";
const ATTESTATION_VERSION: u8 = 1;
/// Most test results one attestation carries.
pub const MAX_ATTESTED_TESTS: usize = 64;
const FLAG_READ_BACK: u8 = 0x01;

/// The signed content of an attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationFields {
    /// The attesting device.
    pub device_serial: String,
    /// The job of the session's grant.
    pub job_id: String,
    /// The session's grant.
    pub grant_id: [u8; 16],
    /// Device-wide attestation counter: every attestation gets the next one.
    pub counter: u64,
    /// Device time when signed (unix seconds).
    pub device_time: u64,
    /// VIN the vehicle reports on its bus (empty: it reports none).
    pub vehicle_vin: String,
    /// Model code the vehicle reports (empty: none).
    pub vehicle_model: String,
    /// VIN the device is bound to (empty: unbound).
    pub bound_vin: String,
    /// Id of the active configuration (empty: none).
    pub config_id: String,
    /// SHA-256 of the active configuration (`None` exactly when there is none).
    pub config_sha256: Option<[u8; 32]>,
    /// SHA-256 of the configuration this session read back, if it did.
    pub read_back_sha256: Option<[u8; 32]>,
    /// Every vehicle test result of this session, in order.
    pub tests: Vec<VehicleTestResult>,
}

impl AttestationFields {
    fn encode_body(&self) -> Result<Vec<u8>, SecurityError> {
        for (field, s) in [
            ("device_serial", &self.device_serial),
            ("job_id", &self.job_id),
            ("vehicle_vin", &self.vehicle_vin),
            ("vehicle_model", &self.vehicle_model),
            ("bound_vin", &self.bound_vin),
            ("config_id", &self.config_id),
        ] {
            if s.len() > 255 {
                return Err(SecurityError::Malformed(DecodeError::InvalidValue {
                    field,
                    value: s.len() as u64,
                }));
            }
        }
        if self.tests.len() > MAX_ATTESTED_TESTS {
            return Err(SecurityError::Malformed(DecodeError::InvalidValue {
                field: "tests",
                value: self.tests.len() as u64,
            }));
        }
        if self.config_id.is_empty() != self.config_sha256.is_none() {
            return Err(SecurityError::Malformed(DecodeError::InvalidValue {
                field: "config_sha256",
                value: 0,
            }));
        }
        let mut w = Writer::new();
        w.u8(ATTESTATION_VERSION)
            .str8(&self.device_serial)
            .str8(&self.job_id)
            .bytes(&self.grant_id)
            .u64(self.counter)
            .u64(self.device_time)
            .str8(&self.vehicle_vin)
            .str8(&self.vehicle_model)
            .str8(&self.bound_vin)
            .str8(&self.config_id)
            .bytes(&self.config_sha256.unwrap_or([0; 32]))
            .u8(if self.read_back_sha256.is_some() {
                FLAG_READ_BACK
            } else {
                0
            })
            .bytes(&self.read_back_sha256.unwrap_or([0; 32]))
            .u8(self.tests.len() as u8);
        for t in &self.tests {
            w.u8(t.test as u8)
                .bool(t.passed)
                .u8(t.unit as u8)
                .i64(t.value)
                .u16(t.hint.to_u16());
        }
        Ok(w.into_vec())
    }

    /// The latest result of `test` in this session, if it ran.
    pub fn result_of(&self, test: VehicleTestId) -> Option<&VehicleTestResult> {
        self.tests.iter().rev().find(|t| t.test == test)
    }
}

/// An attestation and the device key's signature over it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestation {
    /// Signed content.
    pub fields: AttestationFields,
    /// Ed25519 signature over `"CloudBoxx-Attestation-v1" || body`.
    pub signature: [u8; 64],
}

impl SignedBody for AttestationFields {
    const CONTEXT: &'static [u8] = ATTESTATION_SIGNATURE_CONTEXT;

    fn signed_body(&self) -> Result<Vec<u8>, SecurityError> {
        self.encode_body()
    }
}

impl Attestation {
    /// Sign `fields` with the device key (device firmware).
    pub fn sign(fields: AttestationFields, device_key: &SigningKey) -> Result<Self, SecurityError> {
        let signature = signed::sign(&fields, device_key)?;
        Ok(Self { fields, signature })
    }

    /// Verify with the device's registered public key (strict Ed25519).
    pub fn verify(&self, device_public_key: &VerifyingKey) -> Result<(), SecurityError> {
        signed::verify(&self.fields, &self.signature, device_public_key)
    }

    /// Encoded attestation: body followed by the 64-byte signature.
    pub fn encode(&self) -> Vec<u8> {
        signed::encode(&self.fields, &self.signature)
    }

    /// Decode (does not verify the signature). Canonical: a decoded
    /// attestation re-encodes to the same bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u8("attestation version")?;
        if version != ATTESTATION_VERSION {
            return Err(DecodeError::InvalidValue {
                field: "attestation version",
                value: u64::from(version),
            });
        }
        let device_serial = r.str8("device_serial")?;
        let job_id = r.str8("job_id")?;
        let grant_id = r.array("grant_id")?;
        let counter = r.u64("counter")?;
        let device_time = r.u64("device_time")?;
        let vehicle_vin = r.str8("vehicle_vin")?;
        let vehicle_model = r.str8("vehicle_model")?;
        let bound_vin = r.str8("bound_vin")?;
        let config_id = r.str8("config_id")?;
        let config_sha: [u8; 32] = r.array("config_sha256")?;
        let config_sha256 = if config_id.is_empty() {
            if config_sha != [0; 32] {
                return Err(DecodeError::InvalidValue {
                    field: "config_sha256",
                    value: 1,
                });
            }
            None
        } else {
            Some(config_sha)
        };
        let flags = r.u8("flags")?;
        if flags & !FLAG_READ_BACK != 0 {
            return Err(DecodeError::InvalidValue {
                field: "flags",
                value: u64::from(flags),
            });
        }
        let read_back: [u8; 32] = r.array("read_back_sha256")?;
        let read_back_sha256 = if flags & FLAG_READ_BACK != 0 {
            Some(read_back)
        } else if read_back != [0; 32] {
            return Err(DecodeError::InvalidValue {
                field: "read_back_sha256",
                value: 1,
            });
        } else {
            None
        };
        let n = usize::from(r.u8("tests")?);
        if n > MAX_ATTESTED_TESTS {
            return Err(DecodeError::InvalidValue {
                field: "tests",
                value: n as u64,
            });
        }
        let mut tests = Vec::with_capacity(n);
        for _ in 0..n {
            let raw = r.u8("test")?;
            let test = VehicleTestId::from_u8(raw).ok_or(DecodeError::InvalidValue {
                field: "test",
                value: u64::from(raw),
            })?;
            let passed = r.bool("passed")?;
            let unit_raw = r.u8("unit")?;
            let unit = Unit::from_u8(unit_raw).ok_or(DecodeError::InvalidValue {
                field: "unit",
                value: u64::from(unit_raw),
            })?;
            let value = r.i64("value")?;
            let hint = HintCode::from_u16(r.u16("hint")?);
            tests.push(VehicleTestResult {
                test,
                passed,
                unit,
                value,
                hint,
            });
        }
        let signature = r.array("signature")?;
        r.finish()?;
        Ok(Self {
            fields: AttestationFields {
                device_serial,
                job_id,
                grant_id,
                counter,
                device_time,
                vehicle_vin,
                vehicle_model,
                bound_vin,
                config_id,
                config_sha256,
                read_back_sha256,
                tests,
            },
            signature,
        })
    }

    /// Lower-case hex of [`Attestation::encode`] (JSON transport).
    pub fn to_hex(&self) -> String {
        crate::security::to_hex(&self.encode())
    }

    /// Parse [`Attestation::to_hex`] output.
    pub fn from_hex(s: &str) -> Result<Self, DecodeError> {
        Self::decode(&crate::security::from_hex(s)?)
    }
}

/// Domain-separation prefix of simulated device keys.
const SIMULATED_DEVICE_KEY_CONTEXT: &[u8] = b"CloudBoxx-sim-device-key-v1";

/// The key a **simulated** CloudBoxx signs with unless its scenario names
/// one: Ed25519 seed = SHA-256("CloudBoxx-sim-device-key-v1" ‖ serial). The
/// simulated cloud registers the same keys for its demo units, so the
/// simulators agree without talking. Never for real units: their key is
/// generated inside the device and only its public half is registered.
pub fn simulated_device_key(serial: &str) -> SigningKey {
    let seed: [u8; 32] = Sha256::new()
        .chain_update(SIMULATED_DEVICE_KEY_CONTEXT)
        .chain_update(serial.as_bytes())
        .finalize()
        .into();
    SigningKey::from_bytes(&seed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fields() -> AttestationFields {
        AttestationFields {
            device_serial: "CBX-1".into(),
            job_id: "job-1".into(),
            grant_id: [9; 16],
            counter: 7,
            device_time: 1_700_000_000,
            vehicle_vin: "WVWZZZ1JZXW000001".into(),
            vehicle_model: "vw-golf8".into(),
            bound_vin: "WVWZZZ1JZXW000001".into(),
            config_id: "preset-abc".into(),
            config_sha256: Some([1; 32]),
            read_back_sha256: Some([1; 32]),
            tests: vec![VehicleTestResult {
                test: VehicleTestId::Mileage,
                passed: true,
                unit: Unit::Kilometers,
                value: 48_213,
                hint: HintCode::None,
            }],
        }
    }

    #[test]
    fn signs_round_trips_and_detects_forgery() {
        let key = simulated_device_key("CBX-1");
        let a = Attestation::sign(fields(), &key).unwrap();
        let back = Attestation::from_hex(&a.to_hex()).unwrap();
        assert_eq!(back, a);
        back.verify(&key.verifying_key()).unwrap();
        let mut forged = back.clone();
        forged.fields.tests[0].passed = false;
        assert_eq!(
            forged.verify(&key.verifying_key()),
            Err(SecurityError::BadSignature)
        );
        let other = simulated_device_key("CBX-2");
        assert_eq!(
            a.verify(&other.verifying_key()),
            Err(SecurityError::BadSignature)
        );
    }

    #[test]
    fn encoding_is_canonical() {
        let key = simulated_device_key("CBX-1");
        let mut f = fields();
        f.config_id.clear();
        f.config_sha256 = None;
        f.read_back_sha256 = None;
        let a = Attestation::sign(f, &key).unwrap();
        let bytes = a.encode();
        assert_eq!(Attestation::decode(&bytes).unwrap().encode(), bytes);
        // A hash without a configuration is not canonical.
        let mut bad = fields();
        bad.config_id.clear();
        assert!(Attestation::sign(bad, &key).is_err());
    }
}
