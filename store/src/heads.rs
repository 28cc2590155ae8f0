//! The hash at the head of recently committed streams, remembered by a writer so that an append
//! need not read its predecessor's hash back. A committed event never changes, so a remembered
//! (stream, version, hash) stays true: a stale entry can only miss, never mislead. Heads written
//! by an open transaction are tracked by the append algorithm itself and noted here only after
//! the commit.

use std::collections::HashMap;

use event_store::{EventHash, StreamId};

/// The most stream heads remembered; past it the cache starts over (it is only a shortcut).
/// A few thousand covers every stream in flight in one group-commit batch and then some.
pub(crate) const MAX_CACHED_HEADS: usize = 4_096;

/// Committed heads, by stream.
pub(crate) struct Heads {
    committed: HashMap<String, (u32, EventHash)>,
    enabled: bool,
}

impl Default for Heads {
    fn default() -> Self {
        Self {
            committed: HashMap::new(),
            enabled: true,
        }
    }
}

impl Heads {
    /// A cache that remembers nothing, for an engine whose reads cost nothing.
    pub(crate) fn disabled() -> Self {
        Self {
            committed: HashMap::new(),
            enabled: false,
        }
    }

    /// The hash version `version` of `stream` ends with, if remembered.
    pub(crate) fn get(&self, stream: &StreamId, version: u32) -> Option<EventHash> {
        self.committed
            .get(stream.as_str())
            .filter(|(v, _)| *v == version)
            .map(|(_, hash)| *hash)
    }

    /// Notes a committed head.
    pub(crate) fn note(&mut self, stream: &StreamId, version: u32, hash: EventHash) {
        if !self.enabled {
            return;
        }
        if self.committed.len() >= MAX_CACHED_HEADS && !self.committed.contains_key(stream.as_str())
        {
            self.committed.clear();
        }
        match self.committed.get_mut(stream.as_str()) {
            Some(head) => *head = (version, hash),
            None => {
                self.committed
                    .insert(stream.as_str().to_owned(), (version, hash));
            }
        }
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
    fn a_head_is_known_only_at_its_version() {
        let mut heads = Heads::default();
        let (s, hash) = (stream("s-1"), EventHash::GENESIS);
        heads.note(&s, 3, hash);
        assert_eq!(heads.get(&s, 3), Some(hash));
        assert_eq!(heads.get(&s, 2), None);
        heads.note(&s, 4, hash);
        assert_eq!(heads.get(&s, 3), None);
        assert_eq!(heads.get(&s, 4), Some(hash));
        assert_eq!(heads.get(&stream("s-2"), 4), None);
    }

    #[test]
    fn the_cache_starts_over_past_its_bound() {
        let mut heads = Heads::default();
        for n in 0..=MAX_CACHED_HEADS {
            heads.note(&stream(&format!("s-{n}")), 1, EventHash::GENESIS);
        }
        assert!(heads.committed.len() <= MAX_CACHED_HEADS);
    }

    #[test]
    fn a_disabled_cache_remembers_nothing() {
        let mut heads = Heads::disabled();
        heads.note(&stream("s-1"), 1, EventHash::GENESIS);
        assert_eq!(heads.get(&stream("s-1"), 1), None);
    }
}
