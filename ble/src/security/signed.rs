//! What the three signed documents of the protocol share: an access grant and
//! a revocation list (signed by the fleet key) and an attestation (signed by
//! the unit's own key) are each a canonical body followed by an Ed25519
//! signature over `CONTEXT || body`, the context separating the documents so
//! that no signature of one can pass for another.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use super::SecurityError;

/// The signed content of a document.
pub(crate) trait SignedBody {
    /// Domain-separation prefix of the signed message.
    const CONTEXT: &'static [u8];

    /// The canonical body; fails on content the encoding cannot carry.
    fn signed_body(&self) -> Result<Vec<u8>, SecurityError>;
}

fn message(context: &[u8], body: &[u8]) -> Vec<u8> {
    [context, body].concat()
}

/// Sign `fields` with `key`.
pub(crate) fn sign<B: SignedBody>(fields: &B, key: &SigningKey) -> Result<[u8; 64], SecurityError> {
    let body = fields.signed_body()?;
    Ok(key.sign(&message(B::CONTEXT, &body)).to_bytes())
}

/// Verify `signature` over `fields` with `key` (strict Ed25519).
pub(crate) fn verify<B: SignedBody>(
    fields: &B,
    signature: &[u8; 64],
    key: &VerifyingKey,
) -> Result<(), SecurityError> {
    let body = fields.signed_body()?;
    key.verify_strict(
        &message(B::CONTEXT, &body),
        &Signature::from_bytes(signature),
    )
    .map_err(|_| SecurityError::BadSignature)
}

/// The encoded document: body followed by the 64-byte signature. The fields
/// of a signed document always encode (signing validated them); otherwise the
/// body is left empty so that decoding fails cleanly.
pub(crate) fn encode<B: SignedBody>(fields: &B, signature: &[u8; 64]) -> Vec<u8> {
    let mut out = fields.signed_body().unwrap_or_default();
    out.extend_from_slice(signature);
    out
}
