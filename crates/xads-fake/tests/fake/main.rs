//! Integration tests of the fake X, driven over HTTP with reqwest.

mod batch;
mod entities;
mod faults;
mod jobs;
mod media;
mod oauth;
mod oauth1;
mod ratelimit;
mod scale;
mod stats;
mod support;
mod time;
mod x_examples;
