//! Arbitrary bytes as one binary file of the fixture bundle (first byte picks `tensors.bin` or
//! `items.bin`), under the fixture's manifest with the hash and length rewritten to match, so
//! the value checks behind the hash check (NaN, int8 range, padding, neighbour ids, item table)
//! and the views are reached.
#![no_main]

const MANIFEST: &[u8] = include_bytes!("../../models/fixture/manifest.json");
const TENSORS: &[u8] = include_bytes!("../../models/fixture/tensors.bin");
const ITEMS: &[u8] = include_bytes!("../../models/fixture/items.bin");

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((which, body)) = data.split_first() else { return };
    let files: [(&str, &[u8]); 2] = if which % 2 == 0 {
        [("tensors.bin", body), ("items.bin", ITEMS)]
    } else {
        [("tensors.bin", TENSORS), ("items.bin", body)]
    };
    edgerec::bundle::fuzzing::bundle(MANIFEST, &files);
});
