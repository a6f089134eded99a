//! Integration tests of the fake X, driven over HTTP with reqwest.

mod support;
