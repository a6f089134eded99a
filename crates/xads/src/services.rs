//! What the domain may touch: [`Services`].
//!
//! The domain modules (`connect`, `x`, `manage`, `media`, `sync`, `experiments`) take a
//! `&Services` and nothing from the web layer: no request, no API-key cache, no Redis handle.
//! `app::AppState` (the web layer's state) holds a `Services` and adds what only serving needs.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::Sealer;
use crate::db::Db;

/// The domain's context: configuration, database, token sealer, the gateway to X and the clock.
/// Cheap to clone (every field is a handle).
#[derive(Clone)]
pub struct Services {
    /// The configuration read at start.
    pub config: Arc<Config>,
    /// The database (SQLite or PostgreSQL).
    pub db: Db,
    /// Seals tokens at rest.
    pub sealer: Sealer,
    /// The X client of the OAuth 2.0 app; every call passes the rate gate it was built with.
    pub x: xads_client::XAdsClient,
    /// The X client of the OAuth 1.0a app (its consumer key is the limiter's client id), when
    /// `X_ADS_CONSUMER_KEY` is set.
    pub x1: Option<xads_client::XAdsClient>,
    /// The service's clock (the only source of "now").
    pub clock: Clock,
    /// Wakes this instance's backfill worker when a backfill is recorded.
    pub backfill_wake: Arc<tokio::sync::Notify>,
    /// The mirror's list pages this instance read recently, valid while the tenant's mirror is
    /// unchanged.
    pub mirror_pages: crate::store::entities::PageCache,
}

impl Services {
    /// Builds the services over an open database: the X clients of the configured apps, each
    /// asking `gate` before every call to X, and `clock` as the domain's only source of "now".
    pub fn new(
        config: Config,
        db: Db,
        sealer: Sealer,
        gate: Arc<dyn xads_client::RateGate>,
        clock: Clock,
    ) -> anyhow::Result<Services> {
        let x = crate::x::build_client(&config, crate::x::oauth2_client_id(&config), gate.clone())?;
        let x1 = match &config.oauth1 {
            Some(app) => Some(crate::x::build_client(
                &config,
                app.consumer_key.clone(),
                gate,
            )?),
            None => None,
        };
        Ok(Services {
            config: Arc::new(config),
            db,
            sealer,
            x,
            x1,
            clock,
            backfill_wake: Arc::new(tokio::sync::Notify::new()),
            mirror_pages: Default::default(),
        })
    }

    /// True when writes go to X (`X_ADS_LIVE_MODE=true`); dry-run otherwise.
    pub fn live(&self) -> bool {
        self.config.live_mode
    }
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("db", &self.db.backend())
            .field("live_mode", &self.config.live_mode)
            .finish_non_exhaustive()
    }
}
