//! Reading a payment history written as JSON Lines (one event per line), the one reader that
//! `npp replay`, `npp payment import` and the fuzz target share.
//!
//! The reader owns everything about the text: line numbers (1-based, blank lines counted), the
//! limits ([`MAX_LINE_BYTES`], [`MAX_EVENTS`]), line breaks (`\n` or `\r\n`), UTF-8 and byte order
//! marks. Turning one line's JSON into a [`PaymentEvent`] is the caller's `decode` function
//! (`serde_json::from_str` in practice), so the core stays free of any one JSON library. It does
//! no I/O: a caller reads a file line by line into a [`HistoryParser`], or hands the whole text to
//! [`parse_history_with`]; both give the same events and the same errors.

use std::fmt;

use crate::event::PaymentEvent;

/// The longest line a history may hold, its line break included, in bytes. An event is a few
/// hundred bytes; a longer line is refused before it is decoded, so a reader never needs to hold
/// more than this (plus one byte) of a line to know it is too long.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// The most events one history may hold; a history with more is refused at the first line past
/// the limit.
pub const MAX_EVENTS: usize = 100_000;

/// The UTF-8 byte order mark, which some editors put at the start of a "UTF-8" file.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
/// The UTF-16 byte order marks (little and big endian).
const UTF16_BOMS: [&[u8]; 2] = [b"\xFF\xFE", b"\xFE\xFF"];

/// Why a history cannot be read: the 1-based line (when the problem is on one) and what is
/// wrong with it. Displayed as `line N: message`, or just `message` without a line.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{}{message}", At(*line))]
pub struct HistoryError {
    /// The 1-based line the problem is on, blank lines counted; `None` when it is on no line
    /// (for example the file cannot be opened).
    pub line: Option<usize>,
    /// What is wrong, in plain words, without the line number.
    pub message: String,
}

impl HistoryError {
    /// A problem on the 1-based `line`.
    pub fn at_line(line: usize, message: impl Into<String>) -> Self {
        HistoryError {
            line: Some(line),
            message: message.into(),
        }
    }

    /// A problem with the history as a whole, on no particular line.
    pub fn whole(message: impl Into<String>) -> Self {
        HistoryError {
            line: None,
            message: message.into(),
        }
    }
}

/// Displays `line N: ` for a line, nothing otherwise.
struct At(Option<usize>);

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(line) => write!(f, "line {line}: "),
            None => Ok(()),
        }
    }
}

/// Reads a history one line at a time: each [`push_line`](HistoryParser::push_line) takes one
/// line's bytes as read (line break included; the last line may lack one), so a caller streaming
/// a file never holds more than one line. `decode` turns one line's JSON (trimmed, never blank)
/// into an event; its error message is reported with the line number.
#[derive(Debug)]
pub struct HistoryParser<D> {
    decode: D,
    lines_read: usize,
    events: Vec<(usize, PaymentEvent)>,
}

impl<D, E> HistoryParser<D>
where
    D: FnMut(&str) -> Result<PaymentEvent, E>,
    E: fmt::Display,
{
    /// A parser that has read nothing yet.
    pub fn new(decode: D) -> Self {
        HistoryParser {
            decode,
            lines_read: 0,
            events: Vec::new(),
        }
    }

    /// The 1-based number of the line the next [`push_line`](HistoryParser::push_line) reads (for
    /// naming the line when reading it fails).
    pub fn next_line(&self) -> usize {
        self.lines_read.saturating_add(1)
    }

    /// Reads the next line: `line` is its bytes, line break included. A blank line is counted and
    /// skipped. After an error the history is unreadable; the parser should not be used again.
    pub fn push_line(&mut self, line: &[u8]) -> Result<(), HistoryError> {
        let number = self.next_line();
        self.lines_read = number;
        let refuse = |message: String| HistoryError::at_line(number, message);
        if line.len() > MAX_LINE_BYTES {
            return Err(refuse(format!(
                "line is longer than {MAX_LINE_BYTES} bytes"
            )));
        }
        if line.starts_with(UTF8_BOM) {
            return Err(refuse(if number == 1 {
                "the file starts with a UTF-8 byte order mark (bytes EF BB BF); \
                 save it as UTF-8 without a BOM"
                    .to_owned()
            } else {
                "the line starts with a UTF-8 byte order mark (bytes EF BB BF), as if files \
                 saved with a BOM were joined; remove it"
                    .to_owned()
            }));
        }
        if number == 1 && UTF16_BOMS.iter().any(|bom| line.starts_with(bom)) {
            return Err(refuse(
                "the file starts with a UTF-16 byte order mark; save it as UTF-8 without a BOM"
                    .to_owned(),
            ));
        }
        let text = std::str::from_utf8(line)
            .map_err(|e| refuse(format!("the line is not valid UTF-8 ({e})")))?;
        let text = text.trim();
        if text.is_empty() {
            return Ok(());
        }
        if self.events.len() >= MAX_EVENTS {
            return Err(refuse(format!(
                "more than {MAX_EVENTS} events in one history"
            )));
        }
        let event = (self.decode)(text).map_err(|e| refuse(e.to_string()))?;
        self.events.push((number, event));
        Ok(())
    }

    /// The events read, each with its 1-based line number, in order.
    pub fn finish(self) -> Vec<(usize, PaymentEvent)> {
        self.events
    }
}

/// Parses a whole JSON Lines history held in memory: the events, each with its 1-based line
/// number, or the first problem, naming its line. Lines end in `\n` (a `\r` before it is
/// ignored); blank lines are skipped but counted. `decode` turns one line's JSON into an event,
/// for example `|line| serde_json::from_str(line)`.
///
/// ```
/// use core_npp::{EventKind, parse_history_with};
///
/// let text = b"\n{\"type\":\"PaymentIntentCreated\",\"payment_intent_id\":\"pay_001\",\
///     \"occurred_at\":\"2025-12-17T09:30:00Z\",\"amount\":50000,\"currency\":\"AUD\",\
///     \"idempotency_key\":\"idem_001\",\"from_account_id\":\"a\",\"to_account_id\":\"b\"}\n";
/// let history = parse_history_with(text, |line| serde_json::from_str(line)).unwrap();
/// assert_eq!(history.len(), 1);
/// assert_eq!(history[0].0, 2);
/// assert_eq!(history[0].1.kind(), EventKind::PaymentIntentCreated);
///
/// let bom = b"\xEF\xBB\xBF{}\n";
/// let error = parse_history_with(bom, |line| serde_json::from_str(line)).unwrap_err();
/// assert_eq!(error.line, Some(1));
/// assert!(error.to_string().starts_with("line 1: the file starts with a UTF-8 byte order mark"));
/// ```
pub fn parse_history_with<D, E>(
    text: &[u8],
    decode: D,
) -> Result<Vec<(usize, PaymentEvent)>, HistoryError>
where
    D: FnMut(&str) -> Result<PaymentEvent, E>,
    E: fmt::Display,
{
    let mut parser = HistoryParser::new(decode);
    for line in text.split_inclusive(|byte| *byte == b'\n') {
        parser.push_line(line)?;
    }
    Ok(parser.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATED: &str = r#"{"type":"PaymentIntentCreated","payment_intent_id":"pay_001","occurred_at":"2025-12-17T09:30:00Z","amount":50000,"currency":"AUD","idempotency_key":"idem_001","from_account_id":"acc_from","to_account_id":"acc_to"}"#;
    const AUTHORISED: &str = r#"{"type":"PaymentAuthorised","payment_intent_id":"pay_001","occurred_at":"2025-12-17T09:30:01Z","policy_checks_passed":true,"funds_earmarked":50000}"#;

    fn json(line: &str) -> Result<PaymentEvent, serde_json::Error> {
        serde_json::from_str(line)
    }

    fn parse(text: &[u8]) -> Result<Vec<(usize, PaymentEvent)>, HistoryError> {
        parse_history_with(text, json)
    }

    fn lines(history: &[(usize, PaymentEvent)]) -> Vec<usize> {
        history.iter().map(|(line, _)| *line).collect()
    }

    #[test]
    fn every_line_is_one_event_and_blank_lines_count() {
        let text = format!("\n{CREATED}\n  \n{AUTHORISED}\n\n");
        let history = parse(text.as_bytes()).unwrap();
        assert_eq!(lines(&history), [2, 4]);
        assert_eq!(history[0].1, json(CREATED).unwrap());
        assert_eq!(history[1].1, json(AUTHORISED).unwrap());
    }

    #[test]
    fn crlf_line_breaks_and_a_last_line_without_a_break_are_read() {
        let text = format!("{CREATED}\r\n{AUTHORISED}");
        assert_eq!(lines(&parse(text.as_bytes()).unwrap()), [1, 2]);
    }

    #[test]
    fn an_empty_or_blank_text_is_an_empty_history() {
        assert!(parse(b"").unwrap().is_empty());
        assert!(parse(b"\n \r\n\t\n").unwrap().is_empty());
    }

    #[test]
    fn a_decode_error_names_the_line_and_keeps_the_decoders_words() {
        let text = format!("{CREATED}\n\n{{not json\n");
        let error = parse(text.as_bytes()).unwrap_err();
        assert_eq!(error.line, Some(3));
        assert_eq!(
            error.message,
            json("{not json").unwrap_err().to_string(),
            "the decoder's message, unchanged"
        );
        assert!(
            error
                .to_string()
                .starts_with("line 3: key must be a string")
        );
    }

    #[test]
    fn a_utf8_byte_order_mark_is_refused_in_plain_words() {
        let text = format!("\u{FEFF}{CREATED}\n");
        let error = parse(text.as_bytes()).unwrap_err();
        assert_eq!(error.line, Some(1));
        assert_eq!(
            error.to_string(),
            "line 1: the file starts with a UTF-8 byte order mark (bytes EF BB BF); \
             save it as UTF-8 without a BOM"
        );
        // Two files saved with a BOM and joined: the second mark is named too.
        let joined = format!("{CREATED}\n\u{FEFF}{AUTHORISED}\n");
        let error = parse(joined.as_bytes()).unwrap_err();
        assert_eq!(error.line, Some(2));
        assert!(error.message.contains("byte order mark"), "{error}");
    }

    #[test]
    fn a_utf16_file_is_named_as_such() {
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(CREATED.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let error = parse(&utf16).unwrap_err();
        assert_eq!(error.line, Some(1));
        assert!(error.message.contains("UTF-16"), "{error}");
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let mut text = format!("{CREATED}\n").into_bytes();
        text.extend_from_slice(b"{\"type\":\"\xC3\x28\"}\n");
        let error = parse(&text).unwrap_err();
        assert_eq!(error.line, Some(2));
        assert!(error.message.contains("not valid UTF-8"), "{error}");
    }

    #[test]
    fn a_line_may_be_max_line_bytes_long_with_its_break_but_not_one_more() {
        let padded = |len: usize| {
            let mut line = CREATED.to_owned();
            line.push_str(&" ".repeat(len - CREATED.len() - 1));
            line.push('\n');
            assert_eq!(line.len(), len);
            line
        };
        assert_eq!(parse(padded(MAX_LINE_BYTES).as_bytes()).unwrap().len(), 1);
        let too_long = format!("{CREATED}\n{}", padded(MAX_LINE_BYTES + 1));
        let error = parse(too_long.as_bytes()).unwrap_err();
        assert_eq!(error.line, Some(2));
        assert_eq!(
            error.message,
            format!("line is longer than {MAX_LINE_BYTES} bytes")
        );
    }

    #[test]
    fn a_history_may_hold_max_events_but_not_one_more() {
        // The decoder is not the point here: every line decodes to the same event.
        let event = json(CREATED).unwrap();
        let decode = |_: &str| Ok::<_, String>(event.clone());
        let text = "{}\n".repeat(MAX_EVENTS);
        assert_eq!(
            parse_history_with(text.as_bytes(), decode).unwrap().len(),
            MAX_EVENTS
        );
        let text = format!("{text}\n{{}}\n");
        let error = parse_history_with(text.as_bytes(), decode).unwrap_err();
        assert_eq!(error.line, Some(MAX_EVENTS + 2));
        assert_eq!(
            error.message,
            format!("more than {MAX_EVENTS} events in one history")
        );
    }

    #[test]
    fn the_decoder_sees_the_trimmed_line() {
        let mut seen = Vec::new();
        let decode = |line: &str| {
            seen.push(line.to_owned());
            json(CREATED)
        };
        parse_history_with(b"  {\"a\":1}\t\r\n\n{}", decode).unwrap();
        assert_eq!(seen, ["{\"a\":1}", "{}"]);
    }

    #[test]
    fn line_by_line_and_whole_text_agree() {
        let text = format!("{CREATED}\n\n{AUTHORISED}\r\n");
        let mut parser = HistoryParser::new(json);
        assert_eq!(parser.next_line(), 1);
        for line in text.split_inclusive('\n') {
            parser.push_line(line.as_bytes()).unwrap();
        }
        assert_eq!(parser.next_line(), 4);
        assert_eq!(parser.finish(), parse(text.as_bytes()).unwrap());
    }

    #[test]
    fn an_error_without_a_line_displays_only_its_message() {
        assert_eq!(
            HistoryError::whole("cannot open: gone").to_string(),
            "cannot open: gone"
        );
        assert_eq!(HistoryError::at_line(7, "bad").to_string(), "line 7: bad");
    }
}
