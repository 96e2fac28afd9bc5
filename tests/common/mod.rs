//! Shared helpers: a real sink on a loopback listener bound to port 0 and
//! handed to the server (no guessed ports, no sleeps).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use sinkwatch::hub::Hub;
use sinkwatch::model::StoreLimits;
use sinkwatch::proto::AlertRequest;
use sinkwatch::sink::{SinkConfig, serve};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct TestSink {
    pub addr: SocketAddr,
    pub hub: Arc<Hub>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), String>>>,
}

impl TestSink {
    pub async fn start(config: SinkConfig) -> TestSink {
        Self::start_with_hub(Hub::new(StoreLimits::default(), 1 << 16), config).await
    }

    pub async fn start_with_hub(hub: Arc<Hub>, config: SinkConfig) -> TestSink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let h = hub.clone();
        let task = tokio::spawn(async move {
            serve(listener, h, config, async {
                let _ = stopped.await;
            })
            .await
        });
        TestSink {
            addr,
            hub,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }
}

pub fn alert(owner: &str, repo: &str, policy: &str, pass: bool, details: &str) -> AlertRequest {
    AlertRequest {
        owner_name: owner.into(),
        repo_name: repo.into(),
        policy_name: policy.into(),
        details: details.into(),
        pass,
    }
}
pub mod binary;
pub mod metrics;
pub mod rawh2;
