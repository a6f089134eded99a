//! Building and running the service: `Application::build` wires the dependencies and binds the
//! port (0 in tests); `run` serves until the shutdown future completes, then drains requests.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use axum::extract::FromRef;

use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::Sealer;
use crate::db::Db;
use crate::limiter::RateLimiter;
use crate::redis_conn::Redis;
use crate::services::Services;

/// The web layer's state: the domain's [`Services`] plus what only serving needs (the API-key
/// cache, the limiter handle for `/metrics`, Redis). Cheap to clone.
///
/// It dereferences to [`Services`], so handlers read `state.db` and hand `&state` to domain
/// functions that take `&Services`; axum extracts `State<Services>` through [`FromRef`].
#[derive(Clone)]
pub struct AppState {
    /// What the domain may touch.
    pub services: Services,
    /// Redis, when configured.
    pub redis: Option<Redis>,
    /// The budget for calls to X (Redis or in-process); the X clients in `services` ask it too.
    pub limiter: RateLimiter,
    /// Recently verified API keys.
    pub keys: crate::web::auth::KeyCache,
    /// Requests in progress per caller (`XADS_TENANT_CONCURRENCY`).
    pub callers: Arc<crate::web::limits::CallerSlots>,
    /// The Reports page's figures of recent views, valid while the stats they read are
    /// unchanged (`ui::ReportCache`).
    pub reports: crate::ui::ReportCache,
}

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.services
    }
}

impl FromRef<AppState> for Services {
    fn from_ref(state: &AppState) -> Services {
        state.services.clone()
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("services", &self.services)
            .field("redis", &self.redis.is_some())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Connects everything the configuration names (migrating the database).
    pub async fn from_config(config: Config) -> anyhow::Result<AppState> {
        // Counters recorded from here on (calls to X, retries) reach `/metrics`.
        let _ = crate::web::metrics::handle();
        // The one clock of this instance: the domain's (`Services::clock`) and the limiter's.
        let clock = Clock::default();
        let db = Db::connect(&config.database_url).await?;
        let applied = db.migrate(clock.now()).await?;
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
        let sealer = match &config.encryption_key {
            Some(key) => {
                let sealer = Sealer::from_base64(key.expose())
                    .map_err(|e| anyhow::anyhow!("XADS_ENCRYPTION_KEY: {e}"))?;
                match &config.old_encryption_key {
                    // During a rotation: open what the old key sealed, seal with the new one.
                    Some(old) => sealer.with_previous(
                        &Sealer::from_base64(old.expose())
                            .map_err(|e| anyhow::anyhow!("XADS_OLD_ENCRYPTION_KEY: {e}"))?,
                    ),
                    None => sealer,
                }
            }
            None => {
                let path = std::path::Path::new("xads.key");
                tracing::warn!(path = %path.display(), "XADS_ENCRYPTION_KEY not set: using a generated key file (dry-run only)");
                Sealer::from_key_file(path).map_err(|e| {
                    anyhow::anyhow!("XADS_ENCRYPTION_KEY not set and key file unusable: {e}")
                })?
            }
        };
        let limiter = match &redis {
            Some(r) => {
                RateLimiter::builder()
                    .limit(config.rate_limit_per_minute)
                    .app_clock(clock.wall_clock())
                    .redis_with(r.manager())
                    .await
            }
            None => RateLimiter::builder()
                .limit(config.rate_limit_per_minute)
                .app_clock(clock.wall_clock())
                .in_process(),
        };
        let gate: Arc<dyn xads_client::RateGate> = Arc::new(limiter.clone());
        let callers = crate::web::limits::CallerSlots::new(config.limits.tenant_concurrency);
        Ok(AppState {
            services: Services::new(config, db, sealer, gate, clock)?,
            redis,
            limiter,
            keys: Default::default(),
            reports: Default::default(),
            callers,
        })
    }
}

/// A built service, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: AppState,
}

impl Application {
    /// Connects the database (migrating it), Redis when configured, and binds `config.bind`.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let bind = config.bind;
        let state = AppState::from_config(config).await?;
        // The bundled FX table, before anything syncs; rows stored before a bundled rate existed
        // get their USD here too.
        if let Err(e) = crate::sync::import_rates(&state, &crate::fx::bundled()).await {
            tracing::warn!(error = %e, "loading bundled FX rates failed");
        }
        let listener = TcpListener::bind(bind)
            .await
            .map_err(|e| anyhow::anyhow!("XADS_BIND: cannot listen on {bind}: {e}"))?;
        let metrics_listener = match state.config.metrics_bind {
            None => None,
            Some(addr) => match TcpListener::bind(addr).await {
                Ok(l) => Some(l),
                Err(e) if state.config.metrics_bind_explicit => {
                    anyhow::bail!("XADS_METRICS_BIND: cannot listen on {addr}: {e}")
                }
                Err(e) => {
                    // The default address is taken (another instance on this host): serve on.
                    tracing::warn!(%addr, error = %e, "metrics listener not started; set XADS_METRICS_BIND");
                    None
                }
            },
        };
        Ok(Application {
            listener,
            metrics_listener,
            state,
        })
    }

    /// The address actually bound (the port is chosen by the OS when configured as 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// The address of the operators' `/metrics` listener, when one is bound.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
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
        // The sync scheduler runs inside this future, so it stops with the server.
        let (stop_sync, sync_stopped) = tokio::sync::oneshot::channel::<()>();
        let scheduler_services = self.state.services.clone();
        let scheduler = async move {
            if scheduler_services.config.sync_scheduler {
                crate::sync::scheduler::run(scheduler_services, async move {
                    let _ = sync_stopped.await;
                })
                .await;
            }
        };
        // ECB's reference rates: fetched at start and daily, by whichever instance wins the day.
        let (stop_fx, fx_stopped) = tokio::sync::oneshot::channel::<()>();
        let fx_fetch = self.state.config.fx_url.clone().map(|url| {
            let services = self.state.services.clone();
            tokio::spawn(crate::sync::ecb::run_forever(services, url, async move {
                let _ = fx_stopped.await;
            }))
        });
        // Writes nobody holds any more (a crash, an unresolved execution) are reconciled with X
        // at start and then periodically: only intents whose lease lapsed are touched, so
        // another instance's write in progress is left alone.
        let recovery_state = self.state.clone();
        let recovery = tokio::spawn(async move {
            let leases = recovery_state.config.leases;
            let first = tokio::time::Instant::now()
                + if leases.recovery_at_start {
                    std::time::Duration::ZERO
                } else {
                    leases.recovery_every
                };
            let mut every = tokio::time::interval_at(first, leases.recovery_every);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                match crate::manage::recovery::run(&recovery_state).await {
                    Ok(r) if r == Default::default() => {}
                    Ok(r) => tracing::info!(
                        found = r.found,
                        not_found = r.not_found,
                        deferred = r.deferred,
                        "open writes reconciled"
                    ),
                    Err(e) => {
                        tracing::warn!(error = %e, "reconciling open writes failed; retried at the next pass")
                    }
                }
            }
        });
        // Housekeeping: expired idempotency keys and stale connect attempts, hourly.
        let housekeeping_state = self.state.clone();
        let housekeeping = tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                every.tick().await;
                let now = housekeeping_state.clock.now();
                let db = &housekeeping_state.db;
                let keys = crate::store::idempotency::sweep(db, now).await;
                let pending = crate::store::connections::sweep_pending(db, now).await;
                tracing::debug!(?keys, ?pending, "housekeeping");
            }
        });
        // The experiment runner: one tick per interval; slots are claimed in the database, so
        // every instance may run it.
        let runner = self.state.config.runner_interval.map(|every| {
            let services = self.state.services.clone();
            let holder = crate::store::new_id("runner");
            tokio::spawn(crate::experiments::runner::run_forever(
                services, holder, every,
            ))
        });
        // Backfills: this instance's worker claims new ones and those whose holder stopped; the
        // tasks it drives stop with it (then another instance resumes them).
        // Held by this future: dropped with it (an aborted instance), it aborts the worker, which
        // aborts the backfills it drives, as a crash would.
        let backfills = AbortOnDrop(tokio::spawn(crate::sync::backfill::worker(
            self.state.services.clone(),
        )));
        // Connections left in `error` by a failed probe are probed again in the background.
        let reprobe = tokio::spawn(crate::connect::reprobe_forever(self.state.services.clone()));
        let listener = self.listener;
        let limits = self.state.config.limits;
        // The operators' listener stops with the public one.
        let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
        let metrics = self.metrics_listener.map(|l| {
            if let Ok(addr) = l.local_addr() {
                tracing::info!(%addr, "metrics listening");
            }
            let router = crate::web::metrics::operator_router(self.state.clone());
            tokio::spawn(async move {
                let stopped = async move {
                    let _ = metrics_stopped.await;
                };
                if let Err(e) = crate::web::serve::serve(l, router, limits, stopped).await {
                    tracing::warn!(error = %e, "metrics listener failed");
                }
            })
        });
        let serve = async move {
            let served = crate::web::serve::serve(listener, router, limits, shutdown).await;
            let _ = stop_sync.send(());
            let _ = stop_metrics.send(());
            served
        };
        let served = tokio::join!(serve, scheduler).0;
        if let Some(r) = runner {
            r.abort();
        }
        let _ = stop_fx.send(());
        if let Some(f) = fx_fetch {
            let _ = f.await;
        }
        housekeeping.abort();
        recovery.abort();
        reprobe.abort();
        drop(backfills);
        if let Some(m) = metrics {
            let _ = m.await;
        }
        served?;
        self.state.db.close().await;
        tracing::info!("xads stopped");
        Ok(())
    }
}

/// A task aborted when this handle is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
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
