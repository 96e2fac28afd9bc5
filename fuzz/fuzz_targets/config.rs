//! The config file parser and merge: no panic, errors are one line that
//! starts with the file's name.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match sinkwatch::config::parse_file(text, "fuzz.yaml") {
        Ok(file) => {
            let _ = sinkwatch::config::merge(&sinkwatch::cli::RunArgs::default(), file, None);
        }
        Err(e) => {
            assert!(e.0.starts_with("fuzz.yaml:"), "{}", e.0);
            assert_eq!(e.0.lines().count(), 1, "{:?}", e.0);
        }
    }
});
