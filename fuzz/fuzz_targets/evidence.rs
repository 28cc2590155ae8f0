//! Fuzz target `evidence`: any bytes as an evidence pack (what `npp evidence verify` reads from an
//! auditor), through `exports::verify_pack_bytes`, without a trusted key and with the key that
//! signed the signed seed (so signature checking is reached too). It may not panic; refusing the
//! input is fine.
#![no_main]

use std::sync::LazyLock;

use exports::{PackPublicKey, PackSigningKey, verify_pack_bytes};
use libfuzzer_sys::fuzz_target;

/// The public key of the seed `corpus/evidence/retried-signed.json` (signed with
/// `PackSigningKey::from_seed([7; 32])`).
static TRUSTED: LazyLock<PackPublicKey> =
    LazyLock::new(|| PackSigningKey::from_seed([7; 32]).public_key());

fuzz_target!(|data: &[u8]| {
    let untrusted = verify_pack_bytes(data, None);
    let trusted = verify_pack_bytes(data, Some(&TRUSTED));
    // A trusted key can only add a signature check: what fails without one fails with one.
    match (&untrusted, &trusted) {
        (Err(_), Ok(_)) => panic!("a pack refused without a key verified with one"),
        (Ok(a), Ok(b)) => assert_eq!(
            (
                a.payment_intent_id(),
                a.state_hash(),
                a.chain_head(),
                a.event_count()
            ),
            (
                b.payment_intent_id(),
                b.state_hash(),
                b.chain_head(),
                b.event_count()
            ),
            "a trusted key changed what the pack proves"
        ),
        (Ok(_) | Err(_), Err(_)) => {}
    }
});
