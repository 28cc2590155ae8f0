//! API keys: who may call the API, in which role. The keys file (TOML) holds each key's name, role
//! and the SHA-256 of its token, never the token itself: a copy of the file lets nobody in.
//!
//! ```toml
//! [[key]]
//! name = "alice"
//! role = "operator"
//! token_sha256 = "5f1c..."
//! created_at = "2026-12-01T09:30:00Z"
//! # revoked_at = "2026-12-02T08:00:00Z"
//! ```
//!
//! A key's name is the operator id the maker-checker policy knows: an operator approving through
//! the API is whoever holds the token, never a name in the request.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use core_npp::{OperatorId, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::KeysError;

/// The most keys a file may hold.
pub const MAX_KEYS: usize = 10_000;
/// The largest keys file read, in bytes.
pub const MAX_KEYS_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Every token starts with this, so a leaked one is easy to recognise (and to scan for).
pub const TOKEN_PREFIX: &str = "npp_";
/// Random bytes in a token (then hex-encoded): 256 bits.
const TOKEN_BYTES: usize = 32;
/// The longest `Authorization` token looked at.
pub const MAX_TOKEN_CHARS: usize = 128;
/// How often a running server looks at the file again (so a revocation takes effect).
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// What a key may do.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A channel (internet banking, core banking): creates payments and reads them.
    Channel,
    /// An operator: reads, works the operator queue, requests and approves actions.
    Operator,
    /// An auditor: reads payments, histories and evidence packs.
    Auditor,
    /// Every role.
    Admin,
}

impl Role {
    /// Parses `channel`, `operator`, `auditor` or `admin`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "channel" => Some(Self::Channel),
            "operator" => Some(Self::Operator),
            "auditor" => Some(Self::Auditor),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// The role's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Channel => "channel",
            Self::Operator => "operator",
            Self::Auditor => "auditor",
            Self::Admin => "admin",
        }
    }

    /// Whether a key of this role may act as `needed`.
    pub fn grants(self, needed: Role) -> bool {
        self == needed || self == Self::Admin
    }
}

/// One key.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// Who holds it: the operator id the policy knows, or the channel's name.
    pub name: OperatorId,
    /// What it may do.
    pub role: Role,
    /// SHA-256 of the token, lower-case hex.
    pub token_sha256: String,
    /// When it was made (RFC 3339, UTC).
    pub created_at: Timestamp,
    /// When it was revoked, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
}

/// A keys file's contents.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    /// The keys, oldest first.
    #[serde(default, rename = "key")]
    pub keys: Vec<KeyEntry>,
}

/// The hash a token is kept as.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new random token.
pub fn new_token() -> Result<String, KeysError> {
    let bytes = random_hex(TOKEN_BYTES).map_err(|e| KeysError::NoRandomness(e.to_string()))?;
    Ok(format!("{TOKEN_PREFIX}{bytes}"))
}

/// `bytes` random bytes from the operating system, as lower-case hex.
pub(crate) fn random_hex(bytes: usize) -> Result<String, getrandom::Error> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer)?;
    Ok(hex(&buffer))
}

impl KeyFile {
    /// Reads a keys file; a missing file is an empty one only when `missing_is_empty`.
    pub fn load(path: &Path, missing_is_empty: bool) -> Result<Self, KeysError> {
        let file = |why: String| KeysError::File {
            path: path.to_path_buf(),
            why,
        };
        let size = match std::fs::metadata(path) {
            Ok(meta) if meta.is_file() => meta.len(),
            Ok(_) => return Err(file("is not a regular file".into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && missing_is_empty => {
                return Ok(Self::default());
            }
            Err(e) => return Err(file(e.to_string())),
        };
        if size > MAX_KEYS_FILE_BYTES {
            return Err(file(format!(
                "is {size} bytes; a keys file holds at most {MAX_KEYS_FILE_BYTES}"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| file(e.to_string()))?;
        Self::parse(&text).map_err(|why| file(why.to_string()))
    }

    /// Parses a keys file's text, checking that names and token hashes are unique.
    pub fn parse(text: &str) -> Result<Self, KeysError> {
        let parsed: Self = toml::from_str(text).map_err(|e| KeysError::Malformed(e.to_string()))?;
        parsed.check()?;
        Ok(parsed)
    }

    fn check(&self) -> Result<(), KeysError> {
        if self.keys.len() > MAX_KEYS {
            return Err(KeysError::Malformed(format!(
                "{} keys; a file holds at most {MAX_KEYS}",
                self.keys.len()
            )));
        }
        let mut names = std::collections::HashSet::new();
        let mut hashes = std::collections::HashSet::new();
        for (index, key) in self.keys.iter().enumerate() {
            let at = format!("key {} ({})", index + 1, key.name);
            if key.token_sha256.len() != 64
                || !key
                    .token_sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(KeysError::Malformed(format!(
                    "{at}: token_sha256 is not 64 lower-case hex digits"
                )));
            }
            if !names.insert(key.name.as_str().to_ascii_lowercase()) {
                return Err(KeysError::Malformed(format!(
                    "{at}: the name is used by an earlier key (names compare without case)"
                )));
            }
            if !hashes.insert(key.token_sha256.as_str()) {
                return Err(KeysError::Malformed(format!(
                    "{at}: the token hash is an earlier key's"
                )));
            }
        }
        Ok(())
    }

    /// The file's text.
    pub fn to_toml(&self) -> Result<String, KeysError> {
        let body = toml::to_string(self).map_err(|e| KeysError::Malformed(e.to_string()))?;
        Ok(format!(
            "# npp API keys: each key's name, role and the SHA-256 of its token (never the \
             token).\n# Manage with `npp keys add|list|revoke`.\n\n{body}"
        ))
    }

    /// Adds a key named `name` in `role`; the token, returned, is shown once and kept nowhere.
    pub fn add(
        &mut self,
        name: OperatorId,
        role: Role,
        now: Timestamp,
    ) -> Result<String, KeysError> {
        if self.keys.iter().any(|k| k.name.is_same_operator(&name)) {
            return Err(KeysError::NameTaken(name.to_string()));
        }
        if self.keys.len() >= MAX_KEYS {
            return Err(KeysError::Malformed(format!(
                "the file already holds {MAX_KEYS} keys"
            )));
        }
        let token = new_token()?;
        self.keys.push(KeyEntry {
            name,
            role,
            token_sha256: token_hash(&token),
            created_at: now,
            revoked_at: None,
        });
        Ok(token)
    }

    /// Revokes the key named `name` (at once for a running server, within [`RELOAD_INTERVAL`]).
    pub fn revoke(&mut self, name: &OperatorId, now: Timestamp) -> Result<(), KeysError> {
        let key = self
            .keys
            .iter_mut()
            .find(|k| k.name.is_same_operator(name))
            .ok_or_else(|| KeysError::UnknownName(name.to_string()))?;
        if key.revoked_at.is_some() {
            return Err(KeysError::AlreadyRevoked(name.to_string()));
        }
        key.revoked_at = Some(now);
        Ok(())
    }
}

/// Writes the keys file atomically (a temporary file renamed over it), readable by its owner only.
pub fn save(path: &Path, keys: &KeyFile) -> Result<(), KeysError> {
    let text = keys.to_toml()?;
    let file = |why: String| KeysError::File {
        path: path.to_path_buf(),
        why,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| file("names no file".into()))?;
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    write_private(&temporary, &text).map_err(|e| file(e.to_string()))?;
    std::fs::rename(&temporary, path).map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        file(e.to_string())
    })
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// An authenticated caller.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Caller {
    /// The key's name: the operator id for the policy.
    pub name: OperatorId,
    /// The key's role.
    pub role: Role,
}

struct Loaded {
    by_hash: HashMap<String, Caller>,
    modified: Option<SystemTime>,
    checked: Instant,
}

/// The keys a running server accepts: the file, looked at again at most every
/// [`RELOAD_INTERVAL`] and re-read when it changed, so `npp keys revoke` takes effect without a
/// restart. A file that stops parsing keeps the last good keys (and says so in the log).
pub struct KeyRing {
    path: PathBuf,
    loaded: Mutex<Loaded>,
}

fn index(file: &KeyFile) -> HashMap<String, Caller> {
    file.keys
        .iter()
        .filter(|k| k.revoked_at.is_none())
        .map(|k| {
            (
                k.token_sha256.clone(),
                Caller {
                    name: k.name,
                    role: k.role,
                },
            )
        })
        .collect()
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl KeyRing {
    /// Loads the keys file (which must exist).
    pub fn open(path: &Path) -> Result<Self, KeysError> {
        let file = KeyFile::load(path, false)?;
        Ok(Self {
            path: path.to_path_buf(),
            loaded: Mutex::new(Loaded {
                by_hash: index(&file),
                modified: modified(path),
                checked: Instant::now(),
            }),
        })
    }

    /// Keys from a value, for tests and embedding (never re-read).
    pub fn fixed(file: &KeyFile) -> Self {
        Self {
            path: PathBuf::new(),
            loaded: Mutex::new(Loaded {
                by_hash: index(file),
                modified: None,
                checked: Instant::now(),
            }),
        }
    }

    /// The caller a token belongs to, if it is a live key's.
    pub fn authenticate(&self, token: &str) -> Option<Caller> {
        if token.len() > MAX_TOKEN_CHARS || !token.starts_with(TOKEN_PREFIX) {
            return None;
        }
        let hash = token_hash(token);
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        self.refresh(&mut loaded);
        loaded.by_hash.get(&hash).cloned()
    }

    fn refresh(&self, loaded: &mut Loaded) {
        if self.path.as_os_str().is_empty() || loaded.checked.elapsed() < RELOAD_INTERVAL {
            return;
        }
        loaded.checked = Instant::now();
        let now = modified(&self.path);
        if now == loaded.modified {
            return;
        }
        match KeyFile::load(&self.path, false) {
            Ok(file) => {
                loaded.by_hash = index(&file);
                loaded.modified = now;
                tracing::info!(path = %self.path.display(), keys = loaded.by_hash.len(), "keys file re-read");
            }
            Err(e) => {
                tracing::error!(error = %e, "keys file changed but cannot be read; keeping the keys read before");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix_nanos(1_780_000_000_000_000_000 + i128::from(seconds) * 1_000_000_000)
            .unwrap()
    }

    fn name(raw: &str) -> OperatorId {
        OperatorId::parse(raw).unwrap()
    }

    #[test]
    fn a_token_authenticates_its_key_until_revoked_and_the_file_never_holds_it() {
        // Given a file with one operator key
        let mut file = KeyFile::default();
        let token = file.add(name("alice"), Role::Operator, at(0)).unwrap();
        let text = file.to_toml().unwrap();
        // Then the text holds the token's hash, not the token
        assert!(!text.contains(&token), "{text}");
        assert!(text.contains(&token_hash(&token)), "{text}");
        // And the token authenticates alice, as an operator
        let ring = KeyRing::fixed(&KeyFile::parse(&text).unwrap());
        let caller = ring.authenticate(&token).unwrap();
        assert_eq!((caller.name, caller.role), (name("alice"), Role::Operator));
        assert!(ring.authenticate("npp_0000").is_none());
        assert!(ring.authenticate(&token.replace("npp_", "xyz_")).is_none());
        // When it is revoked, it authenticates nobody
        file.revoke(&name("ALICE"), at(5)).unwrap();
        assert!(KeyRing::fixed(&file).authenticate(&token).is_none());
        assert!(matches!(
            file.revoke(&name("alice"), at(6)),
            Err(KeysError::AlreadyRevoked(_))
        ));
    }

    #[test]
    fn names_are_unique_without_case_and_bad_files_say_where() {
        let mut file = KeyFile::default();
        file.add(name("bob"), Role::Channel, at(0)).unwrap();
        assert!(matches!(
            file.add(name("Bob"), Role::Operator, at(1)),
            Err(KeysError::NameTaken(_))
        ));
        let bad = "[[key]]\nname = \"x\"\nrole = \"operator\"\ntoken_sha256 = \"abc\"\ncreated_at = \"2026-12-01T00:00:00Z\"\n";
        let e = KeyFile::parse(bad).unwrap_err().to_string();
        assert!(
            e.contains("key 1 (x)") && e.contains("64 lower-case hex"),
            "{e}"
        );
        let unknown = "[[key]]\nname = \"x\"\nrole = \"root\"\ntoken_sha256 = \"abc\"\ncreated_at = \"2026-12-01T00:00:00Z\"\n";
        let e = KeyFile::parse(unknown).unwrap_err().to_string();
        assert!(e.contains("root"), "{e}");
    }

    #[test]
    fn admin_grants_every_role_and_others_only_their_own() {
        for role in [Role::Channel, Role::Operator, Role::Auditor] {
            assert!(Role::Admin.grants(role));
            assert!(role.grants(role));
        }
        assert!(!Role::Channel.grants(Role::Operator));
        assert!(!Role::Auditor.grants(Role::Channel));
        assert_eq!(Role::parse("auditor"), Some(Role::Auditor));
        assert_eq!(Role::parse("Auditor"), None);
    }
}
