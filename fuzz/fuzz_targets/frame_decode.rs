#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rustrunner_fuzz::targets::frame_decode(data));
