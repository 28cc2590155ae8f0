//! Two `npp serve` processes on one PostgreSQL database behind no load balancer but the test:
//! the same Idempotency-Key sent to both at once makes one payment, and when one is killed
//! mid-load the survivor finishes every payment either was told of.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod server;
mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use server::*;

fn schema() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "serve_scale_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000
    )
}

fn drop_schema(url: &str, schema: &str) {
    if let Ok(mut client) = postgres::Client::connect(url, postgres::NoTls) {
        let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    }
}

#[test]
fn two_servers_share_keys_and_the_survivor_finishes_every_payment() {
    let Some(url) = support::database_url() else {
        return;
    };
    let schema = schema();
    let site = Site::new();
    let serve = |worker: &str| {
        site.serve_with(&[
            "--database-url",
            &url,
            "--schema",
            &schema,
            "--worker-id",
            worker,
            "--outbox-lease-seconds",
            "2",
        ])
    };
    let (a, b) = (serve("server-a"), serve("server-b"));
    let token = site.token("web").to_owned();
    // The same key to both servers at once: one payment, and both answers are its creation
    for k in 0..20 {
        let key = format!("both-{k}");
        let (from_a, from_b) = std::thread::scope(|scope| {
            let on_a = scope.spawn(|| create(&a, &token, &key, &payment_body(1_000 + k)));
            let on_b = scope.spawn(|| create(&b, &token, &key, &payment_body(1_000 + k)));
            (on_a.join().unwrap(), on_b.join().unwrap())
        });
        assert_eq!(from_a.status, 201, "{}", from_a.text);
        assert_eq!(from_b.status, 201, "{}", from_b.text);
        assert_eq!(from_a.text, from_b.text, "key {key}: two different answers");
    }
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let payments: i64 = db
        .query_one(
            &format!("SELECT count(DISTINCT stream_id) FROM {schema}.events WHERE stream_id LIKE 'payment-%'"),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(payments, 20, "one payment per key");
    // Load on both; server A is killed (SIGKILL) midway and its clients move to B
    let a_url = a.url.clone();
    let b_url = b.url.clone();
    let created: Vec<String> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..6)
            .map(|c| {
                let (a_url, b_url, token) = (a_url.clone(), b_url.clone(), token.clone());
                scope.spawn(move || {
                    let mut ids = Vec::new();
                    let started = Instant::now();
                    let mut n = 0;
                    while started.elapsed() < Duration::from_secs(3) {
                        let base = if c % 2 == 0 { &a_url } else { &b_url };
                        let key = format!("load-{c}-{n}");
                        let mut answer = None;
                        for target in [base, &b_url] {
                            let sent = client()
                                .post(format!("{target}/v1/payments"))
                                .bearer_auth(&token)
                                .header("Idempotency-Key", &key)
                                .json(&payment_body(2_000 + n))
                                .send();
                            if let Ok(response) = sent
                                && response.status().as_u16() == 201
                            {
                                answer = response.json::<Value>().ok();
                                break;
                            }
                        }
                        if let Some(view) = answer {
                            ids.push(view["payment_id"].as_str().unwrap().to_owned());
                        }
                        n += 1;
                    }
                    ids
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(1_200));
        a.kill();
        clients
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(
        created.len() > 20,
        "only {} payments were created",
        created.len()
    );
    // Every payment either server was told of ends final, through the survivor
    for id in &created {
        wait_for(&b, &token, id, &["SETTLED", "FAILED", "EXPIRED"]);
    }
    drop(b);
    let verified = npp()
        .args([
            "store",
            "verify",
            "--database-url",
            &url,
            "--schema",
            &schema,
        ])
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    drop_schema(&url, &schema);
}
