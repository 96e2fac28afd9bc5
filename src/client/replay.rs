//! `sinkwatch replay FILE --to URL [--speed X|max]`: sends a recording's
//! alerts in seq order, keeping the recorded gaps scaled by X. Corrupt lines
//! are reported with their number and skipped; every failed send is
//! reported. A sink that cannot be used at all (it fails before answering
//! anything) ends the replay with the reason, as one line.

use std::time::{Duration, Instant};

use crate::grpc::Target;
use crate::grpc::diagnose::{self, Stage};
use crate::proto::AlertRequest;
use crate::record::{LineError, RecordedAlert};

/// How fast to replay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    Factor(f64),
    Max,
}

impl std::str::FromStr for Speed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        match s.trim_end_matches(['x', 'X']).parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Ok(Speed::Factor(f)),
            _ => Err(format!(
                "--speed: expected a number above 0 or `max`, got {s:?}"
            )),
        }
    }
}

/// What a replay did.
#[derive(Debug, Default)]
pub struct ReplayReport {
    pub read: u64,
    pub sent: u64,
    pub failed: Vec<(u64, String)>,
    pub bad_lines: Vec<LineError>,
}

pub async fn run(
    target: &Target,
    alerts: Vec<RecordedAlert>,
    bad_lines: Vec<LineError>,
    speed: Speed,
    mut progress: impl FnMut(&str),
) -> Result<ReplayReport, String> {
    let client = target.connect().await?;
    // Whether the sink has answered anything yet: until it has, a transport
    // failure means it cannot be used at all (see `diagnose::Stage`).
    let mut answered = false;
    let mut report = ReplayReport {
        read: alerts.len() as u64,
        bad_lines,
        ..ReplayReport::default()
    };
    let start = Instant::now();
    let first_at = alerts.iter().find_map(|a| a.at_ms());
    for a in alerts {
        if let (Speed::Factor(f), Some(t0), Some(t)) = (speed, first_at, a.at_ms()) {
            let offset = Duration::from_secs_f64(t.saturating_sub(t0) as f64 / 1000.0 / f);
            tokio::time::sleep_until((start + offset).into()).await;
        }
        let seq = a.seq;
        let req = AlertRequest {
            owner_name: a.owner,
            repo_name: a.repo,
            policy_name: a.policy,
            details: a.details,
            pass: a.pass,
        };
        // Again if a closing connection never sent it (a GOAWAY).
        let (result, _) = crate::grpc::unsent::retry_unsent(|| {
            let mut client = client.clone();
            let req = target.request(req.clone());
            async move { client.alert(req).await }
        })
        .await;
        match result {
            Ok(_) => {
                answered = true;
                report.sent += 1;
            }
            Err(s) => {
                let stage = if answered {
                    Stage::LaterCall
                } else {
                    Stage::FirstCall
                };
                let msg = match diagnose::transport_failure(target, &s, stage) {
                    // Every further alert would fail the same way: one line
                    // saying why beats one per alert.
                    Some(_) if !answered => return Err(diagnose::call_failure(target, &s, stage)),
                    Some(why) => why,
                    None => {
                        answered = true;
                        crate::grpc::describe_status(&s)
                    }
                };
                progress(&format!("seq {seq}: {msg}"));
                report.failed.push((seq, msg));
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_parses() {
        assert_eq!("max".parse::<Speed>().unwrap(), Speed::Max);
        assert_eq!("2".parse::<Speed>().unwrap(), Speed::Factor(2.0));
        assert_eq!("0.5x".parse::<Speed>().unwrap(), Speed::Factor(0.5));
        assert!("0".parse::<Speed>().is_err());
        assert!("fast".parse::<Speed>().is_err());
    }
}
