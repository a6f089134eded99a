//! Limiter tests (both backends).
