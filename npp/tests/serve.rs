//! `npp serve` over HTTP: a real server on an ephemeral port and a real client, for every status
//! code the API promises, every role, the idempotency cases, maker-checker through the API,
//! limits, and SIGTERM during load.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod server;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use server::*;

fn examples() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

#[test]
fn a_channel_creates_a_payment_that_settles_and_everyone_reads_it() {
    // Given a server with the in-process orchestrator and participant
    let site = Site::new();
    let server = site.serve(&[]);
    // When the channel creates a payment, naming its request
    let created = send(
        client()
            .post(server.at("/v1/payments"))
            .bearer_auth(site.token("web"))
            .header("Idempotency-Key", "order-1001")
            .header("X-Request-Id", "trace-abc-1")
            .json(&payment_body(12_550)),
    );
    // Then it is 201 with the payment, where it lives, and the request id echoed
    assert_eq!(created.status, 201, "{}", created.text);
    let view = created.json();
    let id = view["payment_id"].as_str().unwrap().to_owned();
    assert_eq!(view["state"], "CREATED");
    assert_eq!(view["amount"], 12_550);
    assert_eq!(view["debtor"]["bsb"], "062-000");
    assert_eq!(view["debtor"]["name"], "Alice Smith");
    assert_eq!(view["creditor"]["account"], "0012345");
    assert_eq!(view["remittance_information"], "Invoice 42");
    assert_eq!(view["version"], 1);
    assert_eq!(
        created.header("location"),
        Some(&*format!("/v1/payments/{id}"))
    );
    assert_eq!(created.header("x-request-id"), Some("trace-abc-1"));
    assert_eq!(created.header("idempotent-replayed"), None);
    // And the orchestrator takes it to SETTLED, which every reader role sees
    let settled = wait_for(&server, site.token("web"), &id, &["SETTLED", "FAILED"]);
    for reader in ["web", "alice", "audit", "root"] {
        let seen = get(&server, site.token(reader), &format!("/v1/payments/{id}"));
        assert_eq!(seen.status, 200, "{reader}: {}", seen.text);
        assert_eq!(seen.json()["state"], settled["state"]);
    }
    assert_eq!(settled["attempts"][0]["attempt_id"], "att_1");
    assert_eq!(settled["state_hash"].as_str().unwrap().len(), 64);
    // And the history reads as `npp replay` reads it, with the same state hash
    let events = get(
        &server,
        site.token("audit"),
        &format!("/v1/payments/{id}/events"),
    );
    assert_eq!(events.status, 200);
    assert_eq!(events.header("content-type"), Some("application/x-ndjson"));
    let history = site.path("history.jsonl");
    std::fs::write(&history, &events.text).unwrap();
    let replayed = npp().arg("replay").arg(&history).output().unwrap();
    assert!(
        replayed.status.success(),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    let replayed: Value = serde_json::from_slice(&replayed.stdout).unwrap();
    assert_eq!(replayed["state_hash"], settled["state_hash"]);
    // And the list shows it, and the intent event carries the request id as its correlation id
    let listed = get(&server, site.token("web"), "/v1/payments?limit=10").json();
    assert!(
        listed["payments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["payment_id"] == id)
    );
    let db = rusqlite::Connection::open(site.path("npp.db")).unwrap();
    let correlation: String = db
        .query_row(
            "SELECT correlation_id FROM events WHERE stream_id = ?1 AND version = 1",
            [format!("payment-{id}")],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(correlation, "trace-abc-1");
}

#[test]
fn the_same_key_replays_a_different_body_is_refused_and_channels_never_share_keys() {
    let site = Site::new();
    let server = site.serve(&["--no-orchestrator"]);
    let first = create(&server, site.token("web"), "k-1", &payment_body(500));
    assert_eq!(first.status, 201, "{}", first.text);
    // The same key and body again: the original status and body, marked as a replay
    let again = create(&server, site.token("web"), "k-1", &payment_body(500));
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.text, first.text);
    // The same key with another body: 422
    create(&server, site.token("web"), "k-1", &payment_body(501)).problem(422, None);
    // Another channel's same key is its own payment
    let other = create(&server, site.token("branch"), "k-1", &payment_body(500));
    assert_eq!(other.status, 201);
    assert_ne!(other.json()["payment_id"], first.json()["payment_id"]);
    // No key: 400 naming the header
    let none = send(
        client()
            .post(server.at("/v1/payments"))
            .bearer_auth(site.token("web"))
            .json(&payment_body(500)),
    );
    assert_eq!(none.problem(400, None)["field"], "Idempotency-Key");
    // A chosen payment id that is taken: 409 naming the field
    let mut named = payment_body(700);
    named["payment_id"] = json!("pay-chosen-1");
    assert_eq!(
        create(&server, site.token("web"), "k-2", &named).status,
        201
    );
    let taken = create(&server, site.token("web"), "k-3", &named).problem(409, None);
    assert_eq!(taken["field"], "payment_id", "{taken}");
}

#[test]
fn a_hundred_concurrent_requests_with_one_key_make_one_payment() {
    let site = Site::new();
    let server = site.serve(&["--no-orchestrator"]);
    let token = site.token("web").to_owned();
    let answers: Vec<Answer> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..100)
            .map(|_| scope.spawn(|| create(&server, &token, "same-key", &payment_body(4_200))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Every answer is the one payment (201, the same body), or 409 while the first ran
    let created: BTreeSet<&str> = answers
        .iter()
        .filter(|a| a.status == 201)
        .map(|a| a.text.as_str())
        .collect();
    assert_eq!(created.len(), 1, "different bodies: {created:?}");
    for answer in &answers {
        assert!(
            answer.status == 201
                || (answer.status == 409
                    && answer.json()["type"] == "urn:npp:problem:request-in-progress"),
            "{} {}",
            answer.status,
            answer.text
        );
    }
    // And afterwards the key replays that same body
    let replay = create(&server, &token, "same-key", &payment_body(4_200));
    assert_eq!(replay.status, 201);
    assert_eq!(&replay.text.as_str(), created.iter().next().unwrap());
    let listed = get(&server, &token, "/v1/payments?limit=500").json();
    assert_eq!(listed["payments"].as_array().unwrap().len(), 1, "{listed}");
}

#[test]
fn bad_requests_are_refused_naming_what_and_where() {
    let site = Site::new();
    let server = site.serve(&["--no-orchestrator"]);
    let web = site.token("web");
    let refused_field = |body: Value| -> String {
        let answer = create(&server, web, "bad-1", &body);
        answer.problem(400, None)["field"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let mut b = payment_body(100);
    b["colour"] = json!("blue");
    assert_eq!(refused_field(b), "colour");
    let mut b = payment_body(100);
    b["amount"] = json!(12.5);
    assert_eq!(refused_field(b), "amount");
    let mut b = payment_body(100);
    b["amount"] = json!("100");
    assert_eq!(refused_field(b), "amount");
    assert_eq!(refused_field(payment_body(0)), "amount");
    assert_eq!(refused_field(payment_body(-5)), "amount");
    let mut b = payment_body(100);
    b["debtor"]["bsb"] = json!("12-345");
    assert_eq!(refused_field(b), "debtor.bsb");
    let mut b = payment_body(100);
    b["creditor"]["account"] = json!("");
    assert_eq!(refused_field(b), "creditor.account");
    let mut b = payment_body(100);
    b["currency"] = json!("NZD");
    assert_eq!(refused_field(b), "currency");
    let mut b = payment_body(100);
    b["remittance_information"] = json!("r".repeat(281));
    assert_eq!(refused_field(b), "remittance_information");
    let mut b = payment_body(100);
    b.as_object_mut().unwrap().remove("creditor");
    assert_eq!(refused_field(b), "body");
    // Not JSON, and not declared JSON
    let garbled = send(
        client()
            .post(server.at("/v1/payments"))
            .bearer_auth(web)
            .header("Idempotency-Key", "bad-2")
            .header("Content-Type", "application/json")
            .body("{\"amount\": "),
    );
    garbled.problem(400, None);
    let form = send(
        client()
            .post(server.at("/v1/payments"))
            .bearer_auth(web)
            .header("Idempotency-Key", "bad-3")
            .header("Content-Type", "text/plain")
            .body("amount=1"),
    );
    form.problem(415, None);
    // Too large: 413, nothing read past the limit
    let mut huge = payment_body(100);
    huge["remittance_information"] = json!("x".repeat(70 * 1024));
    create(&server, web, "bad-4", &huge).problem(413, None);
    // Unknown routes and methods are problems too
    get(&server, web, "/v1/nothing-here").problem(404, None);
    send(client().delete(server.at("/v1/payments")).bearer_auth(web)).problem(405, None);
    get(&server, web, "/v1/payments/not%20an%20id").problem(400, None);
    get(&server, web, "/v1/payments/pay-unknown").problem(404, None);
    get(&server, web, "/v1/payments?state=LOST").problem(400, None);
    get(&server, web, "/v1/payments?limit=0").problem(400, None);
    get(&server, web, "/v1/payments?after=zzz").problem(400, None);
    // And nothing was created by any of them
    let listed = get(&server, web, "/v1/payments").json();
    assert_eq!(listed["payments"].as_array().unwrap().len(), 0, "{listed}");
}

#[test]
fn identity_comes_from_the_key_and_each_role_gets_only_its_routes() {
    let site = Site::new();
    let server = site.serve(&["--no-orchestrator"]);
    // Health needs no key; everything else does
    assert_eq!(send(client().get(server.at("/healthz"))).status, 200);
    let ready = send(client().get(server.at("/readyz")));
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(ready.json()["policy_version"], "api-test");
    for path in [
        "/v1/payments",
        "/v1/operator-queue",
        "/metrics",
        "/openapi.json",
    ] {
        send(client().get(server.at(path))).problem(401, None);
        send(client().get(server.at(path)).bearer_auth("npp_not-a-key")).problem(401, None);
        send(
            client()
                .get(server.at(path))
                .header("Authorization", "Basic d2ViOng="),
        )
        .problem(401, None);
    }
    // Roles: a channel creates, others may not; an auditor reads evidence, a channel may not
    create(&server, site.token("audit"), "r-1", &payment_body(100)).problem(403, None);
    create(&server, site.token("alice"), "r-1", &payment_body(100)).problem(403, None);
    let made = create(&server, site.token("web"), "r-1", &payment_body(100));
    assert_eq!(made.status, 201);
    let id = made.json()["payment_id"].as_str().unwrap().to_owned();
    get(
        &server,
        site.token("web"),
        &format!("/v1/payments/{id}/evidence"),
    )
    .problem(403, None);
    get(&server, site.token("web"), "/v1/operator-queue").problem(403, None);
    get(&server, site.token("audit"), "/v1/operator-queue").problem(403, None);
    post(
        &server,
        site.token("audit"),
        "/v1/operator-requests",
        &json!({}),
    )
    .problem(403, None);
    get(&server, site.token("web"), "/metrics").problem(403, None);
    let pack = get(
        &server,
        site.token("audit"),
        &format!("/v1/payments/{id}/evidence"),
    );
    assert_eq!(pack.status, 200, "{}", pack.text);
    let file = site.path("pack.json");
    std::fs::write(&file, &pack.text).unwrap();
    let verified = npp()
        .args(["evidence", "verify"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    assert_eq!(
        get(&server, site.token("root"), "/v1/operator-queue").status,
        200
    );
    let metrics = get(&server, site.token("alice"), "/metrics");
    assert_eq!(metrics.status, 200);
    for name in [
        "npp_http_requests_total",
        "npp_http_request_duration_seconds",
        "npp_command_duration_seconds",
        "npp_payments{state=\"CREATED\"} 1",
        "npp_outbox_pending",
        "npp_outbox_oldest_pending_seconds",
        "npp_orchestrator_tick_lag_seconds",
    ] {
        assert!(
            metrics.text.contains(name),
            "no {name} in\n{}",
            metrics.text
        );
    }
    // A revoked key stops working within a second or so, without a restart
    let revoked = npp()
        .args(["keys", "revoke", "--keys"])
        .arg(site.path("keys.toml"))
        .args(["--name", "web"])
        .output()
        .unwrap();
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let started = Instant::now();
    loop {
        let answer = get(&server, site.token("web"), "/v1/payments");
        if answer.status == 401 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a revoked key still works"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn maker_checker_runs_through_the_api_with_the_callers_as_maker_and_checker() {
    // Given a store holding a payment that failed retryably (a rail timeout)
    let site = Site::new();
    let imported = npp()
        .args(["payment", "import"])
        .arg(examples().join("timed-out.jsonl"))
        .arg("--db")
        .arg(site.path("npp.db"))
        .output()
        .unwrap();
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let server = site.serve(&["--no-orchestrator"]);
    // It is in the operator queue, saying what can be done
    let queue = get(&server, site.token("alice"), "/v1/operator-queue").json();
    let item = &queue["items"][0];
    assert_eq!(item["payment_id"], "pay_006", "{queue}");
    assert!(item["why"].as_str().unwrap().contains("retry"), "{item}");
    // The maker cannot be named in the body: the caller is the maker
    post(
        &server,
        site.token("alice"),
        "/v1/operator-requests",
        &json!({"action": "retry", "payment_id": "pay_006", "reason": "x", "requested_by": "bob"}),
    )
    .problem(400, None);
    // A channel or an operator the policy does not let ask is refused
    post(
        &server,
        site.token("bob"),
        "/v1/operator-requests",
        &json!({"action": "retry", "payment_id": "pay_006", "reason": "payee confirms nothing arrived"}),
    )
    .problem(403, Some("policy/may-request"));
    let asked = post(
        &server,
        site.token("alice"),
        "/v1/operator-requests",
        &json!({"action": "retry", "payment_id": "pay_006", "reason": "payee confirms nothing arrived"}),
    );
    assert_eq!(asked.status, 201, "{}", asked.text);
    let request = asked.json();
    assert_eq!(request["requested_by"], "alice");
    assert_eq!(request["status"], "pending");
    let id = request["request_id"].as_str().unwrap().to_owned();
    let pending = get(
        &server,
        site.token("bob"),
        "/v1/operator-requests?state=pending",
    )
    .json();
    assert_eq!(pending["requests"][0]["request_id"], id);
    let queue = get(&server, site.token("bob"), "/v1/operator-queue").json();
    assert_eq!(queue["items"][0]["pending_requests"][0], id, "{queue}");
    // The timeline offers each caller only what the rules would let them do: alice (a
    // requester) may ask for a retry and decide nothing, her own request included; bob (an
    // approver) may ask for nothing and decide her request; dave (whom the policy does not know)
    // and an auditor neither
    let offered = |name: &str| {
        let story = get(&server, site.token(name), "/v1/payments/pay_006/timeline").json();
        (story["allowed_actions"].clone(), story["decidable"].clone())
    };
    assert_eq!(offered("alice"), (json!(["retry"]), json!([])));
    assert_eq!(offered("bob"), (json!([]), json!([id])));
    assert_eq!(offered("dave"), (json!([]), json!([])));
    assert_eq!(offered("audit"), (json!([]), json!([])));
    // Self-approval and an approver the policy does not know: 403 with the rule
    let approve = format!("/v1/operator-requests/{id}/approve");
    post(&server, site.token("alice"), &approve, &json!({})).problem(403, Some("ops/four-eyes"));
    post(&server, site.token("dave"), &approve, &json!({}))
        .problem(403, Some("policy/may-approve"));
    // The checker approves: the retry runs in the same commit
    let approved = post(&server, site.token("bob"), &approve, &json!({}));
    assert_eq!(approved.status, 200, "{}", approved.text);
    let approved = approved.json();
    assert_eq!(approved["executed"], true);
    assert_eq!(approved["request"]["status"], "executed");
    assert_eq!(approved["request"]["approvals"][0]["approved_by"], "bob");
    assert_eq!(approved["payment"]["state"], "AUTHORISED");
    // A second decision is refused as already decided
    post(&server, site.token("carol"), &approve, &json!({}))
        .problem(409, Some("ops/already-decided"));
    post(
        &server,
        site.token("carol"),
        &format!("/v1/operator-requests/{id}/reject"),
        &json!({"reason": "too late"}),
    )
    .problem(409, Some("ops/already-decided"));
    post(
        &server,
        site.token("bob"),
        "/v1/operator-requests/req-unknown/approve",
        &json!({}),
    )
    .problem(404, Some("ops/unknown-request"));
    // And the evidence pack records both people
    let pack = get(
        &server,
        site.token("audit"),
        "/v1/payments/pay_006/evidence",
    )
    .json();
    let text = pack.to_string();
    assert!(
        text.contains("\"alice\"") && text.contains("\"bob\""),
        "{text}"
    );
}

#[test]
fn at_its_concurrency_limit_the_server_answers_503_with_retry_after() {
    let site = Site::new();
    let server = site.serve(&["--no-orchestrator", "--max-concurrent-requests", "1"]);
    let token = site.token("web").to_owned();
    for n in 0..20 {
        assert_eq!(
            create(&server, &token, &format!("o-{n}"), &payment_body(100)).status,
            201
        );
    }
    let answers: Vec<Answer> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..64)
            .map(|_| scope.spawn(|| get(&server, &token, "/v1/payments?limit=500")))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.status == 503).collect();
    assert!(
        !refused.is_empty(),
        "no request was refused at a limit of 1"
    );
    for answer in &refused {
        answer.problem(503, None);
        assert_eq!(answer.header("retry-after"), Some("1"));
    }
    assert!(answers.iter().all(|a| a.status == 200 || a.status == 503));
}

#[test]
fn sigterm_during_load_keeps_every_payment_the_clients_were_told_of() {
    let site = Site::new();
    let server = site.serve(&[]);
    let url = server.at("/v1/payments");
    let token = site.token("web").to_owned();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<std::thread::JoinHandle<Vec<String>>> = (0..8)
        .map(|c| {
            let (url, token) = (url.clone(), token.clone());
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut ids = Vec::new();
                for n in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let sent = client()
                        .post(&url)
                        .bearer_auth(&token)
                        .header("Idempotency-Key", format!("c{c}-{n}"))
                        .json(&payment_body(100 + n))
                        .send();
                    match sent {
                        Ok(response) if response.status().as_u16() == 201 => {
                            let view: Value = response.json().unwrap();
                            ids.push(view["payment_id"].as_str().unwrap().to_owned());
                        }
                        // Refused or cut off while stopping: the client was told of nothing.
                        Ok(_) | Err(_) => {
                            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                                break;
                            }
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                }
                ids
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1_500));
    // When SIGTERM arrives mid-load, it stops within 10 s and exits 0
    let (code, stderr) = server.terminate(Duration::from_secs(10));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let created: Vec<String> = clients
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        created.len() > 10,
        "only {} payments were created",
        created.len()
    );
    // Then every payment a client was told of is in the store, and the store verifies
    let db = rusqlite::Connection::open(site.path("npp.db")).unwrap();
    for id in &created {
        let count: i64 = db
            .query_row(
                "SELECT count(*) FROM events WHERE stream_id = ?1",
                [format!("payment-{id}")],
                |r| r.get(0),
            )
            .unwrap();
        assert!(
            count >= 1,
            "payment {id} was answered 201 but is not in the store"
        );
    }
    verify_store(&site);
}

#[test]
fn the_openapi_document_is_generated_from_the_code_and_committed() {
    let printed = npp().args(["serve", "--print-openapi"]).output().unwrap();
    assert!(printed.status.success());
    let generated = String::from_utf8(printed.stdout).unwrap();
    let committed_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    assert!(
        generated == committed,
        "docs/openapi.json is not the document the code generates; regenerate it with\n  \
         cargo run -p npp -- serve --print-openapi > docs/openapi.json"
    );
    let document: Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    for path in [
        "/v1/payments",
        "/v1/payments/{id}",
        "/v1/payments/{id}/events",
        "/v1/payments/{id}/evidence",
        "/v1/operator-queue",
        "/v1/operator-requests",
        "/v1/operator-requests/{id}/approve",
        "/v1/operator-requests/{id}/reject",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(document["paths"].get(path).is_some(), "{path} missing");
    }
    // And the running server serves the same document
    let site = Site::new();
    let server = site.serve(&["--no-orchestrator"]);
    let served = get(&server, site.token("audit"), "/openapi.json");
    assert_eq!(served.text, generated);
}

#[test]
fn the_consoles_routes_answer_by_role_and_verify_a_pack() {
    // Given a server with a signing key, and a payment that settled (with the simulated
    // participant's seed 1, this id settles at the first attempt: simulator/src/plan.rs)
    let site = Site::new();
    let server = site.serve_signing(100);
    let mut body = payment_body(4_200);
    body["payment_id"] = json!("pay-timeline-0");
    assert_eq!(create(&server, site.token("web"), "t-1", &body).status, 201);
    wait_for(&server, site.token("web"), "pay-timeline-0", &["SETTLED"]);

    // `/v1/me` names the key and its role, for every role; no key is 401
    for (name, role) in [
        ("web", "channel"),
        ("alice", "operator"),
        ("audit", "auditor"),
        ("root", "admin"),
    ] {
        let me = get(&server, site.token(name), "/v1/me").json();
        assert_eq!(me, json!({"name": name, "role": role}));
    }
    send(client().get(server.at("/v1/me"))).problem(401, None);

    // The timeline: operators and auditors only; 400 for a bad id, 404 for an unknown one
    get(
        &server,
        site.token("web"),
        "/v1/payments/pay-timeline-0/timeline",
    )
    .problem(403, None);
    get(
        &server,
        site.token("audit"),
        "/v1/payments/no%20such/timeline",
    )
    .problem(400, None);
    get(
        &server,
        site.token("audit"),
        "/v1/payments/pay-unknown/timeline",
    )
    .problem(404, None);
    let story = get(
        &server,
        site.token("alice"),
        "/v1/payments/pay-timeline-0/timeline",
    )
    .json();
    let events = story["events"].as_array().unwrap();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "PaymentIntentCreated",
            "PaymentAuthorised",
            "PaymentSentToRail",
            "PaymentAcknowledged",
            "PaymentSettled"
        ],
        "{story}"
    );
    // Each event as its stream holds it: the versions, and the history endpoint's payloads
    let history = get(
        &server,
        site.token("audit"),
        "/v1/payments/pay-timeline-0/events",
    )
    .text;
    for (n, (event, line)) in events.iter().zip(history.lines()).enumerate() {
        assert_eq!(event["version"], json!(n + 1));
        assert_eq!(
            event["payload"],
            serde_json::from_str::<Value>(line).unwrap()
        );
    }
    // The rail's reports name their message; the channel's request its correlation id
    assert_eq!(events[0]["who"], "a channel");
    assert!(events[0]["correlation_id"].is_string(), "{}", events[0]);
    let settled = &events[4];
    let report = settled["rail_message_id"].as_str().unwrap();
    assert_eq!(settled["who"], format!("the rail (message {report})"));
    // The messages: the pacs.008 sent (delivered) and the two pacs.002 received, as XML
    let messages = story["messages"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> = messages
        .iter()
        .map(|m| {
            (
                m["direction"].as_str().unwrap(),
                m["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("sent", "pacs.008"),
            ("received", "pacs.002"),
            ("received", "pacs.002")
        ]
    );
    assert_eq!(messages[0]["status"], "delivered");
    assert_eq!(messages[0]["version"], 3);
    assert!(
        messages[0]["xml"]
            .as_str()
            .unwrap()
            .contains("<FIToFICstmrCdtTrf>")
    );
    assert_eq!(messages[2]["message_id"], report);
    assert!(
        messages[2]["xml"]
            .as_str()
            .unwrap()
            .contains("<TxSts>ACSC</TxSts>")
    );
    // A settled payment allows no action; the payer's funds show the settlement
    assert_eq!(story["allowed_actions"], json!([]));
    assert_eq!(story["decidable"], json!([]));
    assert_eq!(story["funds"]["settled_out"], 4_200);
    assert_eq!(story["funds"]["outstanding"], 0);
    assert_eq!(story["rail"][0]["type"], "RailDecisionRecorded");

    // The samples: operators and auditors; every state named, the settlement timed
    get(&server, site.token("web"), "/v1/stats").problem(403, None);
    let stats = poll(
        Duration::from_secs(10),
        Duration::from_millis(50),
        &|| "a sample timing the settlement".into(),
        || {
            let stats = get(&server, site.token("audit"), "/v1/stats").json();
            let timed = stats["samples"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["settled"].as_u64() > Some(0));
            timed.then_some(stats)
        },
    );
    assert_eq!(stats["interval_ms"], 100);
    assert_eq!(stats["max_samples"], 720);
    let last = stats["samples"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["payments"]["SETTLED"], 1, "{last}");
    assert_eq!(last["payments"].as_object().unwrap().len(), 7, "{last}");

    // Verification: the server's own signed pack is trusted; a changed one is not, naming where
    let pack = get(
        &server,
        site.token("audit"),
        "/v1/payments/pay-timeline-0/evidence",
    )
    .text;
    let verify = |body: String| {
        send(
            client()
                .post(server.at("/v1/evidence/verifications"))
                .bearer_auth(site.token("audit"))
                .header("content-type", "application/json")
                .body(body),
        )
    };
    let verdict = verify(pack.clone());
    assert_eq!(verdict.status, 200, "{}", verdict.text);
    let verdict = verdict.json();
    assert_eq!(verdict["verified"], true, "{verdict}");
    assert_eq!(verdict["signature"], "trusted");
    assert!(
        verdict["summary"]
            .as_str()
            .unwrap()
            .starts_with("valid: payment pay-timeline-0 SETTLED")
    );
    assert!(
        verdict["summary"]
            .as_str()
            .unwrap()
            .contains("signed by the trusted key"),
        "{verdict}"
    );
    let forged = pack.replacen("\"amount\":4200", "\"amount\":4201", 1);
    assert_ne!(forged, pack, "the pack holds no amount to change");
    let verdict = verify(forged).json();
    assert_eq!(verdict["verified"], false, "{verdict}");
    assert_eq!(verdict["path"], "intent.amount", "{verdict}");
    assert_eq!(verify("not a pack".into()).json()["verified"], false);
    let refused = send(
        client()
            .post(server.at("/v1/evidence/verifications"))
            .bearer_auth(site.token("web"))
            .body(pack),
    );
    refused.problem(403, None);

    // The console's files: no key needed, only this server's own resources allowed
    for (path, kind) in [
        ("/console", "text/html"),
        ("/console/app.js", "text/javascript"),
        ("/console/app.css", "text/css"),
    ] {
        let answer = send(client().get(server.at(path)));
        assert_eq!(answer.status, 200, "{path}");
        assert!(
            answer.header("content-type").unwrap().starts_with(kind),
            "{path}"
        );
        let policy = answer.header("content-security-policy").unwrap();
        assert!(
            policy.contains("default-src 'none'") && policy.contains("script-src 'self'"),
            "{policy}"
        );
    }
    let page = send(client().get(server.at("/console"))).text;
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "the page loads something from elsewhere"
    );
}
