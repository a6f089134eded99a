//! Tokens at rest: XChaCha20-Poly1305 with a random 24-byte nonce, the ciphertext bound to its row.
//!
//! The associated data names the row and field (e.g. `connection:<id>:access_token`), so a
//! ciphertext copied into another row or column fails to decrypt instead of lending its token.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

const NONCE_LEN: usize = 24;
/// Format byte in front of every ciphertext, so the scheme can change without guessing.
const VERSION: u8 = 1;

/// The key that seals tokens at rest.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
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

/// Decodes a base64 32-byte key, saying what is wrong otherwise.
pub fn decode_key(b64: &str) -> Result<[u8; 32], String> {
    let bytes = STANDARD
        .decode(b64.trim())
        .map_err(|_| "expected 32 random bytes encoded as base64".to_owned())?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("expected 32 bytes, the value decodes to {}", bytes.len()))
}

impl Sealer {
    /// A sealer from a raw 32-byte key.
    pub fn new(key: [u8; 32]) -> Sealer {
        Sealer {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// A sealer from the base64 key of `XADS_ENCRYPTION_KEY`.
    pub fn from_base64(b64: &str) -> Result<Sealer, String> {
        decode_key(b64).map(Sealer::new)
    }

    /// Reads the key file, or creates it with a fresh random key (dry-run convenience, mode 0600).
    pub fn from_key_file(path: &Path) -> std::io::Result<Sealer> {
        if let Ok(text) = std::fs::read_to_string(path) {
            return Sealer::from_base64(&text)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e));
        }
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        use std::io::Write;
        options
            .open(path)?
            .write_all(STANDARD.encode(key).as_bytes())?;
        Ok(Sealer::new(key))
    }

    /// Encrypts `plaintext`, bound to `aad` (the row and field it belongs to).
    pub fn seal(&self, plaintext: &[u8], aad: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ct = self
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

    /// Decrypts a value sealed with the same `aad`.
    pub fn open(&self, sealed: &[u8], aad: &str) -> Result<Vec<u8>, SealError> {
        if sealed.len() < 1 + NONCE_LEN + 16 {
            return Err(SealError("too short"));
        }
        if sealed[0] != VERSION {
            return Err(SealError("unknown format"));
        }
        let (nonce, ct) = sealed[1..].split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SealError("authentication failed"))
    }

    /// Decrypts into a UTF-8 string.
    pub fn open_string(&self, sealed: &[u8], aad: &str) -> Result<String, SealError> {
        String::from_utf8(self.open(sealed, aad)?).map_err(|_| SealError("not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let s = Sealer::new([7; 32]);
        let ct = s.seal(b"access-token-value", "connection:a:access");
        assert!(!ct.windows(6).any(|w| w == b"access"));
        assert_eq!(
            s.open(&ct, "connection:a:access").unwrap(),
            b"access-token-value"
        );
        // Moved to another row or field: refused.
        assert!(s.open(&ct, "connection:b:access").is_err());
        assert!(s.open(&ct, "connection:a:refresh").is_err());
        // Another key: refused. Tampered: refused.
        assert!(
            Sealer::new([8; 32])
                .open(&ct, "connection:a:access")
                .is_err()
        );
        let mut bad = ct.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(s.open(&bad, "connection:a:access").is_err());
        // Fresh nonce each time.
        assert_ne!(ct, s.seal(b"access-token-value", "connection:a:access"));
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
        let b = Sealer::from_key_file(&path).unwrap();
        let ct = a.seal(b"x", "aad");
        assert_eq!(b.open(&ct, "aad").unwrap(), b"x");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
