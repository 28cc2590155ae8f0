//! The hash at the head of recently written streams, remembered by a writer so that an append
//! need not read its predecessor's hash back. A stored event never changes, so a remembered
//! (stream, version, hash) stays true: a stale entry can only miss, never mislead.

use std::collections::HashMap;

use event_store::{EventHash, StreamId};

/// The most stream heads remembered; past it the cache starts over (it is only a shortcut).
/// A few thousand covers every stream in flight in one group-commit batch and then some.
const MAX_CACHED_HEADS: usize = 4_096;

/// Heads written by the open transaction stay `pending` until it commits.
#[derive(Default)]
pub(crate) struct Heads {
    committed: HashMap<String, (u32, EventHash)>,
    pending: HashMap<String, (u32, EventHash)>,
}

impl Heads {
    /// The hash version `version` of `stream` ends with, if remembered.
    pub(crate) fn get(&self, stream: &StreamId, version: u32) -> Option<EventHash> {
        self.pending
            .get(stream.as_str())
            .or_else(|| self.committed.get(stream.as_str()))
            .filter(|(v, _)| *v == version)
            .map(|(_, hash)| *hash)
    }

    /// Notes a head the open transaction wrote.
    pub(crate) fn note(&mut self, stream: &StreamId, version: u32, hash: EventHash) {
        self.pending
            .insert(stream.as_str().to_owned(), (version, hash));
    }

    /// The open transaction committed: its heads are facts now.
    pub(crate) fn commit(&mut self) {
        if self.committed.len() + self.pending.len() > MAX_CACHED_HEADS {
            self.committed.clear();
        }
        self.committed.extend(self.pending.drain());
    }

    /// The open transaction rolled back: forget what it wrote.
    pub(crate) fn roll_back(&mut self) {
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn stream(name: &str) -> StreamId {
        StreamId::parse(name).unwrap()
    }

    #[test]
    fn a_head_is_known_only_at_its_version_and_only_once_committed_or_pending() {
        let mut heads = Heads::default();
        let (s, hash) = (stream("s-1"), EventHash::GENESIS);
        heads.note(&s, 3, hash);
        assert_eq!(heads.get(&s, 3), Some(hash));
        assert_eq!(heads.get(&s, 2), None);
        heads.roll_back();
        assert_eq!(heads.get(&s, 3), None);
        heads.note(&s, 4, hash);
        heads.commit();
        assert_eq!(heads.get(&s, 4), Some(hash));
        assert_eq!(heads.get(&stream("s-2"), 4), None);
    }

    #[test]
    fn the_cache_starts_over_past_its_bound() {
        let mut heads = Heads::default();
        for n in 0..=MAX_CACHED_HEADS {
            heads.note(&stream(&format!("s-{n}")), 1, EventHash::GENESIS);
            heads.commit();
        }
        assert!(heads.committed.len() <= MAX_CACHED_HEADS);
    }
}
