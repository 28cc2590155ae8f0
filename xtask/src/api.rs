//! `cargo xtask api`: schemathesis (from PyPI, installed when missing) against a live `npp serve`
//! and the committed `docs/openapi.json`. The server runs on 127.0.0.1 with an ephemeral port, a
//! fresh SQLite store, the example policy with the run's key as a requester, and an admin key
//! made for the run; it is stopped with SIGTERM afterwards and
//! must exit 0 leaving a store `npp store verify` finds clean. Checks: no 5xx, every response's
//! status, content type and body as the document says.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::ci::Outcome;
use crate::run;

/// The schemathesis checks run on every response.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance";
/// Examples generated per operation and phase: enough to reach every field, small enough that
/// the run stays under a minute on two cores.
const MAX_EXAMPLES: &str = "40";
/// How long the server may take to say where it listens.
const STARTUP: Duration = Duration::from_secs(30);
/// How long it may take to stop after SIGTERM (the API promises 10 s).
const SHUTDOWN: Duration = Duration::from_secs(10);

fn ensure_schemathesis() -> Result<()> {
    if run::has_program("schemathesis", &["--version"]) {
        return Ok(());
    }
    eprintln!("schemathesis not found; installing it with `python3 -m pip install schemathesis`");
    let mut pip = Command::new("python3");
    pip.args(["-m", "pip", "install", "--quiet", "schemathesis"]);
    run::status(pip).context("cannot install schemathesis (is python3 with pip installed?)")?;
    if !run::has_program("schemathesis", &["--version"]) {
        bail!("schemathesis was installed but is not on PATH");
    }
    Ok(())
}

/// A scratch directory under the target directory, emptied first, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self> {
        let dir = run::target_dir().join(format!("xtask-api-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Self(dir))
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The server; killed if the run ends before it is stopped.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn npp(binary: &Path, args: &[&str]) -> Result<String> {
    let mut command = Command::new(binary);
    command.args(args);
    let output = run::output(command)?;
    if !output.status.success() {
        bail!(
            "`npp {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn start(binary: &Path, scratch: &Scratch) -> Result<Server> {
    let mut child = Command::new(binary)
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(scratch.path("api.db"))
        .args(["--keys", &scratch.path("keys.toml")])
        .args(["--policy", &scratch.path("policy.toml")])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start npp serve")?;
    let stdout = child.stdout.take().context("npp serve has no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("npp serve: listening on ") {
                let _ = tx.send(url.trim().to_owned());
            }
        }
    });
    let mut server = Server {
        child,
        url: String::new(),
    };
    server.url = rx
        .recv_timeout(STARTUP)
        .context("npp serve did not say where it listens")?;
    Ok(server)
}

fn stop(mut server: Server) -> Result<()> {
    let pid = server.child.id().to_string();
    run::status({
        let mut kill = Command::new("kill");
        kill.args(["-TERM", &pid]);
        kill
    })?;
    let started = Instant::now();
    loop {
        if let Some(status) = server.child.try_wait()? {
            if !status.success() {
                bail!("npp serve exited with {status} after SIGTERM");
            }
            return Ok(());
        }
        if started.elapsed() > SHUTDOWN {
            bail!("npp serve did not stop within {SHUTDOWN:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Builds npp, starts it, runs schemathesis against it, stops it and verifies its store.
pub fn api() -> Result<Outcome> {
    ensure_schemathesis()?;
    run::cargo(&["build", "-p", "npp"])?;
    let binary = run::target_dir().join("debug/npp");
    let scratch = Scratch::new()?;
    // The example policy, with the run's key as a requester, so operator requests reach the
    // application instead of stopping at the policy's 403.
    let example = std::fs::read_to_string(run::root().join("examples/policy.toml"))
        .context("cannot read examples/policy.toml")?;
    if !example.contains("[operators]\n") {
        bail!("examples/policy.toml has no [operators] table");
    }
    let policy = example.replacen(
        "[operators]\n",
        "[operators]\nschemathesis = [\"requester\"]\n",
        1,
    );
    std::fs::write(scratch.path("policy.toml"), policy).context("cannot write the policy")?;
    let added = npp(
        &binary,
        &[
            "keys",
            "add",
            "--keys",
            &scratch.path("keys.toml"),
            "--name",
            "schemathesis",
            "--role",
            "admin",
        ],
    )?;
    let token = added
        .lines()
        .last()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .context("npp keys add printed no token")?
        .to_owned();
    let server = start(&binary, &scratch)?;
    let mut schemathesis = Command::new("schemathesis");
    // Run from the scratch directory: schemathesis keeps a cache where it runs.
    let document = run::root().join("docs/openapi.json");
    schemathesis
        .current_dir(&scratch.0)
        .arg("run")
        .arg(&document)
        .args(["--url", &server.url])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", CHECKS, "--max-examples", MAX_EXAMPLES])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        // One worker: with two, hypothesis parses lambdas' source from both threads at once, and
        // CPython 3.11's parser can fail on that ("AST constructor recursion depth mismatch"),
        // ending a run whose every case passed.
        .args(["--workers", "1", "--request-timeout", "15"]);
    let tested = run::status(schemathesis);
    let stopped = stop(server);
    tested.context("schemathesis found responses the OpenAPI document does not allow")?;
    stopped?;
    npp(
        &binary,
        &["store", "verify", "--db", &scratch.path("api.db")],
    )
    .context("the store the API wrote does not verify")?;
    Ok(Outcome::Passed)
}
