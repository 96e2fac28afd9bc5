//! Bearer-token authentication, compared in constant time.

use subtle::ConstantTimeEq;
use tonic::codegen::http::HeaderMap;

/// True if `authorization` is `Bearer <token>` with exactly `token`.
pub fn bearer_matches(headers: &HeaderMap, token: &[u8]) -> bool {
    let Some(value) = headers.get("authorization") else {
        return false;
    };
    let value = value.as_bytes();
    let Some(given) = value
        .strip_prefix(b"Bearer ")
        .or_else(|| value.strip_prefix(b"bearer "))
    else {
        return false;
    };
    // ct_eq on slices of different lengths is false without comparing
    // contents; the length of the token is not a secret worth hiding.
    given.ct_eq(token).into()
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
        assert!(!bearer_matches(&headers("Bearer s3cret "), b"s3cret"));
        assert!(!bearer_matches(&headers("Basic s3cret"), b"s3cret"));
        assert!(!bearer_matches(&headers("s3cret"), b"s3cret"));
        assert!(!bearer_matches(&HeaderMap::new(), b"s3cret"));
    }
}
