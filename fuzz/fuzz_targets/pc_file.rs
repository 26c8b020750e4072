#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| abuild_rs::tracedeps::fuzz_pc(data));
