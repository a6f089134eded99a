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

use tokio::sync::watch;

/// Values by key, each with the versions it was read at; at most `max` keys (past that it starts
/// over: it only saves reads). Cheap to clone (a handle).
#[derive(Debug)]
pub struct Versioned<K, T> {
    entries: Arc<Mutex<HashMap<K, Entry<T>>>>,
    /// One turn per key to read its value: requests that miss together (the readers of a key
    /// right after a write) wait for the first one's value instead of each reading it. The turn
    /// holds the last value read and not kept, for those waiting then.
    flights: Arc<Mutex<HashMap<K, Flight<T>>>>,
    max: usize,
}

type Flight<T> = Arc<tokio::sync::Mutex<Option<Entry<T>>>>;

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
    fn get(&self, key: &K, wanted: &[i64]) -> Option<Arc<T>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|e| covers(&e.versions, wanted))
            .map(|e| e.value.clone())
    }

    /// Keeps `value`, read at `versions` (read before it), unless a value at least as new is
    /// already kept.
    fn put(&self, key: K, versions: Vec<i64>, value: Arc<T>) {
        // Declared first, so dropped after the lock: a full cache can hold tens of megabytes.
        let mut _full = HashMap::new();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.max && !entries.contains_key(&key) {
            _full = std::mem::take(&mut *entries);
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
    fn flight(&self, key: &K) -> Flight<T> {
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
        let mut last = flight.lock().await;
        if let Some(hit) = self.get(&key, &wanted) {
            return Ok(hit);
        }
        if let Some(e) = last.as_ref().filter(|e| covers(&e.versions, &wanted)) {
            let value = e.value.clone();
            if Arc::strong_count(&flight) <= 2 {
                *last = None;
            }
            return Ok(value);
        }
        let (value, keep) = read.await?;
        let value = Arc::new(value);
        // A value not kept is handed to those who wait for this turn (the map holds one count,
        // this caller another) when it is new enough; any other path lets the last one go.
        *last = (!keep && Arc::strong_count(&flight) > 2).then(|| Entry {
            versions: wanted.clone(),
            value: value.clone(),
        });
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
/// cost a few reads instead of 50. When the shared read fails (or its caller goes away), each
/// request that joined it reads on its own, at once. Bounded in keys (past that it starts over:
/// only sharing is lost). Cheap to clone (a handle).
#[derive(Debug)]
pub struct SharedReads<K, V> {
    lanes: Arc<Mutex<HashMap<K, Arc<Lane<V>>>>>,
    max: usize,
}

/// One key's reads: the lock the running read holds, and the answer of the read still open to
/// joiners (`None` until it is read).
#[derive(Debug)]
struct Lane<V> {
    running: tokio::sync::Mutex<()>,
    open: Mutex<Option<watch::Receiver<Option<V>>>>,
}

impl<V> Default for Lane<V> {
    fn default() -> Self {
        Lane {
            running: tokio::sync::Mutex::new(()),
            open: Mutex::new(None),
        }
    }
}

impl<V> Lane<V> {
    /// Closes the open read if it is `rx`'s: who comes next starts another.
    fn close(&self, rx: &watch::Receiver<Option<V>>) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.as_ref().is_some_and(|o| o.same_channel(rx)) {
            *open = None;
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

    /// `key`'s value as `read` reads it, by a read that starts after this call began: the open
    /// read this call joined, or its own.
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
        // Join the open read, or open one and run it.
        let (run, mut rx) = {
            let mut open = lane.open.lock().unwrap_or_else(|p| p.into_inner());
            match open.as_ref() {
                Some(rx) => (None, rx.clone()),
                None => {
                    let (tx, rx) = watch::channel(None);
                    *open = Some(rx.clone());
                    (Some(tx), rx)
                }
            }
        };
        let Some(tx) = run else {
            if let Ok(answer) = rx.wait_for(Option::is_some).await
                && let Some(v) = answer.as_ref()
            {
                return Ok(v.clone());
            }
            // The shared read failed or its caller went away (its sender is gone): read alone.
            lane.close(&rx);
            return read().await;
        };
        // Wait for the running read; then close this one to newcomers (they arrived after it
        // starts, so they wait for the next) and read.
        let _running = lane.running.lock().await;
        lane.close(&rx);
        let value = read().await?;
        tx.send_replace(Some(value.clone()));
        Ok(value)
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

    /// A bound on a test's waits: a wrong implementation fails instead of hanging.
    async fn soon<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(std::time::Duration::from_secs(10), f)
            .await
            .expect("finished in time")
    }

    /// Yields until `cond` holds (other tasks on this runtime run meanwhile).
    async fn until(cond: impl Fn() -> bool) {
        soon(async {
            while !cond() {
                tokio::task::yield_now().await;
            }
        })
        .await
    }

    /// Callers that arrive while a read runs share the next read, never the running one: each
    /// answer is the value at a read that began after its caller arrived.
    #[tokio::test]
    async fn shared_reads_answer_each_caller_with_a_read_that_began_after_it_arrived() {
        use std::sync::atomic::{AtomicI64, Ordering::SeqCst};
        let reads: SharedReads<&str, i64> = SharedReads::new(8);
        // The value: how many reads have begun (a write before each read). A read ends when
        // the gate reaches its number.
        let begun = Arc::new(AtomicI64::new(0));
        let (release, gate) = tokio::sync::watch::channel(0);
        let read = |gate: tokio::sync::watch::Receiver<i64>, begun: Arc<AtomicI64>| async move {
            let n = begun.fetch_add(1, SeqCst) + 1;
            let mut gate = gate;
            gate.wait_for(|g| *g >= n).await.unwrap();
            Ok::<_, ()>(n)
        };
        let call = || {
            let (reads, gate, begun) = (reads.clone(), gate.clone(), begun.clone());
            tokio::spawn(async move { reads.read(&"k", || read(gate, begun)).await })
        };
        // The first caller's read begins and is held.
        let first = call();
        until(|| begun.load(SeqCst) == 1).await;
        // Ten callers arrive while it runs: none may take its answer.
        let later: Vec<_> = (0..10).map(|_| call()).collect();
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        assert_eq!(begun.load(SeqCst), 1, "one read at a time per key");
        release.send(1).unwrap();
        assert_eq!(soon(first).await.unwrap(), Ok(1));
        release.send(2).unwrap();
        for l in later {
            assert_eq!(soon(l).await.unwrap(), Ok(2), "the read after they arrived");
        }
        assert_eq!(begun.load(SeqCst), 2, "the ten shared one read");
        // Another key reads on its own.
        let other = reads.read(&"other", || async { Ok::<_, ()>(7) }).await;
        assert_eq!(other, Ok(7));
    }

    /// When the shared read fails, or its caller goes away mid-read, those who joined it read
    /// on their own at once (not one after another), and later callers share reads again.
    #[tokio::test]
    async fn a_failed_or_abandoned_shared_read_leaves_each_joiner_to_read_alone() {
        use std::sync::atomic::{AtomicI64, Ordering::SeqCst};
        let reads: SharedReads<&str, i64> = SharedReads::new(8);
        let (release, gate) = tokio::sync::watch::channel(false);
        let held = Arc::new(AtomicI64::new(0));
        // A first read is held until released: the next callers wait for the next read.
        let first = tokio::spawn({
            let (reads, held, mut gate) = (reads.clone(), held.clone(), gate.clone());
            async move {
                reads
                    .read(&"k", || async move {
                        held.fetch_add(1, SeqCst);
                        gate.wait_for(|g| *g).await.unwrap();
                        Ok::<i64, &str>(1)
                    })
                    .await
            }
        });
        until(|| held.load(SeqCst) == 1).await;
        // The caller that opens the next read fails it.
        let failing = tokio::spawn({
            let reads = reads.clone();
            async move { reads.read(&"k", || async { Err::<i64, _>("down") }).await }
        });
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        // Two join it; after its failure each reads alone, both at once (each read waits for
        // the other to have begun).
        let alone = Arc::new(AtomicI64::new(0));
        let joiners: Vec<_> = (0..2)
            .map(|i| {
                let (reads, alone) = (reads.clone(), alone.clone());
                tokio::spawn(async move {
                    reads
                        .read(&"k", || async move {
                            alone.fetch_add(1, SeqCst);
                            until(|| alone.load(SeqCst) >= 2).await;
                            Ok::<_, &str>(10 + i)
                        })
                        .await
                })
            })
            .collect();
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        release.send(true).unwrap();
        assert_eq!(soon(first).await.unwrap(), Ok(1));
        assert_eq!(soon(failing).await.unwrap(), Err("down"));
        let mut answers = Vec::new();
        for j in joiners {
            answers.push(soon(j).await.unwrap());
        }
        assert_eq!(answers, [Ok(10), Ok(11)], "each its own read");

        // A caller dropped mid-read: the one who joined it reads alone; later ones share again.
        let (_release2, gate2) = tokio::sync::watch::channel(false);
        let abandoned = tokio::spawn({
            let (reads, mut gate2) = (reads.clone(), gate2.clone());
            async move {
                reads
                    .read(&"a", || async move {
                        gate2.wait_for(|g| *g).await.unwrap();
                        Ok::<i64, ()>(0)
                    })
                    .await
            }
        });
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        let joiner = tokio::spawn({
            let reads = reads.clone();
            async move { reads.read(&"a", || async { Ok::<i64, ()>(5) }).await }
        });
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        abandoned.abort();
        assert_eq!(soon(joiner).await.unwrap(), Ok(5));
        assert_eq!(
            soon(reads.read(&"a", || async { Ok::<i64, ()>(6) })).await,
            Ok(6)
        );
    }

    /// A value read but not kept (too large, or a failed part) is still handed to the readers
    /// that waited for that turn, when it is new enough for them; not to later ones.
    #[tokio::test]
    async fn a_read_not_kept_answers_those_who_waited_for_it() {
        use std::sync::atomic::{AtomicI64, Ordering::SeqCst};
        let c: Versioned<&str, i64> = Versioned::new(8);
        let reads = Arc::new(AtomicI64::new(0));
        let (release, gate) = tokio::sync::watch::channel(false);
        let call = |wanted: i64| {
            let (c, reads, mut gate) = (c.clone(), reads.clone(), gate.clone());
            tokio::spawn(async move {
                c.get_or_read("k", vec![wanted], async move {
                    let n = reads.fetch_add(1, SeqCst) + 1;
                    gate.wait_for(|g| *g).await.unwrap();
                    Ok::<_, ()>((n, false))
                })
                .await
                .map(|v| *v)
            })
        };
        let first = call(1);
        until(|| reads.load(SeqCst) == 1).await;
        let same = call(1);
        let newer = call(2);
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        release.send(true).unwrap();
        assert_eq!(soon(first).await.unwrap(), Ok(1));
        assert_eq!(soon(same).await.unwrap(), Ok(1), "it waited for that read");
        assert_eq!(soon(newer).await.unwrap(), Ok(2), "too old for it");
        assert_eq!(reads.load(SeqCst), 2);
        assert_eq!(
            soon(c.get_or_read("k", vec![1], async { Ok::<_, ()>((9, false)) })).await,
            Ok(Arc::new(9)),
            "nothing kept for later readers"
        );
    }
}
