//! Turning a wire request into a model alert, or a precise refusal.

use tonic::Status;

use super::limits::SinkLimits;
use super::service::RawAlertRequest;
use crate::hub::Refusal;
use crate::model::NewAlert;

/// Validates a request: owner, repo and policy present, every field valid
/// UTF-8 and within its limit. The error names the field.
pub fn validate(req: &RawAlertRequest, limits: &SinkLimits) -> Result<NewAlert, (Refusal, Status)> {
    validate_owned(req.clone(), limits)
}

/// As [`validate`], taking the request apart: the decoded byte buffers
/// become the alert's strings without a copy (this is the ingest path).
pub fn validate_owned(
    req: RawAlertRequest,
    limits: &SinkLimits,
) -> Result<NewAlert, (Refusal, Status)> {
    let owner = field("owner_name", req.owner_name, limits.max_name_bytes, true)?;
    let repo = field("repo_name", req.repo_name, limits.max_name_bytes, true)?;
    let policy = field("policy_name", req.policy_name, limits.max_name_bytes, true)?;
    let details = field("details", req.details, limits.max_details_bytes, false)?;
    Ok(NewAlert {
        owner,
        repo,
        policy,
        details,
        pass: req.pass,
    })
}

fn field(
    name: &str,
    bytes: Vec<u8>,
    limit: usize,
    required: bool,
) -> Result<String, (Refusal, Status)> {
    check(name, &bytes, limit, required)?;
    utf8(name, bytes)
}

fn check(name: &str, bytes: &[u8], limit: usize, required: bool) -> Result<(), (Refusal, Status)> {
    if required && bytes.is_empty() {
        return Err((
            Refusal::EmptyField,
            Status::invalid_argument(format!("{name} is empty; it is required")),
        ));
    }
    if bytes.len() > limit {
        return Err((
            Refusal::FieldTooLong,
            Status::invalid_argument(format!(
                "{name} is {} bytes; the limit is {limit} bytes",
                bytes.len()
            )),
        ));
    }
    Ok(())
}

fn utf8(name: &str, bytes: Vec<u8>) -> Result<String, (Refusal, Status)> {
    String::from_utf8(bytes).map_err(|e| {
        (
            Refusal::InvalidUtf8,
            Status::invalid_argument(format!(
                "{name} is not valid UTF-8 (at byte {})",
                e.utf8_error().valid_up_to()
            )),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    fn req() -> RawAlertRequest {
        RawAlertRequest {
            owner_name: b"ossf".to_vec(),
            repo_name: b"allstar".to_vec(),
            policy_name: b"SECURITY.md".to_vec(),
            details: b"Security policy not enabled.\n".to_vec(),
            pass: false,
        }
    }

    #[test]
    fn a_good_request_becomes_an_alert() {
        let a = validate(&req(), &SinkLimits::default()).unwrap();
        assert_eq!(a.owner, "ossf");
        assert_eq!(a.details, "Security policy not enabled.\n");
        assert!(!a.pass);
    }

    #[test]
    fn empty_required_fields_are_named() {
        for (name, clear) in [
            (
                "owner_name",
                (|r: &mut RawAlertRequest| r.owner_name.clear()) as fn(&mut RawAlertRequest),
            ),
            ("repo_name", |r| r.repo_name.clear()),
            ("policy_name", |r| r.policy_name.clear()),
        ] {
            let mut r = req();
            clear(&mut r);
            let (why, st) = validate(&r, &SinkLimits::default()).unwrap_err();
            assert_eq!(why, Refusal::EmptyField);
            assert_eq!(st.code(), Code::InvalidArgument);
            assert!(st.message().starts_with(name), "{}", st.message());
        }
        let mut r = req();
        r.details.clear();
        assert!(
            validate(&r, &SinkLimits::default()).is_ok(),
            "details may be empty"
        );
    }

    #[test]
    fn long_fields_and_bad_utf8_are_named() {
        let limits = SinkLimits {
            max_name_bytes: 16,
            max_details_bytes: 16,
            ..SinkLimits::default()
        };
        let mut r = req();
        r.repo_name = b"a-much-too-long-repo".to_vec();
        let (why, st) = validate(&r, &limits).unwrap_err();
        assert_eq!(why, Refusal::FieldTooLong);
        assert!(
            st.message()
                .contains("repo_name is 20 bytes; the limit is 16"),
            "{}",
            st.message()
        );

        let mut r = req();
        r.details = vec![b'x'; 17];
        let (_, st) = validate(&r, &limits).unwrap_err();
        assert!(
            st.message().starts_with("details is 17 bytes"),
            "{}",
            st.message()
        );

        let mut r = req();
        r.policy_name = vec![b'o', b'k', 0xff, 0xfe];
        let (why, st) = validate(&r, &limits).unwrap_err();
        assert_eq!(why, Refusal::InvalidUtf8);
        assert_eq!(st.message(), "policy_name is not valid UTF-8 (at byte 2)");
    }
}
