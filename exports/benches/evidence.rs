//! Criterion benches for evidence packs: packs built per second, packs verified per second, and
//! the cost of strict parsing (duplicate keys refused) against serde_json's, for a 6-event payment
//! with one operator action (intent, authorised, sent, failed on a timeout, an
//! approved retry, sent again: the first six events of examples/retried.jsonl).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;

use core_npp::PaymentEvent;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use exports::{EvidenceInput, PackSigningKey, build_pack, parse_strict, verify_pack_bytes};

fn six_events_one_action() -> Vec<PaymentEvent> {
    include_str!("../../examples/retried.jsonl")
        .lines()
        .take(6)
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn bench(c: &mut Criterion) {
    let input = EvidenceInput::from_event_history(six_events_one_action()).unwrap();
    assert_eq!(input.operator_actions.len(), 1);
    let pack = build_pack(&input).unwrap();
    let bytes = pack.to_file_bytes();
    let key = PackSigningKey::from_seed([42; 32]);
    let signed = build_pack(&input)
        .unwrap()
        .sign(&key)
        .unwrap()
        .to_file_bytes();
    let public = key.public_key();

    let mut group = c.benchmark_group("evidence (6 events, 1 operator action)");
    group.throughput(Throughput::Elements(1));
    group.bench_function("build pack", |b| {
        b.iter(|| build_pack(black_box(&input)).unwrap())
    });
    group.bench_function("build and sign pack", |b| {
        b.iter(|| build_pack(black_box(&input)).unwrap().sign(&key).unwrap())
    });
    group.bench_function("verify pack (from file bytes)", |b| {
        b.iter(|| verify_pack_bytes(black_box(&bytes), None).unwrap())
    });
    group.bench_function("verify signed pack against a trusted key", |b| {
        b.iter(|| verify_pack_bytes(black_box(&signed), Some(&public)).unwrap())
    });
    // What refusing duplicate keys costs: the strict parser against serde_json's own `Value`.
    group.bench_function("parse pack bytes, strict (duplicate keys refused)", |b| {
        b.iter(|| parse_strict(black_box(&bytes)).unwrap())
    });
    group.bench_function("parse pack bytes, serde_json::Value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&bytes)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
