//! Signed payloads: the "keypair or secret key" of the Allstar proposal, as
//! sinkwatch specifies it (README, "Signed payloads", is the normative text;
//! this module implements it).
//!
//! A signed request carries one metadata entry
//!
//! ```text
//! alertsink-signature: t=<unix seconds>; nonce=<nonce>; alg=<hmac-sha256|ed25519>; sig=<base64>
//! ```
//!
//! where `sig` is over the bytes
//!
//! ```text
//! "alertsink-signature-v1" LF <t> LF <nonce> LF <the AlertRequest message bytes>
//! ```
//!
//! (the message as serialized on the wire, *before* any gRPC compression,
//! without the 5-byte gRPC frame header). The timestamp bounds how long a
//! captured request can be replayed; the nonce makes two identical alerts
//! signed in the same second distinct, so the replay cache can refuse every
//! signature it has seen.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};

use super::{Clock, Denied};
use crate::hub::Refusal;

/// The metadata key of a payload signature.
pub const HEADER: &str = "alertsink-signature";
/// What the signed bytes start with (domain separation: a signature made
/// for something else cannot pass for this one).
pub const CONTEXT: &[u8] = b"alertsink-signature-v1";
/// How far `t` may be from the sink's clock, either way, in seconds.
pub const WINDOW_SECS: u64 = 300;
/// Signatures remembered at once (each for the window): the replay cache's
/// bound, about 64 MB at most. When it is full of unexpired entries, new
/// signed requests are refused (counted `overloaded`) rather than let a
/// replay through.
pub const REPLAY_CAPACITY: usize = 1_000_000;
/// Longest nonce accepted.
pub const MAX_NONCE: usize = 64;
/// Shortest shared secret accepted.
pub const MIN_SECRET: usize = 16;

/// The bytes a signature covers.
pub fn signing_input(t: u64, nonce: &str, message: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(CONTEXT.len() + 24 + nonce.len() + message.len() + 3);
    v.extend_from_slice(CONTEXT);
    v.push(b'\n');
    v.extend_from_slice(t.to_string().as_bytes());
    v.push(b'\n');
    v.extend_from_slice(nonce.as_bytes());
    v.push(b'\n');
    v.extend_from_slice(message);
    v
}

/// A `--verify-signature` / `--sign` value: `hmac:FILE` or `ed25519:FILE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySpec {
    Hmac(std::path::PathBuf),
    Ed25519(std::path::PathBuf),
}

impl std::str::FromStr for KeySpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            Some(("hmac", f)) if !f.is_empty() => Ok(KeySpec::Hmac(f.into())),
            Some(("ed25519", f)) if !f.is_empty() => Ok(KeySpec::Ed25519(f.into())),
            // clap shows the value given; this says what is expected.
            _ => Err("expected hmac:FILE (a shared secret) or ed25519:FILE (a public key)".into()),
        }
    }
}

impl<'de> serde::Deserialize<'de> for KeySpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for KeySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySpec::Hmac(p) => write!(f, "hmac:{}", p.display()),
            KeySpec::Ed25519(p) => write!(f, "ed25519:{}", p.display()),
        }
    }
}

/// Reads a shared secret: the file's first line, trimmed, as bytes (so
/// `openssl rand -base64 32 > secret` is a good secret file as it is). A
/// UTF-8 byte-order mark before it is not part of it: editors on Windows
/// write one, and a secret with it refused every call (a review).
fn read_secret(path: &Path) -> Result<Vec<u8>, String> {
    let text = crate::files::read_limited(path, crate::files::MAX_KEY_FILE)
        .map_err(|e| format!("{}: cannot read the shared secret: {e}", path.display()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let secret = text.lines().next().unwrap_or("").trim();
    if secret.len() < MIN_SECRET {
        return Err(format!(
            "{}: the shared secret must be at least {MIN_SECRET} characters on the first line \
             (e.g. openssl rand -base64 32)",
            path.display()
        ));
    }
    Ok(secret.as_bytes().to_vec())
}

/// The DER inside the first PEM block labelled `label`.
fn pem_block(text: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    let b64: String = text[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(b64).ok()
}

/// The SubjectPublicKeyInfo prefix of an Ed25519 key (RFC 8410): what
/// `openssl pkey -pubout` writes before the 32 key bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Reads an Ed25519 public key: PEM `PUBLIC KEY` (as `openssl pkey -pubout`
/// writes it) or one line of base64 holding the 32 raw key bytes.
fn read_ed25519_public(path: &Path) -> Result<Vec<u8>, String> {
    let text = crate::files::read_limited(path, crate::files::MAX_KEY_FILE).map_err(|e| {
        format!(
            "{}: cannot read the Ed25519 public key: {e}",
            path.display()
        )
    })?;
    let raw = if text.contains("-----BEGIN") {
        let der = pem_block(&text, "PUBLIC KEY").ok_or_else(|| {
            format!(
                "{}: expected a PEM \"PUBLIC KEY\" block (openssl pkey -pubout)",
                path.display()
            )
        })?;
        match der.strip_prefix(&ED25519_SPKI_PREFIX[..]) {
            Some(k) => k.to_vec(),
            None => {
                return Err(format!(
                    "{}: not an Ed25519 public key (another algorithm?)",
                    path.display()
                ));
            }
        }
    } else {
        STANDARD
            .decode(text.trim())
            .map_err(|_| format!("{}: neither PEM nor base64", path.display()))?
    };
    if raw.len() != 32 {
        return Err(format!(
            "{}: an Ed25519 public key is 32 bytes, this one is {}",
            path.display(),
            raw.len()
        ));
    }
    Ok(raw)
}

/// Reads an Ed25519 private key: PEM `PRIVATE KEY` (PKCS#8, as
/// `openssl genpkey -algorithm ed25519` writes it).
fn read_ed25519_private(path: &Path) -> Result<Ed25519KeyPair, String> {
    let text = crate::files::read_limited(path, crate::files::MAX_KEY_FILE)
        .map_err(|e| format!("{}: cannot read the Ed25519 key: {e}", path.display()))?;
    let der = pem_block(&text, "PRIVATE KEY").ok_or_else(|| {
        format!(
            "{}: expected a PEM \"PRIVATE KEY\" block (openssl genpkey -algorithm ed25519)",
            path.display()
        )
    })?;
    Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
        .map_err(|e| format!("{}: not an Ed25519 private key: {e}", path.display()))
}

/// A parsed `alertsink-signature` value.
#[derive(Debug, PartialEq, Eq)]
struct Parsed<'a> {
    t: u64,
    nonce: &'a str,
    alg: &'a str,
    sig: Vec<u8>,
}

fn parse(value: &str) -> Result<Parsed<'_>, &'static str> {
    let (mut t, mut nonce, mut alg, mut sig) = (None, None, None, None);
    for part in value.split(';') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or("expected key=value parts separated by ';'")?;
        let slot = match k {
            "t" => &mut t,
            "nonce" => &mut nonce,
            "alg" => &mut alg,
            "sig" => &mut sig,
            _ => return Err("unknown part (expected t, nonce, alg and sig)"),
        };
        if slot.replace(v).is_some() {
            return Err("a part appears twice");
        }
    }
    let t = t.ok_or("t is missing")?;
    // Exactly as signed: the signing input holds T as decimal text, so a
    // `+` or leading zero (which u64's parser takes) would only turn into
    // a mismatch later; refused plainly here instead.
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) || (t.len() > 1 && t.starts_with('0'))
    {
        return Err("t must be Unix seconds in decimal digits, without a sign or leading zeros");
    }
    let t = t
        .parse::<u64>()
        .map_err(|_| "t is not a number of seconds")?;
    let nonce = nonce.ok_or("nonce is missing")?;
    if nonce.is_empty()
        || nonce.len() > MAX_NONCE
        || !nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err("nonce must be 1 to 64 characters of A-Z a-z 0-9 - _");
    }
    let alg = alg.ok_or("alg is missing")?;
    let sig = STANDARD
        .decode(sig.ok_or("sig is missing")?)
        .map_err(|_| "sig is not base64")?;
    Ok(Parsed { t, nonce, alg, sig })
}

enum VerifyKey {
    Hmac(ring::hmac::Key),
    Ed25519(UnparsedPublicKey<Vec<u8>>),
}

/// Checks payload signatures (`--verify-signature`).
pub struct Verifier {
    key: VerifyKey,
    clock: Clock,
    replay: Mutex<ReplayCache>,
}

impl Verifier {
    pub fn load(spec: &KeySpec, clock: Clock) -> Result<Verifier, String> {
        let key = match spec {
            KeySpec::Hmac(p) => VerifyKey::Hmac(ring::hmac::Key::new(
                ring::hmac::HMAC_SHA256,
                &read_secret(p)?,
            )),
            KeySpec::Ed25519(p) => {
                VerifyKey::Ed25519(UnparsedPublicKey::new(&ED25519, read_ed25519_public(p)?))
            }
        };
        Ok(Verifier {
            key,
            clock,
            replay: Mutex::new(ReplayCache::default()),
        })
    }

    pub fn alg(&self) -> &'static str {
        match self.key {
            VerifyKey::Hmac(_) => "hmac-sha256",
            VerifyKey::Ed25519(_) => "ed25519",
        }
    }

    /// The identity a verified signature gives its alert (`peer_identity`).
    pub fn identity(&self) -> &'static str {
        match self.key {
            VerifyKey::Hmac(_) => "signed:hmac-sha256",
            VerifyKey::Ed25519(_) => "signed:ed25519",
        }
    }

    /// Verifies the signature header of a request over its message bytes,
    /// then remembers it (a second use is `replayed`). The receipt gives it
    /// back ([`Verifier::forget`]) if the call is refused after all.
    pub fn verify(&self, header: Option<&[u8]>, message: &[u8]) -> Result<Used, Denied> {
        let Some(header) = header else {
            return Err(Denied::new(
                Refusal::AuthMissing,
                format!("missing {HEADER} metadata (a signed payload is required)"),
            ));
        };
        let text = std::str::from_utf8(header)
            .map_err(|_| Denied::new(Refusal::AuthMalformed, format!("{HEADER}: not ASCII")))?;
        let p = parse(text)
            .map_err(|why| Denied::new(Refusal::AuthMalformed, format!("{HEADER}: {why}")))?;
        if p.alg != self.alg() {
            return Err(Denied::new(
                Refusal::BadSignature,
                format!("{HEADER}: alg must be {}", self.alg()),
            ));
        }
        let now = (self.clock)();
        if p.t.abs_diff(now) > WINDOW_SECS {
            return Err(Denied::new(
                Refusal::Expired,
                format!(
                    "{HEADER}: t is {} s from the sink's clock; at most {WINDOW_SECS} s is accepted \
                     (sign each request when it is sent, and keep clocks in sync)",
                    p.t.abs_diff(now)
                ),
            ));
        }
        let input = signing_input(p.t, p.nonce, message);
        let good = match &self.key {
            VerifyKey::Hmac(k) => ring::hmac::verify(k, &input, &p.sig).is_ok(),
            VerifyKey::Ed25519(k) => k.verify(&input, &p.sig).is_ok(),
        };
        if !good {
            return Err(Denied::new(
                Refusal::BadSignature,
                format!("{HEADER}: the signature does not match the message"),
            ));
        }
        let mut replay = self.replay.lock().unwrap_or_else(|e| e.into_inner());
        replay.check_and_insert(&p.sig, p.t + WINDOW_SECS, now)
    }

    /// A signature whose call was refused after it verified (an invalid
    /// field, a full store): not used, so the sender's retry of the same
    /// request gets the same answer, not `replayed`. Each signature is
    /// still accepted at most once.
    pub fn forget(&self, used: Used) {
        let mut replay = self.replay.lock().unwrap_or_else(|e| e.into_inner());
        replay.seen.remove(&used.0);
    }
}

/// A signature the replay cache now holds as used.
#[derive(Debug)]
pub struct Used(u128);

/// The signatures seen within the window; see [`REPLAY_CAPACITY`].
#[derive(Default)]
struct ReplayCache {
    seen: HashMap<u128, u64>,
    /// Insertion order, for pruning: (expiry, key).
    order: VecDeque<(u64, u128)>,
}

impl ReplayCache {
    fn check_and_insert(&mut self, sig: &[u8], expires: u64, now: u64) -> Result<Used, Denied> {
        while let Some(&(exp, key)) = self.order.front() {
            if exp > now {
                break;
            }
            self.order.pop_front();
            if self.seen.get(&key) == Some(&exp) {
                self.seen.remove(&key);
            }
        }
        // 128 bits of a valid signature: only the signer can make two
        // signatures that share them.
        let mut k = [0u8; 16];
        let n = sig.len().min(16);
        k[..n].copy_from_slice(&sig[..n]);
        let key = u128::from_le_bytes(k);
        if self.seen.contains_key(&key) {
            return Err(Denied::new(
                Refusal::Replayed,
                format!("{HEADER}: this signature was already used (sign each request anew)"),
            ));
        }
        if self.seen.len() >= REPLAY_CAPACITY {
            return Err(Denied::new(
                Refusal::Overloaded,
                "too many signed requests within the signature window; retry later".to_owned(),
            ));
        }
        self.seen.insert(key, expires);
        self.order.push_back((expires, key));
        Ok(Used(key))
    }
}

enum SignKey {
    Hmac(ring::hmac::Key),
    Ed25519(Ed25519KeyPair),
}

/// Makes payload signatures (`send --sign`, `load --sign`).
pub struct Signer {
    key: SignKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The algorithm only: the key is a secret.
        let alg = match self.key {
            SignKey::Hmac(_) => "hmac-sha256",
            SignKey::Ed25519(_) => "ed25519",
        };
        write!(f, "Signer({alg})")
    }
}

impl Signer {
    pub fn load(spec: &KeySpec) -> Result<Signer, String> {
        let key = match spec {
            KeySpec::Hmac(p) => SignKey::Hmac(ring::hmac::Key::new(
                ring::hmac::HMAC_SHA256,
                &read_secret(p)?,
            )),
            KeySpec::Ed25519(p) => SignKey::Ed25519(read_ed25519_private(p)?),
        };
        Ok(Signer { key })
    }

    /// The Ed25519 public key (32 bytes), for printing.
    pub fn public_key(&self) -> Option<&[u8]> {
        match &self.key {
            SignKey::Ed25519(k) => Some(k.public_key().as_ref()),
            SignKey::Hmac(_) => None,
        }
    }

    /// The `alertsink-signature` value for `message` at `t` with `nonce`.
    pub fn header_at(&self, t: u64, nonce: &str, message: &[u8]) -> String {
        let input = signing_input(t, nonce, message);
        let (alg, sig) = match &self.key {
            SignKey::Hmac(k) => ("hmac-sha256", ring::hmac::sign(k, &input).as_ref().to_vec()),
            SignKey::Ed25519(k) => ("ed25519", k.sign(&input).as_ref().to_vec()),
        };
        format!(
            "t={t}; nonce={nonce}; alg={alg}; sig={}",
            STANDARD.encode(sig)
        )
    }

    /// The header for `message` now, with a fresh random nonce.
    pub fn header(&self, message: &[u8]) -> String {
        let nonce: String = std::iter::repeat_with(fastrand::alphanumeric)
            .take(22)
            .collect();
        self.header_at(super::unix_now(), &nonce, message)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    fn clock_at(t: &Arc<AtomicU64>) -> Clock {
        let t = t.clone();
        Arc::new(move || t.load(Ordering::Relaxed))
    }

    fn hmac_pair(dir: &tempfile::TempDir) -> (Signer, KeySpec) {
        let p = dir.path().join("secret");
        std::fs::write(&p, "0123456789abcdef0123456789abcdef\n").unwrap();
        let spec = KeySpec::Hmac(p);
        (Signer::load(&spec).unwrap(), spec)
    }

    #[test]
    fn the_header_is_what_the_readme_specifies() {
        // A fixed vector: HMAC-SHA256 with the secret
        // "0123456789abcdef0123456789abcdef" over
        // "alertsink-signature-v1\n1700000000\nabc\n" + b"\x0a\x01o".
        let dir = tempfile::tempdir().unwrap();
        let (signer, _) = hmac_pair(&dir);
        let h = signer.header_at(1_700_000_000, "abc", b"\x0a\x01o");
        let key =
            ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"0123456789abcdef0123456789abcdef");
        let want = ring::hmac::sign(&key, b"alertsink-signature-v1\n1700000000\nabc\n\x0a\x01o");
        assert_eq!(
            h,
            format!(
                "t=1700000000; nonce=abc; alg=hmac-sha256; sig={}",
                STANDARD.encode(want.as_ref())
            )
        );
    }

    #[test]
    fn hmac_signatures_verify_once_and_only_for_their_message_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let (signer, spec) = hmac_pair(&dir);
        let now = Arc::new(AtomicU64::new(1_700_000_000));
        let v = Verifier::load(&spec, clock_at(&now)).unwrap();
        let msg = b"the message";
        let h = signer.header_at(1_700_000_000, "n1", msg);
        assert!(v.verify(Some(h.as_bytes()), msg).is_ok());
        let why = |r: Result<Used, Denied>| r.unwrap_err().why;
        assert_eq!(why(v.verify(Some(h.as_bytes()), msg)), Refusal::Replayed);
        let h2 = signer.header_at(1_700_000_000, "n2", msg);
        assert_eq!(
            why(v.verify(Some(h2.as_bytes()), b"the messagE")),
            Refusal::BadSignature,
            "tampered"
        );
        assert_eq!(why(v.verify(None, msg)), Refusal::AuthMissing);
        // T exactly as signed: no sign, no leading zeros (u64's parser
        // takes both, and the signature would then not match).
        let t = 1_700_000_000u64.to_string();
        let good = signer.header_at(1_700_000_000, "n9", msg);
        for bad in [
            format!("+{t}"),
            format!("0{t}"),
            format!("{t}.0"),
            String::new(),
        ] {
            let h = good.replace(&format!("t={t}"), &format!("t={bad}"));
            let e = v.verify(Some(h.as_bytes()), msg).unwrap_err();
            assert_eq!(e.why, Refusal::AuthMalformed, "{bad}: {}", e.message);
            assert!(e.message.contains("leading zeros"), "{}", e.message);
        }
        assert_eq!(
            why(v.verify(Some(b"t=1; sig=zz"), msg)),
            Refusal::AuthMalformed
        );
        // Outside the window, either way.
        let old = signer.header_at(1_700_000_000 - WINDOW_SECS - 1, "n3", msg);
        assert_eq!(why(v.verify(Some(old.as_bytes()), msg)), Refusal::Expired);
        let future = signer.header_at(1_700_000_000 + WINDOW_SECS + 1, "n4", msg);
        assert_eq!(
            why(v.verify(Some(future.as_bytes()), msg)),
            Refusal::Expired
        );
        // Another secret.
        let other = dir.path().join("other");
        std::fs::write(&other, "another secret of enough length").unwrap();
        let s2 = Signer::load(&KeySpec::Hmac(other)).unwrap();
        let h = s2.header_at(1_700_000_000, "n5", msg);
        assert_eq!(
            why(v.verify(Some(h.as_bytes()), msg)),
            Refusal::BadSignature
        );
    }

    #[test]
    fn the_replay_cache_forgets_after_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let (signer, spec) = hmac_pair(&dir);
        let now = Arc::new(AtomicU64::new(1_700_000_000));
        let v = Verifier::load(&spec, clock_at(&now)).unwrap();
        for i in 0..100 {
            let h = signer.header_at(1_700_000_000, &format!("n{i}"), b"m");
            v.verify(Some(h.as_bytes()), b"m").unwrap();
        }
        assert_eq!(v.replay.lock().unwrap().seen.len(), 100);
        now.store(1_700_000_000 + WINDOW_SECS + 1, Ordering::Relaxed);
        let h = signer.header_at(1_700_000_000 + WINDOW_SECS, "late", b"m");
        v.verify(Some(h.as_bytes()), b"m").unwrap();
        assert_eq!(
            v.replay.lock().unwrap().seen.len(),
            1,
            "expired entries pruned"
        );
    }

    #[test]
    fn ed25519_keys_from_openssl_style_pem_sign_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let private = dir.path().join("key.pem");
        let public = dir.path().join("pub.pem");
        std::fs::write(&private, kp.serialize_pem()).unwrap();
        std::fs::write(&public, kp.public_key_pem()).unwrap();
        let signer = Signer::load(&KeySpec::Ed25519(private.clone())).unwrap();
        let now = Arc::new(AtomicU64::new(1_700_000_000));
        let v = Verifier::load(&KeySpec::Ed25519(public), clock_at(&now)).unwrap();
        let h = signer.header_at(1_700_000_000, "x", b"msg");
        assert!(h.contains("alg=ed25519"), "{h}");
        v.verify(Some(h.as_bytes()), b"msg").unwrap();
        // An HMAC header is refused by an Ed25519 verifier.
        let (hs, _) = hmac_pair(&dir);
        let h = hs.header_at(1_700_000_000, "y", b"msg");
        assert_eq!(
            v.verify(Some(h.as_bytes()), b"msg").unwrap_err().why,
            Refusal::BadSignature
        );
        // A private key where a public one is expected, and the reverse,
        // are named errors.
        let e = Verifier::load(&KeySpec::Ed25519(private), clock_at(&now))
            .err()
            .unwrap();
        assert!(e.contains("PUBLIC KEY"), "{e}");
    }

    #[test]
    fn key_specs_parse_and_short_secrets_are_refused() {
        assert_eq!(
            "hmac:/a".parse::<KeySpec>().unwrap(),
            KeySpec::Hmac("/a".into())
        );
        assert!("rsa:/a".parse::<KeySpec>().is_err());
        assert!("hmac:".parse::<KeySpec>().is_err());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, "short").unwrap();
        assert!(
            Signer::load(&KeySpec::Hmac(p.clone()))
                .err()
                .unwrap()
                .contains("at least")
        );
        // A byte-order mark (Windows editors) is not part of the secret.
        std::fs::write(&p, "a-shared-secret-of-some-length\r\n").unwrap();
        assert_eq!(read_secret(&p).unwrap(), b"a-shared-secret-of-some-length");
        std::fs::write(&p, "\u{feff}a-shared-secret-of-some-length\n").unwrap();
        assert_eq!(read_secret(&p).unwrap(), b"a-shared-secret-of-some-length");
    }
}
