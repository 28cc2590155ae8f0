//! A real `npp serve` on an ephemeral port, with keys and a policy in a scratch directory, and a
//! real HTTP client. Dropping it kills the server (tests that stop it send SIGTERM themselves).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const POLICY: &str = "version = \"api-test\"\nattempt_limit = 3\n\
[operators]\nalice = [\"requester\"]\nbob = [\"approver\"]\ncarol = [\"approver\"]\n\
[roles.requester]\nrequest = [\"retry\", \"cancel\", \"mark-failed\"]\n\
[roles.approver]\napprove = [\"retry\", \"cancel\", \"mark-failed\"]\n";

/// The keys every test server has: name and role.
pub const KEYS: &[(&str, &str)] = &[
    ("web", "channel"),
    ("branch", "channel"),
    ("alice", "operator"),
    ("bob", "operator"),
    ("carol", "operator"),
    ("dave", "operator"),
    ("audit", "auditor"),
    ("root", "admin"),
];

pub fn npp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_npp"))
}

/// A scratch directory with a policy and keys.
pub struct Site {
    pub dir: tempfile::TempDir,
    tokens: Vec<(String, String)>,
}

impl Site {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("policy.toml"), POLICY).unwrap();
        let mut tokens = Vec::new();
        for (name, role) in KEYS {
            tokens.push(((*name).to_owned(), add_key(dir.path(), name, role)));
        }
        Self { dir, tokens }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn token(&self, name: &str) -> &str {
        &self
            .tokens
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no key {name}"))
            .1
    }

    /// A server on this site's SQLite store that signs evidence packs with a key made for it
    /// (`npp evidence keygen`) and samples the console's pictures every `stats_ms`.
    pub fn serve_signing(&self, stats_ms: u32) -> Server {
        let made = npp()
            .args(["evidence", "keygen", "--out-dir"])
            .arg(self.dir.path())
            .output()
            .unwrap();
        assert!(made.status.success(), "{made:?}");
        let key = self.path("evidence.key");
        let stats_ms = stats_ms.to_string();
        self.serve(&[
            "--stats-interval-ms",
            &stats_ms,
            "--signing-key",
            key.to_str().unwrap(),
        ])
    }

    /// A server on this site's SQLite store.
    pub fn serve(&self, extra: &[&str]) -> Server {
        let db = self.path("npp.db");
        let mut args = vec!["--db", db.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.serve_with(&args)
    }

    /// A server with these store (and other) arguments.
    pub fn serve_with(&self, args: &[&str]) -> Server {
        let mut command = npp();
        command
            .current_dir(self.dir.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--keys", self.path("keys.toml").to_str().unwrap()])
            .args(["--policy", self.path("policy.toml").to_str().unwrap()])
            .args(args)
            .env_remove("NPP_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Server::start(command)
    }
}

/// Adds a key with the CLI and returns its token (the last line printed).
pub fn add_key(dir: &Path, name: &str, role: &str) -> String {
    let output = npp()
        .args(["keys", "add", "--keys"])
        .arg(dir.join("keys.toml"))
        .args(["--name", name, "--role", role])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned()
}

pub struct Server {
    pub child: Child,
    pub url: String,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Server {
    fn start(mut command: Command) -> Self {
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                text.push_str(&line);
                text.push('\n');
            }
            text
        });
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first).unwrap();
        let Some(url) = first.trim().strip_prefix("npp serve: listening on ") else {
            let _ = child.kill();
            let err = stderr.join().unwrap_or_default();
            panic!("the server did not start: {first:?}\n{err}");
        };
        Self {
            url: url.to_owned(),
            child,
            stderr: Some(stderr),
        }
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Sends SIGTERM and waits for the exit (at most `limit`); the exit code and stderr.
    pub fn terminate(mut self, limit: Duration) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let err = self.stderr.take().unwrap().join().unwrap_or_default();
                return (status.code(), err);
            }
            assert!(
                started.elapsed() < limit,
                "the server did not stop within {limit:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills it with SIGKILL, as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A response: status, headers, body parsed (JSON) when it is JSON.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Checks this is a problem with `status` (and `rule`, when given).
    pub fn problem(&self, status: u16, rule: Option<&str>) -> Value {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        let body = self.json();
        for key in ["type", "title", "status", "detail"] {
            assert!(body.get(key).is_some(), "no {key} in {body}");
        }
        assert_eq!(body["status"], status);
        if let Some(rule) = rule {
            assert_eq!(body["rule"], rule, "{body}");
        }
        body
    }
}

pub fn send(request: reqwest::blocking::RequestBuilder) -> Answer {
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().unwrap();
    Answer {
        status,
        headers,
        text,
    }
}

pub fn payment_body(amount: i64) -> Value {
    serde_json::json!({
        "amount": amount,
        "currency": "AUD",
        "debtor": {"bsb": "062-000", "account": "12345678", "name": "Alice Smith"},
        "creditor": {"bsb": "633-000", "account": "0012345", "name": "Bob & Co"},
        "remittance_information": "Invoice 42"
    })
}

/// `POST /v1/payments` as `token` with `key`.
pub fn create(server: &Server, token: &str, key: &str, body: &Value) -> Answer {
    send(
        client()
            .post(server.at("/v1/payments"))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(body),
    )
}

pub fn get(server: &Server, token: &str, path: &str) -> Answer {
    send(client().get(server.at(path)).bearer_auth(token))
}

pub fn post(server: &Server, token: &str, path: &str, body: &Value) -> Answer {
    send(client().post(server.at(path)).bearer_auth(token).json(body))
}

/// Waits until the payment is in one of `states`; its last view.
pub fn wait_for(server: &Server, token: &str, id: &str, states: &[&str]) -> Value {
    let started = Instant::now();
    loop {
        let view = get(server, token, &format!("/v1/payments/{id}")).json();
        if states.iter().any(|s| view["state"] == *s) {
            return view;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "payment {id} stayed {} (wanted {states:?})",
            view["state"]
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asks `probe` every `every` until it answers, failing the test with `what` after `limit`.
pub fn poll<T>(
    limit: Duration,
    every: Duration,
    what: &dyn Fn() -> String,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(started.elapsed() < limit, "after {limit:?}: {}", what());
        std::thread::sleep(every);
    }
}

/// Checks the site's SQLite store with `npp store verify`.
pub fn verify_store(site: &Site) {
    let verified = npp()
        .args(["store", "verify", "--db"])
        .arg(site.path("npp.db"))
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
}

/// The code block (in `language`) between the README's `<!-- MARKER:start -->` and
/// `<!-- MARKER:end -->`, as written.
pub fn readme_block(marker: &str, language: &str) -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let start = readme
        .find(&format!("<!-- {marker}:start -->"))
        .unwrap_or_else(|| panic!("no {marker} start marker"));
    let end = readme
        .find(&format!("<!-- {marker}:end -->"))
        .unwrap_or_else(|| panic!("no {marker} end marker"));
    let block = &readme[start..end];
    let body = block
        .split(&format!("```{language}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no {language} block between the {marker} markers"));
    body.split("```").next().unwrap().to_owned()
}
