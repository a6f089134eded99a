//! The Redis backend: one atomic Lua script per decision, on Redis `TIME`.
//!
//! The script is the Redis twin of `LocalStore::decide`; the integration suite runs the same
//! schedules on both to keep them so.

use std::sync::atomic::{AtomicU64, Ordering};

use redis::Script;
use redis::aio::ConnectionManager;
use xads_client::gate::RateKey;

use super::local::account_part;
use super::{Verdict, WaitCause};

/// Checks the X hold, then the sliding window, and admits if both allow.
///
/// KEYS[1]: the window (sorted set: member = a unique nonce, score = admission time in µs).
/// KEYS[2]: the X hold (string: until when, in µs).
/// ARGV: limit, window (µs), nonce, window TTL (ms).
/// Returns {admitted (0/1), now (µs, Redis TIME), wait (µs), held by X (0/1)}.
///
/// An admission at `t` counts while `now - t <= window`: every closed interval of one window
/// length holds at most `limit` admissions. Time is Redis `TIME`, so instances' clocks don't
/// matter; since Redis 5 scripts replicate their effects, so `TIME` in a writing script is fine.
const CHECK: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local hold = tonumber(redis.call('GET', KEYS[2]) or '0')
if hold > now then
  return {0, now, hold - now, 1}
end
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now - window - 1))
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], string.format('%d', now), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return {1, now, 0, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = tonumber(oldest[2]) + window + 1 - now
if wait < 1 then wait = 1 end
return {0, now, wait, 0}
";

/// Extends the X hold on KEYS[1] to the later of ARGV[1] (absolute µs, 0 = none) and
/// now + ARGV[2] (µs, 0 = none); the key expires a second after the hold ends.
/// Returns Redis `TIME` in µs.
const HOLD: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local target = tonumber(ARGV[1])
local rel = tonumber(ARGV[2])
if rel > 0 and now + rel > target then target = now + rel end
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if target > now and target > cur then
  redis.call('SET', KEYS[1], string.format('%d', target), 'PX', math.floor((target - now) / 1000) + 1000)
end
return now
";

/// The Redis side of a limiter: a connection, the two scripts and the key layout.
pub(crate) struct RedisStore {
    /// One multiplexed, auto-reconnecting connection shared by every check (clones share it).
    conn: ConnectionManager,
    check: Script,
    hold: Script,
    prefix: String,
    /// Makes sorted-set members unique across instances: two admissions in one µs must both count.
    nonce_base: u64,
    nonce_seq: AtomicU64,
}

impl RedisStore {
    pub(crate) fn new(conn: ConnectionManager, prefix: String) -> RedisStore {
        RedisStore {
            conn,
            check: Script::new(CHECK),
            hold: Script::new(HOLD),
            prefix,
            nonce_base: rand::random(),
            nonce_seq: AtomicU64::new(0),
        }
    }

    /// `rl:{client_id}:account`: the hash tag keeps a client's keys in one Redis Cluster slot, so
    /// the script may touch the window and the hold together.
    fn window_key(&self, key: &RateKey) -> String {
        format!(
            "{}:{{{}}}:{}",
            self.prefix,
            key.client_id,
            account_part(key)
        )
    }

    fn hold_key(&self, key: &RateKey) -> String {
        format!(
            "{}:{{{}}}:{}:x:{}:{}",
            self.prefix,
            key.client_id,
            account_part(key),
            key.family.as_str(),
            key.token_id
        )
    }

    /// One decision; returns it with Redis `TIME` (µs since the epoch).
    pub(crate) async fn decide(
        &self,
        key: &RateKey,
        limit: usize,
        window_us: i64,
    ) -> redis::RedisResult<(Verdict, i64)> {
        let seq = self.nonce_seq.fetch_add(1, Ordering::Relaxed);
        let nonce = format!("{:016x}{seq:x}", self.nonce_base);
        let ttl_ms = window_us / 1000 + 1000;
        let mut conn = self.conn.clone();
        let (admitted, now, wait, held): (i64, i64, i64, i64) = self
            .check
            .key(self.window_key(key))
            .key(self.hold_key(key))
            .arg(limit)
            .arg(window_us)
            .arg(nonce)
            .arg(ttl_ms)
            .invoke_async(&mut conn)
            .await?;
        let verdict = if admitted == 1 {
            Verdict::Admit
        } else if held == 1 {
            Verdict::wait_us(wait, WaitCause::XHold)
        } else {
            Verdict::wait_us(wait, WaitCause::Budget)
        };
        Ok((verdict, now))
    }

    /// Stores an X hold (absolute µs and/or relative µs, 0 = none); returns Redis `TIME`.
    pub(crate) async fn hold(
        &self,
        key: &RateKey,
        until_us: i64,
        for_us: i64,
    ) -> redis::RedisResult<i64> {
        let mut conn = self.conn.clone();
        self.hold
            .key(self.hold_key(key))
            .arg(until_us)
            .arg(for_us)
            .invoke_async(&mut conn)
            .await
    }

    /// Redis `TIME` in µs: the probe that tells whether Redis is back.
    pub(crate) async fn time(&self) -> redis::RedisResult<i64> {
        let mut conn = self.conn.clone();
        let (s, us): (i64, i64) = redis::cmd("TIME").query_async(&mut conn).await?;
        Ok(s * 1_000_000 + us)
    }
}
