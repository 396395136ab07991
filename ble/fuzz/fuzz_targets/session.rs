//! cargo-fuzz target: `cargo +nightly fuzz run session` (from ble/).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    smartcontrol_ble::fuzzing::fuzz_session(data);
});
