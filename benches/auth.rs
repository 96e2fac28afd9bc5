//! The per-call cost of OIDC identity tokens once a token is known: every
//! call carries the token, and the sink must give the verdict it reached
//! when it first verified it (see src/sink/auth/oidc.rs). Rows: the shared
//! verdict cache (hash of the token, one lock for all connections), and
//! the connection's memo of its last token in front of it (a byte
//! comparison). Run: `cargo bench --bench auth`.
//!
//! Times are the thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall
//! time: the project's machine is shared, and a check of a microsecond or
//! two measured by the wall clock mostly measures the other processes.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sinkwatch::sink::auth::oidc::{self, ConnMemo, JwksSource, Verifier};
use sinkwatch::sink::auth::{HeaderVerdict, Policy, system_clock};
use tonic::codegen::http::HeaderMap;

const ISSUER: &str = "https://accounts.google.com";
const AUDIENCE: &str = "https://sink.example";

/// A verifier with one ES256 key (from a JWKS file) and a token about the
/// size of a Google ID token (~1 KB: email, azp, padding claims).
fn setup() -> (Policy, HeaderMap, tempfile::TempDir) {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let raw = kp.public_key_raw().to_vec();
    let jwk = serde_json::json!({"kty":"EC","crv":"P-256","kid":"k1","use":"sig","alg":"ES256",
        "x": B64URL.encode(&raw[1..33]), "y": B64URL.encode(&raw[33..])});
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, serde_json::json!({ "keys": [jwk] }).to_string()).unwrap();
    let now = sinkwatch::sink::auth::unix_now();
    let email = "allstar@project.iam.gserviceaccount.com";
    let claims = serde_json::json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "112233445566778899000", "azp": "112233445566778899000",
        "email": email, "email_verified": true, "iat": now, "exp": now + 3600,
        "x-padding": "p".repeat(500),
    });
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some("k1".into());
    let token =
        jsonwebtoken::encode(&h, &claims, &EncodingKey::from_ec_der(&kp.serialize_der())).unwrap();
    let v = Verifier::new(
        oidc::Settings {
            issuer: ISSUER.into(),
            audiences: vec![AUDIENCE.into()],
            jwks: JwksSource::File(file),
            allow: vec![email.into()],
        },
        system_clock(),
    )
    .unwrap();
    let policy = Policy {
        oidc: Some(Arc::new(v)),
        ..Policy::default()
    };
    let mut headers = HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    (policy, headers, dir)
}

fn check(policy: &Policy, headers: &HeaderMap, memo: Option<&ConnMemo>) {
    // A known token's verdict needs no waiting: the future is ready.
    let verdict = policy
        .check_headers_on(black_box(headers), memo)
        .now_or_never()
        .expect("a cached verdict is ready at once");
    assert!(matches!(verdict, HeaderVerdict::Pass(Some(_))));
}

/// This thread's CPU time.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// `iters` runs of `f`, timed in CPU time.
fn cpu_time(iters: u64, mut f: impl FnMut()) -> Duration {
    let start = thread_cpu();
    for _ in 0..iters {
        f();
    }
    thread_cpu() - start
}

fn per_call(c: &mut Criterion) {
    let (policy, headers, _dir) = setup();
    let token_len = headers["authorization"].len();
    // First verification (the signature), then cached.
    check(&policy, &headers, None);
    let mut g = c.benchmark_group("oidc per-call check");
    g.bench_function(
        format!("known token ({token_len} B), shared verdict cache"),
        |b| b.iter_custom(|n| cpu_time(n, || check(&policy, &headers, None))),
    );
    let memo = ConnMemo::default();
    check(&policy, &headers, Some(&memo));
    g.bench_function(
        format!("known token ({token_len} B), connection memo"),
        |b| b.iter_custom(|n| cpu_time(n, || check(&policy, &headers, Some(&memo)))),
    );
    g.finish();
}

criterion_group!(benches, per_call);
criterion_main!(benches);
