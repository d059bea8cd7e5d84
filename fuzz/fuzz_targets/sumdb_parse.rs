//! libFuzzer entry point; the checks live in `goshelf_fuzz::sumdb_parse` (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| goshelf_fuzz::sumdb_parse(data));
