//! Writing output files safely: a file appears whole or not at all (written to a temporary file
//! beside it, flushed to disk, then renamed over), and nothing but an earlier file of the same
//! kind is ever replaced, so a key or an unrelated file is never clobbered by a mistyped `-o`.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The first line of a private key file this version writes; a public key file is one line of
/// hex, so the two can never be mistaken for each other.
pub const PRIVATE_KEY_HEADER: &str = "NPP-EVIDENCE-ED25519-PRIVATE-KEY";

/// Writes `bytes` to `path` atomically. An existing file is replaced only if `replaceable` says
/// its first bytes are a file of the kind being written; any other file is refused, naming it.
pub fn write_atomic(
    path: &Path,
    bytes: &[u8],
    what: &str,
    replaceable: impl Fn(&[u8]) -> bool,
) -> Result<(), String> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            return Err(format!("{} is a directory", path.display()));
        }
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(format!(
                "{} is a symbolic link; refusing to write through it",
                path.display()
            ));
        }
        Ok(_) => {
            let existing = read_head(path)?;
            if !replaceable(&existing) {
                return Err(format!(
                    "{} exists and is not {what}; refusing to replace it (it could be a key or \
                     another file you need): choose another path or remove it first",
                    path.display()
                ));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot look at {}: {e}", path.display())),
    }
    let temporary = temporary_beside(path);
    let written = write_synced(&temporary, bytes, 0o644)
        .and_then(|()| {
            fs::rename(&temporary, path)
                .map_err(|e| format!("cannot move the new file into place: {e}"))
        })
        .and_then(|()| sync_dir(path));
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written.map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The first 4 KiB of a file: enough to tell what kind it is.
fn read_head(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut head = Vec::new();
    fs::File::open(path)
        .and_then(|f| f.take(4096).read_to_end(&mut head))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(head)
}

fn temporary_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "npp-output".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Creates `path` anew (never through an existing entry), writes and flushes it to disk.
pub fn write_synced(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Flushes the directory holding `path`, so a rename into it survives a crash.
fn sync_dir(path: &Path) -> Result<(), String> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("cannot flush {}: {e}", dir.display()))
}

/// Whether anything at all is at `path`, a dangling symbolic link included.
pub fn occupied(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// Creates `dir` (and its parents) readable by its owner only where it did not exist.
pub fn create_private_dir(dir: &Path) -> Result<(), String> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// Whether the bytes begin an evidence pack (what `npp evidence export` may replace).
pub fn is_evidence_pack(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    text.trim_start().starts_with('{') && text.contains("\"format\":\"npp-evidence-pack\"")
}
