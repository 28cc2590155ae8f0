//! The event store contract: one suite, run unchanged against the memory, SQLite and PostgreSQL
//! adapters, so they cannot drift apart.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use event_store::{
    AppendOutcome, AppendRequest, Attempt, Committed, EventHash, EventStore, GroupOutcome,
    NewEvent, OutboxQuery, OutboxStatus, PriorResult, StoreError, check_stream_chain,
};
use support::*;

fn committed(outcome: Result<AppendOutcome, StoreError>) -> Committed {
    match outcome {
        Ok(AppendOutcome::Committed(c)) => c,
        other => panic!("expected a commit, got {other:?}"),
    }
}

fn appends_get_gapless_versions_increasing_positions_and_a_valid_chain(store: &dyn EventStore) {
    let first = committed(store.append(request("s-1", 0, 3)));
    assert_eq!((first.first_version, first.last_version), (1, 3));
    let second = committed(store.append(request("s-1", 3, 2)));
    assert_eq!((second.first_version, second.last_version), (4, 5));
    let events = store.read_stream(&stream("s-1")).unwrap();
    assert_eq!(
        events.iter().map(|e| e.version()).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert!(
        events
            .windows(2)
            .all(|w| w[0].global_position() < w[1].global_position())
    );
    assert_eq!(*events[0].prev_hash(), EventHash::GENESIS);
    assert_eq!(check_stream_chain(&events), Ok(()));
}

fn the_envelope_round_trips_exactly(store: &dyn EventStore) {
    let event = NewEvent::new(
        "PaymentSettled",
        7,
        at(42),
        r#"{"a":"é ✓","n":1}"#.to_owned(),
    )
    .unwrap()
    .with_correlation("corr-1")
    .unwrap()
    .with_causation("msg-9")
    .unwrap();
    let request = AppendRequest::new(stream("s-env"), 0, vec![event.clone()], at(43)).unwrap();
    committed(store.append(request));
    let stored = &store.read_stream(&stream("s-env")).unwrap()[0];
    assert_eq!(stored.event(), &event);
    assert_eq!(stored.recorded_at(), at(43));
    assert_eq!(stored.stream_id(), &stream("s-env"));
    assert_eq!(stored.recompute_hash(), *stored.hash());
}

fn a_wrong_expected_version_is_a_typed_conflict_and_writes_nothing(store: &dyn EventStore) {
    committed(store.append(request("s-c", 0, 2)));
    for expected in [0, 1, 3, 9] {
        let result = store.append(request("s-c", expected, 3));
        assert_eq!(
            result,
            Err(StoreError::Conflict {
                stream: stream("s-c"),
                expected,
                actual: 2
            }),
            "expected version {expected}"
        );
    }
    assert_eq!(store.read_stream(&stream("s-c")).unwrap().len(), 2);
}

fn an_unknown_stream_reads_empty(store: &dyn EventStore) {
    assert!(store.read_stream(&stream("nobody")).unwrap().is_empty());
    assert!(store.read_all(0, 10).unwrap().is_empty());
}

fn idempotency_keys_return_the_original_result_or_refuse_a_different_request(
    store: &dyn EventStore,
) {
    let first = request("s-i", 0, 2).with_idempotency(claim("key-1", 1));
    committed(store.append(first));
    let prior = PriorResult {
        stream: stream("s-i"),
        version: 2,
    };
    // The same key and request, even aimed elsewhere, returns the original result.
    let repeat = request("s-other", 0, 1).with_idempotency(claim("key-1", 1));
    assert_eq!(
        store.append(repeat),
        Ok(AppendOutcome::AlreadyApplied(prior.clone()))
    );
    // The same key with another request is refused.
    let different = request("s-other", 0, 1).with_idempotency(claim("key-1", 2));
    assert_eq!(
        store.append(different),
        Err(StoreError::IdempotencyConflict {
            key: "key-1".into(),
            stream: stream("s-i")
        })
    );
    assert!(store.read_stream(&stream("s-other")).unwrap().is_empty());
    assert_eq!(
        store.find_idempotency("key-1").unwrap(),
        Some((prior, [1; 32]))
    );
    assert_eq!(store.find_idempotency("key-2").unwrap(), None);
}

fn a_failed_append_releases_its_idempotency_key(store: &dyn EventStore) {
    committed(store.append(request("s-k", 0, 1)));
    let stale = request("s-k", 0, 1).with_idempotency(claim("key-k", 3));
    assert!(matches!(
        store.append(stale),
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(store.find_idempotency("key-k").unwrap(), None);
    let fresh = request("s-k", 1, 1).with_idempotency(claim("key-k", 3));
    committed(store.append(fresh));
}

fn a_rail_message_is_applied_once(store: &dyn EventStore) {
    let first = request("s-r", 0, 1).with_rail_message("MSG-1").unwrap();
    committed(store.append(first));
    let again = request("s-r", 1, 1).with_rail_message("MSG-1").unwrap();
    let prior = PriorResult {
        stream: stream("s-r"),
        version: 1,
    };
    assert_eq!(
        store.append(again),
        Ok(AppendOutcome::AlreadyApplied(prior.clone()))
    );
    assert_eq!(store.read_stream(&stream("s-r")).unwrap().len(), 1);
    assert_eq!(store.find_rail_message("MSG-1").unwrap(), Some(prior));
    assert_eq!(store.find_rail_message("MSG-2").unwrap(), None);
}

/// A request to `name` at `expected` (one event, recorded at `at(seconds)`) claiming rail message
/// `id` with `payload`.
fn claiming(
    name: &str,
    expected: u32,
    id: &str,
    payload: Option<&str>,
    seconds: i64,
) -> AppendRequest {
    AppendRequest::new(stream(name), expected, events(expected + 1, 1), at(seconds))
        .unwrap()
        .with_rail_message_payload(id, payload)
        .unwrap()
}

/// A pacs.002-like document of `bytes` bytes, newlines and markup included.
fn document(id: &str, bytes: usize) -> String {
    let head = format!("<?xml version=\"1.0\"?>\n<Document><MsgId>{id}</MsgId>\n<Fill>");
    let tail = "</Fill></Document>\n";
    let fill = bytes.saturating_sub(head.len() + tail.len());
    format!(
        "{head}{}{tail}",
        "é".repeat(fill / 2) + &"x".repeat(fill % 2)
    )
}

fn rail_messages_list_a_streams_claims_in_version_order_with_their_payloads(
    store: &dyn EventStore,
) {
    // Given a stream whose appends claim three rail messages, one of them without a payload, an
    // append between them claiming none, and another stream's claim
    let (first, last) = (document("MSG-P1", 2_000), document("MSG-P3", 300));
    committed(store.append(claiming("s-p", 0, "MSG-P1", Some(&first), 10)));
    committed(store.append(request("s-p", 1, 2)));
    committed(store.append(claiming("s-q", 0, "MSG-Q1", Some("<q/>"), 11)));
    committed(store.append(claiming("s-p", 3, "MSG-P2", None, 12)));
    // (the last in a batch and an atomic group, as the orchestrator hands them over)
    let batch = store.append_batch(vec![claiming("s-p", 4, "MSG-P3", Some(&last), 13)]);
    committed(batch.into_iter().next().unwrap());
    let group = store
        .append_atomic(vec![
            claiming("s-p", 5, "MSG-P4", Some("<p4/>"), 14),
            claiming("s-q", 1, "MSG-Q2", None, 14),
        ])
        .unwrap();
    assert!(matches!(group, GroupOutcome::Committed(_)), "{group:?}");
    // When the stream's rail messages are read
    let listed = store.rail_messages(&stream("s-p")).unwrap();
    // Then each is there once, in version order, with the payload it was claimed with, exactly
    let expected = [
        ("MSG-P1", 1, 10, Some(first)),
        ("MSG-P2", 4, 12, None),
        ("MSG-P3", 5, 13, Some(last)),
        ("MSG-P4", 6, 14, Some("<p4/>".to_owned())),
    ];
    assert_eq!(listed.len(), expected.len(), "{listed:?}");
    for (record, (id, version, seconds, payload)) in listed.iter().zip(expected) {
        assert_eq!(record.message_id, id);
        assert_eq!(record.stream, stream("s-p"));
        assert_eq!(record.version, version, "{id}");
        assert_eq!(record.recorded_at, at(seconds), "{id}");
        assert_eq!(record.payload, payload, "{id}");
    }
    // And the other stream's claims are its own; a stream that claimed none lists none
    let other: Vec<(String, Option<String>)> = store
        .rail_messages(&stream("s-q"))
        .unwrap()
        .into_iter()
        .map(|r| (r.message_id, r.payload))
        .collect();
    assert_eq!(
        other,
        [
            ("MSG-Q1".to_owned(), Some("<q/>".to_owned())),
            ("MSG-Q2".to_owned(), None)
        ]
    );
    assert!(store.rail_messages(&stream("s-none")).unwrap().is_empty());
    committed(store.append(request("s-none", 0, 1)));
    assert!(store.rail_messages(&stream("s-none")).unwrap().is_empty());
}

fn a_repeated_rail_message_adds_no_second_row_and_keeps_its_first_payload(store: &dyn EventStore) {
    // Given a rail message claimed with its payload
    committed(store.append(claiming("s-once", 0, "MSG-O1", Some("<first/>"), 1)));
    let prior = PriorResult {
        stream: stream("s-once"),
        version: 1,
    };
    // When it arrives again with another payload: alone, on another stream, and in a batch
    // beside a new message (which the repeat must not take with it)
    assert_eq!(
        store.append(claiming("s-once", 1, "MSG-O1", Some("<second/>"), 2)),
        Ok(AppendOutcome::AlreadyApplied(prior.clone()))
    );
    assert_eq!(
        store.append(claiming("s-else", 0, "MSG-O1", None, 3)),
        Ok(AppendOutcome::AlreadyApplied(prior.clone()))
    );
    let results = store.append_batch(vec![
        claiming("s-once", 1, "MSG-O1", Some("<third/>"), 4),
        claiming("s-once-b", 0, "MSG-O2", Some("<new/>"), 4),
    ]);
    let mut results = results.into_iter();
    assert_eq!(
        results.next().unwrap(),
        Ok(AppendOutcome::AlreadyApplied(prior))
    );
    committed(results.next().unwrap());
    // Then the claim is listed once, with its first payload, and nothing was appended for it
    let listed = store.rail_messages(&stream("s-once")).unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (listed[0].version, listed[0].payload.as_deref()),
        (1, Some("<first/>"))
    );
    assert_eq!(store.read_stream(&stream("s-once")).unwrap().len(), 1);
    assert!(store.rail_messages(&stream("s-else")).unwrap().is_empty());
    assert!(store.read_stream(&stream("s-else")).unwrap().is_empty());
    let new = store.rail_messages(&stream("s-once-b")).unwrap();
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].payload.as_deref(), Some("<new/>"));
}

fn a_rail_message_payload_over_the_limit_is_refused(store: &dyn EventStore) {
    use event_store::MAX_RAIL_MESSAGE_BYTES;
    // A payload of exactly the limit is kept whole
    let largest = document("MSG-BIG", MAX_RAIL_MESSAGE_BYTES);
    assert_eq!(largest.len(), MAX_RAIL_MESSAGE_BYTES);
    committed(store.append(claiming("s-big", 0, "MSG-BIG", Some(&largest), 1)));
    let kept = store.rail_messages(&stream("s-big")).unwrap();
    assert_eq!(kept[0].payload.as_deref(), Some(largest.as_str()));
    // One byte more is refused before anything is written, naming the limit
    let over = format!("{largest} ");
    let refused = request("s-over", 0, 1).with_rail_message_payload("MSG-OVER", Some(&over));
    let Err(StoreError::InvalidAppend(why)) = refused else {
        panic!("an over-limit payload was accepted: {refused:?}");
    };
    assert!(
        why.contains("MAX_RAIL_MESSAGE_BYTES") && why.contains(&MAX_RAIL_MESSAGE_BYTES.to_string()),
        "{why}"
    );
    // As is a NUL character, which no adapter could keep alike
    let nul = request("s-over", 0, 1).with_rail_message_payload("MSG-NUL", Some("<a>\u{0}</a>"));
    assert!(matches!(nul, Err(StoreError::InvalidAppend(_))), "{nul:?}");
    assert_eq!(store.find_rail_message("MSG-OVER").unwrap(), None);
    assert!(store.rail_messages(&stream("s-over")).unwrap().is_empty());
}

fn read_all_pages_in_position_order(store: &dyn EventStore) {
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        committed(store.append(request(name, 0, 2)));
        committed(store.append(request(name, 2, u32::try_from(i).unwrap() + 1)));
    }
    let everything = store.read_all(0, 1000).unwrap();
    assert_eq!(everything.len(), 2 * 3 + 1 + 2 + 3);
    let mut paged = Vec::new();
    let mut after = 0;
    loop {
        let page = store.read_all(after, 4).unwrap();
        let Some(last) = page.last() else { break };
        after = last.global_position();
        paged.extend(page);
    }
    assert_eq!(paged, everything);
    assert!(
        everything
            .windows(2)
            .all(|w| w[0].global_position() < w[1].global_position())
    );
}

fn list_streams_pages_in_order(store: &dyn EventStore) {
    for name in ["s-b", "s-a", "s-d", "s-c"] {
        committed(store.append(request(name, 0, 2)));
    }
    let first = store.list_streams(None, 3).unwrap();
    assert_eq!(first, [stream("s-a"), stream("s-b"), stream("s-c")]);
    let rest = store.list_streams(Some(&stream("s-c")), 3).unwrap();
    assert_eq!(rest, [stream("s-d")]);
}

fn eight_writers_on_one_stream_win_each_version_exactly_once(store: Arc<dyn EventStore>) {
    const PER_THREAD: usize = 25;
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let (mut won, mut conflicts) = (Vec::new(), 0usize);
                while won.len() < PER_THREAD {
                    let version = store.read_stream(&stream("hot")).unwrap().len() as u32;
                    match store.append(request("hot", version, 1)) {
                        Ok(AppendOutcome::Committed(c)) => won.push(c.last_version),
                        Err(StoreError::Conflict {
                            expected, actual, ..
                        }) => {
                            assert_eq!(expected, version);
                            assert_ne!(actual, expected);
                            conflicts += 1;
                        }
                        other => panic!("unexpected {other:?}"),
                    }
                }
                (won, conflicts)
            })
        })
        .collect();
    let mut all_won = Vec::new();
    for handle in handles {
        let (won, _) = handle.join().unwrap();
        all_won.extend(won);
    }
    let distinct: BTreeSet<u32> = all_won.iter().copied().collect();
    assert_eq!(distinct.len(), all_won.len(), "a version was won twice");
    assert_eq!(distinct, (1..=8 * PER_THREAD as u32).collect());
    let events = store.read_stream(&stream("hot")).unwrap();
    assert_eq!(check_stream_chain(&events), Ok(()));
}

fn concurrent_duplicates_of_a_key_or_message_commit_once(store: Arc<dyn EventStore>) {
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let by_key =
                    request(&format!("k-{i}"), 0, 1).with_idempotency(claim("shared-key", 5));
                let by_message = request(&format!("m-{i}"), 0, 1)
                    .with_rail_message("SHARED-MSG")
                    .unwrap();
                (
                    store.append(by_key).unwrap(),
                    store.append(by_message).unwrap(),
                )
            })
        })
        .collect();
    let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for pick in [
        |o: &(AppendOutcome, AppendOutcome)| o.0.clone(),
        |o: &(AppendOutcome, AppendOutcome)| o.1.clone(),
    ] {
        let results: Vec<AppendOutcome> = outcomes.iter().map(pick).collect();
        let winners: Vec<&Committed> = results
            .iter()
            .filter_map(|r| match r {
                AppendOutcome::Committed(c) => Some(c),
                AppendOutcome::AlreadyApplied(_) => None,
            })
            .collect();
        assert_eq!(winners.len(), 1, "{results:?}");
        let winner = PriorResult {
            stream: winners[0].stream.clone(),
            version: 1,
        };
        for result in &results {
            if let AppendOutcome::AlreadyApplied(prior) = result {
                assert_eq!(prior, &winner);
            }
        }
    }
    let total: usize = (0..8)
        .map(|i| {
            store.read_stream(&stream(&format!("k-{i}"))).unwrap().len()
                + store.read_stream(&stream(&format!("m-{i}"))).unwrap().len()
        })
        .sum();
    assert_eq!(total, 2);
}

fn many_writers_on_many_streams_all_commit(store: Arc<dyn EventStore>) {
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for n in 0..20u32 {
                    let name = format!("w-{t}-{n}");
                    committed(store.append(request(&name, 0, 3)));
                    committed(store.append(request(&name, 3, 2)));
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let all = store.read_all(0, 10_000).unwrap();
    assert_eq!(all.len(), 8 * 20 * 5);
    for t in 0..8 {
        for n in 0..20 {
            let events = store.read_stream(&stream(&format!("w-{t}-{n}"))).unwrap();
            assert_eq!(check_stream_chain(&events), Ok(()));
        }
    }
}

fn a_tailing_reader_never_skips_an_event_committed_late(store: Arc<dyn EventStore>) {
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (store, done) = (Arc::clone(&store), Arc::clone(&done));
        std::thread::spawn(move || {
            let (mut seen, mut after) = (Vec::new(), 0u64);
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let page = store.read_all(after, 50).unwrap();
                if let Some(last) = page.last() {
                    after = last.global_position();
                }
                let empty = page.is_empty();
                seen.extend(page.into_iter().map(|e| e.global_position()));
                if finished && empty {
                    return seen;
                }
            }
        })
    };
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for n in 0..40u32 {
                    committed(store.append(request(&format!("tail-{t}-{n}"), 0, 1 + n % 3)));
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.join().unwrap();
    let everything: Vec<u64> = store
        .read_all(0, 100_000)
        .unwrap()
        .iter()
        .map(|e| e.global_position())
        .collect();
    assert_eq!(
        seen, everything,
        "the tailing reader skipped or repeated a position"
    );
}

fn lease_claim(
    owner: &str,
    now: core_npp::Timestamp,
    limit: usize,
) -> event_store::OutboxClaim<'_> {
    event_store::OutboxClaim {
        owner,
        destination: "npp",
        streams: "",
        now,
        lease_nanos: LEASE,
        limit,
    }
}

fn outbox(id: &str) -> event_store::OutboxMessage {
    event_store::OutboxMessage::new(id, "npp", format!("<Document id=\"{id}\"/>")).unwrap()
}

const LEASE: i64 = 30_000_000_000;

fn outbox_messages_commit_with_their_events_and_are_leased_once(store: &dyn EventStore) {
    committed(
        store.append(
            request("o-1", 0, 1)
                .with_outbox(outbox("MSG-A"))
                .with_outbox(outbox("MSG-B")),
        ),
    );
    // A refused append writes no outbox row.
    let refused = store.append(request("o-1", 0, 1).with_outbox(outbox("MSG-C")));
    assert!(matches!(refused, Err(StoreError::Conflict { .. })));
    assert_eq!(store.pending_outbox().unwrap(), 2);
    let claimed = store
        .claim_outbox(&lease_claim("worker-1", at(10), 10))
        .unwrap();
    let mut ids: Vec<&str> = claimed.iter().map(|i| i.message.id()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["MSG-A", "MSG-B"]);
    assert!(
        claimed
            .iter()
            .all(|i| i.claims == 1 && i.message.destination() == "npp")
    );
    // While the lease holds, nobody else gets them; the holder, restarted, resumes them.
    assert!(
        store
            .claim_outbox(&lease_claim("worker-2", at(20), 10))
            .unwrap()
            .is_empty()
    );
    let resumed = store
        .claim_outbox(&lease_claim("worker-1", at(20), 10))
        .unwrap();
    assert!(
        resumed.len() == 2 && resumed.iter().all(|i| i.claims == 2),
        "{resumed:?}"
    );
    assert!(store.complete_outbox("MSG-A", "worker-1", at(21)).unwrap());
    assert!(
        !store.complete_outbox("MSG-B", "worker-2", at(21)).unwrap(),
        "not the lease holder"
    );
    // After the lease expires (worker-1 died), MSG-B is claimable again, and says so.
    let again = store
        .claim_outbox(&lease_claim("worker-2", at(51), 10))
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].message.id(), again[0].claims), ("MSG-B", 3));
    assert!(store.complete_outbox("MSG-B", "worker-2", at(42)).unwrap());
    assert_eq!(store.pending_outbox().unwrap(), 0);
    assert!(
        store
            .claim_outbox(&lease_claim("worker-3", at(500), 10))
            .unwrap()
            .is_empty()
    );
}

fn an_outbox_id_is_used_once(store: &dyn EventStore) {
    committed(store.append(request("o-2", 0, 1).with_outbox(outbox("MSG-X"))));
    let reused = store.append(request("o-3", 0, 1).with_outbox(outbox("MSG-X")));
    assert!(
        matches!(reused, Err(StoreError::InvalidAppend(_))),
        "{reused:?}"
    );
    assert!(store.read_stream(&stream("o-3")).unwrap().is_empty());
    assert_eq!(store.pending_outbox().unwrap(), 1);
}

fn concurrent_claimers_never_share_a_message(store: Arc<dyn EventStore>) {
    for n in 0..60 {
        committed(
            store.append(request(&format!("oc-{n}"), 0, 1).with_outbox(outbox(&format!("M-{n}")))),
        );
    }
    let handles: Vec<_> = (0..4)
        .map(|w| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                loop {
                    let batch = store
                        .claim_outbox(&lease_claim(&format!("w{w}"), at(5), 7))
                        .unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    // Delivered items are completed, as the orchestrator does; a worker that did not
                    // would resume its own leases forever.
                    for item in batch {
                        let worker = format!("w{w}");
                        assert!(
                            store
                                .complete_outbox(item.message.id(), &worker, at(6))
                                .unwrap()
                        );
                        mine.push(item.message.id().to_owned());
                    }
                }
            })
        })
        .collect();
    let mut all: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!(
        (before, all.len()),
        (60, 60),
        "a message was claimed twice or not at all"
    );
}

fn a_batch_settles_each_append_on_its_own(store: &dyn EventStore) {
    committed(store.append(request("b-taken", 0, 1)));
    committed(store.append(request("b-seen", 0, 1).with_rail_message("MSG-B0").unwrap()));
    let results = store.append_batch(vec![
        request("b-1", 0, 2),
        // Stale: the stream is at version 1.
        request("b-taken", 0, 1),
        request("b-2", 0, 1).with_rail_message("MSG-B1").unwrap(),
        // A message already applied.
        request("b-3", 0, 1).with_rail_message("MSG-B0").unwrap(),
        // Two appends to one stream, the second chained on the first.
        request("b-4", 0, 1),
        request("b-4", 1, 2),
        request("b-5", 0, 1).with_idempotency(claim("key-b", 7)),
    ]);
    assert_eq!(results.len(), 7);
    let mut results = results.into_iter();
    let mut next = || results.next().unwrap();
    let b1 = committed(next());
    assert!(matches!(
        next(),
        Err(StoreError::Conflict {
            expected: 0,
            actual: 1,
            ..
        })
    ));
    let b2 = committed(next());
    assert_eq!(
        next(),
        Ok(AppendOutcome::AlreadyApplied(PriorResult {
            stream: stream("b-seen"),
            version: 1
        }))
    );
    assert_eq!(committed(next()).last_version, 1);
    assert_eq!(committed(next()).last_version, 3);
    committed(next());
    assert_eq!((b1.last_version, b2.last_version), (2, 1));
    // Each committed append is whole and chained, in the batch's order of positions.
    let b4 = store.read_stream(&stream("b-4")).unwrap();
    assert_eq!(check_stream_chain(&b4), Ok(()));
    assert_eq!(b4.len(), 3);
    let first = store.read_stream(&stream("b-1")).unwrap();
    let later = store.read_stream(&stream("b-2")).unwrap();
    assert!(first[1].global_position() < later[0].global_position());
    assert_eq!(store.read_stream(&stream("b-taken")).unwrap().len(), 1);
    assert!(store.read_stream(&stream("b-3")).unwrap().is_empty());
    assert!(store.append_batch(Vec::new()).is_empty());
}

fn a_refused_append_in_a_batch_spares_its_neighbours(store: &dyn EventStore) {
    // One append per stream and no repeated claims within the batch: the shape adapters may
    // write set-wise, so this is the path a refusal must fall back from.
    committed(
        store.append(
            request("r-taken", 0, 1)
                .with_rail_message("MSG-R0")
                .unwrap(),
        ),
    );
    for refused in [
        request("r-taken", 0, 1),
        request("r-new", 0, 1).with_rail_message("MSG-R0").unwrap(),
    ] {
        let results = store.append_batch(vec![
            request(
                "r-a",
                store.read_stream(&stream("r-a")).unwrap().len() as u32,
                1,
            ),
            refused,
            request(
                "r-b",
                store.read_stream(&stream("r-b")).unwrap().len() as u32,
                1,
            ),
        ]);
        assert!(
            matches!(results[0], Ok(AppendOutcome::Committed(_))),
            "{results:?}"
        );
        assert!(
            !matches!(results[1], Ok(AppendOutcome::Committed(_))),
            "{results:?}"
        );
        assert!(
            matches!(results[2], Ok(AppendOutcome::Committed(_))),
            "{results:?}"
        );
    }
    assert_eq!(store.read_stream(&stream("r-a")).unwrap().len(), 2);
    assert_eq!(store.read_stream(&stream("r-b")).unwrap().len(), 2);
    assert!(store.read_stream(&stream("r-new")).unwrap().is_empty());
}

fn refusals_of_every_kind_in_a_batch_spare_their_neighbours(store: &dyn EventStore) {
    committed(store.append(request("k-seen", 0, 1).with_idempotency(claim("key-k0", 1))));
    committed(store.append(request("o-seen", 0, 1).with_outbox(outbox("out-0"))));
    let results = store.append_batch(vec![
        request("n-1", 0, 1),
        // The key is taken by another request.
        request("k-other", 0, 1).with_idempotency(claim("key-k0", 2)),
        request("n-2", 0, 1).with_outbox(outbox("out-1")),
        // The outbox id is taken.
        request("o-other", 0, 1).with_outbox(outbox("out-0")),
        request("n-3", 0, 1).with_idempotency(claim("key-k1", 1)),
    ]);
    assert_eq!(results.len(), 5);
    assert!(
        matches!(results[0], Ok(AppendOutcome::Committed(_))),
        "{results:?}"
    );
    assert!(
        matches!(results[1], Err(StoreError::IdempotencyConflict { .. })),
        "{results:?}"
    );
    assert!(
        matches!(results[2], Ok(AppendOutcome::Committed(_))),
        "{results:?}"
    );
    assert!(
        matches!(results[3], Err(StoreError::InvalidAppend(_))),
        "{results:?}"
    );
    assert!(
        matches!(results[4], Ok(AppendOutcome::Committed(_))),
        "{results:?}"
    );
    for refused in ["k-other", "o-other"] {
        assert!(
            store.read_stream(&stream(refused)).unwrap().is_empty(),
            "{refused}"
        );
    }
    assert_eq!(store.pending_outbox().unwrap(), 2);
}

fn batches_from_many_threads_all_commit(store: Arc<dyn EventStore>) {
    std::thread::scope(|scope| {
        for t in 0..4 {
            let store = &store;
            scope.spawn(move || {
                for round in 0..5 {
                    let batch = (0..20)
                        .map(|n| request(&format!("bt-{t}-{round}-{n}"), 0, 2))
                        .collect();
                    for result in store.append_batch(batch) {
                        committed(result);
                    }
                }
            });
        }
    });
    assert_eq!(store.read_all(0, 1_000).unwrap().len(), 4 * 5 * 20 * 2);
}

fn an_atomic_group_commits_every_append_or_none(store: &dyn EventStore) {
    committed(store.append(request("g-taken", 0, 1)));
    // Two streams in one commit.
    let outcome = store
        .append_atomic(vec![request("g-a", 0, 2), request("g-b", 0, 1)])
        .unwrap();
    let GroupOutcome::Committed(both) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        both.iter()
            .map(|c| (c.stream.as_str().to_owned(), c.last_version))
            .collect::<Vec<_>>(),
        [("g-a".to_owned(), 2), ("g-b".to_owned(), 1)]
    );
    // A stale member refuses the whole group with its conflict; nothing of it is written.
    let refused = store.append_atomic(vec![request("g-c", 0, 1), request("g-taken", 0, 1)]);
    assert!(
        matches!(
            refused,
            Err(StoreError::Conflict {
                expected: 0,
                actual: 1,
                ..
            })
        ),
        "{refused:?}"
    );
    assert!(store.read_stream(&stream("g-c")).unwrap().is_empty());
    // A member whose claim was applied before makes the group a repeat; nothing is written.
    committed(store.append(request("g-seen", 0, 1).with_rail_message("MSG-G0").unwrap()));
    let repeat = store.append_atomic(vec![
        request("g-d", 0, 1),
        request("g-e", 0, 1).with_rail_message("MSG-G0").unwrap(),
    ]);
    assert_eq!(
        repeat,
        Ok(GroupOutcome::AlreadyApplied(PriorResult {
            stream: stream("g-seen"),
            version: 1
        }))
    );
    assert!(store.read_stream(&stream("g-d")).unwrap().is_empty());
    // A group beside single appends in one batch (other threads) keeps both apart.
    assert!(store.append_atomic(Vec::new()).is_err());
    assert_eq!(
        check_stream_chain(&store.read_stream(&stream("g-a")).unwrap()),
        Ok(())
    );
}

fn an_atomic_group_and_its_neighbours_settle_apart(store: Arc<dyn EventStore>) {
    // Groups and single appends from many threads at once share batches; a refused group never
    // takes a neighbour with it and a committed one is always whole.
    committed(store.append(request("gn-taken", 0, 1)));
    std::thread::scope(|scope| {
        for t in 0..4 {
            let store = &store;
            scope.spawn(move || {
                for n in 0..25 {
                    let ok = store
                        .append_atomic(vec![
                            request(&format!("gn-{t}-{n}-a"), 0, 1),
                            request(&format!("gn-{t}-{n}-b"), 0, 2),
                        ])
                        .unwrap();
                    assert!(matches!(ok, GroupOutcome::Committed(ref c) if c.len() == 2));
                    let refused = store.append_atomic(vec![
                        request(&format!("gn-{t}-{n}-c"), 0, 1),
                        request("gn-taken", 0, 1),
                    ]);
                    assert!(matches!(refused, Err(StoreError::Conflict { .. })));
                    committed(store.append(request(&format!("gn-{t}-{n}-d"), 0, 1)));
                }
            });
        }
    });
    let all = store.read_all(0, 10_000).unwrap();
    assert_eq!(all.len(), 1 + 4 * 25 * 4);
    assert!(all.iter().all(|e| !e.stream_id().as_str().ends_with("-c")));
}

fn stream_version_is_the_head_without_reading_the_stream(store: &dyn EventStore) {
    assert_eq!(store.stream_version(&stream("v-1")).unwrap(), 0);
    committed(store.append(request("v-1", 0, 3)));
    assert_eq!(store.stream_version(&stream("v-1")).unwrap(), 3);
    committed(store.append(request("v-1", 3, 1)));
    assert_eq!(store.stream_version(&stream("v-1")).unwrap(), 4);
}

fn append_at_head_finds_the_head_and_retries_a_lost_race(store: &dyn EventStore) {
    committed(store.append(request("h-1", 0, 2)));
    let outcome = event_store::append_at_head(store, &stream("h-1"), |version| {
        Ok(request("h-1", version, 1))
    })
    .unwrap();
    assert_eq!(committed(Ok(outcome)).last_version, 3);
    // A writer that always loses the race gives up with the conflict, after a bounded number of
    // tries.
    let tries = std::sync::atomic::AtomicU32::new(0);
    let lost = event_store::append_at_head(store, &stream("h-1"), |_| {
        tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(request("h-1", 0, 1))
    });
    assert!(matches!(lost, Err(StoreError::Conflict { .. })), "{lost:?}");
    assert_eq!(
        tries.load(std::sync::atomic::Ordering::SeqCst),
        event_store::MAX_CONFLICT_RETRIES
    );
}

fn the_oldest_undelivered_message_is_known(store: &dyn EventStore) {
    // Given nothing in the outbox
    assert_eq!(store.oldest_pending_outbox().unwrap(), None);
    // When two messages are written at different times
    let written_at = |stream: &str, id: &str, at_seconds: i64| {
        AppendRequest::new(support::stream(stream), 0, events(1, 1), at(at_seconds))
            .unwrap()
            .with_outbox(outbox(id))
    };
    committed(store.append(written_at("old-1", "MSG-OLD", 100)));
    committed(store.append(written_at("old-2", "MSG-NEW", 200)));
    // Then the oldest is the first, until it is delivered; then the second; then none
    assert_eq!(store.oldest_pending_outbox().unwrap(), Some(at(100)));
    let claimed = store.claim_outbox(&lease_claim("w", at(300), 10)).unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(store.complete_outbox("MSG-OLD", "w", at(301)).unwrap());
    assert_eq!(store.oldest_pending_outbox().unwrap(), Some(at(200)));
    assert!(store.complete_outbox("MSG-NEW", "w", at(302)).unwrap());
    assert_eq!(store.oldest_pending_outbox().unwrap(), None);
}

fn a_batch_of_completions_answers_as_one_by_one_would(store: &dyn EventStore) {
    // Given three messages leased to w, and one leased to another worker
    for (stream, id) in [("cb-1", "CB-1"), ("cb-2", "CB-2"), ("cb-3", "CB-3")] {
        committed(store.append(request(stream, 0, 1).with_outbox(outbox(id))));
    }
    assert_eq!(
        store
            .claim_outbox(&lease_claim("w", at(10), 3))
            .unwrap()
            .len(),
        3
    );
    committed(store.append(request("cb-4", 0, 1).with_outbox(outbox("CB-4"))));
    assert_eq!(
        store
            .claim_outbox(&lease_claim("x", at(10), 10))
            .unwrap()
            .len(),
        1
    );
    assert!(store.complete_outbox("CB-2", "w", at(11)).unwrap());
    // When w completes them together, with one already done, one not its own and one unknown
    let marked = store
        .complete_outbox_batch(
            &["CB-1", "CB-2", "CB-3", "CB-3", "CB-4", "CB-NONE"],
            "w",
            at(12),
        )
        .unwrap();
    // Then each answer is what complete_outbox alone gives, in order (an id listed twice is
    // marked the first time), and nothing is pending but the other worker's
    assert_eq!(marked, [true, false, true, false, false, false]);
    assert_eq!(store.pending_outbox().unwrap(), 1);
    assert_eq!(
        store.complete_outbox_batch(&[], "w", at(13)).unwrap(),
        Vec::<bool>::new()
    );
}

fn outbox_claims_take_only_their_destination_and_streams(store: &dyn EventStore) {
    committed(store.append(request("payment-s1-1", 0, 1).with_outbox(outbox("SC-1"))));
    committed(store.append(request("payment-other", 0, 1).with_outbox(outbox("SC-2"))));
    let webhook = event_store::OutboxMessage::new("SC-3", "webhook", "{}".into()).unwrap();
    committed(store.append(request("payment-s1-2", 0, 1).with_outbox(webhook)));
    // A claim scoped to payments starting "payment-s1-" for the rail takes only SC-1.
    let scoped = event_store::OutboxClaim {
        streams: "payment-s1-",
        ..lease_claim("scoped", at(1), 10)
    };
    let taken: Vec<String> = store
        .claim_outbox(&scoped)
        .unwrap()
        .iter()
        .map(|i| i.message.id().to_owned())
        .collect();
    assert_eq!(taken, ["SC-1"]);
    // An unscoped claim for the rail takes the other payment's message, never the webhook's.
    let rest: Vec<String> = store
        .claim_outbox(&lease_claim("everyone", at(1), 10))
        .unwrap()
        .iter()
        .map(|i| i.message.id().to_owned())
        .collect();
    assert_eq!(rest, ["SC-2"]);
}

fn webhook(id: &str) -> event_store::OutboxMessage {
    event_store::OutboxMessage::new(id, "webhook", format!("{{\"id\":\"{id}\"}}")).unwrap()
}

fn webhook_claim(owner: &str, now: core_npp::Timestamp) -> event_store::OutboxClaim<'_> {
    event_store::OutboxClaim {
        destination: "webhook",
        ..lease_claim(owner, now, 10)
    }
}

fn listed(
    store: &dyn EventStore,
    prefix: &str,
    status: Option<OutboxStatus>,
) -> Vec<event_store::OutboxEntry> {
    store
        .list_outbox(&OutboxQuery {
            destination: "webhook",
            id_prefix: prefix,
            status,
            after: 0,
            limit: 100,
            stream: None,
        })
        .unwrap()
}

fn a_deferred_message_waits_for_its_time_and_keeps_its_error(store: &dyn EventStore) {
    // Given a message claimed by w
    committed(store.append(request("d-1", 0, 1).with_outbox(webhook("D-1"))));
    assert_eq!(
        store
            .claim_outbox(&webhook_claim("w", at(10)))
            .unwrap()
            .len(),
        1
    );
    // When w defers it to t=100 after a failed attempt (another worker cannot)
    assert!(
        !store
            .defer_outbox("D-1", "x", at(100), "not mine", Attempt::Failed)
            .unwrap()
    );
    assert!(
        store
            .defer_outbox("D-1", "w", at(100), "HTTP 500", Attempt::Failed)
            .unwrap()
    );
    assert!(
        !store
            .defer_outbox("D-1", "w", at(200), "twice", Attempt::Failed)
            .unwrap(),
        "no longer held"
    );
    // Then nobody, not even w, claims it before then; it is still pending, with its error
    assert!(
        store
            .claim_outbox(&webhook_claim("w", at(99)))
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .claim_outbox(&webhook_claim("x", at(50)))
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.pending_outbox().unwrap(), 1);
    let entry = &listed(store, "", None)[0];
    assert_eq!(entry.status, OutboxStatus::Pending);
    assert_eq!(entry.last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(entry.not_before, Some(at(100)));
    assert_eq!(
        (entry.claims, entry.attempts, entry.finished_at),
        (1, 1, None)
    );
    // And at t=100 it is claimable, its claim count telling it was tried before
    let again = store.claim_outbox(&webhook_claim("x", at(100))).unwrap();
    assert_eq!(
        (again[0].message.id(), again[0].claims, again[0].attempts),
        ("D-1", 2, 1)
    );
    // A deferral without an attempt (it waits for another) counts a claim, not an attempt
    assert!(
        store
            .defer_outbox("D-1", "x", at(100), "waits", Attempt::NotMade)
            .unwrap()
    );
    let third = store.claim_outbox(&webhook_claim("x", at(100))).unwrap();
    assert_eq!((third[0].claims, third[0].attempts), (3, 1));
    assert!(store.complete_outbox("D-1", "x", at(101)).unwrap());
    let entry = &listed(store, "", None)[0];
    assert_eq!(
        (entry.status, entry.finished_at, entry.not_before),
        (OutboxStatus::Delivered, Some(at(101)), None)
    );
}

fn a_failed_message_is_never_claimed_until_reopened(store: &dyn EventStore) {
    // Given a message claimed by w, which gives up on it
    committed(store.append(request("f-1", 0, 1).with_outbox(webhook("F-1"))));
    assert_eq!(
        store
            .claim_outbox(&webhook_claim("w", at(10)))
            .unwrap()
            .len(),
        1
    );
    assert!(
        !store
            .fail_outbox("F-1", "x", at(11), "not mine", Attempt::Failed)
            .unwrap()
    );
    let long = "é".repeat(event_store::MAX_OUTBOX_ERROR_BYTES);
    assert!(
        store
            .fail_outbox("F-1", "w", at(11), &long, Attempt::NotMade)
            .unwrap()
    );
    // Then it is failed, not pending, and no claim or completion touches it
    assert_eq!(store.pending_outbox().unwrap(), 0);
    assert_eq!(store.oldest_pending_outbox().unwrap(), None);
    assert!(
        store
            .claim_outbox(&webhook_claim("w", at(1_000)))
            .unwrap()
            .is_empty()
    );
    assert!(!store.complete_outbox("F-1", "w", at(12)).unwrap());
    let failed = listed(store, "F-", Some(OutboxStatus::Failed));
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].finished_at, Some(at(11)));
    let error = failed[0].last_error.clone().unwrap();
    assert!(error.len() <= event_store::MAX_OUTBOX_ERROR_BYTES && error.starts_with("éé"));
    // When a person reopens it, it is pending and claimable again, its claims kept
    assert!(!store.reopen_outbox("F-NONE").unwrap());
    assert!(store.reopen_outbox("F-1").unwrap());
    assert!(!store.reopen_outbox("F-1").unwrap(), "already pending");
    assert_eq!(store.pending_outbox().unwrap(), 1);
    let again = store.claim_outbox(&webhook_claim("x", at(13))).unwrap();
    assert_eq!(
        (again[0].message.id(), again[0].claims, again[0].attempts),
        ("F-1", 2, 0)
    );
    assert!(store.complete_outbox("F-1", "x", at(14)).unwrap());
    // And a delivered message can be reopened too (sent again on request)
    assert!(store.reopen_outbox("F-1").unwrap());
    assert_eq!(listed(store, "F-", Some(OutboxStatus::Pending)).len(), 1);
}

fn outbox_listings_filter_and_page_in_commit_order(store: &dyn EventStore) {
    // Given webhook messages for two prefixes, a rail message, and one of each status
    for (n, id) in ["A:1", "B:1", "A:2", "A:3"].iter().enumerate() {
        committed(store.append(request(&format!("l-{n}"), 0, 1).with_outbox(webhook(id))));
    }
    committed(store.append(request("l-rail", 0, 1).with_outbox(outbox("A:rail"))));
    let claimed = store.claim_outbox(&webhook_claim("w", at(10))).unwrap();
    assert_eq!(claimed.len(), 4);
    assert!(store.complete_outbox("A:1", "w", at(11)).unwrap());
    assert!(
        store
            .fail_outbox("A:2", "w", at(11), "gone", Attempt::Failed)
            .unwrap()
    );
    // Then each filter answers in commit order, only its destination and prefix
    let ids = |entries: Vec<event_store::OutboxEntry>| -> Vec<String> {
        entries.iter().map(|e| e.message.id().to_owned()).collect()
    };
    assert_eq!(ids(listed(store, "", None)), ["A:1", "B:1", "A:2", "A:3"]);
    assert_eq!(ids(listed(store, "A:", None)), ["A:1", "A:2", "A:3"]);
    assert_eq!(
        ids(listed(store, "A:", Some(OutboxStatus::Pending))),
        ["A:3"]
    );
    assert_eq!(
        ids(listed(store, "", Some(OutboxStatus::Delivered))),
        ["A:1"]
    );
    assert_eq!(ids(listed(store, "", Some(OutboxStatus::Failed))), ["A:2"]);
    assert!(listed(store, "C:", None).is_empty());
    // And pages continue after the last position seen
    let all = listed(store, "", None);
    assert!(all.windows(2).all(|w| w[0].position < w[1].position));
    let page = |after, limit| {
        store
            .list_outbox(&OutboxQuery {
                destination: "webhook",
                id_prefix: "",
                status: None,
                after,
                limit,
                stream: None,
            })
            .unwrap()
    };
    let first = page(0, 2);
    assert_eq!(ids(first.clone()), ["A:1", "B:1"]);
    assert_eq!(ids(page(first[1].position, 2)), ["A:2", "A:3"]);
    assert!(page(all[3].position, 2).is_empty());
}

fn one_streams_outbox_messages_are_listed_with_the_version_they_came_with(store: &dyn EventStore) {
    // Given two streams whose appends wrote rail messages, the first in two appends
    committed(store.append(request("s-one", 0, 1).with_outbox(outbox("S1-A"))));
    committed(store.append(request("s-two", 0, 2).with_outbox(outbox("S2-A"))));
    committed(store.append(request("s-one", 1, 2).with_outbox(outbox("S1-B"))));
    let of = |name: &str| {
        let stream = support::stream(name);
        store
            .list_outbox(&OutboxQuery {
                destination: "npp",
                id_prefix: "",
                status: None,
                after: 0,
                limit: 100,
                stream: Some(&stream),
            })
            .unwrap()
    };
    // Then each stream's listing holds its own messages only, in commit order, each with the
    // stream's version after the append that wrote it
    let one: Vec<(String, u32)> = of("s-one")
        .iter()
        .map(|e| (e.message.id().to_owned(), e.version))
        .collect();
    assert_eq!(one, [("S1-A".to_owned(), 1), ("S1-B".to_owned(), 3)]);
    let two: Vec<(String, u32)> = of("s-two")
        .iter()
        .map(|e| (e.message.id().to_owned(), e.version))
        .collect();
    assert_eq!(two, [("S2-A".to_owned(), 2)]);
    assert!(of("s-none").is_empty());
    // And the payload is the message as written
    assert_eq!(of("s-one")[0].message.payload(), "<Document id=\"S1-A\"/>");
}

macro_rules! contract_suite {
    ($adapter:ident) => {
        mod $adapter {
            use super::*;

            fn harness() -> Option<Harness> {
                support::$adapter()
            }

            macro_rules! case {
                ($name:ident) => {
                    #[test]
                    fn $name() {
                        if let Some(h) = harness() {
                            super::$name(&*h.store);
                        }
                    }
                };
            }
            macro_rules! shared_case {
                ($name:ident) => {
                    #[test]
                    fn $name() {
                        if let Some(mut h) = harness() {
                            let store: Arc<dyn EventStore> = Arc::from(std::mem::replace(
                                &mut h.store,
                                Box::new(store::MemoryStore::new()),
                            ));
                            super::$name(store);
                        }
                    }
                };
            }

            case!(appends_get_gapless_versions_increasing_positions_and_a_valid_chain);
            case!(the_envelope_round_trips_exactly);
            case!(a_wrong_expected_version_is_a_typed_conflict_and_writes_nothing);
            case!(an_unknown_stream_reads_empty);
            case!(idempotency_keys_return_the_original_result_or_refuse_a_different_request);
            case!(a_failed_append_releases_its_idempotency_key);
            case!(a_rail_message_is_applied_once);
            case!(rail_messages_list_a_streams_claims_in_version_order_with_their_payloads);
            case!(a_repeated_rail_message_adds_no_second_row_and_keeps_its_first_payload);
            case!(a_rail_message_payload_over_the_limit_is_refused);
            case!(read_all_pages_in_position_order);
            case!(list_streams_pages_in_order);
            shared_case!(eight_writers_on_one_stream_win_each_version_exactly_once);
            shared_case!(concurrent_duplicates_of_a_key_or_message_commit_once);
            shared_case!(many_writers_on_many_streams_all_commit);
            shared_case!(a_tailing_reader_never_skips_an_event_committed_late);
            case!(outbox_messages_commit_with_their_events_and_are_leased_once);
            case!(an_outbox_id_is_used_once);
            shared_case!(concurrent_claimers_never_share_a_message);
            case!(a_batch_settles_each_append_on_its_own);
            case!(a_refused_append_in_a_batch_spares_its_neighbours);
            case!(refusals_of_every_kind_in_a_batch_spare_their_neighbours);
            shared_case!(batches_from_many_threads_all_commit);
            case!(an_atomic_group_commits_every_append_or_none);
            shared_case!(an_atomic_group_and_its_neighbours_settle_apart);
            case!(stream_version_is_the_head_without_reading_the_stream);
            case!(append_at_head_finds_the_head_and_retries_a_lost_race);
            case!(outbox_claims_take_only_their_destination_and_streams);
            case!(the_oldest_undelivered_message_is_known);
            case!(a_batch_of_completions_answers_as_one_by_one_would);
            case!(a_deferred_message_waits_for_its_time_and_keeps_its_error);
            case!(a_failed_message_is_never_claimed_until_reopened);
            case!(outbox_listings_filter_and_page_in_commit_order);
            case!(one_streams_outbox_messages_are_listed_with_the_version_they_came_with);
        }
    };
}

contract_suite!(memory);
contract_suite!(sqlite);
contract_suite!(postgres);
