//! Fleet keys for simulations: the deterministic demo fleet key and hex parsing
//! of provisioned fleet public keys.
//!
//! A real CloudBoxx is provisioned with its fleet's Ed25519 *public* key; the
//! cloud keeps the signing half. The simulated device is configured the same
//! way: with a public key (64 hex digits, e.g. from sim-cloud's
//! `SimAdmin::fleet_public_key_hex`). The demo key below exists so QA scenarios
//! and tests can say "use the demo fleet key" without any cloud; sim-cloud keeps
//! its own per-fleet keys and never depends on this crate.

use smartcontrol_ble::security::{SigningKey, VerifyingKey};
use thiserror::Error;

/// Seed of the demo fleet signing key (public, for demos and tests only).
pub const DEMO_FLEET_SEED: [u8; 32] = *b"smartcontrol-demo-fleet-seed-v1!";

/// Invalid fleet public key text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    /// Not 64 hex digits.
    #[error("fleet public key must be 64 hex digits, got {0} characters")]
    Length(usize),
    /// A character that is not a hex digit.
    #[error("fleet public key is not hex: {0:?}")]
    NotHex(char),
    /// The 32 bytes are not a valid Ed25519 point.
    #[error("fleet public key is not a valid Ed25519 public key")]
    InvalidPoint,
}

/// The demo fleet's signing key (what a demo "cloud" signs grants with).
pub fn demo_fleet_signing_key() -> SigningKey {
    SigningKey::from_bytes(&DEMO_FLEET_SEED)
}

/// The demo fleet's public key (what demo devices are provisioned with).
pub fn demo_fleet_public_key() -> VerifyingKey {
    demo_fleet_signing_key().verifying_key()
}

/// Lower-case hex of a public key.
pub fn public_key_hex(key: &VerifyingKey) -> String {
    key.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Parse 32 bytes of hex (64 digits, case-insensitive).
pub fn parse_hex32(text: &str) -> Result<[u8; 32], KeyError> {
    let text = text.trim();
    if text.len() != 64 {
        return Err(KeyError::Length(text.chars().count()));
    }
    let mut out = [0u8; 32];
    let digits: Vec<u8> = text
        .chars()
        .map(|c| c.to_digit(16).map(|d| d as u8).ok_or(KeyError::NotHex(c)))
        .collect::<Result<_, _>>()?;
    for (i, pair) in digits.chunks(2).enumerate() {
        out[i] = (pair[0] << 4) | pair[1];
    }
    Ok(out)
}

/// Parse a fleet public key from 64 hex digits.
pub fn parse_fleet_public_key(text: &str) -> Result<VerifyingKey, KeyError> {
    let bytes = parse_hex32(text)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::InvalidPoint)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn demo_key_round_trips_through_hex() {
        let hex = public_key_hex(&demo_fleet_public_key());
        assert_eq!(hex.len(), 64);
        assert_eq!(
            parse_fleet_public_key(&hex).unwrap(),
            demo_fleet_public_key()
        );
        assert_eq!(
            parse_fleet_public_key(&hex.to_uppercase()).unwrap(),
            demo_fleet_public_key()
        );
    }

    #[test]
    fn bad_hex_is_typed() {
        assert_eq!(parse_hex32("abc"), Err(KeyError::Length(3)));
        let bad = "g".repeat(64);
        assert_eq!(parse_hex32(&bad), Err(KeyError::NotHex('g')));
    }
}
