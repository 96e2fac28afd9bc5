//! Authentication of AlertSink calls: what credentials are required and how
//! they combine.
//!
//! Methods (each optional; mTLS is enforced by TLS itself, before any call):
//!
//! - a static bearer token (`--token-file`), compared in constant time;
//! - OIDC identity tokens (`--oidc-issuer`, [`oidc`]): a JWT in
//!   `authorization: Bearer`, verified against the issuer's keys;
//! - opaque OAuth access tokens (`--oauth-access-tokens`, [`tokeninfo`]),
//!   checked at a token-info endpoint;
//! - signed payloads (`--verify-signature`, [`signature`]).
//!
//! With `--auth any` (the default) a call passes when one configured method
//! verifies; with `--auth all`, every configured method must. Headers are
//! checked before the body is read ([`Policy::check_headers`]); a payload
//! signature can only be checked once the message is decoded
//! ([`Policy::check_payload`]). A presented credential that fails is
//! refused with its own reason; it is never silently skipped for another
//! method, except that under `any` a failing bearer credential still lets a
//! signed payload decide.

pub mod fetch;
pub mod oidc;
pub mod signature;
pub mod tokeninfo;

use std::sync::Arc;

use subtle::ConstantTimeEq;
use tonic::Status;
use tonic::codegen::http::HeaderMap;

use crate::hub::Refusal;

/// The time in Unix seconds; injectable so tests can move it.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Unix seconds now (0 if the clock is before 1970).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn system_clock() -> Clock {
    Arc::new(unix_now)
}

/// Why a call was refused: the counted reason and the message for the
/// caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied {
    pub why: Refusal,
    pub message: String,
}

impl Denied {
    pub fn new(why: Refusal, message: impl Into<String>) -> Denied {
        Denied {
            why,
            message: message.into(),
        }
    }

    /// The status: PERMISSION_DENIED when the caller is known but not
    /// allowed, RESOURCE_EXHAUSTED when too many checks are asked at once,
    /// UNAVAILABLE when what checks them cannot be reached (both retried by
    /// clients), else UNAUTHENTICATED.
    pub fn status(&self) -> Status {
        match self.why {
            Refusal::NotAllowed => Status::permission_denied(self.message.clone()),
            Refusal::Overloaded => Status::resource_exhausted(self.message.clone()),
            Refusal::AuthUnavailable => Status::unavailable(self.message.clone()),
            _ => Status::unauthenticated(self.message.clone()),
        }
    }
}

/// How configured methods combine.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Combine {
    /// One configured method must verify.
    #[default]
    Any,
    /// Every configured method must verify.
    All,
}

/// What `authorization` holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Authorization<'a> {
    Absent,
    /// The credential of `Bearer <credential>` (the scheme in any case,
    /// RFC 7235).
    Bearer(&'a [u8]),
    /// Present but not a bearer credential (`Basic …`, no scheme word).
    Other,
}

pub fn authorization(headers: &HeaderMap) -> Authorization<'_> {
    let Some(value) = headers.get("authorization").map(|v| v.as_bytes()) else {
        return Authorization::Absent;
    };
    const SCHEME: &[u8] = b"bearer ";
    match value.get(..SCHEME.len()) {
        // RFC 7235: one or more spaces after the scheme; whitespace around
        // a field's value is not part of it (RFC 9110 §5.5).
        Some(s) if s.eq_ignore_ascii_case(SCHEME) => {
            Authorization::Bearer(value[SCHEME.len()..].trim_ascii())
        }
        _ => Authorization::Other,
    }
}

/// The bearer credential of `authorization`, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    match authorization(headers) {
        Authorization::Bearer(b) => Some(b),
        _ => None,
    }
}

/// True if `authorization` is `Bearer <token>` with exactly `token`.
pub fn bearer_matches(headers: &HeaderMap, token: &[u8]) -> bool {
    // ct_eq on slices of different lengths is false without comparing
    // contents; the length of the token is not a secret worth hiding.
    bearer(headers).is_some_and(|given| given.ct_eq(token).into())
}

/// The emails of an `--oidc-allow` list, lowercased: a caller's verified
/// email is matched against them whatever its case.
pub fn emails_of(allow: &[String]) -> std::collections::HashSet<String> {
    allow
        .iter()
        .filter(|a| a.contains('@'))
        .map(|a| a.to_lowercase())
        .collect()
}

/// The outcome of the header check.
#[derive(Clone, Debug)]
pub enum HeaderVerdict {
    /// Authenticated (with the verified identity, if the method gives one).
    Pass(Option<Arc<str>>),
    /// The payload signature decides (or must hold too, under `all`); the
    /// identity verified so far rides along.
    NeedSignature(Option<Arc<str>>),
    Refuse(Denied),
}

/// What is required of a call; see the module docs.
#[derive(Default)]
pub struct Policy {
    pub token: Option<Vec<u8>>,
    pub oidc: Option<Arc<oidc::Verifier>>,
    pub tokeninfo: Option<Arc<tokeninfo::Verifier>>,
    pub signature: Option<Arc<signature::Verifier>>,
    pub combine: Combine,
}

impl Policy {
    /// Whether any method is configured.
    pub fn is_required(&self) -> bool {
        self.has_bearer_method() || self.signature.is_some()
    }

    /// Whether a bearer method (static token, OIDC, access tokens) is
    /// configured.
    pub fn has_bearer_method(&self) -> bool {
        self.token.is_some() || self.oidc.is_some() || self.tokeninfo.is_some()
    }

    /// Checks `authorization` against the static token and OIDC.
    async fn check_bearer(
        &self,
        headers: &HeaderMap,
        memo: Option<&oidc::ConnMemo>,
    ) -> Result<Option<Arc<str>>, Denied> {
        let given = match authorization(headers) {
            Authorization::Bearer(b) => b,
            Authorization::Absent => {
                let or_signed = match (&self.signature, self.combine) {
                    (Some(_), Combine::Any) => {
                        format!(" or a signed payload ({})", signature::HEADER)
                    }
                    // Under `all` the signature is required beside it.
                    (_, Combine::All) => {
                        " (--auth all: every configured method is required)".into()
                    }
                    (None, Combine::Any) => String::new(),
                };
                return Err(Denied::new(
                    Refusal::AuthMissing,
                    format!("missing credentials: send authorization: Bearer <token>{or_signed}"),
                ));
            }
            Authorization::Other => {
                return Err(Denied::new(
                    Refusal::AuthMalformed,
                    "authorization is not \"Bearer <token>\"",
                ));
            }
        };
        if let Some(t) = &self.token
            && bool::from(given.ct_eq(t))
        {
            return Ok(None);
        }
        let jwt = oidc::looks_like_jwt(given);
        match (&self.oidc, &self.tokeninfo) {
            (Some(v), _) if jwt => v.verify_on(given, memo).await.map(Some),
            // Not a JWT: an access token, when those are accepted.
            (_, Some(t)) => t.verify(given).await.map(Some),
            // A static token is configured too, and this is not a JWT:
            // it was meant as the static token.
            (Some(_), None) if self.token.is_some() => Err(Denied::new(
                Refusal::Unauthenticated,
                "wrong bearer token (authorization: Bearer …)",
            )),
            (Some(v), None) => v.verify_on(given, memo).await.map(Some),
            (None, None) => Err(Denied::new(
                Refusal::Unauthenticated,
                "wrong bearer token (authorization: Bearer …)",
            )),
        }
    }

    /// The credentials of a remote viewer (Watch), which sends no payload
    /// to sign: the bearer credential when a bearer method is configured
    /// (under `any` and `all` alike); otherwise, when signed payloads are
    /// required, a client certificate verified by mTLS (`mtls`).
    pub async fn check_viewer(
        &self,
        headers: &HeaderMap,
        mtls: bool,
    ) -> Result<Option<Arc<str>>, Denied> {
        if self.has_bearer_method() {
            return self.check_bearer(headers, None).await.map_err(|d| {
                if d.why == Refusal::AuthMissing {
                    // Not "or a signed payload": a viewer has none.
                    Denied::new(
                        Refusal::AuthMissing,
                        "missing credentials: send authorization: Bearer <token>",
                    )
                } else {
                    d
                }
            });
        }
        if mtls || self.signature.is_none() {
            return Ok(None);
        }
        Err(Denied::new(
            Refusal::AuthMissing,
            "Watch needs a bearer credential (authorization: Bearer <token>) or a client \
             certificate: signed payloads cannot authenticate a viewer",
        ))
    }

    /// Checks the credentials in the headers; see [`HeaderVerdict`].
    pub async fn check_headers(&self, headers: &HeaderMap) -> HeaderVerdict {
        self.check_headers_on(headers, None).await
    }

    /// [`Policy::check_headers`] for a call on a connection whose memo of
    /// its last OIDC token is `memo` (see [`oidc::ConnMemo`]).
    pub async fn check_headers_on(
        &self,
        headers: &HeaderMap,
        memo: Option<&oidc::ConnMemo>,
    ) -> HeaderVerdict {
        let signed = self.signature.is_some();
        if !self.has_bearer_method() {
            return if signed {
                HeaderVerdict::NeedSignature(None)
            } else {
                HeaderVerdict::Pass(None)
            };
        }
        let bearer = self.check_bearer(headers, memo).await;
        match (self.combine, bearer) {
            // A signature presented beside a good bearer must verify too:
            // a credential that is presented and fails is refused.
            (Combine::Any, Ok(id)) if signed && headers.contains_key(signature::HEADER) => {
                HeaderVerdict::NeedSignature(id)
            }
            (Combine::Any, Ok(id)) => HeaderVerdict::Pass(id),
            (Combine::Any, Err(d)) if signed && headers.contains_key(signature::HEADER) => {
                // The signature may still decide; the bearer failure is
                // not counted then (the call is counted once, by its end).
                let _ = d;
                HeaderVerdict::NeedSignature(None)
            }
            (Combine::All, Ok(id)) if signed => HeaderVerdict::NeedSignature(id),
            (Combine::All, Ok(id)) => HeaderVerdict::Pass(id),
            (_, Err(d)) => HeaderVerdict::Refuse(d),
        }
    }

    /// Checks a payload signature over the message bytes. What it returns
    /// is given back with [`Policy::forget`] if the call is refused later.
    pub fn check_payload(
        &self,
        header: Option<&[u8]>,
        message: &[u8],
    ) -> Result<Option<signature::Used>, Denied> {
        match &self.signature {
            Some(v) => v.verify(header, message).map(Some),
            None => Ok(None),
        }
    }

    /// A verified signature whose call was refused after all: see
    /// [`signature::Verifier::forget`].
    pub fn forget(&self, used: Option<signature::Used>) {
        if let (Some(v), Some(u)) = (&self.signature, used) {
            v.forget(u);
        }
    }

    /// One line per method for the start-up banner, e.g.
    /// `authentication: any of [bearer token, OIDC (issuer …), signed payloads (ed25519)]`.
    pub fn describe(&self, mtls: bool) -> String {
        let mut methods = Vec::new();
        if self.token.is_some() {
            methods.push("static bearer token".to_owned());
        }
        if let Some(o) = &self.oidc {
            methods.push(o.describe());
        }
        if let Some(t) = &self.tokeninfo {
            methods.push(t.describe());
        }
        if let Some(s) = &self.signature {
            methods.push(format!("signed payloads ({})", s.alg()));
        }
        let tls = if mtls {
            " (and an mTLS client certificate, checked by TLS first)"
        } else {
            ""
        };
        match (methods.len(), self.combine) {
            (0, _) if mtls => "authentication: mTLS client certificate only".to_owned(),
            (0, _) => "authentication: none (every caller is accepted)".to_owned(),
            (1, _) => format!("authentication: {}{tls}", methods[0]),
            (_, Combine::Any) => {
                format!("authentication: any one of [{}]{tls}", methods.join(", "))
            }
            (_, Combine::All) => {
                format!("authentication: all of [{}]{tls}", methods.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("authorization", v.parse().unwrap());
        h
    }

    #[test]
    fn only_the_exact_token_matches() {
        assert!(bearer_matches(&headers("Bearer s3cret"), b"s3cret"));
        assert!(bearer_matches(&headers("bearer s3cret"), b"s3cret"));
        assert!(!bearer_matches(&headers("Bearer s3cre"), b"s3cret"));
        assert!(bearer_matches(&headers("Bearer s3cret "), b"s3cret"));
        assert!(bearer_matches(&headers("Bearer   s3cret"), b"s3cret"));
        assert!(!bearer_matches(&headers("Bearer s3c ret"), b"s3cret"));
        assert!(!bearer_matches(&headers("Bearer "), b"s3cret"));
        assert!(bearer_matches(&headers("BEARER s3cret"), b"s3cret"));
        assert!(!bearer_matches(&headers("Basic s3cret"), b"s3cret"));
        assert!(!bearer_matches(&headers("s3cret"), b"s3cret"));
        assert!(!bearer_matches(&HeaderMap::new(), b"s3cret"));
    }

    #[tokio::test]
    async fn a_static_token_counts_missing_and_wrong_apart() {
        let p = Policy {
            token: Some(b"s3cret".to_vec()),
            ..Policy::default()
        };
        assert!(matches!(
            p.check_headers(&headers("Bearer s3cret")).await,
            HeaderVerdict::Pass(None)
        ));
        let HeaderVerdict::Refuse(d) = p.check_headers(&HeaderMap::new()).await else {
            panic!()
        };
        assert_eq!(d.why, Refusal::AuthMissing);
        let HeaderVerdict::Refuse(d) = p.check_headers(&headers("Bearer nope")).await else {
            panic!()
        };
        assert_eq!(d.why, Refusal::Unauthenticated);
        // Present but not a bearer credential: malformed, not missing.
        for v in ["Basic czNjcmV0", "s3cret"] {
            let HeaderVerdict::Refuse(d) = p.check_headers(&headers(v)).await else {
                panic!("{v}")
            };
            assert_eq!(d.why, Refusal::AuthMalformed, "{v}");
        }
    }

    #[tokio::test]
    async fn under_all_a_good_token_still_needs_the_signature() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("s");
        std::fs::write(&secret, "0123456789abcdef0123").unwrap();
        let sig =
            signature::Verifier::load(&signature::KeySpec::Hmac(secret), system_clock()).unwrap();
        let mut p = Policy {
            token: Some(b"s3cret".to_vec()),
            signature: Some(Arc::new(sig)),
            combine: Combine::All,
            ..Policy::default()
        };
        assert!(matches!(
            p.check_headers(&headers("Bearer s3cret")).await,
            HeaderVerdict::NeedSignature(_)
        ));
        assert!(matches!(
            p.check_headers(&HeaderMap::new()).await,
            HeaderVerdict::Refuse(_)
        ));
        p.combine = Combine::Any;
        assert!(matches!(
            p.check_headers(&headers("Bearer s3cret")).await,
            HeaderVerdict::Pass(_)
        ));
        // Without a token but with a signature header: the signature decides.
        let mut h = HeaderMap::new();
        h.insert(signature::HEADER, "t=1".parse().unwrap());
        assert!(matches!(
            p.check_headers(&h).await,
            HeaderVerdict::NeedSignature(_)
        ));
        assert!(
            p.describe(false).contains("any one of"),
            "{}",
            p.describe(false)
        );
    }

    #[test]
    fn a_jwt_has_exactly_three_parts() {
        assert!(oidc::looks_like_jwt(b"a.b.c"));
        assert!(oidc::looks_like_jwt(b".."));
        assert!(!oidc::looks_like_jwt(b"a.b"));
        assert!(!oidc::looks_like_jwt(b"a.b.c.d"));
        assert!(!oidc::looks_like_jwt(b""));
        let long = format!(
            "{}.{}.{}",
            "x".repeat(700),
            "y".repeat(900),
            "z".repeat(300)
        );
        assert!(oidc::looks_like_jwt(long.as_bytes()));
        assert!(!oidc::looks_like_jwt(format!("{long}.").as_bytes()));
    }

    /// Every call awaits the header check, so its future is part of every
    /// call's future: the rare slow paths (fetching keys, asking token-info,
    /// each an HTTPS client of several KB) are boxed so that it stays
    /// small and cheap to move (it was 5 KB).
    #[test]
    fn the_per_call_check_future_stays_small() {
        let p = Policy::default();
        let h = HeaderMap::new();
        let size = std::mem::size_of_val(&p.check_headers_on(&h, None));
        assert!(size <= 1024, "check_headers_on's future is {size} bytes");
    }
}
