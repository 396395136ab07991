//! The workspace's `uniffi-bindgen`: generates the Kotlin and Swift bindings
//! from the built library (see `scripts/generate-bindings`).

fn main() {
    uniffi::uniffi_bindgen_main()
}
