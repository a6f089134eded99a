//! The one integration-test binary of the `xads` crate (link time matters on 2 cores).

mod limiter;
mod server;
mod storage;

/// An HTTP client for talking to the service under test (no redirects followed).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}
