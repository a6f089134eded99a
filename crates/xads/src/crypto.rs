//! Secrets at rest: XChaCha20-Poly1305 with a random 24-byte nonce, the ciphertext bound to its row.
//!
//! The associated data names the row and field (e.g. `connection:<id>:access:v<token_version>`),
//! so a ciphertext copied into another row, another column, or back over a newer token of the
//! same row fails to open instead of lending its secret.
//!
//! A [`Sealer`] holds the current key (it seals) and, during a key rotation, the previous one (it
//! only opens). Every key has a [`key_id`](Sealer::key_id), stored beside each sealed value, so
//! `xads keys rotate` can find what is still sealed under the old key. Key bytes live only in
//! zeroizing buffers and in the cipher, which wipes its key when dropped.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use xads_client::Secret;
use zeroize::{Zeroize, Zeroizing};

const NONCE_LEN: usize = 24;
/// Format byte in front of every ciphertext, so the scheme can change without guessing.
const VERSION: u8 = 1;

/// One key: its cipher (which zeroizes the key on drop) and its public id.
struct Key {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl Key {
    fn new(key: &[u8; 32]) -> Key {
        // The id names the key without revealing it: a domain-separated hash, 8 bytes in hex.
        let digest = Sha256::new()
            .chain_update(b"xads key id v1\0")
            .chain_update(key)
            .finalize();
        Key {
            id: hex::encode(&digest[..8]),
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }
}

/// The keys that seal and open secrets at rest.
#[derive(Clone)]
pub struct Sealer {
    current: Arc<Key>,
    previous: Option<Arc<Key>>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(***)")
    }
}

/// Sealing or opening failed (wrong key, tampered ciphertext, or ciphertext of another row).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cannot open sealed value: {0}")]
pub struct SealError(&'static str);

/// True when `a` equals `b`, in time that depends only on the lengths (for comparing presented
/// credentials with expected ones).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Decodes a base64 32-byte key, saying what is wrong otherwise. The decoded bytes are wiped
/// when the returned buffer drops.
pub fn decode_key(b64: &str) -> Result<Zeroizing<[u8; 32]>, String> {
    let bytes = Zeroizing::new(
        STANDARD
            .decode(b64.trim())
            .map_err(|_| "expected 32 random bytes encoded as base64".to_owned())?,
    );
    let mut key = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return Err(format!(
            "expected 32 bytes, the value decodes to {}",
            bytes.len()
        ));
    }
    key.copy_from_slice(&bytes);
    Ok(key)
}

/// The dry-run key file is open to group or others: refuse it, naming the file and the fix.
fn check_key_file_mode(path: &Path, meta: &std::fs::Metadata) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "key file {} is readable or writable by group or others (mode {mode:04o}); \
                     run `chmod 600 {}`, or set XADS_ENCRYPTION_KEY",
                    path.display(),
                    path.display()
                ),
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = (path, meta);
    Ok(())
}

impl Sealer {
    /// A sealer from a raw 32-byte key.
    pub fn new(key: &[u8; 32]) -> Sealer {
        Sealer {
            current: Arc::new(Key::new(key)),
            previous: None,
        }
    }

    /// A sealer from the base64 key of `XADS_ENCRYPTION_KEY`.
    pub fn from_base64(b64: &str) -> Result<Sealer, String> {
        decode_key(b64).map(|k| Sealer::new(&k))
    }

    /// The same sealer that also opens what `old` sealed (its current key becomes this one's
    /// previous key): `XADS_OLD_ENCRYPTION_KEY` during a rotation. Seals with the current key only.
    pub fn with_previous(self, old: &Sealer) -> Sealer {
        let previous = (old.current.id != self.current.id).then(|| old.current.clone());
        Sealer { previous, ..self }
    }

    /// The id of the key that seals (stored beside every sealed value).
    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    /// The id of the previous key, when this sealer has one.
    pub fn previous_key_id(&self) -> Option<&str> {
        self.previous.as_ref().map(|k| k.id.as_str())
    }

    /// Reads a key file (base64 key), refusing one that group or others may read or write.
    pub fn read_key_file(path: &Path) -> std::io::Result<Sealer> {
        let meta = std::fs::metadata(path)?;
        check_key_file_mode(path, &meta)?;
        let text = Zeroizing::new(std::fs::read_to_string(path)?);
        Sealer::from_base64(&text).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("key file {}: {e}", path.display()),
            )
        })
    }

    /// Reads the key file, or creates it with a fresh random key (dry-run convenience, mode 0600).
    /// An existing file that group or others may read or write is refused.
    pub fn from_key_file(path: &Path) -> std::io::Result<Sealer> {
        match std::fs::metadata(path) {
            Ok(_) => return Sealer::read_key_file(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(key.as_mut());
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        use std::io::Write;
        let encoded = Zeroizing::new(STANDARD.encode(key.as_ref()));
        options.open(path)?.write_all(encoded.as_bytes())?;
        Ok(Sealer::new(&key))
    }

    /// Encrypts `plaintext` under the current key, bound to `aad` (the row and field it belongs to).
    pub fn seal(&self, plaintext: &[u8], aad: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ct = self
            .current
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    fn open_key(key: &Key, sealed: &[u8], aad: &str) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if sealed.len() < 1 + NONCE_LEN + 16 {
            return Err(SealError("too short"));
        }
        if sealed[0] != VERSION {
            return Err(SealError("unknown format"));
        }
        let (nonce, ct) = sealed[1..].split_at(NONCE_LEN);
        key.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError("authentication failed"))
    }

    /// Decrypts a value sealed with the same `aad` by the current or the previous key. `key_id`
    /// is the id stored beside it (`None` for values sealed before ids were stored: every key
    /// is tried); an id this sealer does not hold fails without trying.
    pub fn open(
        &self,
        sealed: &[u8],
        key_id: Option<&str>,
        aad: &str,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let keys = std::iter::once(&self.current).chain(self.previous.as_ref());
        let mut last = SealError("sealed under a key this instance does not have");
        for key in keys {
            if key_id.is_some_and(|id| id != key.id) {
                continue;
            }
            match Sealer::open_key(key, sealed, aad) {
                Ok(plain) => return Ok(plain),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Decrypts into a [`Secret`] (wiped when dropped).
    pub fn open_secret(
        &self,
        sealed: &[u8],
        key_id: Option<&str>,
        aad: &str,
    ) -> Result<Secret, SealError> {
        let mut plain = self.open(sealed, key_id, aad)?;
        match String::from_utf8(std::mem::take(&mut *plain)) {
            Ok(s) => Ok(Secret::new(s)),
            Err(e) => {
                e.into_bytes().zeroize();
                Err(SealError("not UTF-8"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_str(
        s: &Sealer,
        ct: &[u8],
        key_id: Option<&str>,
        aad: &str,
    ) -> Result<String, SealError> {
        s.open_secret(ct, key_id, aad)
            .map(|x| x.expose().to_owned())
    }

    #[test]
    fn round_trip_and_binding() {
        let s = Sealer::new(&[7; 32]);
        let ct = s.seal(b"access-token-value", "connection:a:access");
        assert!(!ct.windows(6).any(|w| w == b"access"));
        assert_eq!(
            open_str(&s, &ct, Some(s.key_id()), "connection:a:access").unwrap(),
            "access-token-value"
        );
        assert_eq!(
            open_str(&s, &ct, None, "connection:a:access").unwrap(),
            "access-token-value"
        );
        // Moved to another row or field: refused.
        assert!(s.open(&ct, None, "connection:b:access").is_err());
        assert!(s.open(&ct, None, "connection:a:refresh").is_err());
        // Another key: refused. Tampered: refused.
        assert!(
            Sealer::new(&[8; 32])
                .open(&ct, None, "connection:a:access")
                .is_err()
        );
        let mut bad = ct.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(s.open(&bad, None, "connection:a:access").is_err());
        // Fresh nonce each time.
        assert_ne!(ct, s.seal(b"access-token-value", "connection:a:access"));
    }

    #[test]
    fn a_rotating_sealer_opens_both_keys_and_seals_with_the_new_one() {
        let old = Sealer::new(&[1; 32]);
        let new = Sealer::new(&[2; 32]);
        assert_ne!(old.key_id(), new.key_id());
        assert_eq!(old.key_id().len(), 16);
        // The id is stable for a key and says nothing of it.
        assert_eq!(old.key_id(), Sealer::new(&[1; 32]).key_id());
        let both = new.clone().with_previous(&old);
        assert_eq!(both.key_id(), new.key_id());
        assert_eq!(both.previous_key_id(), Some(old.key_id()));
        let by_old = old.seal(b"t", "aad");
        assert_eq!(
            open_str(&both, &by_old, Some(old.key_id()), "aad").unwrap(),
            "t"
        );
        assert_eq!(open_str(&both, &by_old, None, "aad").unwrap(), "t");
        let by_both = both.seal(b"t", "aad");
        assert_eq!(
            open_str(&new, &by_both, Some(new.key_id()), "aad").unwrap(),
            "t"
        );
        assert!(old.open(&by_both, None, "aad").is_err());
        // A stored id the sealer does not hold fails without guessing.
        assert_eq!(
            new.open(&by_old, Some(old.key_id()), "aad").unwrap_err(),
            SealError("sealed under a key this instance does not have")
        );
        // The wrong stored id for a key we hold does not open either.
        assert!(both.open(&by_old, Some(new.key_id()), "aad").is_err());
    }

    #[test]
    fn key_decoding_names_the_problem() {
        assert!(decode_key(&STANDARD.encode([1u8; 32])).is_ok());
        assert!(decode_key("!!").unwrap_err().contains("base64"));
        assert!(
            decode_key(&STANDARD.encode([1u8; 16]))
                .unwrap_err()
                .contains("16")
        );
    }

    #[test]
    fn key_file_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("xads-key-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("xads.key");
        let a = Sealer::from_key_file(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "created {mode:o}");
        }
        let b = Sealer::from_key_file(&path).unwrap();
        let ct = a.seal(b"x", "aad");
        assert_eq!(open_str(&b, &ct, Some(a.key_id()), "aad").unwrap(), "x");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_open_to_others_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("xads-key-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("xads.key");
        Sealer::from_key_file(&path).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620, 0o602, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = Sealer::from_key_file(&path).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied, "{mode:o}");
            let text = e.to_string();
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(
                text.contains(&format!("chmod 600 {}", path.display())),
                "{text}"
            );
        }
        for mode in [0o600, 0o400] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            assert!(Sealer::from_key_file(&path).is_ok(), "{mode:o}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
