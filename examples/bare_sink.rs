//! A do-nothing AlertSink: the physical-limit baseline for benchmarks.
//! Same proto, same tonic, same runtime; answers OK and keeps nothing.
//!
//!     cargo run --release --example bare_sink -- 127.0.0.1:50070
//!
//! Prints `bare_sink: listening on ADDR` on stderr when ready.

use sinkwatch::proto::alert_sink_server::{AlertSink, AlertSinkServer};
use sinkwatch::proto::{AlertRequest, AlertResponse};
use tonic::{Request, Response, Status};

struct Bare;

#[tonic::async_trait]
impl AlertSink for Bare {
    async fn alert(
        &self,
        _request: Request<AlertRequest>,
    ) -> Result<Response<AlertResponse>, Status> {
        Ok(Response::new(AlertResponse {}))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:50070".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("bare_sink: listening on {}", listener.local_addr()?);
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .add_service(AlertSinkServer::new(Bare))
        .serve_with_incoming_shutdown(incoming, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
