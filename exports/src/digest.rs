//! SHA-256 digests as they appear in a pack (64 lower-case hex characters), and the event chain.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// A SHA-256 digest. Its only text form is 64 lower-case hex characters, so that one digest has
/// one spelling and a changed letter case is a changed pack.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256Digest([u8; 32]);

impl Sha256Digest {
    /// The link before the first event: 32 zero bytes.
    pub const GENESIS: Sha256Digest = Sha256Digest([0; 32]);

    /// SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// SHA-256 of the previous link's 32 bytes followed by `bytes`: one link of a hash chain.
    pub fn chained(previous: &Sha256Digest, bytes: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(previous.0);
        hasher.update(bytes);
        Self(hasher.finalize().into())
    }

    /// Wraps 32 bytes computed elsewhere (the core's state hash).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lower-case hex characters.
    pub fn to_hex(&self) -> String {
        hex_encode(&self.0)
    }

    /// Parses exactly 64 lower-case hex characters.
    pub fn parse_hex(text: &str) -> Option<Self> {
        hex_decode::<32>(text).map(Self)
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Digest({})", self.to_hex())
    }
}

impl Serialize for Sha256Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Sha256Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HexVisitor;
        impl Visitor<'_> for HexVisitor {
            type Value = Sha256Digest;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a SHA-256 digest as 64 lower-case hex characters")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Sha256Digest, E> {
                Sha256Digest::parse_hex(text).ok_or_else(|| {
                    E::custom(format!(
                        "{text:?} is not a SHA-256 digest (64 lower-case hex characters)"
                    ))
                })
            }
        }
        deserializer.deserialize_str(HexVisitor)
    }
}

/// Lower-case hex of any bytes.
pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        for nibble in [byte >> 4, byte & 0x0f] {
            out.push(char::from(
                DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0'),
            ));
        }
    }
    out
}

/// Exactly `2 * N` lower-case hex characters as `N` bytes; anything else is `None`.
pub fn hex_decode<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (slot, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let [high, low] = pair else { return None };
        *slot = (lower_hex_value(*high)? << 4) | lower_hex_value(*low)?;
    }
    Some(out)
}

fn lower_hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sha256_of_abc_is_the_fips_180_value() {
        assert_eq!(
            Sha256Digest::of(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_link_hashes_the_previous_bytes_then_the_content() {
        let mut joined = vec![0u8; 32];
        joined.extend_from_slice(b"event");
        assert_eq!(
            Sha256Digest::chained(&Sha256Digest::GENESIS, b"event"),
            Sha256Digest::of(&joined)
        );
    }

    #[test]
    fn hex_has_one_spelling() {
        let digest = Sha256Digest::of(b"abc");
        assert_eq!(Sha256Digest::parse_hex(&digest.to_hex()), Some(digest));
        assert_eq!(
            Sha256Digest::parse_hex(&digest.to_hex().to_uppercase()),
            None
        );
        assert_eq!(Sha256Digest::parse_hex("ab"), None);
        assert_eq!(hex_decode::<1>("0g"), None);
        assert_eq!(hex_decode::<2>("00ff"), Some([0, 255]));
    }
}
