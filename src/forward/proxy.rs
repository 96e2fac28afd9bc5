//! Proxy mode: the sender's call waits for the first upstream and gets its
//! answer, through the sink's [`AcceptHook`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic::codegen::BoxFuture;
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};

use super::send::{
    Class, attempt, classify, grpc_timeout, passed_metadata, stage_of, status_detail, status_text,
};
use super::upstream::{Finish, Reach, Upstream};
use crate::grpc::Client;
use crate::grpc::unsent::{UNSENT_RETRIES, never_processed};
use crate::model::AlertRecord;
use crate::sink::AcceptHook;

pub(crate) struct ProxyHook {
    pub up: Arc<Upstream>,
    pub client: Client,
    pub timeout: Duration,
    pub pass_metadata: bool,
    pub signer: Option<Arc<crate::sink::auth::signature::Signer>>,
}

/// Resolves a proxied alert as failed if the sender's call is dropped
/// before the upstream answered, so the counters still balance.
struct Pending {
    up: Arc<Upstream>,
    seq: u64,
    armed: bool,
}

impl Pending {
    fn finish(mut self, how: Finish) {
        self.armed = false;
        self.up.finish(None, self.seq, how);
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.armed {
            self.up.finish(
                None,
                self.seq,
                Finish::Failed {
                    code: Code::Cancelled,
                    message: "the sender's call ended before the upstream answered".into(),
                    attempts: 1,
                    reach: Reach::NoAnswer,
                    latency: None,
                },
            );
        }
    }
}

impl AcceptHook for ProxyHook {
    fn accepted(
        &self,
        record: Arc<AlertRecord>,
        metadata: &MetadataMap,
    ) -> Option<BoxFuture<(), Status>> {
        let up = self.up.clone();
        let mut client = self.client.clone();
        // The sender's own deadline bounds ours.
        let timeout = grpc_timeout(metadata).map_or(self.timeout, |t| t.min(self.timeout));
        let passed = self.pass_metadata.then(|| passed_metadata(metadata));
        let signer = self.signer.clone();
        up.begin_direct(record.seq);
        let pending = Pending {
            up: up.clone(),
            seq: record.seq,
            armed: true,
        };
        Some(Box::pin(async move {
            let t0 = Instant::now();
            let mut attempts = 1;
            let result = loop {
                let result = attempt(
                    &mut client,
                    &up.url,
                    &record,
                    timeout,
                    passed.as_ref(),
                    signer.as_deref(),
                )
                .await;
                match result {
                    // It never reached the upstream (a GOAWAY, e.g. nginx's
                    // after `keepalive_requests` calls): again, at once, on
                    // a new connection.
                    Err(e) if attempts <= UNSENT_RETRIES && never_processed(&e.status) => {
                        let stage = stage_of(&up);
                        let text = status_text(&up.url, &e.status, stage);
                        up.retrying(record.seq, attempts, text.into(), Reach::NoAnswer);
                        attempts += 1;
                    }
                    other => break other,
                }
            };
            let latency = t0.elapsed();
            let err = match result {
                Ok(()) => {
                    pending.finish(Finish::Delivered { attempts, latency });
                    return Ok(());
                }
                Err(e) => e,
            };
            let status = err.status;
            let stage = stage_of(&up);
            let (reach, answer) = if err.timed_out {
                (Reach::TimedOut, status.clone())
            } else if classify(&status) == Class::Unreachable {
                // e.g. `upstream http://h:p unreachable: connection refused —
                // check that the upstream is running and listening on h:p`.
                let text = format!(
                    "upstream {} unreachable: {}",
                    up.url,
                    status_detail(&up.url, &status, stage)
                );
                (
                    Reach::Unreachable,
                    Status::unavailable(crate::sanitize::line(&text).into_owned()),
                )
            } else {
                // The upstream's own answer: its code as it is, its message
                // naming it. Word for word, an upstream's `UNAUTHENTICATED:
                // missing credentials` read as the proxy's own refusal, and
                // sent an operator to fix the sender's token (a review).
                let text = format!("upstream {} answered: {}", up.url, status.message());
                (
                    Reach::Answered,
                    Status::new(status.code(), crate::sanitize::line(&text).into_owned()),
                )
            };
            pending.finish(Finish::Failed {
                code: answer.code(),
                message: status_text(&up.url, &status, stage).into(),
                attempts,
                reach,
                latency: (reach == Reach::Answered).then_some(latency),
            });
            Err(answer)
        }))
    }
}
