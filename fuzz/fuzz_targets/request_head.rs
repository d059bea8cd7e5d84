//! libFuzzer entry point; the checks live in `goshelf_fuzz::request_head` (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| goshelf_fuzz::request_head(data));
