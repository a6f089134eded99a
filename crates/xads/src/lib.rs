//! xads: the X (Twitter) Ads integration of a Paid UA dashboard.

pub mod app;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod connect;
pub mod crypto;
pub mod db;
pub mod demo;
pub mod experiments;
pub mod fx;
pub mod keys;
pub mod lease;
pub mod limiter;
pub mod manage;
pub mod media;
pub mod pkce;
pub mod redis_conn;
pub mod services;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod testing;
pub mod ui;
pub mod web;
pub mod x;
