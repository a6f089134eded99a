//! A faithful, stateful fake of the X Ads API v12, X's OAuth 2.0 endpoints and X API v2 media
//! upload, with fault injection and a request ledger.
//!
//! Start one with [`FakeX::start`]; it serves the Ads API (`/12/...`) and api.x.com
//! (`/2/...`, `/i/oauth2/authorize`) on one loopback port, plus test controls under `/__fake/...`.
//! Every control is also a method on [`FakeState`] (which `FakeX` dereferences to).

#![warn(missing_docs)]

pub mod auth;
pub mod cdn;
pub mod config;
pub mod control;
pub mod entities;
pub mod envelope;
pub mod faults;
pub mod ids;
pub mod jobs;
pub mod ledger;
pub mod media;
pub mod model;
pub mod oauth1;
pub mod oauth2;
pub mod ratelimit;
pub mod seed;
pub mod server;
pub mod state;
pub mod stats;
pub mod time;

pub use config::{FakeConfig, Limit, RateLimitConfig};
pub use faults::{FaultKind, FaultRule};
pub use jobs::JobSettings;
pub use ledger::LedgerEntry;
pub use model::{Account, Campaign, FundingInstrument, LineItem, MediaItem, PromotedTweet, Tweet};
pub use oauth2::{FamilyRevocation, OAuthCounters, TokenPair, s256_challenge};
pub use seed::{SeedAccount, SeedInfo, USD_ACCOUNT_ID};
pub use server::{FakeX, router};
pub use state::{EntityCounts, FakeState};
pub use stats::{
    HourMetrics, SegmentDef, hourly_metrics, is_app_objective, segments_of, split_hour,
};
