//! Fuzz target `pacs002`: any bytes as a pacs.002 status report (what the rail sends back), through
//! `rail_npp::decode_pacs002_bytes` and, when they are UTF-8, `decode_pacs002`. Neither may
//! panic; refusing the input is fine. Checked on what decodes: both decoders agree, and encoding
//! the decoded report and decoding it again gives the same report.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rail_npp::{decode_pacs002, decode_pacs002_bytes, encode_pacs002};

fuzz_target!(|data: &[u8]| {
    let from_bytes = decode_pacs002_bytes(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let decoded = decode_pacs002(text);
    assert_eq!(decoded, from_bytes, "the text and bytes decoders disagree");
    if let Ok(report) = decoded {
        let encoded = encode_pacs002(&report);
        let again = decode_pacs002(&encoded).expect("an encoded report decodes");
        assert_eq!(
            again, report,
            "a report changed in an encode/decode round trip: {encoded}"
        );
    }
});
