//! UTC instants: parsed from RFC 3339, written back in one canonical form, never read from a clock.

use std::fmt;

use serde::de::Deserializer;
use serde::{Deserialize, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::error::ParseError;
use crate::ids::ParseVisitor;

/// An instant in UTC with nanosecond precision, between the years 1970 and 9999.
///
/// The core never asks what time it is: every instant arrives inside an event. Held as seconds
/// and nanoseconds since the Unix epoch, so comparing and hashing are integer operations.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    seconds: i64,
    nanos: u32,
}

impl Timestamp {
    /// 1970-01-01T00:00:00Z.
    pub const EPOCH: Timestamp = Timestamp {
        seconds: 0,
        nanos: 0,
    };

    /// Parses an RFC 3339 timestamp whose offset is UTC (`Z` or `+00:00`).
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        if let Some(digits) = fraction_digits(raw)
            && digits > 9
        {
            return Err(ParseError::TimestampTooPrecise {
                value: raw.chars().take(40).collect(),
                digits,
            });
        }
        let parsed = OffsetDateTime::parse(raw, &Rfc3339).map_err(|e| ParseError::Timestamp {
            value: raw.chars().take(40).collect(),
            reason: e.to_string(),
        })?;
        if parsed.offset() != UtcOffset::UTC {
            return Err(ParseError::TimestampNotUtc {
                value: raw.chars().take(40).collect(),
            });
        }
        Self::from_datetime(parsed)
    }

    /// The instant `nanos` nanoseconds after the Unix epoch.
    pub fn from_unix_nanos(nanos: i128) -> Result<Self, ParseError> {
        let parsed = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|e| {
            ParseError::Timestamp {
                value: nanos.to_string(),
                reason: e.to_string(),
            }
        })?;
        Self::from_datetime(parsed)
    }

    fn from_datetime(at: OffsetDateTime) -> Result<Self, ParseError> {
        if !(1970..=9999).contains(&at.year()) {
            return Err(ParseError::TimestampOutOfRange { year: at.year() });
        }
        Ok(Self {
            seconds: at.unix_timestamp(),
            nanos: at.nanosecond(),
        })
    }

    /// Nanoseconds since the Unix epoch.
    pub fn unix_nanos(self) -> i128 {
        i128::from(self.seconds) * 1_000_000_000 + i128::from(self.nanos)
    }

    /// The canonical RFC 3339 form: UTC, `Z`, and as few fractional digits as the value needs.
    pub fn to_rfc3339(self) -> String {
        // Within 1970..=9999 in UTC (checked on the way in), conversion and formatting cannot fail.
        OffsetDateTime::from_unix_timestamp_nanos(self.unix_nanos())
            .ok()
            .and_then(|at| at.format(&Rfc3339).ok())
            .unwrap_or_default()
    }

    /// This instant moved `nanos` nanoseconds later, if that stays in range.
    pub fn plus_nanos(self, nanos: i64) -> Option<Self> {
        let next = self.unix_nanos().checked_add(i128::from(nanos))?;
        Self::from_unix_nanos(next).ok()
    }
}

/// How many fractional-second digits an RFC 3339 text carries (`None` without a fraction).
fn fraction_digits(raw: &str) -> Option<usize> {
    let (_, after_dot) = raw.split_once('.')?;
    Some(after_dot.bytes().take_while(u8::is_ascii_digit).count())
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.to_rfc3339())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(ParseVisitor::new("timestamp", Self::parse))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utc_and_writes_canonical_form() {
        let t = Timestamp::parse("2025-12-17T09:30:00+00:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2025-12-17T09:30:00Z");
        let f = Timestamp::parse("2025-12-17T09:30:00.250Z").unwrap();
        assert_eq!(f.to_rfc3339(), "2025-12-17T09:30:00.25Z");
    }

    #[test]
    fn refuses_other_offsets_and_garbage() {
        assert!(matches!(
            Timestamp::parse("2025-12-17T20:30:00+11:00"),
            Err(ParseError::TimestampNotUtc { .. })
        ));
        assert!(matches!(
            Timestamp::parse("yesterday"),
            Err(ParseError::Timestamp { .. })
        ));
        assert!(matches!(
            Timestamp::parse("1969-12-31T23:59:59Z"),
            Err(ParseError::TimestampOutOfRange { year: 1969 })
        ));
    }

    #[test]
    fn refuses_times_finer_than_a_nanosecond() {
        // Two texts that would otherwise truncate to one instant, and so to one hash.
        for raw in [
            "2025-12-17T09:30:00.1234567891Z",
            "2025-12-17T09:30:00.1234567899Z",
        ] {
            assert!(matches!(
                Timestamp::parse(raw),
                Err(ParseError::TimestampTooPrecise { digits: 10, .. })
            ));
        }
        let nanos = Timestamp::parse("2025-12-17T09:30:00.123456789Z").unwrap();
        assert_eq!(nanos.to_rfc3339(), "2025-12-17T09:30:00.123456789Z");
    }
}
