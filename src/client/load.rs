//! `sinkwatch load`: a load generator. Spreads `concurrency` requests in
//! flight over several HTTP/2 connections, optionally paced to a rate, and
//! reports throughput, latency percentiles and errors by status. A sink that
//! cannot be used at all (nothing answered on a connection before it failed)
//! stops the run, with the reason as one line.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::grpc::Target;
use crate::grpc::diagnose::{self, Stage};
use crate::grpc::unsent::retry_unsent;
use crate::proto::AlertRequest;

pub const POLICIES: [&str; 9] = [
    "Binary Artifacts",
    "Branch Protection",
    "CODEOWNERS",
    "Outside Collaborators",
    "OpenSSF Scorecard",
    "SECURITY.md",
    "Dangerous Workflow",
    "GitHub Actions",
    "Repository Administrators",
];

#[derive(Clone, Debug)]
pub struct LoadPlan {
    pub total: u64,
    pub concurrency: usize,
    pub connections: usize,
    pub rate: Option<f64>,
    pub repos: u32,
}

#[derive(Debug)]
pub struct LoadReport {
    pub sent: u64,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    /// Calls made again because the first try never reached the sink (a
    /// closing connection's GOAWAY): not errors.
    pub retried: u64,
    pub elapsed: Duration,
    pub latency_us: Histogram<u64>,
    /// Why calls failed without an answer from the sink (the first such
    /// failure, as one line naming the URL), when any did.
    pub failure: Option<String>,
    /// Whether the run stopped before `total`, because the sink could not
    /// be used at all.
    pub stopped: bool,
}

impl LoadReport {
    pub fn rate(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn pct_ms(&self, q: f64) -> f64 {
        self.latency_us.value_at_quantile(q) as f64 / 1000.0
    }

    pub fn text(&self) -> String {
        let errors: u64 = self.errors.values().sum();
        let mut s = format!(
            "sent {} alerts in {:.3} s: {:.0} req/s (ok {}, errors {})\n\
             latency p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  max {:.3} ms\n",
            self.sent,
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.ok,
            errors,
            self.pct_ms(0.50),
            self.pct_ms(0.90),
            self.pct_ms(0.99),
            self.latency_us.max() as f64 / 1000.0,
        );
        for (code, n) in &self.errors {
            s.push_str(&format!("  {n} × {code}\n"));
        }
        if self.retried > 0 {
            s.push_str(&format!(
                "  {} calls sent again: a closing connection never sent them\n",
                self.retried
            ));
        }
        s
    }

    pub fn json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "kind": "load",
            "sent": self.sent,
            "ok": self.ok,
            "errors": self.errors,
            "retried": self.retried,
            "seconds": self.elapsed.as_secs_f64(),
            "rate": self.rate(),
            "latency_ms": {
                "p50": self.pct_ms(0.50),
                "p90": self.pct_ms(0.90),
                "p99": self.pct_ms(0.99),
                "max": self.latency_us.max() as f64 / 1000.0,
            }
        });
        if let Some(f) = &self.failure {
            v["failure"] = f.clone().into();
            v["stopped"] = self.stopped.into();
        }
        v
    }
}

/// The n-th alert of a load run: deterministic, spread over `repos` repos in
/// 10 orgs and the nine Allstar policies, about 1 in 8 failing.
pub fn nth_alert(n: u64, repos: u32) -> AlertRequest {
    let policy = (n % 9) as usize;
    let repo = (n / 9) % u64::from(repos.max(1));
    let mix = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 59; // 0..32
    let pass = mix >= 4;
    AlertRequest {
        owner_name: format!("load-org-{}", repo % 10),
        repo_name: format!("repo-{repo}"),
        policy_name: POLICIES[policy].to_owned(),
        details: if pass {
            String::new()
        } else {
            format!("{} check failed for repo-{repo}.\n", POLICIES[policy])
        },
        pass,
    }
}

pub async fn run(target: &Target, plan: &LoadPlan) -> Result<LoadReport, String> {
    let connections = plan.connections.max(1);
    let concurrency = plan.concurrency.max(1);
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        // One endpoint per connection: each `connect` opens its own socket.
        // With it goes whether the sink has answered anything on it yet.
        clients.push((target.connect().await?, Arc::new(AtomicBool::new(false))));
    }
    let next = Arc::new(AtomicU64::new(0));
    let failure: Arc<OnceLock<String>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for w in 0..concurrency {
        let (client, answered) = clients[w % connections].clone();
        let next = next.clone();
        let plan = plan.clone();
        let (failure, stop, target) = (failure.clone(), stop.clone(), target.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist =
                Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
            let mut ok = 0u64;
            let mut retried = 0u64;
            let mut errors: BTreeMap<String, u64> = BTreeMap::new();
            loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= plan.total {
                    break;
                }
                if let Some(rate) = plan.rate {
                    let due = start + Duration::from_secs_f64(n as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                // Signing is part of what a signed client pays per call.
                let t0 = Instant::now();
                // A call a closing connection never sent (nginx's GOAWAY
                // after `keepalive_requests`) goes again, as grpc-go does.
                let (res, again) = retry_unsent(|| {
                    let mut client = client.clone();
                    let req = target.request(nth_alert(n, plan.repos));
                    async move { client.alert(req).await }
                })
                .await;
                retried += u64::from(again);
                let us = t0.elapsed().as_micros() as u64;
                let _ = hist.record(us.clamp(1, 60_000_000));
                match res {
                    Ok(_) => {
                        answered.store(true, Ordering::Relaxed);
                        ok += 1;
                    }
                    Err(s) => {
                        *errors.entry(format!("{:?}", s.code())).or_default() += 1;
                        let before_any_answer = !answered.load(Ordering::Relaxed);
                        let stage = if before_any_answer {
                            Stage::FirstCall
                        } else {
                            Stage::LaterCall
                        };
                        if diagnose::transport_failure(&target, &s, stage).is_none() {
                            answered.store(true, Ordering::Relaxed);
                            continue;
                        }
                        failure.get_or_init(|| diagnose::call_failure(&target, &s, stage));
                        // The sink never answered on this connection: every
                        // further request would fail the same way.
                        if before_any_answer {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                }
            }
            (hist, ok, errors, retried)
        }));
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
    let mut ok = 0;
    let mut retried = 0;
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for t in tasks {
        let (h, o, e, r) = t.await.map_err(|e| format!("load worker failed: {e}"))?;
        hist.add(h).map_err(|e| format!("histogram: {e}"))?;
        ok += o;
        retried += r;
        for (k, v) in e {
            *errors.entry(k).or_default() += v;
        }
    }
    let elapsed = start.elapsed();
    let sent = ok + errors.values().sum::<u64>();
    Ok(LoadReport {
        sent,
        ok,
        errors,
        retried,
        elapsed,
        latency_us: hist,
        failure: failure.get().cloned(),
        stopped: stop.load(Ordering::Relaxed) && sent < plan.total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_cover_every_policy_and_some_fail() {
        let alerts: Vec<_> = (0..900).map(|n| nth_alert(n, 100)).collect();
        for p in POLICIES {
            assert!(alerts.iter().any(|a| a.policy_name == p));
        }
        let failing = alerts.iter().filter(|a| !a.pass).count();
        assert!((50..250).contains(&failing), "{failing} failing of 900");
        assert!(alerts.iter().all(|a| a.pass == a.details.is_empty()));
        assert_eq!(nth_alert(5, 100), nth_alert(5, 100), "deterministic");
    }
}
