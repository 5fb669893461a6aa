//! libFuzzer entry for [`berth_fuzz::state_file`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| berth_fuzz::state_file(data));
