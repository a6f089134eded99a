//! The database: one code path for SQLite and PostgreSQL through sqlx's `Any` driver.
//!
//! Both backends get their own migration folder (`migrations/sqlite`, `migrations/postgres`),
//! embedded in the binary and applied in order by [`Db::migrate`] (on start and by `xads migrate`).
//! Queries are written with `$1, $2…` placeholders, which both backends accept; values are limited
//! to what `Any` reads identically on both (BIGINT, SMALLINT, TEXT, BLOB/BYTEA).

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};

/// Which database a [`Db`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file (the single-node default).
    Sqlite,
    /// PostgreSQL (required to scale out).
    Postgres,
}

impl Backend {
    /// A short name for logs and test output.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// One migration: its version, name and SQL for each backend.
struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

macro_rules! migration {
    ($version:expr, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!("../migrations/sqlite/", $name, ".sql")),
            postgres: include_str!(concat!("../migrations/postgres/", $name, ".sql")),
        }
    };
}

/// Every migration, in order. A new one is appended here and in both folders.
const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_foundation"),
    migration!(2, "0002_connections"),
    migration!(3, "0003_entities"),
    migration!(4, "0004_reporting"),
    migration!(5, "0005_media"),
    migration!(6, "0006_experiments"),
    migration!(7, "0007_sessions"),
    migration!(8, "0008_entities_seq"),
    migration!(9, "0009_sync_error_code"),
    migration!(10, "0010_fx_tenant_overrides"),
    migration!(11, "0011_pending_session"),
    migration!(12, "0012_seal_scheme"),
    migration!(13, "0013_write_leases"),
    migration!(14, "0014_leases_sync"),
    migration!(15, "0015_paging_seq"),
    migration!(16, "0016_fx_fetches"),
    migration!(18, "0018_stats_window_index"),
    migration!(19, "0019_installs"),
    migration!(20, "0020_backfills"),
    migration!(21, "0021_stats_segments"),
    migration!(22, "0022_stats_daily"),
    migration!(25, "0025_stats_daily_dirty"),
    migration!(26, "0026_stats_versions"),
    migration!(27, "0027_mirror_versions"),
    migration!(28, "0028_stats_fx_indexes"),
    migration!(29, "0029_stats_hourly_window_drop"),
    migration!(30, "0030_stats_rows_tenant_check"),
];

/// How long a pooled connection may sit idle and still be used without a ping first.
pub const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

/// Arbitrary constant that names our migration lock among Postgres advisory locks.
const MIGRATION_LOCK_ID: i64 = 0x7861_6473; // "xads"

/// A database error, with the operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL is not one we support.
    #[error("DATABASE_URL: {0}")]
    Url(String),
    /// The database could not be reached or opened: where (a SQLite path, or a PostgreSQL
    /// host, port and database; never the credentials) and why, once.
    #[error("database {target}: {cause}")]
    Connect {
        /// The SQLite file or `host:port/database`.
        target: String,
        /// Why, in a few words (`connection refused`, `no such directory /x`, the server's text).
        cause: String,
    },
    /// The database refused or failed.
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// Stored data is not what the code expects (wrong key, a row changed underneath).
    #[error("database: inconsistent data: {0}")]
    Corrupt(&'static str),
}

/// What a client is told of an internal failure: the cause (SQL text, a driver's chain) is
/// logged once where it happened and never answered.
pub const INTERNAL_MESSAGE: &str = "internal error; it has been logged";

impl DbError {
    /// The text a client may be shown: never the SQL or the driver's message.
    pub fn public_message(&self) -> String {
        INTERNAL_MESSAGE.into()
    }
}

/// What a connection error names: the SQLite file, or PostgreSQL's `host:port/database` (no
/// user, no password).
fn target_of(backend: Backend, url: &str) -> String {
    match backend {
        Backend::Sqlite => sqlite_path(url).unwrap_or_else(|| "sqlite (in memory)".into()),
        Backend::Postgres => match url::Url::parse(url) {
            Ok(u) => format!(
                "postgres {}:{}{}",
                u.host_str().unwrap_or("localhost"),
                u.port().unwrap_or(5432),
                u.path()
            ),
            Err(_) => "postgres (unparsable URL)".into(),
        },
    }
}

/// The file of a `sqlite:` URL (`None` in memory).
fn sqlite_path(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.contains(":memory:")).then(|| path.to_owned())
}

/// The SQLite file's folder must exist (SQLite only says "unable to open database file").
fn check_sqlite_dir(url: &str) -> Result<(), String> {
    let Some(path) = sqlite_path(url) else {
        return Ok(());
    };
    let dir = std::path::Path::new(&path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty());
    match dir {
        Some(d) if !d.is_dir() => Err(format!("no such directory {}", d.display())),
        _ => Ok(()),
    }
}

/// The reason of a failed connection in a few words: the OS's for a socket (`connection
/// refused`), the server's message for a refusal, else the driver's, once.
fn connect_cause(e: &sqlx::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
                std::io::ErrorKind::TimedOut => "connection timed out".into(),
                std::io::ErrorKind::NotFound => "host or file not found".into(),
                std::io::ErrorKind::PermissionDenied => "permission denied".into(),
                _ => io.to_string(),
            };
        }
        source = s.source();
    }
    match e {
        sqlx::Error::Database(d) => d.message().to_owned(),
        sqlx::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

/// A pool of connections to the configured database.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// PostgreSQL only: a native pool beside the `Any` one, for the paths `Any` cannot take
    /// (`COPY`, see `store::stats::upsert`). Lazy: it opens connections only when used.
    pg: Option<sqlx::PgPool>,
}

impl Db {
    /// Connects to `url` (`sqlite://path` creates the file if needed; `postgres://…`).
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if let Some(rest) = url.strip_prefix("sqlite:") {
            let mut url = format!("sqlite:{rest}");
            if !url.contains("mode=") && !url.contains(":memory:") {
                url.push_str(if url.contains('?') { "&" } else { "?" });
                url.push_str("mode=rwc");
            }
            (Backend::Sqlite, url)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(DbError::Url("expected sqlite://… or postgres://…".into()));
        };
        let target = target_of(backend, &url);
        if backend == Backend::Sqlite {
            check_sqlite_dir(&url).map_err(|cause| DbError::Connect {
                target: target.clone(),
                cause,
            })?;
        }
        let options = AnyConnectOptions::from_str(&url)?.disable_statement_logging();
        // One plain attempt first: the pool retries until its timeout and then says only that
        // it timed out, hiding the reason (a refused connection, a bad password, a missing file).
        match tokio::time::timeout(Duration::from_secs(10), options.connect()).await {
            Ok(Ok(conn)) => {
                let _ = sqlx::Connection::close(conn).await;
            }
            Ok(Err(e)) => {
                return Err(DbError::Connect {
                    target,
                    cause: connect_cause(&e),
                });
            }
            Err(_) => {
                return Err(DbError::Connect {
                    target,
                    cause: "no answer within 10 s".into(),
                });
            }
        }
        let pool_options = AnyPoolOptions::new()
            .acquire_timeout(Duration::from_secs(10))
            // A connection is tested (a round trip) before use only when it sat idle for
            // `IDLE_BEFORE_PING`: one the database dropped meanwhile (a restart, a failover, an
            // idle cut) is still replaced before a query fails on it, while one in steady use —
            // sqlx pings every connection as it comes back to the pool, too — is not tested a
            // second time. sqlx's default pinged before every use: on PostgreSQL that round
            // trip cut a one-query request's throughput to a third (BENCHMARKS.md).
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= IDLE_BEFORE_PING {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .max_connections(match backend {
                // SQLite has one writer: a writer waiting for the lock (busy_timeout) holds its
                // pool connection meanwhile. With 4, concurrent backfills and syncs waiting to
                // write left none for reads (an API read timed out acquiring one: seen as a 500
                // under load); 8 keeps room for readers, which WAL never blocks.
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            });
        let pool_options = if backend == Backend::Sqlite {
            pool_options.after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL lets readers proceed during a write; the busy timeout makes a second
                    // writer wait instead of failing with SQLITE_BUSY.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    Ok(())
                })
            })
        } else {
            pool_options
        };
        let pool = pool_options.connect_with(options).await?;
        let pg = match backend {
            Backend::Postgres => Some(
                sqlx::postgres::PgPoolOptions::new()
                    .acquire_timeout(Duration::from_secs(10))
                    .max_connections(4)
                    .connect_lazy_with(
                        sqlx::postgres::PgConnectOptions::from_str(&url)?
                            .disable_statement_logging(),
                    ),
            ),
            Backend::Sqlite => None,
        };
        Ok(Db { pool, backend, pg })
    }

    /// The pool, for repositories.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The native PostgreSQL pool (same database and options as [`Db::pool`]); `None` on SQLite.
    pub fn pg_pool(&self) -> Option<&sqlx::PgPool> {
        self.pg.as_ref()
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// [`Db::now`] as a SQL expression (epoch milliseconds), for a statement that writes or
    /// compares a lease expiry in one step.
    pub fn now_ms_sql(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT",
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
        }
    }

    /// Applies every migration not yet applied (recorded as applied at `now`); safe to run from
    /// several instances at once.
    pub async fn migrate(&self, now: chrono::DateTime<chrono::Utc>) -> Result<Vec<i64>, DbError> {
        let mut conn = self.pool.acquire().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(MIGRATION_LOCK_ID)
                .execute(&mut *conn)
                .await?;
        }
        let result = self.migrate_locked(&mut conn, now).await;
        if self.backend == Backend::Postgres {
            // Released even when a migration failed, so another instance can retry.
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(MIGRATION_LOCK_ID)
                .execute(&mut *conn)
                .await?;
        }
        result
    }

    async fn migrate_locked(
        &self,
        conn: &mut sqlx::pool::PoolConnection<sqlx::Any>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<i64>, DbError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut **conn)
        .await?;
        let done: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
            .fetch_all(&mut **conn)
            .await?;
        let mut applied = Vec::new();
        for m in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
            let sql = match self.backend {
                Backend::Sqlite => m.sqlite,
                Backend::Postgres => m.postgres,
            };
            let mut tx = sqlx::Connection::begin(&mut **conn).await?;
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            )
            .bind(m.version)
            .bind(m.name)
            .bind(now.timestamp_millis())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            tracing::info!(
                migration.version = m.version,
                migration.name = m.name,
                "applied migration"
            );
            applied.push(m.version);
        }
        Ok(applied)
    }

    /// Now by the database's clock: the one clock leases shared between instances are measured
    /// on (an instance's own clock may be off by more than a lease; the database is one).
    pub async fn now(&self) -> Result<chrono::DateTime<chrono::Utc>, DbError> {
        let sql = format!("SELECT {}", self.now_ms_sql());
        let ms: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&self.pool)
            .await?;
        Ok(crate::store::from_millis(ms))
    }

    /// True when the database answers (for `/readyz`).
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
        if let Some(pg) = &self.pg {
            pg.close().await;
        }
    }
}
