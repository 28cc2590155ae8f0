//! Fuzz target `history`: any bytes as a JSON Lines payment history (what `npp replay` and
//! `npp payment import` read), through the core's parser and, when it parses, through replay.
//! Neither may panic; refusing the input is fine. Two properties are checked on what parses:
//! every event survives a JSON round trip unchanged, and replaying twice gives the same answer.
#![no_main]

use core_npp::{PaymentEvent, parse_history_with, rebuild_from_events};
use libfuzzer_sys::fuzz_target;

fn decode(line: &str) -> Result<PaymentEvent, serde_json::Error> {
    serde_json::from_str(line)
}

fuzz_target!(|data: &[u8]| {
    let Ok(history) = parse_history_with(data, decode) else {
        return;
    };
    let events: Vec<PaymentEvent> = history.into_iter().map(|(_, event)| event).collect();
    for event in &events {
        let json = serde_json::to_string(event).expect("an event that parsed serialises");
        let again = decode(&json).expect("a serialised event parses");
        assert_eq!(
            &again, event,
            "an event changed in a JSON round trip: {json}"
        );
    }
    let replay = rebuild_from_events(&events);
    if let Ok(replay) = &replay {
        let _ = replay.payment().state_hash().to_hex();
    }
    assert_eq!(
        replay,
        rebuild_from_events(&events),
        "replay is not deterministic"
    );
});
