//! The clock port: the application layer asks it the time; tests hold it still.

use std::sync::Mutex;

use core_npp::Timestamp;

/// Where "now" comes from.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The machine's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        // Before 1970 or after 9999 the machine's clock is wrong; the epoch is a safe floor.
        i128::try_from(nanos)
            .ok()
            .and_then(|n| Timestamp::from_unix_nanos(n).ok())
            .unwrap_or(Timestamp::EPOCH)
    }
}

/// A clock that moves only when told: for tests and simulations.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock forward by `nanos` (never backwards).
    pub fn advance(&self, nanos: i64) {
        if let Ok(mut now) = self.now.lock()
            && let Some(next) = now.plus_nanos(nanos.max(0))
        {
            *now = next;
        }
    }

    /// Sets the clock, if `to` is not earlier than now.
    pub fn set(&self, to: Timestamp) {
        if let Ok(mut now) = self.now.lock()
            && to > *now
        {
            *now = to;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        match self.now.lock() {
            Ok(now) => *now,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }
}
