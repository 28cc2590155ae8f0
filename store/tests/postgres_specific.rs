//! PostgreSQL-specific guarantees: append-only triggers (UPDATE, DELETE, TRUNCATE), tamper
//! evidence, and refusing a schema newer than this binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod support;

use event_store::{EventStore, StoreError, check_stream_chain};
use store::{PostgresConfig, PostgresStore};
use support::*;

fn raw_client(h: &Harness) -> postgres::Client {
    let (url, schema) = h.pg_schema.clone().unwrap();
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client
        .batch_execute(&format!("SET search_path TO {schema}"))
        .unwrap();
    client
}

#[test]
fn triggers_refuse_update_delete_and_truncate() {
    let Some(h) = postgres() else { return };
    h.store
        .append(request("pay-1", 0, 2).with_idempotency(claim("key-1", 1)))
        .unwrap();
    h.store
        .append(request("pay-2", 0, 1).with_rail_message("MSG-1").unwrap())
        .unwrap();
    let mut client = raw_client(&h);
    for sql in [
        "UPDATE events SET payload = '{}'",
        "DELETE FROM events",
        "TRUNCATE events",
        "UPDATE idempotency_keys SET version = 9",
        "DELETE FROM rail_messages",
        "TRUNCATE rail_messages",
    ] {
        let error = client.batch_execute(sql).unwrap_err();
        let message = error
            .as_db_error()
            .map(|e| e.message().to_owned())
            .unwrap_or_default();
        assert!(message.contains("append-only"), "{sql}: {error}");
    }
    let rows: i64 = client
        .query_one("SELECT count(*) FROM events", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 3);
}

#[test]
fn a_changed_payload_byte_breaks_the_chain_at_that_version() {
    let Some(h) = postgres() else { return };
    h.store.append(request("pay-1", 0, 3)).unwrap();
    let mut client = raw_client(&h);
    client
        .batch_execute(
            "ALTER TABLE events DISABLE TRIGGER events_append_only;
             UPDATE events SET payload = replace(payload, '3', '8') WHERE version = 3;",
        )
        .unwrap();
    let events = h.store.read_stream(&stream("pay-1")).unwrap();
    assert_eq!(check_stream_chain(&events).unwrap_err().version, 3);
}

#[test]
fn a_newer_schema_is_refused() {
    let Some(h) = postgres() else { return };
    let mut client = raw_client(&h);
    client
        .batch_execute(
            "INSERT INTO schema_migrations (version, description) VALUES (99, 'from the future')",
        )
        .unwrap();
    let (url, schema) = h.pg_schema.clone().unwrap();
    let mut config = PostgresConfig::new(&url);
    config.schema = schema;
    let error = PostgresStore::connect(&config).err().unwrap();
    assert_eq!(
        error,
        StoreError::SchemaTooNew {
            found: 99,
            supported: store::SCHEMA_VERSION
        }
    );
}

#[test]
fn a_version_5_schema_migrates_keeping_its_rail_message_claims() {
    // Given a schema at version 5 holding a rail message claim
    let Some(h) = postgres() else { return };
    h.store
        .append(request("pay-1", 0, 2).with_rail_message("MSG-1").unwrap())
        .unwrap();
    let mut client = raw_client(&h);
    client
        .batch_execute(
            "DROP INDEX rail_messages_by_stream;
             DROP INDEX outbox_by_stream;
             ALTER TABLE rail_messages DROP COLUMN payload;
             DELETE FROM schema_migrations WHERE version >= 6;",
        )
        .unwrap();
    // When this binary connects to it
    let (url, schema) = h.pg_schema.clone().unwrap();
    let mut config = PostgresConfig::new(&url);
    config.schema = schema;
    let store = PostgresStore::connect(&config).unwrap();
    // Then the claim is listed by its stream without a payload, and new claims keep theirs
    let listed = store.rail_messages(&stream("pay-1")).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].version, listed[0].payload.as_deref()), (2, None));
    store
        .append(
            request("pay-1", 2, 1)
                .with_rail_message_payload("MSG-2", Some("<Document/>"))
                .unwrap(),
        )
        .unwrap();
    let listed = store.rail_messages(&stream("pay-1")).unwrap();
    assert_eq!(listed[1].payload.as_deref(), Some("<Document/>"));
    // And the claims stay append-only, indexed by stream, at the current version
    for sql in [
        "UPDATE rail_messages SET payload = 'changed'",
        "DELETE FROM rail_messages",
        "TRUNCATE rail_messages",
    ] {
        let error = client.batch_execute(sql).unwrap_err();
        let message = error
            .as_db_error()
            .map(|e| e.message().to_owned())
            .unwrap_or_default();
        assert!(message.contains("append-only"), "{sql}: {error}");
    }
    let indexed: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema()
             AND indexname = 'rail_messages_by_stream'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(indexed, 1);
    let version: i32 = client
        .query_one("SELECT max(version) FROM schema_migrations", &[])
        .unwrap()
        .get(0);
    assert_eq!(u32::try_from(version).unwrap(), store::SCHEMA_VERSION);
}

#[test]
fn a_rail_message_payload_is_kept_by_a_batch_that_reads_its_head_first() {
    // Given a stream another writer (a second store on the schema) appended to, so this one
    // must read the head inside its transaction and writes the batch in that transaction
    let Some(h) = postgres() else { return };
    let (url, schema) = h.pg_schema.clone().unwrap();
    let mut config = PostgresConfig::new(&url);
    config.schema = schema;
    let other = PostgresStore::connect(&config).unwrap();
    other.append(request("pay-1", 0, 1)).unwrap();
    // When a batch claims rail messages with payloads there and on a new stream
    let results = h.store.append_batch(vec![
        request("pay-1", 1, 1)
            .with_rail_message_payload("MSG-H1", Some("<h1/>"))
            .unwrap(),
        request("pay-2", 0, 1)
            .with_rail_message_payload("MSG-H2", None)
            .unwrap(),
    ]);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    // Then each claim kept its own payload
    let one = h.store.rail_messages(&stream("pay-1")).unwrap();
    assert_eq!(
        (one[0].version, one[0].payload.as_deref()),
        (2, Some("<h1/>"))
    );
    let two = h.store.rail_messages(&stream("pay-2")).unwrap();
    assert_eq!((two[0].version, two[0].payload.as_deref()), (1, None));
}

#[test]
fn a_rail_message_row_holding_what_the_store_never_writes_is_corruption() {
    // Given a rail message claim edited behind the store's back
    let Some(h) = postgres() else { return };
    h.store
        .append(request("pay-1", 0, 1).with_rail_message("MSG-1").unwrap())
        .unwrap();
    let mut client = raw_client(&h);
    client
        .batch_execute(
            "ALTER TABLE rail_messages DISABLE TRIGGER rail_messages_append_only;
             UPDATE rail_messages SET version = -1 WHERE message_id = 'MSG-1';",
        )
        .unwrap();
    // When its stream's rail messages are read, Then the row is named as corrupt
    let error = h.store.rail_messages(&stream("pay-1")).unwrap_err();
    assert!(error.is_corruption(), "{error}");
    assert!(error.to_string().contains("MSG-1"), "{error}");
}

/// Two stores on one schema are two writers with their own transactions, as two processes
/// would be; the append lock keeps positions committing in order, so a tailing reader sees all.
#[test]
fn two_writers_on_one_schema_never_let_a_tailing_reader_skip() {
    let Some(mut h) = postgres() else { return };
    let (url, schema) = h.pg_schema.clone().unwrap();
    let mut config = PostgresConfig::new(&url);
    config.schema = schema;
    let second = std::sync::Arc::new(PostgresStore::connect(&config).unwrap());
    // `h` stays alive to the end: dropping it drops the schema.
    let first: std::sync::Arc<dyn event_store::EventStore> = std::sync::Arc::from(
        std::mem::replace(&mut h.store, Box::new(store::MemoryStore::new())),
    );
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (store, done) = (std::sync::Arc::clone(&first), std::sync::Arc::clone(&done));
        std::thread::spawn(move || {
            let (mut seen, mut after) = (Vec::new(), 0u64);
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let page = store.read_all(after, 20).unwrap();
                if let Some(last) = page.last() {
                    after = last.global_position();
                }
                let empty = page.is_empty();
                seen.extend(page.iter().map(|e| e.global_position()));
                if finished && empty {
                    return seen;
                }
            }
        })
    };
    let writers: Vec<_> = (0..6)
        .map(|t| {
            let store: std::sync::Arc<dyn event_store::EventStore> = if t % 2 == 0 {
                std::sync::Arc::clone(&first)
            } else {
                second.clone()
            };
            std::thread::spawn(move || {
                for n in 0..30u32 {
                    store
                        .append(request(&format!("two-{t}-{n}"), 0, 1 + n % 2))
                        .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.join().unwrap();
    let all: Vec<u64> = first
        .read_all(0, 100_000)
        .unwrap()
        .iter()
        .map(|e| e.global_position())
        .collect();
    assert_eq!(all.len(), 6 * 15 * 3);
    assert_eq!(seen, all);
}

#[test]
fn a_value_the_server_refuses_fails_only_its_own_append_in_a_batch() {
    let Some(h) = postgres() else { return };
    // PostgreSQL will not store a NUL character in text; SQLite would.
    let nul =
        event_store::NewEvent::new("PaymentSettled", 1, at(1), "{\"x\":\"\u{0}\"}".into()).unwrap();
    let refused = event_store::AppendRequest::new(stream("nul"), 0, vec![nul], at(1)).unwrap();
    let results = h
        .store
        .append_batch(vec![request("ok-1", 0, 1), refused, request("ok-2", 0, 2)]);
    assert!(results[0].is_ok(), "{results:?}");
    assert!(results[1].is_err(), "{results:?}");
    assert!(results[2].is_ok(), "{results:?}");
    assert_eq!(h.store.read_stream(&stream("ok-2")).unwrap().len(), 2);
    assert!(h.store.read_stream(&stream("nul")).unwrap().is_empty());
}

#[test]
fn reads_survive_the_server_ending_a_reader_connection() {
    // Given a store whose reader connections have each served a read
    let Some(h) = postgres() else { return };
    let (url, schema) = h.pg_schema.clone().unwrap();
    h.store.append(request("pay-1", 0, 2)).unwrap();
    assert_eq!(h.store.read_stream(&stream("pay-1")).unwrap().len(), 2);
    // When the server ends every reader connection of this store (a restart, an idle timeout)
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let ended: i64 = admin
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = $1) AS t",
            &[&store::application_name("reader", &schema)],
        )
        .unwrap()
        .get(0);
    assert!(ended >= 1, "no reader connection was found to end");
    // Then the next reads run on new connections, with the same answers
    for _ in 0..3 {
        assert_eq!(h.store.read_stream(&stream("pay-1")).unwrap().len(), 2);
        assert_eq!(h.store.read_all(0, 10).unwrap().len(), 2);
    }
}

#[test]
fn connections_name_their_role_and_schema() {
    let Some(h) = postgres() else { return };
    let (url, schema) = h.pg_schema.clone().unwrap();
    h.store.append(request("pay-1", 0, 1)).unwrap();
    h.store.read_stream(&stream("pay-1")).unwrap();
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    for role in ["writer", "reader"] {
        let name = store::application_name(role, &schema);
        let count: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&name],
            )
            .unwrap()
            .get(0);
        assert!(count >= 1, "no connection named {name:?}");
    }
}

#[test]
fn a_reader_count_out_of_range_is_refused() {
    for readers in [0, 65] {
        let mut config = PostgresConfig::new(&test_database_url());
        config.schema = fresh_schema();
        config.readers = readers;
        let Err(e) = PostgresStore::connect_read_only(&config) else {
            panic!("{readers} readers were accepted");
        };
        assert!(
            matches!(e, StoreError::Unrepresentable { .. }) && e.to_string().contains("1 to 64"),
            "{e}"
        );
    }
}
