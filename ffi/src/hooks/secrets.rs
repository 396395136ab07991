//! `SecretStore`: where the phone's private key lives (Android Keystore,
//! iOS Keychain), adapted to `smartcontrol_ble::security::SecretStore`.

use std::sync::Arc;

use smartcontrol_ble::security::{SecretStore as BleSecretStore, SecretStoreError};

use crate::error::PlatformError;

/// Storage for small secrets, implemented by the app with the platform
/// keychain. Names are `[A-Za-z0-9._-]+`; values are a few dozen bytes.
/// Called from the core's threads, never the UI thread; may block briefly.
#[uniffi::export(with_foreign)]
pub trait SecretStore: Send + Sync {
    /// The secret, or `null`/`nil` when none is stored under `name`.
    fn get(&self, name: String) -> Result<Option<Vec<u8>>, PlatformError>;
    /// Create or replace a secret.
    fn put(&self, name: String, value: Vec<u8>) -> Result<(), PlatformError>;
    /// Delete a secret (no error if absent).
    fn delete(&self, name: String) -> Result<(), PlatformError>;
}

/// The app's store seen as the BLE crate's [`BleSecretStore`].
pub(crate) struct SecretStoreAdapter(pub(crate) Arc<dyn SecretStore>);

fn backend(e: PlatformError) -> SecretStoreError {
    SecretStoreError::Backend(e.to_string())
}

impl BleSecretStore for SecretStoreAdapter {
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, SecretStoreError> {
        self.0.get(name.to_owned()).map_err(backend)
    }

    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), SecretStoreError> {
        self.0.put(name.to_owned(), bytes.to_vec()).map_err(backend)
    }

    fn delete(&self, name: &str) -> Result<(), SecretStoreError> {
        self.0.delete(name.to_owned()).map_err(backend)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use smartcontrol_ble::security::PhoneKey;

    use super::*;

    /// A keychain fake: a map, with a switch that makes every call fail.
    #[derive(Default)]
    pub(crate) struct FakeKeychain {
        pub(crate) map: Mutex<HashMap<String, Vec<u8>>>,
        pub(crate) broken: std::sync::atomic::AtomicBool,
    }

    impl FakeKeychain {
        fn check(&self) -> Result<(), PlatformError> {
            if self.broken.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(PlatformError::Failed {
                    reason: "keystore locked".into(),
                });
            }
            Ok(())
        }
    }

    impl SecretStore for FakeKeychain {
        fn get(&self, name: String) -> Result<Option<Vec<u8>>, PlatformError> {
            self.check()?;
            Ok(self.map.lock().expect("lock").get(&name).cloned())
        }
        fn put(&self, name: String, value: Vec<u8>) -> Result<(), PlatformError> {
            self.check()?;
            self.map.lock().expect("lock").insert(name, value);
            Ok(())
        }
        fn delete(&self, name: String) -> Result<(), PlatformError> {
            self.check()?;
            self.map.lock().expect("lock").remove(&name);
            Ok(())
        }
    }

    #[test]
    fn the_phone_key_lives_in_the_platform_store_and_is_stable() {
        let keychain = Arc::new(FakeKeychain::default());
        let adapter = SecretStoreAdapter(keychain.clone());
        let first = PhoneKey::load_or_create(&adapter).expect("created");
        assert!(keychain
            .map
            .lock()
            .expect("lock")
            .contains_key(PhoneKey::SECRET_NAME));
        let again = PhoneKey::load_or_create(&adapter).expect("loaded");
        assert_eq!(first.public_key(), again.public_key());
    }

    #[test]
    fn platform_failures_reach_the_core_with_their_reason() {
        let keychain = Arc::new(FakeKeychain::default());
        keychain
            .broken
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let adapter = SecretStoreAdapter(keychain);
        let err = adapter.get("phone-ed25519").expect_err("fails");
        assert!(err.to_string().contains("keystore locked"), "{err}");
    }
}
