//! Rate limiting of calls to X (PRODUCT.md §4.6). Implements `xads_client::gate::RateGate`.
