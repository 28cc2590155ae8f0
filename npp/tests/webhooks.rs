//! Webhooks through a real `npp serve` and a real receiver on loopback: subscriptions by admins
//! only, every state change delivered signed and in order per payment, retries through
//! failures, timeouts and a receiver that is down, 410 and an expired retry window failing into
//! the operator queue, redelivery, a slow receiver never slowing payments, and kill -9 between a
//! commit and its delivery losing nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod receiver;
mod server;

use std::collections::BTreeMap;
use std::time::Duration;

use receiver::{Answer, Receiver, unix_now, verify};
use serde_json::{Value, json};
use server::*;

/// How long a test waits for what should come at once, and how often it looks.
const SOON: Duration = Duration::from_secs(30);
const TICK: Duration = Duration::from_millis(25);

/// Retries come fast in these tests; the schedule's shape is the deliverer's unit tests'.
const FAST: &[&str] = &[
    "--webhook-first-retry-ms",
    "50",
    "--webhook-max-interval-seconds",
    "1",
];

fn subscribe(server: &Server, site: &Site, url: &str, events: Value) -> (String, String) {
    let created = post(
        server,
        site.token("root"),
        "/v1/webhook-endpoints",
        &json!({"url": url, "events": events}),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    let body = created.json();
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 70,
        "{secret}"
    );
    (body["id"].as_str().unwrap().to_owned(), secret)
}

fn create_payments(server: &Server, site: &Site, prefix: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|n| {
            let created = create(
                server,
                site.token("web"),
                &format!("{prefix}-{n}"),
                &payment_body(1_000 + i64::try_from(n).unwrap()),
            );
            assert_eq!(created.status, 201, "{}", created.text);
            created.json()["payment_id"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Each payment's final version, once every one is final.
fn final_versions(server: &Server, site: &Site, ids: &[String]) -> BTreeMap<String, u64> {
    ids.iter()
        .map(|id| {
            let view = wait_for(
                server,
                site.token("web"),
                id,
                &["SETTLED", "FAILED", "EXPIRED"],
            );
            (id.clone(), view["version"].as_u64().unwrap())
        })
        .collect()
}

/// Waits until the receiver has taken every event of every payment (`versions`), at least once.
fn wait_for_every_event(receiver: &Receiver, versions: &BTreeMap<String, u64>, limit: Duration) {
    let wanted: usize = versions
        .values()
        .map(|v| usize::try_from(*v).unwrap())
        .sum();
    let taken = |r: &Receiver| {
        let mut seen: Vec<String> = r.accepted().iter().map(|r| r.event_id.clone()).collect();
        seen.sort();
        seen.dedup();
        seen.len()
    };
    poll(
        limit,
        TICK,
        &|| format!("the receiver took {} of {wanted} events", taken(receiver)),
        || (taken(receiver) >= wanted).then_some(()),
    );
}

/// Every event of every payment was taken at least once, each signed with `secret`, in version
/// order per payment (a repeat of the event just taken aside), its body the payment as of it.
fn check_deliveries(receiver: &Receiver, secret: &str, versions: &BTreeMap<String, u64>) {
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    for received in receiver.accepted() {
        assert!(
            verify(secret, &received.signature, &received.body, unix_now(), 300),
            "bad signature {} on {}",
            received.signature,
            received.event_id
        );
        let body = received.json();
        let payment = body["payment_id"].as_str().unwrap().to_owned();
        let version = body["payment"]["version"].as_u64().unwrap();
        assert_eq!(body["event_id"], format!("{payment}:{version}"));
        assert_eq!(received.event_id, format!("{payment}:{version}"));
        assert_eq!(body["state"], body["payment"]["state"], "{body}");
        assert_eq!(body["occurred_at"], body["payment"]["updated_at"], "{body}");
        let before = last.get(&payment).copied().unwrap_or(0);
        assert!(
            version == before || version == before + 1,
            "payment {payment}: event {version} taken after {before} (out of order)"
        );
        last.insert(payment, version);
    }
    assert_eq!(&last, versions, "every payment's every event");
}

#[test]
fn a_channel_subscribes_and_hears_every_state_change_signed_and_in_order() {
    // Given a server, a receiver, and an admin who subscribes it to every state
    let site = Site::new();
    let server = site.serve(FAST);
    let receiver = Receiver::start();
    for (who, status) in [("web", 403), ("alice", 403), ("audit", 403)] {
        let refused = post(
            &server,
            site.token(who),
            "/v1/webhook-endpoints",
            &json!({"url": receiver.url(), "events": ["*"]}),
        );
        refused.problem(status, None);
    }
    let (endpoint, secret) = subscribe(&server, &site, &receiver.url(), json!(["*"]));
    // When payments are created and the orchestrator finishes them
    let ids = create_payments(&server, &site, "wh-order", 6);
    let versions = final_versions(&server, &site, &ids);
    // Then the receiver hears every event of every payment, signed, in order per payment
    wait_for_every_event(&receiver, &versions, Duration::from_secs(30));
    check_deliveries(&receiver, &secret, &versions);
    let first = receiver.accepted()[0].json();
    assert_eq!(first["type"], "PaymentIntentCreated");
    assert_eq!(first["payment"]["debtor"]["name"], "Alice Smith");
    // And the endpoint is listed without its secret, and the deliveries as delivered
    let listed = get(&server, site.token("root"), "/v1/webhook-endpoints").json();
    assert_eq!(listed["endpoints"][0]["id"], endpoint.as_str());
    assert!(listed["endpoints"][0].get("secret").is_none(), "{listed}");
    assert!(!listed.to_string().contains(&secret));
    let delivered = get(
        &server,
        site.token("alice"),
        "/v1/webhook-deliveries?status=delivered&limit=1000",
    )
    .json();
    let total: u64 = versions.values().sum();
    assert_eq!(
        delivered["deliveries"].as_array().unwrap().len(),
        usize::try_from(total).unwrap()
    );
    assert_eq!(delivered["deliveries"][0]["endpoint_id"], endpoint.as_str());
    get(&server, site.token("web"), "/v1/webhook-deliveries").problem(403, None);
    // And once removed, the endpoint hears nothing more
    let removed = send(
        client()
            .delete(server.at(&format!("/v1/webhook-endpoints/{endpoint}")))
            .bearer_auth(site.token("root")),
    );
    assert_eq!(removed.status, 204, "{}", removed.text);
    send(
        client()
            .delete(server.at(&format!("/v1/webhook-endpoints/{endpoint}")))
            .bearer_auth(site.token("root")),
    )
    .problem(404, None);
    let heard = receiver.received().len();
    let later = create_payments(&server, &site, "wh-after", 2);
    final_versions(&server, &site, &later);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        receiver.received().len(),
        heard,
        "a removed endpoint hears nothing"
    );
}

#[test]
fn a_subscription_that_cannot_be_delivered_is_refused_naming_the_field() {
    let site = Site::new();
    let server = site.serve(&["--no-orchestrator"]);
    for (body, field, says) in [
        (
            json!({"url": "ftp://example.com/", "events": ["*"]}),
            "url",
            "not http",
        ),
        (
            json!({"url": "https://example.com/", "events": ["*"]}),
            "url",
            "http only",
        ),
        (
            json!({"url": "http://example.com/", "events": []}),
            "events",
            "1 to 8",
        ),
        (
            json!({"url": "http://example.com/", "events": ["PAID"]}),
            "events",
            "events[0]",
        ),
        (
            json!({"url": "http://example.com/", "events": ["*"], "secret": "x"}),
            "secret",
            "unknown field",
        ),
    ] {
        let refused = post(&server, site.token("root"), "/v1/webhook-endpoints", &body);
        let problem = refused.problem(400, None);
        assert!(
            problem["detail"].as_str().unwrap().contains(says),
            "{body}: {problem}"
        );
        assert!(problem.to_string().contains(field), "{problem}");
    }
    // And past the limit of endpoints, a clear 409
    for _ in 0..32 {
        subscribe(
            &server,
            &site,
            "http://127.0.0.1:9/hook",
            json!(["SETTLED"]),
        );
    }
    let refused = post(
        &server,
        site.token("root"),
        "/v1/webhook-endpoints",
        &json!({"url": "http://127.0.0.1:9/hook", "events": ["*"]}),
    );
    refused.problem(409, None);
}

#[test]
fn failures_and_timeouts_are_retried_until_every_event_is_delivered_in_order() {
    // Given a receiver that fails three times, stalls past the timeout, then fails twice more
    let site = Site::new();
    let mut args = FAST.to_vec();
    args.extend(["--webhook-timeout-ms", "300"]);
    let server = site.serve(&args);
    let receiver = Receiver::start();
    receiver.script(&[
        Answer::Status(500),
        Answer::Status(503),
        Answer::Status(400),
        Answer::Stall(Duration::from_millis(900)),
        Answer::Status(502),
        Answer::Status(500),
    ]);
    let (_, secret) = subscribe(&server, &site, &receiver.url(), json!(["*"]));
    // When payments go through
    let ids = create_payments(&server, &site, "wh-retry", 4);
    let versions = final_versions(&server, &site, &ids);
    // Then every event arrives, in order per payment, each retry with a later attempt number
    wait_for_every_event(&receiver, &versions, Duration::from_secs(30));
    check_deliveries(&receiver, &secret, &versions);
    let received = receiver.received();
    assert!(received.len() > 6, "{}", received.len());
    let first_id = &received[0].event_id;
    let attempts: Vec<&str> = received
        .iter()
        .filter(|r| &r.event_id == first_id)
        .map(|r| r.attempt.as_str())
        .collect();
    assert!(
        attempts.len() >= 2 && attempts[0] == "1" && attempts[1] != "1",
        "{attempts:?}"
    );
    // And the metrics count the retries
    let metrics = get(&server, site.token("root"), "/metrics").text;
    let retried = metrics
        .lines()
        .find(|l| l.starts_with("npp_webhook_deliveries_total{outcome=\"retried\"}"))
        .unwrap_or_else(|| panic!("{metrics}"));
    assert_ne!(retried.rsplit(' ').next(), Some("0"), "{retried}");
    assert!(metrics.contains("npp_webhook_oldest_pending_seconds"));
}

#[test]
fn a_receiver_that_is_down_for_a_while_gets_everything_once_it_is_back() {
    // Given an endpoint whose receiver is not running
    let port = {
        let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        reserved.local_addr().unwrap().port()
    };
    let site = Site::new();
    let server = site.serve(FAST);
    let url = format!("http://127.0.0.1:{port}/hook");
    let (_, secret) = subscribe(&server, &site, &url, json!(["*"]));
    let ids = create_payments(&server, &site, "wh-down", 3);
    let versions = final_versions(&server, &site, &ids);
    // When the deliveries have failed to connect
    poll(
        SOON,
        TICK,
        &|| "no delivery failed to connect".into(),
        || {
            let pending = get(
                &server,
                site.token("alice"),
                "/v1/webhook-deliveries?status=pending",
            )
            .json();
            let tried = pending["deliveries"].as_array().unwrap().iter().any(|d| {
                d["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("could not reach"))
            });
            tried.then_some(())
        },
    );
    // Then, once the receiver starts, it gets every event in order
    let receiver = Receiver::start_on(port);
    wait_for_every_event(&receiver, &versions, Duration::from_secs(30));
    check_deliveries(&receiver, &secret, &versions);
}

#[test]
fn gone_and_an_expired_window_fail_into_the_operator_queue_and_can_be_redelivered() {
    // Given a receiver that answers 410 to the first delivery, and 500 to the next ones for a
    // while, under a one-second retry window
    let site = Site::new();
    let mut args = FAST.to_vec();
    args.extend(["--webhook-retry-for-seconds", "1"]);
    let server = site.serve(&args);
    let receiver = Receiver::start();
    let mut answers = vec![Answer::Status(410)];
    answers.extend(std::iter::repeat_n(Answer::Status(500), 40));
    receiver.script(&answers);
    let finals = json!(["SETTLED", "FAILED", "EXPIRED"]);
    let (endpoint, secret) = subscribe(&server, &site, &receiver.url(), finals);
    let ids = create_payments(&server, &site, "wh-gone", 2);
    final_versions(&server, &site, &ids);
    // When the deliveries have been given up on
    let failed = poll(SOON, TICK, &|| "two failed deliveries".into(), || {
        let failed = get(
            &server,
            site.token("alice"),
            "/v1/webhook-deliveries?status=failed",
        )
        .json();
        (failed["deliveries"].as_array().unwrap().len() == 2).then_some(failed)
    });
    // Then one failed at once on 410, the other after its window, both with why
    let errors: Vec<&str> = failed["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["last_error"].as_str().unwrap())
        .collect();
    assert!(errors.iter().any(|e| e.contains("410 Gone")), "{errors:?}");
    assert!(
        errors.iter().any(|e| e.contains("given up after")),
        "{errors:?}"
    );
    let gone = failed["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["last_error"].as_str().unwrap().contains("410"))
        .unwrap()
        .clone();
    assert_eq!(gone["attempts"], 1, "410 is not retried: {gone}");
    // And both are in the operator queue, saying what to do
    let queue = get(&server, site.token("alice"), "/v1/operator-queue").json();
    let queued: Vec<&Value> = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i.get("webhook_delivery").is_some())
        .collect();
    assert_eq!(queued.len(), 2, "{queue}");
    assert!(queued[0]["why"].as_str().unwrap().contains("redeliver"));
    assert!(queued[0]["why"].as_str().unwrap().contains(&endpoint));
    // When an operator redelivers one (the receiver now accepts)
    let id = gone["delivery_id"].as_str().unwrap();
    let path = format!("/v1/webhook-deliveries/{id}/redeliver");
    post(&server, site.token("web"), &path, &json!({})).problem(403, None);
    post(
        &server,
        site.token("alice"),
        "/v1/webhook-deliveries/wh~nope/redeliver",
        &json!({}),
    )
    .problem(404, None);
    let heard = receiver.received().len();
    receiver.clear();
    let redelivered = post(&server, site.token("alice"), &path, &json!({}));
    assert_eq!(redelivered.status, 202, "{}", redelivered.text);
    assert_eq!(redelivered.json()["status"], "pending");
    // Then it arrives, signed, and is delivered; the request is on the endpoint's record
    let taken = poll(SOON, TICK, &|| "the redelivery".into(), || {
        receiver
            .accepted()
            .into_iter()
            .find(|r| r.event_id == gone["event_id"].as_str().unwrap())
    });
    assert!(receiver.received().len() > heard);
    assert!(verify(
        &secret,
        &taken.signature,
        &taken.body,
        unix_now(),
        300
    ));
    assert_eq!(
        taken.attempt, "2",
        "the redelivery knows it was tried before"
    );
    poll(SOON, TICK, &|| format!("{id} marked delivered"), || {
        let delivered = get(
            &server,
            site.token("alice"),
            "/v1/webhook-deliveries?status=delivered",
        )
        .json();
        let listed = delivered["deliveries"].as_array().unwrap();
        listed.iter().any(|d| d["delivery_id"] == id).then_some(())
    });
    let events = get(
        &server,
        site.token("audit"),
        &format!(
            "/v1/payments/{}/events",
            gone["payment_id"].as_str().unwrap()
        ),
    );
    assert_eq!(events.status, 200);
    verify_store(&site);
}

#[test]
fn a_slow_receiver_never_slows_payments() {
    // Given a receiver that holds every request it gets
    let site = Site::new();
    let server = site.serve(FAST);
    let receiver = Receiver::start();
    receiver.hold();
    let (_, secret) = subscribe(&server, &site, &receiver.url(), json!(["*"]));
    // When payments are created
    let ids = create_payments(&server, &site, "wh-slow", 20);
    // Then they all finish while the receiver has taken none of their events
    let versions = final_versions(&server, &site, &ids);
    assert!(receiver.accepted().is_empty());
    // And once it answers again, it gets them all, in order
    receiver.release();
    wait_for_every_event(&receiver, &versions, Duration::from_secs(60));
    check_deliveries(&receiver, &secret, &versions);
}

#[test]
fn kill_9_between_commits_and_their_deliveries_loses_nothing() {
    // Given a server on SQLite delivering to a receiver that answers slowly
    let site = Site::new();
    let server = site.serve(FAST);
    let receiver = Receiver::start();
    receiver.script(&vec![Answer::Stall(Duration::from_millis(30)); 400]);
    let (_, secret) = subscribe(&server, &site, &receiver.url(), json!(["*"]));
    let ids = create_payments(&server, &site, "wh-kill", 15);
    // When it is killed while deliveries are in flight
    poll(SOON, TICK, &|| "five deliveries received".into(), || {
        (receiver.received().len() >= 5).then_some(())
    });
    server.kill();
    let taken_before = receiver.accepted().len();
    // Then a new server on the same store delivers every event at least once, in order
    let server = site.serve(FAST);
    let versions = final_versions(&server, &site, &ids);
    wait_for_every_event(&receiver, &versions, Duration::from_secs(60));
    check_deliveries(&receiver, &secret, &versions);
    let total: usize = versions
        .values()
        .map(|v| usize::try_from(*v).unwrap())
        .sum();
    assert!(
        taken_before < total,
        "the kill came before the last delivery"
    );
    verify_store(&site);
}

#[test]
fn the_readme_signature_check_takes_a_real_delivery_and_refuses_a_forged_one() {
    // Given a real delivery and the endpoint's secret
    let site = Site::new();
    let server = site.serve(FAST);
    let receiver = Receiver::start();
    let (_, secret) = subscribe(&server, &site, &receiver.url(), json!(["CREATED"]));
    create_payments(&server, &site, "wh-readme", 1);
    let delivery = poll(SOON, TICK, &|| "a delivery".into(), || {
        receiver.accepted().into_iter().next()
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("body"), &delivery.body).unwrap();
    let mut forged = delivery.body.clone();
    let at = forged.iter().position(|b| *b == b'1').unwrap();
    forged[at] = b'9';
    std::fs::write(dir.path().join("forged"), &forged).unwrap();
    // When the README's function checks it, the forged body and a wrong secret
    let script = format!(
        "{}\nimport sys\nbody = open('body', 'rb').read()\nforged = open('forged', 'rb').read()\n\
         print(verify(sys.argv[1], sys.argv[2], body), verify(sys.argv[1], sys.argv[2], forged), \
         verify('whsec_wrong', sys.argv[2], body), verify(sys.argv[1], 't=1,v1=00', body))\n",
        readme_block("webhook-verify", "python")
    );
    let output = std::process::Command::new("python3")
        .args(["-c", &script, &secret, &delivery.signature])
        .current_dir(dir.path())
        .output()
        .expect("the README's check needs python3");
    // Then only the real delivery passes
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "True False False False"
    );
}

#[test]
fn an_operator_action_taken_with_npp_ops_is_announced_too() {
    // Given a timed-out payment in the store and a server whose endpoint hears every state
    let site = Site::new();
    let db = site.path("npp.db");
    let imported = npp()
        .args(["payment", "import"])
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/timed-out.jsonl"))
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let server = site.serve(FAST);
    let receiver = Receiver::start();
    let (_, secret) = subscribe(&server, &site, &receiver.url(), json!(["*"]));
    // When two operators retry it through the CLI on the same store
    let policy = site.path("policy.toml");
    let ops = |args: &[&str]| {
        let output = npp()
            .arg("ops")
            .args(args)
            .arg("--db")
            .arg(&db)
            .arg("--policy")
            .arg(&policy)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let requested = ops(&[
        "request",
        "retry",
        "--payment",
        "pay_006",
        "--by",
        "alice",
        "--reason",
        "payee bank confirms nothing arrived",
    ]);
    let request = requested.lines().last().unwrap().to_owned();
    ops(&["approve", &request, "--by", "bob"]);
    // Then the endpoint hears of the approved retry, signed, and of what follows it
    let heard = poll(SOON, TICK, &|| "the approved retry".into(), || {
        receiver
            .accepted()
            .into_iter()
            .find(|r| r.json()["type"] == "PaymentRetryApproved")
    });
    assert!(verify(
        &secret,
        &heard.signature,
        &heard.body,
        unix_now(),
        300
    ));
    assert_eq!(heard.json()["payment_id"], "pay_006");
}

#[test]
fn a_receiver_that_hangs_never_holds_up_another_endpoints_deliveries() {
    // Given two endpoints, one whose receiver takes requests and never answers (within a
    // minute's timeout), one that answers at once
    let site = Site::new();
    let mut args = FAST.to_vec();
    args.extend(["--webhook-timeout-ms", "60000"]);
    let server = site.serve(&args);
    let hung = Receiver::start();
    hung.hold();
    let healthy = Receiver::start();
    subscribe(&server, &site, &hung.url(), json!(["*"]));
    let (_, secret) = subscribe(&server, &site, &healthy.url(), json!(["*"]));
    // When payments go through
    let ids = create_payments(&server, &site, "wh-hung", 10);
    let versions = final_versions(&server, &site, &ids);
    // Then the healthy endpoint hears every event, in order, while the hung one has taken none
    wait_for_every_event(&healthy, &versions, Duration::from_secs(30));
    check_deliveries(&healthy, &secret, &versions);
    assert!(hung.accepted().is_empty());
    hung.release();
}
