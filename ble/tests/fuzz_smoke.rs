//! Bounded stable fuzz run of every decoder target (a shorter version of
//! `examples/fuzz_decoders.rs`), so `cargo test` exercises them too.

use std::time::Duration;

use smartcontrol_ble::fuzzing::{run_bounded, session_pair, TARGETS};

#[test]
fn fuzz_smoke_all_targets() {
    for (name, target) in TARGETS {
        let iterations = if *name == "session" { 300 } else { 5_000 };
        let n = run_bounded(*target, iterations, Duration::from_secs(5), 42);
        assert!(n > 0, "{name} ran no inputs");
    }
}

#[test]
fn fuzz_session_pair_establishes() {
    assert!(session_pair().is_some());
}
