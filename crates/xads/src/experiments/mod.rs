//! Creative experiments (PRODUCT.md §4.8): one campaign, one line item per variant.

pub mod schedule;
pub mod stats;
