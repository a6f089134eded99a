//! The client's integration tests: one binary (link time matters on small machines).
//!
//! * `fixtures` — every JSON example X published parses into our wire types.
//! * `jobs` — asynchronous analytics jobs: X's fixtures, the calls on the wire, the streamed
//!   download of gzipped and plain result files.
//! * `requests`, `errors`, `retries`, `oauth`, `media` — against `stub`, a tiny local HTTP server
//!   that records what the client sent and answers from a script.

mod against_fake;
mod errors;
mod fixtures;
mod jobs;
mod logging;
mod media;
mod oauth;
mod oauth1;
mod props;
mod requests;
mod retries;
mod send;
mod stub;
mod vocab;
