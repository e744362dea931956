#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pgexporter_tests::fuzz_entry::exposition_parse(data));
