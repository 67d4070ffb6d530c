//! Arbitrary bytes as `items.bin`: parsing, id lookups and iteration must never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    edgerec::bundle::fuzzing::items(data);
});
