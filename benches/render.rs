//! Frame cost and re-filtering with a big store (targets in BENCHMARKS.md): one frame at
//! 200×50 with 1,000,000 alerts in history over 90,000 keys (target ≤ 2 ms),
//! a new alert on screen (incremental sync + frame), and re-filtering the
//! whole history through the real App (target ≤ 100 ms); the same with a
//! silence active, and judging every key again after a silence changes.
//! Run: `cargo bench --bench render`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sinkwatch::client::demo::details_for;
use sinkwatch::client::load::POLICIES;
use sinkwatch::model::StoreLimits;
use sinkwatch::ui::harness::Harness;
use sinkwatch::ui::state::SourceInfo;
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
    let mut i = 0u64;
    g.bench_function("new alert: sync + frame", |b| {
        b.iter(|| {
            i += 1;
            h.ingest("org-1", "repo-1", "SECURITY.md", i % 2 == 0, "x");
            let (hub, app, now) = (&h.hub, &mut h.app, h.now_ms);
            app.sync(hub, now);
            frame(&mut h);
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
            h.ingest("org-1", "repo-1", "CODEOWNERS", i % 2 == 0, "x");
            let (hub, app, now) = (&h.hub, &mut h.app, h.now_ms);
            app.sync(hub, now);
            frame(&mut h);
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

criterion_group!(benches, render);
criterion_main!(benches);
