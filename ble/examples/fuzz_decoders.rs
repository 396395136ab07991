//! Bounded, stable-toolchain fuzzing of every radio-facing decoder.
//!
//! `cargo run -p smartcontrol-ble --release --example fuzz_decoders -- [ITERATIONS] [SECONDS_PER_TARGET] [SEED]`
//! (defaults: 200000 inputs, 10 s per target, seed 1). Exits non-zero on a panic.

use std::time::Duration;

use smartcontrol_ble::fuzzing::{run_bounded, TARGETS};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let iterations: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let seconds: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    let seed: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    for (name, target) in TARGETS {
        let n = run_bounded(*target, iterations, Duration::from_secs(seconds), seed);
        #[allow(clippy::print_stdout)]
        {
            println!("fuzz {name}: {n} inputs, no panic");
        }
    }
}
