//! The item table (`items.bin`): compact, zero-copy, id → row in O(1).
//!
//! Layout (all integers little-endian `u32`, so the whole file is read as `&[u32]`):
//!
//! ```text
//! header   8 words   magic "ERIT", version 1, items, strings, tag refs, attr pairs, blob bytes, 0
//! records  9 words × items
//!          id, title, type, created_at lo, created_at hi (i64 seconds), tags start, tags len,
//!          attrs start, attrs len
//! tags     tag refs words            string index per tag (an item's tags are a contiguous run)
//! attrs    2 words × attr pairs      (key string, value string)
//! offsets  strings + 1 words         byte offsets into the blob: string i = blob[o[i]..o[i+1]]
//! blob     blob bytes, zero-padded to a whole word      UTF-8 of every distinct string
//! ```
//!
//! Strings are interned by the builder (a tag or brand shared by many items is stored once).
//! Loading validates every index and UTF-8 boundary once, then builds a single open-addressing
//! table (one allocation, no per-item allocation) for id → row lookups.

use crate::error::{Error, Result};

/// `"ERIT"` read as a little-endian `u32`.
pub const ITEMS_MAGIC: u32 = u32::from_le_bytes(*b"ERIT");
/// Item table layout version.
pub const ITEMS_VERSION: u32 = 1;
const HEADER_WORDS: usize = 8;
const RECORD_WORDS: usize = 9;

/// A validated item table. Cheap to query; owns its (word-aligned) bytes.
#[derive(Debug, Clone)]
pub struct ItemTable {
    words: Vec<u32>,
    len: usize,
    tags_at: usize,
    tags_len: usize,
    attrs_at: usize,
    attrs_len: usize,
    offsets_at: usize,
    strings: usize,
    blob_at: usize,
    /// Open addressing, `row + 1` per slot (0 = empty), power-of-two size.
    index: Vec<u32>,
}

/// One item of an [`ItemTable`], borrowing its strings.
#[derive(Debug, Clone, Copy)]
pub struct ItemRef<'a> {
    table: &'a ItemTable,
    row: usize,
}

/// FNV-1a: deterministic on every platform (no OS randomness on wasm). The table is
/// hash-checked before it is indexed, so adversarial collisions would have to be signed.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl ItemTable {
    /// Parses and validates an item table; `file` names it in errors.
    ///
    /// # Errors
    /// [`Error::BundleCorrupt`] for any structural problem (bad magic, index out of range,
    /// invalid UTF-8, empty id), [`Error::DuplicateId`] when two items share an id.
    pub fn parse(file: &str, bytes: &[u8]) -> Result<Self> {
        let corrupt = |reason: String| Error::BundleCorrupt { file: file.into(), reason };
        if !bytes.len().is_multiple_of(4) {
            return Err(corrupt(format!("length {} is not a multiple of 4", bytes.len())));
        }
        let words: Vec<u32> =
            bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        Self::from_words(file, words)
    }

    /// Like [`ItemTable::parse`], taking the words of an already word-aligned buffer.
    ///
    /// # Errors
    /// As [`ItemTable::parse`].
    pub fn from_words(file: &str, words: Vec<u32>) -> Result<Self> {
        let corrupt = |reason: String| Error::BundleCorrupt { file: file.into(), reason };
        if words.len() < HEADER_WORDS {
            return Err(corrupt(format!("{} bytes is shorter than the header", words.len() * 4)));
        }
        if words[0] != ITEMS_MAGIC {
            return Err(corrupt("bad magic (not an edgerec item table)".into()));
        }
        if words[1] != ITEMS_VERSION {
            return Err(corrupt(format!("item table version {} is not {ITEMS_VERSION}", words[1])));
        }
        let [len, strings, tags_len, attrs_len, blob_bytes] =
            [words[2], words[3], words[4], words[5], words[6]].map(|w| w as usize);
        // Sizes in u64 so a hostile header cannot overflow the arithmetic on 32-bit wasm.
        let sizes = [
            HEADER_WORDS as u64,
            len as u64 * RECORD_WORDS as u64,
            tags_len as u64,
            attrs_len as u64 * 2,
            strings as u64 + 1,
            (blob_bytes as u64).div_ceil(4),
        ];
        let total: u64 = sizes.iter().sum();
        if total != words.len() as u64 {
            return Err(corrupt(format!(
                "header describes {} bytes, the file has {}",
                total * 4,
                words.len() * 4
            )));
        }
        let tags_at = HEADER_WORDS + len * RECORD_WORDS;
        let attrs_at = tags_at + tags_len;
        let offsets_at = attrs_at + attrs_len * 2;
        let blob_at = offsets_at + strings + 1;
        let mut table = Self {
            words,
            len,
            tags_at,
            tags_len,
            attrs_at,
            attrs_len,
            offsets_at,
            strings,
            blob_at,
            index: Vec::new(),
        };
        table.validate(file, blob_bytes)?;
        table.build_index(file)?;
        Ok(table)
    }

    fn validate(&self, file: &str, blob_bytes: usize) -> Result<()> {
        let corrupt = |reason: String| Error::BundleCorrupt { file: file.into(), reason };
        let offsets = &self.words[self.offsets_at..self.blob_at];
        if offsets[0] != 0 || offsets[self.strings] as usize != blob_bytes {
            return Err(corrupt(
                "string offsets must start at 0 and end at the blob length".into(),
            ));
        }
        if let Some(i) = offsets.windows(2).position(|w| w[1] < w[0]) {
            return Err(corrupt(format!("string offsets decrease at string {i}")));
        }
        let blob = self.blob();
        for i in 0..self.strings {
            let (a, b) = (offsets[i] as usize, offsets[i + 1] as usize);
            if std::str::from_utf8(&blob[a..b]).is_err() {
                return Err(corrupt(format!("string {i} is not valid UTF-8")));
            }
        }
        if blob[blob_bytes..].iter().any(|b| *b != 0) {
            return Err(corrupt("non-zero padding after the string blob".into()));
        }
        let string_ok = |s: u32| (s as usize) < self.strings;
        if let Some(i) =
            self.words[self.tags_at..self.offsets_at].iter().position(|s| !string_ok(*s))
        {
            return Err(corrupt(format!("tag/attribute reference {i} is out of range")));
        }
        for row in 0..self.len {
            let r = self.record(row);
            if !(string_ok(r[0]) && string_ok(r[1]) && string_ok(r[2])) {
                return Err(corrupt(format!("item {row}: string reference out of range")));
            }
            let runs = [(r[5], r[6], self.tags_len), (r[7], r[8], self.attrs_len)];
            if runs.iter().any(|&(start, n, max)| start as u64 + n as u64 > max as u64) {
                return Err(corrupt(format!("item {row}: tag or attribute run out of range")));
            }
            if self.string(r[0]).is_empty() {
                return Err(corrupt(format!("item {row}: empty id")));
            }
        }
        Ok(())
    }

    fn build_index(&mut self, file: &str) -> Result<()> {
        let slots = (self.len * 2).next_power_of_two().max(2);
        let mut index = vec![0u32; slots];
        let mask = slots - 1;
        for row in 0..self.len {
            let id = self.string(self.record(row)[0]);
            let mut slot = fnv1a(id.as_bytes()) as usize & mask;
            loop {
                match index[slot] {
                    0 => {
                        index[slot] = row as u32 + 1;
                        break;
                    }
                    other => {
                        if self.string(self.record(other as usize - 1)[0]) == id {
                            return Err(Error::DuplicateId { file: file.into(), id: id.into() });
                        }
                        slot = (slot + 1) & mask;
                    }
                }
            }
        }
        self.index = index;
        Ok(())
    }

    fn record(&self, row: usize) -> &[u32] {
        let at = HEADER_WORDS + row * RECORD_WORDS;
        &self.words[at..at + RECORD_WORDS]
    }

    fn blob(&self) -> &[u8] {
        &bytemuck::cast_slice::<u32, u8>(&self.words)[self.blob_at * 4..]
    }

    /// String `i` (validated UTF-8 at load; indices validated too).
    fn string(&self, i: u32) -> &str {
        let o = &self.words[self.offsets_at..self.blob_at];
        let (a, b) = (o[i as usize] as usize, o[i as usize + 1] as usize);
        // Validated in `validate`; the fallback is unreachable but keeps this panic-free.
        std::str::from_utf8(&self.blob()[a..b]).unwrap_or_default()
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no items (never true for a loaded bundle).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The row of item `id`, in O(1) expected time.
    pub fn row_of(&self, id: &str) -> Option<usize> {
        let mask = self.index.len().checked_sub(1)?;
        let mut slot = fnv1a(id.as_bytes()) as usize & mask;
        loop {
            match self.index[slot] {
                0 => return None,
                r => {
                    let row = r as usize - 1;
                    if self.string(self.record(row)[0]) == id {
                        return Some(row);
                    }
                    slot = (slot + 1) & mask;
                }
            }
        }
    }

    /// The item at `row`, or `None` past the end.
    pub fn get(&self, row: usize) -> Option<ItemRef<'_>> {
        (row < self.len).then_some(ItemRef { table: self, row })
    }

    /// All items in row order.
    pub fn iter(&self) -> impl Iterator<Item = ItemRef<'_>> {
        (0..self.len).map(move |row| ItemRef { table: self, row })
    }

    /// Every item's categories as numbers, categories numbered in the order they first appear
    /// in the table (the numbering the trainer's ranker features use), and the number of each
    /// category name.
    pub fn category_numbers(&self) -> (Vec<Vec<u32>>, std::collections::HashMap<String, u32>) {
        let mut numbers = std::collections::HashMap::new();
        let per_item = self
            .iter()
            .map(|item| {
                item.tags()
                    .map(|tag| {
                        let next = numbers.len() as u32;
                        *numbers.entry(tag.to_string()).or_insert(next)
                    })
                    .collect()
            })
            .collect();
        (per_item, numbers)
    }

    /// Bytes the table occupies.
    pub fn stored_bytes(&self) -> usize {
        self.words.len() * 4
    }
}

impl<'a> ItemRef<'a> {
    fn rec(&self) -> &'a [u32] {
        self.table.record(self.row)
    }
    /// Row in the item table and in every per-item tensor.
    pub fn row(&self) -> usize {
        self.row
    }
    /// Stable string id.
    pub fn id(&self) -> &'a str {
        self.table.string(self.rec()[0])
    }
    /// Display title (may be empty).
    pub fn title(&self) -> &'a str {
        self.table.string(self.rec()[1])
    }
    /// Item type (`"movie"`, `"article"`, …; may be empty).
    pub fn item_type(&self) -> &'a str {
        self.table.string(self.rec()[2])
    }
    /// Creation time, seconds since the Unix epoch (0 when unknown).
    pub fn created_at(&self) -> i64 {
        let r = self.rec();
        (u64::from(r[3]) | (u64::from(r[4]) << 32)) as i64
    }
    /// Categories / tags.
    pub fn tags(&self) -> impl Iterator<Item = &'a str> + 'a {
        let (t, r) = (self.table, self.rec());
        let (start, n) = (t.tags_at + r[5] as usize, r[6] as usize);
        t.words[start..start + n].iter().map(move |s| t.string(*s))
    }
    /// Free attributes for rules (author, brand, …) as `(key, value)` pairs.
    pub fn attributes(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let (t, r) = (self.table, self.rec());
        let (start, n) = (t.attrs_at + 2 * r[7] as usize, r[8] as usize);
        t.words[start..start + 2 * n]
            .chunks_exact(2)
            .map(move |kv| (t.string(kv[0]), t.string(kv[1])))
    }
    /// The value of attribute `key`, if present.
    pub fn attribute(&self, key: &str) -> Option<&'a str> {
        self.attributes().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

/// One item as the builder reads it (JSONL object or CSV row).
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemRecord {
    /// Stable string id (non-empty, unique).
    pub id: String,
    /// Display title.
    #[serde(default)]
    pub title: String,
    /// Categories / tags.
    #[serde(default, alias = "categories")]
    pub tags: Vec<String>,
    /// Item type.
    #[serde(default, rename = "type")]
    pub item_type: String,
    /// Creation time, seconds since the Unix epoch.
    #[serde(default)]
    pub created_at: i64,
    /// Free attributes (author, brand, …).
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, String>,
}

/// String interner of the encoder: each distinct string stored once, in first-use order.
#[cfg(not(target_arch = "wasm32"))]
struct Interner<'a> {
    map: std::collections::HashMap<&'a str, u32>,
    offsets: Vec<u32>,
    blob: Vec<u8>,
}

#[cfg(not(target_arch = "wasm32"))]
impl<'a> Interner<'a> {
    fn get(&mut self, s: &'a str) -> Result<u32> {
        if let Some(i) = self.map.get(s) {
            return Ok(*i);
        }
        let i = u32::try_from(self.offsets.len() - 1).map_err(|_| too_big())?;
        self.blob.extend_from_slice(s.as_bytes());
        self.offsets.push(u32::try_from(self.blob.len()).map_err(|_| too_big())?);
        self.map.insert(s, i);
        Ok(i)
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn too_big() -> Error {
    Error::InvalidArgument { name: "items", reason: "item table over 4 GiB".into() }
}

/// Encodes items into the table layout above (strings interned in first-use order, so the
/// output is a pure function of the input).
///
/// # Errors
/// [`Error::DuplicateId`], [`Error::InvalidArgument`] for no items, an empty id, or a table over
/// 4 GiB.
#[cfg(not(target_arch = "wasm32"))]
pub fn encode_items(file: &str, items: &[ItemRecord]) -> Result<Vec<u8>> {
    if items.is_empty() {
        return Err(Error::InvalidArgument { name: "items", reason: "no items".into() });
    }
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    let mut strings =
        Interner { map: std::collections::HashMap::new(), offsets: vec![0], blob: Vec::new() };
    let mut records: Vec<u32> = Vec::with_capacity(items.len() * RECORD_WORDS);
    let mut tags: Vec<u32> = Vec::new();
    let mut attrs: Vec<u32> = Vec::new();
    let len32 = |n: usize| u32::try_from(n).map_err(|_| too_big());
    for item in items {
        if item.id.is_empty() {
            return Err(Error::InvalidArgument {
                name: "items",
                reason: "an item has an empty id".into(),
            });
        }
        if !seen.insert(item.id.as_str()) {
            return Err(Error::DuplicateId { file: file.into(), id: item.id.clone() });
        }
        let (tags_start, attrs_start) = (len32(tags.len())?, len32(attrs.len() / 2)?);
        for t in &item.tags {
            tags.push(strings.get(t)?);
        }
        for (k, v) in &item.attributes {
            attrs.push(strings.get(k)?);
            attrs.push(strings.get(v)?);
        }
        let created = item.created_at as u64;
        records.extend_from_slice(&[
            strings.get(&item.id)?,
            strings.get(&item.title)?,
            strings.get(&item.item_type)?,
            created as u32,
            (created >> 32) as u32,
            tags_start,
            len32(item.tags.len())?,
            attrs_start,
            len32(item.attributes.len())?,
        ]);
    }
    let header = [
        ITEMS_MAGIC,
        ITEMS_VERSION,
        len32(items.len())?,
        len32(strings.offsets.len() - 1)?,
        len32(tags.len())?,
        len32(attrs.len() / 2)?,
        len32(strings.blob.len())?,
        0,
    ];
    let mut out = Vec::new();
    for w in header.iter().chain(&records).chain(&tags).chain(&attrs).chain(&strings.offsets) {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(&strings.blob);
    out.resize(out.len().next_multiple_of(4), 0);
    if out.len() > u32::MAX as usize {
        return Err(too_big());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items() -> Vec<ItemRecord> {
        vec![
            ItemRecord {
                id: "m1".into(),
                title: "Heat".into(),
                tags: vec!["crime".into(), "drama".into()],
                item_type: "movie".into(),
                created_at: -5,
                attributes: [("director".to_string(), "Mann".to_string())].into(),
            },
            ItemRecord { id: "m2".into(), tags: vec!["drama".into()], ..Default::default() },
        ]
    }

    #[test]
    fn round_trips_and_looks_up_ids() {
        let bytes = encode_items("items.bin", &items()).unwrap();
        let t = ItemTable::parse("items.bin", &bytes).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t.row_of("m2"), Some(1));
        assert_eq!(t.row_of("m3"), None);
        let m1 = t.get(0).unwrap();
        assert_eq!(
            (m1.id(), m1.title(), m1.item_type(), m1.created_at()),
            ("m1", "Heat", "movie", -5)
        );
        assert_eq!(m1.tags().collect::<Vec<_>>(), ["crime", "drama"]);
        assert_eq!(m1.attribute("director"), Some("Mann"));
        assert_eq!(t.get(1).unwrap().tags().collect::<Vec<_>>(), ["drama"]);
        assert!(t.get(2).is_none());
    }

    #[test]
    fn rejects_duplicates_and_damage() {
        let mut dup = items();
        dup[1].id = "m1".into();
        assert!(matches!(encode_items("f", &dup), Err(Error::DuplicateId { .. })));
        let bytes = encode_items("items.bin", &items()).unwrap();
        for cut in [0, 4, 31, bytes.len() - 4] {
            assert!(matches!(
                ItemTable::parse("items.bin", &bytes[..cut]),
                Err(Error::BundleCorrupt { .. })
            ));
        }
        // Point item 1's id at item 0's id string: a duplicate the encoder would never write.
        let mut words: Vec<u32> =
            bytes.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
        words[HEADER_WORDS + RECORD_WORDS] = words[HEADER_WORDS];
        assert!(matches!(
            ItemTable::from_words("items.bin", words),
            Err(Error::DuplicateId { id, .. }) if id == "m1"
        ));
    }
}
