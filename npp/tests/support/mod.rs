//! What several of the binary's test files share: the PostgreSQL server the tests may use, and
//! reading a successful run's JSON.
// Each test file uses what it needs of this.
#![allow(dead_code)]

/// The test server's URL (`NPP_TEST_DATABASE_URL`, default the local `test` database), or
/// `None` with a loud note when it is not reachable; under `CI` that is a failure instead.
pub fn database_url() -> Option<String> {
    let url = std::env::var("NPP_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    if postgres::Client::connect(&url, postgres::NoTls).is_ok() {
        return Some(url);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "PostgreSQL is not reachable at {url}; CI is set, so this fails"
    );
    eprintln!(
        "SKIPPING POSTGRESQL TEST: PostgreSQL is not reachable at {url} (set NPP_TEST_DATABASE_URL)"
    );
    None
}

/// The JSON object a run printed, after checking it exited 0 (else its stderr is the message).
pub fn json_of(output: &std::process::Output) -> serde_json::Value {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}
