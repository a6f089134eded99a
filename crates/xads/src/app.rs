//! Building and running the service: `Application::build` wires the dependencies and binds the
//! port (0 in tests); `run` serves until the shutdown future completes, then drains requests.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::db::Db;
use crate::redis_conn::Redis;

/// What every request handler and job can reach. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The configuration read at start.
    pub config: Arc<Config>,
    /// The database (SQLite or PostgreSQL).
    pub db: Db,
    /// Redis, when configured.
    pub redis: Option<Redis>,
}

/// A built service, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Connects the database (migrating it), Redis when configured, and binds `config.bind`.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let db = Db::connect(&config.database_url).await?;
        let applied = db.migrate().await?;
        tracing::info!(
            db.backend = db.backend().as_str(),
            migrations.applied = applied.len(),
            "database ready"
        );
        let redis = match &config.redis_url {
            Some(url) => Some(
                Redis::connect(url)
                    .await
                    .map_err(|e| anyhow::anyhow!("REDIS_URL: cannot connect: {e}"))?,
            ),
            None => None,
        };
        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(|e| anyhow::anyhow!("XADS_BIND: cannot listen on {}: {e}", config.bind))?;
        let state = AppState {
            config: Arc::new(config),
            db,
            redis,
        };
        Ok(Application { listener, state })
    }

    /// The address actually bound (the port is chosen by the OS when configured as 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// The shared state (tests use it to reach the database).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.local_addr();
        tracing::info!(
            %addr,
            mode = if self.state.config.live_mode { "live" } else { "dry_run" },
            "xads listening"
        );
        let router = crate::web::router(self.state.clone());
        axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await?;
        self.state.db.close().await;
        tracing::info!("xads stopped");
        Ok(())
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
