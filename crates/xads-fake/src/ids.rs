//! Deterministic id generation: base-36 entity ids like X's, decimal tweet/media ids.

use rand::Rng;
use rand::distr::Alphanumeric;

/// Base-36 rendering of `n` (X's entity ids look like `8wku2`).
pub fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    if n == 0 {
        return "0".into();
    }
    let mut out = Vec::new();
    while n > 0 {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).expect("ascii")
}

/// SplitMix64: a tiny, well-mixed, dependency-free hash for seeds and metrics.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a over bytes, then mixed.
pub fn hash_str(seed: u64, s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ mix(seed);
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

/// Sequential but scattered ids derived from the seed, so a seed always yields the same world.
#[derive(Debug, Clone)]
pub struct IdGen {
    entity: u64,
    decimal: u64,
    step: u64,
}

impl IdGen {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        let m = mix(seed);
        IdGen {
            // 5-6 base-36 digits, like most of X's campaign/line item ids.
            entity: 36u64.pow(4) * 10 + m % 36u64.pow(4),
            decimal: 1_600_000_000_000_000_000 + (m % 1_000_000) * 1_000,
            step: 37 + (m >> 40) % 500,
        }
    }

    /// Next base-36 entity id.
    pub fn entity(&mut self) -> String {
        self.entity += self.step;
        base36(self.entity)
    }

    /// Next decimal id (tweets, media, uploads).
    pub fn decimal(&mut self) -> String {
        self.decimal += 7_919_000 + self.step;
        self.decimal.to_string()
    }
}

/// An unguessable opaque token (access/refresh tokens, codes); not derived from the seed.
pub fn random_token(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}
