//! Reading interactions and items from CSV (with column mapping), splitting them, and writing
//! splits back — shared by `edgerec train` and `edgerec eval` so both see identical data.
//!
//! Bad input never panics: rows with the wrong number of fields, an empty id or an unparsable
//! rating/timestamp are *malformed* and skipped; interactions whose item is not in the items
//! file are *unknown items* and skipped; both are counted in [`LoadReport`], which the commands
//! print. A header without a required column is an error naming the flag that maps it.

use super::error::{Result, TrainError};
use crate::serve::store::StoredEvent;
use clap::Args;
use edgerec::sync::{Event, EventKind};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Column names of the interactions and items files. Unset flags are auto-detected from the
/// header: `user`/`userId`/`user_id`, `item`/`movieId`/`itemId`/`item_id`, `rating`,
/// `timestamp`/`time`/`ts`; items `item`/`movieId`/`id`/`itemId`/`item_id`, `title`,
/// `categories`/`genres`/`tags`. So MovieLens' `ratings.csv` and `movies.csv` work as they are.
#[derive(Args, Debug, Clone, Default)]
pub struct ColumnArgs {
    /// Interactions: user id column.
    #[arg(long)]
    pub user_col: Option<String>,
    /// Interactions: item id column.
    #[arg(long)]
    pub item_col: Option<String>,
    /// Interactions: rating column (optional; missing = every rating 1).
    #[arg(long)]
    pub rating_col: Option<String>,
    /// Interactions: timestamp column (optional, integer seconds; missing = file order).
    #[arg(long)]
    pub time_col: Option<String>,
    /// Items: id column.
    #[arg(long)]
    pub item_id_col: Option<String>,
    /// Items: title column (optional).
    #[arg(long)]
    pub title_col: Option<String>,
    /// Items: categories column (optional, `|`-separated).
    #[arg(long)]
    pub categories_col: Option<String>,
}

/// One item of the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// External id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Category indices into [`Catalogue::categories`].
    pub categories: Vec<u32>,
    /// Creation time (Unix seconds): from an explicit column, else the `(YYYY)` year in the
    /// title (MovieLens), else 0.
    pub created_at: i64,
}

/// The item catalogue, in file order (row `r` of every per-item tensor is item `r`).
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    /// Items.
    pub items: Vec<Item>,
    /// Distinct category names.
    pub categories: Vec<String>,
    /// id → row.
    pub row_of: HashMap<String, u32>,
    /// Skip counts.
    pub report: LoadReport,
}

/// One interaction, with the item resolved to a catalogue row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interaction {
    /// User index into [`Interactions::users`].
    pub user: u32,
    /// Catalogue row.
    pub item: u32,
    /// Rating (1 when the file has none).
    pub rating: f32,
    /// Timestamp (row number when the file has none).
    pub time: i64,
}

/// Interactions in file order.
#[derive(Debug, Clone, Default)]
pub struct Interactions {
    /// Rows kept.
    pub rows: Vec<Interaction>,
    /// User ids, in first-seen order.
    pub users: Vec<String>,
    /// Skip counts.
    pub report: LoadReport,
}

/// What a loader read and what it skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LoadReport {
    /// Data rows in the file.
    pub rows: usize,
    /// Rows kept.
    pub kept: usize,
    /// Malformed rows skipped (wrong field count, empty id, unparsable number).
    pub malformed: usize,
    /// Interactions skipped because their item is not in the items file.
    pub unknown_items: usize,
    /// Interactions skipped by `--min-rating`.
    pub below_min_rating: usize,
    /// Items skipped because their id repeats an earlier row.
    pub duplicate_items: usize,
}

fn io(path: &Path, e: impl ToString) -> TrainError {
    TrainError::Io { path: path.to_path_buf(), reason: e.to_string() }
}

fn find_col(
    file: &Path,
    header: &csv::StringRecord,
    explicit: Option<&str>,
    candidates: &[&str],
    role: &'static str,
    flag: &'static str,
    required: bool,
) -> Result<Option<usize>> {
    let names: Vec<&str> = match explicit {
        Some(name) => vec![name],
        None => candidates.to_vec(),
    };
    let found = names.iter().find_map(|n| header.iter().position(|h| h.trim() == *n));
    if found.is_none() && (required || explicit.is_some()) {
        return Err(TrainError::MissingColumn {
            file: file.to_path_buf(),
            role,
            looked_for: names.join(", "),
            header: header.iter().collect::<Vec<_>>().join(","),
            flag,
        });
    }
    Ok(found)
}

fn reader(path: &Path) -> Result<(csv::Reader<std::fs::File>, csv::StringRecord)> {
    let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
    let header = reader
        .headers()
        .map_err(|e| TrainError::Csv { file: path.to_path_buf(), reason: format!("header: {e}") })?
        .clone();
    Ok((reader, header))
}

/// The `(YYYY)` at the end of a MovieLens title, as Unix seconds of January 1st.
fn year_of_title(title: &str) -> Option<i64> {
    let t = title.trim_end();
    let open = t.rfind('(')?;
    let inner = t[open + 1..].strip_suffix(')')?;
    let year: i64 = inner.get(..4)?.parse().ok()?;
    if !(1800..=2200).contains(&year) {
        return None;
    }
    // Days from 1970-01-01 to January 1st of `year` (proleptic Gregorian).
    let y = year - 1;
    let days =
        365 * (year - 1970) + (y / 4 - y / 100 + y / 400) - (1969 / 4 - 1969 / 100 + 1969 / 400);
    Some(days * 86_400)
}

/// Reads the items file.
///
/// # Errors
/// [`TrainError::Io`], [`TrainError::Csv`], [`TrainError::MissingColumn`],
/// [`TrainError::NotEnoughData`] for a file with no usable item.
pub fn read_items(path: &Path, cols: &ColumnArgs) -> Result<Catalogue> {
    let (mut reader, header) = reader(path)?;
    let id = find_col(
        path,
        &header,
        cols.item_id_col.as_deref(),
        &["item", "movieId", "id", "itemId", "item_id"],
        "item id",
        "--item-id-col",
        true,
    )?
    .unwrap_or(0);
    let title = find_col(
        path,
        &header,
        cols.title_col.as_deref(),
        &["title"],
        "title",
        "--title-col",
        false,
    )?;
    let cats = find_col(
        path,
        &header,
        cols.categories_col.as_deref(),
        &["categories", "genres", "tags"],
        "categories",
        "--categories-col",
        false,
    )?;
    let created = header.iter().position(|h| h.trim() == "created_at");
    let mut cat = Catalogue::default();
    let mut cat_index: HashMap<String, u32> = HashMap::new();
    for record in reader.records() {
        cat.report.rows += 1;
        let Ok(record) = record else {
            cat.report.malformed += 1;
            continue;
        };
        let Some(item_id) = record.get(id).map(str::trim).filter(|s| !s.is_empty()) else {
            cat.report.malformed += 1;
            continue;
        };
        if cat.row_of.contains_key(item_id) {
            cat.report.duplicate_items += 1;
            continue;
        }
        let title_text = title.and_then(|c| record.get(c)).unwrap_or("").to_string();
        let mut categories = Vec::new();
        for c in cats.and_then(|c| record.get(c)).unwrap_or("").split('|') {
            let c = c.trim();
            if c.is_empty() {
                continue;
            }
            let next = cat_index.len() as u32;
            let k = *cat_index.entry(c.to_string()).or_insert_with(|| {
                cat.categories.push(c.to_string());
                next
            });
            if !categories.contains(&k) {
                categories.push(k);
            }
        }
        let created_at = created
            .and_then(|c| record.get(c))
            .and_then(|v| v.trim().parse().ok())
            .or_else(|| year_of_title(&title_text))
            .unwrap_or(0);
        cat.row_of.insert(item_id.to_string(), cat.items.len() as u32);
        cat.items.push(Item { id: item_id.to_string(), title: title_text, categories, created_at });
    }
    cat.report.kept = cat.items.len();
    if cat.items.is_empty() {
        return Err(TrainError::NotEnoughData(format!(
            "{}: no usable item ({} rows, {} malformed)",
            path.display(),
            cat.report.rows,
            cat.report.malformed
        )));
    }
    Ok(cat)
}

/// Reads an interactions file, resolving items against `catalogue` and keeping rows with
/// `rating >= min_rating`.
///
/// # Errors
/// [`TrainError::Io`], [`TrainError::Csv`], [`TrainError::MissingColumn`].
pub fn read_interactions(
    path: &Path,
    cols: &ColumnArgs,
    catalogue: &Catalogue,
    min_rating: Option<f32>,
) -> Result<Interactions> {
    let (mut reader, header) = reader(path)?;
    let user = find_col(
        path,
        &header,
        cols.user_col.as_deref(),
        &["user", "userId", "user_id"],
        "user",
        "--user-col",
        true,
    )?
    .unwrap_or(0);
    let item = find_col(
        path,
        &header,
        cols.item_col.as_deref(),
        &["item", "movieId", "itemId", "item_id"],
        "item",
        "--item-col",
        true,
    )?
    .unwrap_or(0);
    let rating = find_col(
        path,
        &header,
        cols.rating_col.as_deref(),
        &["rating"],
        "rating",
        "--rating-col",
        false,
    )?;
    let time = find_col(
        path,
        &header,
        cols.time_col.as_deref(),
        &["timestamp", "time", "ts"],
        "timestamp",
        "--time-col",
        false,
    )?;
    let mut out = Interactions::default();
    let mut user_index: HashMap<String, u32> = HashMap::new();
    for (n, record) in reader.records().enumerate() {
        out.report.rows += 1;
        let Ok(record) = record else {
            out.report.malformed += 1;
            continue;
        };
        let field = |c: usize| record.get(c).map(str::trim).filter(|s| !s.is_empty());
        let (Some(u), Some(i)) = (field(user), field(item)) else {
            out.report.malformed += 1;
            continue;
        };
        let r = match rating.map(|c| field(c).and_then(|v| v.parse::<f32>().ok())) {
            None => 1.0,
            Some(Some(r)) if r.is_finite() => r,
            Some(_) => {
                out.report.malformed += 1;
                continue;
            }
        };
        let t = match time.map(|c| field(c).and_then(|v| v.parse::<i64>().ok())) {
            None => n as i64,
            Some(Some(t)) => t,
            Some(None) => {
                out.report.malformed += 1;
                continue;
            }
        };
        let Some(&row) = catalogue.row_of.get(i) else {
            out.report.unknown_items += 1;
            continue;
        };
        if min_rating.is_some_and(|m| r < m) {
            out.report.below_min_rating += 1;
            continue;
        }
        let next = user_index.len() as u32;
        let uid = *user_index.entry(u.to_string()).or_insert_with(|| {
            out.users.push(u.to_string());
            next
        });
        out.rows.push(Interaction { user: uid, item: row, rating: r, time: t });
    }
    out.report.kept = out.rows.len();
    Ok(out)
}

/// What [`append_events`] took from an event stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EventsReport {
    /// Events read.
    pub events: usize,
    /// Click, like and dwell events added as interactions.
    pub kept: usize,
    /// Impressions and custom events (not interactions).
    pub not_interactions: usize,
    /// Events whose item is not in the catalogue (a newer catalogue than this training's).
    pub unknown_items: usize,
    /// Events skipped by `--min-rating` (a click counts as rating 4, a like 5, a dwell of at
    /// least 10 s 4, a shorter dwell 3).
    pub below_min_rating: usize,
}

/// The rating an event stands for, so `--min-rating` treats events like explicit ratings:
/// a like is the strongest signal, a click or a long dwell a positive one, a short dwell weak.
fn event_rating(event: &Event) -> Option<f32> {
    match event.kind {
        EventKind::Like => Some(5.0),
        EventKind::Click => Some(4.0),
        EventKind::Dwell if event.dwell_ms.unwrap_or(0) >= 10_000 => Some(4.0),
        EventKind::Dwell => Some(3.0),
        EventKind::Impression | EventKind::Custom => None,
    }
}

/// Appends the interactions among `events` (the sync server's stored events: clicks, likes,
/// dwells) to `data`, after its rows: users are matched by id with the CSV's users, times are
/// the events' `ts` in seconds (like MovieLens' timestamps).
pub fn append_events(
    data: &mut Interactions,
    events: impl IntoIterator<Item = Event>,
    catalogue: &Catalogue,
    min_rating: Option<f32>,
) -> EventsReport {
    let mut report = EventsReport::default();
    let mut user_index: HashMap<String, u32> =
        data.users.iter().enumerate().map(|(i, u)| (u.clone(), i as u32)).collect();
    for event in events {
        report.events += 1;
        let Some(rating) = event_rating(&event) else {
            report.not_interactions += 1;
            continue;
        };
        let Some(&row) = event.item.as_deref().and_then(|i| catalogue.row_of.get(i)) else {
            report.unknown_items += 1;
            continue;
        };
        if min_rating.is_some_and(|m| rating < m) {
            report.below_min_rating += 1;
            continue;
        }
        let next = user_index.len() as u32;
        let user = *user_index.entry(event.user.clone()).or_insert_with(|| {
            data.users.push(event.user.clone());
            next
        });
        let time = (event.ts / 1000) as i64;
        data.rows.push(Interaction { user, item: row, rating, time });
        report.kept += 1;
    }
    report
}

/// Reads events written by `edgerec events export --out FILE.jsonl` (one wire-format event per
/// line; blank lines ignored).
///
/// # Errors
/// [`TrainError::Io`] when the file cannot be read, [`TrainError::Csv`] naming the line of an
/// event that does not parse.
pub fn read_events_jsonl(path: &Path) -> Result<Vec<Event>> {
    let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let event: Event = serde_json::from_str(line).map_err(|e| TrainError::Csv {
            file: path.to_path_buf(),
            reason: format!("line {}: {e}", n + 1),
        })?;
        out.push(event);
    }
    Ok(out)
}

/// Reads every event stored by `edgerec serve` in `db` (`sqlite:PATH` or `postgres://…`, the
/// server's `--db`), oldest first, streaming them out of the store.
///
/// # Errors
/// [`TrainError::Io`] naming the database when it cannot be opened or read.
pub fn read_events_db(db: &str) -> Result<Vec<Event>> {
    let fail = |reason: String| TrainError::Io { path: PathBuf::from(db), reason };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let store = crate::serve::store::open(db).await.map_err(|e| fail(e.to_string()))?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<
            std::result::Result<StoredEvent, crate::serve::store::StoreError>,
        >(1024);
        let collect = async {
            let mut out = Vec::new();
            while let Some(item) = rx.recv().await {
                out.push(item.map_err(|e| fail(e.to_string()))?.event);
            }
            Ok::<_, TrainError>(out)
        };
        let (scanned, events) = tokio::join!(store.scan(tx), collect);
        scanned.map_err(|e| fail(e.to_string()))?;
        events
    })
}

impl Interactions {
    /// Each user's interactions sorted by time (stable: file order breaks ties).
    pub fn by_user(&self) -> Vec<Vec<Interaction>> {
        let mut per: Vec<Vec<Interaction>> = vec![Vec::new(); self.users.len()];
        for r in &self.rows {
            per[r.user as usize].push(*r);
        }
        for v in &mut per {
            v.sort_by_key(|r| r.time);
        }
        per
    }
}

/// How `edgerec eval` splits one interactions file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitMode {
    /// Per user, the last 20% of interactions by time (at least one, for users with ≥ 2);
    /// `--ratio` sets the train share (default 0.8).
    Temporal,
    /// Per user, the last interaction (users with ≥ 2).
    LeaveLastOut,
    /// Stratified by item, at random (the Microsoft Recommenders benchmark protocol): each
    /// item's interactions are shuffled with `--seed` and the first `round(ratio · n)` go to
    /// train, the rest to test (`--ratio` default 0.75).
    Random,
}

/// Train share of [`SplitMode::Random`] when `--ratio` is not given (the Recommenders
/// benchmark's `ratio=0.75`).
pub const RANDOM_SPLIT_RATIO: f64 = 0.75;
/// Seed of [`SplitMode::Random`] when `--seed` is not given (Recommenders' `SEED = 42`).
pub const RANDOM_SPLIT_SEED: u64 = 42;

/// Splits `data` into `(train, test)` rows: per user by time ([`SplitMode::Temporal`],
/// [`SplitMode::LeaveLastOut`]; users with a single interaction stay in train only) or per item
/// at random ([`SplitMode::Random`]). `ratio` is the train share in (0, 1) (`None`: the mode's
/// default); `seed` drives the random split only.
///
/// # Errors
/// [`TrainError::InvalidArgument`] for a ratio outside (0, 1), or a ratio with
/// [`SplitMode::LeaveLastOut`].
pub fn split_with(
    data: &Interactions,
    mode: SplitMode,
    ratio: Option<f64>,
    seed: u64,
) -> Result<(Vec<Interaction>, Vec<Interaction>)> {
    if let Some(r) = ratio {
        if !(r > 0.0 && r < 1.0) {
            return Err(TrainError::InvalidArgument {
                name: "ratio",
                reason: format!("{r} is outside (0, 1) (the share of interactions in train)"),
            });
        }
        if mode == SplitMode::LeaveLastOut {
            return Err(TrainError::InvalidArgument {
                name: "ratio",
                reason: "leave-last-out keeps exactly one test interaction per user".into(),
            });
        }
    }
    Ok(match mode {
        SplitMode::Random => split_random(data, ratio.unwrap_or(RANDOM_SPLIT_RATIO), seed),
        _ => split_per_user(data, mode, ratio),
    })
}

fn split_per_user(
    data: &Interactions,
    mode: SplitMode,
    ratio: Option<f64>,
) -> (Vec<Interaction>, Vec<Interaction>) {
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for seq in data.by_user() {
        let n = seq.len();
        let n_test = match (mode, ratio) {
            _ if n < 2 => 0,
            (SplitMode::Temporal, None) => ((n as f64 * 0.2).round() as usize).max(1),
            (SplitMode::Temporal, Some(r)) => (n - (n as f64 * r).round() as usize).clamp(1, n - 1),
            (SplitMode::LeaveLastOut | SplitMode::Random, _) => 1,
        };
        train.extend_from_slice(&seq[..n - n_test]);
        test.extend_from_slice(&seq[n - n_test..]);
    }
    (train, test)
}

/// The random split stratified by item, after Microsoft Recommenders'
/// `python_stratified_split(data, ratio, filter_by="item", seed)` (its MovieLens benchmark,
/// `examples/06_benchmarks`): every interaction counts (no rating threshold); the interactions
/// of each item, in file order, are shuffled (Fisher–Yates driven by the SDK's [`edgerec::rng::SeededRng`] seeded from
/// `seed` and the item's catalogue row, so an item's split does not depend on other items) and the
/// first `round(ratio · n)` go to train — rounding half to even, as Python's `round` in
/// Recommenders' `split_pandas_data_with_ratios` does (an item with 2 interactions keeps both
/// in train, one with 6 keeps 4). The shuffle is not numpy's, so the rows differ from
/// Recommenders' for the same seed; the protocol is the same. Both parts keep file order.
fn split_random(
    data: &Interactions,
    ratio: f64,
    seed: u64,
) -> (Vec<Interaction>, Vec<Interaction>) {
    let mut by_item: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, r) in data.rows.iter().enumerate() {
        by_item.entry(r.item).or_default().push(i);
    }
    let mut in_test = vec![false; data.rows.len()];
    for (item, mut rows) in by_item {
        let mut rng = edgerec::rng::SeededRng::new(seed ^ row_hash(item));
        for i in (1..rows.len()).rev() {
            rows.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let n_train = (rows.len() as f64 * ratio).round_ties_even() as usize;
        for &r in &rows[n_train.min(rows.len())..] {
            in_test[r] = true;
        }
    }
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (r, t) in data.rows.iter().zip(in_test) {
        if t { test.push(*r) } else { train.push(*r) }
    }
    (train, test)
}

/// FNV-1a of a catalogue row: stable across builds, unlike the standard library's hasher.
fn row_hash(item: u32) -> u64 {
    item.to_le_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}

/// Writes interactions as `user,item,rating,timestamp` CSV.
///
/// # Errors
/// [`TrainError::Io`].
pub fn write_interactions(
    path: &Path,
    rows: &[Interaction],
    users: &[String],
    catalogue: &Catalogue,
) -> Result<()> {
    let mut w = csv::Writer::from_path(path).map_err(|e| io(path, e))?;
    w.write_record(["user", "item", "rating", "timestamp"]).map_err(|e| io(path, e))?;
    for r in rows {
        w.write_record([
            users[r.user as usize].as_str(),
            catalogue.items[r.item as usize].id.as_str(),
            &r.rating.to_string(),
            &r.time.to_string(),
        ])
        .map_err(|e| io(path, e))?;
    }
    w.flush().map_err(|e| io(path, e))
}

/// The data README to keep beside anything derived from a data set: `README.txt` or
/// `README.md` (or a split's `DATA_README.txt`) next to the interactions file, if any.
pub fn data_readme(interactions: &Path) -> Option<PathBuf> {
    let dir = interactions.parent()?;
    ["README.txt", "README.md", "DATA_README.txt"].iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_years_parse() {
        assert_eq!(year_of_title("Toy Story (1995)"), Some(788_918_400));
        assert_eq!(year_of_title("Epoch (1970)"), Some(0));
        assert_eq!(year_of_title("No year"), None);
        assert_eq!(year_of_title("Odd (19x5)"), None);
    }

    fn event(user: &str, item: &str, kind: EventKind, dwell_ms: Option<u64>) -> Event {
        Event {
            id: "01890a5d-ac96-774b-bcce-b302099a8057".into(),
            user: user.into(),
            item: Some(item.into()),
            kind,
            ts: 1_700_000_000_123,
            position: (kind == EventKind::Impression).then_some(0),
            request_id: None,
            dwell_ms,
            name: None,
            model_version: None,
            experiments: Default::default(),
        }
    }

    #[test]
    fn events_become_interactions_of_matching_users() {
        let catalogue = Catalogue {
            items: vec![],
            categories: vec![],
            row_of: HashMap::from([("a".to_string(), 0), ("b".to_string(), 1)]),
            report: LoadReport::default(),
        };
        let mut data = Interactions {
            rows: vec![Interaction { user: 0, item: 0, rating: 5.0, time: 1 }],
            users: vec!["u1".into()],
            report: LoadReport::default(),
        };
        let events = vec![
            event("u1", "b", EventKind::Click, None),
            event("u2", "a", EventKind::Like, None),
            event("u2", "b", EventKind::Impression, None),
            event("u2", "zzz", EventKind::Click, None),
            event("u2", "b", EventKind::Dwell, Some(2_000)),
        ];
        let report = append_events(&mut data, events, &catalogue, Some(3.5));
        assert_eq!(
            report,
            EventsReport {
                events: 5,
                kept: 2,
                not_interactions: 1,
                unknown_items: 1,
                below_min_rating: 1
            }
        );
        assert_eq!(data.users, vec!["u1".to_string(), "u2".to_string()]);
        assert_eq!(
            data.rows[1],
            Interaction { user: 0, item: 1, rating: 4.0, time: 1_700_000_000 }
        );
        assert_eq!(
            data.rows[2],
            Interaction { user: 1, item: 0, rating: 5.0, time: 1_700_000_000 }
        );
    }
}
