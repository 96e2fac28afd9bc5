//! The JSON-lines reader (`replay`, `open`) over arbitrary bytes: no panic,
//! and every error names a line that exists.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lines = data.split(|b| *b == b'\n').count() as u64;
    for item in sinkwatch::record::read_alerts(data) {
        if let Err(e) = item {
            assert!(e.line >= 1 && e.line <= lines, "line {} of {lines}", e.line);
        }
    }
});
