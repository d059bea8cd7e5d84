//! libFuzzer entry point; the checks live in `goshelf_fuzz::goproxy_request` (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| goshelf_fuzz::goproxy_request(data));
