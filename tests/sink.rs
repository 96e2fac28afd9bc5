//! The AlertSink over real loopback connections: round trip, ordering under
//! concurrency, every refused input, health and reflection.

mod common;

use std::collections::HashSet;

use common::{TestSink, alert};
use sinkwatch::grpc::Target;
use sinkwatch::model::Change;
use sinkwatch::proto::alert_sink_client::AlertSinkClient;
use sinkwatch::sink::service::RawAlertRequest;
use sinkwatch::sink::{SinkConfig, SinkLimits};
use tonic::Code;
use tonic::codegen::http;

async fn client(sink: &TestSink) -> AlertSinkClient<tonic::transport::Channel> {
    AlertSinkClient::connect(sink.url()).await.unwrap()
}

/// A unary call with a raw (bytes) request, to send what a normal client
/// cannot: invalid UTF-8, oversize fields.
async fn raw_call(
    url: &str,
    req: RawAlertRequest,
    token: Option<&str>,
) -> Result<(), tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let mut request = tonic::Request::new(req);
    if let Some(t) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    let codec =
        tonic_prost::ProstCodec::<RawAlertRequest, sinkwatch::proto::AlertResponse>::default();
    grpc.unary(
        request,
        http::uri::PathAndQuery::from_static("/AlertSink/Alert"),
        codec,
    )
    .await
    .map(|_| ())
}

fn raw(owner: &[u8], repo: &[u8], policy: &[u8], details: &[u8]) -> RawAlertRequest {
    RawAlertRequest {
        owner_name: owner.to_vec(),
        repo_name: repo.to_vec(),
        policy_name: policy.to_vec(),
        details: details.to_vec(),
        pass: false,
    }
}

#[tokio::test]
async fn round_trip_stores_and_publishes_with_change() {
    let sink = TestSink::start(SinkConfig::default()).await;
    let (_, mut rx) = sink.hub.subscribe();
    let mut c = client(&sink).await;
    c.alert(alert("ossf", "allstar", "Branch Protection", true, ""))
        .await
        .unwrap();
    c.alert(alert(
        "ossf",
        "allstar",
        "Branch Protection",
        false,
        "No protection found for branch main\n",
    ))
    .await
    .unwrap();
    let first = rx.recv().await.unwrap();
    let second = rx.recv().await.unwrap();
    assert_eq!((first.seq, first.change), (1, Change::First));
    assert_eq!((second.seq, second.change), (2, Change::Regressed));
    assert_eq!(&*second.details, "No protection found for branch main\n");
    let peer = second.peer.as_ref().unwrap();
    assert!(peer.label.starts_with("127.0.0.1:"), "{}", peer.label);
    // Accepted means kept: the store has it when the call returned.
    assert_eq!(sink.hub.read(|s| (s.accepted(), s.failing_keys())), (2, 1));
    sink.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_every_alert_exactly_once_with_contiguous_seq() {
    let sink = TestSink::start(SinkConfig::default()).await;
    let (_, mut rx) = sink.hub.subscribe();
    let tasks: u32 = 32;
    let per_task: u32 = 150;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let url = sink.url();
        handles.push(tokio::spawn(async move {
            let mut c = AlertSinkClient::connect(url).await.unwrap();
            for i in 0..per_task {
                c.alert(alert(
                    &format!("org{}", t % 4),
                    &format!("repo{t}"),
                    &format!("p{i}"),
                    i % 5 != 0,
                    "",
                ))
                .await
                .unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let total = (tasks * per_task) as u64;
    let mut seen = HashSet::new();
    for want in 1..=total {
        let r = rx.recv().await.unwrap();
        assert_eq!(r.seq, want, "seq contiguous and in order");
        assert!(
            seen.insert((r.repo.to_string(), r.policy.to_string())),
            "no duplicates"
        );
    }
    assert!(rx.try_recv().is_err(), "nothing beyond what was sent");
    assert_eq!(seen.len() as u64, total);
    assert_eq!(sink.hub.read(|s| s.accepted()), total);
    sink.stop().await;
}

#[tokio::test]
async fn bad_inputs_get_precise_statuses_and_are_never_stored() {
    let limits = SinkLimits {
        max_name_bytes: 64,
        max_details_bytes: 1024,
        max_message_bytes: 4096,
        ..SinkLimits::default()
    };
    let sink = TestSink::start(SinkConfig {
        limits,
        ..SinkConfig::default()
    })
    .await;
    let url = sink.url();
    let cases: Vec<(RawAlertRequest, Code, &str)> = vec![
        (
            raw(b"", b"r", b"p", b""),
            Code::InvalidArgument,
            "owner_name is empty",
        ),
        (
            raw(b"o", b"", b"p", b""),
            Code::InvalidArgument,
            "repo_name is empty",
        ),
        (
            raw(b"o", b"r", b"", b""),
            Code::InvalidArgument,
            "policy_name is empty",
        ),
        (
            raw(&[b'o'; 65], b"r", b"p", b""),
            Code::InvalidArgument,
            "owner_name is 65 bytes",
        ),
        (
            raw(b"o", b"r", b"p", &[b'd'; 1025]),
            Code::InvalidArgument,
            "details is 1025 bytes",
        ),
        (
            raw(b"o", &[0xc3, 0x28], b"p", b""),
            Code::InvalidArgument,
            "repo_name is not valid UTF-8",
        ),
        (
            raw(b"o", b"r", b"p", &[b'd'; 5000]),
            Code::ResourceExhausted,
            "message too large",
        ),
    ];
    for (req, code, msg) in cases {
        let st = raw_call(&url, req, None).await.unwrap_err();
        assert_eq!(st.code(), code, "{msg}: {}", st.message());
        assert!(
            st.message().contains(msg),
            "want {msg:?}, got {:?}",
            st.message()
        );
    }
    assert_eq!(sink.hub.read(|s| s.accepted()), 0);
    assert_eq!(sink.hub.refused_total(), 7);
    // Each is kept among the recent refusals with its peer and the field
    // named, never the refused bytes.
    let recent = sink.hub.recent_refusals();
    assert_eq!(recent.len(), 7);
    let utf8 = recent
        .iter()
        .find(|r| r.reason == sinkwatch::hub::Refusal::InvalidUtf8)
        .expect("the UTF-8 refusal is kept");
    assert!(utf8.peer.is_some_and(|p| p.ip().is_loopback()), "{utf8:?}");
    assert!(
        utf8.detail
            .as_deref()
            .is_some_and(|d| d.starts_with("repo_name is not valid UTF-8")),
        "{utf8:?}"
    );
    assert!(
        !recent
            .iter()
            .any(|r| r.detail.as_deref().is_some_and(|d| d.contains("ddd"))),
        "{recent:?}"
    );
    // A good call still works afterwards.
    raw_call(&url, raw(b"o", b"r", b"p", b""), None)
        .await
        .unwrap();
    assert_eq!(sink.hub.read(|s| s.accepted()), 1);
    sink.stop().await;
}

#[tokio::test]
async fn garbage_body_and_unknown_method() {
    let sink = TestSink::start(SinkConfig::default()).await;
    // A body that is not a protobuf message: field 1 length-delimited with a
    // length far past the end.
    let channel = tonic::transport::Endpoint::from_shared(sink.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    #[derive(Clone, PartialEq, prost::Message)]
    struct Junk {
        #[prost(bytes = "vec", tag = "1")]
        a: Vec<u8>,
    }
    // Wire type mismatch: tag 5 (bool) sent as bytes.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Mismatch {
        #[prost(bytes = "vec", tag = "5")]
        pass: Vec<u8>,
    }
    let codec = tonic_prost::ProstCodec::<Mismatch, sinkwatch::proto::AlertResponse>::default();
    let st = grpc
        .unary(
            tonic::Request::new(Mismatch {
                pass: vec![1, 2, 3],
            }),
            http::uri::PathAndQuery::from_static("/AlertSink/Alert"),
            codec,
        )
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument, "{}", st.message());

    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<Junk, sinkwatch::proto::AlertResponse>::default();
    let st = grpc
        .unary(
            tonic::Request::new(Junk { a: vec![] }),
            http::uri::PathAndQuery::from_static("/AlertSink/Nope"),
            codec,
        )
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::Unimplemented);
    assert_eq!(sink.hub.read(|s| s.accepted()), 0);
    sink.stop().await;
}

#[tokio::test]
async fn bearer_token_is_required_when_configured() {
    let sink = TestSink::start(SinkConfig {
        token: Some("s3cret".into()),
        ..SinkConfig::default()
    })
    .await;
    let url = sink.url();
    let st = raw_call(&url, raw(b"o", b"r", b"p", b""), None)
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::Unauthenticated);
    let st = raw_call(&url, raw(b"o", b"r", b"p", b""), Some("wrong"))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::Unauthenticated);
    assert_eq!(
        sink.hub.read(|s| s.accepted()),
        0,
        "refused requests are never stored"
    );
    // Counted apart: no token, and a wrong one.
    assert_eq!(sink.hub.refused(sinkwatch::hub::Refusal::AuthMissing), 1);
    assert_eq!(
        sink.hub.refused(sinkwatch::hub::Refusal::Unauthenticated),
        1
    );

    let mut target = Target::plain(url.clone());
    target.token = Some("s3cret".into());
    let mut c = target.client().unwrap();
    c.alert(alert("o", "r", "p", true, "")).await.unwrap();
    assert_eq!(sink.hub.read(|s| s.accepted()), 1);
    sink.stop().await;
}

#[tokio::test]
async fn health_and_reflection_are_served() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let sink = TestSink::start(SinkConfig::default()).await;
    let channel = tonic::transport::Endpoint::from_shared(sink.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    // Plain and gzip-compressed: compressing clients probe health too.
    let plain = HealthClient::new(channel.clone());
    let gzip =
        HealthClient::new(channel.clone()).send_compressed(tonic::codec::CompressionEncoding::Gzip);
    for (mut health, service) in [
        (plain.clone(), ""),
        (plain, "AlertSink"),
        (gzip.clone(), ""),
        (gzip, "AlertSink"),
    ] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status(), ServingStatus::Serving, "service {service:?}");
    }

    let mut refl = ServerReflectionClient::new(channel)
        .send_compressed(tonic::codec::CompressionEncoding::Deflate);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = refl
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let resp = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("unexpected reflection answer");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.contains(&"AlertSink".to_string()), "{names:?}");
    assert!(
        names.contains(&"grpc.health.v1.Health".to_string()),
        "{names:?}"
    );

    // The AlertSink descriptor can be fetched by symbol, as grpcurl does.
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol("AlertSink".into())),
    };
    let mut stream = refl
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let resp = stream.message().await.unwrap().unwrap();
    assert!(matches!(
        resp.message_response,
        Some(MessageResponse::FileDescriptorResponse(_))
    ));
    sink.stop().await;
}
