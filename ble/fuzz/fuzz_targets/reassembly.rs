//! cargo-fuzz target: `cargo +nightly fuzz run reassembly` (from ble/).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    smartcontrol_ble::fuzzing::fuzz_reassembly(data);
});
