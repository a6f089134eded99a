//! Typed client for the X Ads API v12 (and the X API v2 endpoints xads needs).

pub mod gate;
