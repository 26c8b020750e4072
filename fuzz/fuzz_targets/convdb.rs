#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| apk_core::fuzzing::convdb(data));
