//! An in-process cache of values read from the database, each kept under the versions of the
//! rows it was read from.
//!
//! The database keeps a version per scope (an account's stats, a tenant's mirror), moved in the
//! transaction of every write to that scope, so versions only grow. A reader reads the versions
//! first, then the value: the value is at least as new as those versions, whichever instance
//! wrote. A later request is answered from here only when the cached value's versions are at
//! least those it read itself, so no instance answers older than what any instance had committed
//! before the request began. Users: the Reports page's figures (`ui::ReportCache`) and the
//! mirror's list pages (`store::entities::PageCache`).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// Values by key, each with the versions it was read at; at most `max` keys (past that it starts
/// over: it only saves reads). Cheap to clone (a handle).
#[derive(Debug)]
pub struct Versioned<K, T> {
    entries: Arc<Mutex<HashMap<K, Entry<T>>>>,
    /// One turn per key to read its value: requests that miss together (the readers of a key
    /// right after a write) wait for the first one's value instead of each reading it.
    flights: Arc<Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>>,
    max: usize,
}

#[derive(Debug)]
struct Entry<T> {
    versions: Vec<i64>,
    value: Arc<T>,
}

impl<K, T> Clone for Versioned<K, T> {
    fn clone(&self) -> Self {
        Versioned {
            entries: self.entries.clone(),
            flights: self.flights.clone(),
            max: self.max,
        }
    }
}

/// Whether a value read at `cached` is at least as new as a request that read `wanted`:
/// versions only grow, so each must be at least the request's.
fn covers(cached: &[i64], wanted: &[i64]) -> bool {
    cached.len() == wanted.len() && cached.iter().zip(wanted).all(|(c, w)| c >= w)
}

impl<K: Clone + Eq + Hash, T> Versioned<K, T> {
    /// An empty cache of at most `max` keys.
    pub fn new(max: usize) -> Self {
        Versioned {
            entries: Arc::default(),
            flights: Arc::default(),
            max,
        }
    }

    /// `key`'s value, when it was read at versions at least `wanted`.
    pub fn get(&self, key: &K, wanted: &[i64]) -> Option<Arc<T>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|e| covers(&e.versions, wanted))
            .map(|e| e.value.clone())
    }

    /// Keeps `value`, read at `versions` (read before it), unless a value at least as new is
    /// already kept.
    pub fn put(&self, key: K, versions: Vec<i64>, value: Arc<T>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.max && !entries.contains_key(&key) {
            entries.clear();
        }
        if entries
            .get(&key)
            .is_some_and(|e| covers(&e.versions, &versions))
        {
            return;
        }
        entries.insert(key, Entry { versions, value });
    }

    /// The turn of `key`'s readers: hold its lock while reading, then look again before reading.
    pub fn flight(&self, key: &K) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        if flights.len() >= self.max && !flights.contains_key(key) {
            // Those in flight keep their turn; a newcomer of theirs may read beside them.
            flights.clear();
        }
        flights.entry(key.clone()).or_default().clone()
    }

    /// `key`'s value at versions at least `wanted`: from here, or read by `read` — one reader
    /// per key at a time; who waited takes the value its predecessor read when it is new enough.
    /// `read` answers the value and whether to keep it; an error is passed on, nothing kept.
    pub async fn get_or_read<E, F>(&self, key: K, wanted: Vec<i64>, read: F) -> Result<Arc<T>, E>
    where
        F: std::future::Future<Output = Result<(T, bool), E>>,
    {
        if let Some(hit) = self.get(&key, &wanted) {
            return Ok(hit);
        }
        let flight = self.flight(&key);
        let _turn = flight.lock().await;
        if let Some(hit) = self.get(&key, &wanted) {
            return Ok(hit);
        }
        let (value, keep) = read.await?;
        let value = Arc::new(value);
        if keep {
            self.put(key, wanted, value.clone());
        }
        Ok(value)
    }
}

/// Reads of a value by key, shared between the requests that wait for one together, without
/// ever answering a request with a read that began before it did.
///
/// At most one read per key is in flight. The requests that arrive while it runs join the next
/// read, which starts when the running one ends, and share its answer: each answer was read
/// after every request it answers arrived, so it is as new as a read of each request's own (the
/// versions a [`Versioned`] cache is checked against stay exact), while 50 concurrent requests
/// cost a few reads instead of 50. Bounded in keys (past that it starts over: only sharing is
/// lost). Cheap to clone (a handle).
#[derive(Debug)]
pub struct SharedReads<K, V> {
    lanes: Arc<Mutex<HashMap<K, Arc<Lane<V>>>>>,
    max: usize,
}

/// One key's reads: the lock the running read holds, and the read still open to joiners.
#[derive(Debug)]
struct Lane<V> {
    running: tokio::sync::Mutex<()>,
    open: Mutex<Option<Arc<tokio::sync::OnceCell<V>>>>,
}

impl<V> Default for Lane<V> {
    fn default() -> Self {
        Lane {
            running: tokio::sync::Mutex::new(()),
            open: Mutex::new(None),
        }
    }
}

impl<K, V> Clone for SharedReads<K, V> {
    fn clone(&self) -> Self {
        SharedReads {
            lanes: self.lanes.clone(),
            max: self.max,
        }
    }
}

impl<K: Clone + Eq + Hash, V: Clone> SharedReads<K, V> {
    /// No reads yet; at most `max` keys remembered.
    pub fn new(max: usize) -> Self {
        SharedReads {
            lanes: Arc::default(),
            max,
        }
    }

    /// `key`'s value as `read` reads it, by a read that starts after this call began: this
    /// call's own `read`, or the one it joined. A failed read is tried again by a caller that
    /// waited for it (each with its own `read`); its error goes to the caller that ran it.
    pub async fn read<E, F, Fut>(&self, key: &K, read: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<V, E>>,
    {
        let lane = {
            let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
            if lanes.len() >= self.max && !lanes.contains_key(key) {
                lanes.clear();
            }
            lanes.entry(key.clone()).or_default().clone()
        };
        let joined = lane
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(Default::default)
            .clone();
        let value = joined
            .get_or_try_init(|| async {
                // Wait for the running read; then close this one to newcomers (they arrive
                // after it starts, so they wait for the next) and read.
                let _running = lane.running.lock().await;
                {
                    let mut open = lane.open.lock().unwrap_or_else(|p| p.into_inner());
                    if open.as_ref().is_some_and(|o| Arc::ptr_eq(o, &joined)) {
                        *open = None;
                    }
                }
                read().await
            })
            .await?;
        Ok(value.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_answers_only_requests_that_read_versions_it_covers() {
        let c: Versioned<&str, u32> = Versioned::new(8);
        c.put("a", vec![3, 5], Arc::new(1));
        assert_eq!(c.get(&"a", &[3, 5]).as_deref(), Some(&1));
        assert_eq!(c.get(&"a", &[2, 5]).as_deref(), Some(&1));
        assert_eq!(c.get(&"a", &[4, 5]), None, "one scope moved on");
        assert_eq!(c.get(&"a", &[3]), None, "other scopes");
        assert_eq!(c.get(&"b", &[0, 0]), None);
        // An older value never replaces a newer one.
        c.put("a", vec![2, 5], Arc::new(2));
        assert_eq!(c.get(&"a", &[3, 5]).as_deref(), Some(&1));
        c.put("a", vec![4, 5], Arc::new(3));
        assert_eq!(c.get(&"a", &[4, 5]).as_deref(), Some(&3));
    }

    #[test]
    fn past_its_size_it_starts_over() {
        let c: Versioned<u32, u32> = Versioned::new(2);
        c.put(1, vec![1], Arc::new(1));
        c.put(2, vec![1], Arc::new(2));
        c.put(2, vec![2], Arc::new(2));
        assert!(
            c.get(&1, &[1]).is_some(),
            "replacing a key does not start over"
        );
        c.put(3, vec![1], Arc::new(3));
        assert!(c.get(&1, &[1]).is_none() && c.get(&2, &[1]).is_none());
        assert!(c.get(&3, &[1]).is_some());
    }

    #[tokio::test]
    async fn readers_that_miss_together_read_once_and_errors_are_not_kept() {
        let c: Versioned<&str, u32> = Versioned::new(8);
        let reads = std::sync::atomic::AtomicU32::new(0);
        let read = || async {
            reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok::<_, ()>((7, true))
        };
        let (a, b) = tokio::join!(
            c.get_or_read("k", vec![1], read()),
            c.get_or_read("k", vec![1], read())
        );
        assert_eq!((*a.unwrap(), *b.unwrap()), (7, 7));
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 1);
        let failed = c
            .get_or_read("e", vec![1], async { Err::<(u32, bool), _>("down") })
            .await;
        assert_eq!(failed.unwrap_err(), "down");
        assert!(c.get(&"e", &[1]).is_none());
        // A value read but not to be kept is answered and not kept.
        let v = c
            .get_or_read("n", vec![1], async { Ok::<_, ()>((9, false)) })
            .await;
        assert_eq!(*v.unwrap(), 9);
        assert!(c.get(&"n", &[1]).is_none());
    }

    /// Callers that arrive while a read runs share the next read, never the running one: each
    /// answer is the value at a read that began after its caller arrived.
    #[tokio::test]
    async fn shared_reads_answer_each_caller_with_a_read_that_began_after_it_arrived() {
        use std::sync::atomic::{AtomicI64, Ordering::SeqCst};
        let reads: SharedReads<&str, i64> = SharedReads::new(8);
        // The value: how many reads have begun (a write before each read).
        let begun = Arc::new(AtomicI64::new(0));
        let (release, gate) = tokio::sync::watch::channel(0);
        let read = |gate: tokio::sync::watch::Receiver<i64>, begun: Arc<AtomicI64>| async move {
            let n = begun.fetch_add(1, SeqCst) + 1;
            let mut gate = gate;
            gate.wait_for(|g| *g >= n).await.unwrap();
            Ok::<_, ()>(n)
        };
        // The first caller's read begins and is held.
        let first = tokio::spawn({
            let (reads, gate, begun) = (reads.clone(), gate.clone(), begun.clone());
            async move { reads.read(&"k", || read(gate, begun)).await }
        });
        while begun.load(SeqCst) < 1 {
            tokio::task::yield_now().await;
        }
        // Ten callers arrive while it runs: none may take its answer.
        let later: Vec<_> = (0..10)
            .map(|_| {
                let (reads, gate, begun) = (reads.clone(), gate.clone(), begun.clone());
                tokio::spawn(async move { reads.read(&"k", || read(gate, begun)).await })
            })
            .collect();
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        assert_eq!(begun.load(SeqCst), 1, "one read at a time per key");
        release.send(1).unwrap();
        assert_eq!(first.await.unwrap(), Ok(1));
        release.send(2).unwrap();
        for l in later {
            assert_eq!(l.await.unwrap(), Ok(2), "the read after they arrived");
        }
        assert_eq!(begun.load(SeqCst), 2, "the ten shared one read");
        // Another key reads on its own; a failed read is tried again by a waiter.
        let other = reads.read(&"other", || async { Ok::<_, ()>(7) }).await;
        assert_eq!(other, Ok(7));
        let failing = reads.read(&"f", || async { Err::<i64, _>("down") }).await;
        assert_eq!(failing, Err("down"));
        assert_eq!(reads.read(&"f", || async { Ok::<_, &str>(3) }).await, Ok(3));
    }
}
