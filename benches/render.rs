//! Frame cost and re-filtering with a big store (targets in BENCHMARKS.md): one frame at
//! 200×50 with 1,000,000 alerts in history over 90,000 keys (target ≤ 2 ms),
//! a new alert on screen (incremental sync + frame), the key timeline (`t`:
//! opening it, a frame, a new alert while open), and re-filtering the
//! whole history through the real App (target ≤ 100 ms); the same with a
//! silence active, and judging every key again after a silence changes.
//! Run: `cargo bench --bench render`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sinkwatch::client::demo::details_for;
use sinkwatch::client::load::POLICIES;
use sinkwatch::model::StoreLimits;
use sinkwatch::ui::harness::Harness;
use sinkwatch::ui::state::{RolloutState, SourceInfo};
use sinkwatch::ui::theme::Theme;

/// 1,000,000 alerts over 100 orgs × 10,000 repos × 9 policies (90,000
/// keys), ~1 in 7 failing with Allstar-style details.
fn big() -> Harness {
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
    let repos: Vec<String> = (0..10_000).map(|i| format!("repo-{i}")).collect();
    let orgs: Vec<String> = (0..100).map(|i| format!("org-{i}")).collect();
    let details: Vec<String> = POLICIES.iter().map(|p| details_for(p, "repo", 3)).collect();
    for n in 0..1_000_000u64 {
        let r = (n / 9 % 10_000) as usize;
        let p = (n % 9) as usize;
        let pass = (n.wrapping_mul(2_654_435_761) >> 3) % 7 != 0;
        h.ingest(
            &orgs[r % 100],
            &repos[r],
            POLICIES[p],
            pass,
            if pass { "" } else { &details[p] },
        );
    }
    h.draw();
    h
}

fn frame(h: &mut Harness) {
    let (hub, app, now) = (&h.hub, &mut h.app, h.now_ms);
    h.terminal.draw(|f| app.render(f, hub, now)).expect("draw");
}

/// What a new alert costs the UI: it arrives (passing and failing in
/// turn), the app syncs with the hub, a frame is drawn.
fn new_alert_and_frame(h: &mut Harness, policy: &str, n: u64) {
    h.ingest("org-1", "repo-1", policy, n % 2 == 0, "x");
    let (hub, app, now) = (&h.hub, &mut h.app, h.now_ms);
    app.sync(hub, now);
    frame(h);
}

fn render(c: &mut Criterion) {
    let mut h = big();
    let mut g = c.benchmark_group("render 200x50, 1M alerts, 90k keys");
    g.sample_size(30);
    g.bench_function("frame, events view", |b| b.iter(|| frame(&mut h)));
    h.press("v");
    h.draw();
    g.bench_function("frame, latest view", |b| b.iter(|| frame(&mut h)));
    h.press("v");
    h.draw();
    // The key timeline (`t`) of the newest alert's key (11 alerts, as every
    // key here): opening it walks the key's chain of events (O(its
    // alerts), not the ring); then frames, and new alerts of other keys.
    g.bench_function("timeline: t + sync + frame, then Esc", |b| {
        b.iter(|| {
            h.press("t");
            let (hub, app, now) = (&h.hub, &mut h.app, h.now_ms);
            app.sync(hub, now);
            frame(&mut h);
            assert!(h.app.timeline.is_some());
            h.press("Esc");
        })
    });
    h.press("t");
    h.draw();
    g.bench_function("frame, timeline open", |b| b.iter(|| frame(&mut h)));
    let mut j = 0u64;
    g.bench_function("timeline open, new alert: sync + frame", |b| {
        b.iter(|| {
            j += 1;
            new_alert_and_frame(&mut h, "SECURITY.md", j);
        })
    });
    h.press("Esc");
    h.draw();
    let mut i = 0u64;
    g.bench_function("new alert: sync + frame", |b| {
        b.iter(|| {
            i += 1;
            new_alert_and_frame(&mut h, "SECURITY.md", i);
        })
    });
    // The rollout screen: its frame, and a new alert while it is open (the
    // aggregation fed at sync). Opened once and caught up first.
    h.press("r");
    loop {
        let (hub, app, now) = (&h.hub, &mut h.app, h.now_ms);
        app.sync(hub, now);
        if !app.scanning() {
            break;
        }
    }
    g.bench_function("frame, rollout screen", |b| b.iter(|| frame(&mut h)));
    g.bench_function("new alert: sync + frame, rollout screen", |b| {
        b.iter(|| {
            i += 1;
            new_alert_and_frame(&mut h, "SECURITY.md", i);
        })
    });
    h.press("r");
    h.draw();
    g.finish();

    // Taking in the whole history when the screen is first opened: spread
    // over syncs of at most a few ms each, this is the total.
    let mut g = c.benchmark_group("rollout catch-up, 1M alerts");
    g.sample_size(10);
    g.bench_function("whole history", |b| {
        b.iter(|| {
            let mut r = RolloutState::default();
            while h.hub.read(|s| {
                r.catch_up(s);
                r.catching_up()
            }) {}
            black_box(r.model.pushed())
        })
    });
    g.finish();

    // Silences: a frame with one active (rows judged as drawn), a new
    // alert, and judging all 90k keys again after a change (in chunks, one
    // per sync: the cost of one sync is this divided by the chunks).
    let mut g = c.benchmark_group("silences, 1M alerts, 90k keys");
    g.sample_size(20);
    let now = h.now_ms;
    h.app
        .silences
        .set
        .add("policy:CODEOWNERS", now + 3_600_000, "", "bench", now)
        .expect("a silence");
    loop {
        let (hub, app, now) = (&h.hub, &mut h.app, h.now_ms);
        app.sync(hub, now);
        if !app.silences.judging() {
            break;
        }
    }
    assert!(h.app.silences.silenced() > 0);
    g.bench_function("frame, events view, 1 silence", |b| {
        b.iter(|| frame(&mut h))
    });
    g.bench_function("new alert: sync + frame, 1 silence", |b| {
        b.iter(|| {
            i += 1;
            new_alert_and_frame(&mut h, "CODEOWNERS", i);
        })
    });
    let mut chunks = 0;
    g.bench_function("judge 90k keys after a change (all chunks)", |b| {
        b.iter(|| {
            let now = h.now_ms;
            let id = h.app.silences.set.all()[0].id.clone();
            h.app
                .silences
                .set
                .edit(&id, Some(now + 3_600_000), None, now)
                .expect("edit");
            chunks = 0;
            loop {
                let (hub, app, now) = (&h.hub, &mut h.app, h.now_ms);
                app.sync(hub, now);
                chunks += 1;
                if !app.silences.judging() {
                    break;
                }
            }
        })
    });
    eprintln!("judging took {chunks} syncs");
    // `i`: hiding goes through the matcher, like a filter: the index is
    // rebuilt in chunks and the lists judge every key.
    g.bench_function("i: hide silenced (re-filter + lists, all syncs)", |b| {
        b.iter(|| {
            h.press("i");
            loop {
                let (hub, app, now) = (&h.hub, &mut h.app, h.now_ms);
                app.sync(hub, now);
                if !app.scanning() {
                    break;
                }
            }
            let (hub, app, now) = (&h.hub, &mut h.app, h.now_ms);
            app.refresh_lists(hub, now, true);
            black_box(h.app.index().seqs().len())
        })
    });
    g.finish();

    let mut g = c.benchmark_group("re-filter 1M alerts in the App");
    g.sample_size(10);
    for filter in ["status:fail", "org:org-4*", "enabled", "/repo-12.4/"] {
        g.bench_function(filter, |b| {
            b.iter(|| {
                h.press("/ C-u");
                h.type_text(filter);
                h.press("Enter");
                loop {
                    let (hub, app, now) = (&h.hub, &mut h.app, h.now_ms);
                    app.sync(hub, now);
                    if !app.scanning() {
                        break;
                    }
                }
                black_box(h.app.index().seqs().len())
            })
        });
    }
    g.finish();
}

/// `e` over the 1M-alert events view (issue 14): the time of each sync +
/// frame while the export is written (the UI thread copies one chunk of
/// 4,096 rows per sync; a writer thread formats and writes), the snapshot
/// of the rows on Enter, and the whole export. Printed, not a criterion
/// group: one export is the unit.
fn export(c: &mut Criterion) {
    let _ = c;
    let mut h = big();
    let dir = tempfile::tempdir().expect("temp dir");
    // The UI thread's own CPU time, apart from waiting for a core on a busy
    // machine (wall time includes that).
    let cpu = || {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes the timespec it is given.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    };
    // The whole history: no filter (the re-filter benchmarks leave one).
    h.press("c");
    h.draw();
    for ext in ["csv", "jsonl"] {
        let path = dir.path().join(format!("all.{ext}"));
        h.press("e C-u");
        h.type_text(&path.display().to_string());
        let start = std::time::Instant::now();
        h.press("Enter");
        let snapshot = start.elapsed();
        let mut steps = Vec::new();
        let mut cpu_steps = Vec::new();
        while h.app.exporting() {
            let (t, c) = (std::time::Instant::now(), cpu());
            let (hub, app, now) = (&h.hub, &mut h.app, h.now_ms);
            app.sync(hub, now);
            frame(&mut h);
            steps.push(t.elapsed());
            cpu_steps.push(cpu() - c);
        }
        let total = start.elapsed();
        steps.sort();
        cpu_steps.sort();
        let q = |f: f64| steps[((steps.len() - 1) as f64 * f) as usize];
        let qc = |f: f64| cpu_steps[((cpu_steps.len() - 1) as f64 * f) as usize];
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!(
            "export 1M alerts to .{ext}: snapshot on Enter {snapshot:?}; sync + frame while writing: \
             wall median {:?}, p99 {:?}, max {:?}; UI-thread CPU median {:?}, p99 {:?}, max {:?} \
             over {} frames; whole export {total:?}, {} MB",
            q(0.5),
            q(0.99),
            q(1.0),
            qc(0.5),
            qc(0.99),
            qc(1.0),
            steps.len(),
            bytes / 1_000_000
        );
        black_box(bytes);
    }
}

criterion_group!(benches, render, export);
criterion_main!(benches);
