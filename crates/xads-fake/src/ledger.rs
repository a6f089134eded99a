//! The request ledger: what the fake received, in order, so tests can assert exactly-once writes.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Bodies longer than this are stored truncated (the full length is kept in `body_len`).
pub const BODY_CAP: usize = 64 * 1024;

/// One received request.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LedgerEntry {
    /// 1-based order of arrival.
    pub seq: u64,
    /// Fake-clock time of arrival.
    pub at: DateTime<Utc>,
    /// HTTP method, upper case.
    pub method: String,
    /// Path without query.
    pub path: String,
    /// Raw query string (empty when none).
    pub query: String,
    /// Decoded query pairs.
    pub query_pairs: Vec<(String, String)>,
    /// Headers with lower-cased names, in arrival order.
    pub headers: Vec<(String, String)>,
    /// Body bytes, capped at [`BODY_CAP`].
    #[serde(skip)]
    pub body: Vec<u8>,
    /// Body as lossy UTF-8 (for the HTTP view).
    pub body_text: String,
    /// Full body length.
    pub body_len: usize,
    /// Status answered (`None` when the connection was dropped before any response was decided).
    pub status: Option<u16>,
    /// Name of the fault that fired on this request, if any.
    pub fault: Option<String>,
}

impl LedgerEntry {
    /// The first value of a header (name matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The last value of a query parameter.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query_pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether this was a write (POST/PUT/DELETE).
    pub fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "DELETE" | "PATCH")
    }
}

/// The ledger itself.
#[derive(Debug)]
pub struct Ledger {
    next_seq: u64,
    capacity: usize,
    entries: VecDeque<LedgerEntry>,
}

impl Ledger {
    /// An empty ledger keeping at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Ledger {
            next_seq: 0,
            capacity: capacity.max(1),
            entries: VecDeque::new(),
        }
    }

    /// Appends an entry and returns its seq.
    pub fn push(&mut self, mut e: LedgerEntry) -> u64 {
        self.next_seq += 1;
        e.seq = self.next_seq;
        if self.entries.len() >= self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(e);
        self.next_seq
    }

    /// Fills in the outcome of request `seq`.
    pub fn finish(&mut self, seq: u64, status: Option<u16>, fault: Option<String>) {
        if let Some(e) = self.entries.iter_mut().rev().find(|e| e.seq == seq) {
            e.status = status;
            if fault.is_some() {
                e.fault = fault;
            }
        }
    }

    /// A copy of all entries.
    pub fn entries(&self) -> Vec<LedgerEntry> {
        self.entries.iter().cloned().collect()
    }

    /// The entries, borrowed.
    pub fn entries_ref(&self) -> &VecDeque<LedgerEntry> {
        &self.entries
    }

    /// Forgets all entries (seq keeps counting).
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}
