//! The AlertSink service, written against tonic's building blocks instead of
//! the generated server so that a hostile request gets a precise answer:
//!
//! - the request is decoded with `bytes` fields (wire-identical to the
//!   proto's `string`s), so invalid UTF-8 is `INVALID_ARGUMENT` naming the
//!   field instead of tonic's generic `INTERNAL` decode error;
//! - a message over the size limit is `RESOURCE_EXHAUSTED` (tonic says
//!   `OUT_OF_RANGE`), any other undecodable body `INVALID_ARGUMENT`;
//! - the bearer token is checked before the body is read, then the
//!   per-peer rate limit (`RESOURCE_EXHAUSTED`), both before decoding.
//!
//! The path served is exactly `/AlertSink/Alert`, as generated from
//! `proto/alertsink.proto`.

use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::codegen::{BoxFuture, Service, http};
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
    /// `Bearer <token>` expected in `authorization`, if set.
    pub token: Option<Vec<u8>>,
    pub hook: Option<Arc<dyn AcceptHook>>,
    /// Per-peer rate limit, if set.
    pub rate: Option<super::rate::RateLimiter>,
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

struct AlertMethod(Arc<SinkState>);

impl UnaryService<RawAlertRequest> for AlertMethod {
    type Response = AlertResponse;
    type Future = BoxFuture<Response<AlertResponse>, Status>;

    fn call(&mut self, request: Request<RawAlertRequest>) -> Self::Future {
        let state = self.0.clone();
        Box::pin(async move { handle(&state, request).await })
    }
}

async fn handle(
    state: &SinkState,
    request: Request<RawAlertRequest>,
) -> Result<Response<AlertResponse>, Status> {
    let (peer_addr, identity) = super::conn::peer_of(request.extensions());
    let (metadata, extensions, message) = request.into_parts();
    let alert = match validate_owned(message, &state.limits) {
        Ok(a) => a,
        Err((why, status)) => {
            state.hub.refuse(why);
            return Err(status);
        }
    };
    let via = metadata
        .get(crate::hub::HOP_HEADER)
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
            return Err(Status::resource_exhausted(e.to_string()));
        }
        Err(e @ IngestError::Closed) => {
            state.hub.refuse(Refusal::Overloaded);
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

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let state = self.state.clone();
        Box::pin(async move {
            if req.uri().path() != "/AlertSink/Alert" {
                return Ok(Status::unimplemented(format!(
                    "unknown method {}: this sink serves /AlertSink/Alert",
                    crate::sanitize::line(req.uri().path())
                ))
                .into_http());
            }
            if let Some(token) = &state.token
                && !super::auth::bearer_matches(req.headers(), token)
            {
                state.hub.refuse(Refusal::Unauthenticated);
                return Ok(Status::unauthenticated(
                    "missing or wrong bearer token (authorization: Bearer …)",
                )
                .into_http());
            }
            if let Some(hops) = req.headers().get(crate::hub::HOP_HEADER) {
                let hops = hops.as_bytes();
                let own = state.hub.instance().as_bytes();
                let looped = hops.split(|b| *b == b',').any(|h| h == own);
                let count = hops.split(|b| *b == b',').count();
                if looped || count > crate::hub::MAX_HOPS {
                    state.hub.refuse(Refusal::ForwardLoop);
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
            if let Some(rate) = &state.rate
                && let Some(peer) = super::conn::peer_addr(req.extensions())
                && !rate.check(peer.ip())
            {
                state.hub.refuse(Refusal::RateLimited);
                return Ok(Status::resource_exhausted(format!(
                    "rate limit: at most {} requests per second from one address; retry later",
                    state.limits.rate_limit.unwrap_or_default()
                ))
                .into_http());
            }
            let limit = state.limits.max_message_bytes;
            let mut grpc =
                Grpc::new(tonic_prost::ProstCodec::<AlertResponse, RawAlertRequest>::default())
                    .apply_max_message_size_config(Some(limit), None);
            let response = grpc.unary(AlertMethod(state.clone()), req).await;
            Ok(remap_decode_errors(response, &state.hub, limit))
        })
    }
}

/// tonic reports decoding failures before our handler runs, as OUT_OF_RANGE
/// (message too large) or INTERNAL (undecodable). Our handler never returns
/// either code, so any such answer came from decoding: count it and give the
/// statuses gRPC's spec expects for these cases.
fn remap_decode_errors(
    mut response: http::Response<tonic::body::Body>,
    hub: &Hub,
    limit: usize,
) -> http::Response<tonic::body::Body> {
    let code = response
        .headers()
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
    let replacement = match code {
        Some(Code::OutOfRange) => Some(Status::resource_exhausted(format!(
            "message too large: the limit is {limit} bytes"
        ))),
        Some(Code::Internal) => Some(Status::invalid_argument(
            "request is not a valid AlertRequest message",
        )),
        _ => None,
    };
    if let Some(status) = replacement {
        hub.refuse(Refusal::BadMessage);
        let headers = response.headers_mut();
        headers.remove(Status::GRPC_STATUS);
        headers.remove(Status::GRPC_MESSAGE);
        let _ = status.add_header(headers);
    }
    response
}
