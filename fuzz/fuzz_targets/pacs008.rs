//! Fuzz target `pacs008`: any bytes as a pacs.008 credit transfer, through
//! `rail_npp::decode_pacs008_bytes` and, when they are UTF-8, `decode_pacs008`. Neither may
//! panic; refusing the input is fine. Checked on what decodes: both decoders agree, and encoding
//! the decoded transfer and decoding it again gives the same transfer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rail_npp::{decode_pacs008, decode_pacs008_bytes, encode_pacs008};

fuzz_target!(|data: &[u8]| {
    let from_bytes = decode_pacs008_bytes(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let decoded = decode_pacs008(text);
    assert_eq!(decoded, from_bytes, "the text and bytes decoders disagree");
    if let Ok(transfer) = decoded {
        let encoded = encode_pacs008(&transfer);
        let again = decode_pacs008(&encoded).expect("an encoded transfer decodes");
        assert_eq!(
            again, transfer,
            "a transfer changed in an encode/decode round trip: {encoded}"
        );
    }
});
