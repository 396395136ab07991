//! Platform hooks: foreign traits a native app implements (secret store,
//! log sink, BLE transport, listeners) and their adapters to the Rust
//! traits of `smartcontrol-ble` and `tracing`. Pure translation.

pub mod ble;
pub mod listeners;
pub mod log;
pub mod secrets;
