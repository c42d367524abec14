//! [`Cache`]: a key-value cache shared by every interpreter and thread of the process, with
//! per-entry expiry and a size bound (least recently used entries go first), and the
//! process-wide registry of named caches ([`Cache::named`]).
//!
//! Values are [`Value`]s: each `set` stores a copy made by the caller's codec and each
//! `get` hands out the stored value for the caller to decode into a new object, so no
//! interpreter ever sees another's objects and nothing stored can be mutated in place.
//! Every operation takes one short lock; none blocks on anything else.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::Value;

/// Why [`Cache::incr`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncrError {
    /// No live entry under the key.
    #[error("key not found")]
    Missing,
    /// The entry is not a 64-bit integer.
    #[error("the value is not an integer")]
    NotAnInteger,
    /// The result does not fit in 64 bits (the entry is unchanged).
    #[error("the result does not fit in 64 bits")]
    Overflow,
}

/// Why [`Cache::named`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamedError {
    /// A cache of that name exists with another size bound or default timeout.
    #[error(
        "a cache named {name:?} exists with max_entries={max_entries} and default_timeout={default_timeout:?}"
    )]
    Conflict {
        /// The name.
        name: String,
        /// The existing cache's bound.
        max_entries: usize,
        /// The existing cache's default time to live.
        default_timeout: Option<Duration>,
    },
}

/// How long an entry lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// The cache's default timeout.
    Default,
    /// Until it is evicted or deleted.
    Forever,
    /// This long from now.
    After(Duration),
}

/// Counters of a cache's activity, a snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Live entries now (expired ones not yet swept may be counted).
    pub entries: usize,
    /// `get`s that found a live entry.
    pub hits: u64,
    /// `get`s that found nothing (or an expired entry).
    pub misses: u64,
    /// Entries dropped to stay within `max_entries`.
    pub evictions: u64,
}

/// One stored value.
#[derive(Debug)]
struct Entry {
    /// The value as the setter's codec encoded it; cloned out (an `Arc`) by `get`.
    value: Arc<Value>,
    /// When it stops being visible; `None`: never.
    expires: Option<Instant>,
    /// Its position in [`Inner::recency`] (unique; larger is more recent).
    tick: u64,
}

/// The state behind the lock.
#[derive(Debug, Default)]
struct Inner {
    /// Key → entry. Invariant: every entry's `tick` is a key of `recency` mapping back to
    /// the entry's key, and `recency` has no other keys.
    map: HashMap<String, Entry>,
    /// Tick → key, least recently used first.
    recency: BTreeMap<u64, String>,
    /// The next tick to hand out; only grows.
    next_tick: u64,
    /// Counters (see [`CacheStats`]).
    hits: u64,
    misses: u64,
    evictions: u64,
}

impl Inner {
    fn tick(&mut self) -> u64 {
        self.next_tick += 1;
        self.next_tick
    }

    /// The live entry under `key`, marked most recently used; an expired one is removed.
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut Entry> {
        let expired = match self.map.get(key) {
            None => return None,
            Some(e) => e.expires.is_some_and(|t| t <= now),
        };
        if expired {
            self.remove(key);
            return None;
        }
        let tick = self.tick();
        let entry = self.map.get_mut(key)?;
        self.recency.remove(&entry.tick);
        self.recency.insert(tick, key.to_owned());
        entry.tick = tick;
        Some(entry)
    }

    fn remove(&mut self, key: &str) -> Option<Entry> {
        let entry = self.map.remove(key)?;
        self.recency.remove(&entry.tick);
        Some(entry)
    }

    fn insert(&mut self, key: String, value: Arc<Value>, expires: Option<Instant>) {
        let tick = self.tick();
        self.remove(&key);
        self.recency.insert(tick, key.clone());
        self.map.insert(
            key,
            Entry {
                value,
                expires,
                tick,
            },
        );
    }

    /// Drop expired entries, then least recently used ones, until at most `max` remain.
    /// Returns the dropped values, to be released after the lock.
    fn shrink(&mut self, max: usize, now: Instant) -> Vec<Arc<Value>> {
        let mut dropped = Vec::new();
        if self.map.len() <= max {
            return dropped;
        }
        let expired: Vec<String> = self
            .map
            .iter()
            .filter(|(_, e)| e.expires.is_some_and(|t| t <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for k in expired {
            if let Some(e) = self.remove(&k) {
                dropped.push(e.value);
            }
        }
        while self.map.len() > max {
            let Some((_, key)) = self.recency.pop_first() else {
                break;
            };
            if let Some(e) = self.map.remove(&key) {
                self.evictions += 1;
                dropped.push(e.value);
            }
        }
        dropped
    }
}

/// A cache shared by every interpreter and thread (see the module docs).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use manygil_core::{cache::{Cache, Ttl}, Value};
///
/// let c = Cache::new(2, None);
/// c.set("a".into(), Value::Int(1), Ttl::Default);
/// c.set("b".into(), Value::Int(2), Ttl::After(Duration::from_secs(60)));
/// assert_eq!(c.get("a").as_deref(), Some(&Value::Int(1))); // "a" is now the most recent
/// c.set("c".into(), Value::Int(3), Ttl::Forever); // over the bound: "b", least recently used, goes
/// assert!(c.get("b").is_none());
/// assert_eq!(c.incr("a", 41), Ok(42));
/// ```
#[derive(Debug)]
pub struct Cache {
    /// Entries and counters; held only for one operation, never while calling out.
    inner: Mutex<Inner>,
    /// At most this many entries; fixed.
    max_entries: usize,
    /// Time to live of an entry set without a timeout; fixed (`None`: forever).
    default_timeout: Option<Duration>,
}

impl Cache {
    /// An empty cache of at most `max_entries` entries (at least 1), whose entries live
    /// `default_timeout` unless set with their own (`None`: until evicted or deleted).
    pub fn new(max_entries: usize, default_timeout: Option<Duration>) -> Self {
        Cache {
            inner: Mutex::new(Inner::default()),
            max_entries: max_entries.max(1),
            default_timeout,
        }
    }

    /// The process-wide cache called `name`, made with these settings on first use; every
    /// interpreter asking for the same name gets the same cache.
    ///
    /// # Errors
    ///
    /// [`NamedError::Conflict`] if it exists with other settings.
    pub fn named(
        name: &str,
        max_entries: usize,
        default_timeout: Option<Duration>,
    ) -> Result<Arc<Cache>, NamedError> {
        static NAMED: OnceLock<Mutex<HashMap<String, Arc<Cache>>>> = OnceLock::new();
        let mut named = NAMED.get_or_init(Default::default).lock();
        if let Some(c) = named.get(name) {
            if c.max_entries != max_entries.max(1) || c.default_timeout != default_timeout {
                return Err(NamedError::Conflict {
                    name: name.to_owned(),
                    max_entries: c.max_entries,
                    default_timeout: c.default_timeout,
                });
            }
            return Ok(c.clone());
        }
        let c = Arc::new(Cache::new(max_entries, default_timeout));
        named.insert(name.to_owned(), c.clone());
        Ok(c)
    }

    /// The size bound.
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// The default time to live.
    pub fn default_timeout(&self) -> Option<Duration> {
        self.default_timeout
    }

    fn expiry(&self, ttl: Ttl, now: Instant) -> Option<Instant> {
        let ttl = match ttl {
            Ttl::Default => self.default_timeout,
            Ttl::Forever => None,
            Ttl::After(t) => Some(t),
        };
        // A deadline too far to represent is no deadline.
        ttl.and_then(|t| now.checked_add(t))
    }

    /// The value under `key`, if live (it becomes the most recently used).
    pub fn get(&self, key: &str) -> Option<Arc<Value>> {
        let now = Instant::now();
        let mut inner = self.inner.lock();
        let found = inner.live(key, now).map(|e| e.value.clone());
        if found.is_some() {
            inner.hits += 1;
        } else {
            inner.misses += 1;
        }
        found
    }

    /// Store `value` under `key` for `ttl`.
    pub fn set(&self, key: String, value: Value, ttl: Ttl) {
        let now = Instant::now();
        let expires = self.expiry(ttl, now);
        let dropped = {
            let mut inner = self.inner.lock();
            inner.insert(key, Arc::new(value), expires);
            inner.shrink(self.max_entries, now)
        };
        drop(dropped);
    }

    /// Store `value` under `key` only if no live entry is there; returns whether it did.
    pub fn add(&self, key: String, value: Value, ttl: Ttl) -> bool {
        let now = Instant::now();
        let expires = self.expiry(ttl, now);
        let dropped = {
            let mut inner = self.inner.lock();
            if inner.live(&key, now).is_some() {
                return false;
            }
            inner.insert(key, Arc::new(value), expires);
            inner.shrink(self.max_entries, now)
        };
        drop(dropped);
        true
    }

    /// Remove `key`; returns whether a live entry was there.
    pub fn delete(&self, key: &str) -> bool {
        let now = Instant::now();
        let removed = {
            let mut inner = self.inner.lock();
            let live = inner.live(key, now).is_some();
            (live, inner.remove(key))
        };
        removed.0
    }

    /// Give a live entry a new time to live; returns whether one was there.
    pub fn touch(&self, key: &str, ttl: Ttl) -> bool {
        let now = Instant::now();
        let expires = self.expiry(ttl, now);
        let mut inner = self.inner.lock();
        match inner.live(key, now) {
            Some(e) => {
                e.expires = expires;
                true
            }
            None => false,
        }
    }

    /// Add `delta` to the integer under `key` atomically; returns the new value (the
    /// entry keeps its expiry).
    ///
    /// # Errors
    ///
    /// [`IncrError`] if there is no live entry, it is not a 64-bit integer, or the sum
    /// overflows (the entry is then unchanged).
    pub fn incr(&self, key: &str, delta: i64) -> Result<i64, IncrError> {
        let now = Instant::now();
        let mut inner = self.inner.lock();
        let entry = inner.live(key, now).ok_or(IncrError::Missing)?;
        let Value::Int(current) = *entry.value else {
            return Err(IncrError::NotAnInteger);
        };
        let new = current.checked_add(delta).ok_or(IncrError::Overflow)?;
        entry.value = Arc::new(Value::Int(new));
        Ok(new)
    }

    /// Remove every entry.
    pub fn clear(&self) {
        let old = {
            let mut inner = self.inner.lock();
            inner.recency.clear();
            std::mem::take(&mut inner.map)
        };
        drop(old);
    }

    /// Counters, a snapshot.
    pub fn stats(&self) -> CacheStats {
        let inner = self.inner.lock();
        CacheStats {
            entries: inner.map.len(),
            hits: inner.hits,
            misses: inner.misses,
            evictions: inner.evictions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_entries_are_gone_and_touch_extends() {
        let c = Cache::new(10, None);
        c.set("k".into(), Value::Int(1), Ttl::After(Duration::ZERO));
        assert!(c.get("k").is_none(), "a zero timeout expires at once");
        c.set(
            "k".into(),
            Value::Int(1),
            Ttl::After(Duration::from_secs(3600)),
        );
        assert!(c.touch("k", Ttl::After(Duration::ZERO)));
        assert!(c.get("k").is_none());
        assert!(!c.touch("k", Ttl::Default));
    }

    #[test]
    fn add_only_when_absent_and_delete_says_whether() {
        let c = Cache::new(10, None);
        assert!(c.add("k".into(), Value::Int(1), Ttl::Default));
        assert!(!c.add("k".into(), Value::Int(2), Ttl::Default));
        assert_eq!(c.get("k").as_deref(), Some(&Value::Int(1)));
        assert!(c.delete("k"));
        assert!(!c.delete("k"));
    }

    #[test]
    fn incr_errors_leave_the_entry() {
        let c = Cache::new(10, None);
        assert_eq!(c.incr("n", 1), Err(IncrError::Missing));
        c.set("s".into(), Value::Str("x".into()), Ttl::Default);
        assert_eq!(c.incr("s", 1), Err(IncrError::NotAnInteger));
        c.set("n".into(), Value::Int(i64::MAX), Ttl::Default);
        assert_eq!(c.incr("n", 1), Err(IncrError::Overflow));
        assert_eq!(c.get("n").as_deref(), Some(&Value::Int(i64::MAX)));
    }

    #[test]
    fn the_bound_evicts_least_recently_used_and_counts() {
        let c = Cache::new(3, None);
        for i in 0..3 {
            c.set(format!("k{i}"), Value::Int(i), Ttl::Default);
        }
        assert!(c.get("k0").is_some()); // k1 is now the least recently used
        c.set("k3".into(), Value::Int(3), Ttl::Default);
        assert!(c.get("k1").is_none());
        let s = c.stats();
        assert_eq!((s.entries, s.evictions, s.hits, s.misses), (3, 1, 1, 1));
    }

    #[test]
    fn default_timeout_applies_unless_forever() {
        let c = Cache::new(10, Some(Duration::ZERO));
        c.set("d".into(), Value::Int(1), Ttl::Default);
        c.set("f".into(), Value::Int(2), Ttl::Forever);
        assert!(c.get("d").is_none());
        assert!(c.get("f").is_some());
    }

    #[test]
    fn named_caches_are_shared_and_settings_must_agree() {
        let a = Cache::named("core-test", 5, None).unwrap();
        let b = Cache::named("core-test", 5, None).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(matches!(
            Cache::named("core-test", 6, None),
            Err(NamedError::Conflict { .. })
        ));
    }
}
