//! cargo-fuzz target: `cargo +nightly fuzz run attestation` (from ble/).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    smartcontrol_ble::fuzzing::fuzz_attestation(data);
});
