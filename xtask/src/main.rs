//! `cargo xtask`: the project's automation. `cargo xtask ci` runs every check and prints a table;
//! each check is also a subcommand, so GitHub Actions and a developer run exactly the same thing.

mod api;
mod bench_peer;
mod categories;
mod ci;
mod fuzz;
mod guard;
mod run;
mod tools;

use std::process::ExitCode;

use ci::Outcome;

const USAGE: &str = "usage: cargo xtask <command> [args]

  ci                  run every check below and print a summary table (check, result, seconds)
  fmt                 cargo fmt --check
  clippy              cargo clippy --workspace --all-targets -- -D warnings
  test                the whole test suite (cargo nextest, or cargo test when nextest is missing)
                      and the doc tests
  tests <category>    one test category: invariants, replay, ops or evidence; fails when the
                      package exists but its test binary is empty
  guardrails [RULE..] the architecture rules (all, or the named rule ids); prints
                      path:line:col: error[rule-id]: message
  deny                cargo deny check licenses bans sources (offline; installs cargo-deny when
                      missing)
  advisories          cargo deny check advisories (needs the network; run in GitHub Actions)
  workflow            validate .github/workflows/npp-guardrails.yml against the GitHub workflow
                      schema (installs check-jsonschema when missing)
  docs                rustdoc with warnings denied
  api                 schemathesis (installed when missing) against a live npp serve and
                      docs/openapi.json: no 5xx, every status, content type and body as
                      documented; then SIGTERM (exit 0) and npp store verify
  fuzz [--seconds N] [TARGET..]
                      coverage-guided fuzzing (cargo-fuzz, installed when missing) of every
                      parser that takes outside input: history, pacs002, pacs008, evidence;
                      N seconds per target (default 60); fails naming the target and the
                      saved input when one crashes
  bench-peer [--memory-payments N] [--postgres-payments N] [--database-url URL]
             [--peer DIR] [--skip-postgres]
                      npp loadtest beside the peer (cqrs-es 0.5, ../shared/bench/peer-cqrs) on
                      the same store, payments and concurrency; prints a Markdown table with
                      the ratio (docs/PERFORMANCE.md)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((task, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let outcome = match task.as_str() {
        "ci" => return ci::ci(),
        "fmt" => run::fmt(),
        "clippy" => run::clippy(),
        "test" => run::test(),
        "docs" => run::docs(),
        "tests" => match rest {
            [name] => categories::run_named(name),
            _ => {
                eprintln!(
                    "usage: cargo xtask tests <{}>",
                    categories::names().join("|")
                );
                return ExitCode::from(2);
            }
        },
        "guardrails" => guard::run(rest),
        "deny" => tools::deny(),
        "api" => api::api(),
        "advisories" => tools::advisories(),
        "workflow" => tools::workflow(),
        "fuzz" => match fuzz::parse_args(rest) {
            Ok(args) => fuzz::run(&args),
            Err(message) => {
                eprintln!("{message}\n{}", fuzz::USAGE);
                return ExitCode::from(2);
            }
        },
        "bench-peer" => match bench_peer::parse_args(rest) {
            Ok(args) => bench_peer::run(&args),
            Err(message) => {
                eprintln!("{message}\n{}", bench_peer::USAGE);
                return ExitCode::from(2);
            }
        },
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("unknown command {task:?}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(Outcome::Passed) => ExitCode::SUCCESS,
        Ok(Outcome::Skipped(note)) => {
            eprintln!("xtask {task}: skipped ({note})");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xtask {task}: {e:#}");
            ExitCode::FAILURE
        }
    }
}
