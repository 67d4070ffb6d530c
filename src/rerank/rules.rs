//! Business rules applied while the list is built, in the style of PAI-Rec's re-rank rules
//! (Alibaba Cloud): scatter constraints on an attribute (category, author, …), quotas at the top
//! of the list, pinned slots, promoted-item slots, and de-duplication.
//!
//! Rules are *filters*: at each position every rule excludes some of the remaining candidates,
//! and the strategy (MMR, DPP or plain relevance) chooses among those no rule excludes. Each rule
//! only looks at the list built so far, which is enough for the windowed rules to hold on every
//! window of the final list: if a window held too many items of a value, the last of them was
//! placed while the window ending at its position already held the maximum, and so was excluded.
//!
//! Slot rules ([`Constraint::Pin`], [`Constraint::Promote`]) also *reserve* their items: at other
//! positions, matching items are held back when no more of them are left than the rule's future
//! slots need, so a greedy pick cannot consume an item a later slot depends on.
//!
//! When the rules leave nothing eligible, soft rules give way, least important first: hard rules
//! are kept; then soft rules are added back from the highest priority down (ties: the rule listed
//! first is more important), each kept only if something stays eligible. A hard rule set that
//! alone excludes everything is an [`Error::RulesInfeasible`].

use super::Candidates;
use crate::error::{Error, Result};

/// Most rules one re-rank can apply (their exclusions are tracked as bits of a `u64`).
pub const MAX_RULES: usize = 64;

/// Which candidates a slot rule wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// One candidate, by index.
    Item(usize),
    /// Every candidate whose attribute `attribute` equals `value` (an item type).
    Value {
        /// Attribute name, as given to [`Candidates::with_attribute`].
        attribute: String,
        /// The wanted value.
        value: u32,
    },
}

/// What a rule requires. Attributes are named columns of [`Candidates`]; a candidate with no
/// value for an attribute is never counted or matched by rules on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// At most `n ≥ 1` consecutive items share a value of `attribute`.
    MaxConsecutive {
        /// Attribute name.
        attribute: String,
        /// Longest allowed run.
        n: usize,
    },
    /// At most `max ≥ 1` items of any one value in every `window` consecutive positions.
    MaxPerWindow {
        /// Attribute name.
        attribute: String,
        /// Items of one value allowed per window.
        max: usize,
        /// Window length (`≥ 1`).
        window: usize,
    },
    /// At most `max` items of a value among the first `top ≥ 1` positions: of `value` only, or of
    /// every value when `value` is `None`.
    MaxInTop {
        /// Attribute name.
        attribute: String,
        /// The value limited, or `None` for every value.
        value: Option<u32>,
        /// Items allowed (0 keeps the value out of the top entirely).
        max: usize,
        /// Number of leading positions covered.
        top: usize,
    },
    /// At least `min` items whose `attribute` is `value` among the first `top ≥ 1` positions
    /// (a quota, e.g. "2 new releases in the top 10"). When the positions left in the top are
    /// exactly as many as the items still missing, only matching candidates are eligible.
    MinInTop {
        /// Attribute name.
        attribute: String,
        /// The wanted value.
        value: u32,
        /// Items required.
        min: usize,
        /// Number of leading positions covered.
        top: usize,
    },
    /// Position `position` holds a candidate that `selector` matches (a pinned item or type).
    Pin {
        /// The wanted item(s).
        selector: Selector,
        /// Zero-based output position.
        position: usize,
    },
    /// Positions `offset, offset + every, offset + 2·every, …` hold a promoted candidate (one that
    /// `selector` matches).
    Promote {
        /// The promoted items.
        selector: Selector,
        /// Distance between promoted slots (`≥ 1`).
        every: usize,
        /// First promoted slot.
        offset: usize,
    },
    /// At most one item per value of `attribute` in the whole list.
    Dedupe {
        /// Attribute name.
        attribute: String,
    },
}

/// Whether a rule may give way when it would leave nothing eligible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforcement {
    /// Never relaxed: if it cannot be met, the re-rank fails with [`Error::RulesInfeasible`].
    Hard,
    /// Relaxed, least important first, when nothing else is eligible; a higher `priority` is
    /// relaxed later.
    Soft {
        /// Importance; higher gives way later.
        priority: u32,
    },
}

/// A constraint with its enforcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// What is required.
    pub constraint: Constraint,
    /// Hard or soft.
    pub enforcement: Enforcement,
}

impl Rule {
    /// A rule that must hold.
    pub fn hard(constraint: Constraint) -> Self {
        Self { constraint, enforcement: Enforcement::Hard }
    }

    /// A rule that gives way, in priority order, when nothing else is eligible.
    pub fn soft(constraint: Constraint, priority: u32) -> Self {
        Self { constraint, enforcement: Enforcement::Soft { priority } }
    }

    /// `true` for [`Enforcement::Hard`].
    pub fn is_hard(&self) -> bool {
        self.enforcement == Enforcement::Hard
    }

    /// Checks the parameters that do not depend on the candidates: [`Error::InvalidRule`] for a
    /// zero run length, window, `top` or `every`, or a window quota of 0.
    pub fn validate(&self, index: usize) -> Result<()> {
        let bad = |reason: &str| Err(Error::InvalidRule { rule: index, reason: reason.into() });
        match &self.constraint {
            Constraint::MaxConsecutive { n: 0, .. } => bad("the longest allowed run must be ≥ 1"),
            Constraint::MaxPerWindow { window: 0, .. } => bad("the window must be ≥ 1"),
            Constraint::MaxPerWindow { max: 0, .. } => bad("the per-window quota must be ≥ 1"),
            Constraint::MaxInTop { top: 0, .. } | Constraint::MinInTop { top: 0, .. } => {
                bad("`top` must be ≥ 1")
            }
            Constraint::Promote { every: 0, .. } => bad("`every` must be ≥ 1"),
            Constraint::MinInTop { min, top, .. } if min > top => {
                bad("`min` cannot exceed `top` (more items than positions)")
            }
            _ => Ok(()),
        }
    }
}

/// A selector resolved against the candidates.
#[derive(Clone, Copy)]
enum Sel<'c> {
    Item(usize),
    Value(&'c [Option<u32>], u32),
}

impl Sel<'_> {
    fn matches(self, c: usize) -> bool {
        match self {
            Sel::Item(i) => c == i,
            Sel::Value(col, v) => col[c] == Some(v),
        }
    }
}

/// A rule resolved against the candidates (attribute names → columns).
enum Compiled<'c> {
    MaxConsecutive { col: &'c [Option<u32>], n: usize },
    MaxPerWindow { col: &'c [Option<u32>], max: usize, window: usize },
    MaxInTop { col: &'c [Option<u32>], value: Option<u32>, max: usize, top: usize },
    MinInTop { col: &'c [Option<u32>], value: u32, min: usize, top: usize },
    Pin { sel: Sel<'c>, position: usize },
    Promote { sel: Sel<'c>, every: usize, offset: usize },
    Dedupe { col: &'c [Option<u32>] },
}

/// The rules of one re-rank, ready to evaluate.
pub(crate) struct RuleSet<'c> {
    rules: Vec<Compiled<'c>>,
    /// Bits of the hard rules.
    pub(crate) hard: u64,
    /// Soft rules, most important first.
    pub(crate) soft_order: Vec<usize>,
}

impl<'c> RuleSet<'c> {
    /// Resolves `rules` against `candidates`. Errors: [`Error::InvalidRule`] (bad parameter,
    /// unknown attribute, item out of range), [`Error::InvalidArgument`] (more than
    /// [`MAX_RULES`]).
    pub(crate) fn compile(rules: &[Rule], candidates: &'c Candidates) -> Result<Self> {
        if rules.len() > MAX_RULES {
            return Err(Error::InvalidArgument {
                name: "rules",
                reason: format!("{} rules, at most {MAX_RULES} are supported", rules.len()),
            });
        }
        let n = candidates.len();
        let mut compiled = Vec::with_capacity(rules.len());
        let mut hard = 0u64;
        for (index, rule) in rules.iter().enumerate() {
            rule.validate(index)?;
            let col = |name: &str| {
                candidates.attribute(name).ok_or_else(|| Error::InvalidRule {
                    rule: index,
                    reason: format!("unknown attribute {name:?}"),
                })
            };
            let sel = |selector: &Selector| -> Result<Sel<'c>> {
                match selector {
                    Selector::Item(i) if *i < n => Ok(Sel::Item(*i)),
                    Selector::Item(i) => Err(Error::InvalidRule {
                        rule: index,
                        reason: format!("item {i} is out of range for {n} candidates"),
                    }),
                    Selector::Value { attribute, value } => Ok(Sel::Value(col(attribute)?, *value)),
                }
            };
            compiled.push(match &rule.constraint {
                Constraint::MaxConsecutive { attribute, n } => {
                    Compiled::MaxConsecutive { col: col(attribute)?, n: *n }
                }
                Constraint::MaxPerWindow { attribute, max, window } => {
                    Compiled::MaxPerWindow { col: col(attribute)?, max: *max, window: *window }
                }
                Constraint::MaxInTop { attribute, value, max, top } => {
                    Compiled::MaxInTop { col: col(attribute)?, value: *value, max: *max, top: *top }
                }
                Constraint::MinInTop { attribute, value, min, top } => {
                    Compiled::MinInTop { col: col(attribute)?, value: *value, min: *min, top: *top }
                }
                Constraint::Pin { selector, position } => {
                    Compiled::Pin { sel: sel(selector)?, position: *position }
                }
                Constraint::Promote { selector, every, offset } => {
                    Compiled::Promote { sel: sel(selector)?, every: *every, offset: *offset }
                }
                Constraint::Dedupe { attribute } => Compiled::Dedupe { col: col(attribute)? },
            });
            if rule.is_hard() {
                hard |= 1 << index;
            }
        }
        let mut soft_order: Vec<usize> =
            (0..rules.len()).filter(|&i| !rules[i].is_hard()).collect();
        // Most important first: higher priority, then the rule listed first.
        crate::order::sort_by_key_stable(&mut soft_order, |&i| match rules[i].enforcement {
            Enforcement::Soft { priority } => u64::from(u32::MAX - priority),
            Enforcement::Hard => 0,
        });
        Ok(Self { rules: compiled, hard, soft_order })
    }

    /// Bits of every rule.
    pub(crate) fn all(&self) -> u64 {
        if self.rules.len() == 64 { u64::MAX } else { (1u64 << self.rules.len()) - 1 }
    }

    /// Number of rules.
    pub(crate) fn len(&self) -> usize {
        self.rules.len()
    }

    /// `true` when there are no rules.
    pub(crate) fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// For the next position (`prefix.len()`) of a list of target length `k`, sets bit `r` of
    /// `masks[c]` for every remaining candidate `c` that rule `r` excludes. `masks` must be
    /// zeroed by the caller.
    pub(crate) fn exclusions(
        &self,
        prefix: &[usize],
        remaining: &[bool],
        k: usize,
        masks: &mut [u64],
    ) {
        let p = prefix.len();
        for (r, rule) in self.rules.iter().enumerate() {
            let bit = 1u64 << r;
            let mut mark = |excluded: &dyn Fn(usize) -> bool| {
                for (c, m) in masks.iter_mut().enumerate() {
                    if remaining[c] && excluded(c) {
                        *m |= bit;
                    }
                }
            };
            match *rule {
                Compiled::MaxConsecutive { col, n } => {
                    if p < n {
                        continue;
                    }
                    let Some(v) = col[prefix[p - 1]] else { continue };
                    if prefix[p - n..].iter().all(|&i| col[i] == Some(v)) {
                        mark(&|c| col[c] == Some(v));
                    }
                }
                Compiled::MaxPerWindow { col, max, window } => {
                    let start = p.saturating_sub(window - 1);
                    let counts = value_counts(col, &prefix[start..]);
                    let full: Vec<u32> =
                        counts.iter().filter(|&&(_, n)| n >= max).map(|&(v, _)| v).collect();
                    if !full.is_empty() {
                        mark(&|c| col[c].is_some_and(|v| full.contains(&v)));
                    }
                }
                Compiled::MaxInTop { col, value, max, top } => {
                    if p >= top {
                        continue;
                    }
                    let counts = value_counts(col, prefix);
                    let count_of = |v: u32| counts.iter().find(|e| e.0 == v).map_or(0, |e| e.1);
                    mark(&|c| {
                        col[c].is_some_and(|v| value.is_none_or(|w| w == v) && count_of(v) >= max)
                    });
                }
                Compiled::MinInTop { col, value, min, top } => {
                    let end = top.min(k);
                    if p >= end {
                        continue;
                    }
                    let placed = prefix.iter().filter(|&&i| col[i] == Some(value)).count();
                    let missing = min.saturating_sub(placed);
                    if missing > 0 && missing >= end - p {
                        mark(&|c| col[c] != Some(value));
                    }
                }
                Compiled::Dedupe { col } => {
                    let seen: Vec<u32> = prefix.iter().filter_map(|&i| col[i]).collect();
                    if !seen.is_empty() {
                        mark(&|c| col[c].is_some_and(|v| seen.contains(&v)));
                    }
                }
                Compiled::Pin { sel, position } => {
                    if p == position {
                        mark(&|c| !sel.matches(c));
                    } else if p < position && position < k {
                        reserve(sel, 1, remaining, &mut mark);
                    }
                }
                Compiled::Promote { sel, every, offset } => {
                    let slots_before = |end: usize| {
                        if end <= offset { 0 } else { (end - offset - 1) / every + 1 }
                    };
                    if p >= offset && (p - offset).is_multiple_of(every) {
                        mark(&|c| !sel.matches(c));
                    } else {
                        let future = slots_before(k) - slots_before(p + 1);
                        reserve(sel, future, remaining, &mut mark);
                    }
                }
            }
        }
    }
}

/// Holds matching candidates back when no more of them remain than `slots` future slots need.
fn reserve(
    sel: Sel<'_>,
    slots: usize,
    remaining: &[bool],
    mark: &mut impl FnMut(&dyn Fn(usize) -> bool),
) {
    if slots == 0 {
        return;
    }
    let available = (0..remaining.len()).filter(|&c| remaining[c] && sel.matches(c)).count();
    if available <= slots {
        mark(&|c| sel.matches(c));
    }
}

/// `(value, count)` over `items` (few distinct values per window: a linear list beats a map).
fn value_counts(col: &[Option<u32>], items: &[usize]) -> Vec<(u32, usize)> {
    let mut counts: Vec<(u32, usize)> = Vec::new();
    for v in items.iter().filter_map(|&i| col[i]) {
        match counts.iter_mut().find(|e| e.0 == v) {
            Some(e) => e.1 += 1,
            None => counts.push((v, 1)),
        }
    }
    counts
}
