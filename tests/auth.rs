//! The credentials Allstar will send: OIDC identity tokens (keys from a
//! JWKS file, or fetched from a loopback issuer served by the test), signed
//! payloads (HMAC-SHA256, Ed25519), and how they combine — each refusal
//! with its status and its counted reason. Keys and tokens are minted here;
//! the clock is injected where expiry matters. Nothing leaves loopback.
//! One test drives a grpc-go client (tests/go/) where Go and Debian's
//! grpc-go are installed, and says why it skipped otherwise (shown with
//! `--nocapture`).

mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use common::binary::{Headless, bin, output, send};
use common::{TestSink, alert};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sinkwatch::hub::Refusal;
use sinkwatch::proto::alert_sink_client::AlertSinkClient;
use sinkwatch::sink::auth::oidc::{self, JwksSource, Verifier};
use sinkwatch::sink::auth::signature::{self, KeySpec, Signer};
use sinkwatch::sink::auth::{Clock, Combine};
use sinkwatch::sink::{SinkConfig, SinkLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

const BOUND: Duration = Duration::from_secs(15);
const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "https://sink.test";
const ALLSTAR: &str = "allstar@proj.iam.gserviceaccount.com";
const T0: u64 = 1_800_000_000;

/// A 2048-bit RSA key made for these tests only (rcgen cannot make RSA
/// keys), and its modulus, base64url.
const RSA_PEM: &str = "-----BEGIN RSA PRIVATE KEY-----\n\
MIIEpQIBAAKCAQEAtAd6ooONe6OaQCzphxE7GtlCSHGT1bHuclg3Anncy/OvBR+E\n\
5zVjBA71GRS1jp8zbKpiR1uC+s5vRwTqCn4eL2/HZbSrg8SStE0F0Az1K5j4Zj0t\n\
LeZ1Yc9xophiQknJDJM2kRBIuU5QiCPkkym2zVM6Z7alB1gIhlfU544+/wHONMno\n\
Rb9vJcu+o8Iwf5eumb8x0yGv2d9MqSDW8tzHjNGZx4CLAFEH6HyGXev9S1eWRAgk\n\
4HzCWgozCLVliK4RxquNzWz4jnZT5cXrB38dDp9FHOKqrkolTpL9e8xoonxiTEPB\n\
Yacemrx7FGfiESFHX/s3gq2YxvX/T4ZEX254HQIDAQABAoIBAAKQ0LicM1n9vOcJ\n\
PNLF9het3Pn3VGoJPSK4CyCn5/OoJ2hlSJma8yxNokSXPPcpYaw8yWXG8hjs9D0I\n\
3uUDYx698xOJ/Z/FH2oeZuTOKnhSl8etO4WZ8TZRpIbysQPM1Wauemqa1s59RTyL\n\
dmh6gbZvZzevLK7sHEL94XTjXBZ6Q/q/wYMSKn6jXONWhHhOAc6089ZP33qcbGIU\n\
1MnB/z1mQsQ8jxysoKIK39IO26wdf5slpYBUWkJyLkU9HY1KMbooxpfGBu2CleZx\n\
FCHuQMaqpGIXnap2gjGFAy0pvum5wpJDjiSTXUnuFISCrJeueGMyBKdAVv76DWYq\n\
Dvx6aMECgYEA4/YY4r1E9fO/QAnT1xUZy/geZULqro6VzWLOXjlnHEHLcndJRZwF\n\
m6iM9rOMf1c3/V+1t3bxibsxt0ZV6b+8fI/NTZvxoMg73mlK2ft9f814JQPi1Mtv\n\
ogljJlyWYV0NW70jZAEWnumdL83a2nRB8/al/qnr7nY6LOqGUlBK/hUCgYEAyiwg\n\
OwcyO5Q2STxa8QlVSgqrnRLC2STw97xla2gdI4KG7iqTiziC+pfHlORLSINs94zR\n\
bWs6ei7lcYDCfMUtDkPi+myD6+jlpxbMloaxYuU31Mu0zRf6rOyZcsHEiMlcTl01\n\
FYeeyeO6TmcdcmkNWqEi1Lrh8Ktxtu0Y2LIdG+kCgYEA2K5VnUA2ymo0AdTVjX27\n\
FYv0qF/g3qcdcSpX6mw5vDw1+8my1f2lvv2Jb/3esDPhPm+5NHhUwowyh3jNtO/R\n\
Y7z0cq6mECQD9Da1NVm9Qru1VcnJ1GbC54xwuEgNkOJ4DhlMCISYUdjQ1l2fh0I2\n\
ZoSt59DwN6wdRBBwONGlVrkCgYEApfP6sPmDPmy28v7cF6d1n0WLAXB5CQ3Nz02S\n\
YswfvxpR8AZ6/njw6wrUBWAwe+GF/N5Wut6eLdV4+eabvxeLmH4ZPz78OxX+DV4l\n\
qhn+WhOV9NMSIphgaLn+a7iqvy2q25ifDoE40rhgIiN6hIO/Nnm2wbB17ryMp3+Q\n\
ObBbPKECgYEAzFV6a4NW2RWWRRzXU47D/i4BRTemhq6IL2HXJtv2eV8H2rF6Bvyr\n\
CfsXnQ6aP94UODxjKRODnsJe/zUonB/chUmsqqya6cYM4QoKKCpSDp5ZQmtV966s\n\
MqhCXa+nc1SCHADxFIDWeg05Aq22u0FR/NjNGw/f4x0gW5/MxcsRi0s=\n\
-----END RSA PRIVATE KEY-----";
const RSA_N: &str = "tAd6ooONe6OaQCzphxE7GtlCSHGT1bHuclg3Anncy_OvBR-E5zVjBA71GRS1jp8zbKpiR1uC-s5vRwTqCn4eL2_HZbSrg8SStE0F0Az1K5j4Zj0tLeZ1Yc9xophiQknJDJM2kRBIuU5QiCPkkym2zVM6Z7alB1gIhlfU544-_wHONMnoRb9vJcu-o8Iwf5eumb8x0yGv2d9MqSDW8tzHjNGZx4CLAFEH6HyGXev9S1eWRAgk4HzCWgozCLVliK4RxquNzWz4jnZT5cXrB38dDp9FHOKqrkolTpL9e8xoonxiTEPBYacemrx7FGfiESFHX_s3gq2YxvX_T4ZEX254HQ";

/// An EC P-256 signing key and its JWK.
struct EcKey {
    der: Vec<u8>,
    x: String,
    y: String,
}

fn ec_key() -> EcKey {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let raw = kp.public_key_raw().to_vec();
    assert_eq!(raw.len(), 65, "uncompressed point");
    EcKey {
        der: kp.serialize_der(),
        x: B64URL.encode(&raw[1..33]),
        y: B64URL.encode(&raw[33..]),
    }
}

fn ec_jwk(k: &EcKey, kid: &str) -> serde_json::Value {
    serde_json::json!({"kty":"EC","crv":"P-256","x":k.x,"y":k.y,"kid":kid,"use":"sig","alg":"ES256"})
}

fn rsa_jwk(kid: &str) -> serde_json::Value {
    serde_json::json!({"kty":"RSA","n":RSA_N,"e":"AQAB","kid":kid,"use":"sig","alg":"RS256"})
}

fn jwks(keys: &[serde_json::Value]) -> String {
    serde_json::json!({ "keys": keys }).to_string()
}

fn claims(sub: &str, aud: &str, exp: u64) -> serde_json::Value {
    serde_json::json!({
        "iss": ISSUER, "aud": aud, "sub": sub, "iat": exp - 3600, "exp": exp,
        "email": format!("{sub}@proj.iam.gserviceaccount.com"), "email_verified": true,
    })
}

fn es256(k: &EcKey, kid: &str, claims: &serde_json::Value) -> String {
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some(kid.into());
    jsonwebtoken::encode(&h, claims, &EncodingKey::from_ec_der(&k.der)).unwrap()
}

fn rs256(kid: &str, claims: &serde_json::Value) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.into());
    jsonwebtoken::encode(
        &h,
        claims,
        &EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn clock(t: &Arc<AtomicU64>) -> Clock {
    let t = t.clone();
    Arc::new(move || t.load(Ordering::Relaxed))
}

async fn call(sink: &TestSink, bearer: Option<&str>, repo: &str) -> Result<(), tonic::Status> {
    let mut c = AlertSinkClient::connect(sink.url()).await.unwrap();
    let mut req = tonic::Request::new(alert("ossf", repo, "SECURITY.md", true, ""));
    if let Some(b) = bearer {
        req.metadata_mut()
            .insert("authorization", format!("Bearer {b}").parse().unwrap());
    }
    tokio::time::timeout(BOUND, c.alert(req))
        .await
        .expect("answered in time")
        .map(drop)
}

/// A verifier for the test issuer and audience, keys from a JWKS file.
fn file_verifier(file: std::path::PathBuf, allow: &[&str], clock: Clock) -> Verifier {
    Verifier::new(
        oidc::Settings {
            issuer: ISSUER.into(),
            audiences: vec![AUDIENCE.into()],
            jwks: JwksSource::File(file),
            allow: allow.iter().map(|a| (*a).to_owned()).collect(),
        },
        clock,
    )
    .unwrap()
}

/// A key rotated into the `--oidc-jwks` file is picked up without a
/// restart: an unknown kid reads the file again (at most once per minimum
/// interval, as for a URL). On the old code the file was read only at
/// start, and the new key's tokens were refused until a restart.
#[tokio::test]
async fn a_key_rotated_into_the_jwks_file_is_read_on_its_first_token() {
    let dir = tempfile::tempdir().unwrap();
    let (k1, k2) = (ec_key(), ec_key());
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, jwks(&[ec_jwk(&k1, "k1")])).unwrap();
    let v = file_verifier(file.clone(), &["*"], sinkwatch::sink::auth::system_clock())
        .with_min_refresh(Duration::ZERO);
    let sink = TestSink::start(SinkConfig {
        oidc: Some(Arc::new(v)),
        ..SinkConfig::default()
    })
    .await;
    let exp = sinkwatch::sink::auth::unix_now() + 600;
    let token = |k: &EcKey, kid: &str| es256(k, kid, &claims("a", AUDIENCE, exp));
    call(&sink, Some(&token(&k1, "k1")), "r").await.unwrap();
    let e = call(&sink, Some(&token(&k2, "k2")), "r").await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(e.message().contains("unknown key id"), "{}", e.message());
    std::fs::write(&file, jwks(&[ec_jwk(&k1, "k1"), ec_jwk(&k2, "k2")])).unwrap();
    call(&sink, Some(&token(&k2, "k2")), "r").await.unwrap();
    // A file gone bad keeps the keys read before.
    std::fs::write(&file, "not a key set").unwrap();
    call(&sink, Some(&token(&k1, "k1")), "r").await.unwrap();
    assert_eq!(sink.hub.read(|s| s.accepted()), 3);
    assert_eq!(sink.hub.refused(Refusal::BadSignature), 1);
    sink.stop().await;
}

/// An issuer that cannot be reached at start (a mistyped URL, an outage)
/// is told in one line before the readiness line, naming the option; the
/// sink still starts, and a token is answered UNAVAILABLE (retried by
/// clients). On the old code only the log file said it.
#[test]
fn an_unreachable_issuer_is_told_at_start() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let issuer = format!("http://127.0.0.1:{port}");
    let sink = Headless::start(&[
        "--oidc-issuer",
        &issuer,
        "--oidc-audience",
        AUDIENCE,
        "--oidc-allow",
        "*",
    ]);
    let said = sink
        .early_stderr
        .iter()
        .find(|l| l.contains("keys cannot be fetched now"))
        .unwrap_or_else(|| panic!("no warning: {:?}", sink.early_stderr));
    assert!(
        said.starts_with("sinkwatch: warning: --oidc-issuer ") && said.contains(&issuer),
        "{said}"
    );
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.jwt");
    let ec = ec_key();
    let exp = sinkwatch::sink::auth::unix_now() + 600;
    std::fs::write(&t, es256(&ec, "k1", &claims("a", AUDIENCE, exp))).unwrap();
    let out = send(
        &sink.url(),
        &[
            &common::binary::ALERT[..],
            &["--token-file", t.to_str().unwrap()],
        ]
        .concat(),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("answered Unavailable"), "{err}");
    sink.terminate();
}

/// An issuer that is not a URL (a slip; with a JWKS file nothing else
/// would say so) is warned about at start, and the sink serves. Fails on
/// old: nothing was said.
#[test]
fn an_issuer_that_is_not_a_url_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, jwks(&[rsa_jwk("k1")])).unwrap();
    let sink = Headless::start(&[
        "--oidc-issuer",
        "not-a-url",
        "--oidc-audience",
        AUDIENCE,
        "--oidc-jwks",
        file.to_str().unwrap(),
        "--oidc-allow",
        "*",
    ]);
    assert!(
        sink.early_stderr
            .iter()
            .any(|l| l.starts_with("sinkwatch: warning: --oidc-issuer not-a-url: not a URL")),
        "{:?}",
        sink.early_stderr
    );
    sink.terminate();
}

/// RFC 7517 §5: keys of a kind the sink cannot use (an ES512 key, an
/// encryption key, a `kty` from the future) are ignored, not fatal, so an
/// issuer adding one at a rotation does not stop every token; a set with
/// no usable key at all is refused at start, saying why.
#[tokio::test]
async fn keys_of_unknown_kinds_in_a_jwks_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let ec = ec_key();
    let strange = [
        serde_json::json!({"kty":"EC","crv":"P-521","kid":"p521","alg":"ES512","use":"sig",
            "x":"AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk",
            "y":"ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2"}),
        serde_json::json!({"kty":"OKP","crv":"X25519","kid":"enc","use":"enc",
            "x":"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"}),
        serde_json::json!({"kty":"XYZ","kid":"future"}),
    ];
    let file = dir.path().join("jwks.json");
    let mut keys = strange.to_vec();
    keys.push(ec_jwk(&ec, "k1"));
    std::fs::write(&file, jwks(&keys)).unwrap();
    let v = file_verifier(file, &["*"], sinkwatch::sink::auth::system_clock());
    let sink = TestSink::start(SinkConfig {
        oidc: Some(Arc::new(v)),
        ..SinkConfig::default()
    })
    .await;
    let exp = sinkwatch::sink::auth::unix_now() + 600;
    call(
        &sink,
        Some(&es256(&ec, "k1", &claims("a", AUDIENCE, exp))),
        "r",
    )
    .await
    .unwrap();

    let only_strange = dir.path().join("strange.json");
    std::fs::write(&only_strange, jwks(&strange)).unwrap();
    let err = Verifier::new(
        oidc::Settings {
            issuer: ISSUER.into(),
            audiences: vec![AUDIENCE.into()],
            jwks: JwksSource::File(only_strange),
            allow: vec!["*".into()],
        },
        sinkwatch::sink::auth::system_clock(),
    )
    .err()
    .expect("no usable key");
    assert!(err.contains("no usable signing key"), "{err}");
    assert!(err.contains("strange.json"), "{err}");
}

/// A sink verifying OIDC tokens against a JWKS file holding one EC key
/// (`k1`, returned to sign with), allowing `allow`; the directory holds
/// the file.
async fn ec_oidc_sink(allow: &[&str]) -> (TestSink, EcKey, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let ec = ec_key();
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, jwks(&[ec_jwk(&ec, "k1")])).unwrap();
    let v = file_verifier(file, allow, sinkwatch::sink::auth::system_clock());
    let sink = TestSink::start(SinkConfig {
        oidc: Some(Arc::new(v)),
        ..SinkConfig::default()
    })
    .await;
    (sink, ec, dir)
}

/// An operator who listed an email learns why it did not count.
#[tokio::test]
async fn an_allowed_but_unverified_email_is_named_in_the_refusal() {
    let (sink, ec, _dir) = ec_oidc_sink(&["ops@example.com"]).await;
    let exp = sinkwatch::sink::auth::unix_now() + 600;
    let mut c = claims("x1", AUDIENCE, exp);
    c["email"] = "ops@example.com".into();
    c["email_verified"] = false.into();
    let e = call(&sink, Some(&es256(&ec, "k1", &c)), "r")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(
        e.message().contains("not email_verified"),
        "{}",
        e.message()
    );
    c["email_verified"] = true.into();
    call(&sink, Some(&es256(&ec, "k1", &c)), "r").await.unwrap();
}

/// Claims as RFC 7519 and 7515 read them (a review): a NumericDate with a
/// fraction is a date; a verified email matches the allow list whatever
/// its case; a header whose `crit` lists extensions is refused, as is an
/// unsigned (`alg: none`) token, each saying so. Fails on old: the
/// fractional `exp` was "claims cannot be read", the upper-case email was
/// not allowed, `crit` was accepted, and `none` was "not a JWT".
#[tokio::test]
async fn claims_are_read_as_the_rfcs_say() {
    let (sink, ec, _dir) = ec_oidc_sink(&["Ops@Example.com"]).await;
    let exp = sinkwatch::sink::auth::unix_now() + 600;
    let mut c = claims("x1", AUDIENCE, exp);
    c["email"] = "OPS@example.COM".into();
    c["exp"] = serde_json::json!(exp as f64 + 0.5);
    call(&sink, Some(&es256(&ec, "k1", &c)), "fraction-and-case")
        .await
        .unwrap();

    // Signed by hand: the library's header has no `crit`.
    let head = serde_json::json!({"alg": "ES256", "kid": "k1", "crit": ["exp"]});
    let unsigned = format!(
        "{}.{}",
        B64URL.encode(head.to_string()),
        B64URL.encode(c.to_string())
    );
    let sig = jsonwebtoken::crypto::sign(
        unsigned.as_bytes(),
        &EncodingKey::from_ec_der(&ec.der),
        Algorithm::ES256,
    )
    .unwrap();
    let e = call(&sink, Some(&format!("{unsigned}.{sig}")), "crit")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{}", e.message());
    assert!(e.message().contains("crit: exp"), "{}", e.message());
    assert_eq!(sink.hub.refused(Refusal::AuthMalformed), 1);

    let none = format!(
        "{}.{}.",
        B64URL.encode(r#"{"alg":"none","typ":"JWT"}"#),
        B64URL.encode(c.to_string())
    );
    let e = call(&sink, Some(&none), "none").await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{}", e.message());
    assert!(e.message().contains("not signed"), "{}", e.message());
    assert_eq!(sink.hub.refused(Refusal::BadSignature), 1);
    sink.stop().await;
}

/// A token-info endpoint in trouble (a 503, a 200 that is not its JSON)
/// is the endpoint's failure, not the token's: UNAVAILABLE, which clients
/// retry, counted `auth_unavailable`, and not remembered — the next call
/// looks it up again and passes (a review: a 503 locked a good token out
/// for a minute as "not valid"). Fails on old: UNAUTHENTICATED, cached.
#[tokio::test]
async fn a_token_info_endpoint_in_trouble_is_not_the_tokens_fault() {
    let answers = Arc::new(Mutex::new(vec![
        ("200 OK", "<html>gateway</html>".to_owned()),
        ("503 Service Unavailable", "{}".to_owned()),
    ]));
    let queued = answers.clone();
    let (base, hits) = endpoint(move |_| {
        queued.lock().unwrap().pop().unwrap_or_else(|| {
            let info = serde_json::json!({
                "azp": "1234.apps.googleusercontent.com", "exp": (T0 + 3600).to_string(),
                "email": ALLSTAR, "email_verified": "true",
            });
            ("200 OK", info.to_string())
        })
    })
    .await;
    let (sink, _now) = tokeninfo_sink(&base).await;
    for (i, said) in ["HTTP 503", "not JSON"].into_iter().enumerate() {
        let e = call(&sink, Some("ya29.good"), "r").await.unwrap_err();
        assert_eq!(e.code(), Code::Unavailable, "{}", e.message());
        assert!(e.message().contains(said), "{}", e.message());
        assert_eq!(sink.hub.refused(Refusal::AuthUnavailable), i as u64 + 1);
    }
    call(&sink, Some("ya29.good"), "r").await.unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 3, "each call looked it up");
    assert_eq!(sink.hub.refused(Refusal::Unauthenticated), 0);
    sink.stop().await;
}

/// The done-when list of the issue, against a JWKS file: a good token
/// passes and its identity reaches the record; each bad one is refused
/// with its status and counted by its reason.
#[tokio::test]
async fn oidc_tokens_verify_against_a_jwks_file_and_each_failure_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let ec = ec_key();
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, jwks(&[ec_jwk(&ec, "ec1"), rsa_jwk("rsa1")])).unwrap();
    let now = Arc::new(AtomicU64::new(T0));
    let v = file_verifier(file, &[ALLSTAR, "robot"], clock(&now));
    let sink = TestSink::start(SinkConfig {
        oidc: Some(Arc::new(v)),
        ..SinkConfig::default()
    })
    .await;
    let (_, mut rx) = sink.hub.subscribe();
    let exp = T0 + 3600;

    // ES256 with a verified, allowed email; RS256 with an allowed subject.
    call(
        &sink,
        Some(&es256(&ec, "ec1", &claims("allstar", AUDIENCE, exp))),
        "a",
    )
    .await
    .unwrap();
    let r = rx.try_recv().unwrap();
    let who = r.peer.as_ref().and_then(|p| p.identity.as_deref());
    assert_eq!(who, Some(format!("oidc:{ALLSTAR}").as_str()));
    let mut robot = claims("robot", AUDIENCE, exp);
    robot["email_verified"] = false.into();
    call(&sink, Some(&rs256("rsa1", &robot)), "b")
        .await
        .unwrap();
    let r = rx.try_recv().unwrap();
    let who = r.peer.as_ref().and_then(|p| p.identity.as_deref());
    assert_eq!(who, Some("oidc:robot"), "an unverified email is not used");

    let other = ec_key();
    let mut wrong_iss = claims("allstar", AUDIENCE, exp);
    wrong_iss["iss"] = "https://elsewhere.test".into();
    let mut not_allowed_email = claims("mallory", AUDIENCE, exp);
    not_allowed_email["email"] = ALLSTAR.into();
    not_allowed_email["email_verified"] = false.into();
    let hs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("allstar", AUDIENCE, exp),
        &EncodingKey::from_secret(RSA_N.as_bytes()),
    )
    .unwrap();
    let cases: Vec<(&str, Option<String>, Code, Refusal)> = vec![
        (
            "no credentials",
            None,
            Code::Unauthenticated,
            Refusal::AuthMissing,
        ),
        (
            "not a JWT",
            Some("abc".into()),
            Code::Unauthenticated,
            Refusal::AuthMalformed,
        ),
        (
            "wrong audience",
            Some(es256(
                &ec,
                "ec1",
                &claims("allstar", "https://other.test", exp),
            )),
            Code::Unauthenticated,
            Refusal::WrongAudience,
        ),
        (
            "wrong issuer",
            Some(es256(&ec, "ec1", &wrong_iss)),
            Code::Unauthenticated,
            Refusal::WrongIssuer,
        ),
        (
            "expired",
            Some(es256(
                &ec,
                "ec1",
                &claims("allstar", AUDIENCE, T0 - oidc::LEEWAY_SECS - 1),
            )),
            Code::Unauthenticated,
            Refusal::Expired,
        ),
        (
            "bad signature (another key, same kid)",
            Some(es256(&other, "ec1", &claims("allstar", AUDIENCE, exp))),
            Code::Unauthenticated,
            Refusal::BadSignature,
        ),
        (
            "unknown kid",
            Some(es256(
                &other,
                "ec-unknown",
                &claims("allstar", AUDIENCE, exp),
            )),
            Code::Unauthenticated,
            Refusal::BadSignature,
        ),
        (
            "HS256 (algorithm confusion)",
            Some(hs256),
            Code::Unauthenticated,
            Refusal::BadSignature,
        ),
        (
            "subject not allowed",
            Some(es256(&ec, "ec1", &claims("mallory", AUDIENCE, exp))),
            Code::PermissionDenied,
            Refusal::NotAllowed,
        ),
        (
            "allowed email, but not verified",
            Some(es256(&ec, "ec1", &not_allowed_email)),
            Code::PermissionDenied,
            Refusal::NotAllowed,
        ),
    ];
    for (i, (what, token, code, why)) in cases.iter().enumerate() {
        let before = sink.hub.refused(*why);
        let e = call(&sink, token.as_deref(), &format!("bad{i}"))
            .await
            .expect_err(what);
        assert_eq!(e.code(), *code, "{what}: {}", e.message());
        assert_eq!(
            sink.hub.refused(*why),
            before + 1,
            "{what} counted as {why:?}"
        );
    }
    assert!(rx.try_recv().is_err(), "nothing refused was published");

    // A token accepted earlier expires while cached: the cache does not
    // outlive it.
    let token = es256(&ec, "ec1", &claims("allstar", AUDIENCE, T0 + 100));
    call(&sink, Some(&token), "c").await.unwrap();
    now.store(T0 + 100 + oidc::LEEWAY_SECS + 1, Ordering::Relaxed);
    let e = call(&sink, Some(&token), "d").await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert_eq!(sink.hub.refused(Refusal::Expired), 2);
    assert_eq!(sink.hub.read(|s| s.accepted()), 3);
    sink.stop().await;
}

/// A client sends the same token on every call of its connection, and
/// the sink remembers it per connection: the memo must not outlive the
/// token (refused once `exp` + leeway has passed, on the same connection),
/// must follow a client that changes its token, and must give a refusal
/// the same status and reason every time.
#[tokio::test]
async fn a_token_expiring_mid_connection_is_refused_on_that_connection() {
    let dir = tempfile::tempdir().unwrap();
    let ec = ec_key();
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, jwks(&[ec_jwk(&ec, "ec1")])).unwrap();
    let now = Arc::new(AtomicU64::new(T0));
    let v = file_verifier(file, &[ALLSTAR], clock(&now));
    let sink = TestSink::start(SinkConfig {
        oidc: Some(Arc::new(v)),
        ..SinkConfig::default()
    })
    .await;
    let (_, mut rx) = sink.hub.subscribe();
    // One client, one HTTP/2 connection, for every call below.
    let mut client = AlertSinkClient::connect(sink.url()).await.unwrap();
    let mut send = async |token: &str, repo: &str| {
        let mut req = tonic::Request::new(alert("ossf", repo, "SECURITY.md", true, ""));
        req.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        tokio::time::timeout(BOUND, client.alert(req))
            .await
            .expect("answered in time")
            .map(drop)
    };
    let mut identity_of_next = || {
        let r = rx.try_recv().expect("the accepted alert was published");
        r.peer
            .as_ref()
            .and_then(|p| p.identity.as_deref())
            .map(str::to_owned)
    };
    let exp = T0 + 100;
    let good = es256(&ec, "ec1", &claims("allstar", AUDIENCE, exp));
    let mallory = es256(&ec, "ec1", &claims("mallory", AUDIENCE, exp + 3600));
    for i in 0..3 {
        send(&good, &format!("a{i}")).await.unwrap();
        assert_eq!(identity_of_next(), Some(format!("oidc:{ALLSTAR}")));
    }
    // The client changes its token: judged on its own, each time.
    for i in 0..2 {
        let e = send(&mallory, &format!("m{i}")).await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{}", e.message());
        assert_eq!(sink.hub.refused(Refusal::NotAllowed), i + 1);
    }
    send(&good, "back").await.unwrap();
    assert_eq!(identity_of_next(), Some(format!("oidc:{ALLSTAR}")));

    // At the last second the leeway allows, still accepted…
    now.store(exp + oidc::LEEWAY_SECS, Ordering::Relaxed);
    send(&good, "last").await.unwrap();
    assert_eq!(identity_of_next(), Some(format!("oidc:{ALLSTAR}")));
    // …one second later refused as expired, on the same connection, every
    // time.
    now.store(exp + oidc::LEEWAY_SECS + 1, Ordering::Relaxed);
    for i in 0..2 {
        let e = send(&good, &format!("late{i}")).await.unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{}", e.message());
        assert!(e.message().contains("expired"), "{}", e.message());
        assert_eq!(sink.hub.refused(Refusal::Expired), i + 1);
    }
    // The other token has not expired: the connection still serves it
    // (refused, as not allowed).
    let e = send(&mallory, "m-late").await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert_eq!(sink.hub.refused(Refusal::NotAllowed), 3);
    assert_eq!(sink.hub.read(|s| s.accepted()), 5);
    assert!(rx.try_recv().is_err(), "nothing refused was published");
    sink.stop().await;
}

/// An issuer served on loopback by the test: the discovery document and a
/// JWKS that the test can change, or take down; counts fetches. Over plain
/// HTTP, or over HTTPS with a certificate from a CA of the test's own.
#[derive(Clone)]
struct Issuer {
    jwks: Arc<Mutex<String>>,
    up: Arc<std::sync::atomic::AtomicBool>,
    fetches: Arc<AtomicUsize>,
    base: String,
}

/// The CA of an HTTPS issuer: its certificate (DER and PEM).
struct TestCa {
    der: Vec<u8>,
    pem: String,
}

impl Issuer {
    async fn start(jwks: String) -> Issuer {
        Issuer::serve(jwks, None).await.0
    }

    /// Over HTTPS, with a certificate for 127.0.0.1 issued by a fresh CA;
    /// the accept loop's handle, to take the issuer away.
    async fn start_https(jwks: String) -> (Issuer, TestCa, tokio::task::JoinHandle<()>) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = params.self_signed(&ca_key).unwrap();
        let ca = TestCa {
            der: ca_cert.der().to_vec(),
            pem: ca_cert.pem(),
        };
        let issuer = rcgen::Issuer::new(params, ca_key);
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        use tokio_rustls::rustls;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let (issuer, task) = Issuer::serve(jwks, Some(acceptor)).await;
        (issuer, ca, task)
    }

    async fn serve(
        jwks: String,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> (Issuer, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base = format!("{scheme}://{}", listener.local_addr().unwrap());
        let issuer = Issuer {
            jwks: Arc::new(Mutex::new(jwks)),
            up: Arc::new(true.into()),
            fetches: Arc::new(AtomicUsize::new(0)),
            base,
        };
        let me = issuer.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((s, _)) = listener.accept().await else {
                    return;
                };
                let me = me.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(s) = acceptor.accept(s).await {
                                me.answer(s).await;
                            }
                        }
                        None => me.answer(s).await,
                    }
                });
            }
        });
        (issuer, task)
    }

    /// Reads one request and answers it, then closes.
    async fn answer<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(&self, mut s: S) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let head = String::from_utf8_lossy(&buf).to_string();
        let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
        let (status, body) = if !self.up.load(Ordering::SeqCst) {
            ("503 Service Unavailable", String::new())
        } else if path == "/.well-known/openid-configuration" {
            let doc = serde_json::json!({
                "issuer": self.base, "jwks_uri": format!("{}/jwks", self.base)
            });
            ("200 OK", doc.to_string())
        } else if path == "/jwks" {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            ("200 OK", self.jwks.lock().unwrap().clone())
        } else {
            ("404 Not Found", String::new())
        };
        let resp = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = s.write_all(resp.as_bytes()).await;
        let _ = s.shutdown().await;
    }
}

fn claims_for(iss: &str, sub: &str, exp: u64) -> serde_json::Value {
    let mut c = claims(sub, AUDIENCE, exp);
    c["iss"] = iss.into();
    c
}

/// Keys by discovery: fetched, refreshed when an unknown kid appears (a
/// rotation), kept while the issuer is down; a flood of unknown kids makes
/// at most one fetch per minimum interval.
#[tokio::test]
async fn fetched_keys_rotate_on_unknown_kid_and_survive_an_issuer_outage() {
    let (k1, k2) = (ec_key(), ec_key());
    let issuer = Issuer::start(jwks(&[ec_jwk(&k1, "k1")])).await;
    let now = Arc::new(AtomicU64::new(T0));
    let settings = oidc::Settings {
        issuer: issuer.base.clone(),
        audiences: vec![AUDIENCE.into()],
        jwks: JwksSource::Discovery,
        allow: vec!["*".into()],
    };
    let v = Arc::new(
        Verifier::new(settings.clone(), clock(&now))
            .unwrap()
            .with_min_refresh(Duration::ZERO),
    );
    v.prefetch().await.unwrap();
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1);
    let sink = TestSink::start(SinkConfig {
        oidc: Some(v),
        ..SinkConfig::default()
    })
    .await;
    let exp = T0 + 3600;
    let base = issuer.base.clone();
    call(
        &sink,
        Some(&es256(&k1, "k1", &claims_for(&base, "a", exp))),
        "r1",
    )
    .await
    .unwrap();
    assert_eq!(
        issuer.fetches.load(Ordering::SeqCst),
        1,
        "served from the cache"
    );

    // Rotation: k2 appears at the issuer; a token signed with it is
    // accepted after one fetch.
    *issuer.jwks.lock().unwrap() = jwks(&[ec_jwk(&k1, "k1"), ec_jwk(&k2, "k2")]);
    call(
        &sink,
        Some(&es256(&k2, "k2", &claims_for(&base, "b", exp))),
        "r2",
    )
    .await
    .unwrap();
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 2);

    // The issuer goes down: cached keys still verify new tokens; an unknown
    // kid is refused, and the sink serves on.
    issuer.up.store(false, Ordering::SeqCst);
    call(
        &sink,
        Some(&es256(&k1, "k1", &claims_for(&base, "c", exp))),
        "r3",
    )
    .await
    .unwrap();
    let e = call(
        &sink,
        Some(&es256(&k2, "k3", &claims_for(&base, "d", exp))),
        "r4",
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert_eq!(sink.hub.refused(Refusal::BadSignature), 1);
    call(
        &sink,
        Some(&es256(&k2, "k2", &claims_for(&base, "e", exp))),
        "r5",
    )
    .await
    .unwrap();
    sink.stop().await;

    // With the default minimum interval, a flood of unknown kids after the
    // first fetch fetches nothing more.
    issuer.up.store(true, Ordering::SeqCst);
    let v = Arc::new(Verifier::new(settings, clock(&now)).unwrap());
    v.prefetch().await.unwrap();
    let before = issuer.fetches.load(Ordering::SeqCst);
    let sink = TestSink::start(SinkConfig {
        oidc: Some(v),
        ..SinkConfig::default()
    })
    .await;
    for i in 0..20 {
        let t = es256(&k2, &format!("forged-{i}"), &claims_for(&base, "f", exp));
        assert!(call(&sink, Some(&t), "flood").await.is_err());
    }
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), before);
    assert_eq!(sink.hub.refused(Refusal::BadSignature), 20);
    sink.stop().await;
}

/// `--oidc-jwks https://…`: the keys come over TLS from a server whose
/// certificate a CA of the test's own issued — trusted only when given
/// (system roots do not know it). Fetched once and cached; an unknown kid
/// fetches again, but not within the minimum interval; when the server
/// goes away the cached keys keep verifying and the sink keeps serving.
#[tokio::test]
async fn a_jwks_url_is_fetched_over_https_cached_refreshed_and_outlived() {
    use sinkwatch::sink::auth::fetch::Trust;
    let (k1, k2, k3) = (ec_key(), ec_key(), ec_key());
    let (server, ca, task) = Issuer::start_https(jwks(&[ec_jwk(&k1, "k1")])).await;
    let url = format!("{}/jwks", server.base);
    let settings = oidc::Settings {
        issuer: ISSUER.into(),
        audiences: vec![AUDIENCE.into()],
        jwks: JwksSource::Url(url.clone()),
        allow: vec!["*".into()],
    };
    let now = Arc::new(AtomicU64::new(T0));
    let exp = T0 + 3600;
    let token = |k: &EcKey, kid: &str, sub: &str| es256(k, kid, &claims(sub, AUDIENCE, exp));

    // Without the test CA the certificate is not trusted: no keys.
    let untrusting = Verifier::new(settings.clone(), clock(&now)).unwrap();
    let e = untrusting.prefetch().await.unwrap_err();
    assert!(e.contains(&url), "the error names the URL: {e}");
    assert_eq!(server.fetches.load(Ordering::SeqCst), 0);

    let trust = Trust::only(&ca.der).unwrap();
    // The default minimum interval between fetches.
    let slow = Arc::new(
        Verifier::new(settings.clone(), clock(&now))
            .unwrap()
            .with_trust(trust.clone()),
    );
    // Keys are fetched on first use when not prefetched.
    let sink = TestSink::start(SinkConfig {
        oidc: Some(slow.clone()),
        ..SinkConfig::default()
    })
    .await;
    call(&sink, Some(&token(&k1, "k1", "a")), "a")
        .await
        .unwrap();
    assert_eq!(server.fetches.load(Ordering::SeqCst), 1, "fetched");
    call(&sink, Some(&token(&k1, "k1", "b")), "b")
        .await
        .unwrap();
    assert_eq!(server.fetches.load(Ordering::SeqCst), 1, "cached");
    // k2 appears at the server: within the minimum interval since the
    // last fetch, its tokens are refused without fetching, however many.
    *server.jwks.lock().unwrap() = jwks(&[ec_jwk(&k1, "k1"), ec_jwk(&k2, "k2")]);
    for i in 0..5 {
        let e = call(&sink, Some(&token(&k2, "k2", &format!("c{i}"))), "c")
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated);
        assert!(e.message().contains("unknown key id"), "{}", e.message());
    }
    assert_eq!(
        server.fetches.load(Ordering::SeqCst),
        1,
        "no fetch within the interval"
    );
    assert_eq!(sink.hub.refused(Refusal::BadSignature), 5);
    sink.stop().await;

    // Past the interval (zero here), an unknown kid fetches once and the
    // rotated-in key verifies.
    let fast = Arc::new(
        Verifier::new(settings, clock(&now))
            .unwrap()
            .with_trust(trust)
            .with_min_refresh(Duration::ZERO),
    );
    fast.prefetch().await.unwrap();
    assert_eq!(server.fetches.load(Ordering::SeqCst), 2);
    let sink = TestSink::start(SinkConfig {
        oidc: Some(fast.clone()),
        ..SinkConfig::default()
    })
    .await;
    call(&sink, Some(&token(&k2, "k2", "d")), "d")
        .await
        .unwrap();
    assert_eq!(
        server.fetches.load(Ordering::SeqCst),
        2,
        "k2 was in the prefetch"
    );
    *server.jwks.lock().unwrap() = jwks(&[ec_jwk(&k1, "k1"), ec_jwk(&k2, "k2"), ec_jwk(&k3, "k3")]);
    call(&sink, Some(&token(&k3, "k3", "e")), "e")
        .await
        .unwrap();
    assert_eq!(
        server.fetches.load(Ordering::SeqCst),
        3,
        "refreshed on the unknown kid"
    );

    // The server goes away (its port closed): new tokens signed with the
    // cached keys still verify; an unknown kid is refused (the fetch
    // fails), and the sink serves on.
    task.abort();
    let _ = task.await;
    call(&sink, Some(&token(&k1, "k1", "f")), "f")
        .await
        .unwrap();
    let e = call(&sink, Some(&token(&k3, "k4", "g")), "g")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(e.message().contains("unknown key id"), "{}", e.message());
    call(&sink, Some(&token(&k3, "k3", "h")), "h")
        .await
        .unwrap();
    assert_eq!(sink.hub.read(|s| s.accepted()), 4);
    assert_eq!(server.fetches.load(Ordering::SeqCst), 3);
    sink.stop().await;
}

/// As an operator with a private issuer would: `SSL_CERT_FILE` names the
/// CA to trust for `--oidc-jwks https://…` (README). Without it the same
/// sink cannot fetch the keys, and refuses the token.
#[test]
fn the_binary_trusts_the_ca_in_ssl_cert_file_for_a_jwks_url() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ec = ec_key();
    let (server, ca, _task) = rt.block_on(Issuer::start_https(jwks(&[ec_jwk(&ec, "k1")])));
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let token = dir.path().join("id.jwt");
    let now = sinkwatch::sink::auth::unix_now();
    std::fs::write(
        &token,
        es256(&ec, "k1", &claims("allstar", AUDIENCE, now + 600)),
    )
    .unwrap();
    let url = format!("{}/jwks", server.base);
    let start = |ca: Option<&std::path::Path>| {
        let mut cmd = bin();
        cmd.args(["--no-tui", "--listen", "127.0.0.1:0"])
            .args(["--oidc-issuer", ISSUER, "--oidc-audience", AUDIENCE])
            .args(["--oidc-jwks", &url, "--oidc-allow", ALLSTAR])
            .env_remove("SSL_CERT_DIR")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        match ca {
            Some(f) => cmd.env("SSL_CERT_FILE", f),
            None => cmd.env_remove("SSL_CERT_FILE"),
        };
        Headless::adopt(cmd.spawn().unwrap())
    };
    let a = [
        "--owner", "ossf", "--repo", "allstar", "--policy", "p", "--pass",
    ];
    let args = [&a[..], &["--token-file", token.to_str().unwrap()]].concat();

    let trusting = start(Some(&ca_file));
    let ok = send(&trusting.url(), &args);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(server.fetches.load(Ordering::SeqCst) >= 1);
    assert!(trusting.terminate().status.success());

    let fetches = server.fetches.load(Ordering::SeqCst);
    let untrusting = start(None);
    let refused = send(&untrusting.url(), &args);
    assert_eq!(refused.status.code(), Some(1));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("could not be fetched"), "{said}");
    assert_eq!(
        server.fetches.load(Ordering::SeqCst),
        fetches,
        "no JWKS served"
    );
    let exit = untrusting.terminate();
    assert!(exit.status.success());
    // The sink's own outage: retryable, and not counted as a forgery.
    assert!(said.contains("Unavailable"), "{said}");
    let refused = exit.lines().last().unwrap()["refused"].clone();
    assert_eq!(refused["auth_unavailable"], 1, "{refused}");
    assert!(refused.get("bad_signature").is_none(), "{refused}");
}

fn secret_file(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let p = dir.path().join("secret");
    std::fs::write(&p, "c2lua3dhdGNoIHRlc3Qgc2VjcmV0IQ==\n").unwrap();
    p
}

async fn signed_call(
    sink: &TestSink,
    msg: sinkwatch::proto::AlertRequest,
    header: Option<String>,
    bearer: Option<&str>,
) -> Result<(), tonic::Status> {
    let mut c = AlertSinkClient::connect(sink.url()).await.unwrap();
    let mut req = tonic::Request::new(msg);
    if let Some(h) = header {
        req.metadata_mut()
            .insert(signature::HEADER, h.parse().unwrap());
    }
    if let Some(b) = bearer {
        req.metadata_mut()
            .insert("authorization", format!("Bearer {b}").parse().unwrap());
    }
    tokio::time::timeout(BOUND, c.alert(req))
        .await
        .unwrap()
        .map(drop)
}

/// A sink requiring HMAC-signed payloads (its clock at `T0`), and a signer
/// with the same secret.
async fn hmac_sink(dir: &tempfile::TempDir, limits: SinkLimits) -> (TestSink, Signer) {
    let spec = KeySpec::Hmac(secret_file(dir));
    let v = signature::Verifier::load(&spec, clock(&Arc::new(AtomicU64::new(T0)))).unwrap();
    let sink = TestSink::start(SinkConfig {
        signature: Some(Arc::new(v)),
        limits,
        ..SinkConfig::default()
    })
    .await;
    (sink, Signer::load(&spec).unwrap())
}

/// A signed payload passes once; tampered, replayed, stale and unsigned
/// ones are refused, each counted.
#[tokio::test]
async fn signed_payloads_pass_once_and_tampering_or_replay_is_refused() {
    use prost::Message as _;
    let dir = tempfile::tempdir().unwrap();
    let (sink, signer) = hmac_sink(&dir, SinkLimits::default()).await;
    let msg = alert(
        "ossf",
        "allstar",
        "Branch Protection",
        false,
        "no protection",
    );
    let header = signer.header_at(T0, "n1", &msg.encode_to_vec());
    signed_call(&sink, msg.clone(), Some(header.clone()), None)
        .await
        .unwrap();
    // The same request again (a replay).
    let e = signed_call(&sink, msg.clone(), Some(header.clone()), None)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert_eq!(sink.hub.refused(Refusal::Replayed), 1);
    // Tampered: the signature of one alert on another.
    let mut tampered = msg.clone();
    tampered.pass = true;
    let header = signer.header_at(T0, "n2", &msg.encode_to_vec());
    let e = signed_call(&sink, tampered, Some(header), None)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert_eq!(sink.hub.refused(Refusal::BadSignature), 1);
    // Stale, unsigned, malformed.
    let header = signer.header_at(T0 - signature::WINDOW_SECS - 1, "n3", &msg.encode_to_vec());
    assert!(
        signed_call(&sink, msg.clone(), Some(header), None)
            .await
            .is_err()
    );
    assert_eq!(sink.hub.refused(Refusal::Expired), 1);
    assert!(signed_call(&sink, msg.clone(), None, None).await.is_err());
    assert_eq!(sink.hub.refused(Refusal::AuthMissing), 1);
    assert!(
        signed_call(&sink, msg.clone(), Some("sig=%%".into()), None)
            .await
            .is_err()
    );
    assert_eq!(sink.hub.refused(Refusal::AuthMalformed), 1);
    // A gzip-compressed signed request: the signature is over the
    // uncompressed message.
    let mut c = AlertSinkClient::connect(sink.url())
        .await
        .unwrap()
        .send_compressed(tonic::codec::CompressionEncoding::Gzip);
    let mut req = tonic::Request::new(msg.clone());
    let h = signer.header_at(T0, "n4", &msg.encode_to_vec());
    req.metadata_mut()
        .insert(signature::HEADER, h.parse().unwrap());
    c.alert(req).await.unwrap();
    assert_eq!(sink.hub.read(|s| s.accepted()), 2);
    sink.stop().await;
}

/// A signed call refused after its signature verified (here a field over
/// its limit) has not used the signature: the sender's retry of the very
/// same request gets the same answer, not `replayed` (on the old code it
/// got `replayed`, hiding the real error). A signature header sent twice is
/// refused as malformed: which one was meant is not for the sink to guess.
#[tokio::test]
async fn a_refused_signed_call_keeps_its_signature_and_two_headers_are_refused() {
    use prost::Message as _;
    let dir = tempfile::tempdir().unwrap();
    let limits = SinkLimits {
        max_details_bytes: 10,
        ..Default::default()
    };
    let (sink, signer) = hmac_sink(&dir, limits).await;
    let long = alert("o", "r", "p", false, "more than ten bytes");
    let header = signer.header_at(T0, "n1", &long.encode_to_vec());
    for _ in 0..2 {
        let e = signed_call(&sink, long.clone(), Some(header.clone()), None)
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{}", e.message());
    }
    assert_eq!(sink.hub.refused(Refusal::FieldTooLong), 2);
    assert_eq!(sink.hub.refused(Refusal::Replayed), 0);

    let ok = alert("o", "r", "p", true, "");
    let (h1, h2) = (
        signer.header_at(T0, "n2", &ok.encode_to_vec()),
        signer.header_at(T0, "n3", &ok.encode_to_vec()),
    );
    let mut c = AlertSinkClient::connect(sink.url()).await.unwrap();
    let mut req = tonic::Request::new(ok.clone());
    req.metadata_mut()
        .append(signature::HEADER, h1.parse().unwrap());
    req.metadata_mut()
        .append(signature::HEADER, h2.parse().unwrap());
    let e = c.alert(req).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(e.message().contains("more than once"), "{}", e.message());
    assert_eq!(sink.hub.refused(Refusal::AuthMalformed), 1);
    // Each of them alone still passes (neither was used).
    signed_call(&sink, ok.clone(), Some(h1), None)
        .await
        .unwrap();
    signed_call(&sink, ok, Some(h2), None).await.unwrap();
    assert_eq!(sink.hub.read(|s| s.accepted()), 2);
    sink.stop().await;
}

/// `--auth all`: a static token and a signature must both hold; `any`:
/// either does.
#[tokio::test]
async fn methods_combine_as_configured() {
    use prost::Message as _;
    let dir = tempfile::tempdir().unwrap();
    let spec = KeySpec::Hmac(secret_file(&dir));
    let signer = Signer::load(&spec).unwrap();
    for combine in [Combine::All, Combine::Any] {
        let v = signature::Verifier::load(&spec, sinkwatch::sink::auth::system_clock()).unwrap();
        let sink = TestSink::start(SinkConfig {
            token: Some("s3cret".into()),
            signature: Some(Arc::new(v)),
            combine,
            ..SinkConfig::default()
        })
        .await;
        let msg = alert("o", "r", "p", true, "");
        let sign = || Some(signer.header(&msg.encode_to_vec()));
        let both = signed_call(&sink, msg.clone(), sign(), Some("s3cret")).await;
        let token_only = signed_call(&sink, msg.clone(), None, Some("s3cret")).await;
        let sig_only = signed_call(&sink, msg.clone(), sign(), None).await;
        let neither = signed_call(&sink, msg.clone(), None, None).await;
        // A good token beside a signature made for another message: the
        // signature was presented and fails, so the call is refused under
        // `any` too (on the old code `any` accepted it on the token alone
        // and counted nothing).
        let other = signer.header(&alert("o", "r", "p", false, "").encode_to_vec());
        let bad_sig = signed_call(&sink, msg.clone(), Some(other), Some("s3cret"))
            .await
            .unwrap_err();
        assert_eq!(bad_sig.code(), Code::Unauthenticated, "{combine:?}");
        assert_eq!(sink.hub.refused(Refusal::BadSignature), 1, "{combine:?}");
        assert!(both.is_ok(), "{combine:?}");
        assert!(neither.is_err(), "{combine:?}");
        match combine {
            Combine::All => {
                assert!(token_only.is_err());
                // What is missing is the token; the signature was there.
                let e = sig_only.unwrap_err();
                assert!(
                    e.message().contains("--auth all") && !e.message().contains(" or "),
                    "{}",
                    e.message()
                );
            }
            Combine::Any => {
                assert!(token_only.is_ok() && sig_only.is_ok());
            }
        }
        sink.stop().await;
    }
}

/// As a new user would: the binary with --oidc-* and a JWKS file, `send
/// --token-file` with a minted token, the identity in the JSON line; a
/// signed `send` against --verify-signature ed25519; reasons in the stats.
#[test]
fn the_binary_accepts_oidc_tokens_and_signed_sends_and_counts_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let ec = ec_key();
    let jwks_file = dir.path().join("jwks.json");
    std::fs::write(&jwks_file, jwks(&[ec_jwk(&ec, "k1")])).unwrap();
    let now = sinkwatch::sink::auth::unix_now();
    let good = dir.path().join("good.jwt");
    std::fs::write(
        &good,
        es256(&ec, "k1", &claims("allstar", AUDIENCE, now + 600)),
    )
    .unwrap();
    let wrong_aud = dir.path().join("aud.jwt");
    std::fs::write(
        &wrong_aud,
        es256(
            &ec,
            "k1",
            &claims("allstar", "https://else.test", now + 600),
        ),
    )
    .unwrap();
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let (private, public) = (dir.path().join("ed.pem"), dir.path().join("ed.pub"));
    std::fs::write(&private, kp.serialize_pem()).unwrap();
    std::fs::write(&public, kp.public_key_pem()).unwrap();
    let sink = Headless::start(&[
        "--oidc-issuer",
        ISSUER,
        "--oidc-audience",
        AUDIENCE,
        "--oidc-jwks",
        jwks_file.to_str().unwrap(),
        "--oidc-allow",
        ALLSTAR,
        "--verify-signature",
        &format!("ed25519:{}", public.display()),
    ]);
    assert!(
        sink.early_stderr
            .iter()
            .any(|l| l.contains("any one of") && l.contains("OIDC") && l.contains("ed25519")),
        "{:?}",
        sink.early_stderr
    );
    let url = sink.url();
    let a = [
        "--owner", "ossf", "--repo", "allstar", "--policy", "p", "--pass",
    ];
    let ok = send(
        &url,
        &[&a[..], &["--token-file", good.to_str().unwrap()]].concat(),
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = send(
        &url,
        &[&a[..], &["--token-file", wrong_aud.to_str().unwrap()]].concat(),
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("audience"));
    let signed = send(
        &url,
        &[
            &a[..],
            &["--sign", &format!("ed25519:{}", private.display())],
        ]
        .concat(),
    );
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let unsigned = send(&url, &a);
    assert_eq!(unsigned.status.code(), Some(1));
    let exit = sink.terminate();
    assert!(exit.status.success());
    let lines = exit.lines();
    let alerts: Vec<_> = lines.iter().filter(|l| l["kind"] == "alert").collect();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0]["peer_identity"], format!("oidc:{ALLSTAR}"));
    // A verified signature marks its alert too (it had none).
    assert_eq!(alerts[1]["peer_identity"], "signed:ed25519");
    let stats = lines.last().unwrap();
    assert_eq!(stats["refused"]["wrong_audience"], 1, "{stats}");
    assert_eq!(stats["refused"]["auth_missing"], 1, "{stats}");
}

/// A tee re-signs with its own key (`--forward-sign`): the upstream, which
/// verifies sinkwatch's key, gets every alert; the sender's signature (made
/// with another key) is not what reaches it — a proxy passing metadata on
/// does not pass it either, so the upstream sees sinkwatch's signature only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_re_signs_with_sinkwatchs_own_key() {
    use prost::Message as _;
    use sinkwatch::forward::ForwardMode;
    use sinkwatch::forward::{ForwardConfig, Forwarder};
    let dir = tempfile::tempdir().unwrap();
    let sender_secret = secret_file(&dir);
    let hop_secret = dir.path().join("hop");
    std::fs::write(&hop_secret, "a different secret for the hop\n").unwrap();
    let (sender_spec, hop_spec) = (KeySpec::Hmac(sender_secret), KeySpec::Hmac(hop_secret));

    for mode in [ForwardMode::Tee, ForwardMode::Proxy] {
        let upstream = TestSink::start(SinkConfig {
            signature: Some(Arc::new(
                signature::Verifier::load(&hop_spec, sinkwatch::sink::auth::system_clock())
                    .unwrap(),
            )),
            ..SinkConfig::default()
        })
        .await;
        let a_hub = sinkwatch::hub::Hub::new(sinkwatch::model::StoreLimits::default(), 1 << 10);
        let mut cfg = ForwardConfig::new(vec![sinkwatch::grpc::Target::plain(upstream.url())]);
        cfg.mode = mode;
        cfg.pass_metadata = true;
        cfg.signer = Some(Arc::new(Signer::load(&hop_spec).unwrap()));
        let fwd = Forwarder::start(&a_hub, cfg).unwrap();
        let a = TestSink::start_with_hub(
            a_hub,
            SinkConfig {
                signature: Some(Arc::new(
                    signature::Verifier::load(&sender_spec, sinkwatch::sink::auth::system_clock())
                        .unwrap(),
                )),
                hook: fwd.hook(),
                ..SinkConfig::default()
            },
        )
        .await;
        let sender = Signer::load(&sender_spec).unwrap();
        for i in 0..5 {
            let msg = alert("ossf", &format!("r{i}"), "p", true, "");
            let h = sender.header(&msg.encode_to_vec());
            signed_call(&a, msg, Some(h), None).await.unwrap();
        }
        let stats = fwd.stats();
        let start = std::time::Instant::now();
        while stats.snapshot()[0].delivered < 5 {
            assert!(start.elapsed() < BOUND, "{mode:?}: {:#?}", stats.snapshot());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(upstream.hub.read(|s| s.accepted()), 5, "{mode:?}");
        assert_eq!(upstream.hub.refused_total(), 0, "{mode:?}");
        a.stop().await;
        upstream.stop().await;
    }
}

/// A loopback HTTP endpoint answering each GET with `answer(path)`;
/// returns its base URL and the count of requests.
async fn endpoint(
    answer: impl Fn(&str) -> (&'static str, String) + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let (answer, count) = (Arc::new(answer), hits.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (answer, count) = (answer.clone(), count.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                count.fetch_add(1, Ordering::SeqCst);
                let head = String::from_utf8_lossy(&buf).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                let (status, body) = answer(&path);
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (base, hits)
}

/// A sink checking access tokens at `base`'s token-info endpoint,
/// allowing ALLSTAR, on a clock the test sets (starting at T0).
async fn tokeninfo_sink(base: &str) -> (TestSink, Arc<AtomicU64>) {
    let now = Arc::new(AtomicU64::new(T0));
    let v = sinkwatch::sink::auth::tokeninfo::Verifier::new(
        Some(&format!("{base}/tokeninfo")),
        &[ALLSTAR.to_owned()],
        clock(&now),
    )
    .unwrap();
    let sink = TestSink::start(SinkConfig {
        tokeninfo: Some(Arc::new(v)),
        ..SinkConfig::default()
    })
    .await;
    (sink, now)
}

/// Opaque access tokens: a live, allowed token passes (looked up once,
/// then cached until its expiry); an unknown one, an expired one and one
/// issued to someone not allowed are refused with their reasons; a flood of
/// random tokens makes a bounded number of lookups.
#[tokio::test]
async fn access_tokens_are_checked_at_token_info_cached_and_lookups_bounded() {
    use sinkwatch::sink::auth::tokeninfo;
    let (base, hits) = endpoint(|path| {
        let token = path.split("access_token=").nth(1).unwrap_or("");
        let info = |email: &str, exp: u64| {
            serde_json::json!({
                "azp": "1234.apps.googleusercontent.com", "aud": "1234.apps.googleusercontent.com",
                "scope": "https://www.googleapis.com/auth/cloud-platform",
                "exp": exp.to_string(), "expires_in": "3599",
                "email": email, "email_verified": "true", "access_type": "online"
            })
            .to_string()
        };
        match token {
            "ya29.good%2Btoken" => ("200 OK", info(ALLSTAR, T0 + 3600)),
            "ya29.expired" => ("200 OK", info(ALLSTAR, T0 - 1)),
            "ya29.mallory" => ("200 OK", info("mallory@evil.test", T0 + 3600)),
            "ya29.unverified" => (
                "200 OK",
                info(ALLSTAR, T0 + 3600)
                    .replace(r#""email_verified":"true""#, r#""email_verified":"false""#),
            ),
            _ => (
                "400 Bad Request",
                r#"{"error":"invalid_token","error_description":"Invalid Value"}"#.to_owned(),
            ),
        }
    })
    .await;
    let (sink, now) = tokeninfo_sink(&base).await;
    let (_, mut rx) = sink.hub.subscribe();
    for i in 0..3 {
        call(&sink, Some("ya29.good+token"), &format!("ok{i}"))
            .await
            .unwrap();
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "looked up once, then cached"
    );
    let r = rx.try_recv().unwrap();
    let who = r.peer.as_ref().and_then(|p| p.identity.as_deref());
    assert_eq!(who, Some(format!("oauth:{ALLSTAR}").as_str()));
    for (token, code, why) in [
        (
            "ya29.unknown",
            Code::Unauthenticated,
            Refusal::Unauthenticated,
        ),
        ("ya29.expired", Code::Unauthenticated, Refusal::Expired),
        ("ya29.mallory", Code::PermissionDenied, Refusal::NotAllowed),
        (
            "not a token!",
            Code::Unauthenticated,
            Refusal::AuthMalformed,
        ),
    ] {
        let e = call(&sink, Some(token), "bad").await.unwrap_err();
        assert_eq!(e.code(), code, "{token}: {}", e.message());
        assert_eq!(sink.hub.refused(why), 1, "{token}");
    }
    // A listed email that is not verified: refused, saying why.
    let e = call(&sink, Some("ya29.unverified"), "bad")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(
        e.message().contains("not email_verified"),
        "{}",
        e.message()
    );
    assert_eq!(sink.hub.refused(Refusal::NotAllowed), 2);
    // A flood of random tokens: at most the burst is looked up (plus what
    // the rate refills while the flood lasts, on a slow machine); the rest
    // are refused as overloaded, without a lookup.
    let before = hits.load(Ordering::SeqCst);
    let flood_started = std::time::Instant::now();
    for i in 0..100 {
        assert!(
            call(&sink, Some(&format!("ya29.random{i}")), "flood")
                .await
                .is_err()
        );
    }
    let looked_up = hits.load(Ordering::SeqCst) - before;
    let refilled = (flood_started.elapsed().as_secs_f64() * tokeninfo::LOOKUP_RATE).ceil();
    assert!(
        looked_up <= (tokeninfo::LOOKUP_BURST + refilled) as usize + 2,
        "{looked_up} lookups for 100 random tokens in {:?}",
        flood_started.elapsed()
    );
    assert!(sink.hub.refused(Refusal::Overloaded) >= 100 - looked_up as u64 - 1);
    // The good token still passes from the cache, and stops at its expiry.
    call(&sink, Some("ya29.good+token"), "ok3").await.unwrap();
    now.store(T0 + 3600, Ordering::Relaxed);
    assert!(call(&sink, Some("ya29.good+token"), "late").await.is_err());
    sink.stop().await;
}

/// Forged tokens from one address are rate-limited before they are
/// verified: beyond the address's allowance they cost no signature check
/// (before, every one was verified and then counted against the limit).
#[tokio::test]
async fn the_rate_limit_comes_before_token_verification() {
    let dir = tempfile::tempdir().unwrap();
    let ec = ec_key();
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, jwks(&[ec_jwk(&ec, "k1")])).unwrap();
    let v = file_verifier(file, &["*"], sinkwatch::sink::auth::system_clock());
    let sink = TestSink::start(SinkConfig {
        oidc: Some(Arc::new(v)),
        limits: sinkwatch::sink::SinkLimits {
            rate_limit: Some(2.0),
            ..Default::default()
        },
        ..SinkConfig::default()
    })
    .await;
    let forger = ec_key();
    let exp = sinkwatch::sink::auth::unix_now() + 600;
    let mut c = AlertSinkClient::connect(sink.url()).await.unwrap();
    let started = std::time::Instant::now();
    for i in 0..20 {
        let token = es256(&forger, "k1", &claims(&format!("f{i}"), AUDIENCE, exp));
        let mut req = tonic::Request::new(alert("o", "r", "p", true, ""));
        req.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let e = tokio::time::timeout(BOUND, c.alert(req))
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(e.code(), Code::ResourceExhausted | Code::Unauthenticated),
            "{e:?}"
        );
    }
    let (limited, verified) = (
        sink.hub.refused(Refusal::RateLimited),
        sink.hub.refused(Refusal::BadSignature),
    );
    assert_eq!(limited + verified, 20);
    // A bucket of 2 per second: its burst plus what refilled while the
    // calls ran were verified, the rest refused before verification.
    let allowance = 2 + (2.0 * started.elapsed().as_secs_f64()).ceil() as u64;
    assert!(
        verified <= allowance,
        "{verified} forged tokens were verified (allowance {allowance})"
    );
    sink.stop().await;
}

/// Where Debian's golang-google-grpc-dev installs grpc-go (GOPATH mode);
/// `SINKWATCH_GOPATH` to use another.
fn go_grpc_gopath() -> Result<std::path::PathBuf, String> {
    let gopath: std::path::PathBuf = std::env::var_os("SINKWATCH_GOPATH")
        .map(Into::into)
        .unwrap_or_else(|| "/usr/share/gocode".into());
    let go = std::process::Command::new("go").arg("version").output();
    if !go.is_ok_and(|o| o.status.success()) {
        return Err("no `go` on PATH (Debian: apt-get install golang-go)".into());
    }
    for pkg in [
        "google.golang.org/grpc/credentials/oauth",
        "google.golang.org/grpc/encoding/gzip",
        "golang.org/x/oauth2",
    ] {
        if !gopath.join("src").join(pkg).is_dir() {
            return Err(format!(
                "{pkg} is not in {} (Debian: apt-get install golang-google-grpc-dev, \
                 or set SINKWATCH_GOPATH)",
                gopath.display()
            ));
        }
    }
    Ok(gopath)
}

/// A grpc-go client (tests/go/alertsink_client.go) as a Go sender such as
/// Allstar: gzip on every call and the `oauth` package's per-call
/// credentials over TLS, carrying an OIDC identity token — OK, with the
/// identity recorded. The same client with an encoding the sink does not
/// know, without a token, and with a compressed message over the limit
/// once decompressed: each refused with its status and counted. Skipped
/// (with a message) where Go or grpc-go is not installed.
#[test]
fn a_grpc_go_client_with_gzip_and_oauth_credentials_is_accepted() {
    let gopath = match go_grpc_gopath() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("skipped: the grpc-go client test needs Go and grpc-go: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let client = dir.path().join("alertsink_client");
    let source =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/go/alertsink_client.go");
    // GOPATH mode, offline: only what the packages installed.
    let built = std::process::Command::new("go")
        .args(["build", "-o"])
        .arg(&client)
        .arg(&source)
        .env("GOPATH", &gopath)
        .env("GO111MODULE", "off")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "")
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "go build: {}",
        String::from_utf8_lossy(&built.stderr)
    );

    // TLS: grpc-go sends per-call credentials only over it.
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = params.self_signed(&ca_key).unwrap().pem();
    let issuer = rcgen::Issuer::new(params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let path = |name: &str| dir.path().join(name);
    std::fs::write(path("ca.pem"), ca_pem).unwrap();
    std::fs::write(path("server.pem"), cert.pem()).unwrap();
    std::fs::write(path("server.key"), key.serialize_pem()).unwrap();
    let ec = ec_key();
    std::fs::write(path("jwks.json"), jwks(&[ec_jwk(&ec, "k1")])).unwrap();
    let now = sinkwatch::sink::auth::unix_now();
    std::fs::write(
        path("id.jwt"),
        es256(&ec, "k1", &claims("allstar", AUDIENCE, now + 600)),
    )
    .unwrap();
    let p = |name: &str| path(name).to_str().unwrap().to_owned();
    let sink = Headless::adopt(
        bin()
            .args(["--no-tui", "--listen", "127.0.0.1:0"])
            .args([
                "--tls-cert",
                &p("server.pem"),
                "--tls-key",
                &p("server.key"),
            ])
            .args(["--oidc-issuer", ISSUER, "--oidc-audience", AUDIENCE])
            .args(["--oidc-jwks", &p("jwks.json"), "--oidc-allow", ALLSTAR])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let run = |args: &[&str]| {
        let out = output(
            std::process::Command::new(&client)
                .args(["-addr", &sink.addr, "-ca", &p("ca.pem")])
                .args(args),
        );
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        )
    };
    let token = p("id.jwt");
    assert_eq!(
        run(&["-compressor", "gzip", "-token-file", &token, "-n", "3"]),
        (Some(0), "ok 3".to_owned())
    );
    let (code, said) = run(&["-compressor", "x-unknown", "-token-file", &token, "-n", "1"]);
    assert_eq!(code, Some(1));
    assert!(
        said.contains("Unimplemented") && said.contains("x-unknown"),
        "{said}"
    );
    let (code, said) = run(&["-compressor", "gzip", "-n", "1"]);
    assert_eq!(code, Some(1));
    assert!(
        said.contains("Unauthenticated") && said.contains("missing"),
        "{said}"
    );
    // 2 MiB of details compress to a few KiB; the 1 MiB limit applies to
    // the decompressed message.
    let (code, said) = run(&[
        "-compressor",
        "gzip",
        "-token-file",
        &token,
        "-n",
        "1",
        "-details-bytes",
        "2097152",
    ]);
    assert_eq!(code, Some(1));
    assert!(
        said.contains("ResourceExhausted") && said.contains("counts decompressed"),
        "{said}"
    );

    let exit = sink.terminate();
    assert!(exit.status.success());
    let lines = exit.lines();
    let alerts: Vec<_> = lines.iter().filter(|l| l["kind"] == "alert").collect();
    assert_eq!(alerts.len(), 3);
    assert!(
        alerts
            .iter()
            .all(|a| a["peer_identity"] == format!("oidc:{ALLSTAR}"))
    );
    let stats = lines.last().unwrap();
    assert_eq!(stats["refused"]["unsupported_encoding"], 1, "{stats}");
    assert_eq!(stats["refused"]["auth_missing"], 1, "{stats}");
    assert_eq!(stats["refused"]["over_size"], 1, "{stats}");
}
