//! The embedded AlertSink gRPC server: the service, its limits, auth, TLS,
//! plus the standard health and reflection services.

pub mod auth;
pub mod conn;
pub mod identity;
pub mod latency;
pub mod limits;
pub mod rate;
pub mod service;
pub mod tls;
pub mod validate;
pub mod watch;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tonic::transport::Server;

pub use limits::SinkLimits;
pub use service::{AcceptHook, AlertSinkService, SinkState};
pub use tls::TlsFiles;

use crate::hub::Hub;

/// Everything the server needs besides the listener.
#[derive(Default)]
pub struct SinkConfig {
    pub limits: SinkLimits,
    /// A static bearer token (`--token-file`).
    pub token: Option<String>,
    /// OIDC identity tokens (`--oidc-issuer`).
    pub oidc: Option<Arc<auth::oidc::Verifier>>,
    /// OAuth access tokens checked at a token-info endpoint.
    pub tokeninfo: Option<Arc<auth::tokeninfo::Verifier>>,
    /// Signed payloads (`--verify-signature`).
    pub signature: Option<Arc<auth::signature::Verifier>>,
    /// How the configured methods combine (`--auth`).
    pub combine: auth::Combine,
    pub tls: Option<TlsFiles>,
    pub hook: Option<Arc<dyn AcceptHook>>,
    /// Serve the Watch service for remote viewers ([`watch`]).
    pub watch: Option<WatchConfig>,
    /// Time calls into this histogram ([`latency`]; sampled).
    pub latency: Option<latency::IngestLatency>,
}

/// How the Watch service is served.
pub struct WatchConfig {
    pub access: watch::Access,
    pub stats: Arc<watch::WatchStats>,
    /// The sink's forwarding, sent to viewers about once a second (None:
    /// it does not forward).
    pub forwarding: Option<watch::ForwardingReport>,
}

/// Serves AlertSink, health and reflection on an already bound listener
/// until `shutdown` resolves; then stops accepting and finishes in-flight
/// calls. Binding happens before (the caller reports a taken port plainly).
///
/// Connections are capped, overall and per peer, must have an alert
/// accepted in time, are closed when they stop reading, and their requests'
/// buffered bytes are bounded (see [`conn`]).
pub async fn serve(
    listener: TcpListener,
    hub: Arc<Hub>,
    config: SinkConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), String> {
    let limits = config.limits.clone();
    let policy = Arc::new(auth::Policy {
        token: config.token.map(String::into_bytes),
        oidc: config.oidc,
        tokeninfo: config.tokeninfo,
        signature: config.signature,
        combine: config.combine,
    });
    if let Some(oidc) = policy.oidc.clone() {
        // Keys fetched now, not on the first call; a failure is a warning
        // (logged by the verifier) and the first token tries again.
        tokio::spawn(async move {
            let _ = oidc.prefetch().await;
        });
    }
    let mut builder = Server::builder()
        .layer(conn::ConnGuardLayer::new(
            policy.token.as_deref(),
            policy.is_required(),
        ))
        .max_concurrent_streams(limits.max_concurrent_streams)
        .http2_keepalive_interval(Some(limits.keepalive_interval))
        .http2_keepalive_timeout(Some(limits.keepalive_timeout))
        .timeout(limits.request_timeout)
        .http2_max_header_list_size(limits.max_header_list_bytes);
    // TLS handshakes are the sink's own (`tls::handshakes`), so a failed
    // one is counted; `load` checks the files first, with its one-line
    // errors. Their deadline is `conn`'s first-request deadline.
    let acceptor = match &config.tls {
        Some(tls) => {
            tls.load()?;
            Some(tls.acceptor()?)
        }
        None => None,
    };

    // Health and reflection accept what AlertSink accepts: the same
    // encodings, and the same size limit after decompression.
    let (health, mut health_service) = tonic_health::server::health_reporter();
    health_service = health_service.max_decoding_message_size(limits.max_message_bytes);
    health
        .set_service_status("AlertSink", tonic_health::ServingStatus::Serving)
        .await;
    health
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    if config.watch.is_some() {
        // Probes of the viewers' service by name (a review found it
        // NOT_FOUND while served).
        health
            .set_service_status("sinkwatch.v1.Watch", tonic_health::ServingStatus::Serving)
            .await;
    }
    let mut reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| format!("reflection: {e}"))?
        .max_decoding_message_size(limits.max_message_bytes);
    let mut reflection_alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(|e| format!("reflection: {e}"))?
        .max_decoding_message_size(limits.max_message_bytes);
    for encoding in service::ACCEPTED_ENCODINGS {
        health_service = health_service.accept_compressed(encoding);
        reflection = reflection.accept_compressed(encoding);
        reflection_alpha = reflection_alpha.accept_compressed(encoding);
    }

    let incoming = conn::LimitedIncoming::new(listener, hub.clone(), &limits);
    let handshake_hub = hub.clone();
    let closer = incoming.closer();
    // Watch streams never end by themselves: told when the shutdown
    // starts, they end (after sending what they hold) so the graceful
    // shutdown below does not wait on them.
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        closer.close();
        let _ = stopping_tx.send(true);
    };
    let watch = config.watch.map(|w| {
        watch::WatchService::server(hub.clone(), policy.clone(), w.access, w.stats, stopping)
            .with_forwarding(w.forwarding)
            .max_decoding_message_size(limits.max_message_bytes)
    });
    let sink = AlertSinkService::new(SinkState {
        hub,
        rate: limits.rate_limit.map(rate::RateLimiter::new),
        limits,
        auth: policy,
        hook: config.hook,
        latency: config.latency,
    });
    let router = builder
        .add_service(sink)
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_alpha)
        .add_optional_service(watch);
    match acceptor {
        None => {
            router
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
        }
        Some(acceptor) => {
            let tls = tls::handshakes(incoming, acceptor, handshake_hub);
            router.serve_with_incoming_shutdown(tls, shutdown).await
        }
    }
    .map_err(|e| format!("server: {e}"))
}
