//! GATT layout and advertising data of a CloudBoxx.

use uuid::Uuid;

use crate::codec::{DecodeError, Reader, Writer};

/// The CloudBoxx GATT service (also the UUID advertised).
pub const SERVICE_UUID: Uuid = Uuid::from_u128(0x7c3e_0001_8a4f_4b1e_9c2d_3b5a_0c1d_0e10);
/// Phone → device frames: Write Without Response.
pub const WRITE_CHAR_UUID: Uuid = Uuid::from_u128(0x7c3e_0002_8a4f_4b1e_9c2d_3b5a_0c1d_0e10);
/// Device → phone frames: Notify (client enables via the CCCD).
pub const NOTIFY_CHAR_UUID: Uuid = Uuid::from_u128(0x7c3e_0003_8a4f_4b1e_9c2d_3b5a_0c1d_0e10);
/// Read-only identity: the same bytes as the advertised service data.
pub const IDENTITY_CHAR_UUID: Uuid = Uuid::from_u128(0x7c3e_0004_8a4f_4b1e_9c2d_3b5a_0c1d_0e10);

/// Advertising flag: the device has no bound vehicle (new installation).
pub const ADV_FLAG_UNBOUND: u8 = 0x01;
/// Advertising flag: a configuration transfer is staged (resume possible).
pub const ADV_FLAG_STAGED_CONFIG: u8 = 0x02;

/// Service data advertised under [`SERVICE_UUID`] (and readable from the
/// identity characteristic): `version u8 | flags u8 | serial str8`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvertData {
    /// Highest protocol version the device speaks.
    pub protocol_version: u8,
    /// `ADV_FLAG_*` bits.
    pub flags: u8,
    /// Device serial (≤ 20 bytes so it fits a legacy advertisement).
    pub serial: String,
}

impl AdvertData {
    /// Encode.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(self.protocol_version)
            .u8(self.flags)
            .str8(&self.serial);
        w.into_vec()
    }

    /// Decode (never panics).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let out = Self {
            protocol_version: r.u8("protocol_version")?,
            flags: r.u8("flags")?,
            serial: r.str8("serial")?,
        };
        r.finish()?;
        Ok(out)
    }
}
