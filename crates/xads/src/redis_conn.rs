//! The shared Redis connection (limiter, locks), when `REDIS_URL` is set.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// A multiplexed, auto-reconnecting Redis connection.
#[derive(Clone)]
pub struct Redis {
    manager: ConnectionManager,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redis")
    }
}

impl Redis {
    /// Connects to `url`; fails when Redis cannot be reached now.
    pub async fn connect(url: &str) -> redis::RedisResult<Redis> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2);
        let manager = ConnectionManager::new_with_config(client, config).await?;
        Ok(Redis { manager })
    }

    /// The connection, for scripts and commands.
    pub fn manager(&self) -> ConnectionManager {
        self.manager.clone()
    }

    /// True when Redis answers `PING`.
    pub async fn ping(&self) -> bool {
        let mut conn = self.manager.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .is_ok()
    }
}
