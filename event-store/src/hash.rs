//! The hash chain of a stream: each event's hash covers its predecessor's hash and its own
//! envelope, so changing any stored byte breaks every later link.

use std::fmt;

use core_npp::Timestamp;
use sha2::{Digest, Sha256};

/// A SHA-256 link of the chain.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventHash([u8; 32]);

impl EventHash {
    /// The predecessor of a stream's first event: 32 zero bytes.
    pub const GENESIS: EventHash = EventHash([0; 32]);

    /// Wraps 32 bytes read back from a store.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses bytes of unknown length, as a database column returns them.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lower-case hex characters.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for EventHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventHash({})", self.to_hex())
    }
}

impl fmt::Display for EventHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The envelope fields a link covers. The global position is not covered: the database assigns
/// it, and per-stream order is fixed by the version, which is.
pub struct ChainInput<'a> {
    /// The stream id.
    pub stream_id: &'a str,
    /// The 1-based version.
    pub version: u32,
    /// The event type.
    pub event_type: &'a str,
    /// The payload schema version.
    pub schema_version: u16,
    /// When it happened.
    pub occurred_at: Timestamp,
    /// When the store accepted it.
    pub recorded_at: Timestamp,
    /// The correlation id.
    pub correlation_id: Option<&'a str>,
    /// The causation id.
    pub causation_id: Option<&'a str>,
    /// The payload bytes (JSON).
    pub payload: &'a str,
}

/// SHA-256 over `"NPPEVENT"`, a u16 version 1, the predecessor's hash and the envelope, each
/// string as a u32 big-endian length and its bytes, times as i128 nanoseconds, options as a 0/1
/// byte then the value.
pub fn chain_hash(prev: &EventHash, input: &ChainInput<'_>) -> EventHash {
    let mut h = Sha256::new();
    h.update(b"NPPEVENT");
    h.update(1u16.to_be_bytes());
    h.update(prev.0);
    let put_str = |h: &mut Sha256, s: &str| {
        h.update(u32::try_from(s.len()).unwrap_or(u32::MAX).to_be_bytes());
        h.update(s.as_bytes());
    };
    put_str(&mut h, input.stream_id);
    h.update(input.version.to_be_bytes());
    put_str(&mut h, input.event_type);
    h.update(input.schema_version.to_be_bytes());
    h.update(input.occurred_at.unix_nanos().to_be_bytes());
    h.update(input.recorded_at.unix_nanos().to_be_bytes());
    for id in [input.correlation_id, input.causation_id] {
        match id {
            None => h.update([0u8]),
            Some(id) => {
                h.update([1u8]);
                put_str(&mut h, id);
            }
        }
    }
    put_str(&mut h, input.payload);
    EventHash(h.finalize().into())
}
