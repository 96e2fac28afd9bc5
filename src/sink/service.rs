//! The AlertSink service, written against tonic's building blocks instead of
//! the generated server so that a hostile request gets a precise answer:
//!
//! - the request is decoded with `bytes` fields (wire-identical to the
//!   proto's `string`s), so invalid UTF-8 is `INVALID_ARGUMENT` naming the
//!   field instead of tonic's generic `INTERNAL` decode error;
//! - a message over the size limit is `RESOURCE_EXHAUSTED` (tonic says
//!   `OUT_OF_RANGE`), counted `over_size`; any other undecodable body
//!   `INVALID_ARGUMENT`, counted `bad_message`;
//! - gzip, deflate and zstd requests are accepted (grpc-go and grpc-js send
//!   them when compression is turned on, and do not fall back), and the
//!   size limit applies to the *decompressed* message: tonic decompresses
//!   into a buffer capped at the limit, so a compression bomb is refused as
//!   over-size after at most `max_message_bytes` of output. Another encoding
//!   is `UNIMPLEMENTED` with `grpc-accept-encoding` listing ours, counted
//!   `unsupported_encoding`;
//! - the per-peer rate limit (`RESOURCE_EXHAUSTED`), then credentials in
//!   the headers (a bearer token, an OIDC identity token, an access token)
//!   are checked before the body is read; a payload signature once
//!   the message is decoded, over its exact bytes (see [`super::auth`]).
//!
//! The path served is exactly `/AlertSink/Alert`, as generated from
//! `proto/alertsink.proto`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use prost::Message as _;
use tonic::codec::{BufferSettings, Codec, CompressionEncoding, DecodeBuf, Decoder};
use tonic::codegen::{BoxFuture, Bytes, Service, http};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Code, Request, Response, Status};

use super::limits::SinkLimits;
use super::validate::validate_owned;
use crate::hub::{Hub, IngestError, Refusal};
use crate::proto::AlertResponse;

/// `AlertRequest` as it is on the wire, with the strings still bytes.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct RawAlertRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub owner_name: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub repo_name: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub policy_name: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub details: Vec<u8>,
    #[prost(bool, tag = "5")]
    pub pass: bool,
}

/// A decoded request and, when a payload signature must be checked, the
/// exact message bytes it was decoded from.
#[derive(Debug, Default)]
pub struct Decoded {
    pub message: RawAlertRequest,
    pub raw: Option<Bytes>,
}

/// Decodes [`RawAlertRequest`]s, keeping the bytes when asked.
struct SinkCodec {
    keep_bytes: bool,
}

impl Codec for SinkCodec {
    type Encode = AlertResponse;
    type Decode = Decoded;
    type Encoder = tonic_prost::ProstEncoder<AlertResponse>;
    type Decoder = SinkDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        tonic_prost::ProstEncoder::new(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        SinkDecoder {
            keep_bytes: self.keep_bytes,
        }
    }
}

struct SinkDecoder {
    keep_bytes: bool,
}

impl Decoder for SinkDecoder {
    type Item = Decoded;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Decoded>, Status> {
        use prost::bytes::Buf as _;
        // Decode errors are INTERNAL, as tonic's own codec reports them;
        // `remap_decode_errors` turns them into INVALID_ARGUMENT.
        let decoded = if self.keep_bytes {
            let raw = buf.copy_to_bytes(buf.remaining());
            Decoded {
                message: RawAlertRequest::decode(raw.clone())
                    .map_err(|e| Status::internal(e.to_string()))?,
                raw: Some(raw),
            }
        } else {
            Decoded {
                message: RawAlertRequest::decode(buf)
                    .map_err(|e| Status::internal(e.to_string()))?,
                raw: None,
            }
        };
        Ok(Some(decoded))
    }
}

/// What the checks before decoding found, for the handler: the
/// credentials' verdict and whether hops were named. Inserted only when
/// any is set (`Default` otherwise).
#[derive(Clone, Debug, Default)]
struct AuthOutcome {
    /// The identity a credential verified (OIDC).
    identity: Option<Arc<str>>,
    /// The payload signature must still verify.
    need_signature: bool,
    /// The request names forwarding hops (checked for a loop): the handler
    /// reads them only then, not looking the header up on every call.
    hops: bool,
}

/// What happens to an accepted alert beyond the hub. In proxy mode the
/// sender's answer comes from the upstream, so the service awaits it.
pub trait AcceptHook: Send + Sync + 'static {
    fn accepted(
        &self,
        record: Arc<crate::model::AlertRecord>,
        metadata: &tonic::metadata::MetadataMap,
    ) -> Option<BoxFuture<(), Status>>;
}

/// Shared state of the service.
pub struct SinkState {
    pub hub: Arc<Hub>,
    pub limits: SinkLimits,
    /// The credentials required ([`super::auth`]).
    pub auth: Arc<super::auth::Policy>,
    pub hook: Option<Arc<dyn AcceptHook>>,
    /// Per-peer rate limit, if set.
    pub rate: Option<super::rate::RateLimiter>,
    /// The ingest latency histogram, when metrics are served.
    pub latency: Option<super::latency::IngestLatency>,
}

/// The tower service for `/AlertSink/Alert`.
#[derive(Clone)]
pub struct AlertSinkService {
    state: Arc<SinkState>,
}

impl AlertSinkService {
    pub fn new(state: SinkState) -> Self {
        AlertSinkService {
            state: Arc::new(state),
        }
    }
}

impl NamedService for AlertSinkService {
    const NAME: &'static str = "AlertSink";
}

/// The encodings a request may be compressed with (what grpc-go, grpc-js
/// and grpcio offer).
pub const ACCEPTED_ENCODINGS: [CompressionEncoding; 3] = [
    CompressionEncoding::Gzip,
    CompressionEncoding::Deflate,
    CompressionEncoding::Zstd,
];

/// The method; `reached` is set once tonic has decoded the request and
/// handed it over, so that an error status without it came from decoding.
struct AlertMethod {
    state: Arc<SinkState>,
    reached: Arc<AtomicBool>,
}

impl UnaryService<Decoded> for AlertMethod {
    type Response = AlertResponse;
    type Future = BoxFuture<Response<AlertResponse>, Status>;

    fn call(&mut self, request: Request<Decoded>) -> Self::Future {
        self.reached.store(true, Ordering::Relaxed);
        let state = self.state.clone();
        Box::pin(async move { handle(&state, request).await })
    }
}

async fn handle(
    state: &SinkState,
    mut request: Request<Decoded>,
) -> Result<Response<AlertResponse>, Status> {
    let (peer_addr, tls_identity) = super::conn::peer_of(request.extensions());
    // Absent when no credential is required and no hops were named.
    let auth = request
        .extensions_mut()
        .remove::<AuthOutcome>()
        .unwrap_or_default();
    // A verified payload signature is an identity too (the key is the
    // caller's): shown like mTLS's and a token's.
    let mut signed = None;
    let mut used = None;
    if auth.need_signature {
        let mut headers = request
            .metadata()
            .get_all(super::auth::signature::HEADER)
            .iter();
        let header = headers.next().map(|v| v.as_bytes());
        let checked = if headers.next().is_some() {
            // Which one was meant is not for the sink to guess.
            Err(super::auth::Denied::new(
                Refusal::AuthMalformed,
                format!("{} sent more than once", super::auth::signature::HEADER),
            ))
        } else {
            let raw = request.get_ref().raw.as_deref().unwrap_or_default();
            state.auth.check_payload(header, raw)
        };
        match checked {
            Ok(u) => used = u,
            Err(d) => {
                state.hub.refuse_from(d.why, peer_addr, Some(&d.message));
                return Err(d.status());
            }
        }
        signed = state.auth.signature.as_ref().map(|v| v.identity());
    }
    // Every identity that was verified (mTLS, a token, a signature).
    // Borrowed when it is one (an OIDC identity is not copied per call).
    let identity: Option<std::borrow::Cow<'_, str>> =
        match (tls_identity, auth.identity.as_deref(), signed) {
            (None, None, None) => None,
            (Some(t), None, None) => Some(t.into()),
            (None, Some(o), None) => Some(o.into()),
            (t, o, s) => {
                let parts: Vec<&str> = [t.as_deref(), o, s].into_iter().flatten().collect();
                Some(parts.join("; ").into())
            }
        };
    let (metadata, extensions, Decoded { message, .. }) = request.into_parts();
    let alert = match validate_owned(message, &state.limits) {
        Ok(a) => a,
        Err((why, status)) => {
            state
                .hub
                .refuse_from(why, peer_addr, Some(status.message()));
            state.auth.forget(used);
            return Err(status);
        }
    };
    let via = auth
        .hops
        .then(|| metadata.get(crate::hub::HOP_HEADER))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.bytes().all(|b| b.is_ascii_hexdigit() || b == b','));
    let record = match state.hub.ingest_via(
        &alert,
        crate::hub::now_ms(),
        peer_addr,
        identity.as_deref(),
        via,
    ) {
        Ok(r) => r,
        Err(e @ IngestError::Store(_)) => {
            state.hub.refuse(Refusal::Overloaded);
            state.auth.forget(used);
            return Err(Status::resource_exhausted(e.to_string()));
        }
        Err(e @ IngestError::Closed) => {
            state.hub.refuse(Refusal::Overloaded);
            state.auth.forget(used);
            return Err(Status::unavailable(e.to_string()));
        }
    };
    // The connection keeps its place: it sends what is accepted.
    super::conn::mark_accepted(&extensions);
    // Not held while the hook waits (proxy, backpressure).
    drop(alert);
    if let Some(hook) = &state.hook
        && let Some(wait) = hook.accepted(record, &metadata)
    {
        wait.await?;
    }
    Ok(Response::new(AlertResponse {}))
}

impl<B> Service<http::Request<B>> for AlertSinkService
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let state = self.state.clone();
        let latency = state.latency.clone();
        let answer = Box::pin(async move {
            if req.uri().path() != "/AlertSink/Alert" {
                return Ok(Status::unimplemented(format!(
                    "unknown method {}: this sink serves /AlertSink/Alert",
                    crate::sanitize::line(req.uri().path())
                ))
                .into_http());
            }
            let mut outcome = AuthOutcome::default();
            if let Some(hops) = req.headers().get(crate::hub::HOP_HEADER) {
                outcome.hops = true;
                let hops = hops.as_bytes();
                let own = state.hub.instance().as_bytes();
                let looped = hops.split(|b| *b == b',').any(|h| h == own);
                let count = hops.split(|b| *b == b',').count();
                if looped || count > crate::hub::MAX_HOPS {
                    state.hub.refuse_from(
                        Refusal::ForwardLoop,
                        super::conn::peer_addr(req.extensions()),
                        None,
                    );
                    return Ok(Status::failed_precondition(format!(
                        "forwarding loop: this alert {} (check the --forward targets)",
                        if looped {
                            "was already forwarded by this sinkwatch"
                        } else {
                            "went through too many forwarding sinks"
                        }
                    ))
                    .into_http());
                }
            }
            // The rate limit first: it is cheap, and a flood of forged
            // tokens from one address then costs no signature checks
            // beyond its allowance.
            if let Some(rate) = &state.rate
                && let Some(peer) = super::conn::peer_addr(req.extensions())
                && !rate.check(peer.ip())
            {
                state
                    .hub
                    .refuse_from(Refusal::RateLimited, Some(peer), None);
                return Ok(Status::resource_exhausted(format!(
                    "rate limit: at most {} requests per second from one address; retry later",
                    state.limits.rate_limit.unwrap_or_default()
                ))
                .into_http());
            }
            if state.auth.is_required() {
                use super::auth::HeaderVerdict;
                let memo = super::conn::oidc_memo(req.extensions());
                match state.auth.check_headers_on(req.headers(), memo).await {
                    HeaderVerdict::Pass(identity) => {
                        outcome.identity = identity;
                    }
                    HeaderVerdict::NeedSignature(identity) => {
                        outcome.identity = identity;
                        outcome.need_signature = true;
                    }
                    HeaderVerdict::Refuse(d) => {
                        let peer = super::conn::peer_addr(req.extensions());
                        state.hub.refuse_from(d.why, peer, Some(&d.message));
                        tracing::debug!("refused: {}", d.message);
                        return Ok(d.status().into_http());
                    }
                }
            }
            let limit = state.limits.max_message_bytes;
            let mut grpc = Grpc::new(SinkCodec {
                keep_bytes: outcome.need_signature,
            })
            .apply_max_message_size_config(Some(limit), None);
            for encoding in ACCEPTED_ENCODINGS {
                grpc = grpc.accept_compressed(encoding);
            }
            // Only when it says something (an insert is an allocation).
            if outcome.hops || outcome.identity.is_some() || outcome.need_signature {
                req.extensions_mut().insert(outcome);
            }
            let reached = Arc::new(AtomicBool::new(false));
            let method = AlertMethod {
                state: state.clone(),
                reached: reached.clone(),
            };
            let response = grpc.unary(method, req).await;
            if reached.load(Ordering::Relaxed) {
                return Ok(response);
            }
            Ok(remap_decode_errors(response, &state.hub, limit))
        });
        match latency {
            None => answer,
            // Timed only when metrics are served (and then one call in
            // latency::SAMPLE_EVERY).
            Some(l) => Box::pin(async move {
                let start = l.start();
                let r = answer.await;
                l.finish(start);
                r
            }),
        }
    }
}

/// tonic reports failures before our handler runs — an unknown
/// `grpc-encoding` (UNIMPLEMENTED), an over-size message (OUT_OF_RANGE by
/// the frame header, RESOURCE_EXHAUSTED while decompressing), anything
/// undecodable (INTERNAL) — and only then (the caller checks that the
/// handler was not reached). Count each by its reason and give the statuses
/// gRPC's spec expects, with a message that says what to change.
fn remap_decode_errors(
    mut response: http::Response<tonic::body::Body>,
    hub: &Hub,
    limit: usize,
) -> http::Response<tonic::body::Body> {
    let headers = response.headers();
    let code = headers
        .get(Status::GRPC_STATUS)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(Code::from);
    if code == Some(Code::Internal)
        && Status::from_header_map(response.headers())
            .is_some_and(|s| s.message() == super::conn::MORE_THAN_ONE_MESSAGE)
    {
        // Ours (see `conn::Metered`): the answer gRPC gives, kept as it is.
        hub.refuse(Refusal::BadMessage);
        return response;
    }
    // Percent-decoded, as gRPC sends it.
    let message = Status::from_header_map(headers)
        .map(|s| s.message().to_owned())
        .unwrap_or_default();
    if code == Some(Code::ResourceExhausted) && message.starts_with(super::conn::BUFFER_FULL) {
        // Ours (see `conn::Metered`), counted `buffer_full` there.
        return response;
    }
    let (why, replacement) = match code {
        Some(Code::OutOfRange) | Some(Code::ResourceExhausted) => (
            Refusal::OverSize,
            Some(Status::resource_exhausted(format!(
                "message too large: the limit is {limit} bytes (a compressed message counts decompressed)"
            ))),
        ),
        // tonic's own message names the encoding; the response carries
        // `grpc-accept-encoding` with ours.
        Some(Code::Unimplemented) => (Refusal::UnsupportedEncoding, None),
        // The gRPC spec wants INTERNAL for this one; say it plainly.
        Some(Code::Internal) if message.contains("compressed-flag") => (
            Refusal::UnsupportedEncoding,
            Some(Status::internal(
                "the message is flagged compressed but the request has no grpc-encoding header \
                 (send grpc-encoding: gzip, deflate or zstd, or do not set the compressed flag)",
            )),
        ),
        // The connection or the stream failed under the request (the
        // client went away mid-body, a GOAWAY at shutdown): a transport
        // failure, not a bad message (a review saw the demo's last call at
        // Ctrl-C counted `bad_message`).
        Some(Code::Internal) if message.starts_with("h2 protocol error") => return response,
        Some(Code::Internal) if message.contains("decompressing") => (
            Refusal::BadMessage,
            Some(Status::invalid_argument(
                "the compressed message cannot be decompressed with its grpc-encoding",
            )),
        ),
        Some(Code::Internal) => (
            Refusal::BadMessage,
            Some(Status::invalid_argument(
                "request is not a valid AlertRequest message",
            )),
        ),
        // Cancelled or timed out while reading the body: not a refusal.
        _ => return response,
    };
    hub.refuse(why);
    if let Some(status) = replacement {
        let headers = response.headers_mut();
        headers.remove(Status::GRPC_STATUS);
        headers.remove(Status::GRPC_MESSAGE);
        let _ = status.add_header(headers);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StoreLimits;

    fn answered(code: Code, message: &str) -> http::Response<tonic::body::Body> {
        let mut r = http::Response::new(tonic::body::Body::empty());
        Status::new(code, message)
            .add_header(r.headers_mut())
            .unwrap();
        r
    }

    /// A stream that failed under the request is not a bad message; an
    /// undecodable one is. Fails on old: the first was `bad_message`.
    #[test]
    fn a_transport_failure_mid_body_is_not_a_bad_message() {
        let hub = Hub::new(StoreLimits::default(), 8);
        let r = remap_decode_errors(
            answered(
                Code::Internal,
                "h2 protocol error: stream error received: unspecific protocol error detected",
            ),
            &hub,
            1024,
        );
        assert_eq!(hub.refused(Refusal::BadMessage), 0);
        let status = Status::from_header_map(r.headers()).unwrap();
        assert_eq!(status.code(), Code::Internal, "left as it was");
        remap_decode_errors(
            answered(
                Code::Internal,
                "failed to decode Protobuf message: invalid wire type",
            ),
            &hub,
            1024,
        );
        assert_eq!(hub.refused(Refusal::BadMessage), 1);
    }

    /// `buffer_full`, counted where it is decided (`conn::Metered`), is not
    /// counted again as `over_size` here. Fails on old: the message was
    /// compared percent-encoded (`too%20many…`), so it never matched.
    #[test]
    fn a_full_buffer_is_not_counted_again_as_over_size() {
        let hub = Hub::new(StoreLimits::default(), 8);
        let message = format!("{}: try again later", crate::sink::conn::BUFFER_FULL);
        remap_decode_errors(answered(Code::ResourceExhausted, &message), &hub, 1024);
        assert_eq!(hub.refused(Refusal::OverSize), 0);
    }
}
