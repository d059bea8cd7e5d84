//! libFuzzer entry point; the checks live in `goshelf_fuzz::modfile` (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| goshelf_fuzz::modfile(data));
