//! Frame cost with a big store (DESIGN §7: one frame with 1,000,000 alerts
//! in history and 90,000 keys ≤ 2 ms at 200×50; re-filtering 1,000,000
//! alerts ≤ 100 ms). Timing depends on the machine, so this is `#[ignore]`d
//! and only prints; run it with
//! `cargo test --release --test tui_perf -- --ignored --nocapture`.

use std::time::Instant;

use sinkwatch::model::StoreLimits;
use sinkwatch::ui::app::SourceInfo;
use sinkwatch::ui::harness::Harness;
use sinkwatch::ui::theme::Theme;

#[test]
#[ignore]
fn frame_cost_with_a_million_alerts() {
    let limits = StoreLimits {
        history: 1_000_000,
        ..StoreLimits::default()
    };
    let mut h = Harness::new(
        200,
        50,
        Theme::default_theme(),
        SourceInfo::live("127.0.0.1:50051"),
        limits,
    );
    let policies = [
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
    let repos: Vec<String> = (0..10_000).map(|i| format!("repo-{i}")).collect();
    let orgs: Vec<String> = (0..100).map(|i| format!("org-{i}")).collect();
    let t = Instant::now();
    for n in 0..1_000_000u64 {
        let r = (n / 9 % 10_000) as usize;
        let p = policies[(n % 9) as usize];
        let pass = (n * 2_654_435_761) % 7 != 0;
        h.ingest(
            &orgs[r % 100],
            &repos[r],
            p,
            pass,
            if pass {
                ""
            } else {
                "Security policy not enabled.\n"
            },
        );
    }
    println!("ingest 1M: {:?}", t.elapsed());
    let t = Instant::now();
    h.draw();
    println!("first sync + draw: {:?}", t.elapsed());

    let time = |h: &mut Harness, label: &str| {
        let n = 50;
        let t = Instant::now();
        for _ in 0..n {
            let (hub, app, now) = (&h.hub, &mut h.app, h.now_ms);
            h.terminal.draw(|f| app.render(f, hub, now)).unwrap();
        }
        println!("{label}: {:?} per frame", t.elapsed() / n);
    };
    time(&mut h, "events view");
    h.press("v");
    h.draw();
    time(&mut h, "latest view");
    h.press("v");

    // A new alert: sync (incremental) + frame.
    let t = Instant::now();
    for (i, repo) in repos.iter().enumerate().take(100) {
        h.ingest("org-1", repo, "SECURITY.md", i % 2 == 0, "x");
        let (hub, app, now) = (&h.hub, &mut h.app, h.now_ms);
        app.sync(hub, now);
        h.terminal.draw(|f| app.render(f, hub, now)).unwrap();
    }
    println!("new alert → sync + frame: {:?}", t.elapsed() / 100);

    // Re-filtering the whole history (all chunks, back to back).
    for filter in ["status:fail", "org:org-4*", "enabled", "/repo-12.4/"] {
        h.press("/ C-u");
        h.type_text(filter);
        h.press("Enter");
        let t = Instant::now();
        let mut syncs = 0;
        loop {
            let (hub, app, now) = (&h.hub, &mut h.app, h.now_ms);
            app.sync(hub, now);
            syncs += 1;
            if !app.scanning() {
                break;
            }
        }
        println!(
            "re-filter {filter:?}: {:?} in {syncs} syncs, {} match",
            t.elapsed(),
            h.app.index().seqs().len()
        );
        time(&mut h, "  filtered events view");
    }
}
