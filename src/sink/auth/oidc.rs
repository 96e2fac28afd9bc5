//! OIDC identity tokens: a JWT in `authorization: Bearer`, as Google's
//! default credentials send for an ID-token audience (also GitHub Actions
//! and Kubernetes projected service-account tokens).
//!
//! A token passes when its signature verifies with one of the issuer's keys
//! (RS256/384/512, PS256/384/512, ES256/384 or EdDSA; the key is chosen by
//! `kid`), `iss` is the issuer, `aud` one of the audiences, `exp` (required)
//! and `nbf` hold within [`LEEWAY_SECS`] of the sink's clock, and the
//! subject — or the email, when `email_verified` is true — is allowed.
//!
//! Keys come from a JWKS file, a JWKS URL, or the issuer's discovery
//! document (`<issuer>/.well-known/openid-configuration`, its `jwks_uri`).
//! Fetched keys are cached; an unknown `kid` fetches them again (or reads
//! the file again: a key rotated into it needs no restart), at most once
//! per [`MIN_REFRESH`], and fetched keys older than [`MAX_KEY_AGE`] are
//! refreshed in the background. A failed fetch keeps the cached keys: the
//! sink serves on while the issuer is unreachable.
//!
//! Verdicts are cached by token until the token's expiry (at most
//! [`CACHE_CAPACITY`] tokens), so a client reusing its token — as gRPC
//! clients do for its lifetime — costs one hash lookup per call. In front
//! of that shared cache, each connection remembers the last token it
//! presented and its verdict ([`ConnMemo`]): a client sends the same token
//! on every call of a connection, and comparing its bytes costs less than
//! hashing them and taking the shared cache's lock (BENCHMARKS.md). The
//! memo holds only what the shared cache would answer, under the same
//! expiry check, so a verdict never outlives the token's `exp`.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::{Clock, Denied};
use crate::hub::Refusal;

/// Clock skew allowed on `exp` and `nbf`, either way.
pub const LEEWAY_SECS: u64 = 60;
/// Shortest time between two key fetches (an unknown `kid` cannot turn a
/// flood of forged tokens into a flood of fetches).
pub const MIN_REFRESH: Duration = Duration::from_secs(30);
/// Fetched keys older than this are refreshed in the background.
pub const MAX_KEY_AGE: Duration = Duration::from_secs(3600);
/// Tokens whose verdict is remembered.
pub const CACHE_CAPACITY: usize = 4096;
/// Longest token accepted (the header list limit is 16 KiB anyway).
pub const MAX_TOKEN: usize = 12 * 1024;
/// The most read of a `--oidc-jwks` file: what a fetched key set may be.
const MAX_JWKS_FILE: u64 = super::fetch::MAX_BYTES as u64;

const ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Where the keys come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksSource {
    File(PathBuf),
    Url(String),
    /// The issuer's discovery document names the JWKS URL.
    Discovery,
}

impl JwksSource {
    /// `--oidc-jwks FILE|URL`; `None`: discovery.
    pub fn parse(value: Option<&str>) -> JwksSource {
        match value {
            None => JwksSource::Discovery,
            // Any scheme is a URL (refused by `fetch::check_url` unless it
            // is https, or http on loopback), not a file named `ftp:`.
            Some(v) if v.contains("://") => JwksSource::Url(v.to_owned()),
            Some(v) => JwksSource::File(v.into()),
        }
    }
}

/// The OIDC options.
#[derive(Clone, Debug)]
pub struct Settings {
    pub issuer: String,
    pub audiences: Vec<String>,
    pub jwks: JwksSource,
    /// Subjects or emails; `*` allows every verified caller.
    pub allow: Vec<String>,
}

/// The verifier's keys, by `kid`.
struct KeySet {
    by_kid: HashMap<String, (DecodingKey, Option<Algorithm>)>,
    without_kid: Vec<(DecodingKey, Option<Algorithm>)>,
    fetched: Instant,
}

impl KeySet {
    fn parse(json: &[u8], origin: &str) -> Result<KeySet, String> {
        // Key by key (RFC 7517 §5: a key of a kind the reader does not
        // know is ignored), so that an issuer adding, say, an ES512 or an
        // encryption key at a rotation does not make the whole set
        // unusable; only a set with no usable key at all is an error.
        #[derive(Deserialize)]
        struct RawSet {
            keys: Vec<serde_json::Value>,
        }
        let raw: RawSet = serde_json::from_slice(json)
            .map_err(|e| format!("{origin}: not a JWKS document ({{\"keys\": [...]}}): {e}"))?;
        let mut skipped = Vec::new();
        let keys: Vec<Jwk> = raw
            .keys
            .into_iter()
            .enumerate()
            .filter_map(|(i, v)| match serde_json::from_value::<Jwk>(v) {
                Ok(k) => Some(k),
                Err(e) => {
                    skipped.push(format!("key {i}: {e}"));
                    None
                }
            })
            .collect();
        let set = JwkSet { keys };
        let mut by_kid = HashMap::new();
        let mut without_kid = Vec::new();
        for jwk in &set.keys {
            // Keys for encryption, or of a kind jsonwebtoken cannot use
            // (symmetric keys have no place in a public JWKS), are skipped.
            if matches!(
                jwk.common.public_key_use,
                Some(jsonwebtoken::jwk::PublicKeyUse::Encryption)
            ) || matches!(
                jwk.algorithm,
                jsonwebtoken::jwk::AlgorithmParameters::OctetKey(_)
            ) {
                continue;
            }
            let key = match DecodingKey::from_jwk(jwk) {
                Ok(key) => key,
                Err(e) => {
                    // A key of a known kind that cannot be read (a bad
                    // modulus): the others serve, and this is said.
                    tracing::warn!(
                        "{origin}: key {}: cannot be used ({e}); skipped",
                        crate::sanitize::line(
                            jwk.common.key_id.as_deref().unwrap_or("without kid")
                        )
                    );
                    continue;
                }
            };
            let alg = jwk
                .common
                .key_algorithm
                .and_then(|a| a.to_string().parse::<Algorithm>().ok());
            match &jwk.common.key_id {
                Some(kid) => {
                    by_kid.insert(kid.clone(), (key, alg));
                }
                None => without_kid.push((key, alg)),
            }
        }
        if by_kid.is_empty() && without_kid.is_empty() {
            let why = skipped.first().map_or(String::new(), |e| {
                format!(" ({} of a kind not understood; first, {e})", skipped.len())
            });
            return Err(format!(
                "{origin}: the JWKS holds no usable signing key{why}"
            ));
        }
        if !skipped.is_empty() {
            tracing::info!(
                "{origin}: {} key(s) of a kind not used for ID tokens were ignored",
                skipped.len()
            );
        }
        Ok(KeySet {
            by_kid,
            without_kid,
            fetched: Instant::now(),
        })
    }

    fn find(&self, kid: Option<&str>) -> Vec<(DecodingKey, Option<Algorithm>)> {
        match kid {
            Some(k) => self.by_kid.get(k).cloned().into_iter().collect(),
            // A token without kid: try every key (issuers with one key).
            None => self
                .by_kid
                .values()
                .chain(self.without_kid.iter())
                .cloned()
                .collect(),
        }
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "numeric_date")]
    exp: Option<u64>,
    #[serde(default, deserialize_with = "numeric_date")]
    nbf: Option<u64>,
}

/// A NumericDate (RFC 7519 §2): seconds, "possibly non-integer" — a
/// fraction is dropped. Negative, not finite, or not a number: unreadable.
fn numeric_date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(u) = n.as_u64() {
        return Ok(Some(u));
    }
    match n.as_f64() {
        Some(f) if f.is_finite() && f >= 0.0 && f < u64::MAX as f64 => Ok(Some(f as u64)),
        _ => Err(serde::de::Error::custom("not a NumericDate")),
    }
}

/// The `crit` header parameter (RFC 7515 §4.1.11): extensions the token
/// says must be understood. sinkwatch understands none, so a token that
/// lists any is refused.
fn critical_extensions(token: &str) -> Option<Vec<String>> {
    use base64::Engine;
    let head = token.split('.').next()?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&json).ok()?;
    let crit = v.get("crit")?;
    Some(match crit.as_array() {
        Some(a) => a
            .iter()
            .map(|e| e.as_str().unwrap_or("?").to_owned())
            .collect(),
        None => vec!["?".to_owned()],
    })
}

struct Cached {
    verdict: Result<Arc<str>, Denied>,
    exp: u64,
}

/// The last token one connection presented, with the verdict the shared
/// cache holds for it; see the module docs. One per connection, so it
/// never holds more than one token.
#[derive(Default)]
pub struct ConnMemo {
    last: Mutex<Option<Memo>>,
}

struct Memo {
    /// The verifier that judged it (a connection is served by one sink,
    /// but nothing else ties the memo to a verifier).
    owner: usize,
    token: Box<[u8]>,
    verdict: Result<Arc<str>, Denied>,
    exp: u64,
}

impl std::fmt::Debug for ConnMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token itself: it is a credential.
        f.debug_struct("ConnMemo").finish_non_exhaustive()
    }
}

impl ConnMemo {
    fn get(&self, owner: usize, token: &[u8], now: u64) -> Option<Result<Arc<str>, Denied>> {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let m = last.as_ref()?;
        (m.owner == owner && *m.token == *token && now <= m.exp.saturating_add(LEEWAY_SECS))
            .then(|| m.verdict.clone())
    }

    fn set(&self, owner: usize, token: &[u8], verdict: &Result<Arc<str>, Denied>, exp: u64) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match last.as_mut() {
            // The same token judged again (e.g. after its memo expired):
            // keep the allocation.
            Some(m) if m.owner == owner && *m.token == *token => {
                m.verdict = verdict.clone();
                m.exp = exp;
            }
            _ => {
                *last = Some(Memo {
                    owner,
                    token: token.into(),
                    verdict: verdict.clone(),
                    exp,
                })
            }
        }
    }
}

struct RefreshState {
    last_attempt: Option<Instant>,
}

/// Verifies OIDC identity tokens; see the module docs.
pub struct Verifier {
    settings: Settings,
    allow_any: bool,
    allow: HashSet<String>,
    /// The emails of `allow`, lowercased: an email matches whatever its
    /// case (providers treat addresses so).
    emails: HashSet<String>,
    template: Validation,
    keys: RwLock<Option<Arc<KeySet>>>,
    refresh: tokio::sync::Mutex<RefreshState>,
    cache: Mutex<HashMap<Box<str>, Cached>>,
    clock: Clock,
    min_refresh: Duration,
    trust: super::fetch::Trust,
}

/// Whether a bearer credential has a JWT's shape (three dot-separated parts).
pub fn looks_like_jwt(token: &[u8]) -> bool {
    // memchr's vectorised search: runs on every call, over a token of up
    // to a few KB, and a byte-by-byte count was most of a cached call's
    // cost (benches/auth.rs).
    memchr::memchr_iter(b'.', token).take(3).count() == 2
}

impl Verifier {
    /// A verifier; a JWKS file is read now (errors name the file), fetched
    /// keys on first use or [`Verifier::prefetch`].
    pub fn new(settings: Settings, clock: Clock) -> Result<Verifier, String> {
        if settings.audiences.is_empty() {
            return Err("--oidc-issuer needs --oidc-audience (at least one)".to_owned());
        }
        if settings.allow.is_empty() {
            return Err(
                "--oidc-issuer needs --oidc-allow SUBJECT|EMAIL (at least one; \
                 `*` allows every caller the issuer vouches for — with a public issuer such as \
                 Google or GitHub that is anyone)"
                    .to_owned(),
            );
        }
        match &settings.jwks {
            JwksSource::Url(u) => {
                super::fetch::check_url(u).map_err(|e| format!("--oidc-jwks: {e}"))?;
            }
            JwksSource::Discovery => {
                super::fetch::check_url(&discovery_url(&settings.issuer))
                    .map_err(|e| format!("--oidc-issuer: {e}"))?;
            }
            JwksSource::File(_) => {}
        }
        let keys = match &settings.jwks {
            JwksSource::File(p) => {
                let text = crate::files::read_limited_bytes(p, MAX_JWKS_FILE).map_err(|e| {
                    format!("--oidc-jwks {}: cannot read the JWKS: {e}", p.display())
                })?;
                Some(Arc::new(
                    KeySet::parse(&text, &p.display().to_string())
                        .map_err(|e| format!("--oidc-jwks {e}"))?,
                ))
            }
            _ => None,
        };
        let mut template = Validation::new(Algorithm::RS256);
        template.set_issuer(&[settings.issuer.as_str()]);
        template.set_audience(&settings.audiences);
        // exp and nbf are checked here, against the injectable clock.
        template.validate_exp = false;
        template.validate_nbf = false;
        // `exp` is required too, and checked in `judge`: the library
        // reads it as a whole number only, and a NumericDate may have a
        // fraction (RFC 7519 §2).
        template.set_required_spec_claims(&["iss", "aud"]);
        let allow_any = settings.allow.iter().any(|a| a == "*");
        let allow = settings.allow.iter().cloned().collect();
        let emails = super::emails_of(&settings.allow);
        Ok(Verifier {
            settings,
            allow_any,
            allow,
            emails,
            template,
            keys: RwLock::new(keys),
            refresh: tokio::sync::Mutex::new(RefreshState { last_attempt: None }),
            cache: Mutex::new(HashMap::new()),
            clock,
            min_refresh: MIN_REFRESH,
            trust: super::fetch::Trust::default(),
        })
    }

    /// Tests: a shorter minimum interval between fetches.
    pub fn with_min_refresh(mut self, d: Duration) -> Verifier {
        self.min_refresh = d;
        self
    }

    /// Tests: fetch keys trusting only the given roots.
    #[cfg(any(test, feature = "test-support"))]
    pub fn with_trust(mut self, trust: super::fetch::Trust) -> Verifier {
        self.trust = trust;
        self
    }

    pub fn describe(&self) -> String {
        let source = match &self.settings.jwks {
            JwksSource::File(p) => format!("keys from {}", p.display()),
            JwksSource::Url(u) => format!("keys from {u}"),
            JwksSource::Discovery => "keys by discovery".to_owned(),
        };
        format!(
            "OIDC identity tokens (issuer {}, audience {}, {}, allowed: {})",
            self.settings.issuer,
            self.settings.audiences.join("|"),
            source,
            if self.allow_any {
                "anyone the issuer vouches for".to_owned()
            } else {
                self.settings.allow.join(", ")
            }
        )
    }

    /// Fetches the keys once if they come from the network and none are
    /// held yet; a failure is returned (for a warning) and the next token
    /// tries again.
    pub async fn prefetch(&self) -> Result<(), String> {
        if matches!(self.settings.jwks, JwksSource::File(_)) || self.current_keys().is_some() {
            return Ok(());
        }
        self.refresh(true).await
    }

    /// Fetches the keys now unless one was tried within the minimum
    /// interval (`force` ignores it: start-up). Keeps the cached keys when
    /// the fetch fails.
    async fn refresh(&self, force: bool) -> Result<(), String> {
        let mut state = self.refresh.lock().await;
        if !force
            && state
                .last_attempt
                .is_some_and(|t| t.elapsed() < self.min_refresh)
        {
            return Ok(());
        }
        state.last_attempt = Some(Instant::now());
        match self.fetch_keys().await {
            Ok(set) => {
                *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(set));
                Ok(())
            }
            Err(e) => {
                if self.current_keys().is_some() {
                    tracing::warn!("OIDC keys: {e}; serving on with the cached keys");
                } else {
                    tracing::warn!(
                        "OIDC keys: {e}; no keys yet: tokens are answered UNAVAILABLE until \
                         they can be fetched"
                    );
                }
                Err(e)
            }
        }
    }

    async fn fetch_keys(&self) -> Result<KeySet, String> {
        let url = match &self.settings.jwks {
            JwksSource::Url(u) => u.clone(),
            JwksSource::Discovery => {
                let d = discovery_url(&self.settings.issuer);
                let body = super::fetch::get_trusting(&d, &self.trust).await?;
                #[derive(Deserialize)]
                struct Discovery {
                    issuer: String,
                    jwks_uri: String,
                }
                let doc: Discovery = serde_json::from_slice(&body)
                    .map_err(|e| format!("{d}: not an OIDC discovery document: {e}"))?;
                if doc.issuer != self.settings.issuer {
                    return Err(format!(
                        "{d}: the document is for issuer {:?}, not {:?}",
                        crate::sanitize::line(&doc.issuer),
                        self.settings.issuer
                    ));
                }
                doc.jwks_uri
            }
            JwksSource::File(p) => {
                let path = p.clone();
                let text = tokio::task::spawn_blocking(move || {
                    crate::files::read_limited_bytes(&path, MAX_JWKS_FILE)
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("{}: {e}", p.display()))?;
                return KeySet::parse(&text, &p.display().to_string());
            }
        };
        let body = super::fetch::get_trusting(&url, &self.trust).await?;
        KeySet::parse(&body, &url)
    }

    fn current_keys(&self) -> Option<Arc<KeySet>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Verifies a bearer token; `Ok` is the caller's identity for display
    /// (`oidc:<email or subject>`).
    pub async fn verify(self: &Arc<Self>, token: &[u8]) -> Result<Arc<str>, Denied> {
        self.verify_on(token, None).await
    }

    /// [`Verifier::verify`], first asking the connection's memo, and
    /// remembering there what the shared cache answers.
    pub async fn verify_on(
        self: &Arc<Self>,
        token: &[u8],
        memo: Option<&ConnMemo>,
    ) -> Result<Arc<str>, Denied> {
        let now = (self.clock)();
        // The memo holds only tokens that passed the checks below (they
        // were judged), so a hit may skip them.
        let owner = Arc::as_ptr(self) as usize;
        if let Some(v) = memo.and_then(|m| m.get(owner, token, now)) {
            return v;
        }
        let bytes = token;
        let Ok(token) = std::str::from_utf8(token) else {
            return Err(malformed("the bearer token is not ASCII"));
        };
        if token.len() > MAX_TOKEN {
            return Err(malformed("the bearer token is too long"));
        }
        if let Some((v, exp)) = self.cached(token, now) {
            if let Some(m) = memo {
                m.set(owner, bytes, &v, exp);
            }
            return v;
        }
        // Boxed: verifying may fetch keys (an HTTPS client), a large
        // future that every call's future would otherwise carry.
        let verdict = Box::pin(self.verify_uncached(token, now)).await;
        let exp = match &verdict {
            Ok((_, exp)) | Err((_, Some(exp))) => Some(*exp),
            Err((_, None)) => None,
        };
        let verdict = verdict.map(|(id, _)| id).map_err(|(d, _)| d);
        // Only verdicts on genuine tokens are cached (allowed or not): a
        // forged token costs a verification every time, so a flood of them
        // cannot push genuine ones out.
        if let Some(exp) = exp {
            self.remember(token, &verdict, exp, now);
            if let Some(m) = memo {
                m.set(owner, bytes, &verdict, exp);
            }
        }
        verdict
    }

    /// The shared cache's verdict and the token's expiry.
    fn cached(&self, token: &str, now: u64) -> Option<(Result<Arc<str>, Denied>, u64)> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let hit = cache.get(token)?;
        (now <= hit.exp.saturating_add(LEEWAY_SECS)).then(|| (hit.verdict.clone(), hit.exp))
    }

    fn remember(&self, token: &str, verdict: &Result<Arc<str>, Denied>, exp: u64, now: u64) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, c| now <= c.exp.saturating_add(LEEWAY_SECS));
            if cache.len() >= CACHE_CAPACITY {
                // Every entry is live: start over rather than grow (a
                // forgotten token is only verified again).
                cache.clear();
            }
        }
        cache.insert(
            token.into(),
            Cached {
                verdict: verdict.clone(),
                exp,
            },
        );
    }

    /// The verdict and, for a token whose signature verified, its expiry.
    async fn verify_uncached(
        self: &Arc<Self>,
        token: &str,
        now: u64,
    ) -> Result<(Arc<str>, u64), (Denied, Option<u64>)> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            // `alg: none` (an unsigned token) reads as no JWT to the
            // library; say what it is.
            let unsigned = token.split('.').next().is_some_and(|h| {
                use base64::Engine;
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(h.trim_end_matches('='))
                    .ok()
                    .and_then(|j| serde_json::from_slice::<serde_json::Value>(&j).ok())
                    .is_some_and(|v| {
                        v["alg"]
                            .as_str()
                            .is_some_and(|a| a.eq_ignore_ascii_case("none"))
                    })
            });
            if unsigned {
                (
                    Denied::new(
                        Refusal::BadSignature,
                        "the token is not signed (alg \"none\"), which is never accepted",
                    ),
                    None,
                )
            } else {
                (malformed("the bearer token is not a JWT"), None)
            }
        })?;
        if let Some(crit) = critical_extensions(token) {
            return Err((
                malformed(&format!(
                    "the token requires extensions sinkwatch does not implement (crit: {})",
                    crate::sanitize::line(&crit.join(", "))
                )),
                None,
            ));
        }
        if !ALGORITHMS.contains(&header.alg) {
            return Err((
                Denied::new(
                    Refusal::BadSignature,
                    format!("token algorithm {:?} is not accepted", header.alg),
                ),
                None,
            ));
        }
        let kid = header.kid.as_deref();
        let mut keys = self.current_keys();
        let mut candidates = keys.as_ref().map(|k| k.find(kid)).unwrap_or_default();
        if candidates.is_empty() {
            // A key rotated in (at the issuer, or into the --oidc-jwks
            // file), or none fetched yet.
            let _ = self.refresh(false).await;
            keys = self.current_keys();
            candidates = keys.as_ref().map(|k| k.find(kid)).unwrap_or_default();
        } else if keys
            .as_ref()
            .is_some_and(|k| k.fetched.elapsed() > MAX_KEY_AGE)
            && !matches!(self.settings.jwks, JwksSource::File(_))
        {
            let me = self.clone();
            tokio::spawn(async move {
                let _ = me.refresh(false).await;
            });
        }
        if candidates.is_empty() {
            let why = match (keys.is_some(), kid) {
                // The sink's own outage, not the caller's fault: a
                // retryable answer, counted apart from forged tokens.
                (false, _) => {
                    return Err((
                        Denied::new(
                            Refusal::AuthUnavailable,
                            "the issuer's keys could not be fetched to check the token; retry later",
                        ),
                        None,
                    ));
                }
                (true, Some(k)) => format!(
                    "unknown key id {:?} (not in the issuer's keys)",
                    crate::sanitize::line(k)
                ),
                (true, None) => "the token names no key id".to_owned(),
            };
            return Err((Denied::new(Refusal::BadSignature, why), None));
        }
        let mut validation = self.template.clone();
        validation.algorithms = vec![header.alg];
        let mut last = None;
        for (key, alg) in &candidates {
            if alg.is_some_and(|a| a != header.alg) {
                last = Some(Denied::new(
                    Refusal::BadSignature,
                    "the token's algorithm is not its key's",
                ));
                continue;
            }
            match jsonwebtoken::decode::<Claims>(token, key, &validation) {
                Ok(data) => return self.judge(data.claims, now),
                Err(e) => {
                    use jsonwebtoken::errors::ErrorKind as K;
                    let d = match e.kind() {
                        K::InvalidSignature | K::InvalidAlgorithm => Denied::new(
                            Refusal::BadSignature,
                            "the token's signature does not verify with the issuer's key",
                        ),
                        K::InvalidAudience => Denied::new(
                            Refusal::WrongAudience,
                            format!(
                                "the token is for another audience (expected {})",
                                self.settings.audiences.join(" or ")
                            ),
                        ),
                        K::InvalidIssuer => Denied::new(
                            Refusal::WrongIssuer,
                            format!(
                                "the token is from another issuer (expected {})",
                                self.settings.issuer
                            ),
                        ),
                        K::MissingRequiredClaim(c) => {
                            malformed(&format!("the token has no {c} claim"))
                        }
                        _ => malformed("the token's claims cannot be read"),
                    };
                    let final_ = !matches!(e.kind(), K::InvalidSignature | K::InvalidAlgorithm);
                    last = Some(d);
                    if final_ {
                        break;
                    }
                }
            }
        }
        Err((
            last.unwrap_or_else(|| malformed("the token cannot be verified")),
            None,
        ))
    }

    /// Expiry and the allow list, for a token whose signature, issuer and
    /// audience verified.
    fn judge(&self, c: Claims, now: u64) -> Result<(Arc<str>, u64), (Denied, Option<u64>)> {
        let Some(exp) = c.exp else {
            return Err((malformed("the token has no exp claim"), None));
        };
        if now > exp.saturating_add(LEEWAY_SECS) {
            return Err((
                Denied::new(
                    Refusal::Expired,
                    format!("the token expired {} s ago", now - exp),
                ),
                None,
            ));
        }
        if c.nbf
            .is_some_and(|nbf| now.saturating_add(LEEWAY_SECS) < nbf)
        {
            return Err((
                Denied::new(Refusal::Expired, "the token is not valid yet (nbf)"),
                None,
            ));
        }
        let verified = matches!(c.email_verified, Some(serde_json::Value::Bool(true)))
            || matches!(&c.email_verified, Some(serde_json::Value::String(s)) if s == "true");
        let email = c.email.clone().filter(|_| verified);
        let sub = c.sub.unwrap_or_default();
        let allowed = self.allow_any
            || (!sub.is_empty() && self.allow.contains(&sub))
            || email
                .as_ref()
                .is_some_and(|e| self.emails.contains(&e.to_lowercase()));
        let who = email.unwrap_or(sub);
        let identity: Arc<str> = format!("oidc:{}", crate::sanitize::line(&who)).into();
        if !allowed {
            // An operator who listed the email needs to know why it did
            // not count.
            let unverified = match (&c.email, verified) {
                (Some(e), false) if self.emails.contains(&e.to_lowercase()) => format!(
                    " (its email {} is on the list but not email_verified)",
                    crate::sanitize::line(e)
                ),
                _ => String::new(),
            };
            return Err((
                Denied::new(
                    Refusal::NotAllowed,
                    format!("{identity} is not allowed (--oidc-allow){unverified}"),
                ),
                Some(exp),
            ));
        }
        Ok((identity, exp))
    }
}

fn malformed(msg: &str) -> Denied {
    Denied::new(Refusal::AuthMalformed, msg)
}

/// `<issuer>/.well-known/openid-configuration`.
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}
