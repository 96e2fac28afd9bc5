//! The sink's request path after the HTTP/2 and gRPC framing: decode an
//! AlertRequest with bytes fields, validate it, and write the accepted alert
//! as a JSON line. Nothing may panic; an accepted alert must come out of the
//! JSON line unchanged and terminal-safe.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use sinkwatch::hub::Hub;
use sinkwatch::model::StoreLimits;
use sinkwatch::sink::SinkLimits;
use sinkwatch::sink::service::RawAlertRequest;
use sinkwatch::sink::validate::validate;

fuzz_target!(|data: &[u8]| {
    let Ok(req) = RawAlertRequest::decode(data) else {
        return;
    };
    let small = SinkLimits {
        max_name_bytes: 32,
        max_details_bytes: 256,
        ..SinkLimits::default()
    };
    let _ = validate(&req, &small);
    let Ok(alert) = validate(&req, &SinkLimits::default()) else {
        return;
    };
    let hub = Hub::new(StoreLimits::default(), 1);
    let record = hub.ingest_at(&alert, 0, None, None).expect("a valid alert is stored");
    let mut line = Vec::new();
    sinkwatch::record::write_alert(&mut line, &record).unwrap();
    let text = std::str::from_utf8(&line).unwrap().trim_end_matches('\n');
    assert!(sinkwatch::sanitize::is_clean_line(text), "{text:?}");
    let back: Vec<_> = sinkwatch::record::read_alerts(&line[..]).collect();
    let back = back[0].as_ref().unwrap();
    assert_eq!(back.owner, alert.owner);
    assert_eq!(back.repo, alert.repo);
    assert_eq!(back.policy, alert.policy);
    assert_eq!(back.details, alert.details);
});
