//! Micro-benchmarks of the pure model: store ingest per alert, and
//! re-filtering a full history. Run: `cargo bench --bench model`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sinkwatch::client::demo::details_for;
use sinkwatch::client::load::POLICIES;
use sinkwatch::model::filter::{AlertView, Filter};
use sinkwatch::model::{NewAlert, Store, StoreLimits};

/// Realistic traffic: 10,000 repos × 9 policies, ~1 in 8 failing with
/// Allstar-style details that repeat per key.
fn alerts(n: usize) -> Vec<NewAlert> {
    (0..n)
        .map(|i| {
            let policy = POLICIES[i % 9];
            let repo = (i / 9) % 10_000;
            let pass = (i.wrapping_mul(2_654_435_761) >> 7) % 8 != 0;
            let repo_name = format!("repo-{repo}");
            NewAlert {
                owner: format!("org-{}", repo % 50),
                details: if pass {
                    String::new()
                } else {
                    details_for(policy, &repo_name, repo as u32)
                },
                repo: repo_name,
                policy: policy.to_owned(),
                pass,
            }
        })
        .collect()
}

fn filled(n: usize) -> Store {
    let mut s = Store::new(StoreLimits {
        history: n,
        ..StoreLimits::default()
    });
    for (i, a) in alerts(n).iter().enumerate() {
        s.ingest(a, i as u64, None).unwrap();
    }
    s
}

fn ingest(c: &mut Criterion) {
    let batch = alerts(90_000);
    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.bench_function("ingest 90k alerts (10k repos x 9 policies)", |b| {
        b.iter_batched(
            || {
                Store::new(StoreLimits {
                    history: 200_000,
                    ..StoreLimits::default()
                })
            },
            |mut s| {
                for (i, a) in batch.iter().enumerate() {
                    black_box(s.ingest(a, i as u64, None).unwrap());
                }
                s
            },
            BatchSize::LargeInput,
        )
    });
    // The sink's steady state: every key known (a rollout's repeated scans).
    g.bench_function("ingest 90k alerts into known keys", |b| {
        let mut s = Store::new(StoreLimits {
            history: 200_000,
            ..StoreLimits::default()
        });
        for (i, a) in batch.iter().enumerate() {
            s.ingest(a, i as u64, None).unwrap();
        }
        b.iter(|| {
            for (i, a) in batch.iter().enumerate() {
                black_box(s.ingest(a, i as u64, None).unwrap());
            }
        })
    });
    g.finish();
}

/// A full re-filter of the history: evaluate key terms once per key, then
/// event terms per event — what the TUI does when the filter changes.
fn refilter(store: &Store, filter: &Filter) -> usize {
    let keys: Vec<bool> = (0..store.key_count() as u32)
        .map(|k| {
            let (o, r, p) = store.key_names(k);
            filter.matches_key(o, r, p)
        })
        .collect();
    let mut n = 0;
    for e in store.history() {
        if !keys[e.key as usize] {
            continue;
        }
        if filter.has_event_terms() {
            let (o, r, p) = store.key_names(e.key);
            let view = AlertView {
                owner: o,
                repo: r,
                policy: p,
                details: &e.details,
                pass: e.pass,
                change: e.change,
                age_ms: 0,
            };
            if !filter.matches_event(&view) {
                continue;
            }
        }
        n += 1;
    }
    n
}

fn filtering(c: &mut Criterion) {
    let store = filled(1_000_000);
    let mut g = c.benchmark_group("refilter 1M alerts");
    g.sample_size(10);
    for q in [
        "org:org-7 status:fail",
        "repo:repo-1* -status:pass",
        "protection",
        "/outside collab/",
        "status:fail change:regressed",
    ] {
        let f = Filter::parse(q).unwrap();
        g.bench_function(q, |b| b.iter(|| black_box(refilter(&store, &f))));
    }
    g.finish();
}

/// The bare-word search through the filter against `aho-corasick` used
/// directly with ASCII case folding, on the same details texts. The filter
/// used a hand-written SWAR search until this benchmark showed aho-corasick
/// faster (BENCHMARKS.md); now the two rows show the filter's own overhead.
fn word_search(c: &mut Criterion) {
    let details: Vec<String> = alerts(20_000)
        .into_iter()
        .filter(|a| !a.pass)
        .map(|a| a.details)
        .collect();
    let mut g = c.benchmark_group("bare-word search over failing details");
    g.throughput(Throughput::Elements(details.len() as u64));
    for word in ["protection", "Dependabot", "zzzz-not-there"] {
        let filter = Filter::parse(word).unwrap();
        g.bench_function(format!("through the filter: {word}"), |b| {
            b.iter(|| {
                details
                    .iter()
                    .filter(|d| {
                        filter.matches_text(&AlertView {
                            owner: "",
                            repo: "",
                            policy: "",
                            details: d,
                            pass: false,
                            change: sinkwatch::model::Change::Same,
                            age_ms: 0,
                        })
                    })
                    .count()
            })
        });
        let ac = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build([word])
            .unwrap();
        g.bench_function(format!("aho-corasick: {word}"), |b| {
            b.iter(|| details.iter().filter(|d| ac.is_match(d.as_str())).count())
        });
    }
    g.finish();
}

criterion_group!(benches, ingest, filtering, word_search);
criterion_main!(benches);
