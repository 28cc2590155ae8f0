//! Ed25519 keys for signing a pack's proof, and their text form (64 lower-case hex characters).
//!
//! Keys are made from 32 seed bytes supplied by the caller, so this crate draws no randomness and
//! stays deterministic; the `npp evidence keygen` command takes the seed from the operating
//! system.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::digest::{hex_decode, hex_encode};
use crate::error::ExportError;

/// A private key that signs packs. Its bytes are wiped when it is dropped.
pub struct PackSigningKey(SigningKey);

impl PackSigningKey {
    /// The key whose RFC 8032 secret (seed) is `seed`. The seed must be uniformly random.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(SigningKey::from_bytes(&seed))
    }

    /// Reads a key file's text: the 32-byte seed as 64 lower-case hex characters, surrounding
    /// whitespace allowed.
    pub fn from_hex(text: &str) -> Result<Self, ExportError> {
        hex_decode::<32>(text.trim())
            .map(Self::from_seed)
            .ok_or_else(|| ExportError::BadKey {
                what: "private key",
                reason: "expected 64 lower-case hex characters (a 32-byte seed)".to_owned(),
            })
    }

    /// The seed as 64 lower-case hex characters, for the key file.
    pub fn to_hex(&self) -> String {
        hex_encode(self.0.as_bytes())
    }

    /// The matching public key.
    pub fn public_key(&self) -> PackPublicKey {
        PackPublicKey(self.0.verifying_key())
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

impl fmt::Debug for PackSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret, not even in a debug log.
        write!(f, "PackSigningKey(public {})", self.public_key())
    }
}

/// A public key that checks pack signatures.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PackPublicKey(VerifyingKey);

impl PackPublicKey {
    /// Reads a public key: 64 lower-case hex characters, surrounding whitespace allowed. Weak
    /// (small-order) keys are refused.
    pub fn from_hex(text: &str) -> Result<Self, ExportError> {
        Self::from_exact_hex(text.trim())
    }

    /// Like [`PackPublicKey::from_hex`], without tolerating whitespace: the form inside a pack.
    pub(crate) fn from_exact_hex(text: &str) -> Result<Self, ExportError> {
        let bad = |reason: &str| ExportError::BadKey {
            what: "public key",
            reason: reason.to_owned(),
        };
        let bytes = hex_decode::<32>(text)
            .ok_or_else(|| bad("expected 64 lower-case hex characters (32 bytes)"))?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| bad("the bytes are not a point on Curve25519"))?;
        if key.is_weak() {
            return Err(bad(
                "the key is a small-order point, which any signature fits",
            ));
        }
        Ok(Self(key))
    }

    /// 64 lower-case hex characters.
    pub fn to_hex(&self) -> String {
        hex_encode(self.0.as_bytes())
    }

    /// Whether `signature` is this key's strict (RFC 8032, non-malleable) signature of `message`.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        self.0
            .verify_strict(message, &Signature::from_bytes(signature))
            .is_ok()
    }
}

impl fmt::Display for PackPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PackPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PackPublicKey({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rfc8032_test_vector_1() {
        // RFC 8032 section 7.1, TEST 1: the empty message.
        let key = PackSigningKey::from_hex(
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        )
        .unwrap();
        assert_eq!(
            key.public_key().to_hex(),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(
            hex_encode(&key.sign(b"")),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
             5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }

    #[test]
    fn a_signature_verifies_only_for_its_message_and_key() {
        let key = PackSigningKey::from_seed([7; 32]);
        let other = PackSigningKey::from_seed([8; 32]);
        let signature = key.sign(b"proof");
        assert!(key.public_key().verifies(b"proof", &signature));
        assert!(!key.public_key().verifies(b"proof!", &signature));
        assert!(!other.public_key().verifies(b"proof", &signature));
    }

    #[test]
    fn key_text_round_trips_and_junk_is_refused() {
        let key = PackSigningKey::from_seed([1; 32]);
        let again = PackSigningKey::from_hex(&format!("{}\n", key.to_hex())).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        let public = PackPublicKey::from_hex(&key.public_key().to_hex()).unwrap();
        assert_eq!(public, key.public_key());
        assert!(PackSigningKey::from_hex("abc").is_err());
        assert!(
            PackPublicKey::from_hex(&"0".repeat(64)).is_err(),
            "weak key"
        );
        assert!(
            !format!("{key:?}").contains(&key.to_hex()),
            "debug hides the secret"
        );
    }
}
