//! Typed client for the X Ads API v12 (and the X API v2 endpoints xads needs: OAuth 2.0 token and
//! revoke, chunked media upload).
//!
//! Build an [`XAdsClient`] once ([`XAdsClient::builder`]), then take a per-connection view with
//! [`XAdsClient::with_auth`] and call endpoints on the [`XAds`] it returns. Every call goes through
//! one request path that signs (per attempt), paces through the [`gate::RateGate`], parses X's
//! rate-limit headers and retries per [`RetryPolicy`]. Every error is an [`XError`].
//!
//! This crate knows nothing of our database, HTTP server or budget.

#![warn(missing_docs)]

pub mod auth;
mod config;
mod endpoints;
pub mod envelope;
pub mod error;
pub mod gate;
pub mod headers;
pub mod ids;
pub mod media;
pub mod models;
pub mod oauth1;
pub mod oauth1_flow;
pub mod oauth2;
pub mod params;
mod request;
pub mod result_file;
pub mod retry;
pub mod vocab;

pub use auth::{AuthKind, BearerSigner, BearerToken, Secret, SignableRequest, Signer};
pub use config::{
    DEFAULT_ADS_BASE_URL, DEFAULT_API_BASE_URL, DEFAULT_TIMEOUT, XAds, XAdsClient,
    XAdsClientBuilder,
};
pub use endpoints::{API_VERSION, JobResult, MAX_COUNT, MEDIA_LIBRARY_MAX_COUNT, paginate};
pub use envelope::XResponse;
pub use error::{ErrorClass, ErrorCode, XError, XErrorItem};
pub use gate::{EndpointFamily, GateError, LimitScope, NoGate, RateGate, RateKey, RateLimitInfo};
pub use oauth1::OAuth1Signer;
pub use oauth2::TokenResponse;
pub use params::{ListParams, Params, ToParams};
pub use request::CallOptions;
pub use retry::RetryPolicy;
