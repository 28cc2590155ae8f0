//! Criterion benches for the core's hot paths: apply, rebuild, state hash (and raw SHA-256 of the
//! same bytes, the ceiling the state hash is measured against).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;

use core_npp::{Payment, PaymentEvent, rebuild_from_events};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sha2::{Digest, Sha256};

fn history() -> Vec<PaymentEvent> {
    include_str!("../../examples/settled.jsonl")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn bench(c: &mut Criterion) {
    let events = history();
    let before_settlement = rebuild_from_events(&events[..4]).unwrap().into_payment();
    let settled = rebuild_from_events(&events).unwrap().into_payment();

    let mut group = c.benchmark_group("core");
    group.throughput(Throughput::Elements(1));
    group.bench_function("apply (settlement on an acknowledged payment)", |b| {
        b.iter(|| {
            black_box(&before_settlement)
                .apply(black_box(&events[4]))
                .unwrap()
        })
    });
    group.bench_function("rebuild 5-event history", |b| {
        b.iter(|| rebuild_from_events(black_box(&events)).unwrap())
    });
    group.bench_function("state hash (settled payment)", |b| {
        b.iter(|| black_box(&settled).state_hash())
    });
    let mut bytes = Vec::new();
    settled.encode_state(&mut bytes);
    group.bench_function("raw SHA-256 of the same encoded bytes", |b| {
        b.iter(|| Sha256::digest(black_box(&bytes)))
    });
    group.bench_function("encode state only", |b| {
        let mut buffer = Vec::with_capacity(512);
        b.iter(|| {
            buffer.clear();
            black_box(&settled).encode_state(&mut buffer);
            black_box(buffer.len())
        })
    });
    group.finish();
    let _: &Payment = &settled;

    // The lifecycle on every core at once: payments share nothing, so they scale with cores.
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut parallel = c.benchmark_group("core parallel");
    parallel.throughput(Throughput::Elements(threads as u64));
    parallel.bench_function(
        format!("rebuild 5-event history on {threads} threads"),
        |b| {
            b.iter_custom(|iters| {
                let started = std::time::Instant::now();
                std::thread::scope(|scope| {
                    for _ in 0..threads {
                        scope.spawn(|| {
                            for _ in 0..iters {
                                black_box(rebuild_from_events(black_box(&events)).unwrap());
                            }
                        });
                    }
                });
                started.elapsed()
            })
        },
    );
    parallel.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
