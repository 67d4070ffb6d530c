//! The persistent upload queue: a bounded FIFO of [`Event`]s kept in one [`Storage`] value.
//!
//! **Encoding.** One value under [`QUEUE_KEY`]: a version byte ([`QUEUE_FORMAT`]) followed by
//! JSON `{"dropped": n, "rejected": n, "events": [...]}` — the events in their wire form, so the
//! browser's storage inspector shows what is pending. The counters live in the same value, so
//! every change (an event queued, events acknowledged, an overflow) is one atomic `put`: after a
//! failed write the previous queue is still what storage holds, never half of it.
//!
//! **Write-ahead for additions, memory-first for removals.** [`EventQueue::push`] encodes the
//! new state, writes it, and only then changes memory: when the write fails (quota), the event
//! was not queued and the caller hears so. [`EventQueue::remove`] changes memory (the server
//! already has those events) and [`EventQueue::save`] writes afterwards; if that write fails,
//! storage still holds them and a later reload re-sends them — harmless, the server ignores ids
//! it holds.
//!
//! **Overflow.** At most `max_events` are kept. Queuing one more drops the oldest
//! *impression* first and, when no impression is left, the oldest event of any kind, counting
//! each in the persisted `dropped` counter. Impressions go first because they are by far the
//! most numerous events (a page shows tens of items per click) and each one carries little
//! information, while the recent clicks, likes and dwell events are the labels retraining needs
//! most; among equals the oldest goes first, since the newest reflect the user's current
//! interest.
//!
//! **Damage.** A stored value that cannot be decoded (corrupt bytes, or a format from a newer
//! SDK) is reported as [`Error::StorageCorrupt`] by [`EventQueue::load`] and replaced by an empty
//! queue — never a panic, never a queue that stays stuck.

use crate::error::{Error, Result};
use crate::sync::event::{Event, EventKind};
use crate::user::Storage;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, VecDeque};

/// The storage key of the queue.
pub const QUEUE_KEY: &str = "edgerec/sync/queue";
/// The version byte [`EventQueue`] writes before its JSON.
pub const QUEUE_FORMAT: u8 = 1;
/// The default bound on queued events.
pub const DEFAULT_MAX_EVENTS: usize = 5_000;

#[derive(Serialize)]
struct StoredRef<'a> {
    dropped: u64,
    rejected: u64,
    events: Vec<&'a Event>,
}

#[derive(Deserialize)]
struct Stored {
    #[serde(default)]
    dropped: u64,
    #[serde(default)]
    rejected: u64,
    events: Vec<Event>,
}

fn corrupt(reason: impl Into<String>) -> Error {
    Error::StorageCorrupt { key: QUEUE_KEY.to_string(), reason: reason.into() }
}

/// A bounded FIFO of events mirrored in [`Storage`] (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct EventQueue {
    events: VecDeque<Event>,
    max_events: usize,
    dropped: u64,
    rejected: u64,
}

impl EventQueue {
    /// An empty queue holding at most `max_events` (at least 1).
    pub fn new(max_events: usize) -> Self {
        Self { events: VecDeque::new(), max_events: max_events.max(1), dropped: 0, rejected: 0 }
    }

    /// Decodes a stored queue value.
    pub fn from_bytes(bytes: &[u8], max_events: usize) -> Result<Self> {
        let (&format, json) = bytes.split_first().ok_or_else(|| corrupt("empty value"))?;
        if format != QUEUE_FORMAT {
            return Err(corrupt(format!(
                "format {format}, this SDK reads format {QUEUE_FORMAT} (written by a newer SDK?)"
            )));
        }
        let stored: Stored = serde_json::from_slice(json).map_err(|e| corrupt(e.to_string()))?;
        let mut queue = Self::new(max_events);
        queue.dropped = stored.dropped;
        queue.rejected = stored.rejected;
        queue.events = stored.events.into();
        // A smaller bound than the one the queue was written with: apply the overflow policy.
        let excess = queue.events.len().saturating_sub(queue.max_events);
        let victims = queue.victims(excess);
        queue.apply_drops(&victims);
        Ok(queue)
    }

    /// The stored form: version byte + JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode(self.events.iter(), self.dropped, self.rejected)
    }

    fn encode<'a>(
        &self,
        events: impl Iterator<Item = &'a Event>,
        dropped: u64,
        rejected: u64,
    ) -> Vec<u8> {
        let stored = StoredRef { dropped, rejected, events: events.collect() };
        let mut bytes = vec![QUEUE_FORMAT];
        // Serializing plain data structs into a Vec cannot fail.
        serde_json::to_writer(&mut bytes, &stored).unwrap_or_default();
        bytes
    }

    /// Reads the queue from `storage`. A missing value is an empty queue; an undecodable one
    /// is replaced by an empty queue (written back at once) and returned as the second value,
    /// an [`Error::StorageCorrupt`] for the caller to report. `Err` only when storage fails.
    pub async fn load(storage: &impl Storage, max_events: usize) -> Result<(Self, Option<Error>)> {
        let Some(bytes) = storage.get(QUEUE_KEY).await? else {
            return Ok((Self::new(max_events), None));
        };
        match Self::from_bytes(&bytes, max_events) {
            Ok(queue) => Ok((queue, None)),
            Err(damage) => {
                let queue = Self::new(max_events);
                storage.put(QUEUE_KEY, &queue.to_bytes()).await?;
                Ok((queue, Some(damage)))
            }
        }
    }

    /// Indices of the `count` events the overflow policy drops: the oldest impressions, then
    /// the oldest others. Sorted ascending.
    fn victims(&self, count: usize) -> Vec<usize> {
        if count == 0 {
            return Vec::new();
        }
        let mut victims: Vec<usize> = self
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.kind == EventKind::Impression)
            .map(|(i, _)| i)
            .take(count)
            .collect();
        if victims.len() < count {
            let chosen: BTreeSet<usize> = victims.iter().copied().collect();
            let more = (0..self.events.len()).filter(|i| !chosen.contains(i));
            victims.extend(more.take(count - victims.len()));
        }
        victims.sort_unstable();
        victims
    }

    fn apply_drops(&mut self, victims: &[usize]) {
        for &i in victims.iter().rev() {
            self.events.remove(i);
        }
        self.dropped += victims.len() as u64;
    }

    /// Queues `event` and persists the queue with one `put`, dropping old events first when the
    /// queue is full (see the module docs). Returns how many were dropped. When the write fails
    /// (quota, unavailable), nothing changes — in memory or in storage — and the error is
    /// returned.
    pub async fn push(&mut self, storage: &impl Storage, event: Event) -> Result<usize> {
        let excess = (self.events.len() + 1).saturating_sub(self.max_events);
        let victims = self.victims(excess);
        let skip: BTreeSet<usize> = victims.iter().copied().collect();
        let kept = self.events.iter().enumerate().filter(|(i, _)| !skip.contains(i));
        let bytes = self.encode(
            kept.map(|(_, e)| e).chain(std::iter::once(&event)),
            self.dropped + victims.len() as u64,
            self.rejected,
        );
        storage.put(QUEUE_KEY, &bytes).await?;
        self.apply_drops(&victims);
        self.events.push_back(event);
        Ok(victims.len())
    }

    /// Removes the events whose id is in `ids` (acknowledged by the server) from memory and
    /// adds `rejected` to the rejected counter (events the server refused for good); persist
    /// with [`EventQueue::save`]. Returns how many events were removed (ids not queued — an
    /// event the overflow policy dropped meanwhile — are ignored).
    pub fn remove(&mut self, ids: &[String], rejected: u64) -> usize {
        let ids: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
        let before = self.events.len();
        self.events.retain(|e| !ids.contains(e.id.as_str()));
        self.rejected += rejected;
        before - self.events.len()
    }

    /// Writes the queue as it is in memory with one `put`. After a removal a failed write only
    /// means storage still holds the removed events (see the module docs); the next successful
    /// write catches up.
    pub async fn save(&self, storage: &impl Storage) -> Result<()> {
        storage.put(QUEUE_KEY, &self.to_bytes()).await
    }

    /// The queued events, oldest first.
    pub fn events(&self) -> impl ExactSizeIterator<Item = &Event> {
        self.events.iter()
    }

    /// Number of queued events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The bound on queued events.
    pub fn max_events(&self) -> usize {
        self.max_events
    }

    /// Events dropped by the overflow policy since the queue was first created.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Events the server refused for good (a lone event answered 400) and that were removed.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::user::MemoryStorage;
    use pollster::block_on;

    fn event(i: usize, kind: EventKind) -> Event {
        Event {
            id: format!("00000000-0000-7000-8000-{i:012}"),
            user: "u".into(),
            item: Some(i.to_string()),
            kind,
            ts: i as u64,
            position: (kind == EventKind::Impression).then_some(0),
            request_id: None,
            dwell_ms: None,
            name: None,
            model_version: None,
            experiments: Default::default(),
        }
    }

    #[test]
    fn overflow_drops_oldest_impressions_then_oldest_events() {
        let storage = MemoryStorage::new();
        let mut q = EventQueue::new(3);
        block_on(q.push(&storage, event(0, EventKind::Click))).unwrap();
        block_on(q.push(&storage, event(1, EventKind::Impression))).unwrap();
        block_on(q.push(&storage, event(2, EventKind::Impression))).unwrap();
        assert_eq!(block_on(q.push(&storage, event(3, EventKind::Click))).unwrap(), 1);
        let ts: Vec<u64> = q.events().map(|e| e.ts).collect();
        assert_eq!(ts, [0, 2, 3], "the oldest impression went first");
        block_on(q.push(&storage, event(4, EventKind::Like))).unwrap();
        block_on(q.push(&storage, event(5, EventKind::Like))).unwrap();
        let ts: Vec<u64> = q.events().map(|e| e.ts).collect();
        assert_eq!(ts, [3, 4, 5], "then the oldest of any kind");
        assert_eq!(q.dropped(), 3);
        let (back, damage) = block_on(EventQueue::load(&storage, 3)).unwrap();
        assert!(damage.is_none());
        assert_eq!(back, q);
    }

    #[test]
    fn a_failed_write_changes_nothing() {
        let mut one = EventQueue::new(10);
        one.events.push_back(event(0, EventKind::Click));
        let storage = MemoryStorage::with_quota(one.to_bytes().len() + 20);
        let mut q = EventQueue::new(10);
        block_on(q.push(&storage, event(0, EventKind::Click))).unwrap();
        let stored = block_on(storage.get(QUEUE_KEY)).unwrap();
        let err = block_on(q.push(&storage, event(1, EventKind::Click))).unwrap_err();
        assert!(matches!(err, Error::StorageQuotaExceeded { .. }), "{err}");
        assert_eq!(q.len(), 1);
        assert_eq!(block_on(storage.get(QUEUE_KEY)).unwrap(), stored);
    }

    #[test]
    fn undecodable_values_are_reported_and_replaced() {
        for bad in [&b""[..], b"\x01{not json", b"\x02{}", b"\x01{\"events\":[{\"id\":1}]}"] {
            let storage = MemoryStorage::new();
            block_on(storage.put(QUEUE_KEY, bad)).unwrap();
            let (q, damage) = block_on(EventQueue::load(&storage, 10)).unwrap();
            assert!(q.is_empty());
            assert!(
                matches!(damage, Some(Error::StorageCorrupt { ref key, .. }) if key == QUEUE_KEY)
            );
            let (_, again) = block_on(EventQueue::load(&storage, 10)).unwrap();
            assert!(again.is_none(), "the damaged value was replaced");
        }
    }

    #[test]
    fn a_smaller_bound_trims_on_load() {
        let mut q = EventQueue::new(10);
        q.events = (0..6).map(|i| event(i, EventKind::Click)).collect();
        let back = EventQueue::from_bytes(&q.to_bytes(), 4).unwrap();
        assert_eq!((back.len(), back.dropped()), (4, 2));
        assert_eq!(back.events().next().map(|e| e.ts), Some(2));
    }
}
