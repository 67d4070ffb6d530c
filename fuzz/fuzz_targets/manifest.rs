//! Arbitrary bytes as `manifest.json`: parsing and every structural check must never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    edgerec::bundle::fuzzing::manifest(data);
});
