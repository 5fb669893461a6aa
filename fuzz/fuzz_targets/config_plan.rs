//! libFuzzer entry for [`berth_fuzz::config_plan`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| berth_fuzz::config_plan(data));
