//! Opaque OAuth access tokens — what `oauth.NewApplicationDefault` sends
//! with scopes — checked against a token-info endpoint (Google's by
//! default): `GET <url>?access_token=<token>` answers, for a live token, a
//! JSON object with its expiry and whom it was issued to (`email` with
//! `email_verified`, the OAuth client in `azp`/`aud`, `sub`); for anything
//! else an HTTP error.
//!
//! The caller is allowed when its verified email, client id or subject is
//! in `--oidc-allow`. Answers are cached until the token's expiry (at most
//! [`CACHE_CAPACITY`] tokens), and lookups are bounded — [`LOOKUP_RATE`] per
//! second with a burst of [`LOOKUP_BURST`], at most [`LOOKUP_CONCURRENCY`]
//! at once — so a flood of random tokens becomes at most that many outbound
//! calls; beyond it the caller gets RESOURCE_EXHAUSTED (counted
//! `overloaded`) and may retry.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Clock, Denied};
use crate::hub::Refusal;

pub const DEFAULT_URL: &str = "https://oauth2.googleapis.com/tokeninfo";
/// Lookups per second, sustained.
pub const LOOKUP_RATE: f64 = 10.0;
/// Lookups at once after a quiet period.
pub const LOOKUP_BURST: f64 = 20.0;
/// Lookups in flight at once.
pub const LOOKUP_CONCURRENCY: usize = 4;
/// Tokens whose answer is remembered.
pub const CACHE_CAPACITY: usize = 4096;
/// Longest token accepted (Google's are a few hundred bytes).
pub const MAX_TOKEN: usize = 4096;
/// How long an invalid token's answer is remembered (a client retrying a
/// dead token does not make a lookup per call).
const NEGATIVE_TTL: u64 = 60;

struct Cached {
    verdict: Result<Arc<str>, Denied>,
    until: u64,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Checks access tokens; see the module docs.
pub struct Verifier {
    url: String,
    allow_any: bool,
    allow: HashSet<String>,
    /// The emails of `allow`, lowercased (see `super::emails_of`).
    emails: HashSet<String>,
    allow_list: Vec<String>,
    cache: Mutex<HashMap<Box<str>, Cached>>,
    bucket: Mutex<Bucket>,
    permits: tokio::sync::Semaphore,
    clock: Clock,
}

impl Verifier {
    pub fn new(url: Option<&str>, allow: &[String], clock: Clock) -> Result<Verifier, String> {
        let url = url.unwrap_or(DEFAULT_URL).to_owned();
        super::fetch::check_url(&url).map_err(|e| format!("--oauth-tokeninfo-url: {e}"))?;
        if url.contains('?') {
            return Err(format!(
                "--oauth-tokeninfo-url: {url}: give the endpoint without a query"
            ));
        }
        if allow.is_empty() {
            return Err(
                "access tokens need --oidc-allow EMAIL|CLIENT_ID (at least one; `*` allows any \
                 token the endpoint vouches for — with Google's, that is any Google account)"
                    .to_owned(),
            );
        }
        Ok(Verifier {
            url,
            allow_any: allow.iter().any(|a| a == "*"),
            allow: allow.iter().cloned().collect(),
            emails: super::emails_of(allow),
            allow_list: allow.to_vec(),
            cache: Mutex::new(HashMap::new()),
            bucket: Mutex::new(Bucket {
                tokens: LOOKUP_BURST,
                at: Instant::now(),
            }),
            permits: tokio::sync::Semaphore::new(LOOKUP_CONCURRENCY),
            clock,
        })
    }

    pub fn describe(&self) -> String {
        format!(
            "OAuth access tokens (checked at {}, allowed: {})",
            self.url,
            if self.allow_any {
                "anyone the endpoint vouches for".to_owned()
            } else {
                self.allow_list.join(", ")
            }
        )
    }

    fn take_lookup(&self) -> bool {
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let dt = now.duration_since(b.at).as_secs_f64();
        b.at = now;
        b.tokens = (b.tokens + dt * LOOKUP_RATE).min(LOOKUP_BURST);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Verifies an access token; `Ok` is the identity for display
    /// (`oauth:<email or client id>`).
    pub async fn verify(&self, token: &[u8]) -> Result<Arc<str>, Denied> {
        let now = (self.clock)();
        if token.is_empty()
            || token.len() > MAX_TOKEN
            || !token.iter().all(|b| {
                b.is_ascii_alphanumeric()
                    || matches!(b, b'.' | b'_' | b'~' | b'-' | b'+' | b'/' | b'=')
            })
        {
            return Err(Denied::new(
                Refusal::AuthMalformed,
                "the bearer token is not an OAuth access token",
            ));
        }
        // Checked just above: ASCII.
        let token = std::str::from_utf8(token).unwrap_or_default();
        if let Some(v) = self.cached(token, now) {
            return v;
        }
        // Boxed: the lookup's future (an HTTPS client) is large, and every
        // call's future would otherwise be as large as it, cached or not.
        Box::pin(self.look_up(token, now)).await
    }

    /// Asks the token-info endpoint, within the rate and concurrency
    /// bounds, and caches the answer.
    async fn look_up(&self, token: &str, now: u64) -> Result<Arc<str>, Denied> {
        if !self.take_lookup() {
            return Err(Denied::new(
                Refusal::Overloaded,
                "too many unknown access tokens to check right now; retry later",
            ));
        }
        let Ok(_permit) =
            tokio::time::timeout(Duration::from_secs(2), self.permits.acquire()).await
        else {
            return Err(Denied::new(
                Refusal::Overloaded,
                "too many access tokens being checked at once; retry later",
            ));
        };
        // Checked again: another call may have looked it up meanwhile.
        if let Some(v) = self.cached(token, now) {
            return v;
        }
        let encoded: String = token
            .bytes()
            .map(|b| match b {
                b'+' => "%2B".to_owned(),
                b'/' => "%2F".to_owned(),
                b'=' => "%3D".to_owned(),
                b => (b as char).to_string(),
            })
            .collect();
        let url = format!("{}?access_token={encoded}", self.url);
        let (status, body) = match super::fetch::get_with_status(&url, &self.url).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("token-info: {e}");
                return Err(Denied::new(
                    Refusal::AuthUnavailable,
                    "the token-info endpoint cannot be reached to check the access token; retry later",
                ));
            }
        };
        let (verdict, until) = match self.judge(status, &body, now) {
            Judged::Verdict(v, until) => (v, until),
            Judged::Unavailable(why) => {
                // The endpoint failed, not the token: said, not remembered,
                // and UNAVAILABLE, which clients retry (a 503 from Google
                // must not lock a good token out for a minute).
                tracing::warn!("token-info: {}: {why}", self.url);
                return Err(Denied::new(
                    Refusal::AuthUnavailable,
                    format!(
                        "the token-info endpoint could not check the access token ({why}); \
                         retry later"
                    ),
                ));
            }
        };
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, c| now < c.until);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(
            token.into(),
            Cached {
                verdict: verdict.clone(),
                until,
            },
        );
        verdict
    }

    fn cached(&self, token: &str, now: u64) -> Option<Result<Arc<str>, Denied>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let hit = cache.get(token)?;
        (now < hit.until).then(|| hit.verdict.clone())
    }

    /// The verdict on an endpoint's answer, and until when it holds; or
    /// that the endpoint could not give one.
    fn judge(&self, status: u16, body: &[u8], now: u64) -> Judged {
        let invalid = |msg: &str| {
            Judged::Verdict(
                Err(Denied::new(Refusal::Unauthenticated, msg)),
                now + NEGATIVE_TTL,
            )
        };
        match status {
            200 => {}
            // What the endpoint says of a token it does not vouch for
            // (Google's: 400 `invalid_token`).
            400 | 401 | 403 | 404 => {
                return invalid(
                    "the access token is not valid (the token-info endpoint refused it)",
                );
            }
            // A server error, a rate limit, a redirect: the endpoint's
            // trouble, not the token's.
            s => return Judged::Unavailable(format!("it answered HTTP {s}")),
        }
        let Ok(info) = serde_json::from_slice::<serde_json::Value>(body) else {
            return Judged::Unavailable("its answer is not JSON".into());
        };
        let text = |k: &str| match &info[k] {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        let exp = text("exp").and_then(|e| e.parse::<u64>().ok()).or_else(|| {
            text("expires_in")
                .and_then(|e| e.parse::<u64>().ok())
                .map(|s| now + s)
        });
        let Some(exp) = exp else {
            return invalid("the token-info answer has no expiry");
        };
        if exp <= now {
            return Judged::Verdict(
                Err(Denied::new(
                    Refusal::Expired,
                    "the access token has expired",
                )),
                now + NEGATIVE_TTL,
            );
        }
        let listed_email = text("email");
        let email = listed_email
            .clone()
            .filter(|_| text("email_verified").as_deref() == Some("true"));
        let client = text("azp").or_else(|| text("aud"));
        let sub = text("sub");
        let allowed = self.allow_any
            || email
                .as_ref()
                .is_some_and(|e| self.emails.contains(&e.to_lowercase()))
            || [&client, &sub]
                .into_iter()
                .flatten()
                .any(|id| self.allow.contains(id));
        let who = email.or(client).or(sub).unwrap_or_default();
        let identity: Arc<str> = format!("oauth:{}", crate::sanitize::line(&who)).into();
        if !allowed {
            // As for OIDC: say when the email would have been allowed.
            let unverified = match &listed_email {
                Some(e)
                    if text("email_verified").as_deref() != Some("true")
                        && self.emails.contains(&e.to_lowercase()) =>
                {
                    format!(
                        " (its email {} is on the list but not email_verified)",
                        crate::sanitize::line(e)
                    )
                }
                _ => String::new(),
            };
            return Judged::Verdict(
                Err(Denied::new(
                    Refusal::NotAllowed,
                    format!("{identity} is not allowed (--oidc-allow){unverified}"),
                )),
                exp,
            );
        }
        Judged::Verdict(Ok(identity), exp)
    }
}

/// What an endpoint's answer says.
enum Judged {
    /// A verdict on the token, and until when it holds (cached).
    Verdict(Result<Arc<str>, Denied>, u64),
    /// The endpoint could not answer (a server error, a body that is not
    /// its JSON): not cached.
    Unavailable(String),
}
