//! The terminal sanitizer: whatever goes in, what comes out of `line()` is
//! clean, and `text()` keeps only newlines as line breaks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    let line = sinkwatch::sanitize::line(s);
    assert!(sinkwatch::sanitize::is_clean_line(&line), "{s:?} -> {line:?}");
    let text = sinkwatch::sanitize::text(s);
    for l in text.split('\n') {
        assert!(sinkwatch::sanitize::is_clean_line(l), "{s:?} -> {l:?}");
    }
    let mut json = Vec::new();
    sinkwatch::sanitize::write_json(&mut json, s).unwrap();
    let json = String::from_utf8(json).unwrap();
    assert!(sinkwatch::sanitize::is_clean_line(&json), "{s:?} -> {json}");
    let back: String = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
});
