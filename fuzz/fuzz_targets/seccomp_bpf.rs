//! libFuzzer entry for [`berth_fuzz::seccomp_bpf`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| berth_fuzz::seccomp_bpf(data));
