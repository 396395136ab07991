//! The phone's Ed25519 key pair and where its private half is kept.
//!
//! This lives in `ble` (not `core`) because the key is part of the protocol's
//! proof of possession; the core only chooses the store (platform keychain on
//! mobile, [`FileSecretStore`] on desktop).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ed25519_dalek::SigningKey;
use thiserror::Error;
use zeroize::Zeroizing;

/// Secret store failures.
#[derive(Debug, Error)]
pub enum SecretStoreError {
    /// The name contains characters other than `[A-Za-z0-9._-]` or is empty.
    #[error("invalid secret name {0:?}")]
    BadName(String),
    /// The stored secret is malformed.
    #[error("stored secret {0:?} is malformed")]
    Corrupt(String),
    /// Underlying storage failed.
    #[error("secret store I/O: {0}")]
    Io(#[from] std::io::Error),
    /// Backend-specific failure (keychain, ...).
    #[error("secret store: {0}")]
    Backend(String),
}

/// Storage for small secrets (the platform keychain on phones).
pub trait SecretStore: Send + Sync {
    /// Read a secret.
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, SecretStoreError>;
    /// Create or replace a secret.
    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), SecretStoreError>;
    /// Delete a secret (no error if absent).
    fn delete(&self, name: &str) -> Result<(), SecretStoreError>;
}

fn check_name(name: &str) -> Result<(), SecretStoreError> {
    if name.is_empty()
        || name.starts_with('.')
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(SecretStoreError::BadName(name.to_owned()));
    }
    Ok(())
}

/// Desktop store: one file per secret, mode 0600, in a directory (mode 0700).
#[derive(Debug, Clone)]
pub struct FileSecretStore {
    dir: PathBuf,
}

impl FileSecretStore {
    /// Store in `dir` (created if missing).
    pub fn new(dir: impl AsRef<Path>) -> Result<Self, SecretStoreError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(Self { dir })
    }

    /// Path of a secret's file.
    pub fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl SecretStore for FileSecretStore {
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, SecretStoreError> {
        check_name(name)?;
        match std::fs::read(self.path_of(name)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), SecretStoreError> {
        check_name(name)?;
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, self.path_of(name))?;
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<(), SecretStoreError> {
        check_name(name)?;
        match std::fs::remove_file(self.path_of(name)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// In-memory store (tests, simulations).
#[derive(Debug, Default)]
pub struct MemorySecretStore {
    map: Mutex<HashMap<String, Vec<u8>>>,
}

impl SecretStore for MemorySecretStore {
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, SecretStoreError> {
        check_name(name)?;
        let map = self
            .map
            .lock()
            .map_err(|_| SecretStoreError::Backend("poisoned".into()))?;
        Ok(map.get(name).cloned())
    }

    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), SecretStoreError> {
        check_name(name)?;
        self.map
            .lock()
            .map_err(|_| SecretStoreError::Backend("poisoned".into()))?
            .insert(name.to_owned(), bytes.to_vec());
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<(), SecretStoreError> {
        check_name(name)?;
        self.map
            .lock()
            .map_err(|_| SecretStoreError::Backend("poisoned".into()))?
            .remove(name);
        Ok(())
    }
}

/// The phone's Ed25519 key (named in grants; proves possession in the handshake).
#[derive(Clone)]
pub struct PhoneKey {
    key: SigningKey,
}

impl std::fmt::Debug for PhoneKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoneKey")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl PhoneKey {
    /// Name under which [`PhoneKey::load_or_create`] stores the key.
    pub const SECRET_NAME: &'static str = "phone-ed25519";

    /// Fresh random key (OS randomness).
    pub fn generate() -> Self {
        Self {
            key: SigningKey::generate(&mut rand_core::OsRng),
        }
    }

    /// From a 32-byte secret seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(seed),
        }
    }

    /// Load the key from `store`, creating and storing one if absent.
    pub fn load_or_create(store: &dyn SecretStore) -> Result<Self, SecretStoreError> {
        if let Some(bytes) = store.get(Self::SECRET_NAME)? {
            let bytes = Zeroizing::new(bytes);
            let seed: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| SecretStoreError::Corrupt(Self::SECRET_NAME.into()))?;
            return Ok(Self::from_seed(&seed));
        }
        let key = Self::generate();
        store.put(Self::SECRET_NAME, &key.key.to_bytes())?;
        tracing::info!("created phone key");
        Ok(key)
    }

    /// Public key bytes (what the cloud puts in grants).
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }
}
