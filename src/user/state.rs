//! The persisted part of the user model: recent interactions, the fine-tuned residual, decayed
//! interest statistics and counters, with a versioned byte encoding.
//!
//! The encoding is JSON (`{"schema": 1, …}`): small (a few KiB for 100 interactions), readable in
//! the browser's storage inspector, and f32/f64 values round-trip exactly. [`UserState::from_bytes`]
//! reads the schema number before anything else, so a state written by a newer SDK fails cleanly
//! with [`Error::StorageCorrupt`] instead of being half understood.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The schema [`UserState::to_bytes`] writes. Additive changes (a new field with a default) keep
/// the number; anything else bumps it and adds a step to `upgrade`.
pub const USER_STATE_SCHEMA: u32 = 1;

/// The storage key user state is saved under (see [`crate::user::save`]).
pub const USER_STATE_KEY: &str = "edgerec/user";

/// Interest weights below this are dropped (they have decayed for ~20 half-lives).
const MIN_INTEREST: f32 = 1e-6;
/// At most this many categories are tracked; the weakest go first.
pub const MAX_INTERESTS: usize = 256;
/// The interest half-life a fresh state starts with (7 days); the model overwrites it with its
/// configured value on every record.
pub const DEFAULT_HALF_LIFE_MS: f64 = 7.0 * 24.0 * 3_600_000.0;

/// What the user did with an item. Serialized as `{"type": "click"}`, `{"type": "like"}`,
/// `{"type": "dwell", "ms": 12000}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InteractionKind {
    /// Opened / clicked the item.
    Click,
    /// An explicit positive signal (like, favourite, add to list).
    Like,
    /// Stayed on the item for `ms` milliseconds.
    Dwell {
        /// Dwell time in milliseconds.
        ms: u32,
    },
}

/// A dwell this long counts as much as a click.
pub const FULL_DWELL_MS: f32 = 30_000.0;

impl InteractionKind {
    /// How much the interaction counts, relative to a click: `Click` 1, `Like` 2 (an explicit
    /// signal is rarer and more telling than a click), `Dwell { ms }` `min(ms / 30 000, 1)` —
    /// a dwell grows linearly to a click's worth at 30 s (a bounce teaches nothing; beyond half
    /// a minute, longer is not more interested, just a longer item).
    ///
    /// The weight scales the interest statistics, the item-to-item seeds and the fine-tuning
    /// learning rate; the user tower itself pools history unweighted, as it was trained.
    pub fn weight(self) -> f32 {
        match self {
            InteractionKind::Click => 1.0,
            InteractionKind::Like => 2.0,
            InteractionKind::Dwell { ms } => (ms as f32 / FULL_DWELL_MS).min(1.0),
        }
    }
}

/// One interaction reported by the application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    /// The item's id in the bundle's item table.
    pub item: String,
    /// What happened.
    pub kind: InteractionKind,
    /// When, in milliseconds since the Unix epoch (JavaScript's `Date.now()`).
    pub timestamp_ms: f64,
}

impl Interaction {
    /// A click on `item` at `timestamp_ms`.
    pub fn click(item: impl Into<String>, timestamp_ms: f64) -> Self {
        Self { item: item.into(), kind: InteractionKind::Click, timestamp_ms }
    }
}

/// One interaction as kept in [`UserState`]'s history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredInteraction {
    /// The item id (ids, not rows, are stored, so the history survives a bundle update).
    pub item: String,
    /// What happened.
    pub kind: InteractionKind,
    /// When, in milliseconds since the Unix epoch.
    pub timestamp_ms: f64,
}

impl From<&Interaction> for StoredInteraction {
    fn from(i: &Interaction) -> Self {
        Self { item: i.item.clone(), kind: i.kind, timestamp_ms: i.timestamp_ms }
    }
}

/// The model a state's residual was derived with. A residual lives in one model's embedding
/// space; under another model (or another export of it) it means nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelStamp {
    /// `manifest.model.id`.
    pub id: String,
    /// `manifest.model.version`.
    pub version: String,
    /// `manifest.embedding_dim`.
    pub dim: usize,
}

/// Running totals, for diagnostics and for seeding the fine-tuning sampler.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserCounters {
    /// Interactions recorded (all kinds), including ones since trimmed from the history.
    pub interactions: u64,
    /// Clicks recorded.
    pub clicks: u64,
    /// Likes recorded.
    pub likes: u64,
    /// Dwells recorded.
    pub dwells: u64,
    /// Gradient steps taken on the residual.
    pub gradient_steps: u64,
    /// Migrations to a different model.
    pub migrations: u64,
    /// History entries dropped by migrations because the new bundle lacked their item.
    pub dropped_items: u64,
}

/// Per-category weights, each `Σ weight(kind) · 2^(−(updated_ms − t) / half_life_ms)` over the
/// interactions with an item of that category, all referred to one time `updated_ms` (the
/// latest interaction time seen), so decaying them all is one multiplication and an
/// out-of-order interaction is added with its own decay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Interests {
    weights: BTreeMap<String, f32>,
    updated_ms: f64,
    half_life_ms: f64,
}

impl Default for Interests {
    fn default() -> Self {
        Self { weights: BTreeMap::new(), updated_ms: 0.0, half_life_ms: DEFAULT_HALF_LIFE_MS }
    }
}

/// `2^(−age / half_life)`, 1 for a non-positive (or non-finite) age.
pub(crate) fn decay(age_ms: f64, half_life_ms: f64) -> f64 {
    if age_ms.is_finite() && age_ms > 0.0 { (-age_ms / half_life_ms).exp2() } else { 1.0 }
}

impl Interests {
    fn add<'a>(
        &mut self,
        tags: impl Iterator<Item = &'a str>,
        weight: f32,
        at_ms: f64,
        half_life_ms: f64,
    ) {
        self.half_life_ms = half_life_ms;
        let w = if at_ms > self.updated_ms {
            let f = decay(at_ms - self.updated_ms, half_life_ms) as f32;
            self.weights.values_mut().for_each(|v| *v *= f);
            self.updated_ms = at_ms;
            weight
        } else {
            weight * decay(self.updated_ms - at_ms, half_life_ms) as f32
        };
        for tag in tags {
            *self.weights.entry(tag.to_string()).or_insert(0.0) += w;
        }
        self.weights.retain(|_, v| *v >= MIN_INTEREST);
        if self.weights.len() > MAX_INTERESTS {
            // The map iterates by tag: a stable sort by weight breaks ties by tag.
            let mut order: Vec<(f32, String)> =
                self.weights.iter().map(|(k, v)| (*v, k.clone())).collect();
            crate::order::sort_by_key_stable(&mut order, |e| {
                u64::from(crate::order::desc_f32(e.0))
            });
            for (_, k) in order.into_iter().skip(MAX_INTERESTS) {
                self.weights.remove(&k);
            }
        }
    }

    fn top(&self, k: usize, now_ms: f64) -> Vec<(String, f32)> {
        let f = decay(now_ms - self.updated_ms, self.half_life_ms) as f32;
        let mut out: Vec<(String, f32)> = self
            .weights
            .iter()
            .map(|(tag, w)| (tag.clone(), w * f))
            .filter(|(_, w)| *w > 0.0)
            .collect();
        // The map iterates by tag: a stable sort by weight breaks ties by tag.
        crate::order::sort_by_key_stable(&mut out, |e| u64::from(crate::order::desc_f32(e.1)));
        out.truncate(k);
        out
    }
}

/// Everything the SDK remembers about the local user between sessions. Plain data: the
/// [`crate::user::UserModel`] of a bundle reads and updates it; [`UserState::to_bytes`] /
/// [`UserState::from_bytes`] (or [`crate::user::save`] / [`crate::user::load`]) persist it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserState {
    schema: u32,
    #[serde(default)]
    model: Option<ModelStamp>,
    #[serde(default)]
    history: Vec<StoredInteraction>,
    #[serde(default)]
    residual: Vec<f32>,
    #[serde(default)]
    interests: Interests,
    #[serde(default)]
    counters: UserCounters,
}

impl Default for UserState {
    fn default() -> Self {
        Self::new()
    }
}

fn corrupt(reason: impl Into<String>) -> Error {
    Error::StorageCorrupt { key: USER_STATE_KEY.to_string(), reason: reason.into() }
}

impl UserState {
    /// A state with no history (a cold user).
    pub fn new() -> Self {
        Self {
            schema: USER_STATE_SCHEMA,
            model: None,
            history: Vec::new(),
            residual: Vec::new(),
            interests: Interests::default(),
            counters: UserCounters::default(),
        }
    }

    /// The kept interactions, oldest first (by timestamp; equal timestamps in arrival order).
    pub fn history(&self) -> &[StoredInteraction] {
        &self.history
    }

    /// True when nothing has been recorded: no history, no residual, no interests.
    pub fn is_empty(&self) -> bool {
        self.history.is_empty()
            && self.residual.iter().all(|r| *r == 0.0)
            && self.interests.weights.is_empty()
    }

    /// The fine-tuned residual added to the tower's query (empty until fine-tuning first
    /// touches it, which reads as zero).
    pub fn residual(&self) -> &[f32] {
        &self.residual
    }

    /// The model the residual was derived with (`None` before the first record or migration).
    pub fn model(&self) -> Option<&ModelStamp> {
        self.model.as_ref()
    }

    /// Running totals.
    pub fn counters(&self) -> &UserCounters {
        &self.counters
    }

    /// The `k` categories with the largest decayed interest weight at `now_ms`, largest first
    /// (ties by name). Weights decay with the half-life the model was configured with; each
    /// interaction adds its kind's weight to every tag of its item.
    pub fn top_categories(&self, k: usize, now_ms: f64) -> Vec<(String, f32)> {
        self.interests.top(k, now_ms)
    }

    /// The encoded state (JSON, schema [`USER_STATE_SCHEMA`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing plain structs with string keys cannot fail; an empty record would be
        // rejected by `from_bytes` rather than misread.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes a state written by [`UserState::to_bytes`] of this or an older SDK, upgrading
    /// older schemas.
    ///
    /// # Errors
    /// [`Error::StorageCorrupt`] (key [`USER_STATE_KEY`]) for bytes that are not a state, a
    /// schema newer than [`USER_STATE_SCHEMA`], or values no SDK writes (non-finite numbers, a
    /// residual without its model, …).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        /// Only the schema number (serde skips the other fields unread).
        #[derive(Deserialize)]
        struct Schema {
            schema: Option<u64>,
        }
        let schema = serde_json::from_slice::<Schema>(bytes)
            .map_err(|e| corrupt(format!("not a user state: {e}")))?
            .schema
            .ok_or_else(|| corrupt("no schema number"))?;
        if schema > u64::from(USER_STATE_SCHEMA) {
            return Err(corrupt(format!(
                "schema {schema} was written by a newer SDK (this one reads up to {USER_STATE_SCHEMA})"
            )));
        }
        let mut state = upgrade(bytes, schema)?;
        state.check()?;
        // Tolerate a history out of time order (e.g. edited by hand): sort, stably.
        crate::order::sort_by_key_stable(&mut state.history, |e| {
            crate::order::asc_f64(e.timestamp_ms)
        });
        Ok(state)
    }

    /// Value checks after decoding.
    fn check(&self) -> Result<()> {
        if let Some(i) = self.history.iter().position(|h| {
            h.item.is_empty() || !(h.timestamp_ms.is_finite() && h.timestamp_ms >= 0.0)
        }) {
            return Err(corrupt(format!("history entry {i} has an empty id or a bad timestamp")));
        }
        if let Some(i) = self.residual.iter().position(|r| !r.is_finite()) {
            return Err(corrupt(format!("residual value {i} is not finite")));
        }
        if !self.residual.is_empty()
            && self.model.as_ref().map(|m| m.dim) != Some(self.residual.len())
        {
            return Err(corrupt(format!(
                "a residual of {} values does not match its model stamp {:?}",
                self.residual.len(),
                self.model
            )));
        }
        let i = &self.interests;
        if !(i.updated_ms.is_finite() && i.half_life_ms.is_finite() && i.half_life_ms > 0.0)
            || i.weights.values().any(|w| !(w.is_finite() && *w >= 0.0))
        {
            return Err(corrupt("interest statistics hold a non-finite or negative value"));
        }
        Ok(())
    }

    // ---- mutation, for the model (crate-internal) ----

    /// Where an interaction at `t` goes: after every entry with a timestamp ≤ `t`.
    pub(crate) fn insertion_point(&self, t: f64) -> usize {
        self.history.partition_point(|h| h.timestamp_ms <= t)
    }

    /// Inserts at the time-ordered position and trims the oldest beyond `capacity`.
    pub(crate) fn insert(&mut self, entry: StoredInteraction, capacity: usize) {
        let at = self.insertion_point(entry.timestamp_ms);
        self.history.insert(at, entry);
        let excess = self.history.len().saturating_sub(capacity);
        self.history.drain(..excess);
    }

    pub(crate) fn history_mut(&mut self) -> &mut Vec<StoredInteraction> {
        &mut self.history
    }

    pub(crate) fn residual_mut(&mut self) -> &mut Vec<f32> {
        &mut self.residual
    }

    pub(crate) fn set_model(&mut self, stamp: Option<ModelStamp>) {
        self.model = stamp;
    }

    pub(crate) fn counters_mut(&mut self) -> &mut UserCounters {
        &mut self.counters
    }

    pub(crate) fn add_interest<'a>(
        &mut self,
        tags: impl Iterator<Item = &'a str>,
        weight: f32,
        at_ms: f64,
        half_life_ms: f64,
    ) {
        self.interests.add(tags, weight, at_ms, half_life_ms);
    }
}

/// Decodes `bytes`, a state of schema `from`, as [`USER_STATE_SCHEMA`]. Schema 1 is the first
/// and current one, decoded directly (no intermediate `serde_json::Value`, whose decoder would
/// be a second copy of every state type's in the wasm module); a future schema adds its step
/// here (`1 => decode the old layout and rewrite it`), so any state an SDK ever wrote stays
/// readable.
fn upgrade(bytes: &[u8], from: u64) -> Result<UserState> {
    match from {
        0 => Err(corrupt("schema 0 does not exist")),
        _ => serde_json::from_slice(bytes).map_err(|e| corrupt(format!("schema {from}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(item: &str, t: f64) -> StoredInteraction {
        StoredInteraction { item: item.into(), kind: InteractionKind::Click, timestamp_ms: t }
    }

    #[test]
    fn kind_weights_and_serde() {
        assert_eq!(InteractionKind::Click.weight(), 1.0);
        assert_eq!(InteractionKind::Like.weight(), 2.0);
        assert_eq!(InteractionKind::Dwell { ms: 15_000 }.weight(), 0.5);
        assert_eq!(InteractionKind::Dwell { ms: 90_000 }.weight(), 1.0);
        assert_eq!(InteractionKind::Dwell { ms: 0 }.weight(), 0.0);
        let json = serde_json::to_string(&InteractionKind::Dwell { ms: 7 }).unwrap();
        assert_eq!(json, r#"{"type":"dwell","ms":7}"#);
        let back: InteractionKind = serde_json::from_str(r#"{"type":"like"}"#).unwrap();
        assert_eq!(back, InteractionKind::Like);
    }

    #[test]
    fn history_stays_in_time_order_and_is_trimmed() {
        let mut s = UserState::new();
        for (i, t) in [10.0, 30.0, 20.0, 30.0, 5.0].iter().enumerate() {
            s.insert(stored(&format!("i{i}"), *t), 4);
        }
        let items: Vec<&str> = s.history().iter().map(|h| h.item.as_str()).collect();
        // i4 (t = 5) came last but is the oldest: trimmed at once.
        assert_eq!(items, ["i0", "i2", "i1", "i3"]);
    }

    #[test]
    fn interests_decay_and_accept_out_of_order_events() {
        let day = 86_400_000.0;
        let mut s = UserState::new();
        s.add_interest(["Horror", "Thriller"].into_iter(), 1.0, 7.0 * day, 7.0 * day);
        s.add_interest(["Comedy"].into_iter(), 1.0, 14.0 * day, 7.0 * day);
        // One half-life later the horror click counts half.
        let top = s.top_categories(3, 14.0 * day);
        assert_eq!(top[0], ("Comedy".to_string(), 1.0));
        assert!((top[1].1 - 0.5).abs() < 1e-6 && top[1].0 == "Horror", "{top:?}");
        // An old event added late gets its own decay, not a fresh weight.
        s.add_interest(["Drama"].into_iter(), 1.0, 0.0, 7.0 * day);
        let drama = s.top_categories(4, 14.0 * day).into_iter().find(|t| t.0 == "Drama").unwrap();
        assert!((drama.1 - 0.25).abs() < 1e-6, "{drama:?}");
        // Order of arrival does not matter.
        let mut t = UserState::new();
        t.add_interest(["Drama"].into_iter(), 1.0, 0.0, 7.0 * day);
        t.add_interest(["Comedy"].into_iter(), 1.0, 14.0 * day, 7.0 * day);
        t.add_interest(["Horror", "Thriller"].into_iter(), 1.0, 7.0 * day, 7.0 * day);
        for ((a, x), (b, y)) in
            s.top_categories(9, 20.0 * day).iter().zip(t.top_categories(9, 20.0 * day))
        {
            assert_eq!(*a, b);
            assert!((x - y).abs() < 1e-6);
        }
        assert_eq!(s.top_categories(1, 14.0 * day).len(), 1);
    }

    #[test]
    fn interests_are_bounded() {
        let mut s = UserState::new();
        for i in 0..(MAX_INTERESTS + 10) {
            let tag = format!("t{i}");
            s.add_interest([tag.as_str()].into_iter(), 1.0 + i as f32, 0.0, 1.0);
        }
        let top = s.top_categories(usize::MAX, 0.0);
        assert_eq!(top.len(), MAX_INTERESTS);
        assert_eq!(top[0].0, format!("t{}", MAX_INTERESTS + 9));
    }

    #[test]
    fn bytes_round_trip_and_reject_bad_input() {
        let mut s = UserState::new();
        s.insert(stored("a", 1.0), 10);
        s.set_model(Some(ModelStamp { id: "m".into(), version: "1".into(), dim: 2 }));
        *s.residual_mut() = vec![0.1, -1e-30];
        s.add_interest(["x"].into_iter(), 1.0, 1.0, 5.0);
        let back = UserState::from_bytes(&s.to_bytes()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.to_bytes(), s.to_bytes());

        let bad: [&[u8]; 7] = [
            b"",
            b"\xff\x00garbage",
            br#"{"history": []}"#,
            br#"{"schema": 2}"#,
            br#"{"schema": 0}"#,
            br#"{"schema": 1, "residual": [1.0]}"#,
            br#"{"schema": 1, "history": [{"item": "a", "kind": {"type": "click"}, "timestamp_ms": -1}]}"#,
        ];
        for b in bad {
            let e = UserState::from_bytes(b).unwrap_err();
            assert_eq!(e.code(), "STORAGE_CORRUPT", "{}", String::from_utf8_lossy(b));
        }
        let e = UserState::from_bytes(br#"{"schema": 9}"#).unwrap_err();
        assert!(e.to_string().contains("newer"), "{e}");
        // A minimal state of the current schema reads as a cold user.
        assert_eq!(UserState::from_bytes(br#"{"schema": 1}"#).unwrap(), UserState::new());
    }
}
