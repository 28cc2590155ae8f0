//! The operator console in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`, which `cargo xtask ci` installs when missing) driven over WebDriver against
//! a real `npp serve`. Screenshots of each step are kept under `target/console-screenshots/`.
//!
//! When Chromium or its driver is missing the test says so loudly, and fails under `CI`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod server;

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use server::{Site, create, get, payment_body, post, wait_for};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The payment the operators resolve.
const STUCK: &str = "pay-console-0";
/// The longest any one step may take before the test fails naming it.
const STEP: Duration = Duration::from_secs(30);

fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `chromedriver` on a free loopback port, in a process group of its own; the group (the
/// driver and every browser it started) is killed when dropped, so a failed test leaves no
/// browser running.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_driver() -> Option<Driver> {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        let message = format!(
            "console browser test: {CHROMIUM} or {CHROMEDRIVER} is missing \
             (apt-get install chromium chromium-driver; `cargo xtask ci` does)"
        );
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("\n!!! {message}: NOT RUN\n");
        return None;
    }
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .process_group(0)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let driver = Driver { child, url };
    let started = Instant::now();
    let http = reqwest::blocking::Client::new();
    while http.get(format!("{}/status", driver.url)).send().is_err() {
        assert!(started.elapsed() < STEP, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(driver)
}

async fn browser(driver: &Driver, profile: &Path) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,1400",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .unwrap()
}

/// Waits until `script` (a function body returning a value) returns something truthy; fails
/// naming `what`, with the page's status line, past [`STEP`].
async fn until(client: &Client, what: &str, script: &str) -> Value {
    let started = Instant::now();
    loop {
        let value = js(client, script).await;
        let truthy = match &value {
            Value::Null | Value::Bool(false) => false,
            Value::String(s) => !s.is_empty(),
            _ => true,
        };
        if truthy {
            return value;
        }
        if started.elapsed() > STEP {
            let status = client
                .execute(
                    "return document.getElementById('status').textContent",
                    vec![],
                )
                .await
                .unwrap_or_default();
            panic!("waited {STEP:?} for {what}; the page says {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(client: &Client, id: &str) {
    client
        .find(Locator::Id(id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// What `script` (a function body) returns on the page.
async fn js(client: &Client, script: &str) -> Value {
    client.execute(script, vec![]).await.unwrap()
}

async fn shot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    std::fs::write(screenshots().join(name), png).unwrap();
}

/// Signs in with the keyboard only: the token typed into its field, Enter to submit.
async fn sign_in(client: &Client, token: &str, name: &str) {
    let field = client
        .wait()
        .at_most(STEP)
        .for_element(Locator::Id("token"))
        .await
        .unwrap();
    field.clear().await.unwrap();
    field.send_keys(&format!("{token}\u{E007}")).await.unwrap();
    until(
        client,
        &format!("signed in as {name}"),
        &format!(
            "return document.getElementById('who-name').textContent.includes('Signed in as {name}')"
        ),
    )
    .await;
}

async fn sign_out(client: &Client) {
    click(client, "sign-out").await;
    until(
        client,
        "the sign-in form",
        "return !document.getElementById('view-sign-in').hidden",
    )
    .await;
    // The token is gone from the tab
    let kept = js(client, "return sessionStorage.getItem('npp-console-token')").await;
    assert_eq!(kept, Value::Null);
}

async fn open_payment(client: &Client, id: &str) {
    click(client, "nav-payments").await;
    let field = client
        .wait()
        .at_most(STEP)
        .for_element(Locator::Id("find-id"))
        .await
        .unwrap();
    field.clear().await.unwrap();
    field.send_keys(&format!("{id}\u{E007}")).await.unwrap();
    until(
        client,
        &format!("payment {id} open"),
        &format!(
            "return document.getElementById('payment-title').textContent === 'Payment {id}' \
             && document.getElementById('timeline-rows').children.length > 0"
        ),
    )
    .await;
}

/// Asks for a retry of the open payment with `reason`; the new pending request's id (not one of
/// `known`).
async fn request_retry(client: &Client, reason: &str, known: &[String]) -> String {
    until(
        client,
        "the retry action offered",
        "return document.getElementById('action-retry') !== null",
    )
    .await;
    click(client, "action-retry").await;
    client
        .find(Locator::Id("action-reason"))
        .await
        .unwrap()
        .send_keys(reason)
        .await
        .unwrap();
    click(client, "action-submit").await;
    let known = serde_json::to_string(known).unwrap();
    let found = until(
        client,
        "the request listed",
        &format!(
            "const known = {known};
             const row = Array.from(document.querySelectorAll('#request-rows tr[data-request]'))
               .find(r => !known.includes(r.dataset.request) && r.children[4].textContent === 'pending');
             return row && row.dataset.request"
        ),
    )
    .await;
    found.as_str().unwrap().to_owned()
}

/// Every control has a label a screen reader announces, and every button has a name.
async fn every_control_is_labelled(client: &Client, page: &str) {
    let unlabelled = js(
        client,
        "return Array.from(document.querySelectorAll('input, select, textarea, button'))
               .filter(c => !c.closest('[hidden]'))
               .filter(c => c.tagName === 'BUTTON'
                  ? !(c.textContent.trim() || c.getAttribute('aria-label'))
                  : !((c.labels && c.labels.length) || c.getAttribute('aria-label')))
               .map(c => c.id || c.outerHTML)",
    )
    .await;
    assert_eq!(unlabelled, json!([]), "{page}: controls without a label");
    readable_contrast(client, page).await;
}

/// Every visible text has a contrast ratio of at least 4.5:1 with what is behind it (WCAG 2
/// level AA for normal text), computed from the page's own styles.
async fn readable_contrast(client: &Client, page: &str) {
    let poor = js(client, "const lum = (c) => {
               const [r, g, b] = c.match(/[0-9.]+/g).slice(0, 3).map(Number).map((v) => {
                 v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
               });
               return 0.2126 * r + 0.7152 * g + 0.0722 * b;
             };
             const behind = (el) => {
               for (; el; el = el.parentElement) {
                 const c = getComputedStyle(el).backgroundColor;
                 if (c && c !== 'transparent' && !c.endsWith(', 0)')) return c;
               }
               return 'rgb(255, 255, 255)';
             };
             return Array.from(document.querySelectorAll(
                 'p, td, th, label, dt, dd, h1, h2, h3, button, summary, span, a, li, legend, figcaption, caption'))
               .filter((e) => e.offsetParent !== null && e.textContent.trim())
               .map((e) => {
                 const f = lum(getComputedStyle(e).color), b = lum(behind(e));
                 return [`${e.tagName}#${e.id} ${e.textContent.trim().slice(0, 30)}`,
                         (Math.max(f, b) + 0.05) / (Math.min(f, b) + 0.05)];
               })
               .filter(([, ratio]) => ratio < 4.5)").await;
    assert_eq!(poor, json!([]), "{page}: text below 4.5:1 contrast");
}

#[test]
fn operators_resolve_a_stuck_payment_and_an_auditor_verifies_its_pack_in_a_browser() {
    let Some(driver) = start_driver() else {
        return;
    };
    // Given a server running the orchestrator with a signing key
    let site = Site::new();
    let server = site.serve_signing(200);
    // And a few payments a channel made, for the pictures
    for n in 0..5 {
        let answer = create(
            &server,
            site.token("web"),
            &format!("console-{n}"),
            &payment_body(1_000 + n),
        );
        assert_eq!(answer.status, 201, "{}", answer.text);
        let id = answer.json()["payment_id"].as_str().unwrap().to_owned();
        wait_for(
            &server,
            site.token("web"),
            &id,
            &["SETTLED", "FAILED", "EXPIRED"],
        );
    }
    // And one the rail timed out on: with the simulated participant's seed 1, this id's first
    // attempt fails retryably and a retry settles (simulator/src/plan.rs)
    let mut body = payment_body(73_550);
    body["payment_id"] = json!(STUCK);
    let answer = create(&server, site.token("web"), "console-stuck", &body);
    assert_eq!(answer.status, 201, "{}", answer.text);
    let failed = wait_for(&server, site.token("web"), STUCK, &["FAILED"]);
    assert_eq!(failed["failure_reason"], "RAIL_TIMEOUT", "{failed}");
    let profile = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = browser(&driver, profile.path()).await;
        client.goto(&server.at("/console")).await.unwrap();
        every_control_is_labelled(&client, "sign-in").await;

        // When alice signs in, the stuck payment is in the queue
        sign_in(&client, site.token("alice"), "alice").await;
        until(
            &client,
            "pay-console-0 in the queue",
            "return document.querySelector('#queue-rows tr[data-payment=\"pay-console-0\"]') !== null",
        )
        .await;
        every_control_is_labelled(&client, "queue").await;
        shot(&client, "01-queue.png").await;

        // And she asks for a retry, with a reason
        client
            .find(Locator::Css("#queue-rows button[data-payment=\"pay-console-0\"]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(
            &client,
            "the retry action offered",
            "return document.getElementById('action-retry') !== null",
        )
        .await;
        // Only what the state allows is offered: a failed payment can be retried, not cancelled
        let offered = js(&client, "return Array.from(document.querySelectorAll('#action-choices input')).map(i => i.value)").await;
        assert_eq!(offered, json!(["retry"]));
        let rejected = request_retry(&client, "payee confirms nothing arrived", &[]).await;
        let request = rejected.clone();

        // Then she is offered no approval of her own request
        let own = js(&client, &format!("return document.getElementById('approve-{request}') !== null")).await;
        assert_eq!(own, json!(false), "alice is offered approval of her own request");
        every_control_is_labelled(&client, "payment").await;
        shot(&client, "02-requested.png").await;
        // And the server refuses it if she asks anyway (a blocking client, off the runtime)
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    post(
                        &server,
                        site.token("alice"),
                        &format!("/v1/operator-requests/{request}/approve"),
                        &json!({}),
                    )
                    .problem(403, Some("ops/four-eyes"));
                })
                .join()
                .unwrap();
        });
        sign_out(&client).await;

        // When bob rejects it, with a reason typed beside the button
        sign_in(&client, site.token("bob"), "bob").await;
        open_payment(&client, "pay-console-0").await;
        until(
            &client,
            "bob offered a decision",
            &format!("return document.getElementById('approve-{rejected}') !== null"),
        )
        .await;
        // The policy lets bob approve, not ask: no action is offered to him
        let actions_hidden = js(&client, "return document.getElementById('actions').hidden").await;
        assert_eq!(actions_hidden, json!(true), "bob is offered an action the policy refuses him");
        client
            .wait()
            .at_most(STEP)
            .for_element(Locator::Id(&format!("reject-reason-{rejected}")))
            .await
            .unwrap()
            .send_keys("ask the payee's bank first")
            .await
            .unwrap();
        click(&client, &format!("reject-{rejected}")).await;
        // Then the request shows as rejected, and nothing is offered on it any more
        until(
            &client,
            "the request rejected",
            &format!(
                "const row = document.querySelector('#request-rows tr[data-request=\"{rejected}\"]');
                 return row && row.children[4].textContent === 'rejected'
                     && document.getElementById('approve-{rejected}') === null"
            ),
        )
        .await;
        sign_out(&client).await;
        // And alice asks again
        sign_in(&client, site.token("alice"), "alice").await;
        open_payment(&client, "pay-console-0").await;
        let request = request_retry(
            &client,
            "the payee's bank confirms nothing arrived",
            std::slice::from_ref(&rejected),
        )
        .await;
        sign_out(&client).await;

        // When bob signs in and approves it
        sign_in(&client, site.token("bob"), "bob").await;
        open_payment(&client, "pay-console-0").await;
        client
            .wait().at_most(STEP).for_element(Locator::Id(&format!("approve-{request}")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // Then the page follows the payment until it settles
        until(
            &client,
            "pay-console-0 settled",
            "return document.getElementById('payment-state').textContent === 'SETTLED'",
        )
        .await;
        // With the rail messages that did it, pretty-printed
        until(
            &client,
            "a pacs.008 sent and a pacs.002 received",
            "const s = Array.from(document.querySelectorAll('#messages summary')).map(x => x.textContent);
             return s.some(t => t.startsWith('sent pacs.008')) && s.some(t => t.startsWith('received pacs.002'))",
        )
        .await;
        let xml = js(&client, "return Array.from(document.querySelectorAll('#messages pre')).map(p => p.textContent)").await;
        let xml: Vec<&str> = xml.as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert!(xml.iter().any(|x| x.contains("FIToFICstmrCdtTrf") && x.contains("\n  <")), "{xml:?}");
        assert!(xml.iter().any(|x| x.contains("FIToFIPmtStsRpt") && x.contains("ACSC")), "{xml:?}");
        // And the timeline names both people
        let who = js(&client, "return document.getElementById('timeline-rows').textContent").await;
        let who = who.as_str().unwrap();
        assert!(who.contains("requested by alice, approved by bob"), "{who}");
        // Opened, so that the screenshot shows them
        js(
            &client,
            "document.querySelectorAll('#messages details').forEach(d => d.open = true)",
        )
        .await;
        shot(&client, "03-settled.png").await;
        sign_out(&client).await;

        // When an auditor downloads the evidence pack
        sign_in(&client, site.token("audit"), "audit").await;
        // An auditor has no queue and no actions
        let queue_hidden = js(&client, "return document.getElementById('nav-queue').hidden").await;
        assert_eq!(queue_hidden, json!(true));
        open_payment(&client, "pay-console-0").await;
        let actions_hidden = js(&client, "return document.getElementById('actions').hidden").await;
        assert_eq!(actions_hidden, json!(true));
        click(&client, "evidence").await;
        // Then the page shows it verified, signed by this server's key
        let verdict = until(
            &client,
            "the evidence verified",
            "const t = document.getElementById('evidence-result').textContent;
             return t.startsWith('Verified') || t.startsWith('Not verified') ? t : ''",
        )
        .await;
        let verdict = verdict.as_str().unwrap();
        assert!(verdict.starts_with("Verified (trusted): valid: payment pay-console-0 SETTLED"), "{verdict}");
        shot(&client, "04-evidence.png").await;

        // And the pictures plot what the server saw
        click(&client, "nav-pictures").await;
        until(
            &client,
            "three charts with lines",
            "return document.querySelectorAll('#view-pictures svg').length === 3
                 && document.querySelectorAll('#chart-states path').length > 0
                 && document.querySelectorAll('#chart-latency path').length > 0",
        )
        .await;
        every_control_is_labelled(&client, "pictures").await;
        shot(&client, "05-pictures.png").await;
        client.close().await.unwrap();
    });
    // The API agrees with what the page showed
    let payment = get(&server, site.token("audit"), "/v1/payments/pay-console-0").json();
    assert_eq!(payment["state"], "SETTLED");
}
