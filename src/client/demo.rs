//! `--demo`: realistic synthetic Allstar traffic. A handful of orgs with
//! dozens of repos are scanned repo by repo, each scan sending one alert per
//! policy, mostly passing, with occasional regressions and fixes, and the
//! kind of Markdown details Allstar writes.

use std::time::Duration;

use super::load::POLICIES;
use crate::grpc::Target;
use crate::proto::AlertRequest;

const ORGS: [(&str, &[&str]); 5] = [
    (
        "ossf",
        &[
            "allstar",
            "scorecard",
            "scorecard-action",
            "osv-schema",
            "sbom-everywhere",
            "wg-best-practices-os-developers",
            "package-analysis",
            "malicious-packages",
            "fuzz-introspector",
            "gemara",
            ".github",
            "tac",
        ],
    ),
    (
        "acme-corp",
        &[
            "payments-api",
            "web-frontend",
            "mobile-app",
            "infra-terraform",
            "data-pipeline",
            "auth-service",
            "design-system",
            "docs",
            "billing-worker",
            "ci-templates",
        ],
    ),
    (
        "contoso-labs",
        &[
            "inference-server",
            "model-zoo",
            "notebooks",
            "feature-store",
            "label-tool",
            "benchmarks",
            "edge-runtime",
            "sdk-python",
        ],
    ),
    (
        "nimbus-io",
        &[
            "nimbus",
            "nimbus-operator",
            "helm-charts",
            "cli",
            "website",
            "community",
            "nimbus-proxy",
        ],
    ),
    (
        "example-univ",
        &[
            "thesis-template",
            "lab-scheduler",
            "course-site",
            "hpc-scripts",
            "grades-export",
        ],
    ),
];

/// Details text in Allstar's style for a failing policy.
pub fn details_for(policy: &str, repo: &str, variant: u32) -> String {
    match policy {
        "Branch Protection" => match variant % 3 {
            0 => "No protection found for branch main\n".to_owned(),
            1 => "Dismiss stale reviews not configured for branch main\n\
                  Require approval not configured for branch main\n"
                .to_owned(),
            _ => "Block force push not configured for branch main\n\
                  Require up to date branch not configured for branch main\n\n\
                  **Remediation**\n\
                  - Open the repository settings, then **Branches**\n\
                  - Add a rule for `main` with *Require a pull request before merging*\n\
                  - See [managing a branch protection rule](https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/managing-protected-branches/managing-a-branch-protection-rule)\n"
                .to_owned(),
        },
        "SECURITY.md" => "Security policy not enabled.\n\
             A SECURITY.md file can give users information about what constitutes a \
             vulnerability and how to report one securely so that information about a bug is \
             not publicly visible. Examples of secure reporting methods include using an issue \
             tracker with private issue support, or encrypted email with a published key.\n\n\
             **To fix this**, add a SECURITY.md file that explains how to handle \
             vulnerabilities found in your repository. Go to \
             https://github.com/ORG/REPO/security/policy to enable.\n"
            .replace("REPO", repo),
        "Binary Artifacts" => {
            let files = ["tools/protoc.exe", "lib/helper.jar", "vendor/libz.so", "bin/fmt"];
            let n = 1 + (variant as usize % 3);
            let mut s = String::from("Project has checked-in binaries:\n\n");
            for f in files.iter().take(n) {
                s.push_str(&format!("- `{f}`\n"));
            }
            s.push_str(
                "\nBinary artifacts in a repository cannot be reviewed and may hide malicious \
                 code. Remove them or build them from source in CI. See \
                 [Scorecard: Binary-Artifacts](https://github.com/ossf/scorecard/blob/main/docs/checks.md#binary-artifacts).\n",
            );
            s
        }
        "Outside Collaborators" => format!(
            "Found {} outside collaborators with admin access.\n\n\
             **Outside collaborators with admin access**\n\
             - `contractor-{}`\n- `old-maintainer`\n\n\
             Outside collaborators with admin access can change settings and bypass branch \
             protection. Remove their admin access or make them org members.\n",
            1 + variant % 3,
            variant % 97
        ),
        "CODEOWNERS" => "CODEOWNERS file not present.\n\n\
             A CODEOWNERS file makes sure that changes are reviewed by the people who own the \
             code. Add one at `.github/CODEOWNERS`.\n"
            .to_owned(),
        "OpenSSF Scorecard" => format!(
            "Project is out of compliance with OpenSSF Scorecard policy\n\n\
             | Check | Score | Threshold |\n\
             |---|--:|--:|\n\
             | Token-Permissions | {}/10 | 8 |\n\
             | Pinned-Dependencies | {}/10 | 8 |\n\
             | Code-Review | 10/10 | 8 |\n\n\
             **Rule Name:** Token-Permissions\n\
             **Score:** {}/10\n\
             **Details:** non read-only tokens detected in GitHub workflows\n\
             - Warn: jobLevel 'contents' permission set to 'write': .github/workflows/release.yml:21\n\n\
             **Remediation:** set top-level permissions to `read-all` and grant write per job.\n",
            variant % 8,
            3 + variant % 5,
            variant % 8
        ),
        "Dangerous Workflow" => "Dangerous workflow patterns detected:\n\n\
             - `pull_request_target` with explicit checkout of the PR head: \
             `.github/workflows/ci.yml:12`\n\
             - untrusted context in `run:` script: `${{ github.event.issue.title }}` \
             `.github/workflows/triage.yml:30`\n\n\
             See [Keeping your GitHub Actions and workflows secure](https://securitylab.github.com/research/github-actions-preventing-pwn-requests/).\n"
            .to_owned(),
        "GitHub Actions" => "Required GitHub Actions not found:\n\n\
             - `github/codeql-action/analyze` (CodeQL) is not run on pull requests\n\n\
             The organization requires CodeQL analysis on every repository.\n"
            .to_owned(),
        "Repository Administrators" => format!(
            "Users are admins on the repo: `alice`, `bob{}`\n\n\
             Repository administration should be granted to teams, not individual users.\n",
            variant % 10
        ),
        other => format!("Policy {other} failed for {repo}.\n"),
    }
}

struct KeyState {
    pass: bool,
    variant: u32,
}

/// The policies rolled out in turn by the demo's campaigns.
const CAMPAIGNS: [&str; 3] = ["SECURITY.md", "CODEOWNERS", "Branch Protection"];
/// Scans of quiet before the first campaign (the first scans read as a
/// fresh install; the screenshots and snapshots are taken there).
const CALM_SCANS: u64 = 3;
/// Scans per campaign: a rollout of one policy, then a regression wave.
const CAMPAIGN_SCANS: u64 = 16;
/// Scans of a campaign during which its policy is being fixed.
const ROLLOUT_SCANS: u64 = 10;
/// The scan of a campaign in which one org regresses Branch Protection
/// (someone changed the org's settings).
const WAVE_SCAN: u64 = 12;

/// The synthetic world: every (org, repo, policy) key with its status.
///
/// Besides the random flips of every scan, after [`CALM_SCANS`] scans the
/// world runs campaigns, so that compliance moves the way it does during
/// a rollout: for [`ROLLOUT_SCANS`] scans the failing keys of one policy
/// (in turn from [`CAMPAIGNS`]) are fixed repo by repo, then one org (in
/// turn) regresses Branch Protection in a wave.
pub struct DemoWorld {
    keys: Vec<(usize, usize, usize, KeyState)>,
    cursor: usize,
    /// Full scans done.
    scans: u64,
    rng: fastrand::Rng,
}

impl DemoWorld {
    pub fn new(seed: u64) -> DemoWorld {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut keys = Vec::new();
        for (o, (_, repos)) in ORGS.iter().enumerate() {
            for r in 0..repos.len() {
                for (p, policy) in POLICIES.iter().enumerate() {
                    // About 1 key in 7 starts failing; some policies more than others.
                    let fail_chance = match *policy {
                        "SECURITY.md" | "CODEOWNERS" | "OpenSSF Scorecard" => 0.30,
                        "Branch Protection" => 0.2,
                        _ => 0.07,
                    };
                    let pass = rng.f64() >= fail_chance;
                    keys.push((
                        o,
                        r,
                        p,
                        KeyState {
                            pass,
                            variant: rng.u32(..),
                        },
                    ));
                }
            }
        }
        DemoWorld {
            keys,
            cursor: 0,
            scans: 0,
            rng,
        }
    }

    /// The next alert of the scan: repo by repo, policy by policy, with a
    /// small chance of a flip each time a key is scanned.
    pub fn next_alert(&mut self) -> AlertRequest {
        let i = self.cursor;
        self.cursor = (self.cursor + 1) % self.keys.len();
        let mut flip = {
            let roll = self.rng.f64();
            let st = &self.keys[i].3;
            if st.pass { roll < 0.02 } else { roll < 0.06 }
        };
        if !flip && self.scans >= CALM_SCANS {
            flip = self.campaign(i);
        }
        if self.cursor == 0 {
            self.scans += 1;
        }
        let (o, r, p, st) = &mut self.keys[i];
        if flip {
            st.pass = !st.pass;
            st.variant = self.rng.u32(..);
        }
        let (org, repos) = ORGS[*o];
        let repo = repos[*r];
        let policy = POLICIES[*p];
        AlertRequest {
            owner_name: org.to_owned(),
            repo_name: repo.to_owned(),
            policy_name: policy.to_owned(),
            details: if st.pass {
                String::new()
            } else {
                details_for(policy, repo, st.variant)
            },
            pass: st.pass,
        }
    }

    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Whether the campaign of this scan flips key `i`; see [`DemoWorld`].
    fn campaign(&mut self, i: usize) -> bool {
        let n = self.scans - CALM_SCANS;
        let (cycle, phase) = (n / CAMPAIGN_SCANS, n % CAMPAIGN_SCANS);
        let (o, _, p, st) = &self.keys[i];
        let policy = POLICIES[*p];
        if phase < ROLLOUT_SCANS
            && !st.pass
            && policy == CAMPAIGNS[cycle as usize % CAMPAIGNS.len()]
        {
            return self.rng.f64() < 0.3;
        }
        if phase == WAVE_SCAN
            && st.pass
            && policy == "Branch Protection"
            && *o == cycle as usize % ORGS.len()
        {
            return self.rng.f64() < 0.5;
        }
        false
    }
}

/// Sends demo traffic to `target` at `rate` alerts per second until the
/// sink goes away or the task is dropped. Failures are logged, not fatal:
/// the demo retries with a short pause.
pub async fn run(target: Target, rate: f64) {
    let client = match target.client() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("demo: {e}");
            return;
        }
    };
    let mut world = DemoWorld::new(0x05ee_da11_57a2);
    let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let mut tick = tokio::time::interval(period.max(Duration::from_micros(50)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    // At high rates send several alerts per tick instead of sleeping for
    // microseconds.
    let per_tick = if period < Duration::from_micros(50) {
        (Duration::from_micros(50).as_secs_f64() / period.as_secs_f64()).round() as usize
    } else {
        1
    };
    loop {
        tick.tick().await;
        for _ in 0..per_tick {
            let alert = world.next_alert();
            let (result, _) = crate::grpc::unsent::retry_unsent(|| {
                let mut client = client.clone();
                let req = target.request(alert.clone());
                async move { client.alert(req).await }
            })
            .await;
            if let Err(s) = result {
                tracing::warn!("demo: sink answered {}", crate::grpc::describe_status(&s));
                if s.code() == tonic::Code::Unavailable {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_world_scans_every_key_and_flips_some() {
        let mut w = DemoWorld::new(1);
        let n = w.key_count();
        assert!(n > 300, "dozens of repos × 9 policies");
        let first: Vec<_> = (0..n).map(|_| w.next_alert()).collect();
        assert!(first.iter().all(|a| a.pass == a.details.is_empty()));
        let failing = first.iter().filter(|a| !a.pass).count();
        assert!(failing > n / 20 && failing < n / 3, "{failing} of {n}");
        let second: Vec<_> = (0..n).map(|_| w.next_alert()).collect();
        let flips = first
            .iter()
            .zip(&second)
            .filter(|(a, b)| a.pass != b.pass)
            .count();
        assert!(flips > 0 && flips < n / 10, "{flips} flips");
        for p in POLICIES {
            assert!(first.iter().any(|a| a.policy_name == p));
        }
    }

    /// Share passing of the keys `f` selects, after a scan.
    fn share(w: &DemoWorld, f: impl Fn(usize, &str) -> bool) -> f64 {
        let keys: Vec<_> = w
            .keys
            .iter()
            .filter(|(o, _, p, _)| f(*o, POLICIES[*p]))
            .collect();
        keys.iter().filter(|k| k.3.pass).count() as f64 / keys.len() as f64
    }

    #[test]
    fn campaigns_fix_a_policy_then_an_org_regresses_branch_protection() {
        let mut w = DemoWorld::new(7);
        let n = w.key_count();
        let scan = |w: &mut DemoWorld| {
            for _ in 0..n {
                w.next_alert();
            }
        };
        for _ in 0..CALM_SCANS {
            scan(&mut w);
        }
        let security = |_: usize, p: &str| p == "SECURITY.md";
        let before = share(&w, security);
        for _ in 0..ROLLOUT_SCANS {
            scan(&mut w);
        }
        let after = share(&w, security);
        assert!(
            after > before + 0.15,
            "SECURITY.md {before:.2} → {after:.2}"
        );
        // The wave: the first org's Branch Protection.
        for _ in ROLLOUT_SCANS..WAVE_SCAN {
            scan(&mut w);
        }
        let bp = |o: usize, p: &str| p == "Branch Protection" && o == 0;
        let before = share(&w, bp);
        scan(&mut w);
        let after = share(&w, bp);
        assert!(
            after < before - 0.2,
            "Branch Protection {before:.2} → {after:.2}"
        );
    }

    #[test]
    fn details_read_like_allstar() {
        let d = details_for("SECURITY.md", "allstar", 0);
        assert!(d.starts_with("Security policy not enabled.\n"));
        assert!(d.contains("**To fix this**"));
        assert!(details_for("Binary Artifacts", "x", 2).contains("- `"));
        assert_eq!(
            details_for("Custom", "r", 0),
            "Policy Custom failed for r.\n"
        );
    }
}
