//! Criterion benches: appends per second for each adapter at 1, 10 and 100 events per append,
//! with one caller and with eight concurrent callers (group commit), next to the raw insert rate
//! of the same rows into a plain table on the same database engine.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use core_npp::Timestamp;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use event_store::{AppendRequest, EventStore, NewEvent, StreamId};
use store::{MemoryStore, OpenMode, PostgresConfig, PostgresStore, SqliteStore};

const PAYLOAD: &str = r#"{"type":"PaymentSettled","payment_intent_id":"pay_0000001","occurred_at":"2025-12-17T09:30:02.4Z","attempt_id":"att_1","settlement_ref":"settle_0000001","funds_transferred":50000}"#;

fn at() -> Timestamp {
    Timestamp::parse("2025-12-17T09:30:02.4Z").unwrap()
}

static STREAMS: AtomicU64 = AtomicU64::new(0);

/// An append of `n` events to a brand-new stream, so no caller ever conflicts.
fn fresh_append(n: usize) -> AppendRequest {
    let id = STREAMS.fetch_add(1, Ordering::Relaxed);
    let stream = StreamId::parse(&format!("bench-{id}")).unwrap();
    let events = (0..n)
        .map(|_| NewEvent::new("PaymentSettled", 1, at(), PAYLOAD.to_owned()).unwrap())
        .collect();
    AppendRequest::new(stream, 0, events, at()).unwrap()
}

fn postgres_url() -> Option<String> {
    let url = std::env::var("NPP_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    postgres::Client::connect(&url, postgres::NoTls)
        .ok()
        .map(|_| url)
}

fn adapters(dir: &std::path::Path) -> Vec<(&'static str, Arc<dyn EventStore>)> {
    let mut out: Vec<(&'static str, Arc<dyn EventStore>)> = vec![
        ("memory", Arc::new(MemoryStore::new())),
        (
            "sqlite",
            Arc::new(SqliteStore::open(&dir.join("bench.db"), OpenMode::CreateIfMissing).unwrap()),
        ),
    ];
    if let Some(url) = postgres_url() {
        let mut config = PostgresConfig::new(&url);
        config.schema = format!("bench_{}", std::process::id());
        out.push((
            "postgres",
            Arc::new(PostgresStore::connect(&config).unwrap()),
        ));
    } else {
        eprintln!("PostgreSQL not reachable: skipping its benches");
    }
    out
}

fn concurrent(store: &Arc<dyn EventStore>, callers: usize, appends: u64, batch: usize) -> Duration {
    let started = Instant::now();
    let threads: Vec<_> = (0..callers)
        .map(|_| {
            let store = Arc::clone(store);
            std::thread::spawn(move || {
                for _ in 0..appends {
                    store.append(fresh_append(batch)).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    started.elapsed()
}

fn bench_adapters(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    for (name, mut store) in adapters(dir.path()) {
        // The memory store keeps everything it is given: a fresh one per benchmark, so that no
        // benchmark pays for the memory the ones before it filled (page faults, deeper maps).
        let fresh = |store: &mut Arc<dyn EventStore>| {
            if name == "memory" {
                *store = Arc::new(MemoryStore::new());
            }
        };
        let mut group = c.benchmark_group(format!("append/{name}"));
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(4));
        for batch in [1usize, 10, 100] {
            fresh(&mut store);
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_function(format!("1 caller, {batch} events per append"), |b| {
                b.iter(|| store.append(fresh_append(batch)).unwrap())
            });
        }
        fresh(&mut store);
        group.throughput(Throughput::Elements(100));
        group.bench_function("1 caller, append_batch of 100 one-event appends", |b| {
            b.iter(|| {
                let results = store.append_batch((0..100).map(|_| fresh_append(1)).collect());
                assert!(results.iter().all(Result::is_ok));
            })
        });
        for batch in [1usize, 10] {
            fresh(&mut store);
            group.throughput(Throughput::Elements(8 * batch as u64));
            group.bench_function(format!("8 callers, {batch} events per append"), |b| {
                b.iter_custom(|iters| concurrent(&store, 8, iters, batch))
            });
        }
        group.finish();
        if name == "postgres" {
            drop(store);
            let mut client =
                postgres::Client::connect(&postgres_url().unwrap(), postgres::NoTls).unwrap();
            client
                .batch_execute(&format!("DROP SCHEMA bench_{} CASCADE", std::process::id()))
                .unwrap();
        }
    }
}

fn raw_rows(batch: usize) -> Vec<(String, i64)> {
    (0..batch)
        .map(|_| {
            (
                format!("raw-{}", STREAMS.fetch_add(1, Ordering::Relaxed)),
                1,
            )
        })
        .collect()
}

fn bench_raw(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut sqlite = rusqlite::Connection::open(dir.path().join("raw.db")).unwrap();
    sqlite
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
             CREATE TABLE rows (stream_id TEXT, version INTEGER, payload TEXT, hash BLOB, UNIQUE (stream_id, version));",
        )
        .unwrap();
    let mut group = c.benchmark_group("raw insert/sqlite");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    for batch in [1usize, 10, 100] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("{batch} rows per transaction"), |b| {
            b.iter(|| {
                let tx = sqlite.transaction().unwrap();
                for (stream, version) in raw_rows(batch) {
                    tx.execute(
                        "INSERT INTO rows VALUES (?1, ?2, ?3, ?4)",
                        rusqlite::params![stream, version, PAYLOAD, &[7u8; 32][..]],
                    )
                    .unwrap();
                }
                tx.commit().unwrap();
            })
        });
    }
    group.finish();
    let Some(url) = postgres_url() else { return };
    let mut pg = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let table = format!("raw_rows_{}", std::process::id());
    pg.batch_execute(&format!(
        "CREATE TABLE {table} (stream_id TEXT, version INTEGER, payload TEXT, hash BYTEA, UNIQUE (stream_id, version))"
    ))
    .unwrap();
    let insert = format!("INSERT INTO {table} VALUES ($1, $2, $3, $4)");
    let mut group = c.benchmark_group("raw insert/postgres");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    for batch in [1usize, 10, 100] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("{batch} rows per transaction"), |b| {
            b.iter(|| {
                let mut tx = pg.transaction().unwrap();
                let statement = tx.prepare(&insert).unwrap();
                for (stream, version) in raw_rows(batch) {
                    let version = i32::try_from(version).unwrap();
                    tx.execute(&statement, &[&stream, &version, &PAYLOAD, &&[7u8; 32][..]])
                        .unwrap();
                }
                tx.commit().unwrap();
            })
        });
    }
    // The same 100 rows in one statement, as the adapter's set-wise path writes them.
    let unnest = format!(
        "INSERT INTO {table} SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::bytea[])"
    );
    group.throughput(Throughput::Elements(100));
    group.bench_function("100 rows in one INSERT from arrays", |b| {
        b.iter(|| {
            let rows = raw_rows(100);
            let streams: Vec<&str> = rows.iter().map(|(s, _)| s.as_str()).collect();
            let versions = vec![1i32; rows.len()];
            let payloads = vec![PAYLOAD; rows.len()];
            let hashes = vec![&[7u8; 32][..]; rows.len()];
            let mut tx = pg.transaction().unwrap();
            tx.execute(&unnest, &[&streams, &versions, &payloads, &hashes])
                .unwrap();
            tx.commit().unwrap();
        })
    });
    group.finish();
    pg.batch_execute(&format!("DROP TABLE {table}")).unwrap();
}

criterion_group!(benches, bench_adapters, bench_raw);
criterion_main!(benches);
