//! cargo-fuzz target: `cargo +nightly fuzz run handshake` (from ble/).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    smartcontrol_ble::fuzzing::fuzz_handshake(data);
});
