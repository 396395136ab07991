//! CloudBoxx BLE protocol: GATT layout, framing and fragmentation, windowed flow
//! control, the message catalogue, session security (signed job-scoped grants,
//! handshake, sealed records), a sans-IO device engine, the transport seam with
//! an in-memory loopback, the phone-side client and the link-time formula.
//!
//! Layers (bottom up), all sans-IO except `transport` and `client`:
//! [`frame`] → [`flow`] → records ([`security::SessionCipher`]) → [`message`].
//! The spec is `docs/cloudboxx-protocol.md`.

#[cfg(feature = "btleplug")]
pub mod btleplug;
pub mod client;
pub mod codec;
pub mod device;
pub mod flow;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
pub mod linktime;
pub mod message;
pub mod security;
pub mod transport;
pub mod uuids;

pub use codec::DecodeError;

pub use client::{ClientConfig, ClientError, ConfigProgress, ConfigSnapshot, Connection};
pub use device::{
    BasicDevice, ConfigStore, DeviceConnection, DeviceHandler, Request, RequestContext,
};
pub use flow::Link;
pub use frame::{Fragmenter, Frame, FrameError, Reassembler};
pub use transport::{
    BleChannel, BleConnector, FrameWriter, LoopbackConnector, LoopbackDevice, TransportError,
};

pub use message::{ErrorCode, HintCode, Message, Unit, VehicleTestId, VehicleTestResult};
pub use security::{
    AccessGrant, DeviceIdentity, GrantFields, Permissions, PhoneKey, SecretStore, SecurityError,
};
