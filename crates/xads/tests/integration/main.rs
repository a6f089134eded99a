//! The one integration-test binary of the `xads` crate (link time matters on 2 cores).

mod limiter;
