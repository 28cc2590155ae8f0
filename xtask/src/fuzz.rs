//! `cargo xtask fuzz [--seconds N] [TARGET...]`: coverage-guided fuzzing of every parser that takes
//! outside input, with cargo-fuzz (libFuzzer). The targets are the files of `fuzz/fuzz_targets/`;
//! all are built once, then each runs for N seconds from its committed seeds (`fuzz/corpus/<t>/`,
//! never written to) and its local corpus (`fuzz/work/<t>/`, git-ignored, grows between runs). A
//! crash (panic, overflow, timeout, out of memory) fails the run naming the target and the saved
//! input under `fuzz/artifacts/<t>/`. `cargo xtask ci` runs a short smoke of every target.
//!
//! cargo-fuzz needs nightly compiler flags; on a stable toolchain they are allowed with
//! `RUSTC_BOOTSTRAP=1`, set here for the fuzz build only.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::ci::Outcome;
use crate::run;

/// How long each target runs by default, in seconds.
pub const DEFAULT_SECONDS: u64 = 60;
/// How long each target runs in `cargo xtask ci` (the `fuzz-smoke` row), in seconds.
pub const SMOKE_SECONDS: u64 = 15;
/// An input that takes longer than this, in seconds, is reported as a crash (a hang).
const TIMEOUT_SECONDS: u64 = 10;
/// A run that holds more than this much memory, in MiB, is reported as a crash (out of memory).
const RSS_LIMIT_MB: u64 = 2048;

/// The cargo-fuzz build options, the same for `build` and `run` so that `run` never rebuilds.
/// AddressSanitizer (cargo-fuzz's default) stays on: our crates forbid `unsafe`, but serde_json,
/// roxmltree, sha2 and ed25519-dalek have some, and the instrumented build is only about a minute
/// on 2 cores. Debug assertions (so overflow checks) are on, as cargo-fuzz does by default.
const BUILD_OPTIONS: [&str; 2] = ["--sanitizer", "address"];

/// What `cargo xtask fuzz` was asked to do.
#[derive(Debug, PartialEq, Eq)]
pub struct FuzzArgs {
    /// Seconds per target.
    pub seconds: u64,
    /// The targets to run; empty means every target.
    pub targets: Vec<String>,
}

/// The usage line of `cargo xtask fuzz`.
pub const USAGE: &str = "usage: cargo xtask fuzz [--seconds N] [TARGET...]";

/// Parses `[--seconds N] [TARGET...]`; the error is a usage message.
pub fn parse_args(args: &[String]) -> Result<FuzzArgs, String> {
    let mut seconds = DEFAULT_SECONDS;
    let mut targets = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value = if arg == "--seconds" {
            Some(
                args.next()
                    .ok_or("--seconds needs a number of seconds")?
                    .as_str(),
            )
        } else {
            arg.strip_prefix("--seconds=")
        };
        match value {
            Some(value) => {
                seconds = value
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("--seconds {value:?} is not a positive number"))?;
            }
            None if arg.starts_with('-') => return Err(format!("unknown option {arg:?}")),
            None => targets.push(arg.clone()),
        }
    }
    Ok(FuzzArgs { seconds, targets })
}

/// `cargo xtask fuzz`: the named targets (or all) for `args.seconds` each.
pub fn run(args: &FuzzArgs) -> Result<Outcome> {
    fuzz(&args.targets, args.seconds)
}

/// The `fuzz-smoke` row of `cargo xtask ci`: every target for [`SMOKE_SECONDS`].
pub fn smoke() -> Result<Outcome> {
    fuzz(&[], SMOKE_SECONDS)
}

fn fuzz_dir() -> PathBuf {
    run::root().join("fuzz")
}

/// The fuzz targets: the `.rs` files of `fuzz/fuzz_targets/`, sorted.
pub fn targets() -> Result<Vec<String>> {
    let dir = fuzz_dir().join("fuzz_targets");
    let entries =
        std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?;
    let mut names = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot list {}", dir.display()))?
            .path();
        if path.extension().is_some_and(|e| e == "rs")
            && let Some(stem) = path.file_stem()
        {
            names.push(stem.to_string_lossy().into_owned());
        }
    }
    names.sort();
    if names.is_empty() {
        bail!("no fuzz targets in {}", dir.display());
    }
    Ok(names)
}

fn fuzz(requested: &[String], seconds: u64) -> Result<Outcome> {
    let all = targets()?;
    let unknown: Vec<&String> = requested.iter().filter(|t| !all.contains(t)).collect();
    if !unknown.is_empty() {
        bail!(
            "unknown fuzz target {}; the targets are {}",
            unknown
                .iter()
                .map(|t| format!("{t:?}"))
                .collect::<Vec<_>>()
                .join(", "),
            all.join(", ")
        );
    }
    let chosen = if requested.is_empty() {
        all
    } else {
        requested.to_vec()
    };
    ensure_cargo_fuzz()?;
    let started = Instant::now();
    let mut build = fuzz_command(&["build"]);
    build.args(BUILD_OPTIONS);
    // `cargo fuzz build` takes one target or none (all of them).
    if let [only] = chosen.as_slice() {
        build.arg(only);
    }
    run::status(build).context("cannot build the fuzz targets")?;
    eprintln!(
        "fuzz targets built in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let mut crashes = Vec::new();
    for target in &chosen {
        if let Some(crash) = fuzz_target(target, seconds)? {
            crashes.push(crash);
        }
    }
    if !crashes.is_empty() {
        bail!("{}", crashes.join("; "));
    }
    Ok(Outcome::Passed)
}

/// `cargo fuzz <args>` from the workspace root, allowed nightly flags on a stable toolchain.
fn fuzz_command(args: &[&str]) -> std::process::Command {
    let mut command = run::cargo_command();
    command.arg("fuzz").args(args);
    if std::env::var_os("RUSTC_BOOTSTRAP").is_none() {
        command.env("RUSTC_BOOTSTRAP", "1");
    }
    command
}

fn ensure_cargo_fuzz() -> Result<()> {
    let installed = run::cargo_command()
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if installed {
        return Ok(());
    }
    eprintln!(
        "cargo-fuzz not found; installing it with `cargo install cargo-fuzz --locked` \
         (about a minute)"
    );
    run::cargo(&["install", "cargo-fuzz", "--locked"]).context("cannot install cargo-fuzz")
}

/// Runs one target for `seconds`; `Some(description)` if it crashed. The full libFuzzer output
/// is kept in `fuzz/work/<target>.log`; a summary line (or the crash report) is printed.
fn fuzz_target(target: &str, seconds: u64) -> Result<Option<String>> {
    let work = fuzz_dir().join("work");
    let local = work.join(target);
    std::fs::create_dir_all(&local)
        .with_context(|| format!("cannot create {}", local.display()))?;
    let seeds = Path::new("fuzz").join("corpus").join(target);
    let artifacts = fuzz_dir().join("artifacts").join(target);
    let before = list(&artifacts);
    let log_path = work.join(format!("{target}.log"));
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))?;
    let log_err = log
        .try_clone()
        .with_context(|| format!("cannot write {}", log_path.display()))?;

    eprintln!(
        "==> fuzz {target} for {seconds} s (log: {})",
        shown(&log_path)
    );
    let mut command = fuzz_command(&["run"]);
    command.args(BUILD_OPTIONS).arg(target);
    // New inputs go to the first corpus directory (the local one); the seeds are only read.
    command
        .arg(Path::new("fuzz").join("work").join(target))
        .arg(&seeds);
    command.arg("--");
    command.arg(format!("-max_total_time={seconds}"));
    command.arg(format!("-timeout={TIMEOUT_SECONDS}"));
    command.arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"));
    command.arg("-print_final_stats=1");
    let dict = Path::new("fuzz")
        .join("dict")
        .join(format!("{target}.dict"));
    if run::root().join(&dict).is_file() {
        command.arg(format!("-dict={}", dict.display()));
    }
    command
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err));
    let status = command
        .status()
        .with_context(|| format!("cannot run cargo fuzz run {target}"))?;
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    if status.success() {
        // libFuzzer's last status line: `#N DONE cov: .. ft: .. corp: ../..b exec/s: .. rss: ..`.
        let done = output
            .lines()
            .rev()
            .find(|l| l.contains(" DONE "))
            .or_else(|| output.lines().rev().find(|l| l.starts_with("Done ")))
            .unwrap_or("done");
        eprintln!("fuzz {target}: no crash; {}", done.trim());
        return Ok(None);
    }
    // The crash report: the last lines of the log (the panic message and stack trace).
    let lines: Vec<&str> = output.lines().collect();
    let tail = lines.len().saturating_sub(60);
    for line in lines.iter().skip(tail) {
        eprintln!("    {line}");
    }
    let new: Vec<PathBuf> = list(&artifacts)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    let found = match new.as_slice() {
        [] => format!(
            "fuzz target `{target}` failed ({status}) without saving an input; see {}",
            shown(&log_path)
        ),
        paths => format!(
            "fuzz target `{target}` crashed on {} (reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run \
             {target} {}; log: {})",
            paths
                .iter()
                .map(|p| shown(p))
                .collect::<Vec<_>>()
                .join(", "),
            paths.first().map(|p| shown(p)).unwrap_or_default(),
            shown(&log_path)
        ),
    };
    eprintln!("{found}");
    Ok(Some(found))
}

/// The files of a directory (none if it does not exist).
fn list(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// A path relative to the workspace root, for messages.
fn shown(path: &Path) -> String {
    let root = run::root();
    path.strip_prefix(&root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Result<FuzzArgs, String> {
        parse_args(&words.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn seconds_and_targets_are_read_in_any_order() {
        assert_eq!(
            args(&[]).unwrap(),
            FuzzArgs {
                seconds: DEFAULT_SECONDS,
                targets: vec![]
            }
        );
        assert_eq!(
            args(&["history", "--seconds", "5", "pacs002"]).unwrap(),
            FuzzArgs {
                seconds: 5,
                targets: vec!["history".into(), "pacs002".into()]
            }
        );
        assert_eq!(args(&["--seconds=7"]).unwrap().seconds, 7);
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        assert!(args(&["--seconds"]).is_err());
        assert!(args(&["--seconds", "0"]).is_err());
        assert!(args(&["--seconds", "ten"]).is_err());
        assert!(args(&["--minutes", "1"]).is_err());
    }

    #[test]
    fn every_target_has_committed_seeds() {
        for target in targets().unwrap() {
            let seeds = fuzz_dir().join("corpus").join(&target);
            assert!(
                !list(&seeds).is_empty(),
                "fuzz target {target} has no seeds in {}",
                seeds.display()
            );
        }
    }
}
