//! `sinkwatch replay FILE --to URL [--speed X|max]`: sends a recording's
//! alerts in seq order, keeping the recorded gaps scaled by X. Corrupt lines
//! are reported with their number and skipped; every failed send is
//! reported. A sink that cannot be used at all (it fails before answering
//! anything) ends the replay with the reason, as one line.

use std::io::BufRead;
use std::time::{Duration, Instant};

use super::Target;
use super::diagnose::{self, Stage};
use crate::proto::AlertRequest;
use crate::record::{LineError, RecordedAlert, read_runs};

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

/// Reads every alert of a recording, sorted by run (in file order), then
/// seq; corrupt lines are returned separately.
pub fn load_recording<R: BufRead>(reader: R) -> (Vec<RecordedAlert>, Vec<LineError>) {
    let mut alerts = Vec::new();
    let mut bad = Vec::new();
    for item in read_runs(reader) {
        match item {
            Ok(a) => alerts.push(a),
            Err(e) => bad.push(e),
        }
    }
    // Recordings are written in seq order; a file assembled from pieces
    // might not be. Runs appended to one file each start at seq 1: sorting
    // by seq alone would interleave them (and show an old run's status as
    // the latest), so runs keep their file order. The sort is stable, so
    // equal seqs keep file order.
    alerts.sort_by_key(|(run, a)| (*run, a.seq));
    (alerts.into_iter().map(|(_, a)| a).collect(), bad)
}

pub async fn run(
    target: &Target,
    alerts: Vec<RecordedAlert>,
    bad_lines: Vec<LineError>,
    speed: Speed,
    mut progress: impl FnMut(&str),
) -> Result<ReplayReport, String> {
    let mut client = target.connect().await?;
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
        match client.alert(req).await {
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
                        super::describe_status(&s)
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

    #[test]
    fn recordings_are_sorted_by_seq_and_bad_lines_kept() {
        let text = "{\"kind\":\"alert\",\"seq\":2,\"at\":\"2026-11-25T21:00:01Z\",\"owner\":\"o\",\"repo\":\"r\",\"policy\":\"p\",\"pass\":true}\n\
                    not json\n\
                    {\"kind\":\"alert\",\"seq\":1,\"at\":\"2026-11-25T21:00:00Z\",\"owner\":\"o\",\"repo\":\"r\",\"policy\":\"p\",\"pass\":false}\n";
        let (alerts, bad) = load_recording(text.as_bytes());
        assert_eq!(alerts.iter().map(|a| a.seq).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 2);
    }
}
